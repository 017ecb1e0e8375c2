"""ampsim calibrate and ampsim compare: valid models, fits that recover known rates, the compare table."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from mc_helpers import ROOT

from ampsim.calib_workloads import fit as fit_workloads
from ampsim.calibrate import sidecar
from ampsim.cli import main as cli_main
from ampsim.compare import COLUMNS, format_table, parse_configs, run_compare, shared_machine_slowdown
from ampsim.hardware.spec import load_system
from ampsim.microbench import fit_roofline


def _time(f, b, F=5e10, B=2e10, o=5e-6):
    return max(f / F, b / B) + o


def test_roofline_fit_recovers_known_rates():
    rng = np.random.default_rng(0)
    samples = [{"flops": f, "bytes": b, "seconds": _time(f, b)}
               for f, b in zip(10 ** rng.uniform(3, 8, 40), 10 ** rng.uniform(3, 7, 40))]
    got = fit_roofline(samples)
    assert got["median_rel_error"] < 0.1
    assert 0.7 < got["flops_per_s"] / 5e10 < 1.4 and 0.7 < got["mem_bandwidth_bytes_per_s"] / 2e10 < 1.4


def test_workload_fit_matches_workload_times():
    rng = np.random.default_rng(1)
    loads = []
    for name in ("a", "b", "c"):
        items = np.stack([10 ** rng.uniform(3, 7, 30), 10 ** rng.uniform(3, 6, 30)], axis=1)
        counts = rng.integers(1, 20, 30).astype(float)
        t = sum(c * _time(f, b) for (f, b), c in zip(items, counts))
        loads.append({"name": name, "items": items.tolist(), "counts": counts.tolist(), "seconds_per_instance": t})
    got = fit_workloads(loads, [], reg=0.0)
    assert all(abs(e) < 0.1 for e in got["workload_errors"].values())


def test_shared_machine_slowdown_and_configs():
    assert shared_machine_slowdown(1.0, 1.0) == 1.0  # workers take turns: a one-core cap costs nothing
    assert shared_machine_slowdown(1.8, 1.0) == pytest.approx(1.8)
    assert shared_machine_slowdown(1.8, 2.0) == 1.0
    assert shared_machine_slowdown(0.5, 0.5) == pytest.approx(2.0)
    cfgs = parse_configs("workers=1,mak=1; mak=4 ;placement.map={x=0,\"*\"=1},mak=2")
    assert [c[0] for c in cfgs][:2] == ["workers=1,mak=1", "mak=4"]
    assert cfgs[0][1] == [("executor.workers", 1), ("train.mak", 1)]
    assert cfgs[2][1][0][0] == "placement.map" and cfgs[2][1][1] == ("train.mak", 2)


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw") / "local_cpu.toml"
    assert cli_main(["calibrate", "--quick", "--workers", "2", "--out", str(out)]) == 0
    return out


def test_calibrate_writes_a_valid_measured_model(quick_model):
    system = load_system(quick_model)
    assert system.measured and system.n_chips == 2 and system.topology.kind == "fully_connected"
    c = system.chip_default
    assert 1e8 < c.flops_per_s < 1e13 and 1e8 < c.mem_bandwidth_bytes_per_s < 1e13 and 0 < c.overhead_s < 1e-3
    assert 0 < system.link.latency_s < 1e-2 and system.link.bandwidth_bytes_per_s > 1e6
    text = quick_model.read_text()
    assert "GEMM rates" in text and "Workloads on one multicore worker" in text
    raw = json.loads(sidecar(quick_model).read_text())
    assert raw["remote"]["extra_cpu_per_remote_message_s"] >= 0 and raw["remote"]["extra_cpu_per_remote_byte_s"] >= 0
    # the cross-worker message CPU is a chip field of the model (charged by the simulator to the sender)
    assert c.remote_send_overhead_s == pytest.approx(raw["remote"]["extra_cpu_per_remote_message_s"], rel=1e-3)
    assert c.remote_send_s_per_byte == pytest.approx(raw["remote"]["extra_cpu_per_remote_byte_s"], rel=1e-3)


def test_compare_writes_table_csv_and_figure(quick_model, tmp_path):
    rows, agreement = run_compare(ROOT / "experiments" / "blobs_mlp.toml",
                                  [("train.max_instances", 40), ("eval.limit", 50)],
                                  "workers=1,mak=1;workers=2,mak=4", workers=2, hardware=quick_model, out=tmp_path)
    assert [r["config"] for r in rows] == ["workers=1,mak=1", "workers=2,mak=4"]
    for r in rows:
        assert r["measured_throughput"] > 0 and r["simulated_throughput"] > 0
        assert np.isfinite(r["throughput_error_pct"]) and r["instances"] == 40 and r["dedicated_throughput"] > 0
        assert 0 < r["cores"] <= 2.5 and r["slowdown"] > 0 and r["speed"] > 0
    assert -1.0 <= agreement["kendall_tau"] <= 1.0
    with open(tmp_path / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == COLUMNS and len(table) == 2
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "workers=2_mak=4" / "sim" / "summary.json").is_file()
    assert "ranking:" in format_table(rows, agreement)
