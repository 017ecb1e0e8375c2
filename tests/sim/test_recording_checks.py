"""The recording cache checks what it can cheaply before the costly part: a file under a recording's name is
refused on its key (a few hundred bytes) before its arrays are read, and ``$AMPSIM_RECORDINGS_MAX_BYTES`` is
checked before anything is recorded, not once the recording is made and about to be saved."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from timeline_kit import chain_model, insts

from ampsim.executors.sim.recording import RecordingError, record
from ampsim.executors.sim.recording_cache import clear_memory, load, obtain, recording_key, save

ROOT = Path(__file__).resolve().parents[2]


def _filed(tmp_path: Path) -> tuple:
    """A recording filed in ``tmp_path/cache`` (the process's memory of it dropped): model, instances, file."""
    model, instances = chain_model(("a", 1e6), ("b", 1e6)), insts(3)
    (tmp_path / "cache").mkdir()
    clear_memory()
    obtain(model, instances, folder=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.npz")
    clear_memory()
    return model, instances, cached


@pytest.fixture
def members_read(monkeypatch) -> list[str]:
    """The names of the .npz members read, in order (every array an np.load'ed .npz gives goes through this)."""
    read: list[str] = []
    getitem = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", lambda z, name: read.append(name) or getitem(z, name))
    return read


def test_a_recording_for_another_key_is_refused_on_its_key_alone(tmp_path, members_read, caplog):
    """A recording filed under this key's name but recorded for another (another task, data or code version)
    had every array read and decompressed before its key was looked at."""
    model, instances, cached = _filed(tmp_path)
    key = recording_key(model, instances, training=True)
    other = insts(5)
    save(record(model, other), cached, recording_key(model, other, training=True))
    with pytest.raises(RecordingError, match="recorded for another task"):
        load(cached, key)
    assert members_read == ["key"]
    members_read.clear()
    with caplog.at_level(logging.WARNING):
        obtain(model, instances, folder=cached.parent)
    assert "recorded for another task" in caplog.text and "recording again" in caplog.text
    assert members_read == ["key"]  # and recorded again, as before: a good file now
    assert load(cached, key).n_messages == 3 * 7


def test_a_foreign_file_under_a_recordings_name_is_not_read_whole(tmp_path, monkeypatch, members_read):
    """A NumPy .npy file (np.load reads all of it) or an .npz whose 'key' is not a key's size (a foreign archive)
    is refused without reading its data."""
    model, instances, cached = _filed(tmp_path)
    key = recording_key(model, instances, training=True)
    arrays_read = []
    read_array = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: arrays_read.append(1) or read_array(*a, **k))
    with open(cached, "wb") as f:
        np.save(f, np.zeros(1 << 18))
    with pytest.raises(RecordingError, match="corrupt or truncated recording"):
        load(cached, key)
    assert arrays_read == []
    with open(cached, "wb") as f:
        np.savez(f, key=np.zeros(1 << 18), checksum=np.zeros(1 << 18))
    with pytest.raises(RecordingError, match="not a recording's key"):
        load(cached, key)
    assert arrays_read == [] and members_read == []
