"""A replayed plan's placement profile, read off the recording (:mod:`ampsim.executors.sim.profiled`), is
the numpy profile's (:func:`ampsim.placement.profile`) bit for bit, key order included, on every task, with
muf 1 and above, and for the model before copying of a replicated one; so is the placement made from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.config import load_config, parse_override
from ampsim.executors.sim import recording_cache
from ampsim.executors.sim.profiled import recorded_profile
from ampsim.placement import Profile, profile
from ampsim.planning import PROFILE_INSTANCES, plan

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware_models"

OFFLINE = [("list_reduction.toml", ("data.n_train=40", "data.n_test=4", "train.muf=1")),
           ("blobs_mlp.toml", ("data.n_train=160", "data.n_test=8", "train.muf=3"))]
REAL_DATA = [("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=8", "train.muf=2")),
             ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.muf=1")),
             ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.muf=3",
                                    'replicas.nodes={"compose"=2}', "replicas.groups=2", 'replicas.sync="none"')),
             ("qm9_ggnn.toml", ("data.limit_train=80", "data.limit_valid=4", "train.muf=4"))]


def _plan(experiment: str, overrides: tuple[str, ...], numerics: bool):
    cfg = load_config(ROOT / "experiments" / experiment, [parse_override(o) for o in (
        'executor.kind="sim"', f'executor.hardware="{HW / "torus8x8.toml"}"', 'placement.strategy="greedy"',
        f"executor.numerics={str(numerics).lower()}", *overrides)])
    return plan(cfg)


def _items(prof: Profile) -> list:
    return [prof.instances, *(list(getattr(prof, f).items()) for f in ("flops", "bytes", "kernels", "messages",
                                                                       "edge_bytes"))]


def assert_same_profile(experiment: str, overrides: tuple[str, ...], monkeypatch) -> None:
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    recording_cache.clear_memory()
    full = _plan(experiment, overrides, True)
    model = full.replicas.logical if full.replicas is not None else full.task.model
    instances = list(full.task.train_instances(1))[:PROFILE_INSTANCES]
    expected = _items(profile(model, instances))
    assert _items(recorded_profile(model, instances)) == expected
    assert any(v for _, v in expected[1]) and expected[5]  # work and traffic were counted
    replayed = _plan(experiment, overrides, False)  # the plan takes the recording's profile
    assert replayed.placement == full.placement and replayed.estimated_load == full.estimated_load


@pytest.mark.parametrize("experiment,overrides", OFFLINE, ids=lambda v: v if isinstance(v, str) else "")
def test_the_recorded_profile_is_the_numpy_one_offline(experiment, overrides, monkeypatch):
    assert_same_profile(experiment, overrides, monkeypatch)


@pytest.mark.parametrize("experiment,overrides", REAL_DATA, ids=lambda v: v if isinstance(v, str) else "")
def test_the_recorded_profile_is_the_numpy_one_on_real_data(experiment, overrides, data_root, monkeypatch):
    assert_same_profile(experiment, overrides, monkeypatch)


def test_a_replayed_plan_profiles_without_the_numpy_pump(monkeypatch, tmp_path):
    """The second replayed plan of a sweep's worker finds the profile's instances recorded: no pump runs."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    recording_cache.clear_memory()
    overrides = ("data.n_train=160", "data.n_test=8")
    _plan("blobs_mlp.toml", overrides, False)
    import ampsim.executors.sim.recording as recording
    monkeypatch.setattr(recording, "pump", lambda *a, **k: pytest.fail("the numpy pump ran"))
    monkeypatch.setattr("ampsim.placement.load.pump", lambda *a, **k: pytest.fail("the numpy pump ran"))
    assert _plan("blobs_mlp.toml", overrides, False).placement
