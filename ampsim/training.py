"""The training driver: epochs, evaluation and the run folder, for any executor.

The driver is executor-agnostic: it asks the plan's task for each epoch's instances, hands them to the
executor, evaluates, and appends one metrics row per epoch. :func:`train_experiment` is one experiment
end to end: config → plan → executor → training → run folder.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path

from ampsim import runfiles
from ampsim.config import Config
from ampsim.divergence import parameter_evidence
from ampsim.errors import Diverged, Outcome
from ampsim.executors import Executor, executor_class, make_executor
from ampsim.folders import check_not_in_staging
from ampsim.gcpause import gc_paused
from ampsim.hardware.canonical import canonical_overrides
from ampsim.hardware.source import hardware_name, pinned_hardware
from ampsim.hardware.spec import SystemSpec
from ampsim.ir.hostmem import sizing
from ampsim.metrics import mean_loss, metric_value, staleness_report, staleness_stats, time_to_target
from ampsim.models import skeleton
from ampsim.models.base import Task
from ampsim.muf import check_muf, copies_share, instances_per_epoch
from ampsim.planning import Plan, plan, resolve_system
from ampsim.progress import Progress
from ampsim.progress import progress as progress_reporter
from ampsim.replicas import Replicated
from ampsim.results import RunDir, check_run_folder
from ampsim.tomltext import dump_toml

__all__ = ["portable_config", "run_training", "train_experiment"]

log = logging.getLogger(__name__)


def train_experiment(cfg: Config, out: str | Path, *, progress: bool = False, keep_partial: bool = True,
                     record_outcome: bool = False) -> dict:
    """Plan ``cfg``, build its executor, train, write the run folder ``out``; return the summary.

    ``out`` is checked before anything is planned (a bad folder fails in one line at once). The run is
    written beside ``out`` and swapped in whole when complete (see :class:`~ampsim.results.RunDir`): a run
    that fails or is interrupted leaves ``out`` as it was, and keeps what it wrote in ``<out>.partial``
    (unless ``keep_partial`` is false, or no epoch finished), saying so in a note on the exception.
    ``progress``: report progress on stderr (a bar on a terminal, one line per epoch elsewhere).
    ``record_outcome``: a run that diverges or runs out of chip memory, also a model larger than a chip's memory
    before it trains (a node the placement finds no room for; parameters an explicit placement overfills a chip
    with), is a finished run saying so (see :func:`run_training`)."""
    check_run_folder(out)
    # (here, not in check_run_folder: a compare's own runs are written into its staging folder through RunDir)
    check_not_in_staging(out)
    try:
        p = plan(cfg)
    except Outcome as e:  # (a node whose parameters fit on no chip: the placement refuses it)
        if not record_outcome:
            raise
        system = resolve_system(cfg) if cfg.executor.kind == "sim" else None  # (the machine plan() had resolved)
        with RunDir(out, keep_partial=keep_partial) as run:
            _write_config(cfg, run)
            return _stopped(cfg, None, executor_class(cfg.executor.kind), [], run, e, system)
    _check_muf(cfg, p.task, p.replicas, warn=False)  # (before the run folder; run_training checks again and warns)
    bar = _progress(p, enabled=progress)
    try:
        # a finished run is committed as its summary is written, then the executor closes (its workers stop):
        # an interrupt meanwhile leaves the run in place, and says so; a failed one is abandoned after the close
        with RunDir(out, keep_partial=keep_partial) as run:
            try:
                executor = make_executor(p)
            except Outcome as e:  # (a model larger than a chip's memory: the executor refuses it, untrained)
                if not record_outcome:
                    raise
                _write_config(cfg, run, p.workers)
                return _stopped(cfg, p.task, executor_class(p.executor), [], run, e, p.system)
            with executor:
                return run_training(p, executor, run, progress=bar, record_outcome=record_outcome)
    finally:
        bar.close()


def _progress(p: Plan, *, enabled: bool) -> Progress:
    per_epoch = instances_per_epoch(p.config, p.task)
    total = per_epoch * p.config.train.epochs if per_epoch else None
    return progress_reporter(p.config.experiment.name, total, unit="inst", enabled=enabled)


def run_training(plan: Plan, executor: Executor, run: RunDir, progress: Progress | None = None, *,
                 record_outcome: bool = False) -> dict:
    """Train for ``train.epochs`` epochs; write config, metrics rows and summary into ``run``.
    ``progress`` is told of every completed instance and of every epoch. A run that diverges raises
    :class:`~ampsim.errors.Diverged`, one whose chip runs out of memory :class:`~ampsim.errors.OutOfMemory`;
    with ``record_outcome`` (a sweep's points: the same config stops the same way again, so it is an outcome to
    tabulate, not a fault to retry) it is complete instead, its summary saying why under the
    :class:`~ampsim.errors.Outcome`'s field (``diverged``: the error's line; ``out_of_memory``: the chip, the
    simulated time, the bytes against its memory, the line) after the epochs that finished, with no metric.

    Refuses (:class:`ConfigError`) a ``train.muf`` larger than the instances of the whole run (parameters
    would never update), and warns when it is larger than an epoch's, or when the first epoch's wall
    time projects the run past :data:`LONG_RUN_S`. The ``config.toml`` written is
    :func:`portable_config`: it trains again, to the same result, from any working directory."""
    cfg, task = plan.config, plan.task
    _check_muf(cfg, task, plan.replicas)
    _write_config(cfg, run, plan.workers)
    metric = task.model.metric
    eval_set = list(task.eval_instances())
    if cfg.eval.limit:
        eval_set = eval_set[: cfg.eval.limit]
    rows: list[dict] = []
    wall: list[dict] = []
    simulated = executor.time_unit == "simulated"
    instances = 0
    wall0 = time.perf_counter()
    stage = "before training"
    try:  # (a divergence or a chip out of memory in training or in evaluation: the epochs before it are the run's)
        for epoch in range(1, cfg.train.epochs + 1):
            stage = f"epoch {epoch}, training"
            batch = list(task.train_instances(epoch))
            if cfg.train.max_instances:
                batch = batch[: cfg.train.max_instances]
            # (a silent progress is not told: the replay's compiled loop stops for every hundredth instance it is
            # to count, ~100 hand-backs a run, which a sweep's points, run without progress, would pay for nothing)
            counting = progress is not None and getattr(progress, "counts", True)
            reports = executor.train(batch, on_done=progress.update if counting else None)
            instances += len(batch)
            # (in runfiles.METRICS_COLUMNS' order, the header read_metrics gives a run that trained no epoch)
            values = (epoch, instances, executor.time_s, time.perf_counter() - wall0, mean_loss(reports))
            row = {**dict(zip(runfiles.METRICS_COLUMNS, values, strict=True)), metric.name: None}
            if simulated:  # simulated results must repeat bit for bit: wall-clock goes to timing.json only
                wall.append({"epoch": epoch, "wall_s": row.pop("wall_s")})
            if epoch % cfg.eval.every_epochs == 0 or epoch == cfg.train.epochs:
                stage = f"epoch {epoch}, evaluation"
                row[metric.name] = metric_value(executor.evaluate(eval_set), metric)
                # (an evaluation that advances simulated time: the metric is known after it, and the next
                # epoch starts after it; before, the row's time left it out and the next row took it in)
                row["time_s"] = executor.time_s
            run.append_metrics(row)
            rows.append(row)
            log.info("epoch %d: %s", epoch, row)
            if epoch == 1 and cfg.train.epochs > 1:
                _warn_if_long(cfg, time.perf_counter() - wall0)
            if progress:
                scored = f", {metric.name} {_shown(row[metric.name])}" if row[metric.name] is not None else ""
                progress.milestone(f"epoch {epoch}/{cfg.train.epochs}, loss {_shown(row['train_loss'])}{scored}")
    except Outcome as e:
        if isinstance(e, Diverged):  # (an instance's key alone does not say when: keys run on across epochs)
            line = f"{e} ({stage})"
            if getattr(executor, "holds_parameters", False):
                line += f"; {parameter_evidence(task.model.graph.nodes.values())}"
            e.args = (line, *e.args[1:])
        if not record_outcome:
            raise
        return _stopped(cfg, task, executor, rows, run, e, plan.system)
    if simulated:
        run.write_json(runfiles.TIMING, {"wall_s_per_epoch": wall})
    return summarize(cfg, task, executor, rows, run)


def _write_config(cfg: Config, run: RunDir, workers: int = 0) -> None:
    """The run's ``config.toml`` (:func:`portable_config`, with the ``workers`` it had: the plan's) and its hardware
    file's copy."""
    pinned = pinned_hardware(cfg)  # the machine's file as the run read it: pinned in its config, copied beside it
    written = _portable(cfg, pinned)
    if workers and not cfg.executor.workers:  # "one per core" resolved: the workers this run had
        written["executor"]["workers"] = workers
    run.write_config(dump_toml(written))
    if pinned is not None:
        run.write_bytes(runfiles.HARDWARE_COPY, pinned[1])


def _stopped(cfg: Config, task: Task | None, executor: Executor | type, rows: list[dict], run: RunDir,
             e: Outcome, system: SystemSpec | None) -> dict:
    """Complete ``run`` as one that stopped with the outcome ``e`` after the epochs ``rows``: its summary, no metric.
    ``system``: the simulated machine (None on the other executors), which the summary names as a finished run's
    executor does (:func:`_machine_fields`)."""
    summary = {**_outcome(cfg, task, executor, rows), **_machine_fields(cfg, system), e.field: e.record()}
    run.write_summary(summary)
    run.commit()
    return summary


def portable_config(cfg: Config) -> dict[str, dict]:
    """``cfg.to_dict()`` with the files it names as absolute paths, so the run's ``config.toml`` trains
    again from any working directory: ``executor.hardware`` found as the plan stage finds it (as given,
    else relative to the experiment file; its bytes pinned by ``executor.hardware_sha256``, see
    :mod:`ampsim.hardware.source`) and ``model.vectors`` as the task reads it (as given). A path
    that names no file is written as it is (the re-run then fails on it as this run would have). The
    ``[hardware]`` overrides say the values the model read (:func:`~ampsim.hardware.canonical.canonical_overrides`:
    ``memory_bytes = 1000000000``, given as ``1e9``), as a point's id counts them."""
    return _portable(cfg, pinned_hardware(cfg))


def _portable(cfg: Config, pinned: tuple[Path, bytes] | None) -> dict[str, dict]:
    """:func:`portable_config` with the hardware file and its bytes already read (``pinned``)."""
    d = cfg.to_dict()
    if "hardware" in d:  # (a resolved config says what the machine had, not how the command line spelled it)
        d["hardware"] = canonical_overrides(d["hardware"])
    if pinned is not None:
        d["executor"]["hardware"] = hardware_name(cfg, pinned[0])
        d["executor"]["hardware_sha256"] = hashlib.sha256(pinned[1]).hexdigest()
    vectors = d.get("model", {}).get("vectors")
    if isinstance(vectors, str) and vectors and Path(vectors).is_file():
        d["model"]["vectors"] = str(Path(vectors).resolve())
    return d


def _check_muf(cfg: Config, task: Task, replicas: Replicated | None = None, *, warn: bool = True) -> None:
    """A parameter node updates once ``train.muf`` instances have completed since its last update, counted
    across epochs (a partial group carries over): a muf above the run's instances never updates, nor one above
    what each copy of a replicated node sees (1 in groups x its copies: those trained nothing, exit 0)."""
    per_epoch = instances_per_epoch(cfg, task)
    if not per_epoch:
        return
    share = 1 if replicas is None else copies_share(
        (len(replicas.copies[n.name][0]) for n in replicas.logical.graph.param_nodes), replicas.spec.groups)
    check_muf(cfg, per_epoch, share, warn=warn)


def _shown(value: float) -> str:
    """A loss or metric for the progress line: nan there is a replay's "not measured" (a loss that diverged
    stopped the run before), shown as the summary line shows it, not as a loss gone to nan."""
    return "n/a" if math.isnan(value) else f"{value:.4g}"


#: a run projected to take longer than this (wall-clock seconds) after its first epoch gets a warning
LONG_RUN_S = 24 * 3600.0


def _warn_if_long(cfg: Config, first_epoch_s: float) -> None:
    projected = first_epoch_s * cfg.train.epochs
    if projected > LONG_RUN_S:
        log.warning("%s: the first epoch took %.3g s: train.epochs = %d will take about %.3g hours",
                    cfg.path, first_epoch_s, cfg.train.epochs, projected / 3600)


def _outcome(cfg: Config, task: Task | None, executor: Executor | type, rows: list[dict]) -> dict:
    """What every summary says, a stopped run's too (diverged, out of memory): the experiment, the executor, how
    far it trained and how fast (``final_metric`` and ``best_metric`` None: :func:`summarize` scores a finished run)."""
    last = rows[-1] if rows else {}
    metric = task.model.metric.name if task is not None else None
    if task is None:  # a plan the placement refused: the model built from the config alone names its metric,
        with sizing():  # sized, not drawn again (its widths are the run's)
            metric = skeleton(cfg).metric.name
    return {"experiment": cfg.experiment.name, "task": cfg.experiment.task, "executor": executor.name,
            "time_unit": executor.time_unit,
            "metric": metric,
            "final_metric": None, "best_metric": None, "epochs": len(rows), "instances": last.get("instances", 0),
            "time_s": last.get("time_s"),  # (None before an epoch has ended: a run that diverged in its first)
            "throughput_instances_per_s": (last["instances"] / last["time_s"]) if last.get("time_s") else None,
            "target": cfg.train.target or None, "time_to_target": None}


def _machine_fields(cfg: Config, system: SystemSpec | None) -> dict:
    """What a simulated run's summary says of the run beside its numbers, from its executor's summary
    (:meth:`ampsim.executors.sim.executor.SimExecutor.summary`): the machine (``hardware``, ``n_chips``) and, for a
    replay, ``numerics`` false. A stopped run (out of memory, diverged) has no executor's summary to merge, and its
    table row left the machine's columns blank beside the finished points' of the same sweep; None: no machine."""
    if system is None:
        return {}
    replay = {} if cfg.executor.numerics else {"numerics": False}
    return {"hardware": system.name, "n_chips": system.n_chips, **replay}


def summarize(cfg: Config, task: Task, executor: Executor, rows: list[dict], run: RunDir) -> dict:
    metric = task.model.metric
    scored = [r[metric.name] for r in rows if r[metric.name] is not None]
    pick = max if metric.higher_is_better else min
    summary = {
        **_outcome(cfg, task, executor, rows),
        "final_metric": scored[-1] if scored else None,
        "best_metric": pick(scored) if scored else None,
        "time_to_target": (time_to_target(rows, metric.name, cfg.train.target, metric.higher_is_better)
                           if cfg.train.target else None),
        "staleness": {n.name: staleness_stats(n.staleness) for n in task.model.graph.param_nodes},
        "task_info": task.info,
        **executor.summary(),
    }
    last = rows[-1] if rows else {}
    if "wall_s" in last:
        summary["wall_s"] = last["wall_s"]
    with gc_paused():  # a big machine's per-chip results: the collector's full passes took a third or more (gcpause)
        run.write_summary(summary)
        # per-update staleness and stash memory: beside the summary (whose bytes committed runs pin down)
        run.write_json(runfiles.STALENESS, staleness_report(task.model.graph.param_nodes,
                                                          measured=summary.get("numerics", True)))
        executor.write_artifacts(run)
    run.commit()  # complete: swap it in whole (the earlier run, if any, is replaced in one step)
    return summary
