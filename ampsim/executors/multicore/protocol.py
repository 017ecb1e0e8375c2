"""What the processes of the multicore executor say to each other.

Every frame on a channel is a list (a batch) of tuples.

Controller → worker (commands, applied in order):

* ``(INST, key, data)`` — register instance ``key``'s immutable data; later messages carry only the key.
* ``(MSG, node, backward, port, key, state, payload)`` — inject a message (same layout as a peer envelope
  with the opcode in front).
* ``(DONE, keys)`` — these instances have completed everywhere: queue an update job for every owned
  parameterized node that stashed gradients of them (muf rule), then forget their data.
* ``(SYNC, tag, with_params)`` — once every job queued before it has run, answer with a ``STATE`` frame.
* ``(STOP,)`` — exit.

Worker → controller:

* ``(DELTA, deltas, reports)`` — ``deltas[key]`` is (messages created − messages processed) for instance
  ``key`` since the last DELTA; ``reports`` are ``(node, key, state, values)`` tuples of loss reports.
  A worker writes the DELTA that covers a message's creation *before* it writes that message to a peer,
  which is what lets the controller detect completion exactly (see :mod:`.controller`).
* ``(STATE, tag, dict)`` — the answer to SYNC: clock, statistics, and parameters if asked for.
* ``(ERROR, text, traceback)`` — the worker failed and is exiting.

Worker → worker (data): a list of envelopes ``(node, backward, port, key, state, payload)``. Node ids are
indexes into the graph's node list; an envelope carries the instance *key*, never the instance's data.
"""

from __future__ import annotations

# controller -> worker
INST, MSG, DONE, SYNC, STOP = range(5)
# worker -> controller
DELTA, STATE, ERROR = range(3)
# kinds of work items in a worker's queue
FWD, BWD, UPDATE, SYNC_JOB = range(4)
#: value of a worker's "current node" slot while it waits for work
IDLE = -1


def encode_current(node: int, kind: int) -> int:
    """The shared-memory code of "worker runs ``kind`` (FWD/BWD/UPDATE) of ``node``"."""
    return node * 4 + kind


def describe_current(code: int, names: list[str]) -> str:
    """Human-readable form of a current-node code, for error messages."""
    if code < 0 or code // 4 >= len(names):
        return "while idle"
    kind = ("forward", "backward", "update", "sync")[code % 4]
    return f"while running node {names[code // 4]} ({kind})"
