"""Interrupting ampsim's process trees under the start methods other than the default fork (``AMPSIM_MP_START=spawn``
or ``forkserver``: a fork server and a resource tracker run beside the workers, and a spawned worker imports for a
second before it can act): SIGINT, SIGTERM and SIGKILL of ``ampsim sweep --jobs 2`` as its workers start and
mid-point, and of ``ampsim train`` with the multicore executor mid-run, and Ctrl-C of a guarded script's
``ampsim.sweep``. Afterwards no process of the tree is left (found by the parent links in /proc as it ran, and by a
marker in the environment every one of them inherits), what had finished is byte for byte as it was, and the same
command finishes the sweep. (Under fork: test_sweep_interrupt.py, tests/sweeps/test_resume_anywhere.py and
tests/multicore/test_properties_multicore.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_sweep_interrupt import MULTICORE, ROOT, SIM, alive, descendants, finished, snapshot

from ampsim.cli import main

STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
#: what the process group's Ctrl-C, or a signal to ampsim's process alone, leaves a sweep with
SWEEP_LINE = "ampsim: interrupted; finished points are kept in {out} (run the same command again to finish the sweep)"


def _pids_with_env(marker: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker.encode() in f.read() and alive(int(entry)):
                        found.add(int(entry))
            except OSError:
                continue
    return found


def _start(argv: list[str], method: str, marker: str, cwd: Path = ROOT) -> subprocess.Popen:
    """``argv`` in a session of its own with SIGINT at its default (as a terminal runs it) under ``method``."""
    return subprocess.Popen(argv, cwd=cwd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env=dict(os.environ, AMPSIM_MP_START=method, AMPSIM_TEST_MARKER=marker))


def _wait(proc: subprocess.Popen, seen: set[int], ready, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        seen |= descendants(proc.pid)
        assert proc.poll() is None, f"ended ({proc.returncode}) before the signal: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.01)
    seen |= descendants(proc.pid)


def _signal_and_end(proc: subprocess.Popen, seen: set[int], marker: str, sig: int,
                    within_s: float = 5.0) -> tuple[str, list[int]]:
    """Send ``sig`` (SIGINT to the process group, as Ctrl-C; the others to ampsim's process alone), wait for the
    end; its stderr and what is still alive ``within_s`` later (killed then, as everything is in the end)."""
    try:
        seen |= descendants(proc.pid)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        proc.wait(timeout=30)  # (not its stderr's end: a worker left running holds that open)
        deadline = time.monotonic() + within_s
        while ({p for p in seen if alive(p)} | _pids_with_env(marker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = sorted({p for p in seen if alive(p)} | _pids_with_env(marker))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pid in seen | _pids_with_env(marker):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    return proc.stderr.read(), left


def _half_done(tmp_path: Path, spec: str) -> tuple[Path, Path, dict[str, bytes]]:
    """A sweep whose first points were finished here (forked, ``train.mak`` = 1): its file, folder and those points."""
    path, out = tmp_path / "s.toml", tmp_path / "out"
    path.write_text(re.sub(r'"train.mak" = \[[0-9, ]*\]', '"train.mak" = [1]', spec))
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "2"]) == 0
    path.write_text(spec)
    return path, out, snapshot(finished(out))


def _finishes_keeping(path: Path, out: Path, kept: dict[str, bytes], n: int) -> None:
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "2"]) == 0
    assert len(finished(out)) == n and (out / "table.csv").is_file()
    assert {k: v for k, v in snapshot(finished(out)).items() if k in kept} == kept


#: SIM's points last a few seconds here (two to run): a SIGKILLed sweep's workers must go at once, not when their
#: point ends (an idle one also ends at its pipe's end of file; the kernel's parent-death signal ends a busy one)
LONG = (SIM.replace('"train.epochs" = 3', '"train.epochs" = 60').replace('"train.mak" = [1, 2, 4, 8]', '"train.mak" = [1, 2, 4]')
        .replace('"train.muf" = [1, 2]', '"train.muf" = [1]'))
SWEEPS = [("spawn", signal.SIGINT, "starting"), ("spawn", signal.SIGTERM, "mid-point"),
          ("spawn", signal.SIGKILL, "under way"), ("forkserver", signal.SIGINT, "mid-point"),
          ("forkserver", signal.SIGTERM, "starting"), ("forkserver", signal.SIGKILL, "under way")]


@pytest.mark.parametrize("method, sig, moment", SWEEPS,
                         ids=[f"{m}-{signal.Signals(s).name}-{t}" for m, s, t in SWEEPS])
def test_a_signalled_sweep_leaves_nothing_running_its_finished_points_as_they_were_and_resumes(tmp_path, monkeypatch,
                                                                                             method, sig, moment):
    monkeypatch.delenv("AMPSIM_MP_START", raising=False)  # (this process's sweeps fork: quick)
    path, out, before = _half_done(tmp_path, LONG if moment == "under way" else SIM)
    n0, marker, seen = len(finished(out)), uuid.uuid4().hex, set()
    proc = _start([sys.executable, "-m", "ampsim", "sweep", str(path), "--out", str(out), "--no-progress", "--jobs",
                   "2"], method, marker)
    try:
        if moment == "starting":  # its pool's processes appear: the workers are starting (a spawned one imports)
            _wait(proc, seen, lambda: len(descendants(proc.pid)) >= 2)
        elif moment == "mid-point":  # a point of this run has finished, others are under way
            _wait(proc, seen, lambda: len(finished(out)) > n0)
        else:  # both points to run are under way, for a second or two more
            _wait(proc, seen, lambda: len(list(out.glob(".tmp-*"))) == 2)
            time.sleep(0.3)
        kept = snapshot(finished(out))
        err, left = _signal_and_end(proc, seen, marker, sig, 1.0 if moment == "under way" else 5.0)
    finally:
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after the sweep's end: {left}"
    assert proc.returncode == STATUS[sig], err
    if sig != signal.SIGKILL:
        assert err.strip().splitlines() == [SWEEP_LINE.format(out=out)], err
        assert not list(out.glob(".tmp-*"))
    assert {k: v for k, v in snapshot(finished(out)).items() if k in kept} == kept
    assert {k: kept[k] for k in before} == before
    _finishes_keeping(path, out, kept, 3 if moment == "under way" else 8)


def test_a_sigkilled_forkserver_sweep_of_multicore_points_leaves_no_process(tmp_path, monkeypatch):
    """Each pool worker (a child of the sweep's fork server) starts its point's workers through a fork server of its
    own: two servers, a resource tracker and the workers below them, none of which may outlive the sweep."""
    monkeypatch.delenv("AMPSIM_MP_START", raising=False)
    path, out, before = _half_done(tmp_path, MULTICORE)
    marker, seen = uuid.uuid4().hex, set()
    proc = _start([sys.executable, "-m", "ampsim", "sweep", str(path), "--out", str(out), "--no-progress", "--jobs",
                   "2"], "forkserver", marker)
    # (server, tracker, two pool workers, a server of each and its two workers: wait for a point's workers)
    _wait(proc, seen, lambda: len(_pids_with_env(marker)) >= 8)
    err, left = _signal_and_end(proc, seen, marker, signal.SIGKILL)
    assert left == [] and proc.returncode == -signal.SIGKILL, (left, err)
    _finishes_keeping(path, out, before, 6)


#: each method and each signal once (a forkserver SIGKILL of multicore workers is the sweep's test above): the suite's
#: minutes are kept for what differs
TRAIN = [("spawn", signal.SIGINT), ("forkserver", signal.SIGTERM), ("spawn", signal.SIGKILL)]


@pytest.mark.parametrize("method, sig", TRAIN, ids=[f"{m}-{signal.Signals(s).name}" for m, s in TRAIN])
def test_a_signalled_multicore_run_leaves_no_worker_and_the_earlier_run_as_it_was(tmp_path, method, sig):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "list_reduction.toml"), "--set",
           "data.n_test=200", "--set", "train.epochs=1", "--no-progress", "--out", str(out)]
    assert main([*cmd[3:], "--set", "data.n_train=200"]) == 0  # the earlier run (the reference executor: quick)
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    marker, seen = uuid.uuid4().hex, set()
    proc = _start([*cmd, "--executor", "multicore", "--workers", "2", "--set", "data.n_train=20000"], method, marker,
                  cwd=tmp_path)
    _wait(proc, seen, lambda: (tmp_path / "run.partial").exists() and len(_pids_with_env(marker)) >= 3)
    time.sleep(1.0)  # into training
    err, left = _signal_and_end(proc, seen, marker, sig)
    assert left == [], f"still running after the run's end: {left}"
    assert proc.returncode == STATUS[sig], err
    if sig != signal.SIGKILL:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ampsim: interrupted"), err
    assert {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


SCRIPT = """
import sys

import ampsim

if __name__ == "__main__":
    try:
        ampsim.sweep({sweep!r}, {out!r}, jobs=2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
"""


def test_ctrl_c_of_a_guarded_scripts_spawned_sweep_is_its_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The script's workers, spawned, each import it again (guarded: they run nothing of it); a Ctrl-C reaches them
    all (the terminal's process group): ``ampsim.sweep`` raises KeyboardInterrupt once its workers are gone, and no
    worker prints anything."""
    monkeypatch.delenv("AMPSIM_MP_START", raising=False)
    path, out, before = _half_done(tmp_path, SIM)
    n0 = len(finished(out))
    script = tmp_path / "guarded.py"
    script.write_text(SCRIPT.format(sweep=str(path), out=str(out)))
    marker, seen = uuid.uuid4().hex, set()
    proc = _start([sys.executable, str(script)], "spawn", marker, cwd=tmp_path)
    _wait(proc, seen, lambda: len(finished(out)) > n0)
    kept = snapshot(finished(out))
    err, left = _signal_and_end(proc, seen, marker, signal.SIGINT)
    assert left == [] and proc.returncode == 130, (left, err)
    assert err.strip().splitlines() == ["interrupted"], err
    assert {k: v for k, v in snapshot(finished(out)).items() if k in kept} == kept
    assert not list(out.glob(".tmp-*"))
    _finishes_keeping(path, out, kept, 8)
