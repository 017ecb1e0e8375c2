"""The outer learning rate in the simulator: the anchor each copy keeps counts in its chip's memory, the
outer step is work on its chip, and a replay reproduces the full run exactly (``replicas.outer_lr``)."""

from __future__ import annotations

from pathlib import Path

from replay_kit import HW, measured, run_experiment

BASE = ("data.limit_train=640", "data.limit_test=16", 'executor.kind="sim"',
        f'executor.hardware="{HW / "torus8x8.toml"}"', 'placement.strategy="groups"',
        "train.mak=4", "train.muf=2", "train.epochs=1", "replicas.groups=2", "replicas.sync_every=2")


def run(tmp: Path, *overrides: str, numerics: bool = True):
    return run_experiment("mnist_mlp.toml", (*BASE, *overrides), numerics, tmp)[:2]


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
    replay, rx = run(tmp_path / "replay", "replicas.outer_lr=4.0", numerics=False)
    assert measured(replay) == measured(full)
    assert [c.busy_s for c in rx.chips] == [c.busy_s for c in fx.chips]
    assert [c.peak_bytes for c in rx.chips] == [c.peak_bytes for c in fx.chips]
