"""Two measurements of one machine at once (calibrate, a compare's measured runs) slow each other: the second
says so, and measures anyway; a compare's own calibration inside it is one measurement."""

from __future__ import annotations

import logging
import os

from ampsim import locks
from ampsim.calibration import calibrate as cal
from ampsim.calibration import thismachine
from ampsim.locks import lock_file, measuring, measuring_lock_path, unlock_file


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_measurement_beside_another_warns_and_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("AMPSIM_MEASURING_LOCK", str(tmp_path / "m.lock"))
    assert measuring_lock_path() == tmp_path / "m.lock"
    other = lock_file(tmp_path / "m.lock")  # (another open file: flock tells them apart in one process too)
    ran = []
    with caplog.at_level(logging.WARNING), measuring("compare x"):
        ran.append(1)
    assert ran == [1]
    assert warnings_of(caplog) == [f"compare x: another ampsim measurement (pid {os.getpid()}) is running on this "
                                   "machine; each slows the other, so these wall-clock times are not this machine's "
                                   "alone: measure again once it has finished"]
    unlock_file(other, tmp_path / "m.lock")
    caplog.clear()
    with caplog.at_level(logging.WARNING), measuring("compare x"):
        assert (tmp_path / "m.lock").read_text() == f"{os.getpid()}\n"  # held, for the next one to see
    assert warnings_of(caplog) == [] and not (tmp_path / "m.lock").exists()


def test_nested_in_one_process_is_one_measurement(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("AMPSIM_MEASURING_LOCK", str(tmp_path / "m.lock"))
    with caplog.at_level(logging.WARNING), measuring("compare x"), measuring("calibrate"):
        assert locks._MEASURING == [2]
    assert warnings_of(caplog) == [] and locks._MEASURING == [0] and not (tmp_path / "m.lock").exists()


def test_calibrate_measures_holding_the_machines_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_MEASURING_LOCK", str(tmp_path / "m.lock"))
    seen = []

    def calibrate(workers, quick):
        seen.append((tmp_path / "m.lock").read_text())
        raise KeyboardInterrupt  # (stop before writing a model; the lock is let go on the way out)

    monkeypatch.setattr(cal, "calibrate", calibrate)
    try:
        thismachine.run_calibration(tmp_path / "model.toml", 1, quick=True)
    except KeyboardInterrupt:
        pass
    assert seen == [f"{os.getpid()}\n"] and not (tmp_path / "m.lock").exists()
