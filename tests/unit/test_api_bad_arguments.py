"""The Python API refuses arguments of the wrong type or range with one ``ConfigError`` line that names the
function and the argument (never a TypeError, AttributeError or ValueError traceback), before anything is
opened or run; the valid forms keep working."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

import ampsim
from ampsim import api

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SMALL = {"data.n_train": 200, "data.n_test": 50, "train.epochs": 1}
SWEEP = ROOT / "experiments" / "sweeps" / "no_such_sweep.toml"  # never read: the arguments fail first


@pytest.fixture(scope="module")
def cfg() -> ampsim.Config:
    return ampsim.load_experiment(BLOBS, SMALL)


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"/tmp/x.toml"


# (id, call taking the loaded cfg, text the message must hold: the function and the argument)
CASES = [
    ("load-none", lambda c: ampsim.load_experiment(None), "load_experiment: path: expected a path"),
    ("load-dict", lambda c: ampsim.load_experiment({"experiment": {}}), "load_experiment: path: "),
    ("load-bytes", lambda c: ampsim.load_experiment(b"/path"), "load_experiment: path: "),
    ("load-bytes-pathlike", lambda c: ampsim.load_experiment(_BytesPath()), "load_experiment: path: "),
    ("load-int", lambda c: ampsim.load_experiment(7), "load_experiment: path: expected a path"),
    ("load-bool", lambda c: ampsim.load_experiment(True), "got bool True"),
    ("load-overrides-int", lambda c: ampsim.load_experiment(BLOBS, 5), "load_experiment: overrides: "),
    ("load-overrides-str", lambda c: ampsim.load_experiment(BLOBS, "train.lr=0.1"), "put it in a list"),
    ("load-overrides-none-value", lambda c: ampsim.load_experiment(BLOBS, {"hardware.x": None}),
     "load_experiment: overrides: hardware.x: cannot write None"),
    ("load-overrides-surrogate", lambda c: ampsim.load_experiment(BLOBS, ["experiment.name=a\udcff"]),
     "load_experiment: overrides[0]: experiment.name: 'a\\udcff' is not Unicode text"),
    ("train-none", lambda c: ampsim.train(None), "train: experiment: expected a Config or a path"),
    ("train-dict", lambda c: ampsim.train({"train": {}}), "train: experiment: "),
    ("train-int", lambda c: ampsim.train(5), "train: experiment: "),
    ("train-plan", lambda c: ampsim.train(api.plan(c)), "train: experiment: "),
    ("train-out-int", lambda c: ampsim.train(c, out=5), "train: out: expected a path (str or os.PathLike), got int 5"),
    ("train-out-bytes", lambda c: ampsim.train(c, out=b"results/x"), "train: out: "),
    ("train-out-empty", lambda c: ampsim.train(c, out=" "), "train: out: "),
    # a NUL: os.stat's ValueError raw from deep in the run, or "invalid TOML: embedded null byte" of a path
    ("train-out-nul", lambda c: ampsim.train(c, out="runs/a\0b"),
     "train: out: holds a NUL character, which no name or path can, got 'runs/a\\x00b'"),
    ("train-experiment-nul", lambda c: ampsim.train("blobs\0.toml"), "train: experiment: holds a NUL character"),
    ("load-nul", lambda c: ampsim.load_experiment(Path("exp\0.toml")), "load_experiment: path: holds a NUL character"),
    ("sweep-nul", lambda c: ampsim.sweep("s\0.toml"), "sweep: sweep_file: holds a NUL character, which no name or "
                                                       "path can"),
    ("sweep-out-nul", lambda c: ampsim.sweep(SWEEP, "out\0"), "sweep: out: holds a NUL character, which no name or "
                                                              "path can"),
    ("train-progress", lambda c: ampsim.train(c, progress="yes"), "train: progress: "),
    ("train-config-and-overrides", lambda c: ampsim.train(c, overrides={"train.lr": 0.1}), "train: overrides: "),
    *[(f"train-overrides-{name}", (lambda o: lambda c: ampsim.train(BLOBS, overrides=o))(bad), "train: overrides")
      for name, bad in [("int", 5), ("bool", True), ("list-of-int", [5]), ("set-of-int", {1, 2}),
                        ("triple", [("a", 1, 2)]), ("single", [("a",)]), ("int-key", {1: 2}),
                        ("none-key", {None: 2}), ("pair-int-key", [(1, 2)]), ("bytes", b"train.lr=1"),
                        ("list-of-bytes", [b"train.lr=1"]), ("list-of-dict", [{"train.lr": 1}])]],
    ("plan-none", lambda c: api.plan(None), "plan: cfg: expected a Config"),
    ("plan-str", lambda c: api.plan(str(BLOBS)), "plan: cfg: expected a Config"),
    ("plan-dict", lambda c: api.plan({}), "plan: cfg: expected a Config"),
    ("plan-system-path", lambda c: api.plan(c, system="hardware_models/ring4.toml"), "plan: system: expected a "
     "SystemSpec or None, got str 'hardware_models/ring4.toml' (load it: ampsim.hardware.parse.load_system(path))"),
    ("plan-placement-int", lambda c: api.plan(c, placement=5), "plan: placement: expected a dict"),
    ("plan-placement-str-chip", lambda c: api.plan(c, placement={"fc0": "0"}), "plan: placement: expected a dict"),
    ("plan-placement-float-chip", lambda c: api.plan(c, placement={"fc0": 0.5}), "plan: placement: "),
    ("plan-estimated-str", lambda c: api.plan(c, estimated="x"), "plan: estimated: expected a list of dicts"),
    # a Config changed by dataclasses.replace (which checks nothing) is checked again, as a file's would be
    ("train-replaced-mak", lambda c: ampsim.train(dataclasses.replace(c, train=dataclasses.replace(c.train, mak=0))),
     "train.mak: must be >= 1, got 0"),
    ("train-replaced-epochs", lambda c: ampsim.train(dataclasses.replace(c, train=dataclasses.replace(
        c.train, epochs="2"))), "train.epochs: expected integer, got string '2'"),
    ("plan-replaced-hidden", lambda c: api.plan(dataclasses.replace(c, model=dataclasses.replace(c.model, hidden="64"))),
     "model.hidden: expected array"),
    # a section or path replaced by something else: a TypeError from to_dict's dataclasses.asdict, or from Path(5);
    # named as the Config's, as a value replaced is (it named the experiment file, which holds a section as it was)
    *[(f"train-replaced-{name}-{type(bad).__name__}", (lambda n, b: lambda c: ampsim.train(dataclasses.replace(
        c, **{n: b})))(name, bad), f"Config.{name}: must be an instance of {what} (dataclasses.replace of cfg.{name}), "
                                   f"got {type(bad).__name__}")
      for name, bad, what in [("data", None, "the task's data dataclass"), ("train", None, "TrainSection"),
                              ("replicas", None, "ReplicasSection"), ("experiment", {"name": "x"}, "ExperimentSection"),
                              ("model", type(None), "the task's model dataclass")]],
    ("plan-replaced-train-class", lambda c: api.plan(dataclasses.replace(c, train=type(c.train))),
     "Config.train: must be an instance of TrainSection (dataclasses.replace of cfg.train), got type"),
    ("train-replaced-path-int", lambda c: ampsim.train(dataclasses.replace(c, path=5)),
     "Config.path: must be the experiment file's path (a string), got int"),
    ("plan-replaced-path-none", lambda c: api.plan(dataclasses.replace(c, path=None)), "Config.path: "),
    ("make-executor-none", lambda c: api.make_executor(None), "make_executor: plan: expected a Plan"),
    ("make-executor-config", lambda c: api.make_executor(c), "make_executor: plan: expected a Plan"),
    ("make-executor-str", lambda c: api.make_executor("plan"), "make_executor: plan: expected a Plan"),
    ("sweep-none", lambda c: ampsim.sweep(None), "sweep: sweep_file: expected a path"),
    ("sweep-int", lambda c: ampsim.sweep(5), "sweep: sweep_file: "),
    ("sweep-out-int", lambda c: ampsim.sweep(SWEEP, 5), "sweep: out: "),
    ("sweep-out-empty", lambda c: ampsim.sweep(SWEEP, ""), "sweep: out: "),
    ("sweep-jobs-str", lambda c: ampsim.sweep(SWEEP, jobs="2"), "sweep: jobs: "),
    ("sweep-jobs-float", lambda c: ampsim.sweep(SWEEP, jobs=1.5), "sweep: jobs: "),
    ("sweep-jobs-bool", lambda c: ampsim.sweep(SWEEP, jobs=True), "sweep: jobs: "),
    ("sweep-jobs-negative", lambda c: ampsim.sweep(SWEEP, jobs=-3), "sweep: jobs: must be >= 1, got -3"),
    ("sweep-jobs-zero", lambda c: ampsim.sweep(SWEEP, jobs=0), "sweep: jobs: must be >= 1, got 0"),
    ("sweep-ray-address-int", lambda c: ampsim.sweep(SWEEP, ray=True, ray_address=5), "sweep: ray_address: "),
    ("sweep-ray-address-without-ray", lambda c: ampsim.sweep(SWEEP, ray_address="10.0.0.1:6379"),
     "sweep: ray_address: "),
    ("sweep-quick", lambda c: ampsim.sweep(SWEEP, quick="yes"), "sweep: quick: "),
    ("sweep-fresh", lambda c: ampsim.sweep(SWEEP, fresh=1), "sweep: fresh: "),
]


@pytest.mark.parametrize("call, expected", [pytest.param(c, e, id=i) for i, c, e in CASES])
def test_a_bad_argument_is_one_config_error_line_naming_it(cfg, call, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, and no default results/ folder appear
    with pytest.raises(ampsim.ConfigError) as err:
        call(cfg)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message and "\r" not in message and len(message) < 300
    assert not any(tmp_path.iterdir())


def test_an_int_path_is_not_opened_as_a_file_descriptor():
    read, write = os.pipe()
    spare = os.dup(read)  # a descriptor number that open() would read from and then close
    try:
        os.write(write, b"[experiment]\ntask = 'blobs'\n")
        with pytest.raises(ampsim.ConfigError, match=r"^load_experiment: path: .*got int"):
            ampsim.load_experiment(spare)
        with pytest.raises(ampsim.ConfigError, match=r"^train: experiment: .*got int"):
            ampsim.train(spare)
        os.fstat(spare)  # still open
        assert os.read(spare, 100).startswith(b"[experiment]")  # and nothing was read from it
    finally:
        for fd in (read, write, spare):
            os.close(fd)


def test_load_experiment_zero_leaves_stdin_open():
    before = os.fstat(0)
    with pytest.raises(ampsim.ConfigError):
        ampsim.load_experiment(0)
    assert os.fstat(0).st_ino == before.st_ino


def test_make_executor_error_suggests_planning_a_config(cfg):
    with pytest.raises(ampsim.ConfigError, match=r"plan it first: ampsim\.make_executor\(ampsim\.plan\(cfg\)\)"):
        api.make_executor(cfg)


@pytest.mark.parametrize("overrides", [
    SMALL, list(SMALL.items()), [f"{k}={v}" for k, v in SMALL.items()], [list(p) for p in SMALL.items()],
    (p for p in SMALL.items()), {f"{k}={v}" for k, v in SMALL.items()}], ids=[
    "dict", "pairs", "strings", "lists", "generator", "set-of-strings"])
def test_every_valid_overrides_form_still_loads(overrides):
    cfg = ampsim.load_experiment(str(BLOBS), overrides)
    assert (cfg.data.n_train, cfg.data.n_test, cfg.train.epochs) == (200, 50, 1)


@pytest.mark.parametrize("overrides", [None, {}, []])
def test_no_overrides(overrides):
    assert ampsim.load_experiment(BLOBS, overrides).train.epochs == ampsim.load_experiment(BLOBS).train.epochs


def test_valid_forms_still_train(tmp_path, cfg):
    run = ampsim.train(str(BLOBS), out=str(tmp_path / "str"), overrides=SMALL)
    assert run.path == tmp_path / "str" and (run.path / "summary.json").is_file()
    run = ampsim.train(BLOBS, out=tmp_path / "path", overrides=list(SMALL.items()), progress=False)
    assert run.path == tmp_path / "path" and list(run.metrics["epoch"]) == [1]
    run = ampsim.train(cfg, tmp_path / "cfg", overrides=[])
    assert run.summary["epochs"] == 1
    p = api.plan(cfg)
    assert isinstance(p, ampsim.Plan)
    with api.make_executor(p) as ex:
        assert ex is not None


@pytest.mark.parametrize("kind", ["reference", "sim", "multicore"])
def test_an_executors_train_and_evaluate_take_instances_only_and_a_bad_call_costs_nothing(cfg, kind):
    """``ex.train([1, 2, 3])`` was an AttributeError deep in the run (and closed a multicore executor for
    good), and another task's instances a KeyError inside a node; now one ConfigError line, and the executor
    trains as before."""
    sets = {"executor.kind": kind, **({"executor.hardware": str(BLOBS.parent.parent / "hardware_models" / "ring4.toml")}
                                      if kind == "sim" else {}), **({"executor.workers": 2} if kind == "multicore" else {})}
    p = api.plan(ampsim.load_experiment(BLOBS, {**SMALL, **sets}))
    with api.make_executor(p) as ex:
        for call, where in ((lambda: ex.train([1, 2, 3]), "train"), (lambda: ex.train(None), "train"),
                            (lambda: ex.evaluate(["x"]), "evaluate")):
            with pytest.raises(ampsim.ConfigError, match=rf"^{p.executor} executor: {where}: instances: expected "
                                                         r".*task\.eval_instances\(\)\)|expected an iterable"):
                call()
        lists = api.plan(ampsim.load_experiment(ROOT / "experiments" / "list_reduction.toml")).task
        for call, where in ((lambda: ex.train(lists.train_instances(0)[:2]), "train"),
                            (lambda: ex.evaluate(lists.eval_instances()[:2]), "evaluate")):
            with pytest.raises(ampsim.ConfigError, match=rf"^{p.executor} executor: {where}: instance -?\d+: its data "
                                                         r"has no 'x' \(this model reads x, y\): an instance of another"):
                call()
        reports = ex.train(list(p.task.train_instances(0))[:4])
        assert len(reports) > 0 and ex.time_s > 0


@pytest.mark.parametrize("call, message", [
    (lambda: ampsim.load_experiment(BLOBS, {"train.lr.x": 1}), "load_experiment: overrides: train.lr.x: lr is not a table"),
    (lambda: ampsim.train(BLOBS, overrides={"train.lr.x": 1}), "train: overrides: train.lr.x: lr is not a table"),
    (lambda: ampsim.load_experiment(BLOBS, ["train.lr"]), "load_experiment: overrides[0]: train.lr: expected KEY=VALUE"),
    # a value its field refuses: the argument, not the experiment file (which holds no such value)
    (lambda: ampsim.load_experiment(BLOBS, {"train.lr": "0.01"}),
     "load_experiment: overrides: train.lr: expected number, got string '0.01'"),
    (lambda: ampsim.train(BLOBS, overrides={"train.lrr": 0.1}), "train: overrides: train.lrr: unknown key"),
    (lambda: ampsim.load_experiment(BLOBS, {"train": {"mak": 0}}), "load_experiment: overrides: train.mak: must be >= 1"),
])
def test_an_api_error_names_the_argument_not_a_command_line_option(call, message):
    with pytest.raises(ampsim.ConfigError) as e:
        call()
    assert str(e.value).startswith(message) and "--set" not in str(e.value)


@pytest.mark.parametrize("depth", [150, 400])
def test_a_value_nested_too_deep_is_refused_whatever_the_callers_stack(depth):
    """dump_toml's RecursionError decided it: a 150-deep list passed at the top of the stack and failed with a
    few hundred frames already on it. A counted limit now says so alike."""
    value: object = 1
    for _ in range(depth):
        value = [value]

    def deep(n: int):
        return deep(n - 1) if n else ampsim.load_experiment(BLOBS, {"model.hidden": value})

    for frames in (0, 600):
        with pytest.raises(ampsim.ConfigError, match=r"^load_experiment: overrides: model.hidden: nested too deep"):
            deep(frames)


@pytest.mark.parametrize("kind, numerics", [("reference", True), ("sim", True), ("sim", False), ("multicore", True)])
def test_an_executor_refuses_calls_after_an_interrupted_one_and_after_close(cfg, kind, numerics):
    """An interrupted ex.train left the executor half done: the next call trained nothing (a replay), failed with
    a false deadlock (the simulator's old events) or wrote past the replay's arrays (a later segfault); after
    close(), only the multicore executor refused. Now both are one RunError line naming the executor."""
    sets = {"executor.kind": kind, "executor.numerics": numerics,
            **({"executor.hardware": str(ROOT / "hardware_models" / "ring4.toml"), "train.mak": 4}
               if kind == "sim" else {}), **({"executor.workers": 2} if kind == "multicore" else {})}
    p = api.plan(ampsim.load_experiment(BLOBS, {**SMALL, **sets}))
    batch = list(p.task.train_instances(0))
    calls = []

    def stop(n: int) -> None:
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with api.make_executor(p) as ex:
        with pytest.raises(KeyboardInterrupt):
            ex.train(batch, on_done=stop)
        again = ("after close\\(\\)" if kind == "multicore"  # (it stops its workers on any failure)
                 else "after a call that was interrupted: its state is that call's, part done; make a new executor")
        for call in (lambda: ex.train(batch[:8]), lambda: ex.evaluate(batch[:2])):
            with pytest.raises(ampsim.RunError, match=rf"^{kind} executor: (train|evaluate)\(\) {again}"):
                call()
    with api.make_executor(api.plan(ampsim.load_experiment(BLOBS, {**SMALL, **sets}))) as ex:
        pass
    with pytest.raises(ampsim.RunError, match=rf"^{kind} executor: train\(\) after close\(\)$"):
        ex.train(batch[:8])


def test_a_plan_prints_in_a_line(cfg):
    """A notebook cell ending in a plan printed every chip spec: up to a megabyte for a 1,024-chip machine."""
    p = api.plan(ampsim.load_experiment(BLOBS, {**SMALL, "executor.kind": "sim",
                                                "executor.hardware": str(ROOT / "hardware_models" / "torus_32x32.toml")}))
    assert repr(p) == f"Plan('blobs_mlp', executor='sim', system='torus_32x32' (1024 chips), {len(p.placement)} nodes " \
                      f"on {len(set(p.placement.values()))} units)"


def test_the_reference_executor_checks_every_instance_before_it_trains_one(cfg):
    """It checked them as it took them: a bad one at position k refused the call after k had trained (their
    updates made, on_done told, the wall time and reports lost), as a bad argument, which must cost nothing."""
    p = api.plan(cfg)
    with api.make_executor(p) as ex:
        before = {n.name: {k: v.copy() for k, v in n.params.items()} for n in p.task.model.graph.param_nodes}
        done: list[int] = []
        with pytest.raises(ampsim.ConfigError, match="expected Instances"):
            ex.train([*p.task.train_instances(0)[:10], "not an instance"], on_done=done.append)
        assert done == [] and all((n.params[k] == v).all() for n in p.task.model.graph.param_nodes
                                  for k, v in before[n.name].items())
        assert len(ex.train(p.task.train_instances(0)[:4])) > 0  # (and it trains on)


@pytest.mark.parametrize("placement, estimated, message", [
    ({"fc0": 99}, None, "plan: placement: node fc0 on chip 99, but there are chips 0..3"),
    ({"nope": 0}, None, "plan: placement: no node named 'nope' in the model"),
    ({"fc0": 0}, None, "plan: placement: node(s) "),  # a partial map
    ("full", [{"a": 1}], "plan: estimated: expected one entry per chip (4), got 1"),
    ("full", [{"a": 1}] * 4, "plan: estimated[0]: expected {'chip': 0, "),
    (None, [], "plan: estimated: the load of a given placement; give the placement too"),
])
def test_plan_checks_a_given_placement_and_its_load(placement, estimated, message):
    """They were taken: the error came at make_executor, blaming the experiment file, or never (placement.json)."""
    sim = ampsim.load_experiment(BLOBS, {**SMALL, "executor.kind": "sim", "placement.strategy": "greedy",
                                         "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")})
    good = ampsim.plan(sim)
    if placement == "full":
        placement = good.placement
    with pytest.raises(ampsim.ConfigError) as err:
        ampsim.plan(sim, placement=placement, estimated=estimated)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    again = ampsim.plan(sim, placement=good.placement, estimated=good.estimated_load)  # what compare hands over
    assert again.placement == good.placement and again.estimated_load == good.estimated_load


@pytest.mark.parametrize("kind", ["reference", "sim"])
@pytest.mark.parametrize("other, words", [
    ({"data.n_features": 32}, "'x' is 32 wide, not 16"),  # the same fields: a matmul's ValueError mid-run
    ({"data.n_classes": 9}, "'y' holds 8, above this model's 3"),  # labels past the loss's classes: an IndexError
    ({"experiment.dtype": "float64"}, "'x' is ndarray float64, not a float32 array"),
])
def test_an_executor_refuses_another_tasks_instances_with_the_same_fields(kind, other, words):
    over = {**SMALL, "executor.kind": kind, "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")}
    mine = ampsim.plan(ampsim.load_experiment(BLOBS, over))
    theirs = ampsim.plan(ampsim.load_experiment(BLOBS, {**over, **other}))
    with ampsim.make_executor(mine) as ex:
        for call in (ex.train, ex.evaluate):
            with pytest.raises(ampsim.ConfigError) as err:
                call([*mine.task.train_instances(1)[:2], *theirs.task.train_instances(1)[:2]])
            assert f"instance {theirs.task.train_instances(1)[0].key}: {words}" in str(err.value)
            assert "another task" in str(err.value) and "\n" not in str(err.value)
        assert len(ex.train(mine.task.train_instances(1)[:4])) > 0 and ex.evaluate(mine.task.eval_instances())


@pytest.mark.parametrize("experiment, needs_data, change, words", [
    # a token past the embedding's vocabulary: an IndexError inside the embedding node, mid-run
    ("list_reduction.toml", False, lambda d: {**d, "tokens": d["tokens"] + 99}, "'tokens' holds 1"),
    # atoms of another width: a matmul's ValueError inside a GGNN node
    ("qm9_ggnn.toml", True, lambda d: {**d, "x": d["x"][:, :-1].copy()}, "'x' is 4 wide, not 5"),
])
def test_list_reduction_and_ggnn_check_their_instances_arrays(request, experiment, needs_data, change, words):
    """Their instances carry fields (and arrays) as every config of the task makes them, so only hand-made ones
    differ; such an instance failed inside a node, as another task's did before DataSpecs."""
    if needs_data:
        request.getfixturevalue("data_root")  # (skips without the datasets; a failure in CI)
    over = {"data.limit_train": 8, "data.limit_valid": 8} if needs_data else {"data.n_train": 64, "data.n_test": 16}
    p = ampsim.plan(ampsim.load_experiment(ROOT / "experiments" / experiment, {**over, "executor.kind": "reference"}))
    good = p.task.train_instances(0)[:2]
    bad = dataclasses.replace(good[0], key=10**6, data=change(good[0].data))
    with ampsim.make_executor(p) as ex:
        for call in (ex.train, ex.evaluate):
            with pytest.raises(ampsim.ConfigError) as err:
                call([*good, bad])
            assert f"instance {10**6}: {words}" in str(err.value) and "\n" not in str(err.value)
        assert len(ex.train(good)) > 0


@pytest.mark.parametrize("kind, numerics", [("reference", True), ("sim", True), ("sim", False), ("multicore", True)])
def test_an_instance_twice_in_one_call_or_a_key_no_int64_holds_is_refused_before_any_runs(kind, numerics):
    """Two instances of one key in flight collided in a node: the simulator failed with a GraphError blaming the
    model ("two forward visits with the same state"), the multicore one closed itself, a replay went on; a
    replay failed on a key int64 does not hold with a bare OverflowError (or a ValueError for a str key)."""
    over = {**SMALL, "executor.kind": kind, "executor.numerics": numerics, "train.mak": 8,
            "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml"), "executor.workers": 2}
    p = ampsim.plan(ampsim.load_experiment(BLOBS, {k: v for k, v in over.items() if kind != "reference"
                                                   or k.split(".")[1] not in ("hardware", "workers", "numerics")}))
    batch = p.task.train_instances(0)[:3]
    with ampsim.make_executor(p) as ex:
        for bad, words in (([*batch, batch[0]], f"instance {batch[0].key}: given twice in one call"),
                           ([*batch, dataclasses.replace(batch[0], key=2**63)], f"instance key {2**63}: expected"),
                           ([*batch, dataclasses.replace(batch[0], key="a")], "instance key 'a': expected"),
                           ([*batch, dataclasses.replace(batch[0], key=True)], "instance key True: expected")):
            for call in (ex.train, ex.evaluate):
                with pytest.raises(ampsim.ConfigError, match=rf"^{kind} executor: {call.__name__}: {words}"):
                    call(bad)
        assert len(ex.train(batch)) == (3 if numerics else 0) and len(ex.train(batch)) == (3 if numerics else 0)


def test_plan_refuses_a_system_whose_chips_are_not_the_multicore_workers():
    """A 16-chip system for 2 workers was placed over 16 units: make_executor then refused the plan, blaming the
    experiment file's placement for a node on worker 2. Now plan names its own argument, before any data."""
    from ampsim.hardware.parse import load_system

    cfg = ampsim.load_experiment(BLOBS, {**SMALL, "executor.kind": "multicore", "executor.workers": 2})
    with pytest.raises(ampsim.ConfigError, match=r"^plan: system: mesh4x4 has 16 chips, but the multicore executor "
                                                 r"runs 2 workers \(executor.workers\)"):
        ampsim.plan(cfg, system=load_system(ROOT / "hardware_models" / "mesh4x4.toml"))
    four = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, workers=4))
    p = ampsim.plan(four, system=load_system(ROOT / "hardware_models" / "ring4.toml"))  # one chip per worker
    assert p.workers == 4 and set(p.placement.values()) <= {0, 1, 2, 3}


def test_plan_refuses_a_system_or_placement_for_the_reference_executor(cfg):
    """Both were dropped without a word (a placement naming no node of the model included)."""
    from ampsim.hardware.parse import load_system

    for given, call in (("system", lambda: ampsim.plan(cfg, system=load_system(ROOT / "hardware_models" / "ring4.toml"))),
                        ("placement", lambda: ampsim.plan(cfg, placement={"bogus": 5}))):
        with pytest.raises(ampsim.ConfigError, match=rf"^plan: {given}: the reference executor runs on no machine"):
            call()


def test_plan_refuses_a_system_that_would_drop_the_configs_hardware_overrides():
    """The machine given ran as it was: the config's link bandwidth of 1e3 became 3.2e10, without a word."""
    from ampsim.hardware.parse import load_system

    ring = ROOT / "hardware_models" / "ring4.toml"
    cfg = ampsim.load_experiment(BLOBS, {**SMALL, "executor.kind": "sim", "executor.hardware": str(ring),
                                         "hardware.link.bandwidth_bytes_per_s": 1e3})
    assert ampsim.plan(cfg).system.link.bandwidth_bytes_per_s == 1e3
    with pytest.raises(ampsim.ConfigError, match=r"^plan: system: the config has hardware overrides "
                                                 r"\(hardware\.link\.bandwidth_bytes_per_s\) that a machine given whole would ignore"):
        ampsim.plan(cfg, system=load_system(ring))
    applied = load_system(ring, cfg.hardware)
    p = ampsim.plan(dataclasses.replace(cfg, hardware={}), system=applied)
    assert p.system.link.bandwidth_bytes_per_s == 1e3


def test_plan_refuses_a_system_that_disagrees_with_itself():
    """A SystemSpec changed with dataclasses.replace into two chips of a ring of four was planned, and building
    its machine failed with IndexError: tuple index out of range."""
    from ampsim.hardware.parse import load_system

    ring = load_system(ROOT / "hardware_models" / "ring4.toml")
    cfg = ampsim.load_experiment(BLOBS, {**SMALL, "executor.kind": "sim",
                                         "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")})
    with pytest.raises(ampsim.ConfigError, match=r"^plan: system: its chips disagree with the rest of it"):
        ampsim.plan(cfg, system=dataclasses.replace(ring, chips=ring.chips[:2]))
    for good in (ring, load_system(ROOT / "hardware_models" / "switch64.toml", {"link": {"latency_s": 1e-3}})):
        assert ampsim.plan(cfg, system=good).system == good


@pytest.mark.parametrize("kind, numerics", [("reference", True), ("sim", True), ("sim", False), ("multicore", True)])
@pytest.mark.parametrize("on_done", [5, [1]])  # ([1]: the reference executor asked only "if on_done")
def test_an_executor_refuses_an_on_done_that_is_not_callable_before_it_trains(kind, numerics, on_done):
    """ex.train(batch, on_done=5) was a TypeError from deep in the run ('int' object is not callable, in the
    simulator's event loop or the replay's compiled loop) after the first instance had trained, and the executor was
    then refused as failed part way. Now it is a bad argument: one ConfigError line, nothing run, and it trains on."""
    sets = {"executor.kind": kind, "executor.numerics": numerics,
            **({"executor.hardware": str(ROOT / "hardware_models" / "ring4.toml"), "train.mak": 4}
               if kind == "sim" else {}), **({"executor.workers": 2} if kind == "multicore" else {})}
    p = api.plan(ampsim.load_experiment(BLOBS, {**SMALL, **sets}))
    batch = list(p.task.train_instances(0))[:8]
    with api.make_executor(p) as ex:
        with pytest.raises(ampsim.ConfigError) as err:
            ex.train(iter(batch), on_done=on_done)
        assert str(err.value) == (f"{kind} executor: train: on_done: expected a callable (told how many more instances "
                                  f"completed) or None, got {type(on_done).__name__} {on_done!r}")
        assert ex.time_s == 0
        done: list[int] = []
        ex.train(batch, on_done=done.append)
        assert sum(done) == len(batch) and ex.time_s > 0


@pytest.mark.parametrize("args, message", [
    ((None,), "load_system: path: expected a hardware file's path (str or os.PathLike), got NoneType None"),
    ((0,), "load_system: path: expected a hardware file's path (str or os.PathLike), got int 0"),  # (not stdin)
    ((ROOT / "hardware_models" / "ring4.toml", ["link.latency_s=1e-6"]),
     "load_system: overrides: expected a table of hardware-model overrides such as {'link': {'latency_s': 1e-06}} "
     "(an experiment's cfg.hardware) or None, got list"),
    ((ROOT / "hardware_models" / "ring4.toml", 5), "load_system: overrides: expected a table of hardware-model "),
])
def test_load_system_which_plans_errors_name_refuses_a_wrong_type_in_one_line(args, message):
    """plan(cfg, system=...) tells its caller to make the SystemSpec with ampsim.hardware.parse.load_system(path,
    overrides): a None path was a TypeError from os.stat, 0 read stdin (a file descriptor), and a list of overrides
    an AttributeError ('list' object has no attribute 'items')."""
    from ampsim.hardware.parse import load_system

    with pytest.raises(ampsim.ConfigError) as err:
        load_system(*args)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert load_system(ROOT / "hardware_models" / "ring4.toml", {"link": {"latency_s": 1e-6}}).name == "ring4"


def test_load_system_takes_dotted_keys_as_load_experiment_does():
    """``load_system(path, {'link.latency_s': 1e-6})`` was refused with advice for a TOML file ("a quoted key with a
    dot is one key: drop the quotes ...") where from Python the key is what load_experiment's overrides take. A dotted
    key is its nested table's field, merged in turn with the rest (so both forms may name one table); an experiment's
    [hardware] table (overridden_by: a file's) keeps TOML's reading, refused with TOML's advice."""
    from ampsim.hardware.parse import load_system

    ring = ROOT / "hardware_models" / "ring4.toml"
    nested = load_system(ring, {"link": {"latency_s": 5e-6, "packet_bytes": 64}, "chip": {"overhead_s": 1e-6},
                                "topology": {"n": 6}})
    assert nested.link.latency_s == 5e-6 and nested.n_chips == 6 and nested != load_system(ring)
    assert load_system(ring, {"link.latency_s": 5e-6, "link.packet_bytes": 64, "chip.overhead_s": 1e-6,
                              "topology.n": 6}) == nested
    assert load_system(ring, {"link": {"latency_s": 5e-6}, "link.packet_bytes": 64, "chip.overhead_s": 1e-6,
                              "topology": {"n": 6}}) == nested
    with pytest.raises(ampsim.ConfigError, match=r"\(with the hardware overrides of <overrides>\): link.latency_s: "
                                                 r"expected a number, got table"):
        load_system(ring, {"link.latency_s.x": 1})
    with pytest.raises(ampsim.ConfigError, match=r"\(with the hardware overrides of x.toml\): link.latency_s: "
                                                 r"unknown key .*; a quoted key with a dot is one key: drop the quotes"):
        load_system(ring, {"link.latency_s": 5e-6}, overridden_by="x.toml")


@pytest.mark.parametrize("call, file, message", [
    (ampsim.load_experiment, "experiments/sweeps/mak_mnist.toml", "sweep: unknown section (known: experiment, data, "),
    (ampsim.train, "experiments/sweeps/mak_mnist.toml", "sweep: unknown section (known: experiment, data, "),
    (ampsim.load_experiment, "hardware_models/ring4.toml", "system: unknown section (known: experiment, data, "),
    (ampsim.sweep, "experiments/blobs_mlp.toml", "experiment: unknown section (known: sweep, fixed, "),
    (ampsim.sweep, "hardware_models/ring4.toml", "system: unknown section (known: sweep, fixed, "),
    *[(lambda f: ampsim.plan(ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": f})),
       str(ROOT / "experiments" / name), f"{top}: unknown key (known: system, chip, ")
      for name, top in [("mnist_mlp.toml", "experiment"), ("sweeps/mak_mnist.toml", "sweep")]],
])
def test_a_file_of_another_kind_is_said_to_be_one(call, file, message, tmp_path, monkeypatch):
    """A sweep file given to load_experiment (or an experiment file to sweep) said only "sweep: unknown section
    (known: ...)", as of a typo in an experiment file: the line now says what the file is and what to do with it."""
    kind = {"sweeps": "a sweep file: run it as a sweep", "experiments": "an experiment file: train it, or name it in "
            "a sweep file's sweep.experiment", "hardware_models": "a hardware model: name it in executor.hardware "
            "(in a sweep file, sweep.hardware)"}[Path(file).parent.name]
    monkeypatch.chdir(ROOT)
    with pytest.raises(ampsim.ConfigError) as err:
        call(file)
    assert str(err.value).startswith(f"{file}: {message}") and str(err.value).endswith(f"; the file is {kind}")
    assert "\n" not in str(err.value)


def test_a_hardware_file_that_is_not_there_is_named_with_the_setting_that_gave_it(tmp_path):
    """It was read_toml's line alone, 'ring4: no such file': neither the setting nor where else it was looked for
    (beside the experiment file) was said, where every other refusal of a value names the override that gave it."""
    over = {**SMALL, "executor.kind": "sim", "executor.hardware": "ring4"}
    for call, words in [(lambda: api.plan(ampsim.load_experiment(BLOBS, over)), "load_experiment: overrides"),
                        (lambda: ampsim.train(BLOBS, overrides=over), "train: overrides")]:
        with pytest.raises(ampsim.ConfigError) as err:
            call()
        assert str(err.value) == (f"{words}: executor.hardware: ring4: no such file, nor beside the experiment file "
                                  f"({BLOBS.parent / 'ring4'})")
    exp = tmp_path / "exp.toml"  # (set by the file: the file is named)
    exp.write_text(BLOBS.read_text() + '\n[executor]\nkind = "sim"\nhardware = "/no/such/ring4.toml"\n')
    with pytest.raises(ampsim.ConfigError) as err:
        api.plan(ampsim.load_experiment(exp))
    assert str(err.value) == f"{exp}: executor.hardware: /no/such/ring4.toml: no such file"


def test_a_folder_ampsim_wrote_given_as_an_experiment_says_which_file_it_meant(capsys):
    """A run's folder where its config.toml was meant (or a sweep's results folder) said only "is a directory"."""
    from ampsim.cli import main

    sweep = ROOT / "results" / "sweeps" / "mak_mnist"
    run = next(p for p in sorted(sweep.iterdir()) if (p / "config.toml").is_file())
    with pytest.raises(ampsim.ConfigError, match=r"is a directory, not a file; the folder is a run's: .*config.toml "
                                                 r"is the experiment it ran, and ampsim.read_run reads the run$"):
        ampsim.load_experiment(run)
    assert main(["train", str(sweep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ampsim: error: {sweep}: is a directory, not a file; the folder is a sweep's results: its sweep "
                   "file is what to run again"]
    with pytest.raises(ampsim.ConfigError, match=r"is a directory, not a file$"):  # any other folder: as before
        ampsim.load_experiment(ROOT / "experiments")


@pytest.mark.parametrize("held", [["config.toml"], ["config.toml", "metrics.csv"]])
def test_a_folder_that_holds_a_config_toml_but_no_finished_run_is_not_said_to_be_a_runs(tmp_path, held):
    """A working folder that keeps an experiment as config.toml (or a run stopped before it finished: no
    summary.json) was said to be "a run's: .../config.toml is the experiment it ran, and ampsim.read_run reads the
    run", which read_run then refused ("holds no finished run"): a finished run is its config.toml and its
    summary.json, written last, as read_run and the run writer's enclosing_run count it."""
    folder = tmp_path / "work"
    folder.mkdir()
    for name in held:
        (folder / name).write_text(BLOBS.read_text() if name == "config.toml" else "epoch\n")
    with pytest.raises(ampsim.ConfigError) as err:
        ampsim.load_experiment(folder)
    assert str(err.value) == f"{folder}: is a directory, not a file"
    with pytest.raises(ampsim.DataError, match="holds no finished run"):
        ampsim.read_run(folder)


def test_a_folder_that_cannot_be_searched_given_as_an_experiment_is_one_line(tmp_path, monkeypatch, capsys):
    """A folder the user may list but not enter (another user's, mode 0o700; as root nothing is denied, so the
    refusal is made here): asking whether it held a run's config.toml raised PermissionError from Path.is_file,
    which ignores only 'no such file', past the one-line "is a directory, not a file"."""
    import errno

    from ampsim.cli import main

    folder = tmp_path / "locked"
    folder.mkdir()
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(f"{folder}{os.sep}"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(ampsim.ConfigError, match=r"is a directory, not a file$"):
        ampsim.load_experiment(folder)
    assert main(["train", str(folder)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"ampsim: error: {folder}: is a directory, not a file"]


def test_a_hardware_setting_that_names_a_folder_is_named_with_the_setting_that_gave_it():
    """As a file that is not there: it was read_toml's line alone, 'hardware_models: is a directory, not a file'."""
    hw = str(BLOBS.parents[1] / "hardware_models")
    over = {**SMALL, "executor.kind": "sim", "executor.hardware": hw}
    with pytest.raises(ampsim.ConfigError) as err:
        api.plan(ampsim.load_experiment(BLOBS, over))
    assert str(err.value) == f"load_experiment: overrides: executor.hardware: {hw}: is a directory, not a file"
