"""The sections of an experiment file that ampsim defines itself, as frozen dataclasses: ``[experiment]``,
``[train]``, ``[eval]``, ``[executor]``, ``[replicas]``, ``[placement]``, and :class:`Config`, the resolved
experiment that holds them with the task's ``[data]`` and ``[model]`` (:mod:`ampsim.schemas`) and the hardware
overrides. Each field is declared once, with its type, default, allowed range and help
(:func:`~ampsim.fieldspec.spec`); reading and validating a file is :mod:`ampsim.config`'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ampsim.fieldspec import spec, value_hash


@dataclass(frozen=True)
class ExperimentSection:
    """``[experiment]``: the run's name, its task (model family), random seed and array dtype."""

    __hash__ = value_hash

    name: str = spec("experiment", help="run name; the default run folder is results/<name>")
    task: str = spec("mlp", help="model family: mlp, list_reduction, sst_treelstm, qm9_ggnn")
    seed: int = spec(0, ge=0)
    dtype: str = spec("float32", choices=("float32", "float64"))


#: largest ``train.epochs`` accepted
MAX_EPOCHS = 1_000_000
#: default ``executor.watchdog_s``: generous, a healthy worker answers in milliseconds (see multicore/executor.py)
WATCHDOG_S = 60.0


def _OPTIMIZERS(*kinds: str) -> tuple:  # noqa: N802  (a read_if, spelled as the table it is)
    return (("train.optimizer", kinds), ("model.embedding_optimizer", kinds))


@dataclass(frozen=True)
class TrainSection:
    """``[train]``: epochs, the optimizer, asynchrony (``mak``, ``muf``), staleness, admission, stopping, target."""

    __hash__ = value_hash

    #: the upper bound catches typos such as 1e12 epochs (a run that would never end)
    epochs: int = spec(1, ge=1, le=MAX_EPOCHS, help="passes over the training set")
    optimizer: str = spec("sgd", choices=("sgd", "momentum", "adam", "adagrad"))
    lr: float = spec(0.01, gt=0)
    # (the embedding table of the SST task may have an optimizer of its own, with these settings)
    momentum: float = spec(0.9, ge=0, le=1, read_if=_OPTIMIZERS("momentum"))
    # (< 1: Adam divides by 1 - beta**t, so 1 made every step NaN, said as a divergence to lower train.lr for)
    beta1: float = spec(0.9, ge=0, lt=1, read_if=_OPTIMIZERS("adam"))
    beta2: float = spec(0.999, ge=0, lt=1, read_if=_OPTIMIZERS("adam"))
    eps: float = spec(1e-8, gt=0, read_if=_OPTIMIZERS("adam", "adagrad"))
    weight_decay: float = spec(0.0, ge=0, finite=True,  # (inf trained nothing but a divergence)
                               help="L2: weight_decay x the parameter added to the gradient the optimizer steps on "
                               "(after the muf mean and the clip; also with Adam, not AdamW's decoupled decay); a "
                               "sparse update decays only its rows")
    clip_norm: float = spec(0.0, ge=0, help="scale each node's gradient (the mean over an update's instances, all "
                            "the node's arrays together, before weight decay) down to at most this L2 norm: it "
                            "bounds the gradient, not Adam's or Adagrad's step; 0 = off")
    count_optimizer_state: bool = spec(False, help="simulator: an update also reads and writes its optimizer's state "
                                       "(momentum and Adagrad one array per parameter, Adam two) and the state "
                                       "takes chip memory; false = an update moves 3x its parameters' bytes, "
                                       "whatever the optimizer, and the state no memory", point_id="unless_default")
    #: far above any healthy run of the shipped experiments (their loss per row stays below 10^3)
    max_loss: float = spec(1e6, ge=0, help="stop the run when a loss per labelled row exceeds this; "
                           "0 = stop only on NaN or infinity", point_id="never")
    mak: int = spec(1, ge=1, help="max_active_keys: instances in flight")
    muf: int = spec(1, ge=1, help="min_update_frequency: completed instances per parameter "
                  "update, which steps on the mean of their gradients")
    staleness: str = spec("none", choices=("none", "stash", "predict", "scale_lr"),
                          help="stale-gradient mitigation per parameterized node: stash (backward uses the "
                          "forward's parameters), predict (forward extrapolates along the last step), scale_lr "
                          "(the learning rate / (1 + staleness): the optimizer's whole step, for Adam and Adagrad "
                          "too); see ampsim/ir/param.py", point_id="unless_default")
    predict_delay: float = spec(-1.0, ge=-1, finite=True, help="staleness = predict: updates to extrapolate by; "
                                "-1 = the node's mean measured staleness so far", point_id="unless_default")
    staleness_nodes: dict = spec({}, help="per-node train.staleness: node name (or fnmatch pattern, first "
                                 "match wins) -> mode; other nodes take train.staleness", point_id="unless_default")
    max_staleness: float = spec(0.0, ge=0, help="simulator: a window of instances in flight (up to mak) that "
                                "grows while every parameterized node's recent mean staleness is at most this and "
                                "shrinks in proportion when not (ampsim/executors/sim/admission.py); 0 = off (mak "
                                "alone)", point_id="unless_default")
    admission_start: int = spec(1, ge=0, help="with train.max_staleness: the window's first size (it doubles "
                                "from there while under the bound); 0 = one instance per chip the placement "
                                "occupies (fill the pipeline once before measuring)", point_id="unless_default")
    admission_slow_start: bool = spec(True, help="with train.max_staleness: the window doubles from its first "
                                      "size each round while under the bound (TCP's slow start); false = it "
                                      "grows by one a round from the first size, as after a cut",
                                      point_id="unless_default")
    max_instances: int = spec(0, ge=0, help="stop an epoch after this many instances; 0 = all")
    target: float = spec(0.0, help="metric value that counts as reaching the target (time-to-target)")


@dataclass(frozen=True)
class EvalSection:
    """``[eval]``: how often and on how many instances the model is evaluated, and whether that costs time."""

    __hash__ = value_hash

    every_epochs: int = spec(1, ge=1)
    limit: int = spec(0, ge=0, help="evaluate on at most this many instances; 0 = all")
    advances_time: bool = spec(False, help="simulated executor: evaluation costs simulated time")


#: the executors' names, here so that a config is refused as it is read (the registry, :mod:`ampsim.executors`, is a
#: layer above; tests/unit/test_config.py checks that the two agree)
EXECUTOR_KINDS = ("reference", "sim", "multicore")


@dataclass(frozen=True)
class ExecutorSection:
    """``[executor]``: which executor runs the experiment (``kind``), and its options."""

    __hash__ = value_hash

    kind: str = spec("reference", choices=EXECUTOR_KINDS, help="executor: reference, sim, multicore")
    hardware: str = spec("", help="hardware model TOML for the simulated executor", point_id="never")
    hardware_sha256: str = spec("", help="the hardware file's bytes a run used (its config.toml pins them; its folder "
                                "keeps a copy, hardware.toml): another file's are refused, the copy used instead",
                                point_id="never")
    workers: int = spec(0, ge=0, help="multicore worker processes; 0 = one per core")
    trace: bool = spec(False, help="write a Chrome/Perfetto trace of the run")
    numerics: bool = spec(True, help="false: the simulated executor replays recorded message graphs "
                          "(exact times, no numpy; loss and metrics not measured)", point_id="unless_default")
    watchdog_s: float = spec(WATCHDOG_S, ge=0, le=1e6, help="multicore: stop with an error naming a worker that makes "
                             "no progress this many seconds (0.1 to 1e6: 11 days); 0 = off", point_id="never")


@dataclass(frozen=True)
class ReplicasSection:
    """``[replicas]``: copies of the model (groups) and of nodes, and how their parameters are synchronized."""

    __hash__ = value_hash

    groups: int = spec(1, ge=1, le=1 << 16, help="whole-model copies (data-parallel AMP groups); instance key "
                       "k runs in group k % groups")
    nodes: dict = spec({}, help="copies inside each group: node name (or fnmatch pattern, first match wins) -> "
                       "copies; instance key k takes copy (k // groups) % copies")
    sync: str = spec("average", choices=("average", "none"),
                     help="copies of a parameterized node: average their parameters every sync_every local "
                     "updates (local updates since a copy contributed are kept), or never (none)")
    sync_every: int = spec(1, ge=1, help="local updates of each copy between synchronizations")
    outer_lr: float = spec(1.0, gt=0, help="a round's result is anchor + outer_lr * (average - anchor), the anchor "
                           "being the previous result: 1 = the plain average, the number of copies = the sum of "
                           "their moves (federated averaging's server learning rate)", point_id="unless_default")
    sparse_sync: bool = spec(False, help="tables updated by rows (embeddings) synchronize only the rows some copy "
                             "changed since the last round (exact; fewer bytes); every executor, a "
                             "replay included", point_id="unless_default")
    overlap: bool = spec(False, help="simulator: copies keep training while a synchronization runs and apply its "
                         "result when it arrives (false: a copy waits from the round's close to its apply, and mak = 1 "
                         "equals the reference)")
    collective: str = spec("ring", choices=("ring", "halving_doubling", "host"),
                           help="simulator: the all-reduce a round runs over the links: ring (2 (k - 1) steps to "
                           "the next copy) or halving_doubling (2 log2 k steps, partners copy index XOR 2^j; k a "
                           "power of two); or host: through the controller of a measured machine's [host], as the "
                           "multicore executor does (snapshots in, the average out); what the copies end with is "
                           "the same", point_id="unless_default")


@dataclass(frozen=True)
class PlacementSection:
    """``[placement]``: how the model's nodes are mapped onto chips (workers)."""

    __hash__ = value_hash

    strategy: str = spec("round_robin", choices=("explicit", "round_robin", "greedy", "min_cut", "groups",
                                                 "single"),
                         help="groups: each replica group on its own run of consecutive chips, greedy inside")
    map: dict = spec({}, help="explicit placement: node name (or fnmatch pattern, first match wins) -> chip "
                      "index")


@dataclass(frozen=True)
class Config:
    """A resolved, validated experiment. ``data`` and ``model`` are the task's own dataclasses.

    Hashable as it compares (a dict key, an ``lru_cache`` argument): equal configs hash alike, their lists and
    tables taken by value (:func:`~ampsim.fieldspec.value_hash`; a task's sections of its own included). Frozen, but
    its arrays and tables are plain lists and dicts (``model.hidden``, ``placement.map``, ``hardware``): change a value
    with ``dataclasses.replace`` (checked again where it is planned or trained), never in place, which changes the
    config of everything holding it (a Plan's, a Run's) and its hash (as a dict key, it is then lost)."""

    __hash__ = value_hash

    path: str
    experiment: ExperimentSection
    data: Any
    model: Any
    train: TrainSection
    eval: EvalSection
    executor: ExecutorSection
    placement: PlacementSection
    #: the section came after results were committed: wholly at its defaults it leaves point ids alone
    replicas: ReplicasSection = field(default_factory=ReplicasSection, metadata={"point_id": "unless_default"})
    #: overrides applied to the hardware model file (``hardware.link.bandwidth_bytes_per_s = 1e9``);
    #: validated with the hardware file when the simulator loads it
    hardware: dict = field(default_factory=dict)
    #: where ``hardware``'s overrides came from, for the hardware model's errors (the experiment file, ``--set
    #: hardware.link.latency_s``, both); "" for the file alone. Not part of the experiment: no file or id holds it
    hardware_from: str = field(default="", compare=False, repr=False)
    #: the keys overrides set (``--set``, the API's, a sweep's point's), in order, each with the words that name it
    #: (``--set train.mak``, ``--workers``; a sweep's point's: the key alone), for the plan stage's errors about a
    #: value one set (:func:`ampsim.blame.blamed`). Not part of the experiment either
    overridden: tuple = field(default=(), compare=False, repr=False)
    #: each section as the file and its overrides gave it ((name, section), ...), so that a value changed since in
    #: Python (``dataclasses.replace``) is blamed on the Config, not on the file (:func:`ampsim.config.checked`)
    as_read: tuple = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, dict]:
        """The TOML-shaped dict: section name -> its fields (``hardware`` only where it has overrides)."""
        d = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS if name != "hardware"}
        if self.hardware:
            d["hardware"] = self.hardware
        return d


SECTIONS = ("experiment", "data", "model", "train", "eval", "executor", "placement", "replicas", "hardware")
FIXED_SECTIONS = {"experiment": ExperimentSection, "train": TrainSection, "eval": EvalSection,
                  "executor": ExecutorSection, "placement": PlacementSection, "replicas": ReplicasSection}



__all__ = ["ExperimentSection", "TrainSection", "EvalSection", "ExecutorSection", "ReplicasSection",
           "PlacementSection", "Config", "SECTIONS", "FIXED_SECTIONS", "EXECUTOR_KINDS", "MAX_EPOCHS", "WATCHDOG_S"]
