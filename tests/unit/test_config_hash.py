"""A Config, frozen, is hashable as it compares: ``hash(cfg)`` raised ``TypeError: unhashable type: 'list'``
(``model.hidden``, ``placement.map``), so a config could not be a dict key or an ``lru_cache`` argument."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import ampsim
from ampsim.schemas import TASK_SCHEMAS
from ampsim.sections import FIXED_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SETS = {"model.hidden": [8, 8], "placement.strategy": "explicit", "placement.map": {"input": 0, "loss": 1},
        "replicas.nodes": {"fc*": 2}, "train.staleness_nodes": {"fc0": "stash", "fc1": "none"},
        "hardware.link.latency_s": 1e-6}


@pytest.fixture(scope="module")
def cfg() -> ampsim.Config:
    return ampsim.load_experiment(BLOBS, SETS)


def test_equal_configs_hash_alike_and_serve_as_keys(cfg):
    again = ampsim.load_experiment(BLOBS, SETS)
    assert again == cfg and again is not cfg and hash(again) == hash(cfg)
    assert {cfg: "run"}[again] == "run"
    # a table's order does not make it another table, for == or for the hash
    flipped = replace(cfg, train=replace(cfg.train, staleness_nodes={"fc1": "none", "fc0": "stash"}))
    assert flipped == cfg and hash(flipped) == hash(cfg)
    other = replace(cfg, model=replace(cfg.model, hidden=[8, 9]))
    assert other != cfg and len({cfg, again, flipped, other}) == 2

    calls = []

    @functools.lru_cache(maxsize=4)
    def resolve(c: ampsim.Config) -> int:
        calls.append(c)
        return len(c.model.hidden)

    assert resolve(cfg) == resolve(again) == 2 and len(calls) == 1


def test_what_equality_ignores_the_hash_ignores_too(cfg):
    said = replace(cfg, hardware_from="somewhere else")  # (compare=False: where the overrides came from)
    assert said == cfg and hash(said) == hash(cfg)


def test_every_section_is_hashable_as_it_compares():
    for name, section in FIXED_SECTIONS.items():
        assert hash(section()) == hash(section()), name
    for task, schema in TASK_SCHEMAS.items():
        for cls in (schema.data, schema.model):
            assert hash(cls()) == hash(cls()), (task, cls)
            assert cls.__hash__ is not None and dataclasses.is_dataclass(cls)


def test_a_config_with_a_task_section_of_its_own_is_hashable(cfg):
    @dataclass(frozen=True)  # an outside task's section, with the generated hash that a list breaks
    class Own:
        widths: list = dataclasses.field(default_factory=lambda: [4, 4])

    with pytest.raises(TypeError):
        hash(Own())
    assert hash(replace(cfg, model=Own())) == hash(replace(cfg, model=Own([4, 4])))
