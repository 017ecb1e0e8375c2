"""Every committed sweep table is its sweep file's as the file is now: made again from the committed points
(:func:`~ampsim.sweeps.run.write_sweep_table`), it is the committed ``table.csv`` byte for byte. A sweep
file edited since its table was written (a machine's file renamed: packets_sst's rows named a hardware file
the sweep no longer used) fails here; re-running the sweep, which reuses every finished point, mends it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.sweeps.run import write_sweep_table
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(p.parent.name for p in (ROOT / "results" / "sweeps").glob("*/table.csv"))


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_table_is_made_again_from_its_points(name, tmp_path):
    committed = ROOT / "results" / "sweeps" / name
    sweep = load_sweep(ROOT / "experiments" / "sweeps" / f"{name}.toml")
    for p in sweep.points:  # the points, not copied: read where they are
        (tmp_path / p.point_id).symlink_to(committed / p.point_id, target_is_directory=True)
    assert write_sweep_table(sweep, tmp_path).read_bytes() == (committed / "table.csv").read_bytes()


def test_every_sweep_file_has_its_committed_table():
    assert COMMITTED == sorted(p.stem for p in (ROOT / "experiments" / "sweeps").glob("*.toml"))
