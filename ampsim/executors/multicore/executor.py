"""The multicore executor: real worker processes, the same node code, wall-clock time.

Life cycle::

    MulticoreExecutor(model, placement, n_workers)   start N workers (each owns the nodes placed on it),
                                                     connected pairwise by socket pairs (transport.py)
    train(instances)  the controller (main process) admits up to mak instances, detects completions,
                      tells workers to apply muf updates; at the end it asks every worker for its state
                      (parameters, versions, staleness) and copies it into the main process's model
    evaluate(...)     the reference executor's forward-only pass on that (now current) model copy
    close()           stop the workers (idempotent; also on errors, Ctrl-C, garbage collection)

Replicas: every copy is a node of the graph, placed like any other; sends into a copy set pick the copy
by instance key (``graph.spread``), and the copies of each parameterized node are kept in step with the
reference executor's semantics (:mod:`.replicas`). ``summary()`` then reports ``sync_rounds``,
``sync_bytes`` and ``replica_drift``.

``time_s`` is wall seconds spent in :meth:`train`, up to the moment the last update job finished on the
slowest worker (process start-up, state collection and evaluation excluded).
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ampsim import runfiles
from ampsim.errors import ConfigError, RunError
from ampsim.executors.base import ExecutorBase, ExecutorPlan, RunFolder, check_placement, checked_instances, guarded
from ampsim.executors.multicore import procs as _procs
from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.controller import Controller
from ampsim.executors.multicore.replicas import ControllerSync
from ampsim.executors.multicore.spec import WorkerSpec
from ampsim.executors.multicore.transport import Channel, channel_pair
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance
from ampsim.ir.node import Report
from ampsim.ir.sync import SyncSet
from ampsim.models.base import Model
from ampsim.sections import WATCHDOG_S
from ampsim.trace import TraceRecorder, chip_pid, lane_tid, step_label

__all__ = ["MulticoreExecutor", "SPIN_S"]

log = logging.getLogger(__name__)

#: How long an idle worker polls without sleeping before it blocks (WorkerSpec.spin_s), when every worker
#: has a core to spin on. A peer's answer often comes within microseconds, while a sleep and wake-up
#: costs both ends ~20 us on the 2-core development VM: spinning 200 us cuts a lone frame's hop from 73
#: to 23 us and doubles list_reduction's 2-worker throughput at mak 1. The simulator models spinning
#: (chip.spin_s, wake_overhead_s), but calibrated on spinning workers it under-predicts list_reduction by
#: up to 19 % (and misranks it), against at most 15 % without: off by default until that is understood;
#: `tuning={"spin_s": 2e-4}` turns it on.
SPIN_S = 0.0

# ``executor.watchdog_s`` (default :data:`ampsim.config.WATCHDOG_S`): a worker that makes no progress this long
# while the controller waits is reported and everything is stopped (see :mod:`.controller`); the default is
# generous, since a healthy worker answers within milliseconds and a long node step still counts as progress
# (it uses CPU)


class MulticoreExecutor(ExecutorBase):
    name = "multicore"
    time_unit = "wall"
    holds_parameters = False  # (the workers' copies train; these stay as planned)

    @classmethod
    def from_plan(cls, plan: ExecutorPlan) -> MulticoreExecutor:
        return cls(plan.task.model, plan.placement, plan.workers, mak=plan.mak, source=plan.source,
                   estimated_load=plan.estimated_load, watchdog_s=plan.watchdog_s, sync_sets=plan.sync_sets,
                   trace=plan.trace)

    def __init__(self, model: Model, placement: Mapping[str, int], n_workers: int, *, mak: int = 1,
                 start_method: str | None = None, tuning: dict | None = None, source: str = "<config>",
                 estimated_load: Sequence[Mapping] | None = None, watchdog_s: float = WATCHDOG_S,
                 sync_sets: Sequence[SyncSet] = (), trace: bool = False) -> None:
        if n_workers < 1:
            raise ConfigError(f"{source}: executor.workers: must be >= 1, got {n_workers}")
        self.model, self.mak, self.n_workers = model, mak, n_workers
        self.graph = model.graph.validate()
        self.names = list(self.graph.nodes)
        self.index = {n: i for i, n in enumerate(self.names)}
        check_placement(placement, self.names, n_workers, source, unit="worker")
        self.placement = {nm: placement[nm] for nm in self.names}
        self.n_units = n_workers
        self.estimated_load = estimated_load
        self.owner = [self.placement[n] for n in self.names]
        self.replicas = ControllerSync(list(sync_sets), self.index, self.owner) if sync_sets else None
        self.start_method = start_method or _procs.start_method()
        if watchdog_s < 0:
            raise ConfigError(f"{source}: executor.watchdog_s: must be >= 0, got {watchdog_s}")
        self.watchdog_s = watchdog_s
        # WorkerSpec fields: read_s, flush_s, flush_bytes, report_s, spin_s (see SPIN_S)
        self.tuning = {"spin_s": SPIN_S if n_workers <= (os.cpu_count() or 1) else 0.0, **(tuning or {})}
        self.time_s = 0.0
        #: executor.trace: every node step and update job of the workers, on this executor's clock
        self.trace = TraceRecorder() if trace else None
        for w in range(n_workers if trace else 0):
            self.trace.name_process(chip_pid(w), f"worker {w}")
        self._reference = ReferenceExecutor(model)
        self._last_states: dict[int, dict] = {}
        self.controller_cpu_s = 0.0
        self.worker_cpu_s = [0.0] * n_workers
        self._closed = False
        self._procs: list = []
        self._channels: list[Channel] = []
        self._start()
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._channels)

    # -- start-up ------------------------------------------------------------------------------------
    def _start(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context(self.start_method)
        n = self.n_workers
        route = {(self.index[s], b, p): (self.index[d.name], dp) for (s, b, p), (d, dp) in self.graph.route.items()}
        spread = {(self.index[s], b, p): (tuple(self.index[d.name] for d in ds), dp, stride)
                  for (s, b, p), (ds, dp, stride) in self.graph.spread.items()}
        ctrl_pairs = [channel_pair(f"controller->worker {w}", f"worker {w}->controller") for w in range(n)]
        peer: dict[tuple[int, int], Channel] = {}
        for a in range(n):
            for b in range(a + 1, n):
                peer[(a, b)], peer[(b, a)] = channel_pair(f"worker {a}->worker {b}", f"worker {b}->worker {a}")
        every = [c for pair in ctrl_pairs for c in pair] + list(peer.values())
        current = ctx.RawArray("q", [P.IDLE] * n)
        self._current = current
        fork = self.start_method == "fork"
        t0 = time.perf_counter()
        try:
            for w in range(n):
                mine = [ctrl_pairs[w][1]] + [peer[(w, v)] for v in range(n) if v != w]
                spec = WorkerSpec(
                    index=w, names=self.names,
                    nodes={i: self.graph.nodes[name] for i, name in enumerate(self.names) if self.owner[i] == w},
                    owner=self.owner, route=route, spread=spread, controller=ctrl_pairs[w][1],
                    copies=self.replicas.copies_of(w) if self.replicas is not None else {},
                    peers={v: peer[(w, v)] for v in range(n) if v != w},
                    close_fds=[c for c in every if all(c is not m for m in mine)] if fork else [],
                    current=current, parent_pid=_procs.parent_pid_of_children(self.start_method),
                    trace=self.trace is not None, **self.tuning)
                p = ctx.Process(target=_procs.worker_main, args=(spec,),
                                name=f"{_procs.WORKER_NAME_PREFIX}worker-{w}", daemon=True)
                # listed before it starts: a Ctrl-C raised as its start returns must stop it too (one not
                # started has no pid, and stopping passes it by)
                self._procs.append(p)
                _procs.start_process(p)
            for c in every:  # the parent keeps only its controller ends
                if all(c is not cp[0] for cp in ctrl_pairs):
                    c.close()
            self._channels.extend(cp[0] for cp in ctrl_pairs)
            for ch in self._channels:
                ch.configure()
            self.controller = Controller(self._channels, self._procs, self.names, self.index, self.owner, current,
                                         watchdog_s=self.watchdog_s, replicas=self.replicas, reach=self._reach())
            if self.trace is not None:
                self.controller.events = []
            self._last_states = self.controller.sync(with_params=False, tag="ready")  # start-up errors surface here
        except BaseException:
            # whatever stops the start (a Ctrl-C as the workers start, a worker's start-up error), the workers
            # started so far are stopped now: no finalizer watches them yet, and the sockets that would end
            # them live as long as the exception's traceback (an interactive session keeps the last one)
            with _procs.StopsHeld():
                _shutdown(self._procs, every, 0.0)
            raise
        log.info("multicore: %d workers started with %s in %.3f s", n, self.start_method, time.perf_counter() - t0)

    def _reach(self) -> list[frozenset[int]]:
        """Per node, the workers owning a node of its weakly connected part of the graph (a replica group's
        nodes form one part): the only workers an instance injected there can reach."""
        import networkx as nx

        reach = [frozenset()] * len(self.names)
        for part in nx.weakly_connected_components(self.graph.to_networkx()):
            workers = frozenset(self.placement[n] for n in part)
            for n in part:
                reach[self.index[n]] = workers
        return reach

    # -- the executor interface ----------------------------------------------------------------------
    @guarded
    def train(self, instances: Iterable[Instance], on_done: Callable[[int], None] | None = None) -> list[Report]:
        instances = list(checked_instances(instances, "multicore executor: train", self.model, on_done=on_done))
        t0, cpu0 = time.perf_counter(), time.process_time()
        before = {w: s.get("cpu_s", 0.0) for w, s in self._last_states.items()}
        try:
            reports = self.controller.run(self.model.inject, instances, self.mak, on_done)
            states = self.controller.sync(with_params=True)  # also collects reports still in flight
        except BaseException:
            self.close(grace_s=0.0)
            raise
        t_end = max((s["t"] for s in states.values()), default=time.perf_counter())
        if self.trace is not None:
            self._trace_spans(states, self.time_s - t0)
        self.time_s += max(t_end - t0, 0.0)
        self.controller_cpu_s += time.process_time() - cpu0
        for w, s in states.items():
            self.worker_cpu_s[w] += s["cpu_s"] - before.get(w, 0.0)
        self._absorb(states)
        return reports

    def _trace_spans(self, states: dict[int, dict], offset_s: float) -> None:
        """The workers' spans and the controller's admissions and completions of a ``train`` call on the
        executor's clock (``offset_s``: its time at the call's start less the call's start on the machine's
        clock), labelled as the simulator labels its own."""
        for w, s in sorted(states.items()):
            for t0, t1, i, kind, key in s.get("spans", ()):
                self.trace.span_to(step_label(self.names[i], kind), chip_pid(w), lane_tid(0), offset_s + t0,
                                   offset_s + t1, key=key)
        for t, what, key in self.controller.events:
            self.trace.controller(what, offset_s + t, key)
        self.controller.events.clear()

    @guarded
    def evaluate(self, instances: Iterable[Instance]) -> list[Report]:
        """Forward only, in this process, on the model copy that :meth:`train` keeps current."""
        return self._reference.evaluate_checked(list(checked_instances(instances, "multicore executor: evaluate",
                                                                       self.model)))

    def _absorb(self, states: dict[int, dict]) -> None:
        """Copy the workers' parameters, versions and staleness into this process's model."""
        self._last_states = states
        leftover = sorted(n for s in states.values() for n in s["leftover"])
        if leftover:
            raise RunError(f"all instances completed but state is left at {', '.join(leftover)} "
                           "(a join or cache was never consumed)")
        for s in states.values():
            for name, st in s.get("params", {}).items():
                node = self.graph.nodes[name]
                for pname, value in st["params"].items():
                    np.copyto(node.params[pname], value)
                node.version = st["version"]
                for mine, theirs in zip((node.staleness, node.update_staleness), st["staleness"]):
                    mine.clear()
                    mine.update(theirs)

    # -- results -------------------------------------------------------------------------------------
    def summary(self) -> dict:
        st = [self._last_states.get(w, {}) for w in range(self.n_workers)]
        t = self.time_s
        return {
            "n_workers": self.n_workers,
            "start_method": self.start_method,
            "wall_train_s": t,
            "messages_processed": sum(s.get("processed", 0) for s in st),
            "network_messages": sum(s.get("remote_sent", 0) for s in st),
            "network_bytes": sum(s.get("sent_bytes", 0) for s in st),
            "worker_busy_s": [s.get("busy_s", 0.0) for s in st],
            "worker_cpu_s": list(self.worker_cpu_s),  # (copies: a summary is a snapshot, not the executor's lists)
            "controller_cpu_s": self.controller_cpu_s,
            "chip_utilization": [s.get("busy_s", 0.0) / t if t else 0.0 for s in st],
            "controller_rounds": self.controller.rounds,
            # the completion round trip (medians and 90th percentiles): a completing RETURN from the
            # worker's queue to the controller's read (every completion), then to the next instance's first
            # messages in the kernel (every completion that let one in); the simulator has neither delay
            "completion_lag_s": {"return": _quantiles(self.controller.return_lags_s),
                                 "admit": _quantiles(self.controller.admit_lags_s)},
            "worker_frames_sent": [s.get("frames", 0) for s in st],
            "worker_waits": [s.get("waits", 0) for s in st],
            "worker_sleeps": [s.get("sleeps", 0) for s in st],  # waits that outlasted the spin and blocked
            # per worker: [seconds, frames, messages, payload bytes] spent sending to / receiving from peers
            "worker_transport_sent": [_copied(s.get("transport_sent")) for s in st],
            "worker_transport_received": [_copied(s.get("transport_received")) for s in st],
            "placement": dict(self.placement),
            **(self.replicas.summary() if self.replicas is not None else {}),
        }

    def write_artifacts(self, run: RunFolder) -> None:
        super().write_artifacts(run)
        if self.trace is not None:
            self.trace.write(run.path / runfiles.TRACE)

    # -- shutdown ------------------------------------------------------------------------------------
    def close(self, grace_s: float = 2.0) -> None:
        """Stop every worker (STOP, then SIGTERM, then SIGKILL) and reap it. Idempotent. A Ctrl-C meanwhile waits
        for the stop's end (:class:`~.procs.StopsHeld`): one as it cleans up after a first is dropped."""
        if self._closed:
            return
        with _procs.StopsHeld():
            self._closed = True
            for ch in self._channels:
                try:
                    ch.put([(P.STOP,)])
                    ch.flush()
                except Exception:  # noqa: BLE001 - the worker may be gone already
                    pass
            _shutdown(self._procs, self._channels, grace_s)
            self._finalizer.detach()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]


def _copied(counters: list | None) -> list | None:
    """A worker's transport counters as a summary holds them: a copy of the list (or None)."""
    return None if counters is None else list(counters)


def _quantiles(seconds: list[float]) -> dict[str, float | None]:
    """Median and 90th percentile of ``seconds`` (None for an empty list), and how many there are.

    >>> _quantiles([0.001, 0.002, 0.003, 0.004, 0.005])
    {'median': 0.003, 'p90': 0.0046, 'n': 5}
    """
    if not seconds:
        return {"median": None, "p90": None, "n": 0}
    median, p90 = np.quantile(seconds, [0.5, 0.9])
    return {"median": float(median), "p90": float(p90), "n": len(seconds)}


def _shutdown(procs: list, channels: list[Channel], grace_s: float = 0.5) -> None:
    _procs.stop_processes(procs, grace_s)
    for ch in channels:
        ch.close()
