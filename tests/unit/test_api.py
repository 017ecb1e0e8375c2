"""The public Python API (``import ampsim``), the plan stage behind it, and progress that fits its stream."""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import ampsim
from ampsim.executors import EXECUTORS, Executor, make_executor
from ampsim.executors.sim import SimExecutor

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SHORT = {"train.epochs": 2, "data.n_train": 320, "data.n_test": 64}


def test_all_lists_exactly_the_public_api():
    assert sorted(ampsim.__all__) == sorted([
        "train", "sweep", "load_experiment", "plan", "make_executor", "read_run", "Run", "Plan", "Config",
        "AmpsimError", "ConfigError", "DataError", "Diverged", "GraphError", "OutOfMemory", "RunError",
        "__version__"])
    assert all(hasattr(ampsim, name) for name in ampsim.__all__)


def test_train_returns_metrics_and_summary_and_keeps_no_files_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = ampsim.train(BLOBS, overrides=SHORT)
    assert isinstance(run.metrics, pd.DataFrame)
    assert list(run.metrics["epoch"]) == [1, 2]
    assert run.summary["epochs"] == 2 and run.summary["executor"] == "reference"
    assert run.summary["final_metric"] == run.metrics["test_accuracy"].iloc[-1]
    assert run.path is None and not any(tmp_path.iterdir())


def test_train_with_out_writes_the_run_folder_and_equals_the_cli(tmp_path):
    cfg = ampsim.load_experiment(BLOBS, [f"{k}={v}" for k, v in SHORT.items()])
    run = ampsim.train(cfg, tmp_path / "api")
    assert run.path == tmp_path / "api" and (run.path / "summary.json").is_file()
    sets = [a for k, v in SHORT.items() for a in ("--set", f"{k}={v}")]
    subprocess.run([sys.executable, "-m", "ampsim.cli", "train", str(BLOBS), *sets, "--out", str(tmp_path / "cli"),
                    "--no-progress"], check=True, capture_output=True)
    cli = pd.read_csv(tmp_path / "cli" / "metrics.csv")
    wall = ["wall_s", "time_s"]  # the reference executor's clock is wall time
    pd.testing.assert_frame_equal(run.metrics.drop(columns=wall), cli.drop(columns=wall))


def test_overrides_in_every_accepted_form_give_one_config():
    forms = [{"train.lr": 0.5}, ["train.lr=0.5"], [("train.lr", 0.5)]]
    assert {ampsim.load_experiment(BLOBS, f).train.lr for f in forms} == {0.5}


def test_bad_input_raises_one_line_ampsim_errors(tmp_path):
    with pytest.raises(ampsim.ConfigError, match=r"train\.lr: must be > 0"):
        ampsim.load_experiment(BLOBS, {"train.lr": -1.0})
    with pytest.raises(ampsim.ConfigError, match=r"executor\.kind: must be one of reference, sim, multicore, got 'gpu'"):
        ampsim.load_experiment(BLOBS, {"executor.kind": "gpu"})
    with pytest.raises(ampsim.ConfigError, match=r": is a directory, not a file$"):
        ampsim.load_experiment(tmp_path)


@pytest.mark.parametrize("file, overrides, message", [
    ("blobs_mlp", {"executor.kind": "gpu"}, r"executor\.kind: must be one of reference, sim, multicore, got 'gpu'$"),
    ("blobs_mlp", {"model.hidden": [8, 0]}, r"^load_experiment: overrides: model\.hidden\[1\]: must be >= 1, got 0$"),
    ("blobs_mlp", {"placement.strategy": "explicit"}, r"placement\.map: placement\.strategy = \"explicit\" needs a map"),
    ("list_reduction", {"data.min_len": 9, "data.max_len": 4},
     r"^load_experiment: overrides: data\.min_len: must be <= data\.max_len \(4\), got 9$"),
    ("qm9_ggnn", {"model.hidden": 4}, r"^load_experiment: overrides: model\.hidden: must be >= 5, got 4$"),
    # what the plan stage and a sweep's points check of the executor before any data (planning.check_executor)
    ("blobs_mlp", {"train.staleness_nodes": {"fc0": 5}},
     r"^load_experiment: overrides: train\.staleness_nodes\.fc0: must be one of none, stash, predict, scale_lr, got 5$"),
    ("blobs_mlp", {"train.staleness_nodes": {"nope": "stash"}},
     r"^load_experiment: overrides: train\.staleness_nodes\.nope: names no parameterized node$"),
    ("blobs_mlp", {"executor.numerics": False}, r"^load_experiment: overrides: executor\.numerics: false replays"),
    ("blobs_mlp", {"train.admission_start": 3}, r"^load_experiment: overrides: train\.admission_start: sets the first"),
    ("blobs_mlp", {"train.predict_delay": -0.5},
     r"^load_experiment: overrides: train\.predict_delay: must be >= 0 or -1 \(measured\), got -0\.5$"),
    ("blobs_mlp", {"executor.kind": "multicore", "executor.watchdog_s": 0.01},
     r"^load_experiment: overrides: executor\.watchdog_s: 0\.01 s is shorter than the watchdog can tell"),
])
def test_load_experiment_validates_what_the_config_alone_decides(file, overrides, message):
    """load_experiment said "validated" but returned these Configs; their errors came at plan or train (a sweep's
    --check passed such points, which then failed when they ran)."""
    with pytest.raises(ampsim.ConfigError, match=message):
        ampsim.load_experiment(ROOT / "experiments" / f"{file}.toml", overrides)


def test_the_config_knows_the_executor_registrys_names():
    from ampsim.config import EXECUTOR_KINDS

    assert tuple(EXECUTORS) == EXECUTOR_KINDS


def test_plan_resolves_hardware_overrides_placement_and_load_once():
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": "../hardware_models/ring4.toml",
                                         "placement.strategy": "greedy",
                                         "hardware.link.bandwidth_bytes_per_s": 123.0})
    p = ampsim.plan(cfg)
    assert p.system.link.bandwidth_bytes_per_s == 123.0  # relative to the experiment file, override applied
    assert set(p.placement) == set(p.task.model.graph.nodes) and set(p.placement.values()) <= set(range(4))
    assert [c["chip"] for c in p.estimated_load] == [0, 1, 2, 3]
    ex = make_executor(p)
    assert isinstance(ex, SimExecutor) and isinstance(ex, Executor) and ex.placement == p.placement


def test_reference_plan_says_it_ignores_hardware(caplog):
    cfg = ampsim.load_experiment(BLOBS, {"hardware.link.latency_s": 1.0})
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        p = ampsim.plan(cfg)
    assert p.system is None and p.placement is None
    assert "[hardware] ignored: the reference executor runs on no machine" in caplog.text


def test_reference_plan_says_it_ignores_a_trace_workers_and_its_other_machine_options(caplog):
    """``--trace``, ``--workers``, ``eval.advances_time`` and an explicit map on the reference executor did
    nothing, silently."""
    cfg = ampsim.load_experiment(BLOBS, {"executor.trace": True, "executor.workers": 3, "eval.advances_time": True,
                                         "placement.strategy": "explicit", "placement.map": {"*": 1}})
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        ampsim.plan(cfg)
    assert ("executor.trace and executor.workers and eval.advances_time and placement.map ignored: the reference "
            "executor runs on no machine") in caplog.text


def test_every_registered_executor_satisfies_the_interface():
    from ampsim.executors import executor_class

    for kind in EXECUTORS:
        cls = executor_class(kind)
        assert cls.name == kind and callable(cls.from_plan)
        assert all(callable(getattr(cls, m, None)) for m in ("train", "evaluate", "summary", "write_artifacts", "close"))


def test_train_off_a_terminal_writes_a_line_per_epoch_not_a_bar(tmp_path):
    log = tmp_path / "log"
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-m", "ampsim.cli", "train", str(BLOBS), "--set", "train.epochs=3",
                        "--out", str(tmp_path / "run")], check=True, stdout=subprocess.DEVNULL, stderr=err)
    lines = log.read_text().splitlines()
    assert "\r" not in log.read_text()
    assert [ln.split(":")[1].split(",")[0].strip() for ln in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-m", "ampsim.cli", "train", str(BLOBS), "--set", "train.epochs=1",
                        "--out", str(tmp_path / "run2"), "--no-progress"], check=True, stdout=subprocess.DEVNULL,
                       stderr=err)
    assert log.read_text() == ""


def test_overrides_given_are_left_as_they_were():
    """A later dotted key inside a table given as a value went into the caller's dict, and from there into the
    next config made with it (an lr never asked for)."""
    common, nested = {"epochs": 2}, {"latency_s": 1e-6}
    ampsim.load_experiment(BLOBS, {"train": common, "train.lr": 0.5})
    ampsim.load_experiment(BLOBS, {"hardware.link": nested, "hardware.link.bandwidth_bytes_per_s": 1e9})
    assert common == {"epochs": 2} and nested == {"latency_s": 1e-6}
    assert ampsim.load_experiment(BLOBS, {"train": common, "train.mak": 4}).train.lr == ampsim.load_experiment(
        BLOBS, {"train": {"epochs": 2}}).train.lr


def test_numpy_values_and_paths_are_override_values():
    np = pytest.importorskip("numpy")
    cfg = ampsim.load_experiment(BLOBS, {"train.mak": np.int64(4), "train.lr": np.float64(0.25),
                                         "executor.trace": np.bool_(True), "model.hidden": np.array([8, 4]),
                                         "executor.kind": "sim", "executor.hardware": ROOT / "hardware_models" /
                                         "ring4.toml"})
    assert (cfg.train.mak, cfg.train.lr, cfg.executor.trace, list(cfg.model.hidden)) == (4, 0.25, True, [8, 4])
    assert type(cfg.train.mak) is int and cfg.executor.hardware == str(ROOT / "hardware_models" / "ring4.toml")


def test_a_plan_makes_one_executor():
    """A second executor of one plan went on from the first one's training (the plan's task holds the model):
    "plan once, compare two executors" compared a trained model with an untrained one. Now it is one line."""
    cfg = ampsim.load_experiment(BLOBS, {**SHORT, "executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models"
                                                                                                   / "ring4.toml")})
    p = ampsim.plan(cfg)
    with ampsim.make_executor(p) as ex:
        first = ex.train(list(p.task.train_instances(1))[:4])
    for again in (p, copy.copy(p)):  # (a copy shares the trained task)
        with pytest.raises(ampsim.ConfigError, match=r"^make_executor: plan: already has an executor.*plan\(cfg\)$"):
            ampsim.make_executor(again)
    fresh = ampsim.plan(cfg)
    with ampsim.make_executor(fresh) as ex:  # planned again: the same start, the same numbers
        assert [r.values for r in ex.train(list(fresh.task.train_instances(1))[:4])] == [r.values for r in first]


def test_a_trace_without_out_is_said_to_go_and_a_divergence_is_one_error(caplog, recwarn):
    """A trace asked for without ``out`` was made and thrown away, silently; a diverging run printed numpy's
    overflow warnings before its one error line (the command line never did)."""
    with caplog.at_level(logging.WARNING, logger="ampsim.api"):
        run = ampsim.train(BLOBS, overrides={**SHORT, "executor.kind": "sim", "executor.trace": True,
                                             "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")})
    assert "train: executor.trace without out: the trace goes" in caplog.text and run.path is None
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the reference executor writes none: one warning, the plan stage's
        ampsim.train(BLOBS, overrides={**SHORT, "executor.trace": True})
    assert "executor.trace ignored: the reference executor" in caplog.text and "without out" not in caplog.text
    assert run != ampsim.train(BLOBS, overrides=SHORT) and run == run  # (comparing two raised before)
    import numpy as np

    with np.errstate(over="warn", invalid="warn", divide="warn"), pytest.raises(ampsim.Diverged, match="lower train.lr"):
        ampsim.train(BLOBS, overrides={**SHORT, "train.lr": 1e30, "train.optimizer": "sgd"})
    assert not [w for w in recwarn.list if issubclass(w.category, RuntimeWarning)]
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):  # the caller's own setting is kept
        ampsim.train(BLOBS, overrides={**SHORT, "train.lr": 1e30, "train.optimizer": "sgd"})


def test_a_loaded_config_means_the_same_after_the_working_folder_changes(tmp_path, monkeypatch):
    """A notebook that changed folder after loading found "hardware_models/ring4.toml: no such file": the
    config kept names relative to the folder it was loaded in."""
    monkeypatch.chdir(ROOT / "experiments")
    cfg = ampsim.load_experiment("blobs_mlp.toml", {**SHORT, "executor.kind": "sim",
                                                     "executor.hardware": "../hardware_models/ring4.toml"})
    monkeypatch.chdir(tmp_path)
    run = ampsim.train(cfg)
    assert run.summary["executor"] == "sim" and cfg.path == str(BLOBS)
    assert Path(cfg.executor.hardware).resolve() == ROOT / "hardware_models" / "ring4.toml"


def test_a_runs_path_means_the_same_after_the_working_folder_changes(tmp_path, monkeypatch):
    """Run.path was the out given, relative to the folder train ran in: after os.chdir it named no run."""
    monkeypatch.chdir(tmp_path)
    run = ampsim.train(BLOBS, "runs/a", overrides=SHORT)
    monkeypatch.chdir(ROOT)
    assert run.path == tmp_path / "runs" / "a" and (run.path / "summary.json").is_file()


def _scrambled(value: object) -> None:
    """Every list and dict inside ``value`` edited in place, as a notebook might."""
    if isinstance(value, dict):
        for v in list(value.values()):
            _scrambled(v)
        value["edited"] = True
    elif isinstance(value, list):
        for v in value:
            _scrambled(v)
        value.append("edited")


@pytest.mark.parametrize("kind, numerics", [("reference", True), ("sim", True), ("sim", False), ("multicore", True)])
def test_an_executors_summary_is_a_snapshot_that_shares_nothing_with_it(kind, numerics):
    """summary() handed out the executor's own placement dict (and the multicore executor's CPU-time list and the
    workers' transport counters): a summary kept after one train call changed with the next, and editing one
    edited the executor (its placement.json; an IndexError in the next train)."""
    sets = {"reference": {}, "sim": {"executor.kind": "sim", "executor.numerics": numerics, "train.mak": 4,
                                     "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")},
            "multicore": {"executor.kind": "multicore", "executor.workers": 2, "train.mak": 2}}[kind]
    p = ampsim.plan(ampsim.load_experiment(BLOBS, {"data.n_train": 256, "data.n_test": 32, "train.epochs": 1, **sets}))
    batch = p.task.train_instances(1)
    with ampsim.make_executor(p) as ex:
        ex.train(batch[:4])
        kept = ex.summary()
        before = copy.deepcopy(kept)
        ex.train(batch[4:8])
        assert kept == before  # (the simulated and wall clocks moved, so the second train changed the executor's)
        now = ex.summary()
        expected = copy.deepcopy(now)
        _scrambled(now)
        assert ex.summary() == expected
        assert len(ex.train(batch[8:10])) == (2 if numerics else 0)


def test_read_run_gives_back_the_run_train_wrote(tmp_path, monkeypatch):
    """A run kept on disk (train's out, ``ampsim train --out``, a sweep's point) could not be read back as a Run:
    the API wrote run folders and read none (a notebook parsed metrics.csv and summary.json itself, unchecked)."""
    run = ampsim.train(BLOBS, tmp_path / "run", overrides=SHORT)
    monkeypatch.chdir(tmp_path)
    back = ampsim.read_run("run")  # (relative: its path is absolute, as train's)
    assert isinstance(back, ampsim.Run) and back.path == run.path == tmp_path / "run"
    pd.testing.assert_frame_equal(back.metrics, run.metrics)
    assert back.summary == run.summary
    assert back.config == ampsim.load_experiment(tmp_path / "run" / "config.toml")
    again = ampsim.train(back.config)  # (its config trains again, to the same numbers)
    assert again.metrics[["train_loss", "test_accuracy"]].equals(run.metrics[["train_loss", "test_accuracy"]])
    point = next(p for p in (ROOT / "results" / "sweeps" / "mak_mnist").iterdir() if (p / "point.json").is_file())
    assert len(ampsim.read_run(point).metrics) == ampsim.read_run(point).summary["epochs"]  # a committed point


def test_read_run_of_what_is_no_finished_run_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    (tmp_path / "file.csv").write_text("a\n1\n")
    cut = tmp_path / "cut"  # a run stopped before it finished: no summary.json
    cut.mkdir()
    (cut / "config.toml").write_text(BLOBS.read_text())
    (cut / "metrics.csv").write_text("epoch\n1\n")
    for path, words in [(tmp_path / "nope", "no such folder"), (tmp_path / "file.csv", "is a file, not a folder"),
                        (tmp_path / "empty", "holds no finished run (it is empty)"),
                        (tmp_path / "notes", "holds no finished run (it holds a.txt)"),
                        (cut, "holds no finished run (it holds config.toml, metrics.csv)"),
                        (ROOT / "results" / "sweeps" / "mak_mnist",  # (it said "holds no finished run (it holds ...)")
                         "is a sweep's folder, not a run's: its table.csv holds a row per point")]:
        with pytest.raises(ampsim.DataError) as err:
            ampsim.read_run(path)
        assert str(err.value).startswith(f"{path}: {words}") and "\n" not in str(err.value)
    with pytest.raises(ampsim.ConfigError, match=r"^read_run: path: expected a path \(str or os.PathLike\), got int 5$"):
        ampsim.read_run(5)
    with pytest.raises(ampsim.ConfigError, match=r"^read_run: path: expected .*, got an empty path \(''\)$"):
        ampsim.read_run("")  # (not the working folder)


@pytest.mark.parametrize("sets, columns", [
    ({"train.lr": 1e9}, ["epoch", "instances", "time_s", "wall_s", "train_loss", "test_accuracy"]),  # diverged
    ({"executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml"),
      "hardware.chip.memory_bytes": 1000}, ["epoch", "instances", "time_s", "train_loss", "test_accuracy"]),  # no room
])
def test_read_run_of_a_point_that_stopped_before_its_first_epoch_has_no_rows(tmp_path, sets, columns):
    """A sweep's point that diverged, or ran out of chip memory, before its first epoch ended is a finished run (its
    summary says why) with no metrics.csv: read_run refused it ('metrics.csv: no such file'), so a notebook reading
    a sweep's points one by one stopped at the first such point."""
    from ampsim.training import train_experiment

    train_experiment(ampsim.load_experiment(BLOBS, {**SHORT, **sets}), tmp_path / "point", record_outcome=True)
    run = ampsim.read_run(tmp_path / "point")
    assert run.summary["epochs"] == 0 and ("diverged" in run.summary or "out_of_memory" in run.summary)
    assert list(run.metrics.columns) == columns and len(run.metrics) == 0
    (tmp_path / "point" / "summary.json").write_text('{"epochs": 1}')  # (a finished epoch's rows are not optional)
    with pytest.raises(ampsim.DataError, match=r"metrics.csv: no such file$"):
        ampsim.read_run(tmp_path / "point")


@pytest.mark.parametrize("sets, simulated", [
    ({}, False),
    ({"executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")}, True),
])
def test_metrics_columns_are_the_ones_a_run_writes(tmp_path, sets, simulated):
    """metrics.csv's columns are one list (runfiles.metrics_columns): training's row and read_metrics' table of no
    rows (a run that stopped before its first epoch) each wrote them out, as results' docstring did."""
    import json

    from ampsim.runfiles import metrics_columns
    from ampsim.runread import read_metrics

    run = ampsim.train(BLOBS, tmp_path / "run", overrides={**SHORT, **sets})
    header = (run.path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == metrics_columns("test_accuracy", simulated=simulated) == list(run.metrics.columns)
    (run.path / "metrics.csv").unlink()  # (as a run that stopped before its first epoch leaves its folder)
    summary = json.loads((run.path / "summary.json").read_text())
    (run.path / "summary.json").write_text(json.dumps({**summary, "epochs": 0}))
    assert list(read_metrics(run.path, none_ran=True).columns) == header


def test_a_run_prints_in_a_line(tmp_path):
    """A notebook cell ending in a run printed its whole config, its metrics table and its summary: 180 KB for a
    1,024-chip run (a link utilization per link), as a plan once printed every chip spec."""
    big = ampsim.read_run(ROOT / "results" / "g32_mak1024")
    assert repr(big) == (f"Run('sst_treelstm', executor='sim', hardware='hypercube_1024', epochs={big.summary['epochs']}, "
                         f"final test_root_accuracy={big.summary['final_metric']}, path={str(big.path)!r})")
    run = ampsim.train(BLOBS, overrides=SHORT)
    assert repr(run) == (f"Run('blobs_mlp', executor='reference', epochs=2, final test_accuracy="
                         f"{run.summary['final_metric']}, path=None)")


@pytest.mark.parametrize("cut_before, said", [
    ("n_test", "train.epochs: 1, but its summary.json records 2 epochs run"),  # (in [data]: [train] lost with it)
    ("target", "train.target: nothing, but its summary.json records 0.9"),
    ("[executor]", "executor.kind: 'reference', but its summary.json records 'sim'"),
])
def test_read_run_refuses_a_config_that_does_not_say_what_the_run_did(tmp_path, cut_before, said):
    """A run's config.toml cut at the end of a line (a copy or a disk that filled) is TOML still, every key after the
    cut at its default: read_run gave a Run whose config was another run's (a blobs run of 320 examples read as one of
    2,000, its target and epochs lost), which trained again to another run, without a word. What the summary records
    of the configuration (experiment, task, executor, target, and at least the epochs it ran) is checked."""
    sets = {**SHORT, "executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")}
    run = ampsim.train(BLOBS, tmp_path / "run", overrides=sets)
    config = run.path / "config.toml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith(cut_before))]))
    with pytest.raises(ampsim.DataError) as err:
        ampsim.read_run(run.path)
    assert str(err.value) == (f"{config}: {said}: cut short or edited since the run wrote it; copy the run again, "
                              "or run it again")
