"""The min-max attack on sparse integer text (fine-foods and a matrix too large to
densify): every poison point is integer, non-negative and inside the domain's per-word
bounds; the continuous points before rounding satisfy the LP relaxation of the sphere
(Koh et al. eq. (8)) and the slab; the integer fast inner path is the one used; the clean
matrix stays sparse (and cannot be densified under the memory limit of the second test)."""

from _huge import run_limited
import numpy as np
import scipy.sparse as sp

from convexpoison.attacks.minmax import MinMaxAttack
from convexpoison.datasets import Dataset, load_dataset
from convexpoison.programs.inner import InnerMaximizer


def _assert_integer_in_domain(P, domain):
    assert np.all(P.X == np.round(P.X)) and P.X.min() >= 0
    assert np.all(P.X <= domain.hi) and domain.contains(P.X, tol=0).all()


def test_minmax_on_a_fine_foods_subsample_gives_integer_poison_in_the_bounds():
    ds = load_dataset("fine-foods")
    sub = Dataset("fine-foods-sub", ds.X_train[:300], ds.y_train[:300], ds.X_test[:150],
                  ds.y_test[:150], ds.domain, reg=ds.reg, classes=list(ds.classes))
    att = MinMaxAttack(epsilon=0.03, decoy="auto", max_decoys=1, decoy_repeats=(2,),
                       decoy_quantiles=(0.2,), burn_in=20, defenses=("l2", "slab", "loss"),
                       progress_bar=False).fit(sub)
    res = att.result_
    P = att.poisons_
    assert P.n_poisons == 9
    _assert_integer_in_domain(P, ds.domain)
    assert res.best.decoy is not None                      # the decoy variant ran
    assert set(res.evaluation.per_defense) == {"l2", "slab", "loss"}
    # the loop ran on the integer fast path (no conic programs built)
    fs = att.feasible_set_
    inner = InnerMaximizer(fs, decoy=res.decoys[0].model, tau=att.tau)
    assert inner.integer_fast and not inner._programs
    # the continuous points satisfy the relaxation of eq. (8), the slab and the decoy
    cont = res.best.continuous
    sph, slab = fs["l2"], fs["slab"]
    for x, y in zip(cont.X, cont.y):
        assert sph.expected_sq_distance(x[None, :], y)[0] <= sph.thresholds_[y] ** 2 * (1 + 1e-9)
        assert slab.score(x[None, :], [y])[0] <= slab.thresholds_[y] * (1 + 1e-9) + 1e-9
        dm = res.decoys[0].model
        assert 1 - y * (dm.w @ x + dm.b) <= att.tau + 1e-7
    assert sp.issparse(sub.X_train) and sp.issparse(ds.X_train)


_HUGE = """
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.datasets import Dataset
    from convexpoison.domain import Domain
    n, nt, d, per_row = 600, 200, 800_000, 30     # dense: 3.8 GB; stored: 24 000 entries
    rng = np.random.default_rng(0)
    cols = rng.integers(0, 3000, (n + nt, per_row)) ** 2 % d
    y = np.where(np.arange(n + nt) % 2 == 0, 1, -1)
    cols[:, 0] = np.where(y > 0, 0, 1)             # a planted signal word per class
    cols[rng.random(n + nt) < 0.2, 0] = 2          # (noisy)
    X = sp.csr_matrix((rng.integers(1, 4, (n + nt) * per_row).astype(float), cols.ravel(),
                       np.arange(0, (n + nt) * per_row + 1, per_row)), shape=(n + nt, d))
    X.sum_duplicates()
    dense_refused(n, d)
    hi = np.asarray(X.max(axis=0).todense()).ravel()
    dom = Domain(np.zeros(d), hi, integer=np.ones(d, bool))
    data = Dataset("huge", X[:n], y[:n], X[n:], y[n:], dom, reg=0.01, classes=["-1", "+1"])
    att = MinMaxAttack(epsilon=0.03, decoy="none", defenses=("l2",),
                       feasible=("domain", "l2", "slab"), burn_in=10,
                       progress_bar=False).fit(data)
    P = att.poisons_
    ok = (np.all(P.X == np.round(P.X)) and P.X.min() >= 0 and np.all(P.X <= hi)
          and bool(dom.contains(P.X, tol=0).all()))
    print(int(P.n_poisons), ok, sp.issparse(data.X_train))
    print(att.result_.to_dict()["min_over_defenses"])
"""


def test_minmax_on_a_matrix_too_large_to_densify():
    lines = run_limited(_HUGE)               # 3 GiB; the dense X needs 3.8 GB
    assert lines[0] == "18 True True"             # eps N poisons, integer, in the bounds
    assert 0.0 <= float(lines[1]) <= 1.0


def test_unique_rows_is_numpys_unique_on_rows():
    """The wide-row replacement of np.unique(axis=0) used to merge poison rows gives the
    same rows, order, first occurrences and inverse (so dense results are unchanged)."""
    from convexpoison.integer import unique_rows

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, d = int(rng.integers(1, 30)), int(rng.integers(1, 8))
        key = rng.integers(-2, 3, (n, d)) * rng.choice([1.0, 0.5, -0.0], size=(n, d))
        if trial % 3 == 0:
            key = np.round(key + 0.01 * rng.standard_normal((n, d)), 2)
        want = np.unique(key, axis=0, return_index=True, return_inverse=True)
        got = unique_rows(key)
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
        assert np.array_equal(want[2].ravel(), got[2])


def test_clean_neighbours_take_sparse_poison_rows():
    """The decoy screening scores Dc ∪ Dp with CleanNeighbours; on text the stacked rows
    are sparse: the scores equal knn_scores on the whole stacked matrix."""
    from convexpoison.defenses import CleanNeighbours, knn_scores

    rng = np.random.default_rng(1)
    Xc = sp.csr_matrix(rng.poisson(0.6, (60, 15)).astype(float))
    yc = np.where(np.arange(60) % 2 == 0, 1, -1)
    P = rng.poisson(0.6, (5, 15)).astype(float)
    yp, wp = np.array([1, 1, -1, -1, 1]), np.array([2.0, 1.0, 3.0, 1.0, 2.0])
    got = CleanNeighbours(Xc, yc, k=5).scores(sp.csr_matrix(P), yp, wp)
    want = knn_scores(sp.vstack([Xc, sp.csr_matrix(P)]).tocsr(), np.concatenate([yc, yp]), k=5,
                      sample_weight=np.concatenate([np.ones(60), wp]))
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
