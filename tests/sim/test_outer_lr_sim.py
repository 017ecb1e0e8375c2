"""The outer learning rate in the simulator: the anchor each copy keeps counts in its chip's memory, the
outer step is work on its chip, and a replay reproduces the full run exactly (``replicas.outer_lr``)."""

from __future__ import annotations

from pathlib import Path

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.planning import plan
from ampsim.results import RunDir
from ampsim.training import run_training

ROOT = Path(__file__).resolve().parents[2]
#: summary keys a replay does not measure
UNMEASURED = {"numerics", "final_metric", "best_metric", "time_to_target", "replica_drift"}
BASE = ("data.limit_train=640", "data.limit_test=16", 'executor.kind="sim"',
        f'executor.hardware="{ROOT / "hardware_models" / "torus8x8.toml"}"', 'placement.strategy="groups"',
        "train.mak=4", "train.muf=2", "train.epochs=1", "replicas.groups=2", "replicas.sync_every=2")


def run(tmp: Path, *overrides: str):
    cfg = load_config(ROOT / "experiments" / "mnist_mlp.toml", [parse_override(o) for o in (*BASE, *overrides)])
    p = plan(cfg)
    ex = make_executor(p)
    return run_training(p, ex, RunDir(tmp)), ex


def test_the_anchor_costs_each_copy_its_parameters_in_memory_and_the_step_costs_time(data_root, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    plain, px = run(tmp_path / "plain")
    outer, ox = run(tmp_path / "outer", "replicas.outer_lr=2.0")
    assert outer["sync_rounds"] == plain["sync_rounds"] > 0
    assert outer["sync_bytes"] == plain["sync_bytes"]  # the all-reduce moves the same bytes
    grew = {i: o.peak_bytes - p.peak_bytes for i, (o, p) in enumerate(zip(ox.chips, px.chips))
            if o.peak_bytes != p.peak_bytes}
    assert grew and all(v > 0 for v in grew.values())
    assert sum(o.busy_s for o in ox.chips) > sum(p.busy_s for p in px.chips)


def test_a_replay_with_an_outer_learning_rate_equals_the_full_run(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    full, fx = run(tmp_path / "full", "replicas.outer_lr=4.0")
    replay, rx = run(tmp_path / "replay", "replicas.outer_lr=4.0", "executor.numerics=false")
    assert {k: v for k, v in replay.items() if k not in UNMEASURED} == {
        k: v for k, v in full.items() if k not in UNMEASURED}
    assert [c.busy_s for c in rx.chips] == [c.busy_s for c in fx.chips]
    assert [c.peak_bytes for c in rx.chips] == [c.peak_bytes for c in fx.chips]
