"""The ``ampsim`` command (and ``python -m ampsim``): :func:`ampsim.cli.main`, imported under a guard.

Why a module of its own: loading the command's modules (numpy, pandas, networkx, simpy) takes about a
third of a second, and a Ctrl-C in that time would print Python's traceback (a SIGTERM would end the
process without a word) instead of the one line every other interruption gets. ``import ampsim`` is light
(its API is imported on first use), so this runs before the heavy modules load.
"""

from __future__ import annotations

import signal
import sys

from ampsim.errors import Terminated


def _terminated(_signum: int, _frame) -> None:
    raise Terminated()


def main() -> int:
    """Run the command line; an interruption before it has taken over is one line, exit status 130 (Ctrl-C)
    or 143 (SIGTERM)."""
    try:
        signal.signal(signal.SIGTERM, _terminated)  # (the CLI puts in its own, and puts this one back)
        from ampsim.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt as e:  # while loading: nothing was started, nothing to keep
        print("ampsim: interrupted", file=sys.stderr)
        code = 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        # interrupted, and said so: a second Ctrl-C during Python's own teardown (a pool's finalizers) would
        # end the process by SIGINT, with no exit status of ours
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
