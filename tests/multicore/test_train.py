"""Asynchronous runs (mak > 1) complete and train; the CLI and the run folder work with --executor multicore."""

from __future__ import annotations

import json

import pytest
from mc_helpers import ROOT, batches, mlp

from ampsim.cli import main as cli_main
from ampsim.config import load_config, parse_override
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.placement import place
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


def test_cli_train_multicore(tmp_path, capsys):
    rc = cli_main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--executor", "multicore",
                   "--workers", "2", "--set", "train.epochs=1", "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 0 and "wall s" in capsys.readouterr().out
