"""A traced run's trace.json as Chrome and Perfetto read it: spans on one thread never overlap, and a chip's
spans add up to its busy time (utilization x time), also where contention stretches the work, where a chip of
several units sends frames, where replica groups synchronize, and on packet-switched links, where messages
share a link (each on a lane of its own, named as the link); and a timeline draws each span as the work it is."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from timeline_kit import TRACE_NS, check_lanes

from ampsim.cli import main
from ampsim.trace import LINK_PID, chip_pid

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "train.epochs=1", "--set", "data.n_train=128", "--set", "data.n_test=32", "--no-progress", "--trace"]
CASES = {
    # the calibrated machine as it is: two cores shared with the controller, and contention between them
    "contention": ["--hardware", str(ROOT / "hardware_models" / "local_cpu.toml"), "--set",
                   'placement.strategy="round_robin"', "--set", "train.mak=8"],
    # frames sent by chips of two units: each frame's send on the unit that sent it (the roofline: a chip with a
    # compute table has one unit)
    "framed-units": ["--hardware", str(ROOT / "hardware_models" / "local_cpu.toml"), "--set",
                     "hardware.chip.compute_units=2", "--set", "hardware.chip.compute_table=[]", "--set",
                     "hardware.chip.contention_slowdown=0", "--set",
                     "hardware.host.cores=0", "--set", "train.mak=8"],
    # 256-byte packets: messages share a link's bandwidth (the list reduction's, placed by min-cut, do)
    "packets": ["--hardware", str(ROOT / "hardware_models" / "mesh4x4.toml"), "--set",
                'placement.strategy="min_cut"'],
    # two replica groups averaging after every update: the all-reduce's adds and applies on the chips
    "replicas": ["--hardware", str(ROOT / "hardware_models" / "ring4.toml"), "--set", "replicas.groups=2", "--set",
                 "train.mak=4"],
}
EXPERIMENT = {"packets": "list_reduction"}
UNITS = {"framed-units": 2}


def _spans(run: Path) -> tuple[dict, dict, dict]:
    trace = json.loads((run / "trace.json").read_text())["traceEvents"]
    lanes: dict[tuple, list] = defaultdict(list)
    for e in trace:
        if e["ph"] == "X":
            lanes[(e["pid"], e["tid"])].append((e["ts"], e["dur"]))
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace if e["ph"] == "M" and e["name"] == "thread_name"}
    return lanes, names, json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_spans_on_one_thread_never_overlap_and_add_up_to_each_chips_busy_time(case, tmp_path):
    run = tmp_path / case
    experiment = ROOT / "experiments" / f"{EXPERIMENT.get(case, 'blobs_mlp')}.toml"
    assert main(["train", str(experiment), *SMALL, *CASES[case], "--out", str(run)]) == 0
    lanes, names, summary = _spans(run)
    # exactly, in nanoseconds as Perfetto reads them (rounded apart, back-to-back spans overlapped by 1 ns, and a
    # float tolerance here let it pass)
    check_lanes(lanes)
    busy, count = defaultdict(float), defaultdict(int)
    for (pid, _), spans in lanes.items():
        if pid != LINK_PID:
            busy[pid] += sum(d for _, d in spans) / 1e6
            count[pid] += len(spans)
    time_s = summary["time_s"]
    for chip, u in enumerate(summary["chip_utilization"]):
        units = UNITS.get(case, 1)  # (a chip's utilization is per unit)
        # a span's start and end are each rounded to the nanosecond, so its duration is within 1 ns of the time
        # the chip was busy with it, and their sum within as many nanoseconds as there are spans
        slack = count[chip_pid(chip)] * TRACE_NS
        assert busy[chip_pid(chip)] == pytest.approx(u * time_s * units, rel=1e-9, abs=slack), f"{case}: chip {chip}"
    link_names = [names[(LINK_PID, t)] for p, t in lanes if p == LINK_PID]  # every lane named as its link
    if case == "packets":  # messages shared a link: lanes beyond the link's own, under its name
        assert len(link_names) > len(set(link_names)) and set(link_names) <= set(summary["link_utilization"])


@pytest.mark.parametrize("case", CASES)
def test_every_process_and_thread_id_is_at_least_1_and_a_timeline_still_names_chips_from_0(case, tmp_path):
    """Chip i was process i and unit, link and controller thread ids counted from 0: Perfetto reads pid 0 as the
    kernel's idle task and handles it apart (google/perfetto#394: start synthesized traces at 1). A chip's row in a
    timeline is still ``chip <index>``, as its process is named."""
    from ampsim.figures.trace import load_trace

    run = tmp_path / case
    experiment = ROOT / "experiments" / f"{EXPERIMENT.get(case, 'blobs_mlp')}.toml"
    assert main(["train", str(experiment), *SMALL, *CASES[case], "--out", str(run)]) == 0
    events = json.loads((run / "trace.json").read_text())["traceEvents"]
    assert all(e["pid"] >= 1 and e.get("tid", 1) >= 1 for e in events), case
    assert {e["ph"] for e in events} == {"M", "X", "i"}
    summary = json.loads((run / "summary.json").read_text())
    busy = {f"chip {c}" for c, u in enumerate(summary["chip_utilization"]) if u > 0}
    assert {row for row, *_ in load_trace(run / "trace.json")[0] if not row.startswith("link")} == busy


@pytest.mark.parametrize("case, kind", [("replicas", "sync"), ("contention", "send")])
def test_a_timeline_draws_synchronizations_and_frame_sends_as_what_they_are(case, kind, tmp_path):
    """The timeline (``plot --timeline``, a sweep's ``timeline`` figure) took a chip span's kind from the last
    word of its label and drew every label but a node step's as a forward step: a replica group's all-reduce
    jobs ("fc0 add", "fc0 sync") and a chip's frame sends ("send 2 frame(s)") were forward work, so a simulated
    run of a measured machine showed more forward work beside the measured run's timeline than it did."""
    from ampsim.figures.trace import load_trace

    run = tmp_path / case
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), *SMALL, *CASES[case], "--out", str(run)]) == 0
    spans, _, _ = load_trace(run / "trace.json")
    events = [e for e in json.loads((run / "trace.json").read_text())["traceEvents"]
              if e["ph"] == "X" and e["pid"] != LINK_PID]
    for phase in ("fwd", "bwd", "update"):  # a node step's spans, and only they, drawn as its phase
        assert sum(s[1] == phase for s in spans) == sum(e["name"].endswith(f" {phase}") for e in events), phase
    assert sum(s[1] == kind for s in spans) == len(events) - sum(
        e["name"].rsplit(" ", 1)[-1] in ("fwd", "bwd", "update") for e in events) > 0
