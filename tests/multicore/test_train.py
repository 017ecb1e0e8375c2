"""Asynchronous runs (mak > 1) complete and train; the CLI and the run folder work with --executor multicore."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mc_helpers import ROOT, batches, mlp

from ampsim.cli import main as cli_main
from ampsim.config import load_config, parse_override
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.ir.message import Instance
from ampsim.placement import place
from ampsim.trace import CONTROLLER_PID
from ampsim.training import train_experiment


@pytest.mark.parametrize("mak,muf", [(4, 1), (8, 3)])
def test_mak_gt_1_completes_with_clean_state(mak, muf):
    model = mlp(muf=muf)
    with MulticoreExecutor(model, place("round_robin", model, [None] * 3), 3, mak=mak) as ex:
        reports = ex.train(batches(60))
        assert len(reports) == 60 and {r.key for r in reports} == set(range(60))
        s = ex.summary()
    assert s["messages_processed"] == 60 * 16 and s["n_workers"] == 3
    assert all(not n._cache and not n._joins for n in model.graph.nodes.values())
    assert sum(n.staleness.total() for n in model.graph.param_nodes) == 4 * 60


def test_the_completion_round_trip_is_timed_for_every_completion_and_every_admission_it_caused():
    # every completion's RETURN is timed to the controller's read; the first mak instances are admitted
    # at the start, each later one by one completion (timed until its messages are in the kernel)
    model = mlp()
    with MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=4) as ex:
        ex.train(batches(30))
        ex.train([Instance(30 + i.key, i.data) for i in batches(10, seed=1)])
        lag = ex.summary()["completion_lag_s"]
    assert lag["return"]["n"] == 30 + 10 and lag["admit"]["n"] == (30 - 4) + (10 - 4)
    for part in ("return", "admit"):
        assert 0 < lag[part]["median"] <= lag[part]["p90"] < 5.0  # seconds: a clock mixed up would show


def test_a_traced_run_marks_when_the_controller_admitted_and_saw_each_instance_complete():
    model = mlp()
    with MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=4, trace=True) as ex:
        ex.train(batches(12))
    events = ex.trace.to_json()["traceEvents"]
    mark = {what: {e["args"]["key"]: e["ts"] for e in events if e["ph"] == "i" and e["name"] == what}
            for what in ("admit", "complete")}
    assert set(mark["admit"]) == set(mark["complete"]) == set(range(12))
    assert {e["pid"] for e in events if e["ph"] == "i"} == {CONTROLLER_PID}
    for key in range(12):
        steps = [e for e in events if e["ph"] == "X" and e["args"]["key"] == key and not e["name"].endswith("update")]
        updates = [e for e in events if e["ph"] == "X" and e["args"]["key"] == key and e["name"].endswith("update")]
        # causality: its steps end before the controller sees it complete, its update jobs start after
        assert mark["admit"][key] < max(e["ts"] + e["dur"] for e in steps) < mark["complete"][key]
        assert len(updates) == 4 and mark["complete"][key] < min(e["ts"] for e in updates)


def test_an_instances_data_is_pickled_once_however_many_workers_receive_it(monkeypatch):
    # every worker gets the INST; the controller pickles it once for all (in one frame with the DONE all
    # of them get), and the injected message names its data field instead of carrying the batch again
    import pickle

    pickled, dumps = [], pickle.dumps  # the sizes of what this process (the controller) pickles
    monkeypatch.setattr(pickle, "dumps", lambda obj, **kw: pickled.append(len(r := dumps(obj, **kw))) or r)
    r = np.random.default_rng(0)
    data = [Instance(k, {"x": r.normal(size=(256, 12)), "y": r.integers(0, 4, 256)}) for k in range(6)]
    batch_bytes = data[0].data["x"].nbytes  # 24 kB
    model = mlp()
    with MulticoreExecutor(model, place("round_robin", model, [None] * 3), 3, mak=2) as ex:
        pickled.clear()  # the start-up's frames
        assert len(ex.train(data)) == 6
    # each batch once (the first two admitted together share a frame), not once per worker (3x), nor again
    assert 6 * batch_bytes < sum(pickled) < 6 * batch_bytes * 1.5


def test_blobs_mak4_trains_to_target(tmp_path):
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [
        parse_override(s) for s in ("executor.kind=\"multicore\"", "executor.workers=2", "train.mak=4",
                                    "train.epochs=3", "placement.strategy=\"greedy\"")])
    summary = train_experiment(cfg, tmp_path / "run")
    assert summary["executor"] == "multicore" and summary["time_unit"] == "wall"
    assert summary["final_metric"] >= 0.9 and summary["throughput_instances_per_s"] > 0
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 4
    assert json.loads((tmp_path / "run" / "placement.json").read_text())["chips"][0]["nodes"]


def test_list_reduction_mak4_completes(tmp_path):
    cfg = load_config(ROOT / "experiments" / "list_reduction.toml", [
        parse_override(s) for s in ("executor.kind=\"multicore\"", "executor.workers=2", "train.mak=4",
                                    "train.epochs=1", "data.n_train=400", "data.n_test=64", "model.hidden=16")])
    summary = train_experiment(cfg, tmp_path / "run")
    assert summary["instances"] >= 25 and summary["final_metric"] is not None


@pytest.mark.parametrize("executor", [["--executor", "multicore"], []])
def test_cli_train_multicore(tmp_path, capsys, executor):
    """``--workers`` alone picks the multicore executor, as ``--hardware`` picks the simulator (it ran the
    reference executor, with a warning that pointed at the simulator)."""
    rc = cli_main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), *executor,
                   "--workers", "2", "--set", "train.epochs=1", "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 0 and "wall s" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["executor"] == "multicore"


def test_cli_workers_leave_an_executor_chosen_elsewhere_as_it_is(tmp_path):
    """The file's executor.kind, or a --set of it, chose: --workers does not override it."""
    exp = tmp_path / "sim.toml"
    exp.write_text((ROOT / "experiments" / "blobs_mlp.toml").read_text() + "\n[executor]\nkind = \"sim\"\nhardware = "
                   f"\"{ROOT / 'hardware_models' / 'ring4.toml'}\"\n")
    assert cli_main(["train", str(exp), "--workers", "2", "--set", "train.epochs=1", "--out", str(tmp_path / "a"),
                     "--no-progress"]) == 0
    assert cli_main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--set", 'executor.kind="reference"',
                     "--workers", "2", "--set", "train.epochs=1", "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    kinds = [json.loads((tmp_path / r / "summary.json").read_text())["executor"] for r in ("a", "b")]
    assert kinds == ["sim", "reference"]


def test_cli_hardware_and_workers_without_executor_is_the_simulator_as_before(tmp_path):
    rc = cli_main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--hardware",
                   str(ROOT / "hardware_models" / "ring4.toml"), "--workers", "2", "--set", "train.epochs=1",
                   "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 0 and json.loads((tmp_path / "r" / "summary.json").read_text())["executor"] == "sim"


def test_one_worker_per_core_is_written_as_the_count_the_run_had(tmp_path, monkeypatch):
    """``executor.workers = 0`` (one per core) is resolved in the run's config.toml: trained again on a machine
    with more cores, it runs with as many workers as this run had."""
    import tomllib

    monkeypatch.setattr("ampsim.planning.default_workers", lambda: 2)
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [
        parse_override(s) for s in ('executor.kind="multicore"', "train.epochs=1", "data.n_train=64")])
    assert cfg.executor.workers == 0
    summary = train_experiment(cfg, tmp_path / "run")
    assert summary["n_workers"] == 2
    assert tomllib.loads((tmp_path / "run" / "config.toml").read_text())["executor"]["workers"] == 2


def test_a_traced_run_times_every_node_step_and_applied_update_on_one_clock(tmp_path):
    # executor.trace: each worker's spans, labelled as the simulator labels its own, in the executor's
    # seconds; a worker runs one thing at a time, so its spans never overlap; two calls continue one clock
    from ampsim.results import RunDir

    model = mlp(muf=2)
    with MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=4, trace=True) as ex:
        ex.train(batches(10))
        first = ex.time_s
        ex.train(batches(10, seed=1))  # the same keys again
        summary = ex.summary()
        run = RunDir(tmp_path / "run")
        ex.write_artifacts(run)
    events = [e for e in ex.trace.to_json()["traceEvents"] if e["ph"] == "X"]
    steps = [e for e in events if e["name"].endswith(("fwd", "bwd"))]
    updates = [e for e in events if e["name"].endswith("update")]
    assert len(steps) == summary["messages_processed"] == 20 * 16
    assert len(updates) == sum(n.version for n in model.graph.param_nodes) == 4 * 10  # muf 2: 10 each
    assert {e["pid"] for e in events} == {1, 2} and {e["tid"] for e in events} == {1}  # (ids count from 1)
    assert all(0 <= e["ts"] and e["ts"] + e["dur"] <= ex.time_s * 1e6 for e in events)
    assert any(e["ts"] > first * 1e6 for e in events)
    for pid in (1, 2):
        mine = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e["pid"] == pid)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    assert json.loads((run.path / "trace.json").read_text())["traceEvents"]
