"""A sweep small enough for a test: blobs_mlp on the 4-chip ring, a few instances, replayed."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tiny_sweep(epochs: int | str = 1) -> str:
    """Its ``[sweep]`` and ``[fixed]`` tables and the ``[grid]`` header: the grid's axes follow."""
    return f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
[fixed]
"data.n_train" = 96
"data.n_test" = 16
"model.hidden" = [8]
"train.epochs" = {epochs}
"executor.numerics" = false
[grid]
"""
