"""Which hardware file an experiment names, and the copy of it a run keeps.

A run's ``config.toml`` names its hardware file by absolute path and pins the file's bytes
(``executor.hardware_sha256``), and the run folder keeps a byte-for-byte copy (:data:`HARDWARE_COPY`), so a
finished run's config always means the machine it ran on: trained again, it uses the named file only while that
still holds those bytes, else the copy beside the config (with a warning), else it refuses in one line. Before,
editing a hardware file silently changed what every earlier run's config re-ran as, and a results folder copied
to another machine named files that were not there.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ampsim.config import Config
from ampsim.errors import ConfigError
from ampsim.files import read_bytes

log = logging.getLogger(__name__)

__all__ = ["HARDWARE_COPY", "hardware_path", "pinned_hardware", "sha256_of"]

#: the copy of its hardware file a run folder keeps, beside its ``config.toml``
HARDWARE_COPY = "hardware.toml"

_SAID: set[tuple[str, str, str]] = set()  # the substitutions already warned of


def sha256_of(path: Path) -> str | None:
    """The SHA-256 of the file's bytes, or None where it cannot be read as a file."""
    try:
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except ConfigError:
        return None


def _named(cfg: Config) -> Path:
    """``executor.hardware`` as given, else relative to the experiment file (where that exists)."""
    hw = cfg.executor.hardware
    if not hw:
        raise ConfigError(f"{cfg.path}: executor.hardware: required for executor.kind = {cfg.executor.kind!r} "
                          "(e.g. --hardware hardware_models/ring4.toml)")
    path = Path(hw)
    if not _exists(path) and _exists(Path(cfg.path).parent / hw):
        path = Path(cfg.path).parent / hw
    return path


def hardware_path(cfg: Config) -> Path:
    """The hardware file named by ``executor.hardware``, as given or relative to the experiment file; where
    ``executor.hardware_sha256`` pins its bytes and it no longer holds them (edited, or not on this machine),
    the copy beside the config that does, or one :class:`~ampsim.errors.ConfigError` line."""
    path = _named(cfg)
    want = cfg.executor.hardware_sha256
    if not want or (got := sha256_of(path)) == want:
        return path  # (whatever else is wrong with it is read_toml's one line)
    copy = Path(cfg.path).parent / HARDWARE_COPY
    how = "is not there" if got is None else "has changed"
    if copy.resolve() != path.resolve() and sha256_of(copy) == want:
        if (said := (cfg.path, str(path), want)) not in _SAID:  # once: a run asks for its file several times
            _SAID.add(said)
            log.warning("%s: executor.hardware: %s %s since this config was written; using the copy of the file "
                        "it ran with, %s", cfg.path, path, how, copy)
        return copy
    raise ConfigError(f"{cfg.path}: executor.hardware: {path} {how} since this config was written "
                      f"(executor.hardware_sha256 pins its bytes) and {copy} is no copy of it; give the file it "
                      "ran with, or set executor.hardware_sha256 = \"\" to use the file as it is now")


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


def _exists(path: Path) -> bool:
    try:  # Path.exists raises PermissionError for a path in a folder this user may not enter
        return path.exists()
    except OSError:
        return False
