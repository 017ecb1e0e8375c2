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


class Diverged(RunError):
    """Training diverged: a loss not finite, or above ``train.max_loss`` per row (the loss nodes' check). Apart
    from the other run errors because it is an outcome, not a fault: the same config diverges again, and a
    sweep records such a point as diverged instead of failing it (:mod:`ampsim.sweeps.run`)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the CLI's main thread (``ampsim.cli.main``) so that a command stops exactly as on
    Ctrl-C: what it was writing is abandoned whole, finished results are kept, one line says so."""



# -- SIGTERM as an exception, and the exit that follows an interruption -----------------------------------
#: SIGTERMs the command's handler received (noted before it raises: Python may drop the exception, raised in
#: a fork hook, as "Exception ignored"; or code between may re-raise it as a plain KeyboardInterrupt)
TERMINATED: list[int] = []


def raise_terminated(signum: int, _frame: object) -> None:
    """The command's SIGTERM handler (its main thread): note the signal, raise :class:`Terminated`."""
    TERMINATED.append(signum)
    raise Terminated()


def exit_status(code: int) -> int:
    """``code``, the command's exit status; once it is an interruption's (130, 143), already said in one line,
    Ctrl-C is ignored while Python tears down: a second one (a pool's finalizers) would end the process by
    SIGINT, with no status of ours."""
    import signal

    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, after its class name unless it is an :class:`AmpsimError` that says
    something (a bug's class is part of what it says; a user error's message is whole without it).

    >>> first_line(ConfigError("x.toml: bad\\nmore")), first_line(ValueError("no")), first_line(RunError())
    ('x.toml: bad', 'ValueError: no', 'RunError: ')
    """
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(err, AmpsimError) and first else f"{type(err).__name__}: {first}"
