"""Staleness-bounded admission (``train.max_staleness``): the simulator's controller admits a new instance,
up to mak, only while every parameterized node's recent mean staleness is within the bound."""

from pathlib import Path

import numpy as np

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.metrics import staleness_stats
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]
BASE = ("data.n_train=1200", "data.n_test=8", 'executor.kind="sim"',
        f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"', "train.mak=16", "train.muf=1")


def run(*overrides):
    p = plan(load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(o) for o in (*BASE, *overrides)]))
    ex = make_executor(p)
    ex.train(p.task.train_instances(1))
    stale = [staleness_stats(n.staleness) for n in p.task.model.graph.param_nodes]
    mean = sum(s["mean"] * s["count"] for s in stale) / sum(s["count"] for s in stale)
    return ex, mean, {n.name: n.params for n in p.task.model.graph.param_nodes}


def test_a_bound_lowers_staleness_and_throughput_between_mak_1_and_unbounded():
    free, free_stale, _ = run()
    bounded, bounded_stale, _ = run("train.max_staleness=2")
    single, single_stale, _ = run("train.mak=1")
    assert single_stale == 0
    assert bounded_stale < free_stale
    assert free.time_s < bounded.time_s < single.time_s


def test_bounded_admission_repeats_bit_for_bit():
    a, sa, pa = run("train.max_staleness=1.5")
    b, sb, pb = run("train.max_staleness=1.5")
    assert a.time_s == b.time_s and sa == sb
    assert all(np.array_equal(pa[n][k], pb[n][k]) for n in pa for k in pa[n])


def test_a_loose_bound_changes_nothing():
    free, free_stale, pf = run()
    loose, loose_stale, pl = run("train.max_staleness=1e9")
    assert free.time_s == loose.time_s and free_stale == loose_stale
    assert all(np.array_equal(pf[n][k], pl[n][k]) for n in pf for k in pf[n])
