"""Per-update staleness and stash memory, written beside a run's summary as ``staleness.json``."""

import json
from pathlib import Path

from ampsim.config import load_config, parse_override
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
SIM = ('executor.kind="sim"', f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"')


def report(tmp_path, *overrides) -> dict:
    cfg = load_config(ROOT / "experiments" / "list_reduction.toml",
                      [parse_override(o) for o in ("data.n_train=600", "data.n_test=8", "train.epochs=1", *overrides)])
    summary = train_experiment(cfg, tmp_path / "run")
    rep = json.loads((tmp_path / "run" / "staleness.json").read_text())
    return {**rep, "_instances": summary["instances"]}


def test_synchronous_updates_are_never_stale(tmp_path):
    rep = report(tmp_path)
    del rep["_instances"]
    for node in rep.values():
        assert node["per_update"]["count"] > 0 and node["per_update"]["max"] == 0
        assert node["backward"]["max"] == 0 and node["stash_peak_bytes"] == 0


def test_amp_updates_apply_stale_gradients_and_stashing_keeps_versions(tmp_path):
    plain = report(tmp_path / "a", *SIM, "train.mak=16", "train.muf=1")
    stash = report(tmp_path / "b", *SIM, "train.mak=16", "train.muf=1", 'train.staleness="stash"')
    cell = "cell"
    # each instance's gradient is as stale as its oldest forward at the node: at least its backwards' staleness
    assert plain[cell]["per_update"]["max"] >= plain[cell]["backward"]["max"] > 0
    # one per-update entry per (instance, node) update: as many as the instances that trained the node
    assert plain[cell]["per_update"]["count"] == plain["_instances"]
    assert plain[cell]["stash_peak_bytes"] == 0 < stash[cell]["stash_peak_bytes"]


def test_a_replay_does_not_claim_per_update_staleness(tmp_path):
    rep = report(tmp_path, *SIM, "train.mak=4", "executor.numerics=false")
    del rep["_instances"]
    assert all(node["per_update"] is None for node in rep.values())
