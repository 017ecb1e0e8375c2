"""A point whose summary.json does not read (cut short, overwritten with bytes that are not JSON) is damaged, as one
without a summary: the sweep runs it again and swaps the new folder in, with a warning, where before its table
stopped at ``.../summary.json: invalid JSON (...)``, exit 2, on every re-run, saying nothing of what to do. A
folder that also holds the user's files is refused in one line that says so, untouched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_kit import ROOT, tiny_sweep


def _sweep(sweep: Path, out: Path) -> tuple[int, str]:
    """``ampsim sweep`` in a process of its own (the warning comes from a pool worker, whose log records pytest's
    handlers would take), and what it said on stderr."""
    done = subprocess.run([sys.executable, "-m", "ampsim", "sweep", str(sweep), "--out", str(out), "--jobs", "1",
                           "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path]:
    """The sweep file and its two points swept into a folder, once for the module: each test damages a copy
    (the same sweep each time, so its finished folder is the same; copied with its files' times)."""
    folder = tmp_path_factory.mktemp("swept")
    sweep = folder / "s.toml"
    sweep.write_text(tiny_sweep() + '"train.mak" = [1, 2]\n')
    assert _sweep(sweep, folder / "out")[0] == 0
    return sweep, folder / "out"


def _copy(swept: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    sweep, finished = swept
    shutil.copytree(finished, tmp_path / "out")
    return sweep, tmp_path / "out"


@pytest.mark.parametrize("damage", [b'{"final_metric": 0.9', b"\x89PNG\r\n\x1a\n\x00\xff", b"[1, 2]", b"{}"],
                         ids=["cut-short", "binary", "not-an-object", "empty"])  # ({}: an empty row of the table)
def test_a_point_whose_summary_does_not_read_is_run_again(swept, tmp_path, damage):
    sweep, out = _copy(swept, tmp_path)
    table = (out / "table.csv").read_bytes()
    damaged, kept = sorted(p.parent for p in out.glob("*/summary.json"))
    summary = (damaged / "summary.json").read_bytes()
    mtime = (kept / "summary.json").stat().st_mtime_ns
    (damaged / "summary.json").write_bytes(damage)
    rc, err = _sweep(sweep, out)
    assert rc == 0, err
    assert f"point {damaged.name}: {damaged} has a damaged summary.json (" in err
    assert "replaced by the point run again" in err and "Traceback" not in err
    assert (damaged / "summary.json").read_bytes() == summary  # the same run again: the same summary
    assert (out / "table.csv").read_bytes() == table
    assert (kept / "summary.json").stat().st_mtime_ns == mtime  # the finished point is not run again
    assert not list(out.glob(".tmp-*"))


def test_a_damaged_point_that_holds_the_users_files_is_one_line_untouched(swept, tmp_path):
    sweep, out = _copy(swept, tmp_path)
    damaged = sorted(p.parent for p in out.glob("*/summary.json"))[0]
    (damaged / "summary.json").write_text("{")
    (damaged / "notes.txt").write_text("mine\n")
    before = {p: p.read_bytes() for p in damaged.iterdir()}
    rc, err = _sweep(sweep, out)
    assert rc == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()[-1:]
    # (before any point runs, in a line of its own: no longer as the point's failure after the others ran)
    assert line.startswith(f"ampsim: error: {damaged}: point {damaged.name} has a damaged summary.json (")
    assert "which no run writes: move that away first" in line
    assert {p: p.read_bytes() for p in damaged.iterdir()} == before
