"""A script that calls ``ampsim.sweep`` at its top level, without ``if __name__ == "__main__":``: where the sweep's
workers are spawned (``AMPSIM_MP_START=spawn``, or other threads running in the script's process) each of them runs
the script again, as Python's ``multiprocessing`` does, and so the sweep again. Every point used to fail, with a
traceback from every worker (its own sweep found the folder locked); now the script's sweep raises one
``ConfigError`` saying to guard it, the workers print nothing, none is left running, and the finished points stay
as they were. ``ampsim sweep`` (its own ``__main__`` guarded) spawns its workers as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from procs_kit import assert_unguarded_script_fails_in_one_line
from sweep_kit import ROOT, tiny_sweep

from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

SCRIPT = """
import sys
import threading

import ampsim

stop = threading.Event()
if {thread!r}:  # (a notebook's kernel, Ray's gRPC core: a thread makes the sweep spawn its workers)
    threading.Thread(target=stop.wait, daemon=True).start()
try:
    table = ampsim.sweep({sweep!r}, {out!r}, jobs=2)
except ampsim.AmpsimError as e:
    print(f"error: {{e}}", file=sys.stderr)
    sys.exit(2)
finally:
    stop.set()
print(len(table), "points")
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def half_done(tmp_path, monkeypatch) -> tuple[Path, Path, dict[str, bytes]]:
    """A two-point sweep whose first point is finished (run here, forked), the second not."""
    monkeypatch.delenv("AMPSIM_MP_START", raising=False)
    sweep, out = tmp_path / "tiny.toml", tmp_path / "out"
    sweep.write_text(tiny_sweep() + '"train.mak" = [1]\n')
    run_sweep(load_sweep(sweep), out, jobs=1)
    (point,) = [p for p in out.iterdir() if p.is_dir()]
    sweep.write_text(tiny_sweep() + '"train.mak" = [1, 2]\n')
    return sweep, out, {point.name: _files(point)}


@pytest.mark.parametrize("why", ["AMPSIM_MP_START=spawn", "a thread runs"])
def test_an_unguarded_scripts_sweep_is_one_error_saying_to_guard_it(half_done, tmp_path, why):
    sweep, out, finished = half_done
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT.format(thread=why == "a thread runs", sweep=str(sweep), out=str(out)))
    assert_unguarded_script_fails_in_one_line(script, why)
    assert {name: _files(out / name) for name in finished} == finished  # the finished point, byte for byte
    assert [p.name for p in out.iterdir() if p.is_dir()] == list(finished)  # and no other left


def test_ampsim_sweep_spawns_its_workers_as_before(half_done):
    sweep, out, finished = half_done
    env = dict(os.environ, AMPSIM_MP_START="spawn")
    r = subprocess.run([sys.executable, "-m", "ampsim", "sweep", str(sweep), "--out", str(out), "--jobs", "2",
                        "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and (out / "table.csv").is_file()
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2
    assert {name: _files(out / name) for name in finished} == finished
