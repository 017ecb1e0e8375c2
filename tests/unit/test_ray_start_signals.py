"""A ``--ray`` sweep stopped while its local Ray instance starts (inside ``ray.init``): a SIGTERM to its whole
process group (which also kills the GCS server Ray has just started) or to its process alone, or a Ctrl-C,
ends it within 10 s with its one line and its status (143, 130), no traceback or stack dump, and nothing it
started left running. Before: 30 s, then exit 15 and nothing said (once in several tries, Ray's crash
handler's exit 134 and a stack dump), while Ray waited for the dead server's port with the GIL held.

The moment is known, not guessed: the signal goes once the sweep has a ``gcs_server`` below it and no
``raylet`` yet, which ``ray.init`` starts one after the other, both before it returns. Every process the sweep
starts carries a tag in its environment, so one that slipped out of its process tree is found too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from test_sweep_interrupt import ROOT, SIM, _default_sigint, alive, descendants

#: the environment variable that tags the sweep's processes (what Ray starts inherits it)
TAG = "AMPSIM_TEST_RAY_START_TAG"


def _exe(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0]
    except OSError:
        return b""


def _tagged(tag: str) -> set[int]:
    """The live processes whose initial environment holds ``TAG=tag`` (Ray's agents overwrite what /proc shows
    of theirs with their titles: the process tree finds those)."""
    needle = f"{TAG}={tag}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.add(int(entry))
            except OSError:
                continue
    return {p for p in found if alive(p)}


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds Ray's processes in /proc (Linux)")
@pytest.mark.parametrize("sig,group,status", [(signal.SIGTERM, True, 143), (signal.SIGTERM, False, 143),
                                              (signal.SIGINT, True, 130)],
                         ids=["sigterm-group", "sigterm-process", "ctrl-c"])
def test_a_signal_while_ray_starts_ends_the_sweep_at_once_with_its_line_and_nothing_left(tmp_path, sig, group,
                                                                                         status):
    pytest.importorskip("ray")
    path = tmp_path / "sim.toml"
    path.write_text(SIM)
    out, tag = tmp_path / "out", uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "ampsim.cli", "sweep", str(path), "--out", str(out), "--no-progress",
                             "--jobs", "2", "--ray"], cwd=ROOT, start_new_session=True, preexec_fn=_default_sigint,
                            env={**os.environ, TAG: tag}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:  # inside ray.init: its GCS server started, its raylet not yet
            below = descendants(proc.pid)
            seen |= below
            names = [_exe(p) for p in below]
            if any(b"gcs_server" in n for n in names):
                assert not any(b"raylet" in n for n in names), "missed the moment: the raylet was up too"
                break
            assert proc.poll() is None, f"the sweep exited ({proc.returncode}) too early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "Ray did not start a GCS server"
            time.sleep(0.002)
        t0 = time.monotonic()
        (os.killpg if group else os.kill)(proc.pid, sig)
        while proc.poll() is None and time.monotonic() - t0 < 30:  # (its tree until it ends: what Ray starts late)
            seen |= descendants(proc.pid)
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        _, err = proc.communicate(timeout=5)
        deadline = time.monotonic() + 5.0
        while any(alive(p) for p in seen | _tagged(tag)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: _exe(p)[-40:] for p in seen | _tagged(tag) if alive(p)}
    finally:
        for p in seen | _tagged(tag) | ({proc.pid} if proc.poll() is None else set()):
            if alive(p):
                os.kill(p, signal.SIGKILL)
        proc.wait()
    assert elapsed < 10.0, f"the sweep took {elapsed:.1f} s to end: {err}"
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampsim: interrupted"), err  # no traceback, no stack dump
    assert left == {}
    assert not (out / "table.csv").exists() and not list(out.glob(".tmp-*"))
