"""The ``ampsim`` command (and ``python -m ampsim``): :func:`ampsim.cli.main`, imported under a guard.

Why a module of its own: loading the command's modules (numpy, pandas, networkx, simpy) takes about a
third of a second, and a Ctrl-C in that time would print Python's traceback (a SIGTERM would end the
process without a word) instead of the one line every other interruption gets. ``import ampsim`` is light
(its API is imported on first use), so this runs before the heavy modules load.
"""

from __future__ import annotations

import signal
import sys

from ampsim.errors import Terminated, exit_status, raise_interrupted, raise_terminated


def main() -> int:
    """Run the command line; an interruption before it has taken over is one line, exit status 130 (Ctrl-C)
    or 143 (SIGTERM)."""
    try:
        signal.signal(signal.SIGTERM, raise_terminated)  # (the CLI puts in its own, and puts these back)
        signal.signal(signal.SIGINT, raise_interrupted)
        from ampsim.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt as e:  # while loading: nothing was started, nothing to keep
        print("ampsim: interrupted", file=sys.stderr)
        code = 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    return exit_status(code)


if __name__ == "__main__":
    sys.exit(main())
