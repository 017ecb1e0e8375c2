"""This machine as hardware: how many cores this process may use, and where its calibrated model lives.

``ampsim calibrate`` writes a measured model of this machine to :data:`LOCAL_MODEL`; the multicore
executor places nodes over pseudo-chips taken from it, and ``ampsim compare`` simulates with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ampsim.errors import ConfigError

__all__ = ["LOCAL_MODEL", "local_model_path", "default_workers", "check_workers"]

#: where ``ampsim calibrate`` writes by default (relative to the working directory)
LOCAL_MODEL = Path("hardware_models") / "local_cpu.toml"


def local_model_path() -> Path | None:
    """The calibrated model of this machine: in the working directory, else next to the package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / LOCAL_MODEL).is_file():
            return base / LOCAL_MODEL
    return None


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_workers(workers: int | None, most: int | None = None, why: str = "") -> None:
    """Refuse, in one line naming the option ``--workers`` (``train``, ``compare`` and ``calibrate`` take it alike), a
    worker count below 0 or above ``most`` (``why``: what bounds it). 0 means one per core, as ``executor.workers = 0``
    does; None, not given.

    >>> check_workers(0)
    >>> check_workers(-2)
    Traceback (most recent call last):
    ampsim.errors.ConfigError: --workers: must be 0 (one per core) or more, got -2
    """
    if workers is None or (workers >= 0 and (most is None or workers <= most)):
        return
    bound = "0 (one per core) or more" if most is None else f"from 0 (one per core) to {most}{why}"
    raise ConfigError(f"--workers: must be {bound}, got {workers}")
