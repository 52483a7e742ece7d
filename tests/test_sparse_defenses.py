"""The five defenses and their evaluation on scipy.sparse data (bag-of-words text): the
same scores, removals and models as on the dense form of the same data."""
import numpy as np
import pytest
import scipy.sparse as sp

from convexpoison import defenses, feasible
from convexpoison.datasets import from_arrays, load_dataset
from convexpoison.errors import InputError
from convexpoison.poisons import PoisonSet


def _counts(rng, n=160, d=40):
    X = rng.poisson(0.4, (n, d)).astype(float)
    w = rng.normal(size=d)
    s = X @ w
    y = np.where(s + 0.5 * rng.normal(size=n) > np.median(s), 1, -1)
    X[5] = X[6]                     # exact duplicates (k-NN distance 0)
    y[5] = y[6]
    return X, y


def _fit_both(name, X, y, w, **kw):
    dense = defenses.make_defense(name, **kw).fit(X, y, w)
    sparse = defenses.make_defense(name, **kw).fit(sp.csr_matrix(X), y, w)
    return dense, sparse


@pytest.mark.parametrize("name", defenses.DEFENSES)
def test_each_defense_scores_sparse_rows_as_dense(rng, name):
    X, y = _counts(rng)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    kw = {"reg": 0.05} if name == "loss" else {}
    dense, sparse = _fit_both(name, X, y, w, **kw)
    # the scores are those of the dense computation up to rounding (the sparse forms
    # expand |x - c|^2 = |x|^2 - 2 x.c + |c|^2, and k-NN uses scikit-learn's sparse
    # distances) ...
    np.testing.assert_allclose(sparse.scores_, dense.scores_, rtol=1e-9, atol=1e-7)
    # ... so the same copies are removed
    assert np.array_equal(sparse.kept_weight_, dense.kept_weight_)
    assert dense.removed_weight_.sum() > 0


@pytest.mark.parametrize("gram_max", [6000, 0])
def test_sparse_svd_paths_match_the_dense_svd(rng, monkeypatch, gram_max):
    """Both sparse SVD paths (exact spectrum of the small Gram matrix; truncated svds of
    doubling rank) find the dense SVD's rank, values and residual scores."""
    monkeypatch.setattr(feasible, "SVD_GRAM_MAX", gram_max)
    X, y = _counts(rng, n=150, d=90)
    w = rng.integers(1, 3, size=len(y)).astype(float)
    for rel in (0.05, 0.3):
        a = feasible.SVDResidual(0.9, rel_error=rel).fit(X, y, w)
        b = feasible.SVDResidual(0.9, rel_error=rel).fit(sp.csr_matrix(X), y, w)
        assert a.rank_ == b.rank_ and a.rank_ > 1
        np.testing.assert_allclose(b.singular_values_[:b.rank_], a.singular_values_[:a.rank_],
                                   rtol=1e-9)
        np.testing.assert_allclose(b.score(sp.csr_matrix(X), y), a.score(X, y), atol=1e-8)


def test_sparse_svd_refuses_a_rank_it_cannot_hold(rng, monkeypatch):
    monkeypatch.setattr(feasible, "SVD_GRAM_MAX", 0)
    monkeypatch.setattr(feasible, "SVD_SPARSE_MAX_RANK", 8)
    X, y = _counts(rng, n=150, d=90)
    with pytest.raises(InputError, match="rel_error: the SVD defense's rule"):
        feasible.SVDResidual(0.9, rel_error=0.05).fit(sp.csr_matrix(X), y)


def test_clean_neighbours_on_sparse_rows_equal_knn_scores(rng):
    X, y = _counts(rng)
    Xs = sp.csr_matrix(X)
    cn = defenses.CleanNeighbours(Xs, y, k=5)
    Xp = np.array([X[3] + 1.0, X[3] + 1.0 + 1e-3 * np.arange(X.shape[1])])
    yp, wp = np.array([1, -1]), np.array([3.0, 7.0])
    got = cn.scores(Xp, yp, wp)
    full = defenses.knn_scores(np.vstack([X, Xp]), np.concatenate([y, yp]), 5,
                               np.concatenate([np.ones(len(y)), wp]))
    np.testing.assert_allclose(got, full, atol=1e-7)


def test_evaluate_on_sparse_data_equals_dense(rng):
    X, y = _counts(rng, n=200, d=40)
    Xt, yt = _counts(rng, n=100, d=40)
    dense = from_arrays(X, y, Xt, yt, reg=0.05)
    sparse = from_arrays(X, y, Xt, yt, reg=0.05)
    sparse.X_train, sparse.X_test = sp.csr_matrix(X), sp.csr_matrix(Xt)
    # a few dense poison rows with copies, against the sparse clean rows
    P = PoisonSet(np.array([X[y == 1].mean(0) * 2, X[y == -1].mean(0)]), np.array([-1, 1]),
                  np.array([8.0, 4.0]))
    a = defenses.evaluate(dense, P)
    b = defenses.evaluate(sparse, P)
    assert b.per_defense == a.per_defense and b.removed == a.removed
    assert b.no_defense_test_error == a.no_defense_test_error
    for name in defenses.DEFENSES:
        ma, mb = a.models[name], b.models[name]
        assert abs(ma.objective_ - mb.objective_) <= ma.gap_ + mb.gap_ + 1e-12
    assert sp.issparse(sparse.X_train)          # nothing densified the caller's data


@pytest.mark.slow          # about 90 s: the SVD defense's exact 4000 x 4000 eigh dominates
def test_fine_foods_evaluates_under_all_five_defenses():
    ds = load_dataset("fine-foods")
    # a handful of integer poison reviews in the domain: "great"-heavy reviews labelled other
    great = ds.feature_names.index("great")
    x = np.zeros(ds.d)
    x[great] = 3
    P = PoisonSet(np.array([x]), np.array([-1]), np.array([40.0]))
    assert ds.domain.contains(P.X, tol=0).all()
    ev = defenses.evaluate(ds, P)
    assert set(ev.per_defense) == set(defenses.DEFENSES)
    assert ev.n_outside_domain == 0
    assert 0.15 < ev.clean_test_error < 0.30
    # removal budget: floor(5%) of each class's weight, clean plus poison
    W_neg, W_pos = (ds.y_train == -1).sum() + 40, (ds.y_train == 1).sum()
    for name, r in ev.removed.items():
        assert r["poison"] + r["clean"] == np.floor(0.05 * W_neg) + np.floor(0.05 * W_pos), name
    assert sp.issparse(ds.X_train)
