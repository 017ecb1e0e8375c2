"""One experiment end to end: config → task → executor → training → run folder."""

from __future__ import annotations

from pathlib import Path

from ampsim.config import Config
from ampsim.executors import make_executor
from ampsim.models import build_task
from ampsim.results import RunDir
from ampsim.training import configure_params, run_training


def train_experiment(cfg: Config, out: str | Path, *, progress: bool = False) -> dict:
    task = build_task(cfg)
    configure_params(cfg, task)
    executor = make_executor(cfg, task)
    run = RunDir(out)
    bar = None
    try:
        if progress:
            from tqdm import tqdm

            per_epoch = task.info.get("instances_per_epoch")
            if cfg.train.max_instances and per_epoch:
                per_epoch = min(per_epoch, cfg.train.max_instances)
            bar = tqdm(total=per_epoch * cfg.train.epochs if per_epoch else None, unit="inst",
                       desc=cfg.experiment.name, leave=False)
        return run_training(cfg, task, executor, run, progress=bar.update if bar else None,
                            on_epoch=(lambda row: bar.set_postfix(epoch=row["epoch"], loss=f"{row['train_loss']:.3f}"))
                            if bar else None)
    finally:
        if bar:
            bar.close()
        close = getattr(executor, "close", None)
        if close:
            close()
