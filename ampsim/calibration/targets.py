"""Where ``ampsim calibrate`` writes, checked before it measures: the model ``--out`` and its sidecar
(``<model>.calibration.json``, the raw measurements ``ampsim compare`` reads), each only over a file
calibrate wrote itself (:func:`check_targets`), and the worker counts a model can have (:data:`MAX_WORKERS`).
"""

from __future__ import annotations

import glob
import math
import os
from pathlib import Path

from ampsim.errors import AmpsimError, ConfigError
from ampsim.files import os_error_cause, read_json, read_toml
from ampsim.folders import check_not_in_staging
from ampsim.hardware.local import check_workers
from ampsim.hardware.spec import MAX_CHIPS, MAX_LINKS
from ampsim.outputs import check_output_file, check_replaceable

__all__ = ["MAX_WORKERS", "check_targets", "sharing_sidecar", "sidecar"]

#: the most workers a model of this machine can have (its chips fully connected: n (n - 1) / 2 links)
MAX_WORKERS = min(MAX_CHIPS, (1 + math.isqrt(1 + 8 * MAX_LINKS)) // 2)


def sidecar(model_path: str | Path) -> Path:
    """Where the raw measurements of a calibrated model are kept: ``<name>.calibration.json``, beside the model a
    symbolic link ``model_path`` leads to (which calibrate writes through it), not beside the link.

    >>> sidecar("hardware_models/local_cpu.toml").name
    'local_cpu.calibration.json'
    """
    p = Path(model_path)
    if p.is_symlink() and p.is_file():  # (calibrate writes a linked model where the link leads: its pair goes there)
        p = Path(os.path.realpath(p))
    return p.with_name(p.stem + ".calibration.json")


def check_targets(out: str | Path, workers: int | None = None) -> None:
    """Refuse in one line, changing nothing: ``workers`` not from 0 (one per core) to :data:`MAX_WORKERS`, a model
    ``out`` or sidecar that cannot be written or must not be replaced: not a regular file (a device or a pipe, which
    the atomic write would replace by a file), or a file that calibrate did not write (:func:`_ours`); an ``out``
    inside a staging folder (:func:`~ampsim.folders.check_not_in_staging`)."""
    check_workers(workers, MAX_WORKERS, " (a fully connected model's chips)")
    _check_regular(out)
    check_output_file(out)  # (first: a folder such as "/" has no name to put a sidecar beside)
    check_not_in_staging(out)
    for path, model in ((Path(out), True), (sidecar(out), False)):
        _check_regular(path)
        check_output_file(path)
        if os.path.lexists(path) and not _ours(path, model):
            what = "a calibrated hardware model" if model else "the measurements of a calibrated model"
            if (cause := _unreadable(path)) is not None:  # (calibrate's own, chmod 000: not said to be another's)
                raise ConfigError(f"{path}: {cause}, so whether it is {what} (which calibrate would replace) cannot "
                                  "be told; choose another --out, or make it readable")
            raise ConfigError(f"{path}: exists and is not {what} (ampsim calibrate writes only its own models); "
                              "choose another --out")
    others = sharing_sidecar(Path(out))
    if others:  # (calibrating one replaced the other's measurements, which compare then read with the other model)
        raise ConfigError(f"{out}: its measurements would replace {sidecar(out)}, which is also the calibrated model "
                          f"{others[0]}'s (a model's measurements are named by its name less the suffix); choose "
                          "another --out")


def _check_regular(path: str | Path) -> None:
    """One line, with the way out, where ``path`` is a pipe, socket or device, or a link to one (which the atomic
    write, through the link, would replace by a file); before :func:`~ampsim.outputs.check_output_file`, which
    refuses it without a link, and words a folder."""
    check_replaceable(path, through_link=True, way_out="; choose another --out")


def sharing_sidecar(model: Path) -> list[Path]:
    """The other calibrated models beside ``model`` whose sidecar is its own: a sidecar is named by its model's
    name less the suffix, in its folder, so ``cal/m`` and ``cal/m.toml`` share ``cal/m.calibration.json`` (models
    of one name in two folders do not). Calibrate refuses to make such a pair; compare, to read a sidecar whose
    model it cannot tell (a model copied in by hand).

    Whose the sidecar is follows from the files beside ``model``, not from a model name recorded in the sidecar:
    a recorded name would go stale when a model and its sidecar are copied or renamed together, and the sidecars
    written so far (the committed models', whose names stay) have none."""
    side = sidecar(model)
    return [p for p in sorted(model.parent.glob(glob.escape(model.stem) + "*"))
            if p.name != model.name and sidecar(p) == side and _ours(p, True) and not _same_file(p, model)]


def _unreadable(path: Path) -> str | None:
    """Why ``path``, which exists, cannot be read where the system refuses it (permission denied); None where it can
    be, or where it is no file to read (a link to nothing: not calibrate's either, and said so)."""
    try:
        with open(path, "rb"):
            return None
    except PermissionError as e:
        return os_error_cause(e)
    except OSError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file (a link beside the model it leads to: one model, one sidecar)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # (``b`` not written yet)
        return False


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
