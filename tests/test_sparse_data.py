"""The bundled sparse text set ``fine-foods`` and the domain checks on sparse rows."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from convexpoison import datasets as D
from convexpoison.domain import Domain

REPO = Path(__file__).resolve().parent.parent
SHARED_CANDIDATES = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
SHARED = next((p for p in SHARED_CANDIDATES if (p / "fine_foods.csv.gz").is_file()), None)


def test_fine_foods_is_a_sparse_integer_count_set():
    ds = D.load_dataset("fine-foods")
    assert "fine-foods" in D.list_datasets()
    for X, n in ((ds.X_train, 4000), (ds.X_test, 1000)):
        assert isinstance(X, sp.csr_matrix) and X.dtype == np.float64 and X.shape == (n, 6660)
        assert np.all(X.data >= 1) and np.all(X.data == np.round(X.data))
    # the source's split and classes: 2600 great / 1400 other, 658 / 342
    assert (ds.y_train == 1).sum() == 2600 and (ds.y_train == -1).sum() == 1400
    assert (ds.y_test == 1).sum() == 658 and ds.classes == ["other", "great"]
    # the vocabulary comes from the training split: every word is in >= 2 training reviews
    df = np.diff(ds.X_train.tocsc().indptr)
    assert df.min() == 2
    assert ds.feature_names == sorted(ds.feature_names) and "great" in ds.feature_names
    assert ds.X_train.nnz / ds.n_train == pytest.approx(48.3, abs=0.1)
    # the domain: non-negative integers up to each word's largest count in any review
    dom = ds.domain
    assert dom.integer.all() and np.all(dom.lo == 0) and dom.kind == "integer"
    col_max = np.maximum(ds.X_train.max(axis=0).toarray().ravel(),
                         ds.X_test.max(axis=0).toarray().ravel())
    assert np.array_equal(dom.hi, col_max) and dom.hi.max() == 70
    assert dom.contains(ds.X_train, tol=0).all() and dom.contains(ds.X_test, tol=0).all()
    with np.load(REPO / "data" / "fine-foods.npz") as z:
        assert z["X_train_data"].dtype == np.uint8 and "X_train" not in z.files
    s = ds.summary()
    assert s["d"] == 6660 and s["binary"] and s["reg"] == ds.reg
    json.dumps(s)
    stored = json.loads((REPO / "data" / "reg.json").read_text())
    assert ds.reg == stored["fine-foods"]["reg"]
    assert s["reg_source"] == "data/reg.json (cross-validation)"


def test_fine_foods_loader_returns_fresh_copies():
    a = D.load_dataset("fine-foods")
    a.X_train.data[:] = -5
    b = D.load_dataset("fine-foods")
    assert b.X_train.data.min() >= 1 and b.X_train.data.flags.writeable


@pytest.mark.skipif(SHARED is None, reason="raw files in ../shared/data not present")
def test_fine_foods_rebuild_is_identical():
    spec = importlib.util.spec_from_file_location("build_datasets",
                                                  REPO / "data" / "build_datasets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    arrays = mod.BUILDERS["fine-foods"](SHARED)
    with np.load(REPO / "data" / "fine-foods.npz") as z:
        assert set(z.files) == set(arrays)
        for k, v in arrays.items():
            assert z[k].dtype == v.dtype and np.array_equal(z[k], v), k
    # an independent count of one review over the vocabulary
    import pandas as pd

    raw = pd.read_csv(SHARED / "fine_foods.csv.gz")
    ds = D.load_dataset("fine-foods")
    text = raw[raw["split"] == "train"]["review"].iloc[7].lower()
    import re

    words = re.findall(r"\b\w\w+\b", text)
    vocab = {w: j for j, w in enumerate(ds.feature_names)}
    expect = np.zeros(ds.d)
    for w in words:
        if w in vocab:
            expect[vocab[w]] += 1
    assert np.array_equal(ds.X_train[7].toarray().ravel(), expect)


def test_domain_contains_on_sparse_rows_equals_dense():
    dom = Domain(np.zeros(4), np.array([1.0, 3.0, 2.0, 5.0]), integer=np.ones(4, bool))
    X = np.array([[0, 3, 2, 5], [0, 4, 0, 0], [0, 0, 1.5, 0], [0, 0, 0, 0], [-1, 0, 0, 0.0]])
    assert np.array_equal(dom.contains(sp.csr_matrix(X), tol=0), dom.contains(X, tol=0))
    assert dom.contains(X, tol=0).tolist() == [True, False, False, True, False]
    # a lower bound above 0: rows that leave such a column out are outside
    dom2 = Domain(np.array([0.0, 1.0]), np.array([2.0, 2.0]))
    X2 = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert np.array_equal(dom2.contains(sp.csr_matrix(X2)), dom2.contains(X2))
    assert dom2.contains(X2).tolist() == [True, False, False]
    # one-hot groups
    dom3 = Domain(np.zeros(3), np.ones(3), integer=np.ones(3, bool), onehot_groups=[[0, 1]])
    X3 = np.array([[1.0, 0, 1], [0, 0, 1], [1, 1, 0]])
    assert np.array_equal(dom3.contains(sp.csr_matrix(X3)), dom3.contains(X3))
