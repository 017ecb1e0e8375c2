"""A plan and a run pickle (a process pool's or Ray's tasks are sent that way): an unpickled plan is a copy of
the plan, which runs to the same results. ``pickle.dumps(ampsim.plan(cfg))`` raised "Can't pickle local object
'build.<locals>.train_instances'" for every task (its instances were closures), and a simulated plan's
read-only placement (a mappingproxy) could not be pickled either."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ampsim
from ampsim.results import RunDir
from ampsim.training import run_training

ROOT = Path(__file__).resolve().parents[2]
RING4 = str(ROOT / "hardware_models" / "ring4.toml")
#: each shipped experiment made small: its data cut to a few instances (those of real data read from AMPSIM_DATA)
SMALL = {
    "blobs_mlp": {"data.n_train": 160, "data.n_test": 32},
    "list_reduction": {"data.n_train": 96, "data.n_test": 32},
    "mnist_mlp": {"data.limit_train": 256, "data.limit_test": 64},
    "qm9_ggnn": {"data.limit_train": 24, "data.limit_valid": 8},
    "sst_treelstm": {"data.limit_train": 12, "data.limit_test": 6, "train.muf": 4},
    "sst_treelstm_binary": {"data.limit_train": 12, "data.limit_test": 6, "train.muf": 4},
}
REAL_DATA = {"mnist_mlp", "qm9_ggnn", "sst_treelstm", "sst_treelstm_binary"}
#: what a run measures on the host, not in the simulation: two runs of one plan differ there
WALL = ("wall_s", "wall_time_s")


def _config(name: str, request, **extra):
    if name in REAL_DATA:
        request.getfixturevalue("data_root")  # (skips, or fails under AMPSIM_REQUIRE_DATA=1, without the data)
    return ampsim.load_experiment(ROOT / "experiments" / f"{name}.toml",
                                  {**SMALL[name], "train.epochs": 1, **extra})


def _run(plan, out: Path) -> tuple[dict, pd.DataFrame]:
    with ampsim.make_executor(plan) as ex:
        summary = run_training(plan, ex, RunDir(out))
    metrics = pd.read_csv(out / "metrics.csv")
    return ({k: v for k, v in summary.items() if k not in WALL},
            metrics.drop(columns=[c for c in metrics.columns if c in WALL]))


def test_every_shipped_experiment_is_listed_here():
    assert sorted(p.stem for p in (ROOT / "experiments").glob("*.toml")) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_plan_of_every_shipped_experiment_pickles_and_runs_as_the_original(name, request, tmp_path):
    cfg = _config(name, request, **{"executor.kind": "sim", "executor.hardware": RING4})
    plan = ampsim.plan(cfg)
    again = pickle.loads(pickle.dumps(plan))
    assert again is not plan and again.task.model is not plan.task.model  # (a copy: an executor of each)
    assert again.config == plan.config and dict(again.placement) == dict(plan.placement)
    with pytest.raises(TypeError):  # read-only on arrival too
        again.placement["x"] = 0
    assert [i.key for i in again.task.train_instances(2)] == [i.key for i in plan.task.train_instances(2)]
    summary, metrics = _run(plan, tmp_path / "original")
    summary_again, metrics_again = _run(again, tmp_path / "unpickled")
    assert summary_again == summary
    pd.testing.assert_frame_equal(metrics_again, metrics)
    assert summary["simulated_time_s"] > 0


def test_a_profiled_placements_estimated_load_and_a_reference_plan_pickle(request):
    plan = ampsim.plan(_config("blobs_mlp", request, **{"executor.kind": "sim", "executor.hardware": RING4,
                                                         "placement.strategy": "greedy"}))
    assert plan.estimated_load is not None
    again = pickle.loads(pickle.dumps(plan))
    assert [dict(e) for e in again.estimated_load] == [dict(e) for e in plan.estimated_load]
    assert again.system == plan.system and again.chips == plan.chips
    with pytest.raises(TypeError):
        again.estimated_load[0]["chip"] = 1
    reference = ampsim.plan(_config("blobs_mlp", request))
    copied = pickle.loads(pickle.dumps(reference))
    assert copied.executor == "reference" and copied.placement is None
    first, second = (p.task.eval_instances() for p in (reference, copied))
    assert all(np.array_equal(a.data["x"], b.data["x"]) for a, b in zip(first, second)) and len(first) == len(second)


def test_a_run_pickles_from_train_and_read_run(tmp_path):
    run = ampsim.train(ROOT / "experiments" / "blobs_mlp.toml", tmp_path / "run",
                       overrides={**SMALL["blobs_mlp"], "train.epochs": 2})
    for r in (run, ampsim.read_run(tmp_path / "run")):
        again = pickle.loads(pickle.dumps(r))
        assert again.config == r.config and again.summary == r.summary and again.path == r.path
        pd.testing.assert_frame_equal(again.metrics, r.metrics)
