"""Attacks on scipy.sparse text data: label flips and MTP (its max-loss search over the
integer domain), without densifying the clean matrix; every poison point is integer,
non-negative and inside the declared bounds."""
import numpy as np
import scipy.sparse as sp

from convexpoison.attacks.labelflip import RandomLabelFlip
from convexpoison.attacks.mtp import ModelTargetedPoisoning
from convexpoison.datasets import Dataset, load_dataset
from convexpoison.domain import Domain
from convexpoison.training import train


def _assert_integer_in_domain(P, domain):
    assert np.all(P.X == np.round(P.X)) and P.X.min() >= 0
    assert np.all(P.X <= domain.hi) and domain.contains(P.X, tol=0).all()


def test_random_label_flips_on_fine_foods():
    ds = load_dataset("fine-foods")
    att = RandomLabelFlip(epsilon=0.03, random_state=0).fit(ds)
    P = att.poisons_
    assert P.n_poisons == 120 and P.X.shape[1] == ds.d
    _assert_integer_in_domain(P, ds.domain)
    # the flipped points are test reviews with the opposite label
    idx = att.indices_
    assert np.array_equal(P.X[0], ds.X_test[np.unique(idx)[0]].toarray().ravel())
    assert np.array_equal(P.y, -ds.y_test[np.unique(idx)])
    assert sp.issparse(ds.X_train) and sp.issparse(ds.X_test)


def _sparse_set(rng, n=160, d=25, sparse=True):
    X = rng.poisson(0.5, (n + 60, d)).astype(float)
    w = rng.normal(size=d)
    y = np.where(X @ w > np.median(X @ w), 1, -1)
    hi = np.maximum(X.max(axis=0), 1.0)
    dom = Domain(np.zeros(d), hi, integer=np.ones(d, bool))
    conv = sp.csr_matrix if sparse else np.asarray
    return Dataset("counts", conv(X[:n]), y[:n], conv(X[n:]), y[n:], dom, reg=0.05,
                   classes=["-1", "+1"])


def test_mtp_on_sparse_counts_equals_dense(rng):
    state = rng.bit_generator.state
    dense = _sparse_set(rng, sparse=False)
    rng.bit_generator.state = state
    sparse = _sparse_set(rng, sparse=True)
    # a target: the model of the clean data plus a block of flipped points
    flip = np.arange(0, 40)
    Xt = np.vstack([dense.X_train, dense.X_train[flip]])
    yt = np.concatenate([dense.y_train, -dense.y_train[flip]])
    target = train(Xt, yt, reg=0.05, sample_weight=np.concatenate([np.ones(160), 3 * np.ones(40)]))
    runs = []
    for data in (dense, sparse):
        att = ModelTargetedPoisoning(target=target, max_iter=15, copies=2, eps_close=0.0,
                                     progress_bar=False).fit(data)
        runs.append(att)
    a, b = runs
    _assert_integer_in_domain(b.poisons_, sparse.domain)
    assert b.poisons_.n_poisons == a.poisons_.n_poisons > 0
    # the same max-loss points, iteration by iteration (the trainings agree to their gaps)
    assert np.array_equal(b.poisons_.X, a.poisons_.X) and np.array_equal(b.poisons_.y, a.poisons_.y)
    for ra, rb in zip(a.result_.history, b.result_.history):
        assert abs(ra.max_loss_difference - rb.max_loss_difference) < 1e-6
        assert ra.lower_bound == rb.lower_bound
    assert sp.issparse(sparse.X_train)


def test_minmax_on_sparse_counts_gives_integer_poison_in_the_domain(rng):
    """The min-max attack takes sparse clean data (its loss gradients, decoys and defenses
    on CSR rows) and, on an integer domain, returns rounded poison (LP relaxation,
    randomised rounding, repeated points; docs/integer.md) inside the bounds."""
    from convexpoison.attacks.minmax import MinMaxAttack

    state = rng.bit_generator.state
    runs = []
    for sparse in (False, True):
        rng.bit_generator.state = state
        data = _sparse_set(rng, n=120, d=12, sparse=sparse)
        att = MinMaxAttack(epsilon=0.05, max_decoys=1, defenses=("l2", "slab"),
                           progress_bar=False).fit(data)
        _assert_integer_in_domain(att.poisons_, data.domain)
        runs.append(att.poisons_)
    dense, sparse = runs
    # the same budget, labels and copies; the rounded points themselves may differ (the
    # relaxed points agree only to the solver's tolerance before randomised rounding)
    assert sparse.n_poisons == dense.n_poisons == 6
    assert np.array_equal(sparse.y, dense.y) and np.array_equal(sparse.weight, dense.weight)
    assert sp.issparse(data.X_train)
