"""Which override gave a config value, and an error's line rewritten to name it instead of the experiment file.

``--set replicas.groups=8`` on a 4-chip machine was refused as ``experiments/blobs_mlp.toml: replicas.groups: 8
groups but only 4 chip(s)``, a file that holds no such value. A :class:`~ampsim.config.Config` keeps the keys its
overrides set, with the words that name each (``Config.overridden``); :func:`blamed` rewrites a line whose key an
override gave, for :func:`~ampsim.config.load_config`'s rules across fields and for every check after it (the plan
stage's, a sweep point's, the muf check). Values the file (or a default) gave keep the file.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Protocol, Sequence

from ampsim.errors import ConfigError


class Config(Protocol):
    """What is read here of a :class:`ampsim.config.Config` (named so: this module sits below it)."""

    path: Any
    #: each override's key and the words that name it, in order
    overridden: Sequence[tuple[str, str]]

__all__ = ["blamed", "blamed_line", "blaming", "override_of", "set_by"]


def blamed_line(text: str, source: str, places: Sequence[tuple[str, str]]) -> str | None:
    """``text``, an error's line, naming the override that set the value it refuses (``--set data.min_len: must be
    <= ...``) instead of the experiment file, which holds no such value; None where the file (or a default) set
    it. The value refused is the one a message names first (``<file>: data.min_len: ...``); the last override of
    it, or of its whole section (``--set data={...}``), set it. ``places``: each override's key and the words that
    name it (:attr:`ampsim.config.Config.overridden`)."""
    if not text.startswith(f"{source}: "):
        return None
    named = text.removeprefix(f"{source}: ").split(":")[0].split("[")[0]
    words = set_by(places, named)
    return None if words is None else f"{words}{text.removeprefix(f'{source}: {named}')}"


def set_by(places: Sequence[tuple[str, str]], key: str) -> str | None:
    """The words of the last of ``places`` that set ``key`` or a table above it (with the rest of ``key``), or None."""
    for k, words in reversed(places):  # (the last override of it, or of a table above it, gave it)
        if key == k or key.startswith(f"{k}."):
            return f"{words}{key.removeprefix(k)}"
    return None


def override_of(cfg: Config, key: str) -> str | None:
    """The words naming the override that gave ``cfg``'s dotted ``key`` its value (``--set hardware.chip.memory_bytes``;
    ``--set hardware.chip.memory_bytes`` too for ``--set hardware.chip={...}``), or None where the file or a default
    did.

    >>> from ampsim.config import load_config
    >>> cfg = load_config("experiments/blobs_mlp.toml", [("hardware.chip", {"memory_bytes": 10})])
    >>> override_of(cfg, "hardware.chip.memory_bytes"), override_of(cfg, "train.lr")
    ('--set hardware.chip.memory_bytes', None)
    """
    return set_by(cfg.overridden, key)


def blamed(error: ConfigError, cfg: Config) -> ConfigError:
    """``error``, refusing a value of ``cfg`` after it was read (the plan stage's: ``<file>: replicas.groups: 8
    groups but only 4 chips``), naming the override that set that value where one did (``--set replicas.groups:
    ...``; a sweep's point, whose place its caller names: the key alone), as :func:`~ampsim.config.load_config`
    names it for a field's own rules. The same exception, its line rewritten (a :class:`~ampsim.errors.NoRoom`
    stays one, with its record).

    >>> from ampsim.config import load_config
    >>> cfg = load_config("experiments/blobs_mlp.toml", [("replicas.groups", 8)])
    >>> str(blamed(ConfigError(f"{cfg.path}: replicas.groups: 8 groups but only 4 chips"), cfg))
    '--set replicas.groups: 8 groups but only 4 chips'
    >>> str(blamed(ConfigError(f"{cfg.path}: train.lr: too high"), cfg))  # (the file's value)
    'experiments/blobs_mlp.toml: train.lr: too high'
    """
    if isinstance(cfg.path, (str, os.PathLike)) and error.args and isinstance(error.args[0], str):
        line = blamed_line(error.args[0], os.fspath(cfg.path), cfg.overridden)
        if line is not None:
            error.args = (line, *error.args[1:])
    return error


@contextlib.contextmanager
def blaming(cfg: Config) -> Iterator[None]:
    """Run the block with its ConfigErrors :func:`blamed` on ``cfg``'s overrides."""
    try:
        yield
    except ConfigError as e:
        blamed(e, cfg)
        raise
