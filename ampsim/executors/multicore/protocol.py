"""What the processes of the multicore executor say to each other.

Every frame on a channel is a list (a batch) of tuples.

Controller → worker (commands, applied in order):

* ``(INST, key, data)`` — register instance ``key``'s immutable data; later messages carry only the key.
* ``(MSG, node, backward, port, key, state, weight, payload)`` — inject a message (same layout as a peer
  envelope with the opcode in front); a ``payload`` that is a string names the field of the instance's
  data that is the payload (an image batch then crosses once, in the INST every worker gets).
* ``(DONE, keys)`` — these instances have completed everywhere: queue an update job for every owned
  parameterized node that stashed gradients of them (muf rule), then forget their data.
* ``(SYNC, tag, with_params)`` — once every job queued before it has run, answer with a ``STATE`` frame.
* ``(GATE, nodes)`` — replicas: a synchronization round of these copies closed at the completion whose
  DONE came just before; hold their later messages and update jobs until the round is applied.
* ``(APPLY, set, round, average, rows)`` — replicas: queue a job per copy of sync set ``set`` owned here
  that applies the round's average to it and opens its gate (:mod:`.replicas`); ``rows``: with
  ``replicas.sparse_sync``, the row ids a row parameter's average holds (else empty).
* ``(STOP,)`` — exit.

Worker → controller:

* ``(RETURN, weights, reports, notes, sent_s)`` — ``weights[key] = (num, scale)``: the weight ``num / 2**scale``
  of instance ``key``'s messages that ended at this worker since the last RETURN (see "weights" below);
  ``reports`` are ``(node, key, state, values)`` tuples of loss reports; ``notes`` are ``(key, node)``:
  replicas, this synchronized copy stashed gradients of instance ``key`` (it will update at completion);
  ``sent_s``: the worker's ``time.perf_counter()`` when it queued the frame (the machine's monotonic clock,
  shared by all processes: the controller measures how long a completing RETURN took to reach it).
* ``(SNAP, set, round, copy, params, rows)`` — replicas: copy ``copy`` of sync set ``set`` contributes
  these parameters to ``round`` (sent once the copy has applied every earlier round); ``rows``: with
  ``replicas.sparse_sync``, the ids of the rows it holds of each row parameter, those it changed (else empty).
* ``(STATE, tag, dict)`` — the answer to SYNC: clock, statistics, and parameters if asked for.
* ``(ERROR, text, traceback, diverged)`` — the worker failed and is exiting; ``diverged``: its error was a
  :class:`~ampsim.errors.Diverged` (the controller raises the same class: a sweep records such a point).

Worker → worker (data): envelopes ``(node, backward, port, key, state, weight, payload)`` packed by
:func:`.transport.pack_envelopes`. Node ids are indexes into the graph's node list; an envelope carries
the instance *key*, never the instance's data.

Weights (completion detection by *weight throwing*, Mattern 1989): an admitted instance has weight 1,
split among its first messages. A message that causes s > 1 sends splits its weight among them, one that
causes none returns its weight to the controller. Every weight is a power of two, ``2**-e``, carried as
the integer ``e``, and every split is exact (:func:`split`), so the instance has completed exactly when
the returned weights sum to 1: no message of it is left anywhere, whatever the order in which returns
arrive. Returns can therefore be batched and sent late, independently of the data messages.

Notes ride on weights: a message after which a synchronized copy holds stashes of its instance for the
first time returns a piece of its weight (one part more in the split) together with the note, in the same
RETURN (or the same peer frame that carries returns on, see :meth:`.worker.Worker._flush`). The instance
cannot complete before that piece is back, so at completion the controller knows every copy that will
update for it, exactly.
"""

from __future__ import annotations

import functools

from ampsim.errors import Diverged, RunError
from ampsim.trace import BWD, FWD, UPDATE  # noqa: F401 - the workers read them as P.FWD ...; re-exported
from ampsim.trace import SYNC as SYNC_JOB

__all__ = ["APPLY", "APPLY_JOB", "BETWEEN", "BWD", "DONE", "ERROR", "FWD", "GATE", "IDLE", "INST", "MSG", "RETURN",
           "SNAP", "STATE", "STOP", "SYNC", "SYNC_JOB", "UPDATE", "Weight", "describe_current", "encode_current",
           "split", "totals", "worker_error"]

# controller -> worker
INST, MSG, DONE, SYNC, STOP, GATE, APPLY = range(7)
# worker -> controller
RETURN, STATE, ERROR, SNAP = range(4)
# kinds of work items in a worker's queue: the executors' FWD, BWD, UPDATE and SYNC (here SYNC_JOB: a SYNC
# command's turn in the queue), and a replica round's apply
APPLY_JOB = SYNC_JOB + 1
#: a current-node code is ``node * CURRENT_KINDS + kind``, of the kinds up to SYNC_JOB (an APPLY_JOB shows as one)
CURRENT_KINDS = SYNC_JOB + 1
#: value of a worker's "current node" slot while it waits for work
IDLE = -1
#: ... and between node steps and jobs, with work queued (reading, handing output on): no node runs, so a
#: worker killed (or stuck) then is not reported in the step it finished
BETWEEN = -2


def worker_error(item: tuple) -> RunError:
    """The error to raise for a worker's ``ERROR`` item: of its class (a divergence stays one)."""
    return (Diverged if item[3] else RunError)(item[1])


def encode_current(node: int, kind: int) -> int:
    """The shared-memory code of "worker runs ``kind`` of ``node``" (a replica round's apply codes as a sync).

    >>> describe_current(encode_current(1, APPLY_JOB), ["fc0", "fc1"])
    'while running node fc1 (sync)'
    """
    return node * CURRENT_KINDS + (SYNC_JOB if kind == APPLY_JOB else kind)


def describe_current(code: int, names: list[str]) -> str:
    """Human-readable form of a current-node code, for error messages.

    >>> describe_current(encode_current(0, BWD), ["fc0"]), describe_current(BETWEEN, ["fc0"])
    ('while running node fc0 (backward)', 'between node steps')
    """
    if code == BETWEEN:
        return "between node steps"
    node, kind = divmod(code, CURRENT_KINDS)
    if code < 0 or node >= len(names):
        return "while idle"
    return f"while running node {names[node]} ({('forward', 'backward', 'update', 'sync')[kind]})"


@functools.lru_cache(maxsize=8192)
def split(e: int, s: int) -> tuple[int, ...]:
    """Exponents of ``s`` powers of two that sum to ``2**-e`` (each at most ceil(log2 s) deeper)."""
    if s == 1:
        return (e,)
    k = (s - 1).bit_length()  # ceil(log2 s)
    m = (1 << k) - s  # this many parts get the larger weight 2**-(e+k-1)
    return (e + k - 1,) * m + (e + k,) * (s - m)


class Weight:
    """An exact sum of powers of two, ``num / 2**scale``."""

    __slots__ = ("num", "scale")

    def __init__(self, num: int = 0, scale: int = 0) -> None:
        self.num, self.scale = num, scale

    def add(self, num: int, scale: int) -> None:
        """Add ``num / 2**scale``."""
        if scale > self.scale:
            self.num <<= scale - self.scale
            self.scale = scale
        self.num += num << (self.scale - scale)

    def add_exp(self, e: int) -> None:
        """Add ``2**-e``."""
        self.add(1, e)

    @property
    def is_one(self) -> bool:
        return self.num == 1 << self.scale


def totals(rets: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Returned weights ``(key, num, scale)`` (``num / 2**scale`` each) summed per instance, exactly.

    >>> totals([(7, 1, 1), (8, 1, 0), (7, 1, 2), (7, 1, 2)])
    [(7, 4, 2), (8, 1, 0)]
    """
    sums: dict[int, Weight] = {}
    for key, num, scale in rets:
        w = sums.get(key)
        if w is None:
            w = sums[key] = Weight()
        w.add(num, scale)
    return [(k, w.num, w.scale) for k, w in sums.items()]
