"""What the Python API promises, checked as properties (derandomized, small): it runs what the command line runs,
bit for bit (``train``, ``sweep``), and the same again in one process; a Config changed with
``dataclasses.replace`` is refused as ``--set`` refuses the key, named ``Config.<key>``; it never prints, leaves
nothing behind when a run fails, and its package-level names and example work as the docstring says."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import ampsim
from ampsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
RING4 = ROOT / "hardware_models" / "ring4.toml"
SMALL = {"data.n_train": 64, "data.n_test": 16, "train.epochs": 2}
SIM = {**SMALL, "executor.kind": "sim", "executor.hardware": str(RING4), "train.mak": 2}
#: the files of a run that hold no wall-clock time: equal bytes from the API and from the command line
SAME_BYTES = ("config.toml", "metrics.csv", "summary.json", "placement.json", "hardware.toml")


def _sets(overrides: dict) -> list[str]:
    """``overrides`` as the command line's ``--set KEY=VALUE`` arguments (a TOML value each)."""
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def test_star_import_gives_every_public_name():
    code = ("from ampsim import *\nimport ampsim\nmissing = [n for n in ampsim.__all__ if n not in globals()]\n"
            "assert not missing, missing\nassert isinstance(train, type(ampsim.plan))\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr


def test_a_simulated_train_is_the_command_lines_bit_for_bit_and_repeats(tmp_path, capfd):
    first = ampsim.train(BLOBS, tmp_path / "api", overrides=SIM)
    again = ampsim.train(ampsim.load_experiment(BLOBS, SIM), tmp_path / "again")
    kept_nowhere = ampsim.train(BLOBS, overrides=SIM)
    assert capfd.readouterr().out == ""  # (the library logs; only the command line prints)
    assert main(["train", str(BLOBS), *_sets(SIM), "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    for name in SAME_BYTES:
        api = (tmp_path / "api" / name).read_bytes()
        assert api == (tmp_path / "cli" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert first.metrics.equals(again.metrics) and first.metrics.equals(kept_nowhere.metrics)
    assert first.summary == again.summary == kept_nowhere.summary
    assert first.config == again.config == kept_nowhere.config


def test_a_sweep_is_the_command_lines_bit_for_bit_and_repeats(tmp_path, capfd):
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(f'[sweep]\nname = "tiny"\nexperiment = "{BLOBS}"\nhardware = "{RING4}"\n[fixed]\n'
                          '"executor.kind" = "sim"\n"train.epochs" = 1\n"data.n_train" = 64\n"data.n_test" = 16\n'
                          '[grid]\n"train.mak" = [1, 2]\n')
    table = ampsim.sweep(sweep_file, tmp_path / "api", jobs=1)
    again = ampsim.sweep(sweep_file, tmp_path / "again", jobs=1)
    assert capfd.readouterr().out == ""
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "cli"), "--jobs", "1", "--no-progress"]) == 0
    assert table.equals(again) and list(table["train.mak"]) == [1, 2]
    files = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*")
                   if p.is_file() and (p.name in SAME_BYTES or p.name in ("table.csv", "sweep.json", "point.json")))
    assert len(files) == 2 + 2 * 6
    for name in files:
        cli = (tmp_path / "cli" / name).read_bytes()
        assert (tmp_path / "api" / name).read_bytes() == cli == (tmp_path / "again" / name).read_bytes(), name


def _toml(value) -> str:
    """``value`` as ``--set`` takes it: TOML (an inline table for a dict; JSON's strings, numbers and arrays are
    TOML's)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@pytest.mark.parametrize("changes", [
    {"train.mak": 4}, {"model.hidden": [8, 8]}, {"placement.strategy": "greedy"}, {"replicas.groups": 2},
    {"train.staleness_nodes": {"fc0": "stash"}}, {"hardware": {"chip": {"memory_bytes": 10**9}}},
    {"executor.kind": "sim", "executor.hardware": str(RING4)},
])
def test_a_replaced_config_runs_as_set_runs_it(changes, tmp_path):
    base = ampsim.load_experiment(BLOBS, SMALL if "executor.kind" in changes else SIM)
    cfg = base
    for key, value in changes.items():
        section, _, field = key.partition(".")
        new = dataclasses.replace(getattr(cfg, section), **{field: value}) if field else value
        cfg = dataclasses.replace(cfg, **{section: new})
    ampsim.train(cfg, tmp_path / "api")
    given = SMALL if "executor.kind" in changes else SIM
    sets = [a for k, v in changes.items() for a in ("--set", f"{k}={_toml(v)}")]
    assert main(["train", str(BLOBS), *_sets(given), *sets, "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    for name in SAME_BYTES:
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


@pytest.mark.parametrize("key, value", [
    ("train.lr", math.nan), ("train.lr", -0.5), ("train.max_loss", math.nan), ("train.mak", 0),
    ("train.epochs", -1), ("data.n_train", -5), ("experiment.seed", -1), ("eval.limit", -1),
    ("train.optimizer", "nope"), ("data.dataset", "mnist2"), ("model.hidden", [8, -1]), ("train.lr", True),
    # equal to what the file gave (train.mak = 1, model.hidden = [64, 64]) but of another type: blamed on the file
    ("train.mak", True), ("train.mak", 1.0), ("model.hidden", [64.0, 64]), ("train.epochs", 2.0),
])
def test_a_replaced_value_is_refused_as_set_refuses_it_naming_the_config(key, value, tmp_path, capsys):
    base = ampsim.load_experiment(BLOBS, SMALL)
    section, field = key.split(".")
    cfg = dataclasses.replace(base, **{section: dataclasses.replace(getattr(base, section), **{field: value})})
    with pytest.raises(ampsim.ConfigError) as err:
        ampsim.train(cfg, tmp_path / "api")
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"Config.{key}")
    assert not (tmp_path / "api").exists()
    # (json.dumps: NaN and Infinity are no TOML; the command line's own spelling of them is nan and inf)
    text = json.dumps(value).replace("NaN", "nan").replace("Infinity", "inf")
    assert main(["train", str(BLOBS), *_sets(SMALL), "--set", f"{key}={text}", "--out", str(tmp_path / "cli"),
                 "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == "ampsim: error: " + re.sub(r"^Config\.", "--set ", line)


@pytest.mark.parametrize("overrides, error", [
    ({"train.lr": 1e6, "train.max_loss": 1e-9}, ampsim.Diverged),
    ({**SIM, "hardware.chip.memory_bytes": 1000}, ampsim.OutOfMemory),
    ({**SIM, "executor.hardware": "/no/such/ring.toml"}, ampsim.ConfigError),
])
def test_a_failed_train_is_one_error_line_and_leaves_nothing_behind(overrides, error, tmp_path, monkeypatch,
                                                                    capfd):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where a run without out= is written
    (tmp_path / "tmp").mkdir()
    for out in (tmp_path / "new" / "run", None):  # (the folders above a run's, made for it, went with it)
        with pytest.raises(error) as err:
            ampsim.train(BLOBS, out, overrides={**SMALL, **overrides})
        assert "\n" not in str(err.value)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "tmp"] and not any((tmp_path / "tmp").iterdir())
    assert capfd.readouterr().out == ""


def test_the_packages_example_runs_as_written(data_root, tmp_path, monkeypatch):
    """``ampsim/__init__.py``'s example (its quick sweep into the working folder, here a temporary one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    example = re.search(r"public API::\n\n(.*?)\n\n", ampsim.__doc__, re.S).group(1)
    code = "\n".join(line.split("  #")[0].rstrip()[4:] for line in example.splitlines())
    for folder in ("experiments/", "hardware_models/", "results/mnist_mlp"):  # (the repository's, read only)
        code = code.replace(f'"{folder}', f'"{ROOT}/{folder}')
    assert "ampsim.sweep(" in code and "ampsim.plan(" in code
    namespace: dict = {}
    exec(compile(code, "ampsim/__init__.py", "exec"), namespace)  # noqa: S102 (the package's own example)
    assert list(namespace["run"].metrics["epoch"]) == [1, 2] and namespace["p"].system.name == "ring4"
    assert namespace["old"].config.experiment.task == "mlp" and len(namespace["old"].metrics) > 0
    assert len(namespace["table"]) == 8 and (tmp_path / "results" / "quick" / "sweeps" / "mak_mnist").is_dir()


def test_what_the_api_returns_as_frozen_is(tmp_path):
    cfg = ampsim.load_experiment(BLOBS, SIM)
    run = ampsim.train(cfg, tmp_path / "run")
    plan = ampsim.plan(cfg)
    for obj, field in ((cfg, "path"), (cfg.train, "lr"), (run, "summary"), (plan, "placement")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)
    assert hash(cfg) == hash(ampsim.load_experiment(BLOBS, SIM)) and run.config == cfg


def test_a_plans_placement_and_load_cannot_be_changed_under_its_executor(tmp_path):
    """A Plan is frozen, but its placement (a dict) and its estimated load (a list of dicts of lists) were not: code
    holding the plan changed them past the plan's checks (a node onto a chip that does not exist, a NaN load, another
    chip's nodes), into its executor and the run's placement.json. They are read-only now, and written as before."""
    cfg = ampsim.load_experiment(BLOBS, {**SIM, "placement.strategy": "greedy"})
    plan = ampsim.plan(cfg)
    name = next(iter(plan.placement))
    for change in (lambda: plan.placement.__setitem__(name, 99), lambda: plan.placement.pop(name),
                   lambda: plan.estimated_load[0].__setitem__("est_busy_s_per_instance", math.nan),
                   lambda: plan.estimated_load[1]["nodes"].append("fc9"), lambda: plan.estimated_load.append({})):
        with pytest.raises((TypeError, AttributeError)):
            change()
    again = ampsim.plan(cfg, placement=plan.placement, estimated=plan.estimated_load)  # (handed on, as compare does)
    assert again.placement == plan.placement and again.estimated_load == plan.estimated_load
    with ampsim.make_executor(again) as executor:
        assert executor.placement == plan.placement and executor.estimated_load == plan.estimated_load
    run = ampsim.train(cfg, tmp_path / "run")
    placed = json.loads((run.path / "placement.json").read_text())
    assert placed["strategy_output"] == dict(plan.placement)
    assert placed["chips"] == [dict(e, nodes=list(e["nodes"])) for e in plan.estimated_load]


def test_a_plans_given_load_is_its_own_copy():
    """plan(estimated=...) kept the caller's list: changed after planning (a NaN, another chip's nodes), the frozen
    plan's load changed with it, unchecked, into the executor and its run's placement.json."""
    cfg = ampsim.load_experiment(BLOBS, {**SIM, "placement.strategy": "greedy"})
    good = ampsim.plan(cfg)
    placement, estimated = dict(good.placement), [dict(e, nodes=list(e["nodes"])) for e in good.estimated_load]
    plan = ampsim.plan(cfg, placement=placement, estimated=estimated)
    estimated[0]["est_busy_s_per_instance"] = math.nan
    estimated[1]["nodes"].append("fc9")
    placement[next(iter(placement))] += 1
    assert plan.estimated_load == good.estimated_load and plan.placement == good.placement
    with ampsim.make_executor(plan) as executor:
        assert executor.estimated_load == good.estimated_load


def test_a_sweep_that_fails_before_any_point_leaves_no_folder(tmp_path):
    """A Ray cluster that does not answer: the sweep's folder (and the ones above it that it made) stayed, empty."""
    pytest.importorskip("ray")
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(f'[sweep]\nname = "tiny"\nexperiment = "{BLOBS}"\n[grid]\n"train.mak" = [1]\n')
    with pytest.raises(ampsim.RunError, match=r"^ray_address='127\.0\.0\.1:1': no Ray cluster answers"):
        ampsim.sweep(sweep_file, tmp_path / "new" / "sweep", ray=True, ray_address="127.0.0.1:1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]
    (tmp_path / "kept").mkdir()  # a folder the caller made is the caller's: it stays
    with pytest.raises(ampsim.RunError):
        ampsim.sweep(sweep_file, tmp_path / "kept", ray=True, ray_address="127.0.0.1:1")
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


@pytest.mark.parametrize("chip", [True, 1.0, "1"])
def test_a_given_loads_chip_is_a_whole_number_not_one_equal_to_it(chip):
    """True and 1.0 equal chip 1: taken, they went as they were into the plan and the run's placement.json
    ("chip": true)."""
    cfg = ampsim.load_experiment(BLOBS, {**SIM, "placement.strategy": "greedy"})
    good = ampsim.plan(cfg)
    estimated = [dict(e) for e in good.estimated_load]
    estimated[1]["chip"] = chip
    with pytest.raises(ampsim.ConfigError, match=r"^plan: estimated\[1\]: expected \{'chip': 1, "):
        ampsim.plan(cfg, placement=good.placement, estimated=estimated)
    estimated[1]["chip"] = np.int64(1)  # (a numpy integer is one)
    assert ampsim.plan(cfg, placement=good.placement, estimated=estimated).estimated_load == good.estimated_load


@pytest.mark.parametrize("form", [np.array, dict.fromkeys, lambda names: 5, lambda names: None])
def test_a_given_loads_nodes_are_a_list_of_names_or_one_error_line(form):
    """A numpy array of the names raised ValueError (its truth value), a number TypeError, and a dict of them was
    taken into placement.json as a dict."""
    cfg = ampsim.load_experiment(BLOBS, {**SIM, "placement.strategy": "greedy"})
    good = ampsim.plan(cfg)
    estimated = [dict(e) for e in good.estimated_load]
    estimated[1]["nodes"] = form(estimated[1]["nodes"])
    with pytest.raises(ampsim.ConfigError, match=r"^plan: estimated\[1\]: expected \{'chip': 1, 'nodes': \['"):
        ampsim.plan(cfg, placement=good.placement, estimated=estimated)
    estimated[1]["nodes"] = tuple(reversed(good.estimated_load[1]["nodes"]))  # (in any order, and a tuple, as before)
    assert ampsim.plan(cfg, placement=good.placement, estimated=estimated).estimated_load[1]["chip"] == 1
