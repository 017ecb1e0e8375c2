"""Staleness-bounded admission (``train.max_staleness``): the simulator's controller keeps a window of
instances in flight (``ampsim/executors/sim/admission.py``: slow start, halved after a round in which some
parameterized node's recent mean staleness exceeded the bound, one more after a round within it), mak
being the cap."""

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.errors import ConfigError
from ampsim.executors import make_executor
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.metrics import staleness_stats
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]
BASE = ("data.n_train=1200", "data.n_test=8", 'executor.kind="sim"',
        f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"', "train.mak=16", "train.muf=1")


def make_plan(*overrides):
    return plan(load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(o) for o in (*BASE, *overrides)]))


def run(*overrides):
    p = make_plan(*overrides)
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


def test_a_loose_bound_only_adds_the_slow_start():
    free, free_stale, _ = run()
    loose, loose_stale, _ = run("train.max_staleness=1e9")
    window = loose.summary()
    assert window["admission_cuts"] == 0 and window["admission_window_final"] == 16
    assert free.time_s < loose.time_s and loose_stale < free_stale  # the first rounds run 1, 2, 4, 8 in flight


def test_the_bound_holds_the_mean_staleness_whatever_the_cap():
    burst, burst_stale, _ = run("train.mak=1024")
    capped, capped_stale, pc = run("train.mak=1024", "train.max_staleness=2")
    small_cap, small_cap_stale, ps = run("train.max_staleness=2")
    assert burst_stale > 20 and capped_stale <= 2  # no burst up to the cap: the window holds the bound
    assert capped.summary()["admission_cuts"] > 0 and capped.summary()["admission_window_max"] < 16
    # the window never reached 16, so a cap of 16 or 1,024 runs the same instances at the same times
    assert capped.time_s == small_cap.time_s and capped_stale == small_cap_stale
    assert all(np.array_equal(pc[n][k], ps[n][k]) for n in pc for k in pc[n])


def test_staleness_bound_is_off_by_default():
    assert "admission_cuts" not in run()[0].summary()


def test_a_window_that_starts_at_the_cap_under_a_bound_never_reached_is_the_fixed_mak():
    fixed, fixed_stale, pf = run()
    window, window_stale, pw = run("train.max_staleness=1e9", "train.admission_start=16")
    assert window.summary()["admission_window_max"] == 16 and window.summary()["admission_cuts"] == 0
    assert window.time_s == fixed.time_s and window_stale == fixed_stale
    assert all(np.array_equal(pf[n][k], pw[n][k]) for n in pf for k in pf[n])


def test_admission_start_0_is_one_instance_per_occupied_chip_and_skips_slow_start_rounds():
    p = make_plan("train.max_staleness=1e9", "train.admission_start=0")
    assert p.admission_start == len(set(p.placement.values())) == 4
    from_one, _, _ = run("train.max_staleness=1e9")
    from_chips, _, _ = run("train.max_staleness=1e9", "train.admission_start=0")
    assert from_chips.summary()["admission_rounds"] == from_one.summary()["admission_rounds"] - 2  # no 1, 2
    assert from_chips.time_s < from_one.time_s


def test_without_slow_start_the_window_grows_by_one_a_round_from_its_first_size():
    doubling, doubling_stale, _ = run("train.max_staleness=1e9", "train.admission_start=4")
    additive, additive_stale, _ = run("train.max_staleness=1e9", "train.admission_start=4",
                                      "train.admission_slow_start=false")
    h = additive.admission_window.history
    assert h == list(range(4, 4 + len(h))) and len(h) > 3 and doubling.admission_window.history[:3] == [4, 8, 16]
    assert additive.summary()["admission_cuts"] == 0
    # fewer in flight while the window climbs: less staleness, more time
    assert additive_stale < doubling_stale and additive.time_s > doubling.time_s


def test_admission_start_without_a_bound_is_refused():
    with pytest.raises(ConfigError, match="train.admission_start: .* needs train.max_staleness"):
        make_plan("train.admission_start=0")
    with pytest.raises(ConfigError, match="train.admission_slow_start: .* needs train.max_staleness"):
        make_plan("train.admission_slow_start=false")


@pytest.mark.parametrize("extra", [
    ("train.mak=1024", "train.max_staleness=1.5"),
    ("train.max_staleness=2", "train.admission_start=0", "train.muf=4"),
    # with packet links and with replicas synchronizing (their rounds gate the copies)
    ("train.mak=64", "train.max_staleness=1", "hardware.link.packet_bytes=64"),
    ("train.mak=64", "train.max_staleness=1", "replicas.groups=2", "replicas.sync_every=2"),
    ("train.mak=1024", "train.max_staleness=1.5", "train.admission_start=8", "train.admission_slow_start=false"),
    # the controller's round trip: an instance counts as in flight until the controller learns it completed
    ("train.mak=64", "train.max_staleness=1", "hardware.host.completion_latency_s=1e-4"),
], ids=["cap-1024", "start-per-chip-muf-4", "packets", "replicas", "no-slow-start", "round-trip"])
def test_a_replay_admits_as_the_full_run_does(extra, tmp_path, monkeypatch):
    """The window reads the measured staleness, which a replay reproduces bit for bit, so a replayed run
    admits the same instances at the same times: same window history, time, staleness and chip busy time."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path))
    full, full_stale, _ = run(*extra)
    replay, replay_stale, _ = run(*extra, "executor.numerics=false")
    assert replay.fast_loop  # on the replay's own loop (its Python one: the window reads each backward's staleness)
    assert full.summary()["admission_cuts"] > 0  # the bound was met and acted on, not merely carried
    assert replay.admission_window.history == full.admission_window.history
    assert replay.time_s == full.time_s and replay_stale == full_stale
    assert [c.busy_s for c in replay.chips] == [c.busy_s for c in full.chips]
    unmeasured = {"numerics", "final_metric", "best_metric", "time_to_target", "replica_drift"}  # numbers
    measured = [{k: v for k, v in ex.summary().items() if k not in unmeasured} for ex in (replay, full)]
    assert measured[0] == measured[1]


@pytest.mark.parametrize("extra", [("train.mak=1024", "train.max_staleness=1.5"),
                                   ("train.mak=64", "train.max_staleness=1", "hardware.host.completion_latency_s=1e-4",
                                    "hardware.link.packet_bytes=64")], ids=["cap-1024", "round-trip-packets"])
def test_the_compiled_loop_admits_as_the_python_loop(extra, tmp_path, monkeypatch):
    """The compiled loop keeps the window too (it stops after each completion for the window to take it in,
    with the staleness noted up to it): the same history, time, staleness and summary as the Python loop."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path))
    compiled, compiled_stale, _ = run(*extra, "executor.numerics=false")
    monkeypatch.setattr(JitReplay, "compiled", False)
    python, python_stale, _ = run(*extra, "executor.numerics=false")
    assert compiled.replay.kernel_events > 0 and python.replay.kernel_events == 0
    assert compiled.summary()["admission_cuts"] > 0
    assert compiled.admission_window.history == python.admission_window.history and compiled_stale == python_stale
    assert compiled.time_s == python.time_s and compiled.summary() == python.summary()
