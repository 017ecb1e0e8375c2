"""Profiled compute costs and contention apart, for ``ampsim calibrate``: the chip's ``compute_table`` (read by
the simulator: :mod:`ampsim.hardware.cost`) and the node calls' slowdown beside a sibling process.

**The table.** Every node call of the three calibration workloads (:mod:`ampsim.calibration.workloads`)
is timed in passes over the same instances (:func:`profile_workloads`). A row per distinct work
``(flops, bytes, kernels)``: its ``seconds`` are the median over the *table passes* of the mean call time
in each (a pass that another job interrupted does not count) plus the workload's worker-loop share per
message (the one-worker multicore time per instance not spent in the table passes' node calls, spread
over its messages), so a workload made only of rows is simulated at exactly its measured time, even when
the machine's speed changed between the two measurements. A work met in several workloads gets their
call-weighted mean. Works met fewer than ``min_calls`` times are left out (:func:`build_table`; calibrate
keeps them all): the simulator interpolates them between the rows.

**Node-level error** (:func:`node_errors`). Measured against a *held-out* pass (timed after the table
passes, not used by them): for every distinct work, ``|predicted / measured - 1|`` with measured = the
held-out mean call time + the loop share, predicted = the chip's :func:`~ampsim.hardware.cost.compute_time_s`
with the table and, for comparison, with the roofline alone. Quantiles over the distinct works
(each kind of call counts once) and over calls (weighted by how often each occurs).

**Contention** (:func:`contention`). The same passes, timed alone and while another process runs the same
workload on the other core, alternating (alone, busy, alone, busy) so a drifting machine affects both, in
CPU time (other jobs that take turns on the cores are not contention; slower work on a core is): total
busy time / total alone time - 1 over the three workloads, at least 0. Recorded for comparison: the chip's
``contention_slowdown`` is fitted where it shows, in the workloads' two-worker runs
(:func:`ampsim.calibration.transport.split_rest`), whose workers run more than node calls beside each other.
"""

from __future__ import annotations

import logging
import time

import numpy as np

__all__ = ["build_table", "contention", "leave_one_out", "node_errors", "noise_warning", "profile_workloads",
           "speed_drift_warning"]

log = logging.getLogger(__name__)

#: table passes (their median makes the rows) before the held-out pass
TABLE_PASSES = 3


def _build(name: str, scale: float):
    from ampsim.calibration.workloads import WORKLOADS

    build, n = WORKLOADS[name]
    return build(max(8, int(n * scale)))


def profile_workloads(workloads: list[dict], scale: float = 1.0) -> list[dict]:
    """Per measured workload (records of :func:`ampsim.calibration.workloads.measure_workload`): its works,
    labels, calls per pass, mean call seconds over the table passes and in the held-out pass, and its loop
    share per message."""
    from ampsim.calibration.workloads import work_items

    out = []
    for w in workloads:
        model, insts = _build(w["name"], scale)
        passes = [work_items(model, insts, labels=True) for _ in range(TABLE_PASSES + 1)]
        items, counts, _, labels = passes[0]
        for other in passes[1:]:  # the same instances: the same works, in np.unique's order
            assert np.array_equal(other[0], items) and np.array_equal(other[1], counts)
        per_call = [p[2] / counts for p in passes]
        table_s = np.median(per_call[:TABLE_PASSES], axis=0)
        messages = float(np.sum(w["counts"]))
        # the rest of the measured time per instance beyond the table passes' own calls (not the calls
        # timed with the workload): a host whose speed changed between the two measurements (memory-bound
        # calls by 20-40 % within minutes on a shared VM) still gets rows that add up to the workload
        calls_s = float(table_s @ counts) / w["instances"]
        loop = max(w["seconds_per_instance"] - calls_s, 0.0) / messages
        out.append({"name": w["name"], "items": items.tolist(), "labels": labels.tolist(),
                    "calls": counts.tolist(), "table_s": table_s.tolist(),
                    "held_out_s": per_call[-1].tolist(), "loop_s": loop})
    return out


def build_table(profiles: list[dict], min_calls: int = 1) -> list[dict]:
    """The ``compute_table`` rows (see the module docstring), sorted by kernels, then flops and bytes."""
    acc: dict[tuple, list] = {}  # work -> [calls, call-weighted seconds, label]
    for p in profiles:
        for work, calls, t, label in zip(p["items"], p["calls"], p["table_s"], p["labels"]):
            row = acc.setdefault(tuple(work), [0, 0.0, f"{p['name']}: {label}"])
            row[0] += calls
            row[1] += calls * (t + p["loop_s"])
    rows = []
    for (f, b, k), (calls, weighted, label) in sorted(acc.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        if calls >= min_calls and weighted > 0:
            rows.append({"flops": float(f), "bytes": float(b), "kernels": float(k),
                         "seconds": float(f"{weighted / calls:.4g}"), "label": label})
    return rows


def node_errors(chip, profiles: list[dict]) -> dict:
    """Relative errors of ``chip``'s per-message times against the held-out pass (module docstring):
    median, 90th percentile and worst over distinct works and over calls, and the worst works."""
    from ampsim.hardware.cost import compute_time_s

    err, weight, worst = [], [], []
    for p in profiles:
        for (f, b, k), calls, t, label in zip(p["items"], p["calls"], p["held_out_s"], p["labels"]):
            measured = t + p["loop_s"]
            predicted = compute_time_s(chip, f, b, k)
            e = abs(predicted / measured - 1.0)
            err.append(e)
            weight.append(calls)
            worst.append((e, f"{p['name']}: {label}", measured, predicted))
    worst.sort(key=lambda x: -x[0])
    return {**_quantiles(np.array(err), np.array(weight, float)),
            "worst": [{"label": lb, "error": float(x), "measured_s": m, "predicted_s": pr}
                      for x, lb, m, pr in worst[:5]]}


#: node-level error of the model with its table above which calibrate warns (median, 90th percentile)
NOISY_ERROR = (0.10, 0.25)


def noise_warning(errors: dict) -> str | None:
    """A warning when the model with its table misses the held-out pass by more than :data:`NOISY_ERROR`
    (``errors``: :func:`node_errors`'s): the table's rows come from the same calls, so on a quiet machine
    the passes agree to a few per cent; errors this large mean the machine's speed changed between passes.

    >>> noise_warning({"median": 0.029, "p90": 0.098}) is None
    True
    >>> noise_warning({"median": 0.121, "p90": 0.254})
    'node-level error median 12.1 %, 90th percentile 25.4 % between passes: the machine was noisy; calibrate when quiet'
    """
    if errors["median"] <= NOISY_ERROR[0] and errors["p90"] <= NOISY_ERROR[1]:
        return None
    return (f"node-level error median {errors['median'] * 100:.1f} %, 90th percentile {errors['p90'] * 100:.1f} % "
            "between passes: the machine was noisy; calibrate when quiet")


#: the machine's speed may drift this much during a calibration before calibrate warns
SPEED_DRIFT_WARN = 0.10


def speed_drift_warning(drift: float) -> str | None:
    """A warning when the speed index measured at the end of the calibration differs from the one at its start
    by more than :data:`SPEED_DRIFT_WARN` (``drift`` = end / start - 1): the machine's speed changed during the
    calibration (other jobs, or other virtual machines on the host), and the fitted costs mix the two speeds.

    >>> speed_drift_warning(0.195 / 0.190 - 1) is None
    True
    >>> speed_drift_warning(0.300 / 0.190 - 1)
    'the machine ran 58 % slower at the end of the calibration than at its start; calibrate when quiet'
    """
    if abs(drift) <= SPEED_DRIFT_WARN:
        return None
    return (f"the machine ran {abs(drift) * 100:.0f} % {'slower' if drift > 0 else 'faster'} at the end of the "
            "calibration than at its start; calibrate when quiet")


def leave_one_out(roofline, rows: list[dict], profiles: list[dict]) -> dict:
    """:func:`node_errors`' quantiles for the works that have a row, each predicted by a table without its
    own row (interpolated from the others): how well the table does on works it has not seen."""
    import dataclasses

    from ampsim.hardware.cost import compute_time_s
    from ampsim.hardware.spec import ComputeCost

    table = tuple(ComputeCost.from_row(r) for r in rows)
    predicted = {}
    for i, r in enumerate(table):
        chip = dataclasses.replace(roofline, compute_table=table[:i] + table[i + 1:])
        predicted[(r.flops, r.bytes, r.kernels)] = compute_time_s(chip, r.flops, r.bytes, r.kernels)
    err, weight = [], []
    for p in profiles:
        for work, calls, t in zip(p["items"], p["calls"], p["held_out_s"]):
            got = predicted.get(tuple(work))
            if got is not None:
                err.append(abs(got / (t + p["loop_s"]) - 1.0))
                weight.append(calls)
    return _quantiles(np.array(err), np.array(weight, float))


def _quantiles(e: np.ndarray, wt: np.ndarray) -> dict:
    """Median, 90th percentile and worst of errors ``e``, over the entries and weighted by ``wt``."""
    order = np.argsort(e)
    cum = np.cumsum(wt[order]) / wt.sum()

    def weighted(q: float) -> float:
        return float(e[order][min(np.searchsorted(cum, q), len(e) - 1)])

    return {"works": len(e), "calls": int(wt.sum()), "median": float(np.median(e)), "p90": float(np.quantile(e, 0.9)),
            "max": float(e.max()), "median_per_call": weighted(0.5), "p90_per_call": weighted(0.9)}


def contention(scale: float = 1.0, rounds: int = 2) -> dict:
    """Seconds of the workloads' node calls alone and with another process running the same workload,
    per workload, and the slowdown (module docstring)."""
    from ampsim.calibration.workloads import WORKLOADS

    per: dict[str, dict] = {}
    for name in WORKLOADS:
        model, insts = _build(name, scale)
        alone = busy = 0.0
        for _ in range(rounds):
            alone += _cpu_seconds(model, insts)
            with _sibling(name, scale):
                busy += _cpu_seconds(model, insts)
        per[name] = {"alone_s": alone / rounds, "busy_s": busy / rounds}
    total_alone = sum(v["alone_s"] for v in per.values())
    total_busy = sum(v["busy_s"] for v in per.values())
    return {"workloads": per, "slowdown": max(total_busy / total_alone - 1.0, 0.0)}


def _cpu_seconds(model, insts) -> float:
    """CPU seconds of one pass of the workload's calls: CPU time, not wall time, so that other jobs
    taking turns on the cores do not count as contention (slower work while the other core is busy does)."""
    from ampsim.calibration.workloads import timed_calls

    t0 = time.process_time()
    timed_calls(model, insts)
    return time.process_time() - t0


class _sibling:
    """Context: another process runs workload ``name`` over and over until the block ends (started and
    through its first pass before the block begins)."""

    def __init__(self, name: str, scale: float) -> None:
        import multiprocessing as mp

        from ampsim.executors.multicore.procs import parent_pid_of_children, start_method

        ctx = mp.get_context(start_method())
        self.ready, self.stop = ctx.Event(), ctx.Event()
        parent = parent_pid_of_children()
        self.proc = ctx.Process(target=_run_sibling, args=(name, scale, self.ready, self.stop, parent), daemon=True)

    def __enter__(self) -> _sibling:
        from ampsim.executors.multicore.procs import start_process

        start_process(self.proc)
        if not self.ready.wait(120):
            self.__exit__()
            raise RuntimeError("contention sibling did not start within 120 s")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.proc.join(30)
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join()


def _run_sibling(name: str, scale: float, ready, stop, parent_pid: int) -> None:
    from ampsim.executors.multicore.procs import setup_worker_process

    setup_worker_process(parent_pid)  # it dies with the calibration (a killed one left it spinning, its lock held)
    from ampsim.calibration.workloads import timed_calls

    model, insts = _build(name, scale)
    timed_calls(model, insts[:8])
    ready.set()
    deadline = time.monotonic() + 600  # never outlive a calibration that died
    while not stop.is_set() and time.monotonic() < deadline:
        timed_calls(model, insts[:8])
