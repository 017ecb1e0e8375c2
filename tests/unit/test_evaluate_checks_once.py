"""An executor that evaluates on its reference copy (the simulator with numerics, the multicore one) checks the
instances once, naming itself: the copy's own ``evaluate`` checked every instance a second time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import ampsim
from ampsim.executors import base, reference
from ampsim.executors.multicore import executor as multicore
from ampsim.executors.sim import executor as sim

ROOT = Path(__file__).resolve().parents[2]
SETS = {"reference": {}, "sim": {"executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")},
        "multicore": {"executor.workers": 2}}


@pytest.mark.parametrize("kind", list(SETS))
def test_evaluate_checks_each_instance_once(kind, monkeypatch):
    checked: Counter = Counter()

    def counting(instances, where, model=None):
        for x in base.checked_instances(instances, where, model):
            checked[where] += 1
            yield x

    for module in (reference, sim, multicore):
        monkeypatch.setattr(module, "checked_instances", counting)
    p = ampsim.plan(ampsim.load_experiment(ROOT / "experiments" / "blobs_mlp.toml",
                                           {"data.n_train": 32, "data.n_test": 40, "executor.kind": kind, **SETS[kind]}))
    with ampsim.make_executor(p) as ex:
        instances = list(p.task.eval_instances())
        assert len(ex.evaluate(instances)) > 0
    assert checked == {f"{p.executor} executor: evaluate": len(instances)}
