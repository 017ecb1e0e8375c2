"""Replica synchronization in simulated time: gates, and all-reduces over the real network.

What the numerics are is :mod:`ampsim.ir.sync`'s; this module decides when they happen and what they
cost. Life cycle of one round of a sync set (the k copies of one parameterized node)::

    an instance completes and the muf rule schedules the last update round r waits for
      └─► round r *closes*: every copy is gated (its later messages and update jobs wait in a side list;
          update jobs scheduled up to now still run), unless ``replicas.overlap``: then copies train on
          and each applies the result when it arrives (local updates made meanwhile are kept)
    each copy's contributing update job runs ──► snapshot (its cost is added to the update's)
    the last snapshot is taken (and round r-1 applied everywhere) ──► the all-reduce starts
      (``replicas.collective``, :func:`schedule`): ring: 2 (k - 1) steps; in each, copy i sends bytes / k
      to copy i + 1 (copy order) over the network; in the first k - 1 (reduce-scatter) the receiving chip
      then adds the chunk: a job on its FIFO queue, behind its training work (flops = elements / k,
      bytes = 3 bytes / k, one kernel). halving_doubling: 2 log2 k steps with partners i XOR 2^j, chunks
      of 1/2 … 1/k of the bytes, then 1/k … 1/2; the receiver adds in the first half
    a copy has received its last chunk ──► an *apply* job on its chip (p ← avg + (p − snapshot))
      └─► the copy's gate opens: what waited is queued again, in arrival order

``replicas.collective = "host"`` is the multicore executor's way instead, for a measured machine's model (its
``[host]`` table: :class:`~ampsim.hardware.spec.HostSpec`): no all-reduce between chips, but a star through
the controller, one process that does one thing at a time::

    a copy's contributing update job ends ──► the controller takes its snapshot in: c · P seconds of its CPU
    the round is ready ──► the controller averages and sends the average to every copy: c · k · P seconds
      (FIFO behind what it took in before; c = ``host.controller_s_per_sync_byte``, P the copy's bytes)
    the average is out ──► an *apply* job on every copy's chip, which also pays the chip's
      ``remote_send_s_per_byte`` · P (its half of sending the snapshot and receiving the average)

With ``replicas.sparse_sync`` a snapshot's P is its changed rows and their ids
(:meth:`~ampsim.ir.sync.SyncSet.snapshot_nbytes`) and the average's the union of the rows, as on a ring.

The controller's sync work is a FIFO at its full speed (its per-instance work and the time-sharing of cores
do not delay it, though its CPU joins the controller's and competes for the cores: a first-order model,
checked against 1 to 16 workers in the README). Nothing crosses the links.

On an idle ring of k chips with one hop between neighbours (latency L, bandwidth B) a round of a P-byte
node therefore takes ``2 (k - 1) (L + P / (k B)) + (k - 1) t_add + t_apply`` from its last snapshot; with
halving_doubling on an idle hypercube whose partners are one hop apart, ``2 log2(k) L + 2 P (k - 1) / (k B)
+ Σ t_add + t_apply`` (``tests/sim/test_replica_timelines.py``, both exact). Copies on one chip exchange
nothing over the network. The algorithm decides only when the average arrives, never what it is.

A replay (``executor.numerics = false``) never trains the copies, so there is nothing to average:
:meth:`Collectives.sizes_only` turns its sync sets into size-only ones (:mod:`ampsim.ir.sized_sync`), whose
rounds keep the same bookkeeping, work and memory from the arrays' sizes without copying or adding them
(``replica_drift`` is then not measured: None). A sparse set (``replicas.sparse_sync``, a table's copies) stays a
:class:`~ampsim.ir.sync.SyncSet`: what its rounds move, add and hold depends on which rows the copies
changed (the replay hands it the recorded ones), so it runs :mod:`ampsim.ir.sync`'s rules themselves on the
untrained arrays (a snapshot is only the changed rows, so that costs little).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Callable

from ampsim.ir.node import Work
from ampsim.ir.sized_sync import sizes_only
from ampsim.ir.sync import Reduced, SyncSet, rounds_and_drift
from ampsim.trace import SYNC, UPDATE, sync_label

if TYPE_CHECKING:
    from ampsim.executors.sim.chips import Chip

__all__ = ["Collectives", "schedule"]


class Collectives:
    """The sync sets of a simulated run: gates on copies and the all-reduces between them.

    ``where`` maps node names to chips; ``send(src, dst, nbytes, deliver)`` is the network's; ``trace``
    is a span recorder or None."""

    def __init__(self, sync_sets: list[SyncSet], where: dict, env, send: Callable, trace=None, *,
                 collective: str = "ring", host: Callable[[float], None] | None = None,
                 host_s_per_byte: float = 0.0) -> None:
        self.env, self.where, self.send, self.trace = env, where, send, trace
        if collective == "host":
            if host is None:
                raise ValueError("collective 'host' needs a host (a measured machine's [host] table)")
        else:
            schedule(collective, 2)  # an unknown algorithm fails here, not at the first round
        #: the all-reduce algorithm (:func:`schedule`), or "host" (the star through the controller)
        self.collective = collective
        #: host: the controller's CPU for ``seconds`` more (the cores it shares), and its CPU per byte
        self._host_cpu, self._host_s_per_byte = host, host_s_per_byte
        self._host_free_s = 0.0  # when the controller has done the synchronization work given to it so far
        #: host: copy name -> its snapshots given to the controller. A round goes out once every copy has given
        #: its own: counted per set, a copy's snapshot of the next round stood in for a late copy's of this one
        self._arrived: dict[str, int] = {}
        #: host: copy name -> the bytes of its snapshots taken and not yet sent, oldest first (a chip with
        #: several units may run two contributing updates of one copy at once)
        self._sizes: dict[str, deque[float]] = {}
        self.of = {c.name: s for s in sync_sets for c in s.copies}
        self.sync_sets = sync_sets
        #: copy name -> completion serials of the closed rounds not yet applied to it (oldest first); empty
        #: while no copy is gated (the replay's own loop reads that before asking :meth:`park`)
        self.gates: dict[str, deque[int]] = {}
        self._parked: dict[str, list[tuple["Chip", tuple, int]]] = {}
        self._start: dict[tuple[str, int], list] = {}  # (set, round) -> [start time, copies to apply]
        self.bytes = 0.0
        self.messages = 0
        self.time_s = 0.0
        #: False when the copies' parameters never train (a replay): the drift is then not measured (None)
        self.measures_drift = True

    def rehost(self, env, where: dict, send: Callable) -> None:
        """Run on another event loop from now on (the replay's own: :mod:`~ampsim.executors.sim.fastsync`):
        its ``env`` (``now``, ``event()``, ``timeout()``, ``process()`` with SimPy's semantics), its chips by
        node name (``index``, ``spec``, ``queued_bytes``, ``put``, ``account``) and its network's ``send``."""
        self.env, self.where, self.send = env, where, send

    def sizes_only(self) -> None:
        """For a replay: rounds from the arrays' sizes alone (:mod:`ampsim.ir.sized_sync`), drift not
        measured; a sparse set keeps its own rounds (they depend on the rows the copies changed, not only on
        sizes)."""
        for s in self.sync_sets:
            sizes_only(s)
        self.measures_drift = False

    # -- gates ---------------------------------------------------------------------------------------
    def closed(self, node, serial: int) -> None:
        """An instance completion with ``serial`` scheduled an update of ``node``: gate its set's copies
        if that closes a round."""
        s = self.of.get(node.name)
        if s is not None and s.close(node) is not None and not s.overlap:
            for c in s.copies:
                self.gates.setdefault(c.name, deque()).append(serial)

    def park(self, chip: "Chip", item: tuple, nbytes: int) -> bool:
        """True (and the item set aside) if ``item`` must wait for its node's gate: a message, or an
        update job scheduled after the round closed (``item[3]``: its completion serial)."""
        gate = self.gates.get(item[1].name)
        if not gate or item[0] == SYNC or (item[0] == UPDATE and item[3] <= gate[0]):
            return False
        chip.queued_bytes += nbytes  # still held while it waits
        self._parked.setdefault(item[1].name, []).append((chip, item, nbytes))
        return True

    def parked_nbytes(self, index: int) -> int:
        """The bytes of the items set aside on chip ``index`` (still held there)."""
        return sum(n for items in self._parked.values() for chip, _, n in items if chip.index == index)

    def _open(self, name: str) -> None:
        gate = self.gates.get(name)
        if gate is None:  # replicas.overlap: nothing waited
            return
        gate.popleft()
        if not gate:
            del self.gates[name]
        waiting, self._parked[name] = self._parked.get(name, []), []
        for chip, item, nbytes in waiting:
            chip.queued_bytes -= nbytes
            if not self.park(chip, item, nbytes):
                chip.put(item, nbytes)

    # -- rounds --------------------------------------------------------------------------------------
    def contributed(self, node) -> Work | None:
        """``node`` applied an update: its snapshot's work if it contributed, else None."""
        s = self.of.get(node.name)
        work = None if s is None else s.contribute(node)
        if work is not None and self.collective == "host":
            self._sizes.setdefault(node.name, deque()).append(s.snapshot_nbytes(node))
        return work

    def snapshot_taken(self, node) -> None:
        """``node``'s contributing update job ended: through the host its snapshot goes to the controller;
        then every round of its set that is ready starts."""
        s = self.of.get(node.name)
        if s is not None and self.collective == "host":
            nbytes = self._sizes[node.name].popleft()
            self.bytes += nbytes
            self._on_host(self._host_s_per_byte * nbytes)
            self._arrived[node.name] = self._arrived.get(node.name, 0) + 1
        self.start_ready(node)

    def start_ready(self, node) -> None:
        """Start the all-reduce of every round of ``node``'s set that is ready (through the host: whose
        snapshots the controller has been given by every copy; copies whose update jobs end together took theirs
        before the first of those jobs' ends is handled)."""
        s = self.of.get(node.name)
        while s is not None and (r := s.ready()) is not None and (
                self.collective != "host" or all(self._arrived.get(c.name, 0) > r for c in s.copies)):
            red = s.reduce()
            self._start[(s.name, red.round)] = [self.env.now, len(s.copies)]
            if self.collective == "host":
                self._via_host(s, red)
            else:
                self._all_reduce(s, red)

    def _on_host(self, seconds: float):
        """The controller does ``seconds`` of synchronization work after what it was given before: the
        event of its end (its CPU also competes for the cores)."""
        self._host_free_s = max(self._host_free_s, self.env.now) + seconds
        self._host_cpu(seconds)
        return self.env.timeout(self._host_free_s - self.env.now)

    def _via_host(self, s: SyncSet, red: Reduced) -> None:
        nbytes = _round_bytes(s, red)
        k = len(s.copies)
        self.bytes += k * nbytes
        out = self._on_host(self._host_s_per_byte * k * nbytes)

        def deliver(_) -> None:
            for c in s.copies:
                self.where[c.name].put((SYNC, c, sync_label(s.name, "sync"), (red, _nothing)), 0)
        out.callbacks.append(deliver)

    def _all_reduce(self, s: SyncSet, red: Reduced) -> None:
        k, copies = len(s.copies), s.copies
        chips = [self.where[c.name] for c in copies]
        nbytes = _round_bytes(s, red)
        elements = sum(a.size for a in red.average.values())
        steps = schedule(self.collective, k)
        got = [[self.env.event() for _ in range(k)] for _ in range(len(steps))]

        def arrive(step: int, i: int) -> None:
            _, (num, den), add = steps[step]
            if add:  # reduce-scatter: add the chunk, on the receiving chip's queue
                work = Work(flops=elements * num / den, bytes=3 * (nbytes * num / den), kernels=1)
                chips[i].put((SYNC, copies[i], sync_label(s.name, "add"), (work, got[step][i].succeed)), 0)
            else:
                got[step][i].succeed()

        def member(i: int):
            for step, (to, (num, den), _) in enumerate(steps):
                if step:
                    yield got[step - 1][i]
                nxt = to(i)
                if chips[i] is chips[nxt]:
                    arrive(step, nxt)
                else:
                    chunk = nbytes * num / den
                    self.bytes += chunk
                    self.messages += 1
                    self.send(chips[i].index, chips[nxt].index, chunk, lambda st=step, j=nxt: arrive(st, j))
            yield got[-1][i]
            done = self.env.event()
            chips[i].put((SYNC, copies[i], sync_label(s.name, "sync"), (red, done.succeed)), 0)
            yield done

        for i in range(k):
            self.env.process(member(i))

    def run(self, chip: "Chip", item: tuple) -> tuple[Work, Callable[[], None], float]:
        """A SYNC job on ``chip``: (its work, what to do when it ends, seconds it costs beyond its work).
        Applying a round opens the gate."""
        _, node, label, (what, done) = item
        if isinstance(what, Work):
            return what, done, 0.0
        s = self.of[node.name]
        held = node.held_nbytes
        work = s.apply(node, what)
        chip.account(node.held_nbytes - held)
        # through the host the chip sent its snapshot and receives the average (a transport's per-byte cost)
        extra = chip.spec.remote_send_s_per_byte * _round_bytes(s, what) if self.collective == "host" else 0.0

        def after() -> None:
            done()
            self._open(node.name)
            started = self._start[(s.name, what.round)]
            started[1] -= 1
            if not started[1]:  # the last copy has the result: the round is over
                del self._start[(s.name, what.round)]
                self.time_s += self.env.now - started[0]
                self.start_ready(node)
        return work, after, extra

    def summary(self) -> dict:
        rounds, drift = rounds_and_drift(self.sync_sets)
        return {
            "sync_rounds": rounds,
            "sync_bytes": self.bytes,
            "sync_time_s": self.time_s,
            "replica_drift": drift if self.measures_drift else None,
        }


def _round_bytes(s: SyncSet, red: Reduced) -> float:
    """The bytes a round moves per copy: the parameters', or a sparse round's own (changed rows and ids)."""
    return s.param_bytes if red.nbytes is None else red.nbytes


def _nothing() -> None:
    """An apply job's end when nothing waits for it (through the host)."""


#: one step of an all-reduce, as every copy runs it: (copy index -> the copy it sends to, the fraction of
#: the parameters' bytes it sends as (numerator, denominator), whether the receiver adds what it got)
Step = tuple[Callable[[int], int], tuple[int, int], bool]


def schedule(collective: str, k: int) -> list[Step]:
    """The steps of an all-reduce among ``k`` copies: every copy sends one chunk and receives one per
    step, and starts a step once it has received (and added) the previous step's chunk.

    * ``"ring"``: 2 (k − 1) steps; copy i sends 1/k of the bytes to copy (i + 1) mod k; the receiver adds
      in the first k − 1 (reduce-scatter), keeps in the rest (all-gather).
    * ``"halving_doubling"`` (recursive halving, then recursive doubling: Rabenseifner's algorithm;
      k = 2^m): m steps in which copy i sends the half of what it still reduces, 1/2, 1/4, …, 1/k of the
      bytes, to copy i XOR k/2, i XOR k/4, …, i XOR 1, and adds what it receives; then m steps in which it
      sends everything it holds reduced, 1/k, 2/k, …, 1/2, to copy i XOR 1, i XOR 2, …, i XOR k/2. The same
      2 (k − 1)/k of the bytes leave every copy as in the ring, in 2 m steps instead of 2 (k − 1), and on
      a hypercube whose copies sit 2^j chips apart every partner is one hop away.

    >>> [(to(0), frac, add) for to, frac, add in schedule("halving_doubling", 4)]
    [(2, (1, 2), True), (1, (1, 4), True), (1, (1, 4), False), (2, (2, 4), False)]
    >>> len(schedule("ring", 4)), schedule("ring", 4)[0][0](3)
    (6, 0)
    """
    if collective == "ring":
        return [((lambda i: (i + 1) % k), (1, k), step < k - 1) for step in range(2 * (k - 1))]
    if collective == "halving_doubling":
        if k & (k - 1):
            raise ValueError(f"halving_doubling all-reduce needs a power-of-two number of copies, got {k}")
        m = k.bit_length() - 1
        halving = [((lambda i, d=k >> (j + 1): i ^ d), (1, 2 << j), True) for j in range(m)]
        doubling = [((lambda i, d=1 << j: i ^ d), (1 << j, k), False) for j in range(m)]
        return halving + doubling
    raise ValueError(f"unknown collective {collective!r} (ring, halving_doubling)")
