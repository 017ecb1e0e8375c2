"""Sweeps under interruption and contention: Ctrl-C stops within 2 s keeping every finished point (a resume
completes the same table), SIGKILL of the sweep leaves no process behind within 5 s, a second sweep on a
folder in use refuses in one line and harms nothing, SIGHUP stops it as SIGTERM does (sweeps on Ray:
test_sweep_ray.py, which takes its helpers from here).

Every sweep here runs as a subprocess in its own session, the way a user's terminal runs it; every process
it starts is recorded from /proc and killed in a ``finally``, whatever the test's outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.errors import RunError
from ampsim.sweeps.folder import sweep_lock
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"

#: 8 simulated points of ~0.3 s each: long enough to interrupt after the first, short for a resume
SIM = f"""
[sweep]
experiment = "{BLOBS}"
hardware = "{ROOT / "hardware_models" / "ring4.toml"}"
[fixed]
"data.n_train" = 1600
"data.n_test" = 100
"model.hidden" = [16]
"train.epochs" = 3
[grid]
"train.mak" = [1, 2, 4, 8]
"train.muf" = [1, 2]
"""
#: multicore points: a pool worker with worker processes of its own (grandchildren of the sweep)
MULTICORE = f"""
[sweep]
experiment = "{BLOBS}"
[fixed]
"data.n_train" = 2000
"data.n_test" = 100
"model.hidden" = [16]
"train.epochs" = 8
"executor.kind" = "multicore"
"executor.workers" = 2
[grid]
"train.mak" = [1, 2, 3, 4, 5, 6]
"""


# -- process helpers ------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and st[0] != "Z":
            children.setdefault(int(st[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _default_sigint() -> None:
    """Run in the child before exec: SIGINT at its default disposition, as in a terminal (a test runner
    started in the background passes it on ignored, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_sweep(path: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ampsim.cli", "sweep", str(path), "--out", str(out),
                             "--no-progress", *args], cwd=ROOT, start_new_session=True, preexec_fn=_default_sigint,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) if out.is_dir() else []


def wait_until(proc: subprocess.Popen, seen: set[int], ready, timeout_s: float = 60.0) -> None:
    """Poll until ``ready()``, recording ``proc``'s descendants in ``seen``; fail if it exits first."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        seen |= descendants(proc.pid)
        if proc.poll() is not None:
            pytest.fail(f"the sweep exited ({proc.returncode}) too early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail("the sweep made no progress")
        time.sleep(0.01)
    seen |= descendants(proc.pid)


def cleanup(proc: subprocess.Popen, seen: set[int]) -> None:
    for pid in seen | ({proc.pid} if proc.poll() is None else set()):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)  # also ends a stopped process
    proc.wait()


def snapshot(points: list[Path]) -> dict[str, bytes]:
    return {str(f.relative_to(p.parent)): f.read_bytes() for p in points for f in sorted(p.iterdir())}


# -- tests ----------------------------------------------------------------------------------------------
def _interrupted(tmp_path: Path, again_after_s: float | None = None, sig: int = signal.SIGINT,
                 spec: str = SIM) -> tuple:
    """A two-worker sweep, Ctrl-C'd (``sig`` to the whole process group, as a terminal does) once a point has
    finished, and again ``again_after_s`` later: the folder, the process (ended, none of its processes left), its stderr,
    the points finished when it was interrupted and the seconds from the first Ctrl-C to its end."""
    path = tmp_path / "sim.toml"
    path.write_text(spec)
    out = tmp_path / "out"
    proc, seen = start_sweep(path, out, "--jobs", "2"), set()
    try:
        wait_until(proc, seen, lambda: len(finished(out)) >= 1)
        before = snapshot(finished(out))
        t0 = time.monotonic()
        os.killpg(proc.pid, sig)
        if again_after_s is not None:
            time.sleep(again_after_s)
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        cleanup(proc, seen)
    assert not any(alive(p) for p in seen)
    return out, proc, err, before, elapsed


def test_ctrl_c_stops_within_2_s_keeps_finished_points_and_a_resume_completes_the_table(tmp_path):
    path = tmp_path / "sim.toml"
    out, proc, err, before, elapsed = _interrupted(tmp_path)
    assert elapsed <= 2.0, f"Ctrl-C took {elapsed:.2f} s"
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampsim: interrupted; finished points are kept in"), err
    assert {k: v for k, v in snapshot(finished(out)).items() if k in before} == before  # kept as they were
    assert not list(out.glob(".tmp-*")) and not (out / "table.csv").exists()
    n_kept = len(finished(out))
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "2"]) == 0  # resume
    assert {k: v for k, v in snapshot(finished(out)).items() if k in before} == before  # not re-run
    assert n_kept < len(finished(out)) == 8
    whole = run_sweep(load_sweep(path), tmp_path / "whole", jobs=2)
    assert (out / "table.csv").read_text() == whole.read_text()


def test_a_hangup_stops_the_sweep_as_sigterm_does_keeping_finished_points_and_leaving_nothing(tmp_path):
    """The terminal closed (SIGHUP to its process group): the sweep ended where it stood, status 129 and no line,
    its running points' .tmp-* folders and its .sweep.lock left behind. Now it stops as on SIGTERM."""
    # points ten times as long (no resume here): a test process kept off the cores for the second the other seven
    # points of SIM take (a loaded host: 2 cores, load 6) signalled a sweep that had finished, status 0
    out, proc, err, before, elapsed = _interrupted(tmp_path, sig=signal.SIGHUP,
                                                   spec=SIM.replace('"train.epochs" = 3', '"train.epochs" = 30'))
    assert proc.returncode == 129, err
    assert err.strip().splitlines() == [f"ampsim: interrupted; finished points are kept in {out} (run the same "
                                        "command again to finish the sweep)"]
    assert elapsed <= 2.0, f"SIGHUP took {elapsed:.2f} s"
    assert {k: v for k, v in snapshot(finished(out)).items() if k in before} == before
    assert not list(out.glob(".tmp-*")) and not (out / ".sweep.lock").exists()


def test_sigkill_of_a_sweep_leaves_no_process_behind_within_5_s(tmp_path):
    path = tmp_path / "mc.toml"
    path.write_text(MULTICORE)
    out = tmp_path / "out"
    proc, seen = start_sweep(path, out, "--jobs", "2"), set()
    try:
        # two pool workers, each running a point with two multicore workers of its own
        wait_until(proc, seen, lambda: len(descendants(proc.pid)) >= 6)
        time.sleep(0.2)
        seen |= descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: the others must notice by themselves
        proc.wait()
        deadline = time.monotonic() + 5.0
        while any(alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = sorted(p for p in seen if alive(p))
    finally:
        cleanup(proc, seen)
    assert len(seen) >= 6 and left == []
    with sweep_lock(out):  # the lock went with its holders
        pass


def test_a_second_sweep_on_a_folder_in_use_refuses_in_one_line_and_the_first_finishes(tmp_path, capsys):
    path = tmp_path / "sim.toml"
    path.write_text(SIM)
    out = tmp_path / "out"
    proc, seen = start_sweep(path, out, "--jobs", "2"), set()
    try:
        wait_until(proc, seen, lambda: len(finished(out)) >= 1 and bool(list(out.glob(".tmp-*"))))
        os.killpg(proc.pid, signal.SIGSTOP)  # held mid-sweep, however fast this machine: it keeps the lock
        temporaries = sorted(out.glob(".tmp-*"))
        before = snapshot(finished(out))
        for fresh in ([], ["--fresh"]):  # --fresh must not delete a live sweep's work either
            assert main(["sweep", str(path), "--out", str(out), "--no-progress", *fresh]) == 2
            lines = capsys.readouterr().err.strip().splitlines()
            assert lines == [f"ampsim: error: {out}: another sweep (pid {proc.pid}) is running in this folder"]
        with pytest.raises(RunError, match="another sweep"):
            run_sweep(load_sweep(path), out, fresh=True)
        assert snapshot(finished(out)) == before and sorted(out.glob(".tmp-*")) == temporaries
        os.killpg(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        cleanup(proc, seen)
    assert proc.returncode == 0, err
    assert len(finished(out)) == 8 and len((out / "table.csv").read_text().splitlines()) == 9
    assert not list(out.glob(".tmp-*"))


def test_a_second_ctrl_c_right_after_the_first_still_exits_130_with_one_line(tmp_path):
    """Two Ctrl-Cs 50 ms apart: the second came during Python's teardown (the pool's finalizers) and ended the
    process by SIGINT (status -2) after the one line."""
    out, proc, err, *_ = _interrupted(tmp_path, 0.05)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"ampsim: interrupted; finished points are kept in {out} (run the same "
                                        "command again to finish the sweep)"]
