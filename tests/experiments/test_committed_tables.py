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


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_sweeps_point_ids_are_its_folders_names(name):
    """Each point's id, computed afresh from its sweep file as it is now, names a folder of the committed sweep, and
    each folder is a point's: a change in what an id counts (a hardware value's spelling: 1e9 and 1_000_000_000)
    that moved a committed id would re-run its point into another folder."""
    sweep = load_sweep(ROOT / "experiments" / "sweeps" / f"{name}.toml", sized=False)  # (its id is not sized)
    folders = ROOT / "results" / "sweeps" / name
    assert sorted(p.point_id for p in sweep.points) == sorted(p.name for p in folders.iterdir() if p.is_dir())


def test_every_sweep_file_has_its_committed_table():
    assert COMMITTED == sorted(p.stem for p in (ROOT / "experiments" / "sweeps").glob("*.toml"))
