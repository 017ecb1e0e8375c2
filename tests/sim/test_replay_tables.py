"""Replay (``executor.numerics = false``) stays exact on machines with a ``compute_table`` or
``contention_slowdown`` (issue 14): both replay loops against the full run.

The replay computes step durations per chip spec with :func:`ampsim.hardware.cost.compute_times_s` (keyed by
``duration_key``, which counts the table), and its fast loop models no contention, so it leaves such
machines to the SimPy replay.
"""

from __future__ import annotations

import pytest
from test_replay import ROOT, assert_same_timing, sim

from ampsim.calibration.workloads import work_items
from ampsim.config import load_config, parse_override
from ampsim.hardware.parse import load_system
from ampsim.planning import plan

DATA = ("data.n_train=320", "data.n_test=16")


def test_the_fast_loop_leaves_contention_to_the_simpy_replay():
    from ampsim.executors.sim import fastloop

    s = load_system(ROOT / "hardware_models" / "ring4.toml", {"chip": {"contention_slowdown": 0.3}})
    assert not fastloop.supports(s, False)


def blobs_table(scale: float, every: int) -> str:
    """A ``compute_table`` (TOML) for blobs_mlp: every ``every``-th of its works, at ``scale`` times 10 us per
    row index (the others are interpolated or, for kernels without a row, the roofline)."""
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [parse_override(o) for o in DATA])
    task = plan(cfg).task
    works = work_items(task.model, list(task.train_instances(1))[:6])[0]
    rows = [f"{{flops = {f!r}, bytes = {b!r}, kernels = {k!r}, seconds = {scale * 1e-5 * (i + 1)!r}}}"
            for i, (f, b, k) in enumerate(works.tolist()) if i % every == 0]
    return "[" + ", ".join(rows) + "]"


@pytest.mark.parametrize("trace", [False, True], ids=["fast-loop", "simpy-replay"])
def test_replay_equals_the_full_run_with_a_compute_table(trace, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = (*DATA, *sim("ring4.toml", "round_robin", 16, 2, f"executor.trace={str(trace).lower()}"),
                 f"hardware.chip.compute_table={blobs_table(1.0, 2)}")
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)


def test_replay_equals_the_full_run_with_different_tables_per_chip(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    override = f"hardware.chip_override=[{{chips = [1, 3], compute_table = {blobs_table(3.0, 1)}}}]"
    overrides = (*DATA, *sim("ring4.toml", "round_robin", 4, 1), f"hardware.chip.compute_table={blobs_table(1.0, 1)}",
                 override)
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)


def test_replay_equals_the_full_run_with_contention_in_the_simpy_replay(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = (*DATA, *sim("ring4.toml", "greedy", 16, 2, "executor.trace=true"),
                 "hardware.chip.contention_slowdown=0.3")
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)


def test_replay_equals_the_full_run_with_contention_without_a_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = (*DATA, *sim("ring4.toml", "greedy", 16, 2), "hardware.chip.contention_slowdown=0.3")
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)


def test_a_recording_keeps_the_step_durations_of_its_last_few_chip_specs_only(monkeypatch):
    """A sweep over chip speed replays one recording on a new spec at every point: each spec's durations
    (arrays and lists, about 80 bytes a message) are kept for the last few only, and a spec dropped and
    met again gets the same durations back."""
    import dataclasses

    import numpy as np
    from timeline_kit import insts, system, weight_model

    from ampsim.executors.sim import SimExecutor
    from ampsim.executors.sim.recording import DURATION_SLOTS
    from ampsim.recent import Recent

    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    cache = Recent(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # read: now the most recent
    cache["c"] = 3
    assert list(cache) == ["a", "c"] and cache.get("b") is None

    def run(flops: float):
        base = system()
        chips = tuple(dataclasses.replace(c, flops_per_s=flops) for c in base.chips)
        ex = SimExecutor(weight_model(("a", 1e6), ("b", 2e6)), dataclasses.replace(base, chips=chips),
                         {"x": 0, "a": 0, "b": 1, "end": 1, "w": 0}, mak=2, numerics=False)
        ex.train(insts(6))
        return ex

    first = run(1e9)
    for k in range(DURATION_SLOTS + 2):
        ex = run(1e9 * (2 + k))
    cache = ex.replay.rec.replay_view["duration_cache"]
    assert len(cache) <= DURATION_SLOTS
    again = run(1e9)
    assert again.time_s == first.time_s and [c.busy_s for c in again.chips] == [c.busy_s for c in first.chips]
    assert np.array_equal(again.replay.duration_arrays(again.chips[0].spec)[1],
                          first.replay.duration_arrays(first.chips[0].spec)[1])
