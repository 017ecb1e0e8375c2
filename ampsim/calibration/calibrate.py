"""``ampsim calibrate``: measure this machine and write a hardware model of it.

The model describes the *multicore executor on this machine*: one chip per worker process (one per core
by default), fully connected by the executor's socket-pair channels. What is measured (see
:mod:`ampsim.calibration.microbench` and :mod:`ampsim.calibration.workloads`) and where each number goes:

========================  ==================================================================================
chip.flops_per_s          } fitted so that the simulator reproduces three small workloads (MLP, LSTM and
chip.mem_bandwidth_...    } Tree-LSTM shapes) run by a real one-worker multicore executor: the time per
chip.overhead_s           } instance, and how it splits among the workloads' node calls (each call timed);
chip.kernel_overhead_s    } o therefore includes the worker loop, admission and the controller round trip
chip.compute_table        per distinct work of the workloads' node calls: the measured call time plus the
                          worker loop's share per message (:mod:`ampsim.calibration.profile`); the four
                          numbers above remain the roofline between and beyond its rows
chip.contention_slowdown  how much slower two workers run while both are busy: fitted with the cost per
                          wake-up to the busy time the workloads on two workers take beyond one worker and
                          their transport (:func:`ampsim.calibration.transport.split_rest`); the node calls
                          alone vs beside a sibling process are recorded for comparison
chip.memory_bytes         physical memory / workers
chip.frame_*, remote_*,   what crossing between two workers costs, per frame, per message and per byte,
chip.coalesce_window_s,   and the idle gap per frame: fitted to the workers' own transport timers over
link.latency_s            chains of nodes alternating between two workers (:mod:`ampsim.calibration.transport`)
link.bandwidth_bytes...   the idle time per byte of that chain with 8 kB payloads
                          (:func:`ampsim.calibration.transport.link_bandwidth`);
                          4 MB messages between two processes (end to end) are recorded as a comment
host.cores                the cores this process may use, which the workers and the controller share
host.controller_s_...     the controller's CPU time in those runs, per instance and per message
                          (:func:`ampsim.calibration.transport.fit_controller`)
========================  ==================================================================================

Recorded as comments (and in ``<out>.calibration.json``, which ``ampsim compare`` reads): GEMM FLOP/s by
shape, copy bandwidth by working-set size, isolated node-step times and a roofline fitted to them alone,
the worker loop's cost per trivial message, the round trip of a small message and the transport fit's
parts, and the node-level error of the model with and without its table over every node call of the
workloads, against a held-out pass (:func:`ampsim.calibration.profile.node_errors`; ``ampsim calibrate``
prints it too). A single GEMM rate is not used as the chip's FLOP rate: numpy's per-call overheads and its
unfused optimizer updates (which move ~10x the bytes their nodes report) would make it predict badly. The
whole calibration takes about 90 s.

The model's ``system.description`` names this machine (:func:`machine_description`);
:func:`ampsim.calibration.thismachine.model_of_this_machine` uses it to refuse a model calibrated elsewhere
(``ampsim compare``). Who calibrates, one at a time, into which model: :mod:`ampsim.calibration.thismachine`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import platform
import time
from pathlib import Path

from ampsim.calibration.targets import sidecar
from ampsim.environment import cpu_model
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.spec import ChipSpec, ComputeCost, SystemSpec

__all__ = ["TRANSPORT_FIELDS", "calibrate", "machine_description", "write_model"]

log = logging.getLogger(__name__)

#: the chip fields that :mod:`ampsim.calibration.transport` measures
TRANSPORT_FIELDS = ("remote_send_overhead_s", "remote_send_s_per_byte", "remote_receive_overhead_s",
                    "frame_send_overhead_s", "frame_receive_overhead_s", "coalesce_window_s", "wake_overhead_s",
                    "spin_s", "poll_interval_s", "contention_slowdown")


def machine_description() -> str:
    """CPU model, cores, memory, Python/numpy versions."""
    import numpy as np

    cpu = cpu_model() or "unknown CPU"
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {_mem_bytes() / 2**30:.1f} GiB; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, numpy {np.__version__}")


def _mem_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemTotal:"):
                    return int(ln.split()[1]) * 1024
    except OSError:  # pragma: no cover
        pass
    return 16 << 30


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:  # pragma: no cover
        return "?"


def calibrate(workers: int | None = None, quick: bool = False) -> tuple[dict, dict]:
    """Run the measurements; return (hardware-model dict, raw measurements). ``quick`` measures about
    five times less (~3 s), for tests and smoke runs; its numbers are noisier."""
    from ampsim.calibration import microbench as mb
    from ampsim.calibration import profile as cp
    from ampsim.calibration import workloads as cw
    from ampsim.calibration.selfcheck import self_check
    from ampsim.calibration.transport import calibrate_transport, link_bandwidth
    from ampsim.executors.multicore.procs import limit_blas_threads
    from ampsim.hardware.local import default_workers

    limit_blas_threads()  # the workers' configuration
    n = workers or default_workers()
    t0 = time.perf_counter()
    load_before = _load()
    q = 0.2 if quick else 1.0
    # the speed index at the start, before the transport runs and at the end: the chip rates are fitted in
    # the first part, the transport costs in the second; on a drifting host both must be covered
    speeds = [cw.speed_index()]
    raw: dict = {"matmul": mb.matmul_rates(min_time_s=0.02 * q), "copy": mb.copy_bandwidth(min_time_s=0.02 * q)}
    raw["steps"] = mb.node_step_samples(seconds_per_op=0.15 * q)
    raw["steps_fit"] = mb.fit_roofline(raw["steps"])
    raw["workloads"] = [cw.measure_workload(name, repeat=1 if quick else 5, scale=q) for name in cw.WORKLOADS]
    raw["fit"] = fit = cw.fit(raw["workloads"])
    raw["profile"] = profiles = cp.profile_workloads(raw["workloads"], q)
    table = cp.build_table(profiles)
    roofline = ChipSpec(_round(fit["flops_per_s"]), _round(fit["mem_bandwidth_bytes_per_s"]), _round(fit["overhead_s"]),
                        1, _mem_bytes() // n, kernel_overhead_s=_round(fit["kernel_overhead_s"]))
    chip = dataclasses.replace(roofline, compute_table=tuple(ComputeCost.from_row(row) for row in table))
    raw["node_errors"] = {"table": cp.node_errors(chip, profiles), "roofline": cp.node_errors(roofline, profiles),
                          "leave_one_out": cp.leave_one_out(roofline, table, profiles)}
    if warning := cp.noise_warning(raw["node_errors"]["table"]):
        log.warning("%s", warning)
    raw["contention"] = cp.contention(q, rounds=1 if quick else 2)
    speeds.append(cw.speed_index())
    raw["dispatch"] = mb.dispatch_overhead_s(int(4000 * q))
    raw["transport"] = mb.transport(1.0 * q)
    raw["remote"] = remote = calibrate_transport(chip, q)
    speeds.append(cw.speed_index())
    raw["speed_samples_s"] = [s["all"] for s in speeds]
    raw["speed_index_s"] = sum(raw["speed_samples_s"]) / len(speeds)
    raw["speed_by_workload_s"] = {k: sum(s[k] for s in speeds) / len(speeds) for k in cw.WORKLOADS}
    raw["speed_drift"] = speeds[-1]["all"] / speeds[0]["all"] - 1.0
    warning = cp.speed_drift_warning(raw["speed_drift"])
    if warning:
        log.warning("%s", warning)
    raw["quick"] = quick
    raw["workers"] = n
    raw["seconds"] = time.perf_counter() - t0
    raw["load"] = f"{load_before} -> {_load()}"
    today = datetime.date.today().isoformat()
    desc = machine_description()
    model = {
        "system": {
            "name": "local_cpu",
            "description": f"this machine as {n} multicore-executor workers (one process per core): {desc}",
            "source": (f"measured by `ampsim calibrate` on {today} (load average {raw['load']}); "
                       "chip rates fitted to one-worker multicore runs of MLP, LSTM and Tree-LSTM workloads, "
                       "links are the executor's Unix socket pairs; see the comments below"),
            "measured": True,
            "switching": "store_and_forward",
        },
        "chip": {
            "flops_per_s": _round(fit["flops_per_s"]),
            "mem_bandwidth_bytes_per_s": _round(fit["mem_bandwidth_bytes_per_s"]),
            "overhead_s": _round(fit["overhead_s"]),
            "kernel_overhead_s": _round(fit["kernel_overhead_s"]),
            "compute_units": 1,
            "memory_bytes": int(_mem_bytes() // n),
            **{k: _round(remote[k]) for k in TRANSPORT_FIELDS},
            "compute_table": table,
        },
        "link": {"latency_s": _round(remote["latency_s"]),
                 "bandwidth_bytes_per_s": _round(link_bandwidth(remote["link_s_per_byte"], raw["copy"]))},
        "host": {"cores": default_workers(),
                 **{k: _round(v) for k, v in remote["controller"].items()}},
        "topology": {"kind": "fully_connected", "n": n},
    }
    system = system_from_dict(model, "<calibration>")  # validate before anyone writes it
    raw["self_check"] = self_check(system, remote["runs"], q)
    log.info("calibration took %.1f s", raw["seconds"])
    return model, raw


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def to_toml(model: dict, raw: dict) -> str:
    """The hardware model as TOML, with the raw measurements as comments."""
    lines = ["# Written by `ampsim calibrate` (measured = true). Re-run it to refresh; numbers drift with load.",
             f"# Calibration took {raw['seconds']:.1f} s; load average {raw['load']}.",
             "#",
             "# GEMM rates, float32, single-threaded BLAS (rows x inner x cols: GFLOP/s):"]
    lines += [f"#   {m['m']}x{m['k']}x{m['n']}: {m['flops_per_s'] / 1e9:.1f}" for m in raw["matmul"]]
    lines.append("# Copy bandwidth by working set (bytes moved: GB/s):")
    lines += [f"#   {c['bytes'] >> 10} KiB: {c['bytes_per_s'] / 1e9:.1f}" for c in raw["copy"]]
    fit, sfit = raw["fit"], raw["steps_fit"]
    lines.append("# Workloads on one multicore worker, mak = 1 (ms per instance on a core of its own: "
                 "measured / this model; "
                 "reference executor; share of a core the worker got):")
    from ampsim.calibration.workloads import predict, rates

    for w in raw["workloads"]:
        pred = predict(w, *rates(fit))
        lines.append(f"#   {w['name']} ({w['messages_per_instance']:.0f} messages): "
                     f"{w['seconds_per_instance'] * 1e3:.3f} / "
                     f"{pred * 1e3:.3f}; {w['reference_seconds_per_instance'] * 1e3:.3f}; {w['core_share']:.2f}")
    lines.append("# Node steps in isolation (median us measured / predicted by this model's roofline):")
    for s in raw["steps"]:
        pred = (max(s["flops"] / fit["flops_per_s"], s["bytes"] / fit["mem_bandwidth_bytes_per_s"]) + fit["overhead_s"]
                + fit["kernel_overhead_s"] * s["kernels"])
        lines.append(f"#   {s['op']}: {s['seconds'] * 1e6:.1f} / {pred * 1e6:.1f}")
    lines.append(f"# A roofline fitted to the node steps alone: {sfit['flops_per_s'] / 1e9:.1f} GFLOP/s, "
                 f"{sfit['mem_bandwidth_bytes_per_s'] / 1e9:.2f} GB/s, {sfit['overhead_s'] * 1e6:.2f} us "
                 f"(median error {sfit['median_rel_error']:.0%}, worst {sfit['max_rel_error']:.0%}).")
    d = raw["dispatch"]
    lines.append(f"# Worker loop: {d['per_message_s'] * 1e6:.2f} us per trivial message in a worker vs "
                 f"{d['reference_per_message_s'] * 1e6:.2f} us in the reference loop.")
    t = raw["transport"]
    lines.append(f"# Transport: {t['round_trips']} round trips of a small message, "
                 f"one-way {t['latency_s'] * 1e6:.1f} us "
                 f"(busy and idle time together); {t['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s with 4 MB messages.")
    samples = ", ".join(f"{v * 1e3:.0f}" for v in raw.get("speed_samples_s", []))
    drift = f" (mean of {samples} ms at the start, middle and end)" if samples else ""
    alone = "; ".join(f"{k} {v * 1e3:.1f}" for k, v in raw.get("speed_by_workload_s", {}).items())
    alone = f"; each alone: {alone} ms" if alone else ""
    lines.append("# Speed index (reference executor, 12 instances of each workload): "
                 f"{raw['speed_index_s'] * 1e3:.1f} ms{drift}{alone} "
                 "(ampsim compare re-measures the one of its experiment's family and follows drift).")
    r = raw["remote"]["parts"]
    lines.append("# Crossing between workers (the workloads and chains on two workers): per frame "
                 f"{r['frame_send_s'] * 1e6:.1f} us to send, {r['frame_receive_s'] * 1e6:.1f} us to receive; "
                 f"{r['wake_s'] * 1e6:.1f} us per wake-up from sleep; per message {r['message_send_s'] * 1e6:.2f} + "
                 f"{r['message_receive_s'] * 1e6:.2f} us, per byte {r['byte_send_s'] * 1e9:.2f} + "
                 f"{r['byte_receive_s'] * 1e9:.2f} ns (sender + receiver); idle gap per frame "
                 f"{raw['remote']['latency_s'] * 1e6:.1f} us (link.latency_s); while both workers are busy, "
                 f"{raw['remote'].get('contention_slowdown', 0.0):.1%} slower (chip.contention_slowdown).")
    if "controller" in raw["remote"]:
        c = raw["remote"]["controller"]
        lines.append("# The controller's CPU time in the same runs (on one worker and on two): "
                     f"{c['controller_s_per_instance'] * 1e6:.1f} us per instance + "
                     f"{c['controller_s_per_message'] * 1e6:.2f} us per message ([host]); the workers and the "
                     "controller share host.cores.")
    if raw.get("self_check"):
        from ampsim.calibration.selfcheck import self_check_line

        lines.append("# " + self_check_line(raw["self_check"]))
    lines += _profile_comments(raw)
    lines.append("")
    for section in (s for s in ("system", "chip", "link", "host", "topology") if s in model):
        lines.append(f"[{section}]")
        for k, v in model[section].items():
            if k == "compute_table":  # one row per line: flops, bytes, kernels, seconds, label
                lines.append(f"{k} = [")
                lines += [f"  {{{', '.join(f'{f} = {_value(x)}' for f, x in row.items())}}}," for row in v]
                lines.append("]")
            else:
                lines.append(f"{k} = {_value(v)}")
        lines.append("")
    return "\n".join(lines)


def _profile_comments(raw: dict) -> list[str]:
    """The comment lines on the compute table and contention (:mod:`ampsim.calibration.profile`)."""
    if "node_errors" not in raw:  # measurements written before the table existed
        return []
    ne = raw["node_errors"]
    t, r, loo = ne["table"], ne["roofline"], ne["leave_one_out"]
    lines = [f"# Node-level error over every node call of the workloads ({t['works']} distinct works, {t['calls']} "
             "calls; per-message time predicted vs measured in a held-out pass, call + worker-loop share):",
             f"#   with compute_table: median {t['median']:.1%}, 90th percentile {t['p90']:.1%}, worst {t['max']:.0%} "
             f"(weighted by calls: median {t['median_per_call']:.1%}, 90th percentile {t['p90_per_call']:.1%})",
             f"#   roofline alone:     median {r['median']:.1%}, 90th percentile {r['p90']:.1%}, worst {r['max']:.0%} "
             f"(weighted by calls: median {r['median_per_call']:.1%}, 90th percentile {r['p90_per_call']:.1%})",
             f"#   each row left out in turn (interpolated from the others): median {loo['median']:.1%}, "
             f"90th percentile {loo['p90']:.1%} (weighted by calls: {loo['median_per_call']:.1%}, "
             f"{loo['p90_per_call']:.1%})",
             "#   worst with compute_table (us measured / predicted):"]
    lines += [f"#     {w['label']}: {w['measured_s'] * 1e6:.1f} / {w['predicted_s'] * 1e6:.1f}" for w in t["worst"]]
    c = raw["contention"]
    parts = "; ".join(f"{name} {v['alone_s'] * 1e3:.0f} / {v['busy_s'] * 1e3:.0f}"
                      for name, v in c["workloads"].items())
    lines.append("# Contention measured apart, for comparison: the workloads' node calls alone / with the same "
                 f"workload in a sibling process on the other core (ms per pass): {parts}; {c['slowdown']:.1%} "
                 "slower in all")
    return lines


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def write_model(model: dict, raw: dict, out: str | Path) -> SystemSpec:
    """Write the TOML and its measurements (the sidecar) and return the model loaded back through the validator.

    The two are a pair (compare scales by the sidecar's speeds): both are written out in full to temporaries
    first and renamed in one after the other, so a full disk or a Ctrl-C while they are written leaves the old
    pair; written one after the other, it left the new model beside the old model's measurements."""
    from ampsim.hardware.parse import load_system
    from ampsim.outputs import replacing

    out = Path(out)
    slim = dict(raw, workloads=[{k: v for k, v in w.items() if k not in ("items", "counts", "item_seconds")}
                                for w in raw["workloads"]])
    slim.pop("profile", None)  # every call's times: in the model's compute_table and comments
    text, measurements = to_toml(model, raw), json.dumps(slim, indent=1) + "\n"
    with replacing(sidecar(out)) as side, replacing(out) as tmp:  # (renamed in as they close: the model first)
        side.write_text(measurements)
        tmp.write_text(text)
    return load_system(out)
