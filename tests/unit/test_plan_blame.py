"""The plan stage's errors name the place that set the value they refuse: the ``--set`` (or the command line's own
option, the API's ``overrides:``, a sweep's key) where one did, the experiment file where the file did. They named
the file whatever set the value (``experiments/blobs_mlp.toml: replicas.groups: 8 groups but only 4 chip(s)`` for
``--set replicas.groups=8``), where the file's own checks already named the override (``--set train.mak: must be
>= 1``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ampsim
from ampsim.cli import main
from ampsim.config import load_config
from ampsim.errors import ConfigError, NoRoom
from ampsim.planning import plan
from ampsim.sweeps.spec import load_sweep
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
RING4 = ROOT / "hardware_models" / "ring4.toml"
GROUPS = "replicas.groups: 8 groups but only 4 chip(s) to hold them"


def experiment(tmp_path: Path, extra: str) -> Path:
    """blobs_mlp.toml with ``extra`` (a value of its own the plan stage refuses) in its tables."""
    path = tmp_path / "exp.toml"
    path.write_text(BLOBS.read_text().replace("[train]\n", f"[train]\n{extra}\n", 1)
                    if extra.startswith("muf") else BLOBS.read_text() + f"\n{extra}\n")
    return path


def error_line(capsys, *argv: str) -> str:
    assert main(["train", *argv, "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_value_a_set_gave_is_named_by_it_and_one_the_file_gave_by_the_file(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert error_line(capsys, str(BLOBS), "--out", out, "--hardware", str(RING4), "--set",
                      "replicas.groups=8") == f"ampsim: error: --set {GROUPS}"
    # (a --set of its whole table set it too; and the last override of a key is the one named)
    assert error_line(capsys, str(BLOBS), "--out", out, "--hardware", str(RING4), "--set", "replicas={groups=8}",
                      ) == f"ampsim: error: --set {GROUPS}"
    own = experiment(tmp_path, "[replicas]\ngroups = 8")
    assert error_line(capsys, str(own), "--out", out, "--hardware", str(RING4)) == f"ampsim: error: {own}: {GROUPS}"
    # another key of the same table set by --set does not take the blame for the file's
    assert error_line(capsys, str(own), "--out", out, "--hardware", str(RING4), "--set", "replicas.sync_every=2"
                      ) == f"ampsim: error: {own}: {GROUPS}"
    assert not Path(out).exists()


@pytest.mark.parametrize("argv, said", [
    (["--set", "train.max_staleness=1"],
     "--set train.max_staleness: staleness-bounded admission runs on the simulated"),
    (["--set", 'replicas.nodes={"nope*"=2}'], "--set replicas.nodes.nope*: names no node of the model"),
    (["--hardware", str(RING4), "--set", "replicas.nodes={fc0=8}"], "--set replicas.nodes.fc0: 8 copies of node fc0"),
    (["--hardware", str(RING4), "--set", "placement.strategy=\"explicit\"", "--set", "placement.map={\"*\"=9}"],
     "--set placement.map.*: chip 9 does not exist (the hardware has chips 0..3)"),
    (["--hardware", str(RING4), "--set", "replicas.groups=3", "--set", 'replicas.collective="halving_doubling"'],
     "--set replicas.collective: halving_doubling pairs copies by index bits"),
    (["--set", 'executor.kind="multicore"', "--set", "executor.watchdog_s=0.01"],
     "--set executor.watchdog_s: 0.01 s is shorter than the watchdog can tell"),
    # the command line's own options are named as given (it was --set executor.workers, or the file)
    (["--executor", "multicore", "--workers", "100000"], "--workers: 100000 workers need about "),
    (["--set", "train.muf=1000"], "--set train.muf: 1000 is more than the 625 instances of the whole run"),
], ids=["admission", "copies-pattern", "copies-chips", "map-chip", "collective", "watchdog", "workers", "muf"])
def test_the_plan_stages_refusals_name_the_set(tmp_path, capsys, argv, said):
    line = error_line(capsys, str(BLOBS), "--out", str(tmp_path / "run"), *argv)
    assert line.startswith(f"ampsim: error: {said}") and str(BLOBS) not in line, line


def test_a_muf_of_the_files_own_is_the_files(tmp_path):
    own = experiment(tmp_path, "muf = 1000")
    with pytest.raises(ConfigError, match=rf"^{own}: train.muf: 1000 is more than the 625 instances"):
        train_experiment(load_config(own), tmp_path / "run")


def test_the_api_names_its_overrides_and_a_refusal_keeps_its_kind(tmp_path):
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": str(RING4),
                                         "replicas.groups": 8})
    with pytest.raises(ConfigError, match=rf"^load_experiment: overrides: {re.escape(GROUPS)}$"):
        ampsim.plan(cfg)
    # a chip too small for a layer: a NoRoom still (a sweep records it as out of memory), with its record
    cfg = load_config(BLOBS, [("executor.kind", "sim"), ("executor.hardware", str(RING4)),
                              ("placement.strategy", "greedy"), ("hardware.chip.memory_bytes", 10_000)])
    with pytest.raises(NoRoom) as err:
        plan(cfg)
    assert str(err.value).startswith("--set placement.strategy: greedy finds no chip with room for node fc1 ")
    assert err.value.where["node"] == "fc1" and err.value.record()["error"] == str(err.value)
    assert "(at most 10,000, set by --set hardware.chip.memory_bytes); give the chips more memory" in str(err.value)


def test_a_chip_memory_an_override_set_is_named_beside_the_files_strategy(tmp_path):
    """The strategy, the file's (its default), is the line's key; the memory it could not fit in was the --set's."""
    small = tmp_path / "small.toml"
    small.write_text(RING4.read_text().replace("memory_bytes = 9.0e8", "memory_bytes = 1000"))
    by_set = ", set by --set hardware.chip.memory_bytes"
    for hardware, extra, said in ((RING4, [("hardware.chip.memory_bytes", 1000)], by_set),
                                  (RING4, [("hardware.chip", {"memory_bytes": 1000})], by_set),
                                  (small, [], "")):  # (the hardware file's own: nothing more to say)
        cfg = load_config(BLOBS, [("executor.kind", "sim"), ("executor.hardware", str(hardware)), *extra])
        with pytest.raises(NoRoom) as err:
            plan(cfg)
        assert str(err.value).startswith(f"{BLOBS}: placement.strategy: round_robin finds no chip with room for node ")
        assert f"(at most 1,000{said}); give the chips more memory" in str(err.value), str(err.value)


def sweep(tmp_path: Path, experiment_path: Path, fixed: str, grid: str) -> Path:
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{experiment_path}"\nhardware = "{RING4}"\n[fixed]\n"train.epochs" = 1\n'
                    f"{fixed}\n[grid]\n{grid}\n")
    return path


def test_a_sweeps_point_names_its_key_and_the_files_value_the_file(tmp_path):
    path = sweep(tmp_path, BLOBS, "", '"replicas.groups" = [2, 8]')
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert str(err.value) == f"{path}: point 1 (replicas.groups=8): {GROUPS}"
    own = experiment(tmp_path, "[replicas]\ngroups = 8")
    path = sweep(tmp_path, own, "", '"train.mak" = [1, 2]')
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert str(err.value) == f"{path}: point 0 (train.mak=1): {own}: {GROUPS}"


def test_a_run_name_a_set_gave_is_named_by_it_and_the_files_own_by_the_file(tmp_path, capsys, monkeypatch):
    """Without --out the run's folder is results/<experiment.name>; a name that would leave results/ was refused as
    the experiment file's (``experiments/blobs_mlp.toml: experiment.name: '../x' cannot ...``) when --set gave it."""
    monkeypatch.chdir(tmp_path)  # (nothing is written: the name is refused first)
    said = "experiment.name: '../x' cannot name a folder in results/: use one plain name"
    assert error_line(capsys, str(BLOBS), "--set", 'experiment.name="../x"').startswith(f"ampsim: error: --set {said}")
    own = tmp_path / "own.toml"
    own.write_text(BLOBS.read_text().replace('name = "blobs_mlp"', 'name = "../x"', 1))
    assert error_line(capsys, str(own)).startswith(f"ampsim: error: {own}: {said}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own.toml"]


def test_a_value_changed_in_python_is_named_as_the_configs_not_the_files(caplog):
    # a Config changed with dataclasses.replace (the README's way to vary one through the API) named the file,
    # which holds no such value: for a field's own rule, the plan stage's, the muf check and a key nothing reads
    import dataclasses

    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": str(RING4), "train.mak": 2})

    def changed(**train):
        return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train))

    with pytest.raises(ConfigError, match=r"^Config\.train\.lr: must be > 0, got -1\.0$"):
        ampsim.plan(changed(lr=-1.0))
    with pytest.raises(ConfigError, match=r"^Config\.replicas\.groups: 8 groups but only 4 chip\(s\) to hold them$"):
        ampsim.plan(dataclasses.replace(cfg, replicas=dataclasses.replace(cfg.replicas, groups=8)))
    with pytest.raises(ConfigError, match=r"^Config\.train\.muf: 1000000 is more than the 625 instances"):
        ampsim.train(changed(muf=10**6))
    with caplog.at_level("WARNING"):
        ampsim.plan(changed(momentum=0.5))
    assert "Config.train.momentum (read only with train.optimizer = momentum" in caplog.text
    # a value an override set keeps its override beside a change in Python, and one Python changed after it is Python's
    grouped = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": str(RING4),
                                             "replicas.groups": 8})
    with pytest.raises(ConfigError, match=rf"^load_experiment: overrides: {re.escape(GROUPS)}$"):
        ampsim.plan(dataclasses.replace(grouped, train=dataclasses.replace(grouped.train, lr=0.5)))
    with pytest.raises(ConfigError, match=r"^Config\.replicas\.groups: 6 groups but only 4 chip"):
        ampsim.plan(dataclasses.replace(grouped, replicas=dataclasses.replace(grouped.replicas, groups=6)))
    # [hardware] changed in Python: the hardware model's errors name it as the overrides they came with
    with pytest.raises(ConfigError, match=r"\(with the hardware overrides of Config\.hardware\.chip\): chip\.memory_bytes"):
        ampsim.plan(dataclasses.replace(grouped, hardware={"chip": {"memory_bytes": -1}}))
