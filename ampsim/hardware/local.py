"""This machine as hardware: how many cores this process may use, and where its calibrated model lives.

``ampsim calibrate`` writes a measured model of this machine to :data:`LOCAL_MODEL`; the multicore
executor places nodes over pseudo-chips taken from it, and ``ampsim compare`` simulates with it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LOCAL_MODEL", "local_model_path", "default_workers"]

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
