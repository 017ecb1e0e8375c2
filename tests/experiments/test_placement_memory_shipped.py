"""The shipped experiments place on the shipped hardware models as they did before the strategies looked at
chip memory: committed results (placement.json, and every simulated number after it) depend on it. Each
experiment, with its optimizer's state counted (the most a chip holds from the start, so what fits here fits
without it), in one replica group and in two, is placed by every automatic strategy on every model twice:
without memory (as before) and with it (as the simulator now places); the two must be the same mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.config import load_config
from ampsim.hardware.parse import load_system
from ampsim.models import build_task
from ampsim.placement import expand_profile, place, profile, resident_bytes
from ampsim.planning import PROFILE_INSTANCES, configure_params, replicate_task

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(p.name for p in (ROOT / "experiments").glob("*.toml"))
MODELS = sorted((ROOT / "hardware_models").rglob("*.toml"))


@pytest.mark.data
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_shipped_experiments_place_on_shipped_models_as_before(experiment, data_root, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    assert len(MODELS) >= 10
    for groups in (1, 2):
        cfg = load_config(ROOT / "experiments" / experiment, [
            ("executor.kind", "sim"), ("train.count_optimizer_state", True), ("replicas.groups", groups)])
        task = build_task(cfg)
        configure_params(cfg, task)
        task, rep = replicate_task(cfg, task)
        logical = rep.logical if rep is not None else task.model
        prof = profile(logical, list(task.train_instances(1))[:PROFILE_INSTANCES])
        if rep is not None:
            prof = expand_profile(prof, rep.copies)
        members = rep.group_members if rep is not None else None
        resident = resident_bytes(task.model)
        assert resident and any(resident.values())
        for path in MODELS:
            chips = load_system(path).chips
            for strategy in ("round_robin", "greedy", "min_cut", "groups") if groups == 1 else ("groups",):
                kwargs = dict(prof=prof, seed=cfg.experiment.seed, groups=members)
                before = place(strategy, task.model, chips, **kwargs)
                assert place(strategy, task.model, chips, resident=resident, **kwargs) == before, (path, strategy)
