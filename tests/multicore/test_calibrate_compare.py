"""ampsim calibrate and ampsim compare: valid models, fits that recover known rates, the compare table."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from mc_helpers import ROOT

from ampsim.calibration.calibrate import TRANSPORT_FIELDS
from ampsim.calibration.compare import parse_configs, run_compare, run_folder, shared_machine_slowdown
from ampsim.calibration.microbench import fit_roofline
from ampsim.calibration.report import COLUMNS, format_table, ranking_agreement
from ampsim.calibration.rescore import resimulate
from ampsim.calibration.targets import sidecar
from ampsim.calibration.transport import fit as fit_transport
from ampsim.calibration.workloads import fit as fit_workloads
from ampsim.cli import main as cli_main
from ampsim.errors import ConfigError
from ampsim.executors.multicore.executor import SPIN_S
from ampsim.executors.multicore.spec import WorkerSpec
from ampsim.hardware.local import default_workers
from ampsim.hardware.parse import load_system


def _time(f, b, F=5e10, B=2e10, o=5e-6):
    return max(f / F, b / B) + o


def _transport_runs(link_s_per_byte: float = 0.0, controller_cpu_s: float = 0.0) -> list[dict]:
    """Synthetic two-worker runs built from known costs: 20 us / 10 us per frame sent / received, 6 us per
    wake-up from sleep, 1 + 1.5 us per message, 0.1 + 0.2 ns per byte, and an idle gap of 15 us per frame
    in the lone-frame chains (whose three runs are noisy: the median counts), plus ``link_s_per_byte`` of
    idle time per byte of a frame. With ``controller_cpu_s``, the runs at mak > 1 keep both workers busy
    for all but 10 ms and the controller's CPU, three processes on two cores, stretches their busy time by
    what it used in that time (and nothing else slows them: no contention)."""
    runs = []
    cases = [("chain1", 1, 1, 1, 0.0), ("chain1", 1, 1, 1, 40e-6), ("chain1", 1, 1, 1, -2e-6), ("chain1", 1, 4, 4, 0.0),
             ("chain2048", 2048, 1, 1, 0.0), ("chain2048", 2048, 16, 11, 0.0), ("tree", 300, 16, 6, 0.0)]
    for name, width, mak, per_frame, noise in cases:
        msgs, nbytes = 2000, 2000 * 4 * width
        frames = msgs // per_frame
        sleeps = frames // (1 + mak)  # fewer of the frames find the receiver asleep as mak grows
        sent = [20e-6 * frames + 1e-6 * msgs + 0.1e-9 * nbytes, frames, msgs, nbytes]
        recv = [10e-6 * frames + 1.5e-6 * msgs + 0.2e-9 * nbytes, frames, msgs, nbytes]
        local = 5e-6 * 2 * msgs
        busy = local / 2 + sent[0] + recv[0] + 6e-6 * sleeps
        idle = (15e-6 + noise + link_s_per_byte * nbytes / frames) * 2 * frames if mak == 1 else 0.0
        wall = 2 * busy + 0.01 + idle
        if controller_cpu_s and mak > 1:  # busy = b0 + c (2 busy - wall) / (2 wall), wall = b0 + 0.01
            wall = busy + 0.01
            busy = (busy - controller_cpu_s / 2) / (1 - controller_cpu_s / wall)
        runs.append({"name": name, "mak": mak, "local": {"busy_s": [local], "wall_s": local + 0.01, "sleeps": [3],
                                                         "controller_cpu_s": controller_cpu_s},
                     "remote": {"sent": [sent, sent], "received": [recv, recv], "busy_s": [busy, busy],
                                "wall_s": wall, "sleeps": [sleeps + 3, sleeps], "controller_cpu_s": controller_cpu_s}})
    return runs


def test_transport_fit_recovers_known_costs():
    runs = _transport_runs()
    got = fit_transport(runs, {"coalesce_window_s": 2e-4, "spin_s": 1e-4, "poll_interval_s": 3e-4})
    assert got["frame_send_overhead_s"] == pytest.approx(20e-6, rel=1e-6)
    assert got["frame_receive_overhead_s"] == pytest.approx(10e-6, rel=1e-6)
    assert got["wake_overhead_s"] == pytest.approx(6e-6, rel=1e-6)
    assert got["remote_send_overhead_s"] == pytest.approx(1e-6, rel=1e-6)
    assert got["remote_receive_overhead_s"] == pytest.approx(1.5e-6, rel=1e-6)
    assert got["remote_send_s_per_byte"] == pytest.approx(0.3e-9, rel=1e-6)
    assert got["latency_s"] == pytest.approx(15e-6, rel=1e-6)
    assert got["link_s_per_byte"] == 0.0  # the idle gap does not grow with the bytes: the ends pay for them
    assert (got["coalesce_window_s"], got["spin_s"], got["poll_interval_s"]) == (2e-4, 1e-4, 3e-4)


def test_transport_fit_leaves_the_controllers_share_of_the_cores_to_the_host_rule():
    # busy time the controller took from two busy workers is charged by the simulated [host] (three processes
    # on two cores), not by the contention slowdown: counted there too, it would be charged twice
    policy = {"coalesce_window_s": 0, "spin_s": 0, "poll_interval_s": 0}
    got = fit_transport(_transport_runs(controller_cpu_s=0.004), policy)
    assert got["contention_slowdown"] == 0.0
    assert got["wake_overhead_s"] == pytest.approx(6e-6, rel=1e-6)


def test_transport_fit_finds_the_links_own_time_per_byte():
    got = fit_transport(_transport_runs(link_s_per_byte=1e-9), {"coalesce_window_s": 0, "spin_s": 0,
                                                                 "poll_interval_s": 0})
    # 8 kB frames idle 8.2 us longer than 4-byte ones: 1 ns per byte beyond the tiny chain's bytes
    assert got["link_s_per_byte"] == pytest.approx(1e-9 * 8192 / (8192 - 4), rel=1e-9)
    assert got["latency_s"] == pytest.approx(15e-6 + 4e-9, rel=1e-6)  # the tiny chain's gap, its 4 bytes in it


def test_ranking_agreement_counts_pairs_the_measurement_cannot_order_as_ties():
    def row(name, med, lo, hi, sim):
        return {"config": name, "measured_throughput": med, "measured_throughput_min": lo,
                "measured_throughput_max": hi, "simulated_throughput": sim}

    rows = [row("a", 100, 95, 104, 110), row("b", 102, 99, 106, 90), row("c", 200, 190, 210, 180)]
    got = ranking_agreement(rows)
    # a and b overlap (95-104 vs 99-106): a tie, although the simulator orders them the other way
    assert got["agrees"] and got["ties"] == 1 and got["kendall_tau"] == 1.0 and not got["same_order"]
    rows[0], rows[1] = row("a", 100, 99, 100.5, 110), row("b", 102, 101, 103, 90)  # apart: the simulator is wrong
    got = ranking_agreement(rows)
    assert not got["agrees"] and got["ties"] == 0 and got["kendall_tau"] == pytest.approx(1 / 3)


def test_roofline_fit_recovers_known_rates():
    rng = np.random.default_rng(0)
    samples = [{"flops": f, "bytes": b, "seconds": _time(f, b)}
               for f, b in zip(10 ** rng.uniform(3, 8, 40), 10 ** rng.uniform(3, 7, 40))]
    got = fit_roofline(samples)
    assert got["median_rel_error"] < 0.1
    assert 0.7 < got["flops_per_s"] / 5e10 < 1.4 and 0.7 < got["mem_bandwidth_bytes_per_s"] / 2e10 < 1.4


def test_workload_fit_recovers_the_costs_per_message_and_per_operation():
    # three workloads with few, some and many array operations per call; each call takes the roofline
    # (5e10 FLOP/s, 2e10 B/s) + 2 us + 1 us per operation, and the worker loop adds 3 us per message
    rng = np.random.default_rng(1)
    loads = []
    for name, ops in (("a", (0, 3)), ("b", (5, 40)), ("c", (20, 80))):
        items = np.stack([10 ** rng.uniform(3, 7, 30), 10 ** rng.uniform(3, 6, 30),
                          rng.integers(*ops, 30).astype(float)], axis=1)
        counts = rng.integers(1, 20, 30).astype(float)
        item_s = counts * np.array([_time(f, b, o=2e-6) + 1e-6 * k for f, b, k in items])
        loads.append({"name": name, "items": items.tolist(), "counts": counts.tolist(), "item_seconds": item_s.tolist(),
                      "seconds_per_instance": float(item_s.sum() + 3e-6 * counts.sum())})
    got = fit_workloads(loads)
    assert all(abs(e) < 0.02 for e in got["workload_errors"].values())
    assert got["kernel_overhead_s"] == pytest.approx(1e-6, rel=0.05) and got["overhead_s"] == pytest.approx(5e-6, rel=0.05)
    assert got["flops_per_s"] == pytest.approx(5e10, rel=0.1)


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
    assert 1e8 < c.flops_per_s < 1e13 and 1e8 < c.mem_bandwidth_bytes_per_s < 1e13
    # every message costs something; how a quick fit on a busy machine splits it between the two may vary
    assert 0 <= c.overhead_s < 1e-3 and 0 <= c.kernel_overhead_s < 1e-4 and c.overhead_s + c.kernel_overhead_s > 0
    assert 0 < system.link.latency_s < 1e-2 and system.link.bandwidth_bytes_per_s > 1e6
    text = quick_model.read_text()
    assert "GEMM rates" in text and "Workloads on one multicore worker" in text
    raw = json.loads(sidecar(quick_model).read_text())
    # what crossing between workers costs is in the model's chip fields, as the transport fit found it
    for field in TRANSPORT_FIELDS:
        assert getattr(c, field) == pytest.approx(raw["remote"][field], rel=1e-3) and getattr(c, field) >= 0
    # a message sent alone costs something (how a quick fit splits it among the fields may vary)
    assert c.frame_send_overhead_s + c.frame_receive_overhead_s + c.remote_send_overhead_s > 1e-7
    assert (c.spin_s, c.coalesce_window_s, c.poll_interval_s) == (SPIN_S, WorkerSpec.flush_s, WorkerSpec.read_s)
    assert system.link.latency_s == pytest.approx(
        raw["remote"]["latency_s"], rel=1e-3)
    # the controller shares the machine's cores with the workers, and needs CPU for every instance
    h = system.host
    assert h.cores == default_workers() and h.shares_cores
    assert h.controller_s_per_instance >= 0 and h.controller_s_per_message >= 0
    assert h.controller_s_per_instance + 100 * h.controller_s_per_message > 1e-6
    assert h.controller_s_per_instance == pytest.approx(raw["remote"]["controller"]["controller_s_per_instance"],
                                                        rel=1e-3, abs=1e-12)
    # the speed of each workload alone beside that of the three together (compare follows its family's)
    alone = raw["speed_by_workload_s"]
    assert set(alone) == {"mlp", "rnn", "tree"} and all(v > 0 for v in alone.values())
    assert sum(alone.values()) == pytest.approx(raw["speed_index_s"], rel=0.3)
    assert "each alone: mlp" in text
    # the finished model simulates the workloads' own runs on one and on two workers, same placements
    check = raw["self_check"]
    assert [(r["name"], r["mak"]) for r in check] == [(w, m) for w in ("mlp", "rnn", "tree") for m in (1, 16)]
    for r, run in zip(check, (r for r in raw["remote"]["runs"] if "placement" in r)):
        assert r["two_measured_s"] == run["remote"]["wall_s"] and r["one_measured_s"] == run["local"]["wall_s"]
        assert r["one_simulated_s"] > 0 and r["two_simulated_s"] > 0
        assert r["two_measured_frames"] == sum(w[1] for w in run["remote"]["sent"]) > 0 and r["two_simulated_frames"] > 0
    assert "The model on these runs" in text and "tree mak 16" in text and "(frames " in text


def test_compare_follows_the_speed_of_its_experiments_family(monkeypatch):
    from ampsim.calibration import compare, workloads

    now = iter([{"all": 1.0, "mlp": 0.30, "rnn": 0.2, "tree": 0.5}, {"all": 1.0, "mlp": 0.34, "rnn": 0.2, "tree": 0.5}])
    monkeypatch.setattr(workloads, "speed_index", lambda: next(now))
    calib = {"speed_index_s": 1.0, "speed_by_workload_s": {"mlp": 0.24, "rnn": 0.2, "tree": 0.5}}
    # the MLP runs 1.33x slower than when calibrated, the rest as fast: MNIST's simulation follows the MLP
    assert compare._speed_meter(calib, "mlp")() == pytest.approx(0.24 / 0.32)
    now = iter([{"all": 1.2}, {"all": 1.0}])
    assert compare._speed_meter(calib, "qm9_ggnn")() == pytest.approx(1.0 / 1.1)  # no workload of its family
    now = iter([{"all": 1.2}, {"all": 1.0}])
    assert compare._speed_meter({"speed_index_s": 1.0}, "mlp")() == pytest.approx(1.0 / 1.1)  # an older calibration
    assert compare._speed_meter({}, "mlp")() == 1.0


def test_compare_writes_table_csv_and_figure(quick_model, tmp_path):
    rows, agreement = run_compare(ROOT / "experiments" / "blobs_mlp.toml",
                                  [("train.max_instances", 40), ("eval.limit", 50)],
                                  "workers=1,mak=1;workers=2,mak=4", workers=2, hardware=quick_model, out=tmp_path,
                                  repeat=3)
    assert [r["config"] for r in rows] == ["workers=1,mak=1", "workers=2,mak=4"]
    for r in rows:
        assert r["measured_throughput"] > 0 and r["simulated_throughput"] > 0 and r["repeats"] == 3
        assert r["measured_throughput_min"] <= r["measured_throughput"] <= r["measured_throughput_max"]
        assert np.isfinite(r["throughput_error_pct"]) and r["instances"] == 40 and r["dedicated_throughput"] > 0
        assert 0 < r["cores"] <= 2.5 and r["slowdown"] > 0 and r["speed"] > 0
        # what a miss comes from: the CPU the run used against the busy time the simulation gave
        assert r["measured_worker_cpu_s"] > 0 and r["simulated_busy_s"] > 0 and r["measured_controller_cpu_s"] > 0
        assert r["simulated_controller_cpu_s"] > 0  # the quick model has a [host]
        assert r["measured_return_lag_s"] > 0 and r["measured_admit_lag_s"] > 0  # the completion round trip
    # the order of events: one instance at a time sees no stale parameters, measured or simulated
    assert rows[0]["measured_staleness"] == rows[0]["simulated_staleness"] == 0.0
    assert rows[1]["measured_staleness"] >= 0 and rows[1]["simulated_staleness"] > 0
    assert -1.0 <= agreement["kendall_tau"] <= 1.0
    with open(tmp_path / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == COLUMNS and len(table) == 2
    assert (tmp_path / "compare.png").stat().st_size > 1000
    runs = tmp_path / "runs" / "workers=2_mak=4"
    assert all((runs / d / "summary.json").is_file() for d in ("sim", "multicore", "multicore-2", "multicore-3"))
    assert "ranking:" in format_table(rows, agreement) and "staleness" in format_table(rows, agreement)


@pytest.fixture(scope="module")
def measured(quick_model, tmp_path_factory):
    """A compare folder: blobs on one and two workers, measured and simulated on the quick model."""
    out = tmp_path_factory.mktemp("compare")
    rows, _ = run_compare(ROOT / "experiments" / "blobs_mlp.toml", [("train.max_instances", 40), ("eval.limit", 50)],
                          "workers=1,mak=1;workers=2,mak=4", workers=2, hardware=quick_model, out=out)
    return out, rows


def test_resimulating_with_the_same_model_gives_the_same_table(measured, quick_model, tmp_path):
    folder, rows = measured
    again, agreement, runs = resimulate(folder, hardware=quick_model, out=tmp_path / "again")
    keep = ("config", "measured_throughput", "simulated_throughput", "throughput_error_pct", "slowdown")
    assert [{k: r[k] for k in keep} for r in again] == [{k: r[k] for k in keep} for r in rows]
    assert len(runs) == 2 and all(r["instances"] == 40 and r["controller_cpu_s"] > 0 for r in runs)
    assert (tmp_path / "again" / "compare.png").stat().st_size > 1000
    # the simulated runs are compare's own, byte for byte: the placement map in the model's order (it was in the
    # sorted order of the measured run's placement.json)
    sims = sorted((folder / "runs").glob("*/sim"))
    assert len(sims) == 2
    for sim in sims:
        for name in ("config.toml", "summary.json", "placement.json"):
            assert (tmp_path / "again" / "runs" / sim.parent.name / "sim" / name).read_bytes() == \
                (sim / name).read_bytes(), (sim.parent.name, name)


def test_a_simulated_run_of_a_compare_trains_again_from_its_config_to_the_same_results(measured, quick_model,
                                                                                        tmp_path):
    """Its config names the calibrated model, its size and the measured placement (the model and placement went
    in memory, and ``train`` refused the config: no executor.hardware); a what-if's runs too."""
    import subprocess
    import sys

    folder, _ = measured
    resimulate(folder, [("hardware.link.latency_s", 1e-3)], hardware=quick_model, out=tmp_path / "what_if")
    # a chip override, which the resized model drops (its config said otherwise: another simulated time)
    resimulate(folder, [("hardware.chip_override", [{"chips": [1], "flops_per_s": 1e8}])], hardware=quick_model,
               out=tmp_path / "override")
    # each config trained again by `ampsim train` in a process of its own, all started at once (they share nothing:
    # each writes its own folder; one after the other they took seconds of imports each)
    started = []
    for compare_folder in (folder, tmp_path / "what_if", tmp_path / "override"):
        for sim in sorted((compare_folder / "runs").glob("*/sim")):
            again = tmp_path / "again" / sim.parent.name / compare_folder.name
            started.append((sim, again, subprocess.Popen(
                [sys.executable, "-m", "ampsim", "train", str(sim / "config.toml"), "--out", str(again), "--no-progress"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    try:
        assert len(started) == 6
        for sim, again, proc in started:
            _, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr
            # nothing in it is ignored (the compare's executor.workers went into the simulated side's config, where
            # the sim executor ignored it with a warning: the machine's size is its [hardware.topology])
            assert "WARNING" not in stderr, stderr
            for name in ("summary.json", "metrics.csv", "placement.json"):
                assert (again / name).read_bytes() == (sim / name).read_bytes(), (sim, name)
    finally:  # (a failure leaves none running, as subprocess.run's timeout killed its one)
        for _, _, proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_resimulating_scores_a_what_if_against_the_same_measurements(measured, quick_model, tmp_path):
    folder, rows = measured
    slow = [("hardware.host.cores", 1), ("hardware.host.controller_s_per_instance", 1e-3)]
    what_if, _, _ = resimulate(folder, slow, hardware=quick_model, out=tmp_path / "slow")
    assert [r["measured_throughput"] for r in what_if] == [r["measured_throughput"] for r in rows]
    # one core for everything: the controller's millisecond per instance and the second worker's share cost
    assert all(w["simulated_throughput"] < r["simulated_throughput"] for w, r in zip(what_if, rows))


def test_resimulating_with_a_slow_controller_lowers_the_simulated_staleness(measured, quick_model, tmp_path):
    folder, rows = measured
    late, _, _ = resimulate(folder, [("hardware.host.completion_latency_s", 0.02)], hardware=quick_model,
                            out=tmp_path / "late")
    assert [r["measured_staleness"] for r in late] == [r["measured_staleness"] for r in rows]
    # mak 4: a completion's updates now arrive after the other instances in flight have stepped back
    assert late[1]["simulated_staleness"] < rows[1]["simulated_staleness"]
    assert late[1]["simulated_throughput"] < rows[1]["simulated_throughput"]


def test_resimulate_refuses_to_replace_the_measured_table_or_read_a_foreign_folder(measured, quick_model, tmp_path):
    folder, _ = measured
    with pytest.raises(ConfigError, match="would replace the measured table"):
        resimulate(folder, hardware=quick_model, out=folder)
    with pytest.raises(ConfigError, match="compare.csv"):
        resimulate(tmp_path, hardware=quick_model)


def test_resimulate_reads_a_compare_cut_short_after_its_measurements(measured, quick_model, tmp_path):
    """No compare.csv (the run stopped while simulating): the configurations come from runs/, scored as on a
    dedicated machine, so the simulated side is the unstretched (dedicated) one of the full table."""
    import shutil

    folder, rows = measured
    cut = tmp_path / "cut"
    shutil.copytree(folder / "runs", cut / "runs")
    again, _, _ = resimulate(cut, hardware=quick_model, out=tmp_path / "again")
    by_folder = {run_folder(r["config"]): r for r in rows}
    assert [r["config"] for r in again] == ["workers=1_mak=1", "workers=2_mak=4"]
    for r in again:
        full = by_folder[r["config"]]
        assert r["measured_throughput"] == full["measured_throughput"] and r["cores"] == r["workers"]
        assert r["simulated_throughput"] == pytest.approx(full["dedicated_throughput"], rel=1e-12)


def test_compare_simulates_replicas_through_the_controller_as_the_workers_synchronize(quick_model, tmp_path):
    """The multicore executor averages copies in its controller: the simulated side does the same
    (replicas.collective = "host"), so it moves the bytes the workers moved, and its controller pays for them."""
    rows, _ = run_compare(ROOT / "experiments" / "blobs_mlp.toml", [("train.max_instances", 40), ("eval.limit", 50)],
                          'workers=2,replicas.groups=2,placement="groups",mak=4', workers=2, hardware=quick_model,
                          out=tmp_path)
    run = tmp_path / "runs" / run_folder(rows[0]["config"])
    measured, simulated = (json.loads((run / d / "summary.json").read_text()) for d in ("multicore", "sim"))
    assert measured["sync_rounds"] == simulated["sync_rounds"] > 0
    assert simulated["sync_bytes"] == measured["sync_bytes"]
    # (what the controller pays per synchronized byte is fitted from a quick calibration's few runs: on a busy
    # host the fit can put it all in the per-message cost and leave 0, so only its sign is a contract here;
    # fit_sync's doctest checks the fit itself)
    assert load_system(quick_model).host.controller_s_per_sync_byte >= 0


def test_a_compare_cut_short_leaves_the_earlier_one_whole_and_a_finished_one_replaces_it(measured, quick_model,
                                                                                          tmp_path, monkeypatch):
    """Into a folder that holds a compare, a new one is written beside it (``<out>.partial/``): cut short, the
    earlier one is byte for byte as it was and the new runs so far wait there; finished, it replaces the
    earlier one whole (its other entries, such as ``resimulated/``, kept)."""
    import shutil

    from ampsim.calibration import compare as cc

    folder, _ = measured
    earlier = tmp_path / "cmp"
    shutil.copytree(folder, earlier)
    (earlier / "resimulated").mkdir()
    (earlier / "resimulated" / "note.txt").write_text("mine")
    before = {str(p.relative_to(earlier)): p.read_bytes() if p.is_file() else None for p in earlier.rglob("*")}
    real, measured_pairs = cc._measure, []

    def measure_once(pair):
        if measured_pairs:
            raise KeyboardInterrupt
        measured_pairs.append(pair.label)
        real(pair)

    monkeypatch.setattr(cc, "_measure", measure_once)
    args = (ROOT / "experiments" / "blobs_mlp.toml", [("train.max_instances", 40), ("eval.limit", 50)],
            "workers=1,mak=1;workers=2,mak=4")
    with pytest.raises(KeyboardInterrupt) as err:
        run_compare(*args, workers=2, hardware=quick_model, out=earlier)
    after = {str(p.relative_to(earlier)): p.read_bytes() if p.is_file() else None for p in earlier.rglob("*")}
    assert after == before
    partial = tmp_path / "cmp.partial"
    assert (partial / "runs" / run_folder("workers=1,mak=1") / "multicore" / "summary.json").is_file()
    assert any(f"{earlier} is as it was" in n for n in err.value.__notes__)
    monkeypatch.setattr(cc, "_measure", real)
    rows, _ = run_compare(*args, workers=2, hardware=quick_model, out=earlier)
    assert not partial.exists() and (earlier / "resimulated" / "note.txt").read_text() == "mine"
    with open(earlier / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert [float(r["measured_throughput"]) for r in table] == pytest.approx([r["measured_throughput"] for r in rows])
    assert (earlier / "compare.csv").read_bytes() != before["compare.csv"]


def test_a_resimulation_cut_short_leaves_the_earlier_one_whole(measured, quick_model, tmp_path, monkeypatch):
    """Re-scoring into a folder that holds an earlier re-scoring: cut short while simulating, the earlier one
    is byte for byte as it was (no run of another model beside its table, no half-written figure)."""
    from ampsim.calibration import compare as cc

    folder, _ = measured
    out = tmp_path / "again"
    resimulate(folder, hardware=quick_model, out=out)
    before = {str(p.relative_to(out)): p.read_bytes() if p.is_file() else None for p in out.rglob("*")}
    real, calls = cc.simulate_run, []

    def simulate_once(*args, **kw):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(cc, "simulate_run", simulate_once)
    with pytest.raises(KeyboardInterrupt) as err:
        resimulate(folder, [("hardware.link.latency_s", 1e-3)], hardware=quick_model, out=out)
    assert {str(p.relative_to(out)): p.read_bytes() if p.is_file() else None for p in out.rglob("*")} == before
    assert any(f"{out} is as it was" in n for n in err.value.__notes__)
    monkeypatch.setattr(cc, "simulate_run", real)
    resimulate(folder, [("hardware.link.latency_s", 1e-3)], hardware=quick_model, out=out)
    assert not (tmp_path / "again.partial").exists()
    assert all("latency_s = 0.001" in (d / "sim" / "config.toml").read_text() for d in (out / "runs").iterdir())


def test_a_second_compare_into_a_folder_being_written_is_refused_and_touches_nothing(tmp_path):
    """Two compares into one folder: the second would delete the first's staging folder (``<out>.partial/``)
    under it; it is refused at once instead, and neither the folder nor the staging is touched."""
    import os

    from ampsim.calibration.outfolder import into_folder
    from ampsim.errors import RunError
    from ampsim.folders import STAGING_MARK
    from ampsim.locks import lock_file, unlock_file

    out = tmp_path / "cmp"
    (out / "runs").mkdir(parents=True)  # an earlier compare: the first one writes beside it
    (out / "compare.csv").write_text("config\nmak=1\n")
    staging = tmp_path / "cmp.partial"
    staging.mkdir()
    (staging / STAGING_MARK).touch()  # (marked as the first compare's staging folder, as into_folder makes it)
    (staging / "compare.csv").write_text("the first compare's, so far\n")
    lock = tmp_path / "cmp.partial.lock"
    fd = lock_file(lock)  # as the first compare holds it
    try:
        with pytest.raises(RunError, match=f"another compare \\(pid {os.getpid()}\\) is writing it now"):
            into_folder(out, lambda folder: pytest.fail("the second compare ran"))
        assert (staging / "compare.csv").read_text() == "the first compare's, so far\n"
        assert (out / "compare.csv").read_text() == "config\nmak=1\n"
    finally:
        unlock_file(fd, lock)
    assert into_folder(out, lambda folder: folder) == staging  # free again: it stages beside the earlier one
    assert not lock.exists()
