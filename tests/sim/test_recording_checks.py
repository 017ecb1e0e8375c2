"""The recording cache checks what it can cheaply before the costly part: a file under a recording's name is
refused on its key (a few hundred bytes) before its arrays are read, and ``$AMPSIM_RECORDINGS_MAX_BYTES`` is
checked before anything is recorded, not once the recording is made and about to be saved."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from replay_kit import filed_recording
from timeline_kit import insts

from ampsim.errors import ConfigError
from ampsim.executors.sim import recording_cache
from ampsim.executors.sim.recording import RecordingError, record
from ampsim.executors.sim.recording_cache import load, obtain, recording_key, save

ROOT = Path(__file__).resolve().parents[2]


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
    model, instances, cached = filed_recording(tmp_path)
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
    model, instances, cached = filed_recording(tmp_path)
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


@pytest.mark.parametrize("bad", ["lots", "-5"])
def test_a_bad_recordings_limit_is_refused_before_anything_is_recorded(bad, tmp_path, monkeypatch):
    """AMPSIM_RECORDINGS_MAX_BYTES was read when a recording was saved: a bad value failed only once the recording
    was made (a big model's minutes of work), and never where every recording was found filed."""
    model, instances, cached = filed_recording(tmp_path)
    recorded = []
    monkeypatch.setattr(recording_cache, "record", lambda *a, **k: recorded.append(1) or record(*a, **k))
    monkeypatch.setenv("AMPSIM_RECORDINGS_MAX_BYTES", bad)
    for folder in (tmp_path / "empty", cached.parent):  # nothing filed there yet; its recording filed
        folder.mkdir(exist_ok=True)
        with pytest.raises(ConfigError, match=rf"^AMPSIM_RECORDINGS_MAX_BYTES: expected a whole number of bytes, "
                                              rf"got '{bad}'$"):
            obtain(model, instances, folder=folder)
    assert recorded == [] and list((tmp_path / "empty").iterdir()) == []
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")  # (no folder: nothing to limit, nothing read)
    assert obtain(model, instances, use_folder=False).n_messages == 3 * 7


def test_a_bad_recordings_limit_is_one_line_from_the_command_line(tmp_path):
    env = {**os.environ, "AMPSIM_RECORDINGS": str(tmp_path / "rec"), "AMPSIM_RECORDINGS_MAX_BYTES": "lots"}
    out = subprocess.run([sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "blobs_mlp.toml"),
                          "--executor", "sim", "--hardware", str(ROOT / "hardware_models" / "ring4.toml"),
                          "--set", "executor.numerics=false", "--set", "train.epochs=1", "--set", "data.n_train=60",
                          "--set", "data.n_test=20", "--no-progress", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["ampsim: error: AMPSIM_RECORDINGS_MAX_BYTES: expected a whole number of "
                                       "bytes, got 'lots'"]
    assert not any((tmp_path / "rec").glob("*.npz"))
