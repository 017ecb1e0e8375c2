"""Helpers for tests of the processes ampsim starts, shared by tests/multicore and tests/sweeps: which processes
are left (found by a marker in their environment, which a command's children inherit), and a script that runs its
ampsim work outside ``if __name__ == "__main__":`` run with its workers spawned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def none_with_env(marker: str, within_s: float = 3.0) -> bool:
    """Whether every process whose environment holds ``marker`` (:func:`pids_with_env`) has ended within
    ``within_s`` seconds: a CLI run's workers, orphans of it otherwise."""
    deadline = time.monotonic() + within_s
    while pids_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids_with_env(marker) == []


def pids_with_env(marker: str) -> list[int]:
    """Processes whose environment contains ``marker`` (to find orphans of a CLI run)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(entry))
        except OSError:
            continue
    return [p for p in out if alive(p)]


def assert_unguarded_script_fails_in_one_line(script: Path, spawned_by: str) -> None:
    """Run ``script``, whose ampsim work is not under ``if __name__ == "__main__":`` (it prints an AmpsimError as
    ``error: ...`` and exits 2), with its workers spawned as ``spawned_by`` says (``AMPSIM_MP_START=spawn``, or
    a thread the script starts itself: it is told which), and assert what its user sees: exit 2, one line naming
    the script and the guard (no worker's traceback), and no process of it left."""
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "AMPSIM_MP_START"}
    env["AMPSIM_TEST_UNGUARDED"] = marker
    if spawned_by.startswith("AMPSIM_MP_START="):
        env["AMPSIM_MP_START"] = spawned_by.split("=", 1)[1]
    r = subprocess.run([sys.executable, str(script)], cwd=script.parent, env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr  # one line, from the script: no worker's traceback
    assert lines[0].startswith(f"error: {script}: ") and 'if __name__ == "__main__":' in lines[0], lines[0]
    assert none_with_env(marker, within_s=5.0)
