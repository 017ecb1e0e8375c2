"""The Python API: what ``import ampsim`` offers a researcher in a notebook. The CLI is a thin layer over it.

>>> import ampsim
>>> cfg = ampsim.load_experiment("experiments/blobs_mlp.toml", {"train.epochs": 2})   # doctest: +SKIP
>>> run = ampsim.train(cfg)                                  # a Run: metrics DataFrame, summary dict
>>> run.metrics[["epoch", "train_loss", "test_accuracy"]]    # doctest: +SKIP
>>> table = ampsim.sweep("experiments/sweeps/demo.toml", "results/my_sweep")   # a DataFrame per point

Every function raises :class:`ampsim.AmpsimError` (one line naming the file and field) on bad input.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ampsim.config import Config, load_config, parse_override
from ampsim.results import read_metrics, read_summary, read_table
from ampsim.training import train_experiment

if TYPE_CHECKING:  # pandas loads only when a run's metrics are read (it costs the CLI ~0.3 s to start)
    import pandas as pd

__all__ = ["Run", "load_experiment", "train", "sweep"]

#: overrides as ``{"train.lr": 0.01}``, ``["train.lr=0.01"]`` or ``[("train.lr", 0.01)]``
Overrides = Mapping[str, Any] | Iterable[str | tuple[str, Any]] | None


@dataclass(frozen=True)
class Run:
    """A finished training: its resolved config, per-epoch metrics and summary, and its folder (None when
    :func:`train` was given no ``out``: the files were written to a temporary folder, then read back)."""

    config: Config
    metrics: pd.DataFrame
    summary: dict
    path: Path | None = None


def _overrides(overrides: Overrides) -> list[tuple[str, Any]]:
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    return [parse_override(o) if isinstance(o, str) else tuple(o) for o in overrides]


def load_experiment(path: str | Path, overrides: Overrides = None) -> Config:
    """Read and validate an experiment file with ``overrides`` applied (as ``--set`` would)."""
    return load_config(path, _overrides(overrides))


def train(experiment: Config | str | Path, out: str | Path | None = None, *, overrides: Overrides = None,
          progress: bool = False) -> Run:
    """Train an experiment (a loaded :class:`Config` or a file) with its executor; return the :class:`Run`.

    ``out`` is the run folder (config.toml, metrics.csv, summary.json, …); without it nothing is kept on
    disk. ``progress`` reports on stderr: a bar on a terminal, a line per epoch elsewhere.
    """
    if isinstance(experiment, Config) and overrides:
        raise TypeError("train: overrides apply to an experiment file; load_experiment(path, overrides) instead")
    cfg = experiment if isinstance(experiment, Config) else load_experiment(experiment, overrides)
    if out is not None:
        train_experiment(cfg, out, progress=progress)
        return _read_run(cfg, Path(out), keep=True)
    with tempfile.TemporaryDirectory(prefix="ampsim-run-") as tmp:
        train_experiment(cfg, tmp, progress=progress, keep_partial=False)  # nothing is kept on failure either
        return _read_run(cfg, Path(tmp), keep=False)


def _read_run(cfg: Config, path: Path, *, keep: bool) -> Run:
    return Run(cfg, read_metrics(path), read_summary(path), path if keep else None)


def sweep(sweep_file: str | Path, out: str | Path | None = None, *, quick: bool = False, jobs: int | None = None,
          ray: bool = False, ray_address: str | None = None, fresh: bool = False,
          progress: bool = False) -> pd.DataFrame:
    """Run a sweep file's unfinished points (resuming what an earlier run left) and return its table, one
    row per point. ``out`` defaults to ``results/sweeps/<name>`` (``results/quick/sweeps/<name>`` with
    ``quick``)."""
    from ampsim.sweeps.run import run_sweep
    from ampsim.sweeps.spec import load_sweep

    spec = load_sweep(sweep_file, quick=quick)
    folder = Path(out) if out else spec.default_dir
    return read_table(run_sweep(spec, folder, jobs=jobs, ray=ray, ray_address=ray_address, fresh=fresh,
                                progress=progress))
