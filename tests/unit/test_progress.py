"""Progress is never worth a run: a reporter whose stream fails falls silent, and the work goes on."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ampsim.progress import progress

ROOT = Path(__file__).resolve().parents[2]
TRAIN = [sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "blobs_mlp.toml"),
         "--set", "train.epochs=3", "--set", "data.n_train=200", "--set", "data.n_test=50"]


class Failing(io.StringIO):
    """A stream whose writes fail from the ``after``-th on, as a pipe's whose reader went away."""

    def __init__(self, after: int, error: Exception) -> None:
        super().__init__()
        self.after, self.error, self.writes = after, error, 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes > self.after:
            raise self.error
        return super().write(text)


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), OSError(28, "No space left on device"),
                                   ValueError("I/O operation on closed file")])
def test_a_reporter_whose_stream_fails_falls_silent(error):
    stream = Failing(1, error)
    bar = progress("run", total=3, unit="epoch", stream=stream)
    for i in range(3):
        bar.update(1)
        bar.milestone(f"epoch {i + 1}")  # the second write fails: no exception, and no third try
    bar.close()
    assert stream.getvalue() == "run: epoch 1 (1/3 epoch, " + stream.getvalue().split(", ", 1)[1]
    assert stream.writes == 2


def test_no_stream_at_all_is_silent(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)  # what Python sets where fd 2 was closed (2>&-)
    bar = progress("run", total=3)
    assert not bar.counts
    bar.milestone("epoch 1")  # (an AttributeError on None.write stopped the run, exit 1)


def test_a_terminal_bar_starts_no_thread():
    """A sweep forks its workers while its bar is shown, and forks only while its process runs one thread
    (:func:`ampsim.sweeps.pool.start_method`): tqdm's monitor thread would make every such sweep spawn them."""
    from ampsim.sweeps.pool import threads_running

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    before = threads_running()
    bar = progress("sweep", total=3, unit="point", stream=Terminal())
    try:
        bar.update(1)
        assert threads_running() == before
    finally:
        bar.close()


def _finished(run: Path) -> int:
    """The epochs a finished run folder's metrics.csv holds (it exists only once the run is in place)."""
    return len((run / "metrics.csv").read_text().splitlines()) - 1


def test_a_run_whose_progress_pipe_closes_finishes(tmp_path):
    """``ampsim train ... 2>&1 | head -1`` exited 0 after the first line with the run left ``.partial``."""
    out = tmp_path / "run"
    p = subprocess.Popen([*TRAIN, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    assert p.stdout.readline()  # the first line, then the reader goes away
    p.stdout.close()
    assert p.wait(timeout=120) == 0
    assert _finished(out) == 3 and not out.with_name("run.partial").exists()


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_run_whose_stderr_is_closed_or_full_finishes(tmp_path, stderr):
    """``2>&-`` and ``2>/dev/full`` exited 1 without a word, the run left ``.partial``."""
    out = tmp_path / "run"
    if stderr == "closed":
        p = subprocess.run([*TRAIN, "--out", str(out)], stdout=subprocess.PIPE, cwd=tmp_path, timeout=120,
                           preexec_fn=lambda: os.close(2))
    else:
        with open("/dev/full", "w") as full:
            p = subprocess.run([*TRAIN, "--out", str(out)], stdout=subprocess.PIPE, stderr=full, cwd=tmp_path,
                               timeout=120)
    assert p.returncode == 0 and b"results in" in p.stdout
    assert _finished(out) == 3
