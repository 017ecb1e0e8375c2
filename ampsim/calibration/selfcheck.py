"""The fitted model against the very runs it was fitted to: the workloads on one worker and on two.

:mod:`.transport` fits the crossing costs, a cost per wake-up and a contention slowdown to the *busy time*
of the calibration workloads' two-worker runs. Busy time is not wall time: how much of the two workers'
work overlaps, and what waits on what, is the simulator's to get right. :func:`self_check` simulates each
of those runs (the same workload, instances, placement and mak) on the finished model, on one chip and on
two, and compares the simulated time with the measured wall time. ``ampsim calibrate`` writes the result
in the model's comment block, so a reader sees how far the model reproduces its own measurements before
``ampsim compare`` tries it on the experiments (where the same kinds of configuration show the same
errors).
"""

from __future__ import annotations

import copy
import logging

log = logging.getLogger(__name__)

__all__ = ["resized", "self_check", "self_check_line"]


def resized(raw: dict, n: int, source: str):
    """A measured machine's model (TOML-shaped ``raw``) as ``n`` chips, fully connected (a switch stays a
    switch), as ``ampsim compare`` and :func:`self_check` size it for their runs."""
    from ampsim.hardware.parse import system_from_dict

    raw = dict(raw)
    kind = raw.get("topology", {}).get("kind", "fully_connected")
    raw["topology"] = {"kind": kind if kind == "switch" and n >= 2 else "fully_connected", "n": n}
    raw.pop("chip_override", None)
    raw.pop("link_override", None)
    return system_from_dict(raw, f"{source} (resized to {n} chips)")


def _simulated(model, instances, system, placement: dict[str, int], mak: int) -> tuple[float, int]:
    """Simulated seconds and frames between chips of one pass over ``instances``, after a warm-up over the
    first five (as :func:`ampsim.calibration.transport._run` measures)."""
    from ampsim.executors.sim.executor import SimExecutor

    ex = SimExecutor(copy.deepcopy(model), system, placement, mak=mak)
    ex.train(instances[:5])
    t0, f0 = ex.now, ex.summary().get("network_frames", 0)
    ex.train(instances)
    return ex.now - t0, ex.summary().get("network_frames", 0) - f0


def self_check(system, runs: list[dict], scale: float = 1.0) -> list[dict]:
    """Per workload run of :func:`ampsim.calibration.transport.measure_workloads` (those that recorded their
    ``placement``): its name, mak, measured and simulated seconds on one worker and on two, and the frames
    the two workers sent each other, measured and simulated (how much they batched their messages)."""
    from ampsim.calibration.workloads import WORKLOADS

    one, two = (resized(system.to_dict(), n, system.name) for n in (1, 2))
    out = []
    built: dict[str, tuple] = {}
    for r in runs:
        if "placement" not in r or r["name"] not in WORKLOADS:
            continue
        if r["name"] not in built:
            build, n = WORKLOADS[r["name"]]
            built[r["name"]] = build(max(8, int(n * scale)))
        model, insts = built[r["name"]]
        split = r["placement"]
        two_s, frames = _simulated(model, insts, two, split, r["mak"])
        out.append({"name": r["name"], "mak": r["mak"],
                    "one_measured_s": r["local"]["wall_s"],
                    "one_simulated_s": _simulated(model, insts, one, dict.fromkeys(split, 0), r["mak"])[0],
                    "two_measured_s": r["remote"]["wall_s"], "two_simulated_s": two_s,
                    "two_measured_frames": sum(w[1] for w in r["remote"]["sent"]), "two_simulated_frames": frames})
    return out


def self_check_line(rows: list[dict]) -> str:
    """The line :func:`self_check`'s rows make (in the TOML's comment block and calibrate's output):
    throughput error (measured time / simulated - 1) per workload and mak, on one worker and on two, and the
    simulated frames against the measured ones.

    >>> line = self_check_line([{"name": "tree", "mak": 1, "one_measured_s": 0.9, "one_simulated_s": 0.9,
    ...                          "two_measured_s": 1.1, "two_simulated_s": 1.0,
    ...                          "two_measured_frames": 500, "two_simulated_frames": 600}])
    >>> line.split("): ")[1]
    'tree mak 1 +0.0%, +10.0% (frames +20%)'
    """
    parts = [f"{r['name']} mak {r['mak']} {r['one_measured_s'] / r['one_simulated_s'] - 1:+.1%}, "
             f"{r['two_measured_s'] / r['two_simulated_s'] - 1:+.1%} "
             f"(frames {r['two_simulated_frames'] / max(r['two_measured_frames'], 1) - 1:+.0%})" for r in rows]
    head = ("The model on these runs (simulated throughput / measured - 1; one worker, two workers; frames "
            "between the two): ")
    return head + "; ".join(parts)
