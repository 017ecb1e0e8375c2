"""The training driver: epochs, evaluation and the run folder, for any executor.

The driver is executor-agnostic: it asks the plan's task for each epoch's instances, hands them to the
executor, evaluates, and appends one metrics row per epoch. :func:`train_experiment` is one experiment
end to end: config → plan → executor → training → run folder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ampsim.config import Config, dump_toml
from ampsim.executors import Executor, make_executor
from ampsim.metrics import mean_loss, metric_value, staleness_stats, time_to_target
from ampsim.models.base import Task
from ampsim.planning import Plan, plan
from ampsim.progress import Progress
from ampsim.progress import progress as progress_reporter
from ampsim.results import RunDir

log = logging.getLogger(__name__)


def train_experiment(cfg: Config, out: str | Path, *, progress: bool = False) -> dict:
    """Plan ``cfg``, build its executor, train, write the run folder ``out``; return the summary.

    ``progress``: report progress on stderr (a bar on a terminal, one line per epoch elsewhere)."""
    p = plan(cfg)
    bar = _progress(p, enabled=progress)
    try:
        with make_executor(p) as executor:
            return run_training(p, executor, RunDir(out), progress=bar)
    finally:
        bar.close()


def _progress(p: Plan, *, enabled: bool) -> Progress:
    per_epoch = p.task.info.get("instances_per_epoch")
    if p.config.train.max_instances and per_epoch:
        per_epoch = min(per_epoch, p.config.train.max_instances)
    total = per_epoch * p.config.train.epochs if per_epoch else None
    return progress_reporter(p.config.experiment.name, total, unit="inst", enabled=enabled)


def run_training(plan: Plan, executor: Executor, run: RunDir, progress: Progress | None = None) -> dict:
    """Train for ``train.epochs`` epochs; write config, metrics rows and summary into ``run``.
    ``progress`` is told of every completed instance and of every epoch."""
    cfg, task = plan.config, plan.task
    run.write_config(dump_toml(cfg.to_dict()))
    metric = task.model.metric
    eval_set = list(task.eval_instances())
    if cfg.eval.limit:
        eval_set = eval_set[: cfg.eval.limit]
    rows: list[dict] = []
    wall: list[dict] = []
    simulated = executor.time_unit == "simulated"
    instances = 0
    wall0 = time.perf_counter()
    for epoch in range(1, cfg.train.epochs + 1):
        batch = list(task.train_instances(epoch))
        if cfg.train.max_instances:
            batch = batch[: cfg.train.max_instances]
        reports = executor.train(batch, on_done=progress.update if progress else None)
        instances += len(batch)
        row = {"epoch": epoch, "instances": instances, "time_s": executor.time_s,
               "wall_s": time.perf_counter() - wall0, "train_loss": mean_loss(reports), metric.name: None}
        if simulated:  # simulated results must repeat bit for bit: wall-clock goes to timing.json only
            wall.append({"epoch": epoch, "wall_s": row.pop("wall_s")})
        if epoch % cfg.eval.every_epochs == 0 or epoch == cfg.train.epochs:
            row[metric.name] = metric_value(executor.evaluate(eval_set), metric)
        run.append_metrics(row)
        rows.append(row)
        log.info("epoch %d: %s", epoch, row)
        if progress:
            progress.milestone(f"epoch {epoch}/{cfg.train.epochs}, loss {row['train_loss']:.4g}"
                               + (f", {metric.name} {row[metric.name]:.4g}" if row[metric.name] is not None else ""))
    if simulated:
        run.write_json("timing.json", {"wall_s_per_epoch": wall})
    return summarize(cfg, task, executor, rows, run)


def summarize(cfg: Config, task: Task, executor: Executor, rows: list[dict], run: RunDir) -> dict:
    metric = task.model.metric
    scored = [r[metric.name] for r in rows if r[metric.name] is not None]
    pick = max if metric.higher_is_better else min
    last = rows[-1] if rows else {}
    summary = {
        "experiment": cfg.experiment.name,
        "task": cfg.experiment.task,
        "executor": executor.name,
        "time_unit": executor.time_unit,
        "metric": metric.name,
        "final_metric": scored[-1] if scored else None,
        "best_metric": pick(scored) if scored else None,
        "epochs": len(rows),
        "instances": last.get("instances", 0),
        "time_s": last.get("time_s", 0.0),
        "throughput_instances_per_s": (last["instances"] / last["time_s"]) if last.get("time_s") else None,
        "target": cfg.train.target or None,
        "time_to_target": (time_to_target(rows, metric.name, cfg.train.target, metric.higher_is_better)
                           if cfg.train.target else None),
        "staleness": {n.name: staleness_stats(n.staleness) for n in task.model.graph.param_nodes},
        "task_info": task.info,
        **executor.summary(),
    }
    if "wall_s" in last:
        summary["wall_s"] = last["wall_s"]
    run.write_summary(summary)
    executor.write_artifacts(run)
    return summary
