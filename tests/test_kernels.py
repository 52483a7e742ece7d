"""The compiled coordinate-descent kernels against plain numpy / scipy references.

Primal and dual values are recomputed with numpy; single coordinate steps against the
exact maximiser of the one-dimensional dual (a concave quadratic on ``[0, U_i]``);
converged runs against the dual optimum scipy's L-BFGS-B finds and against the
optimality conditions written out in numpy.
"""
import numpy as np
import pytest
from scipy.optimize import minimize

from convexpoison import _kernels as K


def _svm_problem(rng, n=40, d=3):
    X = rng.standard_normal((n, d))
    y = np.where(X @ np.ones(d) + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    U = rng.uniform(0.05, 0.5, n)
    U[:3] = 0.0                                  # rows of weight zero take no part
    return np.ascontiguousarray(X), y, U


def _tilde(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _svm_values(X, y, U, alpha):
    """numpy: theta = sum alpha_i y_i (x_i, 1), primal 1/2|theta|^2 + sum U_i hinge_i and
    dual sum alpha - 1/2|theta|^2."""
    theta = _tilde(X).T @ (alpha * y)
    hinge = np.maximum(0.0, 1.0 - y * (_tilde(X) @ theta))
    return theta, 0.5 * theta @ theta + U @ hinge, alpha.sum() - 0.5 * theta @ theta


def test_svm_primal_dual_and_qdiag_match_numpy(rng):
    X, y, U = _svm_problem(rng)
    alpha = rng.uniform(0, 1, len(y)) * U
    theta, primal, dual = _svm_values(X, y, U, alpha)
    p, q = K._svm_primal_dual(X, y, U, alpha, theta)
    assert p == pytest.approx(primal, rel=1e-13) and q == pytest.approx(dual, rel=1e-13)
    assert np.allclose(K._qdiag(X), np.sum(_tilde(X) ** 2, axis=1), rtol=1e-14)
    # weak duality at any feasible alpha
    assert q <= p


def test_coordinate_step_is_the_exact_one_dimensional_maximiser(rng):
    X, y, U = _svm_problem(rng)
    alpha = rng.uniform(0, 1, len(y)) * U
    for i in (5, 11, 20, 33):
        a, theta = alpha.copy(), _svm_values(X, y, U, alpha)[0]
        K._coordinate_step(X, y, U, a, theta, K._qdiag(X), i)
        # only alpha_i moved, theta follows it, and the dual is maximal over alpha_i in [0, U_i]
        assert np.array_equal(np.delete(a, i), np.delete(alpha, i))
        assert np.allclose(theta, _svm_values(X, y, U, a)[0], atol=1e-13)
        grid = np.linspace(0, U[i], 2001)
        duals = []
        for t in grid:
            b = a.copy()
            b[i] = t
            duals.append(_svm_values(X, y, U, b)[2])
        assert _svm_values(X, y, U, a)[2] >= max(duals) - 1e-12
        assert 0 <= a[i] <= U[i]


def _scipy_svm_dual(X, y, U):
    """max sum alpha - 1/2 |Xt^T (alpha y)|^2 over 0 <= alpha <= U, by L-BFGS-B."""
    Z = _tilde(X) * y[:, None]

    def f(a):
        v = Z.T @ a
        return 0.5 * v @ v - a.sum(), Z @ v - 1.0

    res = minimize(f, np.zeros(len(y)), jac=True, method="L-BFGS-B",
                   bounds=list(zip(np.zeros(len(y)), U)), options={"ftol": 1e-15, "gtol": 1e-12,
                                                                  "maxiter": 10000})
    return -res.fun


@pytest.mark.parametrize("active_only", [False, True])
def test_svm_dcd_reaches_the_dual_optimum(rng, active_only):
    X, y, U = _svm_problem(rng)
    alpha, theta = np.zeros(len(y)), np.zeros(X.shape[1] + 1)
    if active_only:
        # shrinking kernel over every row, swept until no violation is left
        sweeps, pgmax = K.svm_dcd_active(X, y, U, alpha, theta, K._qdiag(X),
                                         np.arange(len(y)), 1e-12, 100000, 0)
        assert pgmax <= 1e-12 and sweeps < 100000
    else:
        epochs, p, q = K.svm_dcd(X, y, U, alpha, theta, 1e-12, 100000, 0)
        assert epochs < 100000 and p - q <= 1e-12 * p
    th, primal, dual = _svm_values(X, y, U, alpha)
    assert np.allclose(theta, th, atol=1e-12)              # theta kept consistent
    assert np.all((alpha >= 0) & (alpha <= U)) and np.all(alpha[U == 0] == 0)
    assert primal - dual <= 1e-9 * primal
    assert dual == pytest.approx(_scipy_svm_dual(X, y, U), rel=1e-8)


def test_svm_dcd_warm_start_keeps_the_optimum(rng):
    X, y, U = _svm_problem(rng)
    alpha, theta = np.zeros(len(y)), np.zeros(X.shape[1] + 1)
    K.svm_dcd(X, y, U, alpha, theta, 1e-12, 100000, 0)
    before = alpha.copy()
    epochs, p, q = K.svm_dcd(X, y, U, alpha, theta, 1e-12, 100000, 1)
    assert epochs == 0 and np.array_equal(alpha, before)  # nothing left to do


# ------------------------------------------------------------------- Crammer-Singer
def _cs_problem(rng, n=45, d=3, k=3):
    y = rng.integers(0, k, n)
    X = np.ascontiguousarray(rng.standard_normal((n, d)) + 1.5 * np.eye(k, d)[y])
    U = rng.uniform(0.05, 0.3, n)
    return X, y.astype(np.int64), U


def _cs_values(X, y, U, alpha):
    """numpy: W = alpha^T (X, 1); primal 1/2|W|^2 + sum U_i CS-loss_i; dual
    -(1/2|W|^2 + sum_i sum_{m != y_i} alpha_i^m)."""
    W = alpha.T @ _tilde(X)
    off = alpha.sum() - alpha[np.arange(len(y)), y].sum()
    return W, _cs_primal_at(W, X, y, U), -(0.5 * np.sum(W * W) + off)


def _cs_primal_at(W, X, y, U):
    """``1/2|W|^2 + sum_i U_i (max_m (1[m != y_i] + s_m) - s_y)`` with numpy."""
    S = _tilde(X) @ W.T
    n = len(y)
    delta = np.ones_like(S)
    delta[np.arange(n), y] = 0.0
    return 0.5 * np.sum(W * W) + U @ ((S + delta).max(axis=1) - S[np.arange(n), y])


def _cs_feasible(rng, y, U, k):
    """alpha_i^m <= U_i [m == y_i] with sum_m alpha_i^m = 0."""
    n = len(y)
    alpha = -rng.uniform(0, 1, (n, k)) * U[:, None] / k
    alpha[np.arange(n), y] = 0.0
    alpha[np.arange(n), y] = -alpha.sum(axis=1)
    return alpha


def test_cs_primal_dual_matches_numpy(rng):
    X, y, U = _cs_problem(rng)
    alpha = _cs_feasible(rng, y, U, 3)
    W, primal, dual = _cs_values(X, y, U, alpha)
    p, q = K._cs_primal_dual(X, y, U, alpha, np.ascontiguousarray(W))
    assert p == pytest.approx(primal, rel=1e-13) and q == pytest.approx(dual, rel=1e-13)
    assert q <= p                                           # weak duality


def test_cs_dcd_converges_to_a_certified_optimum(rng):
    k = 3
    X, y, U = _cs_problem(rng, k=k)
    alpha = np.zeros((len(y), k))
    W = np.zeros((k, X.shape[1] + 1))
    epochs, p, q = K.cs_dcd(X, y, U, alpha, W, 1e-12, 100000, 0)
    assert epochs < 100000
    Wn, primal, dual = _cs_values(X, y, U, alpha)
    assert np.allclose(W, Wn, atol=1e-12)                  # W kept consistent
    # dual feasibility, checked in numpy
    assert np.allclose(alpha.sum(axis=1), 0, atol=1e-12)
    cap = np.zeros_like(alpha)
    cap[np.arange(len(y)), y] = U
    assert np.all(alpha <= cap + 1e-15)
    assert p == pytest.approx(primal, rel=1e-12) and primal - dual <= 1e-9 * primal
    # no lower primal value around the returned W
    probe = np.random.default_rng(1)
    for _ in range(50):
        other = Wn + 0.05 * probe.standard_normal(Wn.shape)
        assert _cs_primal_at(other, X, y, U) >= primal - 1e-12
