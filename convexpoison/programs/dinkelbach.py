"""The Dinkelbach subproblem of the optimal Theorem 4.2 bound, one DPP program.

``max_theta num(theta) - t den(theta)`` (Suya et al. 2021, Theorem 4.2; the derivation in
docs/lower-bound.md and :mod:`convexpoison.certificates.optimal`) for clean data ``Dc``
(weights ``s``, total ``N``), a target ``theta_p``, hinge loss and ``R = 1/2 (|w|^2 +
b^2)``:

    num(theta) - t den(theta) = L(theta_p; Dc) - L(theta; Dc) + N C_R (R(theta_p) - R(theta))
                                - t (S + C_R (R(theta) - R(theta_p))),

for the package's default defender; for another (``defender``, docs/defender.md) ``N C_R``
is ``1/C`` and the ``t C_R`` term vanishes under scikit-learn's ``C`` on the sum, and ``R =
1/2 |w|^2`` with a free intercept (``-L(theta; Dc)`` still tends to ``-inf`` in ``|b|``
when both classes are present, so the maximum stays finite),

with ``S`` the epigraph variable of ``sup_{y, x in F_y} l(theta; x, y) - l(theta_p; x, y)``,
written per label as ``max`` of piece A (jointly convex in ``(theta, mu_y)`` through the
support function of ``F_y``, :meth:`convexpoison.feasible.FeasibleSet.support_function`)
and piece B (a constant ``kappa_y``, bounded once by :func:`piece_b_bound`).  ``t`` is a
``cp.Parameter`` (DPP): the program is built once and re-solved for every ``t_k``.
"""
from __future__ import annotations

import numpy as np

from .. import solvers
from ..feasible import as_feasible

__all__ = ["DinkelbachSubproblem", "piece_b_bound"]

LABELS = (-1, 1)


def piece_b_bound(feasible, target, label, onehot=True) -> float:
    """Upper bound on piece B, ``sup_{x in F_y} -max(0, 1 - y s_p(x))`` over the convex
    hull of ``F_y``: ``-max(0, min_x 1 - y s_p(x))`` with the minimum's tolerance-accounted
    lower bound (one LP, or an SOCP with L2 / SVD components)."""
    import cvxpy as cp

    fs = as_feasible(feasible)
    x = fs.hull_variable("x_kappa")
    cons = fs.hull_constraints(x, label, onehot=onehot)
    prob = cp.Problem(cp.Minimize(1 - label * (target.w @ x + target.b)), cons)
    info = solvers.solve(prob, "SOCP" if fs.conic else "LP")
    return -max(0.0, info.lower_bound())


class DinkelbachSubproblem:
    """``max_theta num(theta) - t den(theta)`` for clean data ``(X, y, s)`` and ``target``.

    Building it bounds piece B (``kappa``, two small programs solved once).  Attributes:
    ``problem`` (the ``cvxpy.Problem``; variables ``w``, ``b``, ``sup``, ``mu_p``,
    ``mu_m``), ``t`` (the Parameter), ``w``, ``b``, ``kappa`` (label -> piece-B bound) and
    ``kind`` ('SOCP' with L2 / SVD components, else 'QP').
    """

    def __init__(self, feasible, reg, X, y, s, target, onehot=True, defender=None):
        import cvxpy as cp

        from .regularizer import RegTerms, hinge_defender

        self.feasible = fs = as_feasible(feasible)
        self.kind = "SOCP" if fs.conic else "QP"
        self.kappa = {lab: piece_b_bound(fs, target, lab, onehot) for lab in LABELS}
        d = X.shape[1]
        T = RegTerms(hinge_defender(defender, reg, "the Dinkelbach subproblem"))
        C = T.per_poison
        w = cp.Variable(d, name="w")
        b = cp.Variable(name="b")
        t = cp.Parameter(nonneg=True, name="t")
        S = cp.Variable(name="sup")               # epigraph of the sup in den
        cons = []
        wp, bp = np.asarray(target.w, float), float(target.b)
        for label in LABELS:
            mu = cp.Variable(name=f"mu_{'p' if label > 0 else 'm'}", bounds=[0.0, 1.0])
            g = label * (mu * wp - w)
            sig, extra = fs.support_function(label, g, onehot=onehot)
            cons += extra
            cons += [S >= (1 - mu) - label * b + label * bp * mu + sig,
                     S >= self.kappa[label]]
        margins = cp.multiply(y.astype(float), X @ w + b)
        loss = s @ cp.pos(1 - margins)
        R = (0.5 * (cp.sum_squares(w) + cp.square(b)) if T.penalize_intercept
             else 0.5 * cp.sum_squares(w))
        Np = float(s.sum())
        Lp = float(s @ target.losses(X, y))
        Rp = T.R(target)
        A = T.clean_coef(Np)
        # num - t den = Lp - L + A (Rp - R) - t (S + C (R - Rp)),  A = N C_R or 1/C
        if T.average:
            obj = (Lp + A * Rp - loss - A * R
                   - t * S - C * (t * R) + (C * Rp) * t)
        else:                       # C on the sum: no regulariser term in den
            obj = Lp + A * Rp - loss - A * R - t * S
        prob = cp.Problem(cp.Maximize(obj), cons)
        solvers.assert_dpp(prob, "Dinkelbach subproblem")
        self.problem, self.t, self.w, self.b = prob, t, w, b
        t.value = 0.0

    def solve(self, t, solver=None, **options):
        """Solve at ``t`` (clipped at 0); returns the :class:`~convexpoison.solvers.SolveInfo`
        (the maximiser is in ``w.value``, ``b.value``)."""
        self.t.value = max(t, 0.0)
        return solvers.solve(self.problem, self.kind, solver=solver, **options)
