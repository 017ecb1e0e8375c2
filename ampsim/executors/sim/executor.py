"""The AMP executor in simulated time.

Every IR node lives on a simulated chip (a placement maps names to chips). A controller admits up to mak
instances at once; their messages are processed by the chips that own their nodes, running the real
numpy code and advancing simulated time by the roofline cost of the work each call reports; messages
between chips cross the network, messages within a chip pay nothing. Because chips process messages in
the order this hardware would, the parameter staleness each update sees is the hardware's.

Instance life cycle: admitted (its first messages are put on their input nodes' chips) → its live-message
count goes up with every message sent and down with every message processed → at zero the instance is
complete: each parameterized node holding its gradient stash gets an *update job* on its chip's queue (the
muf rule decides whether it applies an update, whose cost the chip pays), and the controller admits the
next instance. Update jobs share the chip's FIFO queue, so a node's update precedes any message that
reaches it later. With mak = 1 and muf = 1 the final parameters equal the reference executor's bit for bit.
Evaluation runs forward-only; it costs no simulated time unless ``eval.advances_time`` is set.

With ``numerics=False`` (``executor.numerics = false``) the same controller, chips, network, memory
accounting and trace run on a recording of the instances instead of the numpy code
(:mod:`ampsim.executors.sim.replay`): simulated times, utilizations, memory and staleness are those of a
full run, bit for bit; losses and metrics are not measured (reported as None).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable, Iterable, Mapping, Sequence

import simpy

from ampsim import runfiles
from ampsim.errors import RunError
from ampsim.executors.base import ExecutorBase, ExecutorPlan, RunFolder, check_placement, checked_instances, guarded
from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim.admission import AdmissionWindow
from ampsim.executors.sim.chips import Chip
from ampsim.executors.sim.collective import Collectives
from ampsim.executors.sim.contention import Contention
from ampsim.executors.sim.fastloop import supports
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.executors.sim.network import Network
from ampsim.executors.sim.replay import Replay
from ampsim.gcpause import gc_paused
from ampsim.hardware.cost import compute_time_s, message_bytes, remote_send_time_s
from ampsim.hardware.routing import routes
from ampsim.hardware.spec import SystemSpec
from ampsim.hardware.topology import build_topology
from ampsim.ir.message import Instance
from ampsim.ir.node import Report
from ampsim.ir.sync import SyncSet
from ampsim.models.base import Model
from ampsim.trace import BWD, FWD, SYNC, UPDATE, TraceRecorder, chip_pid, send_label, step_label

__all__ = ["SimExecutor"]
log = logging.getLogger(__name__)


class SimExecutor(ExecutorBase):
    name = "sim"
    time_unit = "simulated"

    @classmethod
    def from_plan(cls, plan: ExecutorPlan) -> SimExecutor:
        return cls(plan.task.model, plan.system, plan.placement, mak=plan.mak, trace=plan.trace,
                   eval_advances_time=plan.eval_advances_time, source=plan.source,
                   estimated_load=plan.estimated_load, numerics=plan.numerics,
                   recording_context=plan.recording_context, sync_sets=plan.sync_sets,
                   max_staleness=plan.max_staleness, admission_start=plan.admission_start,
                   admission_slow_start=plan.admission_slow_start, collective=plan.collective)

    def __init__(self, model: Model, system: SystemSpec, placement: Mapping[str, int], *, mak: int = 1,
                 trace: bool = False, eval_advances_time: bool = False, source: str = "<config>",
                 estimated_load: Sequence[Mapping] | None = None, numerics: bool = True,
                 recording_context: str = "", sync_sets: list[SyncSet] = (), max_staleness: float = 0.0,
                 admission_start: int = 1, admission_slow_start: bool = True, collective: str = "ring") -> None:
        self.model, self.system, self.mak, self.estimated_load = model, system, mak, estimated_load
        self.graph = model.graph.validate()
        self.env = simpy.Environment()
        self.trace = TraceRecorder() if trace else None
        self.numerics = numerics
        #: a replay (``replay``) runs on its own event loop where that models the machine's every rule, else on SimPy
        self.fast_loop = not numerics and supports(system, trace)
        with gc_paused():  # a big machine's graph and chips: the collector's full passes took 60 % (gcpause)
            self.topology = build_topology(system)
            self.network = Network(self.env, self.topology, routes(self.topology), self.trace,
                                   packet_bytes=system.link.packet_bytes)
            self.replay = None if numerics else (JitReplay if self.fast_loop else Replay)(self, recording_context)
            handle = self._handle if numerics else self.replay.handle
            clock = (lambda: self.replay.now) if self.fast_loop else None
            self.chips = [Chip(self.env, i, spec, handle, self._flush, serve=not self.fast_loop, clock=clock)
                          for i, spec in enumerate(system.chips)]
        #: a host whose cores the chips share with the controller (measured machines): the controller's CPU
        #: per completed instance, from the messages it caused (``_steps``), competes for the cores
        self._contention = Contention.of(self.env)
        self._contention.share_cores(system.host)
        self._host = system.host if system.host.shares_cores else None
        self._completion_latency_s = system.host.completion_latency_s
        self._steps: dict[int, int] = defaultdict(int)
        check_placement(placement, self.graph.nodes, len(self.chips), source, machine=system.name)
        self.placement = dict(placement)
        self.n_units = len(self.chips)
        self.where = {name: self.chips[c] for name, c in self.placement.items()}
        for node in self.graph.param_nodes:
            self.where[node.name].param_bytes += node.param_bytes + node.state_bytes  # (optimizer state if counted)
        for chip in self.chips:
            chip.account(0)  # a model larger than a chip's memory fails here, before any training
            if self.trace:
                self.trace.name_process(chip_pid(chip.index), f"chip {chip.index}")
        self.eval_advances_time = eval_advances_time
        self.collectives = Collectives(
            list(sync_sets), self.where, self.env, self.network.send, self.trace, collective=collective,
            host=self._contention.controller_work if self._host is not None else None,
            host_s_per_byte=self._host.controller_s_per_sync_byte if self._host is not None else 0.0,
        ) if sync_sets else None
        self.completions = 0  # serial of instance completions (orders update jobs against sync gates)
        #: staleness-bounded admission (``train.max_staleness``; 0 = off): its window (it holds the bound)
        #: and the event the controller waits on; a replay measures the same staleness, so it admits alike
        self.admission_window = AdmissionWindow(mak, max_staleness, start=admission_start,
                                       slow_start=admission_slow_start) if max_staleness else None
        self._admit: simpy.Event | None = None
        self._reference = ReferenceExecutor(model)
        self._live: dict[int, int] = defaultdict(int)
        self._in_flight = 0  # admitted and not yet known completed (staleness-bounded admission counts them)
        self._joiners = [n for n in self.graph.nodes.values() if n.n_in > 1 or n.n_out > 1]
        self._reports: list[Report] = []
        self._training = True
        self.admission_slots: simpy.Container | None = None
        self.on_done: Callable[[int], None] | None = None
        self.messages = 0
        self.framed_messages = self.frames = 0
        self.time_s = 0.0

    # -- the executor interface ----------------------------------------------------------------------
    @guarded
    def train(self, instances: Iterable[Instance], on_done: Callable[[int], None] | None = None) -> list[Report]:
        checked = list(checked_instances(instances, "sim executor: train", self.model, on_done=on_done))
        return self._run(checked, training=True, on_done=on_done)

    @guarded
    def evaluate(self, instances: Iterable[Instance]) -> list[Report]:
        checked = list(checked_instances(instances, "sim executor: evaluate", self.model))  # (names this one)
        if not self.eval_advances_time:
            return self._reference.evaluate_checked(checked) if self.numerics else []
        return self._run(checked, training=False, on_done=None)

    def _run(self, instances: list[Instance], training: bool, on_done) -> list[Report]:
        for node in self.graph.nodes.values():
            node.training = training
        self._training, self.on_done, self._reports = training, on_done, []
        self.admission_slots = simpy.Container(self.env, capacity=self.mak, init=self.mak)
        if self.replay is not None:
            self.replay.start(instances, training)
        try:
            if self.fast_loop:
                self.replay.loop()
            else:
                controller = self.env.process(self.replay.controller() if self.replay is not None
                                              else self._controller(instances))
                self.env.run(until=controller)
                self.env.run()  # drain: the last instances' update jobs are still on their chips' queues
        except RuntimeError as e:
            if "No scheduled events left" not in str(e):
                raise
            raise RunError(self._deadlock_message()) from None
        finally:
            for node in self.graph.nodes.values():
                node.training = True
            if self.replay is not None:
                self.replay.finish()
        leftover = [n.name for n in self.graph.nodes.values() if n.has_state()]
        if leftover:
            raise RunError(f"all instances completed but state is left at {', '.join(leftover)} "
                           "(a join or cache was never consumed)")
        self.time_s = self.now
        return self._reports

    @property
    def now(self) -> float:
        """Simulated seconds so far."""
        return self.replay.now if self.fast_loop else self.env.now

    def _controller(self, instances: list[Instance]):
        for inst in instances:
            yield self.admission_slots.get(1)
            yield from self.wait_for_admission(lambda: self._in_flight)
            self._in_flight += 1
            for name, msg in self.model.inject(inst):
                self._live[inst.key] += 1
                self.controller_puts(self.where[name], (FWD, self.graph.nodes[name], 0, msg), msg.payload.nbytes)
            if self.trace:
                self.trace.controller("admit", self.env.now, inst.key)
        yield self.admission_slots.get(self.mak)  # every admitted instance has completed
        self.admission_slots.put(self.mak)

    # -- staleness-bounded admission: the rules this controller and a replay's share ------------------
    def wait_for_admission(self, in_flight: Callable[[], int]):
        """Wait while the window is full (:meth:`window_full`); a completion wakes it (:meth:`admission_wake`)."""
        while self.window_full(in_flight()):
            self._admit = self.env.event()
            yield self._admit

    def window_full(self, in_flight: int) -> bool:
        """Whether staleness-bounded admission holds the next instance back, ``in_flight`` being in flight."""
        return self._training and self.admission_window is not None and in_flight >= self.admission_window.size

    def controller_puts(self, chip: Chip, item, nbytes: int) -> None:
        """The controller puts ``item`` on ``chip``: at once, or, where the controller is a process of its
        own (``host.completion_latency_s``), as a frame the chip takes in when it next polls."""
        if self._completion_latency_s:
            chip.deliver([(0, item, nbytes)])
        else:
            chip.put(item, nbytes)

    def controller_learns(self, act: Callable[[], None]) -> None:
        """Run ``act`` (a completion's effects) when the controller learns of the completion: at once, or
        ``host.completion_latency_s`` later."""
        if self._completion_latency_s:
            self.env.timeout(self._completion_latency_s).callbacks.append(lambda _e: act())
        else:
            act()

    def controller_completed(self, messages: int) -> None:
        """An instance that caused ``messages`` completed: the controller's CPU for it (``[host]``)."""
        if self._host is not None:
            self._contention.controller_work(self._host.controller_s_per_instance
                                             + self._host.controller_s_per_message * messages)

    def admission_completed(self) -> None:
        """A training instance completed: the window counts it, with the staleness signal now."""
        if self.admission_window is not None:
            self.admission_window.completed(self._staleness_signal())

    def admission_wake(self) -> None:
        """A slot was freed: a controller waiting on the window re-checks it."""
        if self._admit is not None and not self._admit.triggered:
            self._admit.succeed()

    def _staleness_signal(self) -> float:
        """Staleness-bounded admission's signal: the largest recent mean staleness of a parameterized node
        (the window, :mod:`~ampsim.executors.sim.admission`, acts on it once per round)."""
        return max((n.recent_staleness() for n in self.graph.param_nodes), default=0.0)

    def _deadlock_message(self) -> str:
        stuck = sorted({n.name for n in self.graph.nodes.values() for key in self._live if n.holds(key)})
        return (f"deadlock at t={self.env.now:.6g} s: {len(self._live)} instance(s) in flight "
                f"(keys {sorted(self._live)[:5]}) and no events pending; waiting at: {', '.join(stuck) or '?'}")

    # -- chips call this for every work item ---------------------------------------------------------
    def _handle(self, chip: Chip, unit: int, item: tuple):
        kind, node, port, msg = item
        sync = self.collectives
        if sync is not None and kind != SYNC and sync.park(chip, item, msg.payload.nbytes if kind < UPDATE else 0):
            return 0.0, None  # its copy waits for a synchronization to apply
        held = node.held_nbytes
        received = chip.collect()  # frames that arrived since the chip's last item
        if kind >= UPDATE:
            extra = 0.0  # seconds beyond the work: a synchronization's transport through the host
            if kind == SYNC:
                work, after, extra = sync.run(chip, item)
                label = port
            else:
                work = node.complete(port)  # port carries the instance key for update jobs
                after, label = None, step_label(node.name, UPDATE)
                snap = sync.contributed(node) if sync is not None and work is not None else None
                if snap is not None:
                    work += snap
                    after = lambda: sync.snapshot_taken(node)  # noqa: E731
                chip.account(node.held_nbytes - held)
            if work is None:
                return received, None
            duration = compute_time_s(chip.spec, work.flops, work.bytes, work.kernels) + extra + received
            if self.trace:
                chip.trace_span(self.trace, unit, label, duration)
            return duration, after
        step = node.step(kind == BWD, msg, port)
        chip.account(node.held_nbytes - held)
        self.messages += 1
        if self._host is not None:
            self._steps[msg.key] += 1
        if step.reports:
            self._reports.extend(step.reports)
        duration = compute_time_s(chip.spec, step.work.flops, step.work.bytes, step.work.kernels) + received
        if step.sends and (chip.spec.remote_send_overhead_s or chip.spec.remote_send_s_per_byte):
            duration += self._remote_send_s(chip, node, step.sends)
        if self.trace:
            chip.trace_span(self.trace, unit, step_label(node.name, kind), duration, key=msg.key, state=list(msg.state))
        return duration, lambda: self._release(chip, node, msg.key, step.sends)

    def _remote_send_s(self, chip: Chip, node, sends) -> float:
        """CPU the step's sends to nodes on other chips cost ``chip`` (``remote_send_time_s`` each):
        added to the step's duration, so the unit is busy for it and the sends leave after it."""
        target, where, t = self.graph.target, self.where, 0.0
        for s in sends:
            dst, _ = target(node.name, s.backward, s.port, s.msg.key)
            if where[dst.name] is not chip:
                t += remote_send_time_s(chip.spec, message_bytes(s.msg.payload.nbytes, len(s.msg.state)))
        return t

    def _release(self, chip: Chip, node, key: int, sends) -> None:
        route = self.graph.target
        for s in sends:
            dst, dport = route(node.name, s.backward, s.port, key)
            item = (BWD if s.backward else FWD, dst, dport, s.msg)
            self._live[key] += 1
            target = self.where[dst.name]
            nbytes = s.msg.payload.nbytes
            if target is chip:
                target.put(item, nbytes)
            elif chip.spec.framed:
                self.framed_messages += 1
                chip.outbox.setdefault(target.index, []).append((message_bytes(nbytes, len(s.msg.state)), item, nbytes))
            else:
                wire = message_bytes(nbytes, len(s.msg.state))
                self.network.send(chip.index, target.index, wire,
                                  lambda t=target, m=[(wire, item, nbytes)]: self.receive(t, m, framed=False))
        self._live[key] -= 1
        if self._live[key] == 0:
            self._complete(key)

    def _flush(self, chip: Chip, unit: int) -> tuple[float, Callable[[], None]]:
        """Take ``chip``'s outbox as one frame per destination: (their send cost, a function that puts
        them on the network). The receiving chip pays ``frame_receive_overhead_s`` per frame (:meth:`receive`)."""
        frames, chip.outbox = list(chip.outbox.items()), {}
        cost = chip.spec.frame_send_overhead_s * len(frames)
        if self.trace and cost:
            chip.trace_span(self.trace, unit, send_label(len(frames)), cost)

        def send() -> None:
            self.frames += len(frames)
            for dst, msgs in frames:
                self.network.send(chip.index, dst, sum(m[0] for m in msgs),
                                  lambda t=self.chips[dst], ms=msgs: self.receive(t, ms))
        return cost, send

    def receive(self, chip: Chip, msgs: list, framed: bool = True) -> None:
        """Messages from another chip arrive: queue them; the chip pays for the frame and each message."""
        spec = chip.spec
        cost = spec.remote_receive_overhead_s * len(msgs) + (spec.frame_receive_overhead_s if framed else 0.0)
        if cost:
            chip.charge(cost)
        chip.deliver(msgs)

    def _complete(self, key: int) -> None:
        waiting = [n.name for n in self._joiners if n.joining(key)]
        if waiting:  # no message of this instance is left, yet a join still waits for one: it never comes
            raise RunError(f"deadlock at t={self.env.now:.6g} s: instance {key} has no messages in flight "
                           f"but is waiting at: {', '.join(waiting)} (an input that never arrives)")
        del self._live[key]
        if self.trace:
            self.trace.controller("complete", self.env.now, key)
        self.controller_learns(lambda: self._completed(key))

    def _completed(self, key: int) -> None:
        """The controller acts on instance ``key``'s completion: its update jobs, a free slot."""
        self.controller_completed(self._steps.pop(key, 0))
        if self._training:
            self.completions += 1
            for node in self.graph.param_nodes:
                if node.stashed(key):
                    self.controller_puts(self.where[node.name], (UPDATE, node, key, self.completions), 0)
                    if self.collectives is not None:
                        self.collectives.closed(node, self.completions)
            self.admission_completed()
        self._in_flight -= 1
        self.admission_slots.put(1)
        self.admission_wake()
        if self.on_done:
            self.on_done(1)

    # -- results -------------------------------------------------------------------------------------
    def summary(self) -> dict:
        t = self.now
        return {
            "hardware": self.system.name,
            "n_chips": len(self.chips),
            "simulated_time_s": t,
            "messages_processed": self.messages,
            # the network carries single messages and frames (framed chips: one or more messages each)
            "network_messages": self.network.messages - self.frames + self.framed_messages - self._sync_messages,
            **({"network_frames": self.frames} if self.frames else {}),
            "chip_utilization": [c.busy_s / (t * c.spec.compute_units) if t else 0.0 for c in self.chips],
            "link_utilization": self.network.utilization(t),
            "peak_memory_bytes": [c.peak_bytes for c in self.chips],
            **({"controller_cpu_s": self._contention.controller_cpu_s} if self._host is not None else {}),
            "param_bytes": [c.param_bytes for c in self.chips],
            "placement": dict(self.placement),  # (a copy: a caller editing a summary edited the executor)
            **(self.collectives.summary() if self.collectives is not None else {}),
            **(self.admission_window.summary() if self.admission_window is not None else {}),
            # a replay measures time, not numbers: no loss, no metric
            **({} if self.numerics else dict(numerics=False, final_metric=None, best_metric=None, time_to_target=None)),
        }

    @property
    def _sync_messages(self) -> int:
        return self.collectives.messages if self.collectives is not None else 0

    def write_artifacts(self, run: RunFolder) -> None:
        super().write_artifacts(run)
        if self.trace:
            self.trace.write(run.path / runfiles.TRACE)
