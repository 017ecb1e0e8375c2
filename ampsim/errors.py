"""User-facing errors.

Every problem a user can fix (a malformed config or hardware file, missing or corrupt data, an
impossible placement, a deadlocked run) raises an :class:`AmpsimError` whose message is one line that
names the file and the field or cause. The CLI prints it as ``ampsim: error: <message>`` and exits with
status 2, without a traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations


class AmpsimError(Exception):
    """A one-line, user-fixable error. ``str(err)`` is what the user sees."""

    exit_code = 2


class ConfigError(AmpsimError):
    """An experiment, sweep or hardware file is malformed: names the file and the dotted field."""


class DataError(AmpsimError):
    """A dataset is missing, truncated or corrupt: names the file and what to do."""


class GraphError(AmpsimError):
    """The IR graph is ill-formed (dangling or doubly-connected ports, width mismatch, inescapable cycle)."""


class RunError(AmpsimError):
    """A run cannot go on: deadlock, NaN loss, a chip out of memory, a crashed worker."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the CLI's main thread (``ampsim.cli.main``) so that a command stops exactly as on
    Ctrl-C: what it was writing is abandoned whole, finished results are kept, one line says so."""

