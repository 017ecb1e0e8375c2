"""The Python API: what ``import ampsim`` offers a researcher in a notebook. The CLI is a thin layer over it.

>>> import ampsim
>>> cfg = ampsim.load_experiment("experiments/blobs_mlp.toml", {"train.epochs": 2})  # (from the repository root)
>>> run = ampsim.train(cfg)                                  # a Run: metrics DataFrame, summary dict
>>> list(run.metrics["epoch"]), run.summary["executor"]
([1, 2], 'reference')
>>> run.metrics[["epoch", "train_loss", "test_accuracy"]]    # doctest: +SKIP
>>> table = ampsim.sweep("experiments/sweeps/mak_mnist.toml", "results/my_sweep", quick=True)  # doctest: +SKIP
>>> table[["train.mak", "train.muf", "throughput", "staleness_mean"]]  # a row per point  # doctest: +SKIP

Every function raises :class:`ampsim.AmpsimError` (one line naming the file and field) on bad input, and a
:class:`~ampsim.ConfigError` naming the function and the argument on an argument of the wrong type or range
(``train: out: expected a path (str or os.PathLike), got int 5``), before anything is opened or run.
"""

from __future__ import annotations

import functools
import logging
import numbers
import os
import reprlib
import tempfile
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, ParamSpec, Sequence, TypeVar

from ampsim import planning
from ampsim.blame import blaming
from ampsim.config import Config, check_no_nul, checked, load_config, marked_read, parse_override
from ampsim.errors import ConfigError, DataError
from ampsim.executors import Executor
from ampsim.executors import make_executor as _make_executor
from ampsim.hardware.parse import check_system
from ampsim.hardware.spec import SystemSpec  # (loaded with the planning layer already)
from ampsim.outputs import entries_of, what_it_holds
from ampsim.placement import check_names
from ampsim.planning import Plan
from ampsim.results import finished_note
from ampsim.runfiles import CONFIG, METRICS, SUMMARY, SWEEP_INFO, holds_finished_run
from ampsim.runread import check_config_of_run, read_metrics, read_summary
from ampsim.tables import TABLE, read_table
from ampsim.tomltext import as_toml, check_writable
from ampsim.training import train_experiment
from ampsim.wording import API, worded


class _OnFirstUse:
    """Module ``name``, imported when one of its attributes is first read: the annotations naming it resolve
    (``typing.get_type_hints(ampsim.Run)`` raised NameError where it was imported for type checkers only) while
    ``import ampsim`` does not load it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # (copy and pickle probe dunders, _name included before __init__ set it)
            raise AttributeError(attr)
        import importlib

        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


if TYPE_CHECKING:
    import pandas as pd
else:  # pandas loads only when a run's metrics are read (it costs the CLI ~0.3 s to start)
    pd = _OnFirstUse("pandas")

log = logging.getLogger(__name__)

__all__ = ["Run", "load_experiment", "train", "read_run", "sweep", "plan", "make_executor"]

#: overrides as ``{"train.lr": 0.01}``, ``["train.lr=0.01"]`` or ``[("train.lr", 0.01)]``
Overrides = Mapping[str, Any] | Iterable[str | tuple[str, Any]] | None


@dataclass(frozen=True, eq=False)  # (two runs are two runs: comparing DataFrames field by field raised)
class Run:
    """A finished training: its resolved config, per-epoch metrics and summary, and its folder (absolute; None
    when :func:`train` was given no ``out``: the files were written to a temporary folder, then read back)."""

    config: Config
    metrics: pd.DataFrame
    summary: dict
    path: Path | None = None

    def __repr__(self) -> str:  # (the default printed it all: 180 KB for a 1,024-chip run's links, in a notebook)
        s, machine = self.summary, f", hardware={self.summary['hardware']!r}" if "hardware" in self.summary else ""
        return (f"Run({self.config.experiment.name!r}, executor={s.get('executor')!r}{machine}, "
                f"epochs={s.get('epochs')}, final {s.get('metric')}={s.get('final_metric')}, "
                f"path={str(self.path) if self.path else None!r})")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _api(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` as an entry point of the API: the errors of the calls beneath it name its arguments
    (``out=``, ``quick=True``), not the command line's options (:mod:`ampsim.wording`)."""
    @functools.wraps(function)
    def entry(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with worded(API):
            return function(*args, **kwargs)
    return entry


_PATH = "a path (str or os.PathLike)"
_PAIRS = "a mapping such as {'train.lr': 0.01}, or a list of 'KEY=VALUE' strings or (key, value) pairs"


def _got(value: Any) -> str:
    """``int 5``: the type and a short one-line repr of a bad argument, for a message."""
    return f"{type(value).__name__} {' '.join(reprlib.repr(value).split())}"


def _path(where: str, name: str, value: Any, *, folder: bool = False, expected: str = _PATH) -> str:
    """``value`` as the path text it names, or one ConfigError line: not bytes and not an int (a file
    descriptor: ``open(0)`` reads stdin and then closes it), nor text with a NUL character. A ``folder`` to
    write must not be empty (as the CLI's ``--out ""``: an unset shell variable means nowhere, not the current
    or the default folder)."""
    try:
        text = os.fspath(value) if isinstance(value, os.PathLike) else value
    except TypeError:  # its __fspath__ returns neither str nor bytes
        text = None
    if not isinstance(text, str):
        raise ConfigError(f"{where}: {name}: expected {expected}, got {_got(value)}")
    check_no_nul(f"{where}: {name}", text)
    if folder and not text.strip():
        raise ConfigError(f"{where}: {name}: expected {_PATH}, got an empty path ({text!r})")
    return text


def _flag(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {name}: expected True or False, got {_got(value)}")
    return value


def _iterable(value: Any) -> bool:
    if isinstance(value, (str, bytes, bytearray, Mapping)):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _pair(where: str, item: Any, i: int) -> tuple[str, Any]:
    """Element ``i`` of a list of overrides: ``"train.lr=0.01"`` (parsed as ``--set`` does) or a pair."""
    if isinstance(item, str):
        return parse_override(item, f"{where}: overrides[{i}]:")
    pair = tuple(item) if _iterable(item) else ()
    if len(pair) != 2:
        raise ConfigError(f"{where}: overrides[{i}]: expected 'KEY=VALUE' or a (key, value) pair, got {_got(item)}")
    if not isinstance(pair[0], str):
        raise ConfigError(f"{where}: overrides[{i}]: expected a dotted key (str) such as 'train.lr', got "
                          f"{_got(pair[0])}")
    return pair


def _overrides(overrides: Overrides, where: str = "load_experiment") -> list[tuple[str, Any]]:
    """The (key, value) pairs of ``overrides``, each key a str and each value one that TOML holds (the run
    folder's config.toml is written from them), or one ConfigError line naming the bad element."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
        for key, _ in pairs:
            if not isinstance(key, str):
                raise ConfigError(f"{where}: overrides: expected dotted keys (str) such as 'train.lr', got "
                                  f"{_got(key)}")
    elif _iterable(overrides):
        pairs = [_pair(where, item, i) for i, item in enumerate(overrides)]
    else:
        hint = " (one 'KEY=VALUE' string: put it in a list)" if isinstance(overrides, str) else ""
        raise ConfigError(f"{where}: overrides: expected {_PAIRS}, got {_got(overrides)}{hint}")
    pairs = [(key, as_toml(value)) for key, value in pairs]
    for key, value in pairs:  # None, an object, a lone surrogate, a list that holds itself: no TOML file holds it
        check_writable(key, value, f"{where}: overrides:")
    return pairs


@_api
def load_experiment(path: str | Path, overrides: Overrides = None) -> Config:
    """Read and validate an experiment file with ``overrides`` applied (as ``--set`` would: in order, a
    table's value replacing the whole table, so ``{"train": {"lr": 0.1}}`` leaves every other ``[train]`` key
    at its default where ``{"train.lr": 0.1}`` changes the one key). ``overrides`` is not changed. The node
    names of ``placement.map`` and ``replicas.nodes`` are checked too, and what the plan stage refuses of the
    executor before any data is read (``train.staleness_nodes``, ``executor.numerics``, ...), as a sweep checks its
    points (the hardware file is not read: its chip count is checked when the experiment is planned)."""
    path = _path("load_experiment", "path", path)
    cfg = load_config(path, _overrides(overrides), "load_experiment: overrides:")
    with blaming(cfg):
        planning.check_executor(cfg)
        check_names(cfg)
    return _anchored(cfg)


def _anchored(cfg: Config) -> Config:
    """``cfg`` with the files it names as the working folder has them now (the experiment file, a hardware
    file, word vectors), so that it means the same after ``os.chdir``: a notebook that changed folder found
    "hardware_models/ring4.toml: no such file" (a run's config.toml already names them so)."""
    def here(name: str) -> str:  # (joined, not normalized: "link/../x" means what the file system says)
        return os.path.join(os.getcwd(), name) if name and not os.path.isabs(name) and os.path.exists(name) else name

    executor = cfg.executor
    if not executor.hardware_sha256:  # pinned, the file is whichever place holds those bytes (hardware.source)
        executor = replace(executor, hardware=here(executor.hardware))
    model = cfg.model
    if isinstance(getattr(model, "vectors", None), str):
        model = replace(model, vectors=here(model.vectors))
    return marked_read(replace(cfg, path=os.path.join(os.getcwd(), cfg.path), executor=executor, model=model))


@_api
def train(experiment: Config | str | Path, out: str | Path | None = None, *, overrides: Overrides = None,
          progress: bool = False) -> Run:
    """Train an experiment (a loaded :class:`Config` or a file) with its executor; return the :class:`Run`.

    ``out`` is the run folder (config.toml, metrics.csv, summary.json, …); without it nothing is kept on
    disk (with ``executor.trace``, a warning: the trace is not kept either). ``progress`` reports on stderr:
    a bar on a terminal, a line per epoch elsewhere.
    """
    from ampsim.executors.multicore.procs import check_not_rerun

    check_not_rerun()  # (first: a spawned worker running an unguarded script's run again found its folder locked)
    if isinstance(experiment, Plan):
        raise ConfigError("train: experiment: expected a Config or an experiment file, got a Plan (train its "
                          "config: ampsim.train(plan.config))")
    if not isinstance(experiment, Config):
        experiment = _path("train", "experiment", experiment, expected=f"a Config or {_PATH}")
    out = None if out is None else _path("train", "out", out, folder=True)
    pairs = _overrides(overrides, "train")
    progress = _flag("train", "progress", progress)
    if isinstance(experiment, Config) and pairs:
        raise ConfigError("train: overrides: apply to an experiment file, not a loaded Config (use "
                          "load_experiment(path, overrides) instead)")
    cfg = checked(experiment) if isinstance(experiment, Config) else _anchored(
        load_config(experiment, pairs, "train: overrides:"))
    import numpy as np  # (here: ``import ampsim`` loads no numpy)

    # as on the command line: a diverging run overflows long before its loss check stops it in one line, and
    # numpy's warnings would only come before that line (in this call only, where the caller left numpy at its
    # default "warn"; logging at DEBUG, as with -vv, shows them)
    quiet = {} if log.isEnabledFor(logging.DEBUG) else {
        k: "ignore" for k, v in np.geterr().items() if k in ("over", "invalid", "divide") and v == "warn"}
    with np.errstate(**quiet):
        if out is not None:
            folder = Path(out).absolute()  # (the run's path means the same after os.chdir, as its config's do)
            train_experiment(cfg, out, progress=progress)
            try:
                return _read_run(cfg, folder, keep=True)
            except KeyboardInterrupt as e:  # (reading it back imports pandas: a third of a second)
                e.add_note(finished_note(out))  # as RunDir says after its commit
                raise
        if cfg.executor.trace and cfg.executor.kind != "reference":  # (made and thrown away, silently; the reference
            # executor writes none, which the plan stage says)
            log.warning("train: executor.trace without out: the trace goes with the run's other files; give out to "
                        "keep them")
        with tempfile.TemporaryDirectory(prefix="ampsim-run-") as tmp:
            train_experiment(cfg, tmp, progress=progress, keep_partial=False)  # nothing is kept on failure either
            return _read_run(cfg, Path(tmp), keep=False)


def _read_run(cfg: Config, path: Path, *, keep: bool) -> Run:
    return Run(cfg, read_metrics(path, none_ran=True), read_summary(path), path if keep else None)


@_api
def read_run(path: str | Path) -> Run:
    """The finished run in folder ``path`` (:func:`train`'s ``out``, ``ampsim train --out``, a sweep's point) as the
    :class:`Run` that :func:`train` returns: its config as its ``config.toml`` holds it (the hardware file pinned to its
    bytes), its metrics and summary, checked as written and against each other; anything else is one DataError line.

    >>> run = read_run("results/mnist_mlp")         # (ampsim.read_run; from the repository root)
    >>> len(run.metrics) == run.summary["epochs"], run.config.experiment.name
    (True, 'mnist_mlp')
    """
    folder = Path(text := _path("read_run", "path", path, folder=True)).absolute()  # (as train's Run.path)
    if not os.path.isdir(folder):
        raise DataError(f"{text}: is a file, not a folder" if os.path.exists(folder) else f"{text}: no such folder")
    if os.path.isfile(folder / SWEEP_INFO):  # (its points are run folders; its table is a row per point)
        raise DataError(f"{text}: is a sweep's folder, not a run's: its {TABLE} holds a row per point, and each of "
                        "its point folders is a run read_run reads")
    if not holds_finished_run(folder):
        held = what_it_holds(entries_of(folder)) if os.access(folder, os.R_OK | os.X_OK) else "what cannot be listed"
        raise DataError(f"{text}: holds no finished run ({f'it holds {held}' if held else 'it is empty'}); a run's "
                        f"folder holds its {CONFIG}, {METRICS} and {SUMMARY}, the last written as it finishes")
    run = _read_run(load_experiment(folder / CONFIG), folder, keep=True)
    check_config_of_run(folder, run.config, run.summary)  # (a config.toml cut at a line's end: another run's)
    return run


@_api
def sweep(sweep_file: str | Path, out: str | Path | None = None, *, quick: bool = False, jobs: int | None = None,
          ray: bool = False, ray_address: str | None = None, fresh: bool = False,
          progress: bool = False) -> pd.DataFrame:
    """Run a sweep file's unfinished points (resuming what an earlier run left) and return its table, one
    row per point. ``out`` defaults to ``results/sweeps/<name>`` (``results/quick/sweeps/<name>`` with
    ``quick``)."""
    from ampsim.executors.multicore.procs import check_not_rerun

    check_not_rerun()  # (first: a worker spawned would run the caller's unguarded script's sweep again)
    sweep_file = _path("sweep", "sweep_file", sweep_file)
    out = None if out is None else _path("sweep", "out", out, folder=True)
    quick, ray, fresh, progress = (_flag("sweep", name, v) for name, v in
                                   (("quick", quick), ("ray", ray), ("fresh", fresh), ("progress", progress)))
    if jobs is not None:  # as the CLI's --jobs
        if not isinstance(jobs, numbers.Integral) or isinstance(jobs, bool):
            raise ConfigError(f"sweep: jobs: expected a whole number >= 1 or None, got {_got(jobs)}")
        if jobs < 1:
            raise ConfigError(f"sweep: jobs: must be >= 1, got {jobs}")
        jobs = int(jobs)
    if ray_address is not None:
        if not isinstance(ray_address, str):
            raise ConfigError(f"sweep: ray_address: expected a Ray cluster address (str) or None, got "
                              f"{_got(ray_address)}")
        if ray_address and not ray:  # it would be ignored: the points would run in local processes
            raise ConfigError(f"sweep: ray_address: {ray_address!r} given without ray=True")

    from ampsim.sweeps.run import run_sweep
    from ampsim.sweeps.spec import load_sweep

    spec = load_sweep(sweep_file, quick=quick)
    folder = Path(out) if out is not None else spec.default_dir
    return read_table(run_sweep(spec, folder, jobs=jobs, ray=ray, ray_address=ray_address, fresh=fresh,
                                progress=progress))


@_api
def plan(cfg: Config, *, system: SystemSpec | None = None, placement: Mapping[str, int] | None = None,
         estimated: Sequence[Mapping] | None = None) -> Plan:
    """:func:`ampsim.planning.plan` (the experiment resolved once: task, hardware, placement, estimated
    load) for a loaded :class:`Config`; anything else is one ConfigError line, and so is a ``system`` or a
    ``placement`` for the reference executor, which has neither, and a ``system`` for a config with ``[hardware]``
    overrides, which it would not apply."""
    if not isinstance(cfg, Config):
        hint = " (load it first: ampsim.load_experiment(path))" if isinstance(cfg, (str, os.PathLike)) else ""
        raise ConfigError(f"plan: cfg: expected a Config (from ampsim.load_experiment), got {_got(cfg)}{hint}")
    if system is not None and not isinstance(system, SystemSpec):
        hint = " (load it: ampsim.hardware.parse.load_system(path))" if isinstance(system, (str, os.PathLike)) else ""
        raise ConfigError(f"plan: system: expected a SystemSpec or None, got {_got(system)}{hint}")
    if placement is not None and not (isinstance(placement, Mapping) and all(
            isinstance(k, str) and isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for k, v in placement.items())):
        raise ConfigError(f"plan: placement: expected a dict of node name -> chip (int) or None, got "
                          f"{_got(placement)}")
    if estimated is not None and not (isinstance(estimated, (list, tuple))  # (a plan's own: a tuple of mappings)
                                      and all(isinstance(e, Mapping) for e in estimated)):
        raise ConfigError(f"plan: estimated: expected a list of dicts (a placement's estimated load) or None, got "
                          f"{_got(estimated)}")
    cfg = checked(cfg)
    given = [name for name, v in (("system", system), ("placement", placement)) if v is not None]
    if given and cfg.executor.kind == "reference":  # (it was dropped without a word, a bad node name and all)
        raise ConfigError(f"plan: {given[0]}: the reference executor runs on no machine and places nothing (set "
                          "executor.kind to \"sim\" or \"multicore\" in the config)")
    if system is not None and cfg.hardware:  # (its overrides were dropped without a word: the machine given ran)
        from ampsim.sweeps.places import flatten

        keys = ", ".join(flatten(cfg.hardware, "hardware."))
        raise ConfigError(f"plan: system: the config has hardware overrides ({keys}) that a machine given whole "
                          "would ignore: apply them to it (ampsim.hardware.parse.load_system(path, overrides)) and "
                          "drop them from the config, or plan without system")
    if system is not None:
        check_system(system, "plan: system")
    if placement is not None:
        placement = {name: int(chip) for name, chip in as_toml(placement).items()}  # (numpy integers, enums: ints)
    if estimated is not None:  # the plan's own: the caller's list, changed after it was checked, changed the plan
        estimated = [dict(entry) for entry in estimated]  # (planning.frozen_load copies the node lists)
    return planning.plan(cfg, system=system, placement=placement, estimated=estimated)


#: the models an executor was made of (by id, while they live): a plan's task holds the model its executor
#: trains (the model, not the plan or the task: copies of those share it)
_USED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


@_api
def make_executor(plan: Plan) -> Executor:
    """The executor a :class:`Plan` names (a context manager); anything else is one ConfigError line. One
    executor per plan: the plan's task holds the model (parameters, optimizer state) its executor trains, so
    a second executor of it would go on from the first's training; plan again for a fresh start."""
    if not isinstance(plan, Plan):
        hint = " (plan it first: ampsim.make_executor(ampsim.plan(cfg)))" if isinstance(plan, Config) else ""
        raise ConfigError(f"make_executor: plan: expected a Plan (from ampsim.plan), got {_got(plan)}{hint}")
    if _USED.get(id(plan.task.model)) is plan.task.model:
        raise ConfigError("make_executor: plan: already has an executor, whose training its model holds (a second "
                          "would go on from there); plan again for a fresh start: ampsim.plan(cfg)")
    executor = _make_executor(plan)
    _USED[id(plan.task.model)] = plan.task.model
    return executor
