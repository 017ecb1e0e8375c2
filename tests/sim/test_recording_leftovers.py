"""A recording is saved through a temporary file (``.<name>.<pid>.tmp.npz``) renamed into place; a process
killed as it saved (a sweep SIGKILLed) left that file in the recordings folder for ever: neither counted against
the folder's limit nor deleted by its pruning. Pruning now deletes the temporaries of processes that are gone, once
they have gone unchanged an hour: a folder shared between machines holds saves of processes running elsewhere,
whose pids this machine does not know (one was deleted as it was written)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ampsim.executors.sim.recording_cache import SAVING_STALE_S, prune


def test_a_killed_saves_temporary_is_deleted_a_running_ones_is_not(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # (a process that has ended)
    left = tmp_path / f".{'a' * 24}.{dead}.tmp.npz"
    saving = tmp_path / f".{'b' * 24}.{os.getpid()}.tmp.npz"  # this process's save, in progress
    recording = tmp_path / f"{'c' * 24}.npz"
    mine = tmp_path / f".{'d' * 24}.{dead}.tmp.npz.bak"  # not a save's name: not the cache's to delete
    elsewhere = tmp_path / f".{'e' * 24}.{dead}.tmp.npz"  # a save of that pid on another machine sharing the folder
    for f in (left, saving, recording, mine, elsewhere):
        f.write_bytes(b"x" * 100)
    old = time.time() - SAVING_STALE_S - 60  # (a save writes its file in seconds: this one was killed)
    for f in (left, saving, mine):
        os.utime(f, (old, old))
    assert prune(tmp_path, 10_000) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([saving.name, recording.name, mine.name, elsewhere.name])
