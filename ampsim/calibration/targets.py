"""Where ``ampsim calibrate`` writes, checked before it measures: the model ``--out`` and its sidecar
(``<model>.calibration.json``, the raw measurements ``ampsim compare`` reads), each only over a file
calibrate wrote itself (:func:`check_targets`), and the worker counts a model can have (:data:`MAX_WORKERS`).
"""

from __future__ import annotations

import glob
import math
import os
import stat
from pathlib import Path

from ampsim.errors import AmpsimError, ConfigError
from ampsim.files import check_output_file, read_json, read_toml
from ampsim.hardware.spec import MAX_CHIPS, MAX_LINKS

#: the most workers a model of this machine can have (its chips fully connected: n (n - 1) / 2 links)
MAX_WORKERS = min(MAX_CHIPS, (1 + math.isqrt(1 + 8 * MAX_LINKS)) // 2)


def sidecar(model_path: str | Path) -> Path:
    """Where the raw measurements of a calibrated model are kept: ``<name>.calibration.json``.

    >>> sidecar("hardware_models/local_cpu.toml").name
    'local_cpu.calibration.json'
    """
    p = Path(model_path)
    return p.with_name(p.stem + ".calibration.json")


def check_targets(out: str | Path, workers: int | None = None) -> None:
    """Refuse in one line, changing nothing: ``workers`` not from 1 to :data:`MAX_WORKERS`, and a model ``out``
    or sidecar that cannot be written or must not be replaced: not a regular file (a device or a pipe, which
    the atomic write would replace by a file), or a file that calibrate did not write (:func:`_ours`)."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers: must be from 1 to {MAX_WORKERS} (a fully connected model's chips), "
                          f"got {workers}")
    check_output_file(out)  # (first: a folder such as "/" has no name to put a sidecar beside)
    for path, model in ((Path(out), True), (sidecar(out), False)):
        check_output_file(path)
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{path}: not a regular file (a pipe, socket or device); choose another --out")
        if os.path.lexists(path) and not _ours(path, model):
            what = "a calibrated hardware model" if model else "the measurements of a calibrated model"
            raise ConfigError(f"{path}: exists and is not {what} (ampsim calibrate writes only its own models); "
                              "choose another --out")
    _check_sidecar_shared(Path(out))


def _check_sidecar_shared(out: Path) -> None:
    """Refuse an ``out`` whose sidecar is also another calibrated model's beside it: a sidecar is named by its
    model's stem, so ``cal/m`` and ``cal/m.toml`` share ``cal/m.calibration.json``, and calibrating one replaced
    the other's measurements (which compare then read with the other model).

    Whose the sidecar is follows from the files beside ``out``, not from a model name recorded in the sidecar:
    compare finds a sidecar by the stem alone, so every calibrated model of that stem reads it; a recorded name
    would go stale when a model and its sidecar are copied or renamed together, and the sidecars written so far
    (the committed models', whose names stay) have none."""
    side = sidecar(out)
    others = [p for p in sorted(out.parent.glob(glob.escape(out.stem) + "*"))
              if p.name != out.name and sidecar(p) == side and _ours(p, True)]
    if others:
        raise ConfigError(f"{out}: its measurements would replace {side}, which is also the calibrated model "
                          f"{others[0]}'s (a model's measurements are named by its name less the suffix); choose "
                          "another --out")


def _ours(path: Path, model: bool) -> bool:
    """Whether ``path`` is a ``model`` calibrate wrote (``system.measured = true``, "measured by `ampsim calibrate`")
    or else a sidecar it wrote (a JSON object with ``fit`` and ``workloads``); an unreadable, unparsable file is not."""
    try:
        found = read_toml(path).get("system") if model else read_json(path)
    except AmpsimError:
        return False
    if not model:
        return isinstance(found, dict) and {"fit", "workloads"} <= set(found)
    return (isinstance(found, dict) and found.get("measured") is True
            and str(found.get("source", "")).startswith("measured by `ampsim calibrate`"))
