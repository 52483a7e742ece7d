"""Per-point losses of linear models, as margin functions (docs/training.md).

A binary loss is a function ``phi`` of the margin ``m = y * s(x)``, ``s(x) = w.x + b``:

* hinge            ``max(0, 1 - m)``
* logistic         ``log(1 + exp(-m))``
* smoothed hinge   ``delta * log(1 + exp((1 - m) / delta))`` -- a smooth upper
  approximation of the hinge used only where derivatives are needed (Koh et al.
  Appendix B.1; the influence attack).

Gradients follow from the chain rule: ``d/dw = phi'(m) y x``, ``d/db = phi'(m) y`` and
``d/dx = phi'(m) y w``.  The Crammer--Singer multi-class hinge is
``max_k (1[k != y] + s_k(x)) - s_y(x)``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .errors import InputError


class MarginLoss:
    """A convex, non-increasing function of the margin ``m = y s(x)``."""

    name = "margin"

    def value(self, m):
        raise NotImplementedError

    def derivative(self, m):
        """``phi'(m)`` (a subgradient for non-smooth losses)."""
        raise NotImplementedError

    def cvx(self, margin):
        """The loss of a cvxpy affine ``margin`` expression, as a convex cvxpy expression."""
        raise NotImplementedError

    # -- linear-model helpers ------------------------------------------------
    def margins(self, w, b, X, y):
        return y * (X @ w + b)

    def losses(self, w, b, X, y):
        """Per-point losses of the linear model ``(w, b)`` on rows ``X`` with labels ``y``."""
        return self.value(self.margins(w, b, X, y))

    def grad_theta(self, w, b, X, y, sample_weight=None):
        """Sum over points of ``weight * d loss / d(w, b)``, returned as ``(gw, gb)``."""
        g = self.derivative(self.margins(w, b, X, y)) * y
        if sample_weight is not None:
            g = g * sample_weight
        return X.T @ g, float(g.sum())


class Hinge(MarginLoss):
    name = "hinge"

    def value(self, m):
        return np.maximum(0.0, 1.0 - m)

    def derivative(self, m):
        return np.where(np.asarray(m) < 1.0, -1.0, 0.0)

    def cvx(self, margin):
        import cvxpy as cp

        return cp.pos(1 - margin)


class Logistic(MarginLoss):
    name = "logistic"

    def value(self, m):
        return np.logaddexp(0.0, -np.asarray(m, float))

    def derivative(self, m):
        return -expit(-np.asarray(m, float))

    def second_derivative(self, m):
        p = expit(-np.asarray(m, float))
        return p * (1 - p)

    def cvx(self, margin):
        import cvxpy as cp

        return cp.logistic(-margin)


class SquaredHinge(MarginLoss):
    """``max(0, 1 - m)^2``: LinearSVC's default loss (scikit-learn's ``squared_hinge``,
    liblinear's L2-loss SVM).  Smooth, with the generalised second derivative
    ``2 * 1{m < 1}``."""

    name = "squared_hinge"

    def value(self, m):
        r = np.maximum(0.0, 1.0 - np.asarray(m, float))
        return r * r

    def derivative(self, m):
        return -2.0 * np.maximum(0.0, 1.0 - np.asarray(m, float))

    def second_derivative(self, m):
        return np.where(np.asarray(m, float) < 1.0, 2.0, 0.0)

    def cvx(self, margin):
        import cvxpy as cp

        return cp.square(cp.pos(1 - margin))


class SmoothedHinge(MarginLoss):
    """``delta * log(1 + exp((1 - m)/delta))``; tends to the hinge as delta -> 0."""

    name = "smoothed-hinge"

    def __init__(self, delta=0.001):
        if not delta > 0:
            raise InputError(f"delta: the smoothing must be positive, got {delta!r}")
        self.delta = float(delta)

    def value(self, m):
        return self.delta * np.logaddexp(0.0, (1.0 - np.asarray(m, float)) / self.delta)

    def derivative(self, m):
        return -expit((1.0 - np.asarray(m, float)) / self.delta)

    def second_derivative(self, m):
        p = expit((1.0 - np.asarray(m, float)) / self.delta)
        return p * (1 - p) / self.delta

    def cvx(self, margin):
        import cvxpy as cp

        return self.delta * cp.logistic((1 - margin) / self.delta)


def multiclass_hinge(W, b, X, y):
    """Crammer--Singer loss ``max_k (1[k != y] + s_k) - s_y`` for each row (W: (k, d))."""
    S = X @ W.T + b
    n = S.shape[0]
    delta = np.ones_like(S)
    delta[np.arange(n), y] = 0.0
    return (S + delta).max(axis=1) - S[np.arange(n), y]
