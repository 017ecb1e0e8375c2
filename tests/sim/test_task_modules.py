"""A task defined outside the package, run by the command line: found through ``AMPSIM_TASK_MODULES`` (a module
on PYTHONPATH) or an installed package's entry point of group ``ampsim.tasks``, by ``ampsim train`` and by a
sweep's workers; a module that fails, or registers nothing, is one line and exit 2; a built-in task never looks
(no metadata read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from test_outside_task import EXPERIMENT, SOURCE

import ampsim
from ampsim import models, schemas
from ampsim.config import load_config
from ampsim.errors import ConfigError
from ampsim.schemas import outside

ROOT = Path(__file__).resolve().parents[2]
AMPSIM = Path(sys.executable).with_name("ampsim")  # the console script: it does not search the current folder


def module_text(task: str, how: str = "") -> str:
    """The worked example's task module, registering itself as ``task`` in its last lines."""
    return (f"SCALE_FLOPS, SCALE_KERNELS = 1, 1\n{SOURCE}\nimport sys\nfrom ampsim.models import register_task\n"
            f"register_task({task!r}, sys.modules[__name__]{how})\n")


def write_task(folder: Path, module: str, task: str = "twohead", text: str | None = None) -> Path:
    """A task module ``module`` in ``folder`` registering ``task``, and an experiment file of that task."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(module_text(task) if text is None else text)
    experiment = folder / f"{task}.toml"
    experiment.write_text(EXPERIMENT.replace('task = "twohead"', f'task = "{task}"'))
    return experiment


def run_ampsim(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(AMPSIM), *args], cwd=cwd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, **env})


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """The task registries, the task modules the test imported and the loader's memory as they were, after the
    test. Only the modules of the test's folder are forgotten: it forgot every module first imported during the
    test, ampsim's own lazily imported ones too (ampsim.api), so a later test's ``ampsim.plan`` made a Plan of
    the module imported again that ``ampsim.make_executor`` refused ('expected a Plan ..., got Plan ...')."""
    tasks, task_schemas, modules = dict(models.TASKS), dict(schemas.TASK_SCHEMAS), set(sys.modules)
    monkeypatch.setattr(outside, "_imported", set())
    monkeypatch.setattr(outside, "_missed", set())
    monkeypatch.delenv(outside.MODULES_VAR, raising=False)
    yield
    for registered, before in ((models.TASKS, tasks), (schemas.TASK_SCHEMAS, task_schemas)):
        registered.clear()
        registered.update(before)
    for name in set(sys.modules) - modules:
        if Path(getattr(sys.modules[name], "__file__", None) or "/").is_relative_to(tmp_path):
            del sys.modules[name]


def test_ampsim_train_runs_a_task_module_named_by_the_environment(tmp_path):
    experiment = write_task(tmp_path / "mods", "twohead_task")
    env = {"PYTHONPATH": str(tmp_path / "mods"), outside.MODULES_VAR: "twohead_task"}
    proc = run_ampsim("train", str(experiment), "--set", "train.epochs=1", "--out", str(tmp_path / "run"),
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["metric"] == "mse"
    # without the variable the task is unknown, as before: nothing else tells the command where it lives
    proc = run_ampsim("train", str(experiment), env={"PYTHONPATH": str(tmp_path / "mods")}, cwd=tmp_path)
    assert (proc.returncode, proc.stderr.count("\n")) == (2, 1)
    assert f"{experiment}: experiment.task: unknown task 'twohead' (known: mlp, " in proc.stderr
    assert "a task of your own: name its module in AMPSIM_TASK_MODULES, or install it with an ampsim.tasks " \
           "entry point)" in proc.stderr


def test_an_installed_packages_entry_point_names_the_tasks_module(tmp_path):
    """The metadata of an installed package (a dist-info folder on the path) declares the task: nothing else."""
    site = tmp_path / "site"
    experiment = write_task(site, "twohead_plugin")
    info = site / "twohead_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: twohead-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ampsim.tasks]\ntwohead = twohead_plugin\n")
    proc = run_ampsim("train", str(experiment), "--set", "train.epochs=1", env={"PYTHONPATH": str(site)},
                      cwd=tmp_path)
    assert proc.returncode == 0 and "mse" in proc.stdout, proc.stderr


def test_a_sweep_of_an_outside_task_runs_on_two_local_workers(tmp_path):
    experiment = write_task(tmp_path / "mods", "twohead_task")
    sweep = tmp_path / "sw.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{experiment}"\n[fixed]\n"train.epochs" = 1\n'
                     '[grid]\n"model.hidden" = [4, 6]\n')
    env = {"PYTHONPATH": str(tmp_path / "mods"), outside.MODULES_VAR: "twohead_task"}
    proc = run_ampsim("sweep", str(sweep), "--jobs", "2", "--out", str(tmp_path / "out"), "--no-progress",
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "out" / "table.csv").read_text().splitlines()
    assert len(table) == 3 and [row.split(",")[:3] for row in table[1:]] == [["4", "", "mse"], ["6", "", "mse"]]


BROKEN = {
    "raises": ("import numpy\nraise RuntimeError('no licence for the solver')\n",
               "module 'bad_task' cannot be imported: RuntimeError: no licence for the solver"),
    "syntax": ("def build(:\n", "module 'bad_task' cannot be imported: SyntaxError: "),
    "silent": ("X = 1\n", "module 'bad_task' registers no task (a task's module calls "
                          "ampsim.models.register_task(name, module) when it is imported)"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_module_that_fails_or_registers_nothing_is_one_line_naming_it(tmp_path, case):
    text, message = BROKEN[case]
    experiment = write_task(tmp_path, "bad_task", text=text)
    proc = run_ampsim("train", str(experiment), env={"PYTHONPATH": str(tmp_path), outside.MODULES_VAR: "bad_task"},
                      cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (2, "", 1), proc.stderr
    assert proc.stderr.startswith(f"ampsim: error: {outside.MODULES_VAR}: {message}")


def test_a_module_not_on_the_path_says_where_it_must_be(tmp_path, registry, monkeypatch):
    experiment = write_task(tmp_path, "elsewhere_task")  # the file exists, but not on sys.path
    monkeypatch.setenv(outside.MODULES_VAR, "elsewhere_task")
    with pytest.raises(ConfigError, match=r"^AMPSIM_TASK_MODULES: module 'elsewhere_task' cannot be imported: "
                                          r"ModuleNotFoundError: .* put the folder that holds it on PYTHONPATH"):
        load_config(experiment)


def fake_entry_points(monkeypatch, *points: tuple[str, str]) -> list[str]:
    """Entry points of group ampsim.tasks as installed packages would declare them; the names asked for."""
    asked = []

    def entry_points(*, group: str, name: str) -> list[metadata.EntryPoint]:
        asked.append(name)
        return [metadata.EntryPoint(n, v, group) for n, v in points if group == outside.ENTRY_POINT_GROUP and n == name]

    monkeypatch.setattr(outside.metadata, "entry_points", entry_points)
    return asked


def test_an_entry_point_is_read_only_for_a_name_not_known(tmp_path, registry, monkeypatch):
    experiment = write_task(tmp_path, "ep_task")
    monkeypatch.syspath_prepend(str(tmp_path))
    asked = fake_entry_points(monkeypatch, ("twohead", "ep_task"), ("other", "not_imported_at_all"))
    blobs = load_config(ROOT / "experiments" / "blobs_mlp.toml")  # a built-in task: no metadata read
    assert blobs.experiment.task == "mlp" and asked == []
    cfg = ampsim.load_experiment(experiment, {"model.hidden": 3})
    assert cfg.model.hidden == 3 and models.TASKS["twohead"].__name__ == "ep_task"
    assert asked == ["twohead"] and "not_imported_at_all" not in sys.modules
    p = ampsim.plan(cfg)
    assert {"l0", "ha", "hb"} <= set(p.task.model.graph.nodes)


def test_an_entry_point_whose_module_registers_another_task_says_which(tmp_path, registry, monkeypatch):
    experiment = write_task(tmp_path, "ep_task", task="twohead")
    (tmp_path / "ep_task.py").write_text(module_text("two_heads"))
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("twohead", "ep_task"))
    with pytest.raises(ConfigError, match=r"^entry point ampsim.tasks twohead = 'ep_task': module 'ep_task' "
                                          r"registers no task 'twohead' \(it registers 'two_heads'\)$"):
        load_config(experiment)


def test_two_packages_declaring_one_task_are_refused(tmp_path, registry, monkeypatch):
    experiment = write_task(tmp_path, "ep_task")
    fake_entry_points(monkeypatch, ("twohead", "pkg_a.task"), ("twohead", "pkg_b.task"))
    with pytest.raises(ConfigError, match=r"task 'twohead' is declared more than once \(pkg_a.task, pkg_b.task\)"):
        load_config(experiment)


@pytest.mark.slow
def test_a_sweep_of_an_outside_task_runs_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray")
    experiment = write_task(tmp_path / "mods", "twohead_task")
    sweep = tmp_path / "sw.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{experiment}"\n[fixed]\n"train.epochs" = 1\n'
                     '[grid]\n"model.hidden" = [4, 6]\n')
    env = {"PYTHONPATH": str(tmp_path / "mods"), outside.MODULES_VAR: "twohead_task"}
    proc = run_ampsim("sweep", str(sweep), "--jobs", "2", "--ray", "--out", str(tmp_path / "out"), "--no-progress",
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "out" / "table.csv").read_text().splitlines()) == 3


def test_a_ray_clusters_tasks_are_handed_the_task_modules(monkeypatch):
    """A cluster's workers start with their node's environment, not the sweep's: the variable goes with the
    tasks (a local instance's workers inherit it; where it is not set, the tasks' options are as before)."""
    from ampsim.sweeps.ray_cluster import task_modules_env as _task_modules_env

    monkeypatch.setenv(outside.MODULES_VAR, "mypkg.mytask,other.mod")
    assert _task_modules_env("10.0.0.1:6379") == {"runtime_env": {"env_vars": {outside.MODULES_VAR:
                                                                               "mypkg.mytask,other.mod"}}}
    assert _task_modules_env(None) == {}
    monkeypatch.delenv(outside.MODULES_VAR)
    assert _task_modules_env("10.0.0.1:6379") == {}


def test_a_task_module_registered_again_is_checked_by_its_new_nodes(tmp_path, registry, monkeypatch):
    """A module edited and reloaded (register_task: its own registration replaced) names its new nodes: the node
    names an explicit placement is checked against were kept from the first build of an equal [model], so a map of
    the renamed node was refused ("names no node") and one of the old name passed until the run built the model."""
    import importlib

    from ampsim.placement import check_names

    folder = tmp_path / "mods"
    experiment = write_task(folder, "renamed_task", task="renamed")
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("renamed_task")

    def checked(head: str) -> None:
        check_names(load_config(experiment, [("executor.kind", "sim"), ("placement.strategy", "explicit"),
                                             ("placement.map", {head: 1, "*": 0})]))

    checked("ha")
    (folder / "renamed_task.py").write_text(module_text("renamed").replace('Linear("ha"', 'Linear("head_a"'))
    importlib.reload(module)
    checked("head_a")  # (was: placement.map.head_a: names no node of the model)
    with pytest.raises(ConfigError, match="placement.map.ha: names no node of the model"):
        checked("ha")


def test_modules_named_that_were_imported_already_and_register_it_not_are_named(tmp_path, registry, monkeypatch):
    """A module the process had imported before (json, or one looked at by an earlier lookup) is not imported
    again, so nothing said that it registers no task: the line said to name its module in the variable that named
    it."""
    experiment = write_task(tmp_path, "not_imported_here")
    monkeypatch.setenv(outside.MODULES_VAR, "json, csv")
    with pytest.raises(ConfigError, match=r"unknown task 'twohead' \(known: .*; none of the modules "
                                          r"AMPSIM_TASK_MODULES names \(json, csv\) registers it\)$"):
        load_config(experiment)
