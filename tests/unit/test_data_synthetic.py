"""ampsim.data.synthetic: seeded, balanced, learnable blobs."""

from __future__ import annotations

import numpy as np
import pytest

from ampsim.data.synthetic import blob_centres, make_blobs_dataset, make_blobs_splits


def test_shapes_dtypes_and_determinism():
    x, y = make_blobs_dataset(100, seed=3)
    assert x.dtype == np.float32 and x.shape == (100, 16)
    assert y.dtype == np.int64 and y.shape == (100,)
    assert np.bincount(y).tolist() == [25, 25, 25, 25]
    x2, y2 = make_blobs_dataset(100, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make_blobs_dataset(100, seed=4)[0], x)
    np.testing.assert_array_equal(blob_centres(seed=3), blob_centres(seed=3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learnable_by_nearest_class_mean(seed):
    xtr, ytr, xte, yte = make_blobs_splits(800, 400, n_features=16, n_classes=4, seed=seed)
    assert len(xtr) == 800 and len(xte) == 400
    means = np.stack([xtr[ytr == k].mean(axis=0) for k in range(4)])
    pred = ((xte[:, None, :] - means[None]) ** 2).sum(-1).argmin(axis=1)
    assert (pred == yte).mean() > 0.9


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_blobs_dataset(10, n_classes=1)


def test_the_blobs_datasets_limits_take_the_first_rows_of_each_split():
    """data.limit_train and data.limit_test were ignored for blobs (2,000 and 500 examples whatever they said)."""
    from pathlib import Path

    from ampsim.config import load_config
    from ampsim.planning import plan

    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    info = plan(load_config(blobs, [("data.limit_train", 5), ("data.limit_test", 3)])).task.info
    assert (info["train_examples"], info["test_examples"]) == (5, 3)
    info = plan(load_config(blobs, [("data.limit_train", 10**6)])).task.info  # more than there are: all of them
    assert (info["train_examples"], info["test_examples"]) == (2000, 500)
