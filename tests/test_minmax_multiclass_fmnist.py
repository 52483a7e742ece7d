"""The full Fashion-MNIST (dataset ``fmnist``, Debian package dataset-fashion-mnist;
docs/datasets.md).  Skipped when the package is not installed."""
from __future__ import annotations

import numpy as np
import pytest

from convexpoison import datasets as D

pytestmark = pytest.mark.skipif(not D.optional_available("fmnist"),
                                reason="needs the Debian package dataset-fashion-mnist")


def test_fmnist_loads_the_official_split_and_is_listed(capsys):
    from convexpoison.cli import main

    ds = D.load_dataset("fmnist")
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    # the official split is balanced: 6000 / 1000 images per class
    assert np.array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    assert np.array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    assert ds.domain.contains(ds.X_train[:500]).all() and not ds.is_binary
    assert "fmnist" in D.list_datasets(include_optional="available")
    assert "fmnist" not in D.list_datasets()
    assert main(["datasets"]) == 0
    assert "fmnist " in capsys.readouterr().out
