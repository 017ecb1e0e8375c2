"""Packet-switched links: messages that share a link's bandwidth instead of queueing whole.

Opt-in per hardware model with ``link.packet_bytes`` > 0 (absent or 0: whole messages, see
:mod:`ampsim.executors.sim.network`). A message crosses each hop as packets that interleave with the
packets of every other message on that link, round robin, in the fluid limit: while ``n`` messages are
on a link direction, each moves at ``bandwidth / n``. A small message is therefore never stuck behind a
large one, and two messages that share a link finish together. Life cycle of one message on a k-hop
route (``p = min(packet_bytes, nbytes)``)::

    hop i: head arrives ──► joins the link's active set (its share: bandwidth / n)
             │  first packet across: p·n / bandwidth_i, then latency_i
             ├──────────────────────────────────────────► hop i+1: head arrives (cut-through per packet)
             ▼
           its bytes served ──► tail leaves hop i at
                                tail_i = max(served_i, tail_{i-1} + latency_{i-1} + p / bandwidth_i)
    last hop: delivered at tail_{k-1} + latency_{k-1}

The tail rule says a hop cannot pass on the last packet before it has arrived and crossed. Uncontended
over equal links this gives ``Σ latency + nbytes / bandwidth + (k − 1)·p / bandwidth``; with unequal
links the slowest sets the pace. Events are per message and hop (a head arrival, a completion), never
per packet: a link reschedules its next completion when a message joins or leaves (superseded
completions are dropped by a generation count), so an uncontended message costs what a whole message
does.

Contract: the order of events is deterministic (insertion-ordered active sets, SimPy's event order), so
runs repeat bit for bit; a link's busy time is the time it had at least one message on it.
"""

from __future__ import annotations

from typing import Callable

import simpy

__all__ = ["SharedLink", "PacketRoute", "RESIDUE_BYTES"]

#: bytes left below which a message counts as served (float residue of the fluid shares)
RESIDUE_BYTES = 1e-6


class SharedLink:
    """One direction of a link as a processor-sharing server of messages (fluid round-robin packets)."""

    __slots__ = ("env", "bandwidth_bytes_per_s", "left", "done", "t", "gen", "due", "busy_s")

    def __init__(self, env: simpy.Environment, bandwidth_bytes_per_s: float) -> None:
        self.env, self.bandwidth_bytes_per_s = env, bandwidth_bytes_per_s
        self.left: dict[int, float] = {}  # message id -> bytes still to cross, in arrival order
        self.done: dict[int, Callable[[], None]] = {}
        self.t = 0.0  # when ``left`` was last brought up to date
        self.gen = 0
        self.due = 0.0  # the fewest bytes left when the pending completion was scheduled
        self.busy_s = 0.0

    @property
    def active(self) -> int:
        """Messages on the link now (each moving at ``bandwidth_bytes_per_s / active``)."""
        return len(self.left)

    def join(self, mid: int, nbytes: float, on_served: Callable[[], None]) -> None:
        """Message ``mid`` starts crossing with ``nbytes``; ``on_served()`` when its last byte has."""
        self._advance()
        self.left[mid] = float(nbytes)
        self.done[mid] = on_served
        self._schedule()

    def _advance(self) -> None:
        now = self.env.now
        if self.left and now > self.t:
            served = (now - self.t) * self.bandwidth_bytes_per_s / len(self.left)
            for mid in self.left:
                self.left[mid] -= served
            self.busy_s += now - self.t
        self.t = now

    def _schedule(self) -> None:
        self.gen += 1
        if not self.left:
            return
        gen = self.gen
        self.due = max(min(self.left.values()), 0.0)
        delay = self.due * len(self.left) / self.bandwidth_bytes_per_s
        self.env.timeout(delay).callbacks.append(lambda _e: self._complete(gen))

    def _complete(self, gen: int) -> None:
        if gen != self.gen:  # a message joined or left since: this completion was rescheduled
            return
        # served: the messages that had the fewest bytes left when this completion was scheduled (nothing
        # has joined or left since). Judged before the fluid update, not by what is left after it: late in a
        # run a residue of a few bytes can take less than the float resolution of the clock to cross, so a
        # completion rescheduled for it would come up at the same time, again and again
        due = self.due + RESIDUE_BYTES
        served = [mid for mid, left in self.left.items() if left <= due]
        self._advance()
        callbacks = []
        for mid in served:
            del self.left[mid]
            callbacks.append(self.done.pop(mid))
        self._schedule()
        for cb in callbacks:
            cb()


class PacketRoute:
    """One message on its way through ``path``: heads forwarded per packet, tails by the tail rule."""

    __slots__ = ("network", "mid", "path", "nbytes", "packet", "served", "tail", "deliver")

    def __init__(self, network, mid: int, path: list[tuple[tuple, float, float, int]], nbytes: float,
                 packet_bytes: float, deliver: Callable[[], None]) -> None:
        self.network, self.mid, self.path, self.nbytes = network, mid, path, nbytes
        self.packet = min(packet_bytes, nbytes) if nbytes > 0 else 0.0
        self.served: list[float | None] = [None] * len(path)
        self.tail: list[float | None] = [None] * len(path)
        self.deliver = deliver

    def enter(self, i: int) -> None:
        """The head reaches hop ``i`` now."""
        link, latency, bandwidth, _ = self.path[i]
        shared = self.network.shared(link, bandwidth)
        env = self.network.env
        start = env.now
        shared.join(self.mid, self.nbytes, lambda: self._served(i, start))
        if i + 1 < len(self.path):
            head = self.packet * shared.active / bandwidth + latency
            env.timeout(head).callbacks.append(lambda _e: self.enter(i + 1))

    def _served(self, i: int, start: float) -> None:
        now = self.network.env.now
        self.served[i] = now
        self.network.account(self.path[i], start, now - start, self.nbytes)
        self._settle(i)

    def _settle(self, i: int) -> None:
        """Fix hop ``i``'s tail once its own service and the previous hop's tail are known."""
        while i < len(self.path) and self.tail[i] is None and self.served[i] is not None:
            if i == 0:
                self.tail[0] = self.served[0]
            elif self.tail[i - 1] is None:
                return
            else:
                prev_latency = self.path[i - 1][1]
                self.tail[i] = max(self.served[i], self.tail[i - 1] + prev_latency + self.packet / self.path[i][2])
            if i + 1 == len(self.path):
                env = self.network.env
                arrive = self.tail[i] + self.path[i][1]
                env.timeout(arrive - env.now).callbacks.append(lambda _e: self.deliver())
            i += 1
