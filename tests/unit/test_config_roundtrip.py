"""The resolved ``config.toml`` a run writes round-trips (issue 15): every value survives ``dump_toml`` →
``tomllib`` (a hypothesis property over strings, numbers, nested tables and paths), the files it names are
absolute, and training again from it, from another working directory, gives the same result."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.config import load_config
from ampsim.hardware.source import hardware_path
from ampsim.tomltext import dump_toml
from ampsim.training import portable_config

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SMALL = ["--set", "data.n_train=320", "--set", "data.n_test=64", "--set", "model.hidden=[8]",
         "--set", "train.epochs=1"]

keys = st.text(max_size=12)
scalars = (st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
configs = st.dictionaries(keys, st.dictionaries(keys, values, max_size=6), max_size=4)


def same(a, b) -> bool:
    """Equality that holds NaN equal to NaN and tells -0.0 from 0.0 (what a round trip must keep)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=300, deadline=None)
@given(configs)
def test_dump_then_parse_gives_back_the_same_dict(d):
    assert same(tomllib.loads(dump_toml(d)), d)


@given(st.text(max_size=20), st.text(max_size=20))
def test_text_that_is_not_unicode_is_refused_naming_the_key(prefix, suffix):
    with pytest.raises(ValueError, match=r"^experiment\.name: .*lone surrogate U\+DC80"):
        dump_toml({"experiment": {"name": prefix + "\udc80" + suffix}})


def test_what_toml_cannot_hold_is_refused_naming_the_key():
    with pytest.raises(TypeError, match=r"^train\.target: cannot write None"):
        dump_toml({"train": {"target": None}})
    with pytest.raises(TypeError, match=r"^placement\.map: TOML keys are strings"):
        dump_toml({"placement": {"map": {3: 0}}})


file_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=30).filter(
    lambda s: s not in (".", "..") and len(s.encode()) < 200)


@settings(max_examples=60, deadline=None)
@given(file_names, st.sampled_from(["", "sub dir", "ü/ñ"]))
def test_paths_are_written_absolute_and_found_again_from_anywhere(name, folder):
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        # an empty working directory: the plan stage looks for the path as given first (there), and a
        # name that happens to exist in the repository root must not stand in for the experiment's file
        (Path(tmp) / "cwd").mkdir()
        os.chdir(Path(tmp) / "cwd")
        try:
            check_written_absolute(Path(tmp), name, folder)
        finally:
            os.chdir(cwd)


def check_written_absolute(tmp: Path, name: str, folder: str) -> None:
    base = tmp / "exp"
    (base / folder).mkdir(parents=True)
    hw = base / folder / name
    hw.write_text("not read here")
    relative = str(Path(folder) / name)  # relative to the experiment file, as the plan stage allows
    exp = base / "exp.toml"
    exp.write_text(dump_toml({**tomllib.loads(BLOBS.read_text()), "executor": {"hardware": relative}}))
    written = portable_config(load_config(exp))
    assert written["executor"]["hardware"] == str(hw.resolve())
    again = tmp / "elsewhere" / "config.toml"  # a run folder far from the experiment
    again.parent.mkdir()
    again.write_text(dump_toml(written))
    assert hardware_path(load_config(again)).resolve() == hw.resolve()


def test_word_vectors_path_is_written_absolute(tmp_path, monkeypatch):
    (tmp_path / "glove.txt").write_text("the 0.1 0.2\n")
    exp = tmp_path / "sst.toml"
    exp.write_text('[experiment]\ntask = "sst_treelstm"\n[model]\nvectors = "glove.txt"\n')
    monkeypatch.chdir(tmp_path)
    assert portable_config(load_config(exp))["model"]["vectors"] == str((tmp_path / "glove.txt").resolve())
    exp.write_text('[experiment]\ntask = "sst_treelstm"\n[model]\nvectors = "missing.txt"\n')
    assert portable_config(load_config(exp))["model"]["vectors"] == "missing.txt"  # fails on re-run as now


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "ampsim.cli", *args], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "AMPSIM_OFFLINE": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_reference_run_trains_again_from_its_config_elsewhere_to_the_same_metrics(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    cli(ROOT, "train", str(BLOBS.relative_to(ROOT)), "--no-progress", "--out", str(first), *SMALL)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cli(elsewhere, "train", str(first / "config.toml"), "--no-progress", "--out", str(second))
    # the reference executor's clock is the wall clock: those columns differ, nothing else may
    clock = ["time_s", "wall_s"]
    a, b = (pd.read_csv(p / "metrics.csv").drop(columns=clock) for p in (first, second))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    sa, sb = ({k: v for k, v in json.loads((p / "summary.json").read_text()).items()
               if k not in (*clock, "throughput_instances_per_s")} for p in (first, second))
    assert sa["time_unit"] == "wall" and sa == sb
    assert (first / "config.toml").read_text() == (second / "config.toml").read_text()


def test_sim_run_trains_again_from_its_config_elsewhere_to_identical_summary_bytes(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    cli(ROOT, "train", str(BLOBS.relative_to(ROOT)), "--no-progress", "--out", str(first),
        "--hardware", "hardware_models/ring4.toml", "--set", "train.mak=4", *SMALL)
    written = tomllib.loads((first / "config.toml").read_text())
    assert written["executor"]["hardware"] == str((ROOT / "hardware_models" / "ring4.toml").resolve())
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cli(elsewhere, "train", str(first / "config.toml"), "--no-progress", "--out", str(second))
    for name in ("summary.json", "metrics.csv", "config.toml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_runs_config_says_each_hardware_override_as_the_model_read_it(tmp_path):
    """A ``--set hardware.…`` value was written as the command line spelled it: ``memory_bytes = 1000000000.0``, an
    int field's float, and a float field's int; the resolved config says the value the run's machine had (and
    trains again to it: the model reads either spelling as the same number)."""
    from ampsim.cli import main

    out = tmp_path / "run"
    assert main(["train", str(BLOBS), "--no-progress", "--out", str(out), "--hardware", str(ROOT / "hardware_models"
                 / "ring4.toml"), "--set", "hardware.chip.memory_bytes=1e9", "--set",
                 "hardware.link.bandwidth_bytes_per_s=1_000_000_000", "--set", "hardware.link.packet_bytes=256.0",
                 *SMALL]) == 0
    written = tomllib.loads((out / "config.toml").read_text())["hardware"]
    assert same(written, {"chip": {"memory_bytes": 1_000_000_000},
                          "link": {"bandwidth_bytes_per_s": 1e9, "packet_bytes": 256}})
