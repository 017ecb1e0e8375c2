"""A value is taken or refused alike through the API's overrides and through ``dataclasses.replace``: a tuple
for an array (``model.hidden = (8, 8)``) was taken by ``load_experiment`` and refused by the check of a replaced
config ("expected array, got tuple"); both now take it as the array a run's config.toml holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import ampsim
from ampsim.config import load_config
from ampsim.runfiles import CONFIG

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SMALL = {"data.n_train": 64, "data.n_test": 16, "train.epochs": 1}


@pytest.fixture(scope="module")
def base() -> ampsim.Config:
    return ampsim.load_experiment(BLOBS, SMALL)


@pytest.mark.parametrize("section, key, value, want", [
    ("model", "hidden", (8, 8), [8, 8]),
    ("model", "hidden", np.array([8, 8]), [8, 8]),
    ("train", "mak", np.int64(2), 2),
    ("train", "staleness_nodes", {"fc0": "stash"}, {"fc0": "stash"}),
])
def test_overrides_and_replace_take_a_value_alike(base, section, key, value, want):
    by_overrides = ampsim.load_experiment(BLOBS, {**SMALL, f"{section}.{key}": value})
    by_replace = replace(base, **{section: replace(getattr(base, section), **{key: value})})
    planned = ampsim.plan(by_replace).config
    assert getattr(getattr(planned, section), key) == want and type(getattr(getattr(planned, section), key)) is type(want)
    assert planned == by_overrides


def test_a_replaced_tuple_runs_and_its_config_toml_reads_back_the_same(base, tmp_path):
    by_overrides = ampsim.load_experiment(BLOBS, {**SMALL, "model.hidden": (8, 8)})
    by_replace = replace(base, model=replace(base.model, hidden=(8, 8)))
    a = ampsim.train(by_overrides, tmp_path / "a")
    b = ampsim.train(by_replace, tmp_path / "b")
    assert b.config == a.config and b.config.model.hidden == [8, 8]
    assert (b.path / CONFIG).read_bytes() == (a.path / CONFIG).read_bytes()
    assert load_config(b.path / CONFIG).model.hidden == [8, 8]


def test_what_overrides_refuse_a_replaced_config_refuses(base):
    for bad in ((8, "8"), (8, None)):
        with pytest.raises(ampsim.ConfigError, match="model.hidden"):
            ampsim.load_experiment(BLOBS, {**SMALL, "model.hidden": bad})
        with pytest.raises(ampsim.ConfigError, match="model.hidden"):
            ampsim.plan(replace(base, model=replace(base.model, hidden=bad)))
