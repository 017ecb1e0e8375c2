"""The replay's own loop, compiled where numba is installed: :class:`JitReplay` hands
:class:`~ampsim.executors.sim.faststate.FastMachine`'s state to :func:`~ampsim.executors.sim.jitkernel.run`
as numpy arrays, acts where the kernel stops (enlarges its event stores, passes completions to the
progress callback, costs the update jobs of nodes with muf > 1, raises the out-of-memory error) and writes
the state back, so the next call, compiled or not, carries on from it.

Life cycle per ``train``/``evaluate`` call: :meth:`JitReplay.loop` → the per-recording arrays (built once
per recording and process, beside the Python loop's lists) and per-placement arrays (once per executor) →
the kernel, as many calls as it stops → the machine state and counters back into the Python objects.

The Python loop (:class:`~ampsim.executors.sim.fastloop.FastReplay`) stays the readable specification the
kernel copies, and runs instead with ``JitReplay.compiled = False`` (``AMPSIM_COMPILED=0`` in the
environment), without numba, and for replicas that synchronize (the kernel hosts no collectives:
:mod:`~ampsim.executors.sim.fastsync`). Both are tested against the full run, on whole-message and on
packet-switched links (:mod:`~ampsim.executors.sim.jitpackets`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from operator import attrgetter
from types import ModuleType

import numpy as np

from ampsim.executors.sim.fastloop import FastReplay
from ampsim.executors.sim.fastprep import Placed
from ampsim.executors.sim.faststate import counters_are_ints
from ampsim.executors.sim.jitarrays import (
    floats,
    idle_rings,
    idle_rings_back,
    ints,
    of_placement,
    of_recording,
    touched_chips,
)
from ampsim.gcpause import gc_paused
from ampsim.ir.param import ParamNode

__all__ = ["JitReplay", "load_kernel"]

NO_REPORT = 1 << 62
log = logging.getLogger(__name__)
#: the compiled kernel's modules, imported on first use (:func:`load_kernel`): importing numba takes about
#: a second, which every process that only imports the simulator (the CLI, a sweep's parent) would pay
jk: ModuleType | None = None
js: ModuleType | None = None
jc: ModuleType | None = None


def load_kernel() -> bool:
    """Import the kernel (once); False where numba is missing (the Python loop runs)."""
    global jk, js, jc
    if jk is None:
        try:
            from ampsim.executors.sim import jitcache, jitkernel, jitstate
        except ImportError:
            log.info("numba is not installed: the replay runs its Python loop")
            return False
        jk, js, jc = jitkernel, jitstate, jitcache
    return True


class JitReplay(FastReplay):
    #: run the compiled kernel where it applies (tests switch it off to run the Python loop)
    compiled = os.environ.get("AMPSIM_COMPILED", "1") != "0"
    #: room in the event stores at the start of a call (beyond what one event may push); they grow as needed
    first_capacity = 256
    #: and room for a set-aside completion of each chip that holds parameters (its unit ran an update job and
    #: would idle: faststate): the next message to reach the chip brings it into the timed events, so on a big
    #: machine, a chip a layer, nearly all of them wait there at once, and a call that stopped to grow the
    #: stores handed its state back and over again
    set_aside_room = True
    #: room in the packet links' pool at the start of a call, beyond what one event may need (it grows)
    first_room = 64

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: wall seconds spent in the kernel and events it processed, over this executor's calls (benchmarks)
        self.kernel_wall_s = 0.0
        self.kernel_events = 0
        self._jit_placed: tuple[Placed, dict] | None = None  # the last placement's arrays
        self._specs: tuple | None = None  # the chips' fixed costs and limits (:meth:`_spec_arrays`)

    def loop(self) -> None:
        if not (self.compiled and self.sync is None  # (replicas that synchronize: the Python loop, fastsync)
                and counters_are_ints(self.ex.chips) and load_kernel()):
            super().loop()
            return
        with gc_paused():
            self._run_compiled()

    # -- the arrays --------------------------------------------------------------------------------
    def _placement_arrays(self, placed: Placed, R: dict) -> dict:
        """The per-placement arrays (once per executor and placement)."""
        got = self._jit_placed
        if got is None or got[0] is not placed:
            got = self._jit_placed = (placed, of_placement(placed, R, [c.index for c in self.chip_of]))
        return got[1]

    def _update_costs(self, fast: dict, ucost: list, muf1: np.ndarray, stash_chip: np.ndarray) -> tuple:
        """Each update kind's (duration, held-bytes change) where its node updates per stash (computed once
        per kind and placement, as the Python loop does on a kind's first job)."""
        chips, stash_node = self.ex.chips, self.stash_node
        for k, j in enumerate(fast["ukind_first"]):
            if ucost[k] is None and muf1[stash_node[j]]:
                ucost[k] = self.update_cost(chips[stash_chip[j]], j)
        return (floats([0.0 if u is None else u[0] for u in ucost]),
                ints([0 if u is None else u[1] for u in ucost]))

    def _spec_arrays(self) -> tuple:
        """The chips' memory limits and spin, wake-up and receive costs as arrays (made on the first call)."""
        if self._specs is None:
            self._specs = tuple(floats(self.chip_specs[k]) for k in ("memory", "spin", "wake", "receive"))
        return self._specs

    # -- the call ----------------------------------------------------------------------------------
    def _run_compiled(self) -> None:
        placed, fast, ucost = self._prepare()
        R = of_recording(self.rec, fast)
        P = self._placement_arrays(placed, R)
        if P["instant"]:
            FastReplay.loop(self)
            return
        n_messages = self.n_messages = len(R["nbytes"])
        chips, net = self.ex.chips, self.ex.network
        muf1 = np.array(self._per_stash_nodes(), dtype=np.bool_)
        ucost_d, ucost_b = self._update_costs(fast, ucost, muf1, placed.stash_chip)
        n_chips = len(chips)
        state = self._chip_state()
        used = ints(state["used"])
        # the chips' queues (empty between calls but for an interrupted one) as linked lists
        nxt = np.full(n_messages + len(R["stash_node"]), -1, dtype=np.int64)
        qhead, qtail = np.full(n_chips, -1, dtype=np.int64), np.full(n_chips, -1, dtype=np.int64)
        queued = [c for c, q in enumerate(self.queues) if q] if any(self.queues) else []  # (most chips: none)
        for c in queued:
            for item in self.queues[c]:
                js.enqueue(nxt, qhead, qtail, c, item)
        if self.waking:
            idle_buf, idle_len = idle_rings(self.idle_at, max(map(attrgetter("compute_units"), self.ex.system.chips)))
        else:
            idle_buf, idle_len = np.zeros((0, 1)), np.zeros(n_chips, dtype=np.int64)
        lazy_t, lazy_o = self._lazy_arrays()
        ch = (nxt, qhead, qtail, ints(self.n_idle), np.asarray(self.single, dtype=np.bool_), lazy_t, lazy_o,
              idle_buf, np.zeros(n_chips, dtype=np.int64), idle_len, used, *self._spec_arrays(),
              ints(state["peak"]),
              floats(state["busy"]), floats(state["debt"]), np.zeros(n_chips, dtype=np.int64))
        # what the call starts from, to write back only the chips it changed (most of a big machine's idle)
        before = (used.copy(), ch[15].copy(), ch[16].copy(), queued)
        free = self.free  # (these three change in place)
        link_busy, link_bytes = net.link_busy_s, net.link_bytes
        msg = (P["d0"], P["d1"], P["d1t"], P["t"], R["join"], R["stale"], R["kid"], R["child_ptr"], R["children"],
               R["group"], P["route_id"], P["occ"], R["wire"], R["nbytes"], R["inst_of"], R["node"], R["dh0"],
               R["dh1"])
        # Replay.start's per-call counters (a join's inputs to come, the version a group saw, the live
        # messages per instance) made from the recording's arrays, not its lists
        grp = (self.rec.size.astype(np.int64), R["saves"], R["pop_ref"], np.zeros(len(self.rec.size), np.int64))
        rt = (P["rptr"], P["h_lid"], P["h_lat"], P["h_bw"], P["h_add"], P["h_then"], P["h_x"])
        live = np.zeros(len(self.live), dtype=np.int64)
        # staleness-bounded admission: each completion's place in the staleness noted (the window takes them in
        # at the next stop, :meth:`_window_takes`)
        marks = np.zeros(len(self.live) + 1, dtype=np.int64)
        inst = (R["root_ptr"], R["roots"], R["stash_ptr"], P["stash_chip"], live, n_messages, marks)
        version = ints(self.version)
        st_n, st_v = np.zeros(R["n_stale"], dtype=np.int64), np.zeros(R["n_stale"], dtype=np.int64)
        # per node: its muf, its stashes ready (the caller's lists) and those the kernel noted since (a count,
        # then the stashes: :meth:`_take_ready`)
        muf_of = ints([nd.muf if isinstance(nd, ParamNode) else 0 for nd in self.nodes])
        n_ready = ints([len(self.ready.get(g) or ()) for g in range(len(self.nodes))])
        new_ready = np.zeros((len(self.nodes), max(1, int(muf_of.max(initial=1)))), dtype=np.int64)
        upd = (R["stash_node"], muf1, R["ukind"], ucost_d, ucost_b, version, st_n, st_v, P["chip_of_node"], muf_of,
               n_ready, new_ready)
        cap = R["margin"] + 1 + self.first_capacity
        if self.set_aside_room:
            cap += len(P["param_chips"])
        ev = js.event_stores(cap)
        K, F = np.zeros(js.N_K, dtype=np.int64), np.zeros(js.N_F)
        K[js.ORDER], K[js.LEVEL], K[js.PENDING] = self.order, self.level, self.pending
        K[js.NEXT] = getattr(self, "next", js.FINAL)
        window = self.ex.admission_window if self.training else None
        K[js.WSIZE] = -1 if window is None else window.size
        K[js.INFLIGHT], K[js.AWAIT] = self.in_flight, self.admit_wait
        self._noted = 0  # the staleness values (st_n, st_v) the nodes have taken in so far (with a window)
        F[js.NOW] = self.now
        # the controller's start is the first event (FastReplay._loop's ``ev``)
        K[js.HAS_EV], K[js.EV_O], K[js.EV_CODE] = 1, self.order, js.START
        F[js.EV_T] = self.now
        on_done = self.ex.on_done
        every = max(1, len(self.live) // 100) if on_done else NO_REPORT
        receiving = bool(ch[14].any())
        flags = (receiving, bool(self.waking), bool(receiving or self.waking or ch[17].any()), bool(self.training),
                 int(self.ex.mak), int(every), int(R["margin"]), bool(net.packet_bytes), int(R["sends"]))
        pk = _packet_links(placed, float(net.packet_bytes), self.bandwidth_bytes_per_s, link_busy, link_bytes, K,
                           R["sends"], self.first_room)
        done = backed = False
        try:
            while True:
                t0 = time.perf_counter()
                with jc.compile_announced():  # (the first call in a process may compile it: minutes)
                    status = jk.run(msg, grp, rt, (free, link_busy, link_bytes), ch, ev, inst, upd, K, F, flags,
                                    float(self.completion_latency_s), pk)
                self.kernel_wall_s += time.perf_counter() - t0
                if status == jk.FINISHED:
                    break
                if status == jk.GROW:
                    ev = js.grown_stores(ev, K, R["margin"] + int(K[js.ONLINK]))
                    pk = _pool_grown(pk, K, R["sends"])
                elif status == jk.REPORT:
                    on_done(int(K[js.NDONE]))
                    K[js.NDONE] = 0
                elif status == jk.WINDOW:
                    self._window_takes(st_n, st_v, marks, K)
                elif status == jk.UPDATE_JOB:
                    self._take_ready(new_ready)
                    self._cost_update(K, F)
                else:  # OOM
                    backed = self._state_back(ch, version, st_n, K, F, st_v, new_ready)
                    self.out_of_memory(int(K[js.OUT_C]), float(F[js.NOW]))
            self._idle_set_aside(ch, F)
            backed = self._state_back(ch, version, st_n, K, F, st_v, new_ready)
            done = True
        finally:
            self.kernel_events += int(K[js.EVENTS])
            if not backed:
                self._state_back(ch, version, st_n, K, F, st_v, new_ready)
            if on_done and K[js.NDONE]:
                on_done(int(K[js.NDONE]))
            counters = {"peak": ch[15].tolist(), "busy": ch[16].tolist(), "debt": ch[17].tolist(),
                        "updates": ch[18].tolist(), "messages": int(K[js.MESSAGES]), "sent": int(K[js.SENT])}
            self._write_back(placed, counters, done, touched_chips(ch, before, placed.per_chip, done))

    def _idle_set_aside(self, ch: tuple, F: np.ndarray) -> None:
        """The end of a call, on the kernel's arrays (:meth:`FastMachine._idle_lazy`, which loops over every
        chip): the set-aside completions come up, idling their units; the last one's time is the simulated
        time."""
        n_idle, lazy_t, lazy_o, idle_buf, idle_head, idle_len = ch[3], ch[5], ch[6], ch[7], ch[8], ch[9]
        chips = np.flatnonzero(lazy_o >= 0)
        if not len(chips):
            return
        n_idle[chips] += 1
        if self.waking:  # (a unit's idle ring takes when it went idle: one completion a chip)
            idle_buf[chips, (idle_head[chips] + idle_len[chips]) % idle_buf.shape[1]] = lazy_t[chips]
            idle_len[chips] += 1
        F[js.NOW] = max(F[js.NOW], lazy_t[chips].max())
        lazy_o[chips] = -1

    def _cost_update(self, K: np.ndarray, F: np.ndarray) -> None:
        """The kernel stopped at an update job of a node with muf > 1: its cost (``None`` while fewer than
        muf stashes are ready), from the node's ready stashes (Replay.update_cost; the kernel counts the new
        version, :meth:`Replay.applied` empties the ready list)."""
        c, j = int(K[js.OUT_C]), int(K[js.OUT_J])
        cost = self.update_cost(self.ex.chips[c], j)
        F[js.COST_NONE] = cost is None
        if cost is not None:
            F[js.COST_D], F[js.COST_B] = cost[0], cost[1]
            n = self.stash_node[j]
            if self.ready.get(n):
                self.ready[n] = []
        K[js.RESUME] = 1

    def _window_takes(self, st_n: np.ndarray, st_v: np.ndarray, marks: np.ndarray, K: np.ndarray) -> None:
        """The kernel stopped after completions: the nodes take in the staleness noted up to each, and the
        window each completion (SimExecutor.admission_completed), in order; the kernel gets the new size."""
        for mark in marks[:K[js.WPEND]].tolist():
            self._note(st_n, st_v, mark)
            self.ex.admission_completed()
        K[js.WPEND] = 0
        K[js.WSIZE] = self.ex.admission_window.size

    def _note(self, st_n: np.ndarray, st_v: np.ndarray, upto: int) -> None:
        """The staleness values noted from the last taken in up to ``upto`` go to their nodes' own bookkeeping
        (ParamNode.note_staleness: the window reads each node's recent ones)."""
        nodes = self.nodes
        for n, v in zip(st_n[self._noted:upto].tolist(), st_v[self._noted:upto].tolist()):
            nodes[n].note_staleness(v)
        self._noted = upto

    def _take_ready(self, new_ready: np.ndarray) -> None:
        """The stashes the kernel noted ready join their nodes' lists, in the order they came (``new_ready``:
        per node a count, then the stashes), and are forgotten there."""
        for g in np.flatnonzero(new_ready[:, 0]).tolist():
            for j in new_ready[g, 1:new_ready[g, 0] + 1].tolist():
                self.stash_ready(j)
            new_ready[g, 0] = 0

    def _state_back(self, ch, version, st_n, K, F, st_v, new_ready) -> bool:
        """The kernel's machine state into the Python objects (the next call and the write-back read them)."""
        self._take_ready(new_ready)
        nxt, qhead = ch[0], ch[1]
        if any(self.queues):
            for q in self.queues:
                q.clear()
        for c in np.flatnonzero(qhead >= 0).tolist():  # (most of a big machine's queues are empty)
            q, item = self.queues[c], qhead[c]
            while item >= 0:
                q.append(int(item))
                item = nxt[item]
        self.n_idle[:] = ch[3].tolist()
        lazy_o = ch[6]
        self.lazy[:] = [None] * len(lazy_o)
        for c in np.flatnonzero(lazy_o >= 0).tolist():
            self.lazy[c] = (float(ch[5][c]), int(lazy_o[c]))
        if self.waking:
            idle_rings_back(self.idle_at, ch[7], ch[8], ch[9])
        self.used = ch[10].tolist()
        self.version[:] = version.tolist()
        self.now, self.order = float(F[js.NOW]), int(K[js.ORDER])
        self.level, self.pending, self.next = int(K[js.LEVEL]), int(K[js.PENDING]), int(K[js.NEXT])
        self.heap, self.soon = [], deque()
        self.in_flight, self.admit_wait = int(K[js.INFLIGHT]), int(K[js.AWAIT])
        if K[js.WSIZE] >= 0:  # a window reads the nodes' recent staleness: each value through the node
            self._note(st_n, st_v, int(K[js.NSTALE]))
        else:
            _count_staleness(self.staleness, st_n[:K[js.NSTALE]], st_v[:K[js.NSTALE]])
        K[js.NSTALE] = 0
        self._noted = 0
        return True


def _count_staleness(staleness: list, nodes: np.ndarray, values: np.ndarray) -> None:
    """Add the kernel's (node, staleness) notes to the nodes' histograms, each new value in the order it
    first occurred (the Python loop's insertion order)."""
    if not len(nodes):
        return
    span = int(values.max()) + 1
    keys, first, counts = np.unique(nodes * span + values, return_index=True, return_counts=True)
    for i in np.argsort(first, kind="stable").tolist():
        n, v = divmod(int(keys[i]), span)
        hist: Counter = staleness[n]
        hist[v] += int(counts[i])


def _packet_links(placed: Placed, packet_bytes: float, bandwidth_bytes_per_s: list[float], link_busy: np.ndarray,
                  link_bytes: np.ndarray, K: np.ndarray, sends: int, room: int) -> tuple:
    """The packet-switched links' state for one call (:mod:`~ampsim.executors.sim.jitpackets`), empty, as
    FastPackets starts each call: no link has a region yet, and the pool (its top in ``K``) has what the first
    event may need and ``room`` more; arrays of no length where links carry whole messages."""
    n_links = len(bandwidth_bytes_per_s) if packet_bytes else 0
    route_id, ptr = placed.route_id, placed.hops_of.ptr
    hops = np.zeros(len(route_id) if packet_bytes else 0, dtype=np.int64)
    if packet_bytes:
        remote = route_id >= 0
        hops[remote] = np.diff(ptr)[route_id[remote]]
    m_ptr = np.zeros(len(hops) + 1, dtype=np.int64)
    np.cumsum(hops, out=m_ptr[1:])
    n_slots = int(m_ptr[-1])
    # count, generation, offset in the pool, region length, the pending completion's order and whether it is
    # on the heap, the order of the bound on the link's earliest event there (-1: none known); a link's
    # region is given when its first message joins (a full region of length 0: jitpackets._append), so the
    # pool holds the links used, not every link (the 1,024-chip hypercube's 10,240 of which SST uses a few
    # dozen: 164,000 slots made, and grown, at every call)
    LI = np.zeros((n_links, 7), dtype=np.int64)
    LI[:, 6] = -1
    K[js.PTOP] = 0
    size = int(jk.jitpackets.pool_need(K, sends)) + 1 + room if packet_bytes else 0
    LF = np.zeros((n_links, 5))  # updated at, fewest bytes due, bandwidth, the pending completion's time, the bound's
    LF[:, 2] = bandwidth_bytes_per_s[:n_links]
    LS, LL = np.zeros(size, dtype=np.int64), np.zeros(size)  # the links' slots and bytes left, pooled
    slots_f = [np.zeros(n_slots) for _ in range(2)]  # served, tail
    slots_i = [np.zeros(n_slots, dtype=np.int64) for _ in range(2)]  # message, hop
    return (LI, LF, LS, LL, slots_f[0], slots_f[1], slots_i[0], slots_i[1], m_ptr, np.zeros(len(hops)),
            np.zeros(n_slots, dtype=np.int64), packet_bytes, link_busy, link_bytes)


def _pool_grown(pk: tuple, K: np.ndarray, sends: int) -> tuple:
    """``pk`` with its links' pool at least twice what the next event may need (the kernel stopped before it
    could fill: :func:`~ampsim.executors.sim.jitpackets.pool_need`)."""
    LS, LL = pk[2], pk[3]
    need = int(jk.jitpackets.pool_need(K, sends))
    if not len(LS) or need < len(LS):
        return pk
    more = 2 * need - len(LS)
    return (*pk[:2], np.concatenate([LS, np.zeros(more, np.int64)]), np.concatenate([LL, np.zeros(more)]), *pk[4:])
