"""The ``ampsim`` command (and ``python -m ampsim``): :func:`ampsim.cli.main`, imported under a guard.

Why a module of its own: loading the command's modules (numpy, pandas, networkx, simpy) takes about a
third of a second, and a Ctrl-C in that time would print Python's traceback instead of the one line every
other interruption gets. ``import ampsim`` is light (its API is imported on first use), so this runs
before the heavy modules load.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    """Run the command line; a Ctrl-C before it has taken over is one line and exit status 130."""
    try:
        from ampsim.cli import main as cli_main

        return cli_main()
    except KeyboardInterrupt:  # while loading: nothing was started, nothing to keep
        print("ampsim: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
