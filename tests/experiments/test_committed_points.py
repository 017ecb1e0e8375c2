"""Committed sweep points re-run bit for bit: the cheapest finished point of several committed sweeps
(results/sweeps/<sweep>/<point id>/) is trained again from its sweep file, and its summary, metrics,
placement and trace must equal the committed files byte for byte. A change that moves any simulated
number (or a point's id) fails here; one that is meant to must re-run the sweeps it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ampsim.sweeps.run import point_tasks, run_point
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
#: sweeps whose cheapest point takes seconds; together they cover the simulator on MNIST, list reduction
#: and SST, round-robin/greedy/min-cut placement, several topologies and traces, and the replay
#: (``executor.numerics = false``) on whole-message links and on busy packet-switched ones
SWEEPS = ["mak_mnist", "mak_list_reduction", "mak_sst", "placement_mnist", "scaling_topology", "trace_mnist",
          "whatif_sst_links", "packets_sst", "whatif_sst_hypercube"]
#: the points a sweep's case picks from (swept key: value), where not every point. The hypercube's is the
#: point whose 100 MB/s links make one link's completion deliver many messages at once (the compiled loop
#: once wrote past its event heap there)
WHERE = {"packets_sst": {"hardware.link.packet_bytes": 256, "hardware.link.bandwidth_bytes_per_s": 1e9},
         "whatif_sst_hypercube": {"hardware.link.bandwidth_bytes_per_s": 1e8, "hardware.link.latency_s": 1e-5,
                                  "hardware.topology": {"dim": 5, "kind": "hypercube"}}}
COMPARED = ["summary.json", "metrics.csv", "placement.json", "trace.json"]


def cheapest_point(folder: Path, where: dict | None = None) -> str:
    """The id of the point of a committed sweep folder that took the least wall time, among those whose
    swept values include ``where``."""
    def wall(p: Path) -> float:
        return sum(e["wall_s"] for e in json.loads((p / "timing.json").read_text())["wall_s_per_epoch"])

    def wanted(p: Path) -> bool:
        values = json.loads((p / "point.json").read_text())["values"] if (p / "timing.json").is_file() else None
        return values is not None and all(values[k] == v for k, v in (where or {}).items())

    return min((p for p in folder.iterdir() if wanted(p)), key=wall).name


@pytest.mark.data
@pytest.mark.parametrize("name", SWEEPS)
def test_the_cheapest_committed_point_reruns_bit_for_bit(name, data_root, monkeypatch, tmp_path):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))  # a replay records afresh
    committed = ROOT / "results" / "sweeps" / name
    pid = cheapest_point(committed, WHERE.get(name))
    sweep = load_sweep(ROOT / "experiments" / "sweeps" / f"{name}.toml")
    (task,) = [t for t in point_tasks(sweep, tmp_path) if t.point_id == pid]  # the point id is unchanged too
    run_point(task)
    compared = 0
    for file in COMPARED:
        if (committed / pid / file).is_file():
            assert (tmp_path / pid / file).read_bytes() == (committed / pid / file).read_bytes(), file
            compared += 1
    assert compared >= 3
