"""``train.muf`` against the instances a run has: a parameterized node updates once ``muf`` instances have completed
since its last update, counted across epochs (a partial group carries over), so a muf above the run's instances
never updates, nor one above what each copy of a replicated node sees (1 in groups x its copies).

Checked where the instances are first known: the plan, before any copy is made (65,536 replica groups of a run of
four instances were made, 41 s and a gigabyte, before this check refused them); the training driver, which warns of
a muf above an epoch's instances too; a sweep's ``--check``, before any point runs.
"""

from __future__ import annotations

import logging
from typing import Iterable

from ampsim.blame import blamed, override_of
from ampsim.config import Config
from ampsim.errors import ConfigError
from ampsim.models.base import Task

__all__ = ["check_muf", "copies_share", "instances_per_epoch"]

log = logging.getLogger(__name__)


def instances_per_epoch(cfg: Config, task: Task) -> int | None:
    """Training instances of one epoch (the task's, cut to ``train.max_instances``); None if the task
    does not say."""
    per_epoch = task.info.get("instances_per_epoch")
    if per_epoch and cfg.train.max_instances:
        per_epoch = min(per_epoch, cfg.train.max_instances)
    return per_epoch or None


def copies_share(copies: Iterable[int], groups: int) -> int:
    """The share of the instances the busiest copy of a parameterized node sees, 1 in this many: ``groups`` x the
    most copies in a group (``copies``: each parameterized node's, in one group); 1 for no such node.

    >>> copies_share([1, 3, 2], 2), copies_share([], 4)
    (6, 1)
    """
    return max((groups * c for c in copies), default=1)


def check_muf(cfg: Config, per_epoch: int, share: int = 1, *, warn: bool = True) -> None:
    """Refuse a ``train.muf`` above the instances of the run (``per_epoch`` training instances an epoch, after
    ``train.max_instances``), or above those each copy of a parameterized node sees (1 in ``share``: see
    :func:`copies_share`); with ``warn``, warn of one above an epoch's. A muf an override set is named by it
    (``--set train.muf``), not by the file."""
    t = cfg.train
    total = per_epoch * t.epochs
    if share > 1 and t.muf > total // share:
        # (a copy that sees no instance at all: "use at most 0" asked for a muf that does not exist)
        fix = (f"use at most {total // share}" if total >= share else
               f"give at most {total} copies in all (replicas.groups x copies in a group), or the run more instances")
        raise blamed(ConfigError(f"{cfg.path}: train.muf: {t.muf} is more than the {total // share} instances a "
                                 f"copy of a parameterized node sees (1 in {share} of the run's {total}): its "
                                 f"parameters would never update; {fix}"), cfg)
    if t.muf > total:
        raise blamed(ConfigError(f"{cfg.path}: train.muf: {t.muf} is more than the {total} instances of the whole "
                                 f"run ({t.epochs} epoch(s) of {per_epoch}): parameters would never update; use at "
                                 f"most {per_epoch}"), cfg)
    if warn and t.muf > per_epoch:  # (named as the errors above are: the --set that gave it, else the file's key)
        log.warning("%s = %d is more than the %d instances of an epoch: parameters update only about once every "
                    "%.3g epochs (completed instances carry over to the next epoch)",
                    override_of(cfg, "train.muf") or f"{cfg.path}: train.muf", t.muf, per_epoch, t.muf / per_epoch)
