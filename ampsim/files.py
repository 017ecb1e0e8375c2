"""The one way in for user TOML files: experiment, hardware and sweep files are all read here.

Whatever goes wrong with the file itself (it is missing, a directory, unreadable, binary, not UTF-8, not
TOML) becomes one :class:`~ampsim.errors.ConfigError` line ``<path>: <cause>``, worded the same for
every kind of file, so the CLI can print it as ``ampsim: error: …`` without a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ampsim.errors import ConfigError

__all__ = ["read_toml", "os_error_cause"]


def os_error_cause(e: OSError) -> str:
    """A short cause for an OSError, without the path Python repeats in ``str(e)``."""
    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(e, PermissionError):
        return "permission denied"
    return (e.strerror or type(e).__name__).lower()


def read_toml(path: str | Path) -> dict:
    """Read one TOML file; every problem with the file is one ``ConfigError`` naming ``path`` as given."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {os_error_cause(e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (binary?); expected TOML") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
