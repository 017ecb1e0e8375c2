"""Progress that fits the stream it is written to.

On a terminal, a tqdm bar redrawn in place. Anywhere else (stderr redirected to a file, a CI log, a
pipe), carriage-return redraws would leave thousands of lines, so progress becomes plain lines: at most
one per *milestone* (an epoch of a training, a point of a sweep), written when the caller says one was
reached. ``enabled=False`` silences both.

Progress is never worth a run: where its stream fails (stderr closed, ``2>&-``; a pipe whose reader went away,
``2>&1 | head -1``; a full disk behind ``2>file``), the reporter falls silent and the work goes on. Such a
BrokenPipeError or AttributeError stopped a training, a sweep or the demo mid-way, exiting 0 or 1 with its
result left partial.

    bar = progress("mnist_mlp", total=6000, unit="inst")
    bar.update(1)                      # per instance: redraws a terminal bar, writes nothing to a file
    bar.milestone("epoch 1/6, loss 0.31")  # one plain line off a terminal; bar postfix on it
    bar.close()
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from typing import IO, Any, Callable, Protocol, TypeVar

__all__ = ["Progress", "progress"]

log = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., None])


def _unless_the_stream_failed(method: _F) -> _F:
    """``method``, which writes to the reporter's stream, until a write fails: from then on it does nothing."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any) -> None:
        if self.failed:
            return
        try:
            method(self, *args)
        except (OSError, ValueError) as e:  # a closed pipe or file (ValueError: "I/O operation on closed file")
            self.failed = True
            log.debug("progress: its stream failed (%s); going on without it", e)

    return guarded  # type: ignore[return-value]


class Progress(Protocol):
    #: whether :meth:`update` does anything (a silent one does not: a caller need not count for it)
    counts: bool

    def update(self, n: int = 1) -> None: ...

    def milestone(self, text: str) -> None: ...

    def close(self) -> None: ...


class _Silent:
    counts = False

    def update(self, n: int = 1) -> None:
        pass

    def milestone(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@functools.cache
def _tqdm_without_monitor() -> type:
    """tqdm less its monitor thread (``monitor_interval = 0``), as a subclass so other bars in the process keep
    theirs. Why: a sweep forks its workers while its bar is shown, and a process that forks must run no other
    thread (:func:`ampsim.sweeps.pool.start_method`); the monitor only lowers the bar's dynamic ``miniters`` when
    updates slow down, which ``miniters=1`` makes moot."""
    from tqdm import tqdm

    return type("_Tqdm", (tqdm,), {"monitor_interval": 0})


class _Bar:
    """A tqdm bar on a terminal; a milestone shows as its postfix."""

    counts = True
    failed = False

    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        self._bar = _tqdm_without_monitor()(total=total, desc=desc, unit=unit, leave=False, file=stream, miniters=1)

    @_unless_the_stream_failed
    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    @_unless_the_stream_failed
    def milestone(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    @_unless_the_stream_failed
    def close(self) -> None:
        self._bar.close()


class _Lines:
    """Off a terminal: one line per milestone, ``desc: text (done/total unit, elapsed)``; nothing else."""

    counts = True
    failed = False

    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        self.desc, self.total, self.unit, self.stream = desc, total, unit, stream
        self.done = 0
        self.t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n

    @_unless_the_stream_failed
    def milestone(self, text: str) -> None:
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        self.stream.write(f"{self.desc}: {text} ({count} {self.unit}, {time.perf_counter() - self.t0:.1f} s)\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def progress(desc: str, total: int | None = None, *, unit: str = "it", enabled: bool = True,
             stream: IO[str] | None = None) -> Progress:
    """A progress reporter for ``stream`` (default stderr): a bar on a terminal, plain lines elsewhere, none where
    there is no stream (stderr closed: ``sys.stderr`` is None)."""
    stream = stream or sys.stderr
    if not enabled or stream is None:
        return _Silent()
    try:
        tty = stream.isatty()
    except (AttributeError, OSError, ValueError):  # (a closed file's isatty raises ValueError)
        tty = False
    if tty:
        return _Bar(desc, total, unit, stream)
    return _Lines(desc, total, unit, stream)
