"""A task defined outside the package, as a researcher adds one (its schema with ``register_task``, its builder
in ``ampsim.models.TASKS``): the simulator at mak 1 reproduces the reference executor's losses and parameters
bit for bit, a replay after an edit of the task's own file equals the full run (its recordings are keyed by
that file too, not only by the package's code), and a node kind a replay cannot cost is refused in one line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import ampsim
from ampsim import models, schemas
from ampsim.errors import GraphError
from ampsim.executors.sim import SimExecutor
from ampsim.hardware.parse import load_system
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.losses import Field, MeanSquaredError
from ampsim.ir.param import ParamNode
from ampsim.models.base import InjectFields, Metric, Model

HW = Path(__file__).resolve().parents[2] / "hardware_models" / "ring4.toml"

#: the task's module; SCALE_FLOPS and SCALE_KERNELS are what the test edits
SOURCE = '''
from dataclasses import dataclass

import numpy as np

from ampsim.fieldspec import spec
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.node import Node
from ampsim.ir.nodes.groups import Bcast
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import Field, MeanSquaredError
from ampsim.ir.nodes.pointwise import Add, Tanh
from ampsim.models.base import InjectFields, Metric, Model, Task


@dataclass(frozen=True)
class DataConfig:
    n_train: int = spec(48, ge=1)
    batch: int = spec(4, ge=1)


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = spec(8, ge=1)


class Scale(Node):
    """y = 2 x: a node kind of the task's own."""

    def forward(self, msg, port):
        self.charge(flops=SCALE_FLOPS * msg.payload.size, kernels=SCALE_KERNELS)
        return [self.out(msg.with_payload(2 * msg.payload))]

    def backward(self, msg, port):
        self.charge(flops=SCALE_FLOPS * msg.payload.size, kernels=SCALE_KERNELS)
        return [self.grad(msg.with_payload(2 * msg.payload))]


def model(cfg):
    dt, seed, H = np.dtype(cfg.experiment.dtype), cfg.experiment.seed, cfg.model.hidden
    g = Graph("twohead")
    x = g.add(Input("x", width=5, dtype=dt))
    l0 = g.add(Linear("l0", 5, H, seed=seed, dtype=dt, input_grad=False))
    sc, t, fan = g.add(Scale("scale")), g.add(Tanh("tanh")), g.add(Bcast("fan", 2))
    ha, hb = g.add(Linear("ha", H, 1, seed=seed, dtype=dt)), g.add(Linear("hb", H, 1, seed=seed, dtype=dt))
    add, loss = g.add(Add("add")), g.add(MeanSquaredError("loss", 1, Field("y")))
    for a, b in ((x, l0), (l0, sc), (sc, t), (t, fan), (add, loss)):
        g.connect(a, b)
    g.connect(fan, ha, 0)
    g.connect(fan, hb, 1)
    g.connect(ha, add, 0, 0)
    g.connect(hb, add, 0, 1)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("mse", "loss", "loss", higher_is_better=False),
                 fields=("x", "y"))


def epoch_instances(cfg):
    return -(-cfg.data.n_train // cfg.data.batch)


def skeleton(cfg):
    return model(cfg)


def build(cfg):
    dt, B, n = np.dtype(cfg.experiment.dtype), cfg.data.batch, epoch_instances(cfg)
    X = np.random.default_rng(cfg.experiment.seed).normal(size=(cfg.data.n_train, 5)).astype(dt)
    Y = np.sin(X.sum(axis=1, keepdims=True)).astype(dt)

    def batches(order, first):
        return [Instance(first + i, {"x": X[order[i * B:(i + 1) * B]], "y": Y[order[i * B:(i + 1) * B]]})
                for i in range(n)]

    return Task(model(cfg), lambda e: batches(np.random.default_rng([cfg.experiment.seed, e]).permutation(len(X)), e * n),
                lambda: batches(np.arange(len(X)), -(10**9)), info={"instances_per_epoch": n})
'''

EXPERIMENT = '''
[experiment]
name = "twohead"
task = "twohead"
seed = 1

[train]
epochs = 2
optimizer = "adam"
lr = 0.01
'''


def task_module(tmp_path: Path, monkeypatch, flops: int = 1, kernels: int = 1):
    """The task's module with these costs, imported afresh (sys.modules as it was after the test)."""
    path = tmp_path / "twohead.py"
    path.write_text(f"SCALE_FLOPS, SCALE_KERNELS = {flops}, {kernels}\n{SOURCE}")
    spec = importlib.util.spec_from_file_location("twohead", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "twohead", module)
    spec.loader.exec_module(module)
    return module


def load_task(tmp_path: Path, monkeypatch, flops: int, kernels: int):
    """Write the task's module with these costs, import it afresh and register it (undone after the test)."""
    module = task_module(tmp_path, monkeypatch, flops, kernels)
    monkeypatch.setitem(schemas.TASK_SCHEMAS, "twohead", schemas.TaskSchema(module.DataConfig, module.ModelConfig))
    monkeypatch.setitem(models.TASKS, "twohead", module)
    (tmp_path / "twohead.toml").write_text(EXPERIMENT)
    return tmp_path / "twohead.toml"


def test_register_task_declares_a_task_the_experiment_files_read(tmp_path, monkeypatch):
    load_task(tmp_path, monkeypatch, 1, 1)
    monkeypatch.delitem(schemas.TASK_SCHEMAS, "twohead")
    schemas.register_task("twohead", sys.modules["twohead"].DataConfig, sys.modules["twohead"].ModelConfig)
    cfg = ampsim.load_experiment(tmp_path / "twohead.toml", {"model.hidden": 3})
    assert cfg.model.hidden == 3 and cfg.data.batch == 4
    with pytest.raises(ampsim.ConfigError, match="model.hidden"):
        ampsim.load_experiment(tmp_path / "twohead.toml", {"model.hidden": 0})


def test_the_simulator_at_mak_1_reproduces_the_reference_bit_for_bit(tmp_path, monkeypatch):
    experiment = load_task(tmp_path, monkeypatch, 1, 1)
    runs = []
    for sets in ({}, {"executor.kind": "sim", "executor.hardware": str(HW), "train.mak": 1}):
        p = ampsim.plan(ampsim.load_experiment(experiment, sets))
        with ampsim.make_executor(p) as ex:
            reports = [ex.train(p.task.train_instances(e)) for e in (1, 2)]
        losses = [r.values["loss"] for batch in reports for r in batch]
        runs.append((losses, {n.name: {k: v.copy() for k, v in n.params.items()} for n in p.task.model.graph.param_nodes}))
    (ref_losses, ref_params), (sim_losses, sim_params) = runs
    assert len(ref_losses) == 24 and ref_losses == sim_losses
    assert ref_params.keys() == sim_params.keys() == {"l0", "ha", "hb"}
    for name, arrays in ref_params.items():
        assert all(np.array_equal(a, sim_params[name][k]) for k, a in arrays.items())


def test_a_replay_after_an_edit_of_the_tasks_own_file_equals_the_full_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    times = []
    for flops, kernels in ((1, 1), (10**6, 400)):  # the edit: the task's node kind costs more
        experiment = load_task(tmp_path, monkeypatch, flops, kernels)
        pair = []
        for numerics in (True, False):
            cfg = ampsim.load_experiment(experiment, {"executor.kind": "sim", "executor.hardware": str(HW),
                                                      "train.mak": 4, "train.epochs": 1, "executor.numerics": numerics})
            pair.append(ampsim.train(cfg).summary["simulated_time_s"])
        times.append(pair)
    (full0, replay0), (full1, replay1) = times
    assert full1 != full0  # the edit matters
    assert (replay0, replay1) == (full0, full1)  # the old recording served the edited model's replay


def test_a_registered_task_is_not_replaced_unless_asked(tmp_path, monkeypatch):
    """``register_task("mlp", ...)`` replaced the shipped schema without a word, while ``models.TASKS["mlp"]``
    still built the shipped model from configs read with the new one."""
    shipped, builder = schemas.TASK_SCHEMAS["mlp"], models.TASKS["mlp"]
    monkeypatch.setitem(schemas.TASK_SCHEMAS, "mlp", shipped)  # (as they were after the test, whatever it does)
    monkeypatch.setitem(models.TASKS, "mlp", builder)
    module = task_module(tmp_path, monkeypatch)
    with pytest.raises(ampsim.ConfigError, match=r"^register_task: task 'mlp' is already registered, with \[model\] "
                                                 r"ampsim.schemas.mlp.ModelConfig: pass replace=True to replace it$"):
        schemas.register_task("mlp", module.DataConfig, module.ModelConfig)
    with pytest.raises(ampsim.ConfigError, match=r"^register_task: task 'mlp' is already registered, built by "
                                                 r"module ampsim.models.mlp: pass replace=True to replace it$"):
        models.register_task("mlp", module)
    assert schemas.TASK_SCHEMAS["mlp"] is shipped and models.TASKS["mlp"] is builder
    schemas.register_task("mlp", shipped.data, shipped.model, shipped.check)  # the same schema again: no change
    models.register_task("mlp", module, replace=True)  # asked for: the builder and the schema, together
    assert models.TASKS["mlp"] is module and schemas.TASK_SCHEMAS["mlp"].model is module.ModelConfig
    (tmp_path / "mlp.toml").write_text(EXPERIMENT.replace('task = "twohead"', 'task = "mlp"'))
    cfg = ampsim.load_experiment(tmp_path / "mlp.toml", {"model.hidden": 3})  # read and built by the module
    assert set(models.skeleton(cfg).graph.nodes) >= {"l0", "scale", "ha", "hb"}


def test_register_task_takes_the_builder_and_schema_of_a_module_together(tmp_path, monkeypatch):
    module = task_module(tmp_path, monkeypatch)
    (tmp_path / "twohead.toml").write_text(EXPERIMENT)
    for registry in (schemas.TASK_SCHEMAS, models.TASKS):
        for name in ("twohead", "half"):  # not registered now, nor after the test
            monkeypatch.setitem(registry, name, None)
            monkeypatch.delitem(registry, name)
    models.register_task("twohead", module)
    models.register_task("twohead", module)  # the same module again (a reload) is no conflict
    assert models.epoch_instances(ampsim.load_experiment(tmp_path / "twohead.toml")) == 12
    with pytest.raises(ampsim.ConfigError, match=r"^register_task: task 'half': module ampsim.schemas.mlp does not "
                                                 r"define build, epoch_instances, skeleton$"):
        models.register_task("half", schemas.mlp)
    assert "half" not in schemas.TASK_SCHEMAS and "half" not in models.TASKS
    # a schema registered alone: a config reads, but building it says what is missing, in one line
    monkeypatch.setitem(schemas.TASK_SCHEMAS, "half", schemas.TASK_SCHEMAS["twohead"])
    (tmp_path / "half.toml").write_text(EXPERIMENT.replace('task = "twohead"', 'task = "half"'))
    with pytest.raises(ampsim.ConfigError, match=r"half.toml: experiment.task: task 'half' has a schema but no "
                                                 r"builder in ampsim.models.TASKS \(register both"):
        models.build_task(ampsim.load_experiment(tmp_path / "half.toml"))


class Bias(ParamNode):
    """y = x + b, a parameterized node kind without grad_work (the cost of its update, for a replay)."""

    def __init__(self, name: str, width: int) -> None:
        super().__init__(name, {"b": np.zeros(width)}, width=width)

    def forward(self, msg, port):
        self.save(msg, None)
        return [self.out(msg.with_payload(msg.payload + self.params["b"]))]

    def backward(self, msg, port):
        self.pop(msg)
        self.stash(msg, msg.payload)
        return [self.grad(msg)]

    def param_grads(self, entries):
        return {"b": np.concatenate(entries).sum(axis=0)}


def test_a_replay_of_a_node_kind_without_grad_work_is_refused_in_one_line_before_it_runs():
    g = Graph("bias")
    x, b, loss = g.add(Input("x", width=2)), g.add(Bias("bias", 2)), g.add(MeanSquaredError("loss", 2, Field("y")))
    g.connect(x, b)
    g.connect(b, loss)
    model = Model(g.validate(), InjectFields((("x", "x"),)), Metric("mse", "loss", "loss"), fields=("x", "y"))
    system = load_system(HW)
    with pytest.raises(GraphError, match=r"^node bias: a replay .* which Bias does not define .* "
                                         r"set executor.numerics = true$"):
        SimExecutor(model, system, {n: 0 for n in g.nodes}, numerics=False)
    ex = SimExecutor(model, system, {n: 0 for n in g.nodes})  # with the numerics it trains
    ex.train([Instance(0, {"x": np.ones((3, 2), np.float32), "y": np.zeros((3, 2), np.float32)})])
    assert b.version == 1
