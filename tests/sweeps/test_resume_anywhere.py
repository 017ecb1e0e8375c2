"""A sweep cut short anywhere resumes to the table of an uninterrupted one: an audit of the sweep engine's promises
(README, "Sweeps resume") by property and by interruption, on one tiny replayed sweep (six points, two machines).

* ``--fresh`` cut short part way through its deleting (a Ctrl-C, a SIGKILL) leaves no point folder without its
  record: ``rmtree`` deletes a point's ``point.json`` first on ext4 (directory order), and the folder left, a run
  "not known as this sweep's point", failed every later sweep of the folder, ``--fresh`` or not.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sweep_kit import tiny_sweep

from ampsim.cli import main
from ampsim.sweeps import folder as sweep_folder
from ampsim.sweeps.folder import point_id_of, point_lacks
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

#: six points on two machines (the 4-chip ring at two link bandwidths), three maks
GRID = '"train.mak" = [1, 2, 4]\n"hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10]\n'


def _points(out: Path) -> list[Path]:
    """The folders of ``out`` named as points are (not its dot-entries)."""
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) if out.is_dir() else []


def _files(out: Path) -> dict[str, bytes]:
    """Every point's files but timing.json (wall-clock times), by path."""
    return {str(f.relative_to(out)): f.read_bytes() for p in _points(out) for f in sorted(p.iterdir())
            if f.name != "timing.json"}


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, Path]:
    """The sweep file and its uninterrupted run (one job), once for the module."""
    folder = tmp_path_factory.mktemp("whole")
    path = folder / "s.toml"
    path.write_text(tiny_sweep() + GRID)
    run_sweep(load_sweep(path), folder / "out", jobs=1)
    return path, folder / "out"


def _copy(whole: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the sweep file and its folder, side by side as they were (a point records its file relatively)."""
    shutil.copy(whole[0], tmp_path / "s.toml")
    shutil.copytree(whole[1], tmp_path / "out")
    return tmp_path / "s.toml", tmp_path / "out"


@pytest.mark.parametrize("cut_after", [0, 1, 2, 5])
def test_fresh_cut_short_while_deleting_a_point_leaves_a_folder_the_same_command_finishes(whole, tmp_path,
                                                                                          monkeypatch, cut_after):
    """``rmtree`` of a point interrupted after ``cut_after`` of its entries (in directory order, as rmtree goes)."""
    path, out = _copy(whole, tmp_path)
    done = whole[1]
    rmtree = shutil.rmtree

    def interrupted(folder, *args, **kwargs):
        for entry in list(os.scandir(folder))[:cut_after]:
            os.unlink(entry.path)
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_folder.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(path), out, jobs=1, fresh=True)
    monkeypatch.setattr(sweep_folder.shutil, "rmtree", rmtree)
    assert all(point_id_of(p) == p.name and point_lacks(p) is None for p in _points(out))  # each a finished point
    assert main(["sweep", str(path), "--out", str(out), "--fresh", "--jobs", "1", "--no-progress"]) == 0
    assert (out / "table.csv").read_bytes() == (done / "table.csv").read_bytes()
    assert _files(out) == _files(done) and not list(out.glob(".tmp-*"))
