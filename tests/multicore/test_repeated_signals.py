"""A second Ctrl-C or SIGTERM while the command stops is the same request: ignored, not raised inside the stop's
own clean-up. Three signals milliseconds apart into a multicore run printed "Exception ignored in: <finalize
object ...> ... KeyboardInterrupt" after the one line, or ended the process by the signal (status -15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mc_helpers import ROOT

from ampsim import errors
from ampsim.errors import TERMINATED, raise_interrupted, raise_terminated, stop_signals_reset


def test_a_signal_while_the_stop_goes_on_is_ignored_and_one_after_the_grace_stops_again(monkeypatch):
    stop_signals_reset()
    clock = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    with pytest.raises(KeyboardInterrupt):
        raise_interrupted(signal.SIGINT, None)
    clock[0] += 0.003
    raise_interrupted(signal.SIGINT, None)  # the same request: nothing raised
    raise_terminated(signal.SIGTERM, None)
    assert TERMINATED == []  # (the status is the first signal's: 130)
    clock[0] += errors.STOP_GRACE_S  # the first one's exception may have been dropped: a new signal stops it
    with pytest.raises(errors.Terminated):
        raise_terminated(signal.SIGTERM, None)
    assert TERMINATED == [signal.SIGTERM]
    stop_signals_reset()


@pytest.mark.parametrize("sig,gap_s", [(signal.SIGINT, 0.003), (signal.SIGTERM, 0.003), (signal.SIGTERM, 0.02)],
                         ids=["int-3ms", "term-3ms", "term-20ms"])
def test_three_signals_into_a_multicore_run_are_one_line_and_one_status(tmp_path, sig, gap_s):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "list_reduction.toml"),
           "--executor", "multicore", "--workers", "2", "--set", "data.n_train=20000", "--set", "data.n_test=200",
           "--set", "train.epochs=1", "--no-progress", "--out", str(out)]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run.partial").exists():  # the run is under way (its workers started)
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else ""
            time.sleep(0.05)
        time.sleep(1.0)
        for _ in range(3):
            os.kill(p.pid, sig)
            time.sleep(gap_s)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 128 + sig
    assert err.strip().splitlines() == ["ampsim: interrupted; no epoch had finished, so nothing was kept; "
                                        f"{out} is as it was"], err
