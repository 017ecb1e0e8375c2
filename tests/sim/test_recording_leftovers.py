"""A recording is saved through a temporary file (``.<name>.<pid>.tmp.npz``) renamed into place; a process
killed as it saved (a sweep SIGKILLed) left that file in the recordings folder for ever: neither counted against
the folder's limit nor deleted by its pruning. Pruning now deletes the temporaries of processes that are gone, once
they have gone unchanged an hour: a folder shared between machines holds saves of processes running elsewhere,
whose pids this machine does not know (one was deleted as it was written). A pid is reused (a container's ampsim
is pid 1 at every start): a temporary last written before the process now under its pid started is not that
process's."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ampsim.executors.sim import recording_cache
from ampsim.executors.sim.recording_cache import prune


def test_a_killed_saves_temporary_is_deleted_a_running_ones_is_not(tmp_path, monkeypatch):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # (a process that has ended)
    left = tmp_path / f".{'a' * 24}.{dead}.tmp.npz"
    saving = tmp_path / f".{'b' * 24}.{os.getpid()}.tmp.npz"  # this process's save, in progress
    recording = tmp_path / f"{'c' * 24}.npz"
    mine = tmp_path / f".{'d' * 24}.{dead}.tmp.npz.bak"  # not a save's name: not the cache's to delete
    elsewhere = tmp_path / f".{'e' * 24}.{dead}.tmp.npz"  # a save of that pid on another machine sharing the folder
    for f in (left, saving, recording, mine, elsewhere):
        f.write_bytes(b"x" * 100)
    # (a save writes its file in seconds: one unchanged for longer was killed; shortened here so that this
    # process's save is written after it started, as a real one is)
    monkeypatch.setattr(recording_cache, "SAVING_STALE_S", 1.0)
    old = time.time() - 1.5
    for f in (left, saving, mine):
        os.utime(f, (old, old))
    assert prune(tmp_path, 10_000) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([saving.name, recording.name, mine.name, elsewhere.name])


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="no /proc: a process's start is not known here")
def test_a_killed_saves_temporary_is_deleted_though_its_pid_now_names_another_process(tmp_path):
    """A save killed under this process's pid two days ago (another process, since reused the pid) was taken for
    this process's save in progress and kept for ever."""
    reused = tmp_path / f".{'a' * 24}.{os.getpid()}.tmp.npz"
    reused.write_bytes(b"x" * 100)
    old = time.time() - 2 * 86_400  # (before this process started)
    os.utime(reused, (old, old))
    assert prune(tmp_path, 10_000) == 0
    assert list(tmp_path.iterdir()) == []
