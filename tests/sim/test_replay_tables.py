"""Replay (``executor.numerics = false``) stays exact on machines with a ``compute_table`` or
``contention_slowdown`` (issue 14): both replay loops against the full run.

The replay computes step durations per chip spec in :mod:`ampsim.executors.sim.replay`
(``step_durations``, ``spec_key``) and its fast loop models no contention; the cases that need those to
know the new fields are expected to fail (strictly) until they do, and then run as plain tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_replay import ROOT, assert_same_timing, sim

from ampsim.calibration.workloads import work_items
from ampsim.config import load_config, parse_override
from ampsim.hardware.parse import load_system
from ampsim.hardware.spec import ChipSpec, ComputeCost
from ampsim.planning import plan

DATA = ("data.n_train=320", "data.n_test=16")


def _replay_knows_tables() -> bool:
    from ampsim.executors.sim import replay

    chip = ChipSpec(1e9, 1e9, 0.0, 1, 10**9, compute_table=(ComputeCost(1.0, 0.0, 0.0, 1.0),))
    other = dataclasses.replace(chip, compute_table=(ComputeCost(1.0, 0.0, 0.0, 2.0),))
    return (replay.step_durations(chip, np.array([[1.0, 0.0, 0.0]]))[0] == 1.0
            and replay.spec_key(chip) != replay.spec_key(other))


def _fast_loop_declines_contention() -> bool:
    from ampsim.executors.sim import fastloop

    s = load_system(ROOT / "hardware_models" / "ring4.toml", {"chip": {"contention_slowdown": 0.3}})
    return not fastloop.supports(s, False)


TABLES = pytest.mark.xfail(not _replay_knows_tables(), strict=True,
                           reason="replay.step_durations / spec_key must use hardware.cost.compute_times_s / duration_key")
CONTENTION_FAST = pytest.mark.xfail(not _fast_loop_declines_contention(), strict=True,
                                    reason="fastloop.supports must decline chips with contention_slowdown")


def blobs_table(scale: float, every: int) -> str:
    """A ``compute_table`` (TOML) for blobs_mlp: every ``every``-th of its works, at ``scale`` times 10 us per
    row index (the others are interpolated or, for kernels without a row, the roofline)."""
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [parse_override(o) for o in DATA])
    task = plan(cfg).task
    works = work_items(task.model, list(task.train_instances(1))[:6])[0]
    rows = [f"{{flops = {f!r}, bytes = {b!r}, kernels = {k!r}, seconds = {scale * 1e-5 * (i + 1)!r}}}"
            for i, (f, b, k) in enumerate(works.tolist()) if i % every == 0]
    return "[" + ", ".join(rows) + "]"


@TABLES
@pytest.mark.parametrize("trace", [False, True], ids=["fast-loop", "simpy-replay"])
def test_replay_equals_the_full_run_with_a_compute_table(trace, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = (*DATA, *sim("ring4.toml", "round_robin", 16, 2, f"executor.trace={str(trace).lower()}"),
                 f"hardware.chip.compute_table={blobs_table(1.0, 2)}")
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)


@TABLES
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


@CONTENTION_FAST
def test_replay_equals_the_full_run_with_contention_without_a_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = (*DATA, *sim("ring4.toml", "greedy", 16, 2), "hardware.chip.contention_slowdown=0.3")
    assert_same_timing("blobs_mlp.toml", overrides, tmp_path)
