"""The margin losses: closed forms, derivatives against finite differences, the cvxpy
expressions against the numpy values, and the Crammer--Singer loss against a plain loop."""
import cvxpy as cp
import numpy as np
import pytest

from convexpoison import InputError
from convexpoison.losses import Hinge, Logistic, SmoothedHinge, multiclass_hinge

SMOOTH = [Logistic(), SmoothedHinge(0.1), SmoothedHinge(0.01)]
ALL = [Hinge(), *SMOOTH]


def test_closed_forms():
    m = np.array([-2.0, 0.0, 0.5, 1.0, 3.0])
    assert np.array_equal(Hinge().value(m), [3.0, 1.0, 0.5, 0.0, 0.0])
    assert np.allclose(Logistic().value(m), np.log1p(np.exp(-m)), rtol=1e-14)
    assert Logistic().value(0.0) == pytest.approx(np.log(2), rel=1e-15)
    # no overflow far out: log(1 + e^1000) = 1000, log(1 + e^-1000) = e^-1000
    assert Logistic().value(-1000.0) == pytest.approx(1000.0, rel=1e-15)
    assert Logistic().value(1000.0) == pytest.approx(0.0, abs=1e-300)
    assert np.array_equal(Hinge().derivative(m), [-1.0, -1.0, -1.0, 0.0, 0.0])


@pytest.mark.parametrize("delta", [1.0, 0.1, 0.001])
def test_smoothed_hinge_is_an_upper_approximation_of_the_hinge(delta):
    # delta log(1 + e^{(1-m)/delta}) - max(0, 1-m) lies in (0, delta log 2], with the
    # maximum at the kink m = 1 (far from the kink the gap is below rounding)
    m = np.linspace(-5, 5, 2001)
    hinge = Hinge().value(m)
    gap = SmoothedHinge(delta).value(m) - hinge
    assert np.all(gap >= -1e-15 * (1 + hinge)) and np.all(gap <= delta * np.log(2) * (1 + 1e-12))
    assert SmoothedHinge(delta).value(1.0) == pytest.approx(delta * np.log(2), rel=1e-14)


@pytest.mark.parametrize("delta", [0.0, -1.0])
def test_smoothed_hinge_needs_a_positive_delta(delta):
    with pytest.raises(InputError, match="delta"):
        SmoothedHinge(delta)


@pytest.mark.parametrize("loss", SMOOTH, ids=lambda l: f"{l.name}")
def test_derivatives_match_finite_differences(loss):
    m = np.linspace(-3, 3, 61) + 0.013
    h = 1e-6
    fd = (loss.value(m + h) - loss.value(m - h)) / (2 * h)
    assert np.allclose(loss.derivative(m), fd, rtol=1e-6, atol=1e-8)
    fd2 = (loss.derivative(m + h) - loss.derivative(m - h)) / (2 * h)
    assert np.allclose(loss.second_derivative(m), fd2, rtol=1e-5, atol=1e-6)


def test_hinge_derivative_is_the_slope_away_from_the_kink():
    m = np.array([-2.0, 0.3, 0.99, 1.01, 4.0])
    h = 1e-4
    fd = (Hinge().value(m + h) - Hinge().value(m - h)) / (2 * h)
    assert np.allclose(Hinge().derivative(m), fd, atol=1e-12)


@pytest.mark.parametrize("loss", ALL, ids=lambda l: f"{l.name}")
def test_grad_theta_matches_finite_differences(rng, loss):
    n, d = 40, 3
    X = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    s = rng.integers(1, 4, n).astype(float)
    w, b = rng.standard_normal(d), 0.2

    def total(theta):
        return s @ loss.losses(theta[:d], theta[d], X, y)

    theta = np.append(w, b)
    if isinstance(loss, Hinge):
        # finite differences need the margins away from the kink
        assert np.min(np.abs(y * (X @ w + b) - 1)) > 1e-3
    h = 1e-6
    fd = np.array([(total(theta + h * e) - total(theta - h * e)) / (2 * h) for e in np.eye(d + 1)])
    gw, gb = loss.grad_theta(w, b, X, y, sample_weight=s)
    assert np.allclose(np.append(gw, gb), fd, rtol=1e-6, atol=1e-6)
    # without weights: every row once
    gw1, gb1 = loss.grad_theta(w, b, X, y)
    gw2, gb2 = loss.grad_theta(w, b, X, y, sample_weight=np.ones(n))
    assert np.allclose(gw1, gw2) and gb1 == pytest.approx(gb2)


@pytest.mark.parametrize("loss", ALL, ids=lambda l: f"{l.name}")
def test_cvxpy_expression_has_the_same_value(loss):
    m = np.array([-2.5, -0.1, 0.0, 0.7, 1.0, 2.2])
    expr = loss.cvx(cp.Constant(m))
    assert expr.is_convex()
    assert np.allclose(expr.value, loss.value(m), rtol=1e-9, atol=1e-12)


def test_multiclass_hinge_matches_a_loop(rng):
    n, d, k = 25, 4, 3
    X, W, b = rng.standard_normal((n, d)), rng.standard_normal((k, d)), rng.standard_normal(k)
    y = rng.integers(0, k, n)
    want = []
    for x, c in zip(X, y):
        s = W @ x + b
        want.append(max((0.0 if j == c else 1.0) + s[j] for j in range(k)) - s[c])
    got = multiclass_hinge(W, b, X, y)
    assert np.allclose(got, want, rtol=1e-13) and np.all(got >= 0)
    # with two classes it is the binary hinge of the score difference
    W2, b2 = W[:2], b[:2]
    y2 = rng.integers(0, 2, n)
    margin = np.where(y2 == 1, 1, -1) * (X @ (W2[1] - W2[0]) + b2[1] - b2[0])
    assert np.allclose(multiclass_hinge(W2, b2, X, y2), Hinge().value(margin), rtol=1e-13)
