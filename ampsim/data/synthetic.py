"""A tiny, seeded, offline classification dataset for the demo and unit tests.

Contract: ``n_classes`` Gaussian clusters in ``n_features`` dimensions. The class centres depend only
on ``(seed, n_features, n_classes, separation)``; the samples also on ``n``. Points are unit-variance
around their centre; with the defaults two centres are about 6 standard deviations apart, so a
linear model or a small MLP reaches 97-99 % test accuracy (nearest class mean, seeds 0-9), and the
task still takes a few epochs to learn. Classes are balanced
(``y[i] = i % n_classes`` before shuffling). Same arguments, same arrays, on every platform.
"""

from __future__ import annotations

import numpy as np

__all__ = ["blob_centres", "make_blobs_dataset", "make_blobs_splits"]


def blob_centres(
    n_features: int = 16, n_classes: int = 4, seed: int = 0, separation: float = 1.5
) -> np.ndarray:
    """The class centres, float64 ``[n_classes, n_features]``: each entry ~ N(0, (separation/√2)²),
    so two centres are about ``separation * sqrt(n_features)`` apart."""
    rng = np.random.default_rng([seed, 0])
    return rng.normal(0.0, separation / np.sqrt(2.0), size=(n_classes, n_features))


def make_blobs_dataset(
    n: int,
    n_features: int = 16,
    n_classes: int = 4,
    seed: int = 0,
    separation: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` shuffled examples: ``(X float32 [n, n_features], y int64 [n])`` with y in ``0..n_classes-1``.

    For a train/test pair use :func:`make_blobs_splits`, which draws both from the same centres.
    """
    if n < 0 or n_features < 1 or n_classes < 2:
        raise ValueError("need n >= 0, n_features >= 1 and n_classes >= 2")
    centres = blob_centres(n_features, n_classes, seed, separation)
    rng = np.random.default_rng([seed, 1, n])
    y = rng.permutation(np.arange(n) % n_classes).astype(np.int64)
    x = centres[y] + rng.normal(size=(n, n_features))
    return x.astype(np.float32), y


def make_blobs_splits(
    n_train: int,
    n_test: int,
    n_features: int = 16,
    n_classes: int = 4,
    seed: int = 0,
    separation: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``: disjoint draws around the same centres."""
    x, y = make_blobs_dataset(n_train + n_test, n_features, n_classes, seed, separation)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
