"""User-facing errors.

Every problem a user can fix (a malformed config or hardware file, missing or corrupt data, an
impossible placement, a deadlocked run) raises an :class:`AmpsimError` whose message is one line that
names the file and the field or cause. The CLI prints it as ``ampsim: error: <message>`` and exits with
status 2, without a traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations

__all__ = ["AmpsimError", "ConfigError", "DataError", "Diverged", "GraphError", "NoRoom", "OUTCOME_FIELDS",
           "Outcome", "OutOfMemory", "RunError", "STOP_GRACE_S", "TERMINATED", "Terminated", "exit_status",
           "first_line", "listed", "raise_interrupted", "raise_terminated", "shown", "stop_signals_reset"]


def listed(names, limit: int = 10) -> str:
    """``names`` for a message, the first ``limit`` of them and their count when there are more: a message stays
    one readable line when a replicated model has thousands of nodes (or a machine thousands of chips).

    >>> listed(["a", "b"]), listed(range(30), 3)
    ('a, b', '0, 1, 2, ... (30 in all)')
    """
    names = list(names)
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def shown(value: object, cut: int | None = None) -> str:
    """``value`` for a one-line message: its repr (None as "nothing", as a summary records a target of 0), cut to
    ``cut`` characters where given (a table's cell or a summary's key may hold any length of text).

    >>> shown(None), shown(0.95), shown("x" * 50, 12)
    ('nothing', '0.95', "'xxxxxxxx...")
    """
    text = "nothing" if value is None else repr(value)
    return text if cut is None or len(text) <= cut else text[:cut - 3] + "..."


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


class Outcome(RunError):
    """A run stopped by what its config is, not by a fault: the same config stops the same way again, so a
    sweep records such a point as done instead of failing it (and retrying it on every later run): its
    summary holds :meth:`record` under :attr:`field`, its table row a column of that name
    (:mod:`ampsim.sweeps.run`, :func:`ampsim.training.run_training`). A run on its own still fails with it."""

    #: the summary's key (and the table's column) that says the run stopped so
    field = ""

    def record(self) -> object:
        """What the summary says under :attr:`field`: the error's line."""
        return str(self)


class Diverged(Outcome):
    """Training diverged: a loss not finite, or above ``train.max_loss`` per row (the loss nodes' check)."""

    field = "diverged"


class OutOfMemory(Outcome):
    """A simulated chip's memory (``chip.memory_bytes``) is exceeded: by its parameters before training, or by
    the instance state and queued messages ``train.mak`` keeps in flight. ``where``: the chip, the simulated
    time and the bytes, which a sweep's summary records (``chip``, ``time_s``, ``used_bytes``,
    ``memory_bytes``, ``param_bytes``, ``instance_bytes``, ``queued_bytes``) beside the line (``error``): a
    what-if of memory or mak against a model asks whether it fits, and "it does not" is its answer."""

    field = "out_of_memory"

    def __init__(self, line: str, where: dict | None = None) -> None:
        # (the record in args: SimPy raises a process's error again as type(e)(*e.args), and pickling rebuilds it so)
        super().__init__(line, dict(where or {}))
        self.where: dict = self.args[1]

    def __str__(self) -> str:
        return self.args[0]

    def record(self) -> dict:
        return {**self.where, "error": str(self)}


class NoRoom(OutOfMemory, ConfigError):
    """The placement finds no chip with room for a node's parameters (:mod:`ampsim.placement.memory`): the run
    would exceed a chip's memory at t=0, so a sweep records it as it records :class:`OutOfMemory` (with the node:
    ``node``; ``chip`` is the one with the most room, ``used_bytes`` what it would hold with the node); refused
    when the config is planned, it is a :class:`ConfigError` too."""


#: the summary keys (and table columns) of the outcomes a sweep records (:class:`Outcome`)
OUTCOME_FIELDS = (Diverged.field, OutOfMemory.field)


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP: the terminal closed), raised in the CLI's main thread (``ampsim.cli.main``) so that a
    command stops exactly as on Ctrl-C: what it was writing is abandoned whole, finished results are kept, one
    line says so."""



# -- SIGINT and SIGTERM as exceptions, once, and the exit that follows an interruption -------------------
#: SIGTERMs the command's handler received (noted before it raises: Python may drop the exception, raised in
#: a fork hook, as "Exception ignored"; or code between may re-raise it as a plain KeyboardInterrupt)
TERMINATED: list[int] = []
#: when the signal that stops the command came (time.monotonic; None: none yet)
_STOPPING: list[float] = []
#: how long after the signal that stops the command a further SIGINT or SIGTERM is taken as the same request
#: and ignored (the stop, its finalizers and a pool's workers, takes a second or two; after this, the first
#: one's exception may have been dropped, and a further signal stops the command again)
STOP_GRACE_S = 10.0


def raise_terminated(signum: int, _frame: object) -> None:
    """The command's SIGTERM and SIGHUP handler (its main thread): note the signal, raise :class:`Terminated` (but see
    :func:`_first_stop`)."""
    if _first_stop():
        TERMINATED.append(signum)
        raise Terminated()


def raise_interrupted(_signum: int, _frame: object) -> None:
    """The command's SIGINT handler (its main thread): Python's own, ``KeyboardInterrupt`` (but see
    :func:`_first_stop`)."""
    if _first_stop():
        raise KeyboardInterrupt


def _first_stop() -> bool:
    """Whether a signal now stops the command: not while the stop of one before goes on (``STOP_GRACE_S``). A
    second Ctrl-C or SIGTERM a few milliseconds after the first was raised inside the stop's own clean-up: in an
    executor's finalizer it was printed as "Exception ignored ... KeyboardInterrupt" after the one line, and
    once the handlers were put back it ended the process by the signal, with no status of ours."""
    import time

    now = time.monotonic()
    if _STOPPING and now - _STOPPING[0] < STOP_GRACE_S:
        return False
    _STOPPING[:] = [now]
    return True


def stop_signals_reset() -> None:
    """Forget the signals of a command before (``ampsim.cli.main`` may run several in one process)."""
    TERMINATED.clear()
    _STOPPING.clear()


def exit_status(code: int) -> int:
    """``code``, the command's exit status; once it is an interruption's (130, 143), already said in one line,
    Ctrl-C and SIGTERM are ignored while Python tears down: a further one (a pool's finalizers) would end the
    process by the signal, with no status of ours."""
    import signal

    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGHUP):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
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
