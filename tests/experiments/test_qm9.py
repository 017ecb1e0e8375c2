"""qm9_ggnn on the real QM9 subset (a few hundred molecules, one epoch): it runs and the loss goes down.

Skips without AMPSIM_DATA, fails with AMPSIM_REQUIRE_DATA=1 (see the ``data_root`` fixture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.data import qm9
from ampsim.executors.reference import ReferenceExecutor
from ampsim.metrics import mean_loss, metric_value
from ampsim.models import build_task
from ampsim.planning import configure_params

pytestmark = pytest.mark.data
ROOT = Path(__file__).resolve().parents[2]


def test_qm9_ggnn_one_epoch_lowers_the_loss(data_root, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    n_train = 300
    sets = [f"data.limit_train={n_train}", "data.limit_valid=100", "train.epochs=1"]
    cfg = load_config(ROOT / "experiments" / "qm9_ggnn.toml", [parse_override(s) for s in sets])
    task = build_task(cfg)
    configure_params(cfg, task)
    ex = ReferenceExecutor(task.model)
    valid = list(task.eval_instances())
    before = ex.evaluate(valid)
    reports = ex.train(task.train_instances(1))
    after = ex.evaluate(valid)
    assert sum(r.values["n"] for r in reports) == n_train and np.isfinite(mean_loss(reports))
    assert mean_loss(after) < mean_loss(before)
    baseline = task.info["baseline_mae"]
    mae = metric_value(after, task.model.metric)
    assert 0 < mae < 2 * baseline  # in the property's unit, like the baseline
    assert all(n.held_nbytes == 0 for n in task.model.graph.nodes.values() if n.kind != "ppt")


def test_qm9_split_and_baseline(data_root):
    train, valid = qm9.load_qm9("train", root=data_root), qm9.load_qm9("valid", root=data_root)
    assert (len(train), len(valid)) == (13291, 1424)
    norm = qm9.TargetNorm.fit(train, qm9.TASKS.index("homo"))
    baseline = np.mean(np.abs(qm9.task_values(valid, qm9.TASKS.index("homo")) - norm.mean))
    assert baseline == pytest.approx(0.016346, rel=1e-3)  # Hartree; the number the run's target is half of
