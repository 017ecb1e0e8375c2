"""Which hardware file an experiment names, and the copy of it a run keeps.

A run's ``config.toml`` names its hardware file by absolute path and pins the file's bytes
(``executor.hardware_sha256``), and the run folder keeps a byte-for-byte copy (``hardware.toml``), so a
finished run's config always means the machine it ran on: trained again, it uses the named file only while that
still holds those bytes; where the file is not there (the results copied to another machine), the copy beside
the config (with a warning; the new run's config still names the file, not the copy: :func:`hardware_name`);
where it differs (edited since, or another file named through the API), it refuses in one line. Before, editing
a hardware file silently changed what every earlier run's config re-ran as, and a results folder copied to
another machine named files that were not there. Naming a file on the command line
(``--hardware``, ``--set executor.hardware=...``) drops the pin (:func:`ampsim.config.apply_overrides`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ampsim import runfiles
from ampsim.config import Config
from ampsim.errors import ConfigError
from ampsim.files import read_bytes
from ampsim.wording import wording

log = logging.getLogger(__name__)

__all__ = ["hardware_name", "hardware_path", "pinned_hardware", "sha256_of"]

_SAID: set[tuple[str, str, str]] = set()  # the substitutions already warned of


def sha256_of(path: Path) -> str | None:
    """The SHA-256 of the file's bytes, or None where it cannot be read as a file."""
    try:
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except ConfigError:
        return None


def _candidates(cfg: Config) -> list[Path]:
    """Where ``executor.hardware`` may be: as given, then relative to the experiment file."""
    hw = cfg.executor.hardware
    if not hw:
        raise ConfigError(f"{cfg.path}: executor.hardware: required for executor.kind = {cfg.executor.kind!r} "
                          f"(e.g. {wording().hardware_file('hardware_models/ring4.toml')})")
    return list(dict.fromkeys([Path(hw), Path(cfg.path).parent / hw]))


def hardware_path(cfg: Config) -> Path:
    """The hardware file named by ``executor.hardware``: as given, else relative to the experiment file. Where
    ``executor.hardware_sha256`` pins its bytes, the first of those that holds them; none there (not on this
    machine), the copy beside the config that does (with a warning); one that differs (edited since, or
    another file named), one :class:`~ampsim.errors.ConfigError` line."""
    where = _candidates(cfg)
    want = cfg.executor.hardware_sha256.lower()  # (as a tool printed it: PowerShell's Get-FileHash in upper case)
    if not want:
        # none there: said as the setting's (read_toml's line named the path alone, "ring4: no such file"), which the
        # plan stage's blaming then names as the override that gave it
        if not any(os.path.lexists(p) for p in where):
            beside = f", nor beside the experiment file ({where[1]})" if len(where) > 1 else ""
            raise ConfigError(f"{cfg.path}: executor.hardware: {cfg.executor.hardware}: no such file{beside}")
        chosen = next((p for p in where if _exists(p)), where[0])  # (what is wrong with it is read_toml's line,
        if os.path.isdir(chosen):  # but a folder, a slip for a file in it, is the setting's as a missing file is)
            raise ConfigError(f"{cfg.path}: executor.hardware: {cfg.executor.hardware}: is a directory, not a file")
        return chosen
    digests = [sha256_of(p) for p in where]
    if want in digests:
        return where[digests.index(want)]
    copy = _copy_of(cfg)
    if all(d is None for d in digests) and sha256_of(copy) == want:
        if (said := (cfg.path, str(where[0]), want)) not in _SAID:  # once: a run asks for its file several times
            _SAID.add(said)
            log.warning("%s: executor.hardware: %s is not there; using the copy of the file this config ran with, "
                        "%s", cfg.path, where[0], copy)
        return copy
    found = [p for p, d in zip(where, digests) if d is not None]
    what = (f"{found[0]} is not the file this config ran with (its bytes differ from executor.hardware_sha256: "
            "edited since, or another file named)" if found else f"{where[0]} is not there, and {copy} is no copy "
            "of the file this config ran with")
    raise ConfigError(f"{cfg.path}: executor.hardware: {what}; give the file it ran with ({wording().hardware}), "
                      "or set executor.hardware_sha256 = \"\" to use the file as it is now")


def hardware_name(cfg: Config, path: Path) -> str:
    """What a run of ``cfg`` writes in its config for the hardware file it read at ``path`` (from
    :func:`hardware_path`): the file's absolute path; but where ``path`` is the copy standing in for a named file
    that is not there, the name as given. The copy's path tied the new run to the old run's folder: that run
    trained again on other hardware, its copy no longer held the pinned bytes and the new run was refused; the
    name as given leads a retrain of the new run to its own copy."""
    if path == _copy_of(cfg) and path not in _candidates(cfg):
        return cfg.executor.hardware
    return str(path.resolve())


def pinned_hardware(cfg: Config) -> tuple[Path, bytes] | None:
    """The hardware file a run of ``cfg`` uses and its bytes, to pin in its config and copy into its folder;
    None without one (or where it cannot be read: the run then fails on it as it would have)."""
    if not cfg.executor.hardware:
        return None
    try:
        path = hardware_path(cfg)
        return path, read_bytes(path)
    except ConfigError:
        return None


def _copy_of(cfg: Config) -> Path:
    """The copy of the hardware file a run keeps beside its config (a run folder's ``hardware.toml``)."""
    return Path(cfg.path).parent / runfiles.HARDWARE_COPY


def _exists(path: Path) -> bool:
    try:  # Path.exists raises PermissionError for a path in a folder this user may not enter
        return path.exists()
    except OSError:
        return False
