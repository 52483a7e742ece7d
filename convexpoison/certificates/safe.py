"""Floating-point-safe bounds: lower bounds on linear programs that need no solver tolerance.

An interior-point solver's optimal value is only *approximately* optimal: its primal point
may violate constraints by the feasibility tolerance and its value may sit on either side
of the true optimum.  Weak duality turns *any* dual vector into a proven bound once the
arithmetic is done safely (Neumaier & Shcherbina, "Safe bounds in linear and mixed-integer
linear programming", Math. Programming 99, 2004, section 2): for

    min c.x   s.t.  A_eq x = b_eq,  A_ub x <= b_ub,  l <= x <= u

and any ``y`` (free on the equalities, ``nu >= 0`` on the inequalities), every feasible
``x`` satisfies ``c.x >= y.b_eq - nu.b_ub + sum_j min_{x_j in [l_j, u_j]} r_j x_j`` with
``r = c - A_eq^T y + A_ub^T nu``.  The solver's duals make this close to the optimum; the
inexactness of the duals only costs the (small) residual ``r`` on bounded variables --
nothing is assumed about the solver's accuracy.

Rounding.  Every sum below is evaluated in float64 and then widened by a rigorous bound on
its rounding error: a computed dot product of length ``n`` differs from the exact one by
at most ``gamma_n * sum |a_i b_i|`` with ``gamma_n = n u / (1 - n u)``, ``u = 2^-53``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. (3.5)).  We use
``2 (n + 2) u`` (a factor two over ``gamma_n`` for the products' own rounding and the
final subtraction) plus an underflow allowance, which is generous and cheap.  The inputs
(the LP's data as floats) are taken as exact: the bound is for the LP whose data are those
floats.
"""
from __future__ import annotations

import numpy as np

__all__ = ["UNIT_ROUNDOFF", "dot_err", "matvec", "box_min", "lp_safe_lower_bound", "lower",
           "upper"]

#: Unit roundoff of float64.
UNIT_ROUNDOFF = 2.0 ** -53
#: Allowance for underflow in one product (smallest normal float64 times a safety factor).
_TINY = 1e-290


def dot_err(n: int, abs_sum):
    """Rigorous bound on the rounding error of a computed length-``n`` dot product whose
    absolute terms sum to ``abs_sum`` (a scalar or an array of row sums)."""
    return 2.0 * (n + 2) * UNIT_ROUNDOFF * np.asarray(abs_sum, float) + (n + 1) * _TINY


def matvec(A, x):
    """``(A @ x, err)`` with ``|A @ x (exact) - A @ x (computed)| <= err`` elementwise.
    ``A`` may be a scipy.sparse matrix (text data: never densified); its error bound uses
    the full row length, an over-count of the stored terms, so it stays rigorous."""
    import scipy.sparse as sp

    if sp.issparse(A):
        x = np.asarray(x, float)
        val = np.asarray(A @ x, float)
        return val, dot_err(A.shape[-1], np.asarray(abs(A) @ np.abs(x), float))
    A = np.asarray(A, float)
    x = np.asarray(x, float)
    val = A @ x
    n = A.shape[-1] if A.ndim else 1
    return val, dot_err(n, np.abs(A) @ np.abs(x))


def lower(v, err=0.0):
    """A float below ``v - err`` (one more step down for the subtraction's own rounding)."""
    return np.nextafter(np.asarray(v, float) - err, -np.inf)


def upper(v, err=0.0):
    """A float above ``v + err``."""
    return np.nextafter(np.asarray(v, float) + err, np.inf)


def box_min(r, rerr, l, u):
    """A lower bound on ``sum_j min { r'_j x_j : x_j in [l_j, u_j], |r'_j - r_j| <= rerr_j }``.

    Infinite bounds are allowed where the coefficient interval does not change sign in
    the wrong direction; otherwise the bound is ``-inf`` (the dual vector proves nothing).
    """
    r = np.asarray(r, float)
    rerr = np.broadcast_to(np.asarray(rerr, float), r.shape)
    l = np.broadcast_to(np.asarray(l, float), r.shape)
    u = np.broadcast_to(np.asarray(u, float), r.shape)
    rlo, rhi = lower(r, rerr), upper(r, rerr)
    with np.errstate(invalid="ignore", over="ignore"):
        corners = np.stack([rlo * l, rlo * u, rhi * l, rhi * u])
    # 0 * inf is nan: that corner contributes 0 (a zero coefficient on an unbounded variable)
    corners = np.where(np.isnan(corners), 0.0, corners)
    terms = corners.min(axis=0)
    if np.any(terms == -np.inf):
        return -np.inf
    # each product was rounded (relative u) and the sum is rounded: widen downwards
    s = float(np.sum(terms))
    return float(lower(s, dot_err(terms.size, np.sum(np.abs(terms)))))


def lp_safe_lower_bound(c, l, u, A_eq=None, b_eq=None, y_eq=None, A_ub=None, b_ub=None,
                        nu_ub=None) -> float:
    """Neumaier--Shcherbina bound for ``min c.x, A_eq x = b_eq, A_ub x <= b_ub, l <= x <= u``.

    ``y_eq`` are multipliers of the equalities (any sign; the Lagrangian is
    ``c.x - y.(A_eq x - b_eq) + nu.(A_ub x - b_ub)``), ``nu_ub`` of the inequalities
    (negative entries are clipped to 0, which keeps the bound valid).  Returns a float
    that is ``<=`` the LP's exact optimum (``-inf`` when the multipliers prove nothing,
    e.g. a residual on an unbounded variable).  An infeasible LP has optimum ``+inf`` and
    the bound holds trivially.
    """
    c = np.asarray(c, float)
    r = c.copy()
    rerr = np.zeros_like(c)
    const, cerr = 0.0, 0.0
    if A_eq is not None and len(b_eq):
        y = np.asarray(y_eq, float)
        At = np.asarray(A_eq, float).T
        v, e = matvec(At, y)
        r, rerr = r - v, rerr + e
        bv, be = matvec(np.asarray(b_eq, float), y)
        const, cerr = const + float(bv), cerr + float(be)
    if A_ub is not None and len(b_ub):
        nu = np.clip(np.asarray(nu_ub, float), 0.0, None)
        At = np.asarray(A_ub, float).T
        v, e = matvec(At, nu)
        r, rerr = r + v, rerr + e
        bv, be = matvec(np.asarray(b_ub, float), nu)
        const, cerr = const - float(bv), cerr + float(be)
    # the additions of r and rerr were rounded too: widen rerr by a relative 4u
    rerr = upper(rerr + 4 * UNIT_ROUNDOFF * (np.abs(r) + np.abs(c)))
    m = box_min(r, rerr, l, u)
    if m == -np.inf:
        return -np.inf
    return float(lower(const + m, cerr + 4 * UNIT_ROUNDOFF * (abs(const) + abs(m))))
