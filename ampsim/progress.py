"""Progress that fits the stream it is written to.

On a terminal, a tqdm bar redrawn in place. Anywhere else (stderr redirected to a file, a CI log, a
pipe), carriage-return redraws would leave thousands of lines, so progress becomes plain lines: at most
one per *milestone* (an epoch of a training, a point of a sweep), written when the caller says one was
reached. ``enabled=False`` silences both.

    bar = progress("mnist_mlp", total=6000, unit="inst")
    bar.update(1)                      # per instance: redraws a terminal bar, writes nothing to a file
    bar.milestone("epoch 1/6, loss 0.31")  # one plain line off a terminal; bar postfix on it
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

__all__ = ["Progress", "progress"]


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


class _Bar:
    """A tqdm bar on a terminal; a milestone shows as its postfix."""

    counts = True

    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, file=stream)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def milestone(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        self._bar.close()


class _Lines:
    """Off a terminal: one line per milestone, ``desc: text (done/total unit, elapsed)``; nothing else."""

    counts = True

    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        self.desc, self.total, self.unit, self.stream = desc, total, unit, stream
        self.done = 0
        self.t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n

    def milestone(self, text: str) -> None:
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        self.stream.write(f"{self.desc}: {text} ({count} {self.unit}, {time.perf_counter() - self.t0:.1f} s)\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def progress(desc: str, total: int | None = None, *, unit: str = "it", enabled: bool = True,
             stream: IO[str] | None = None) -> Progress:
    """A progress reporter for ``stream`` (default stderr): a bar on a terminal, plain lines elsewhere."""
    if not enabled:
        return _Silent()
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return _Bar(desc, total, unit, stream)
    return _Lines(desc, total, unit, stream)
