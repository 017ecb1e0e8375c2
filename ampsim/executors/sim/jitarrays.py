"""The arrays the compiled replay loop (:mod:`~ampsim.executors.sim.jitkernel`) reads: a recording's, once per
recording and process (beside the Python loop's lists, in its replay view), and a placement's, once per
executor and placement; and which chips a call changed, so that only theirs are written back to the chip
objects (a 16,384-chip machine's write-back visited every chip on every call); and, on a machine whose
chips pay for waking up (``wake_overhead_s``), the idle units' rings in and out of the kernel's arrays, in one
numpy pass each rather than one per chip (on 1,024 idle chips the per-chip passes cost a call about 6 ms
against 0.6, beside a 77,824-message replay's 20: 2026-12-06, a busy host)."""

from __future__ import annotations

from collections import deque
from itertools import chain

import numpy as np

from ampsim.executors.sim.fastprep import Placed
from ampsim.executors.sim.recording import Recording

__all__ = ["floats", "idle_rings", "idle_rings_back", "ints", "of_placement", "of_recording", "touched_chips"]


def ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def floats(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def of_recording(rec: Recording, fast: dict) -> dict:
    """The per-recording arrays (cached in the recording's replay view, as the Python loop's lists ``fast``)."""
    view = rec.replay_view
    got = view.get("jit")
    if got is not None:
        return got
    n_kids = np.diff(rec.child_ptr)
    join = ints(fast["join"])
    stale = np.asarray(fast["stale"], dtype=np.bool_)
    got = view["jit"] = {
        "join": join, "stale": stale, "kid": ints(fast["kid"]),
        "child_ptr": rec.child_ptr.astype(np.int64), "children": rec.children.astype(np.int64),
        "group": rec.group.astype(np.int64), "nbytes": rec.nbytes.astype(np.int64),
        "wire": rec.wire.astype(np.int64),
        "inst_of": ints(view["inst_of"]), "node": rec.node.astype(np.int64),
        "dh0": ints(fast["dh0"]), "dh1": ints(fast["dh1"]),
        "saves": rec.saves.astype(np.bool_), "pop_ref": rec.pop_ref.astype(np.int64),
        "root_ptr": rec.root_ptr.astype(np.int64), "roots": rec.roots.astype(np.int64),
        "stash_ptr": rec.stash_ptr.astype(np.int64), "stash_node": rec.stash_node.astype(np.int64),
        "ukind": ints(fast["ukind"]),
        # what one event may push at most (a message's children, each two events on packet links; a
        # completion's update jobs; an admission's roots), where no step takes no time (JitReplay.loop)
        "margin": 8 + 2 * int(max(n_kids.max(initial=0), np.diff(rec.stash_ptr).max(initial=0),
                              np.diff(rec.root_ptr).max(initial=0))),
        "n_stale": int(np.count_nonzero(stale)),
        "stash_nodes": np.unique(rec.stash_node).astype(np.int64),  # the nodes that update (placement: their chips)
        # the most messages one event may make join a link (a step's children; a head's next hop: 1)
        "sends": max(1, int(n_kids.max(initial=0))),
    }
    return got


def of_placement(placed: Placed, R: dict, chip_of_node: list[int]) -> dict:
    """The per-placement arrays (``R``: the recording's, :func:`of_recording`): the messages' step durations and
    routes, the routes' hops, the stashes' and nodes' chips."""
    hops, join = placed.hops_of, R["join"]
    chip_of_node = ints(chip_of_node)
    return {
        # (the kernel's short names: d0 = buffered_s, d1 = run_s, d1t = run_send_s, t = send_s, occ = occupancy_s)
        "d0": placed.buffered_s, "d1": placed.run_s, "d1t": placed.run_send_s, "t": placed.send_s,
        "route_id": placed.route_id,
        "occ": placed.occupancy_s if placed.occupancy_s is not None else np.zeros(0),
        "rptr": hops.ptr, "h_lid": hops.lid, "h_lat": hops.latency_s, "h_bw": hops.bandwidth_bytes_per_s,
        "h_add": hops.add, "h_then": hops.then, "h_x": hops.x,
        "stash_chip": placed.stash_chip, "chip_of_node": chip_of_node,
        "param_chips": np.unique(chip_of_node[R["stash_nodes"]]),  # (the chips of the nodes, not of every stash)
        # a step that takes no time lets a unit serve on within one event, which the kernel's event stores
        # are not sized for (JitReplay._run_compiled runs the Python loop then)
        "instant": bool((placed.run_send_s <= 0).any()
                        or (placed.buffered_s[join[:len(placed.buffered_s)] >= 0] <= 0).any()),
    }


def touched_chips(ch: tuple, before: tuple, per_chip: list[int], done: bool) -> list[int]:
    """The chips whose counters a call may have changed, from the kernel's chip arrays ``ch`` and
    ``before`` = (memory in use, peak, busy seconds, chips with a queue) at its start: those whose memory in
    use, peak or busy time moved, that collected a debt or ran update jobs, had a queue at its start or end,
    or (a completed call, ``done``) have messages of their own. A chip none of these is true of would be
    written back as it is."""
    used0, peak0, busy0, queued0 = before
    touched = (ch[10] != used0) | (ch[15] != peak0) | (ch[16] != busy0) | (ch[17] != 0) | (ch[18] != 0) | (ch[1] >= 0)
    touched[queued0] = True
    if done:
        touched |= np.asarray(per_chip) > 0
    return np.flatnonzero(touched).tolist()


def idle_rings(idle_at: list[deque], units: int) -> tuple[np.ndarray, np.ndarray]:
    """Since when each chip's idle units have been idle (``idle_at[c]``, oldest first) as the kernel's rings:
    a row of ``units`` per chip starting at column 0, and how many each holds.

    >>> buf, n = idle_rings([deque([0.5]), deque(), deque([1.0, 2.0])], 2)
    >>> buf.tolist(), n.tolist()
    ([[0.5, 0.0], [0.0, 0.0], [1.0, 2.0]], [1, 0, 2])
    """
    n = np.fromiter(map(len, idle_at), dtype=np.int64, count=len(idle_at))
    buf = np.zeros((len(idle_at), units))
    if n.any():
        rows = np.repeat(np.arange(len(idle_at)), n)
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)  # each value's place in its row
        buf[rows, cols] = list(chain.from_iterable(idle_at))
    return buf, n


def idle_rings_back(idle_at: list[deque], buf: np.ndarray, head: np.ndarray, n: np.ndarray) -> None:
    """The kernel's rings (row ``c`` holds ``n[c]`` values from column ``head[c]`` on, wrapping) back into
    ``idle_at``, oldest first.

    >>> idle_at = [deque([9.0]), deque()]
    >>> idle_rings_back(idle_at, np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1, 0]), np.array([2, 1]))
    >>> idle_at
    [deque([2.0, 1.0]), deque([3.0])]
    """
    for q in idle_at:
        q.clear()
    chips = np.flatnonzero(n)
    if not len(chips):
        return
    width = buf.shape[1]
    cols = (head[chips, None] + np.arange(width)) % width
    for c, row, k in zip(chips.tolist(), buf[chips[:, None], cols].tolist(), n[chips].tolist()):
        idle_at[c].extend(row[:k])
