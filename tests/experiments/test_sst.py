"""Small real-data Tree-LSTM runs on SST (skipped without AMPSIM_DATA; failures with AMPSIM_REQUIRE_DATA=1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.executors.reference import ReferenceExecutor
from ampsim.models import build_task
from ampsim.planning import plan
from ampsim.results import RunDir
from ampsim.training import run_training

pytestmark = pytest.mark.data
ROOT = Path(__file__).resolve().parents[2]


def small(config: str, *sets: str):
    sets = ("data.limit_train=200", "data.limit_test=100", "train.epochs=2", *sets)
    return load_config(ROOT / "experiments" / config, [parse_override(s) for s in sets])


@pytest.mark.parametrize("config", ["sst_treelstm.toml", "sst_treelstm_binary.toml"])
def test_small_run_trains_and_the_loss_decreases(data_root, monkeypatch, tmp_path, config):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    cfg = small(config)
    p = plan(cfg)
    task = p.task
    ex = ReferenceExecutor(task.model)
    summary = run_training(p, ex, RunDir(tmp_path / "run"))
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "test_root_accuracy" and len(rows) == 3
    losses = [float(r.split(",")[4]) for r in rows[1:]]
    assert losses[1] < losses[0]
    acc = summary["final_metric"]
    assert 0.0 <= acc <= 1.0 and summary["task_info"]["test_examples"] <= 100
    nodes = task.model.graph.nodes.values()
    assert not any(n.holds(i.key) for n in nodes for i in task.train_instances(2))


def test_binary_variant_drops_neutral_roots(data_root, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    task = build_task(small("sst_treelstm_binary.toml", "data.limit_train=300"))
    roots = [inst.data["labels"][-1] for inst in task.train_instances(1)]
    # the limit counts the trees kept (it counted before the neutral ones went: fewer than asked, or none)
    assert len(roots) == 300 and set(roots) == {0, 1}
    assert all(np.isin(inst.data["labels"], [-1, 0, 1]).all() for inst in task.eval_instances())


@pytest.mark.parametrize("sets", [(), ("data.lowercase=true", "data.min_count=2"), ("data.classes=2",)])
def test_the_vocabulary_sweep_check_sizes_is_the_runs_and_within_its_bound(data_root, monkeypatch, sets):
    """``sweep --check`` sizes the embedding table with the vocabulary the run builds (read_widths), and before
    that with its bound, which no [data] exceeds: the registered training split's words at min_count 1, case kept."""
    from ampsim.data import sst, store
    from ampsim.models import treelstm

    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    cfg = small("sst_treelstm.toml", *sets)
    assert treelstm.read_widths(cfg) == (build_task(cfg).info["vocab"],)
    assert treelstm.width_bounds(cfg) == (len(sst.Vocab.build(sst.load_sst("train"))),)
    assert set(treelstm.TRAIN_WORDS) == {store.REGISTRY["sst/train.txt"].sha256}
