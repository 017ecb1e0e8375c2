"""``train.staleness`` options run unchanged on the multicore executor (they live in the nodes)."""

from __future__ import annotations

import numpy as np
import pytest
from mc_helpers import batches, mlp

from ampsim.executors.multicore import MulticoreExecutor
from ampsim.ir.param import STALENESS_MODES
from ampsim.placement import place


@pytest.mark.parametrize("mode", STALENESS_MODES)
def test_each_option_trains_asynchronously_on_workers(mode):
    model = mlp(kind="momentum")
    for n in model.graph.param_nodes:
        n.configure_staleness(mode)
    before = {n.name: n.params["W"].copy() for n in model.graph.param_nodes}
    with MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=4) as ex:
        reports = ex.train(batches(24))
    assert {r.key for r in reports} == set(range(24))
    for n in model.graph.param_nodes:
        assert n.staleness_mode == mode and np.all(np.isfinite(n.params["W"]))
        assert not np.array_equal(n.params["W"], before[n.name])
        # the workers' staleness counts come back: one per backward, one per instance an update applied
        assert sum(n.staleness.values()) == 24 and sum(n.update_staleness.values()) == 24
