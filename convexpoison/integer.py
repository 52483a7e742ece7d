"""Integer inputs: LP relaxation of the L2 defense, randomised rounding, repeated points.

Koh et al. (2021) section 3.3 (after Steinhardt et al. 2017); docs/integer.md.  Attacks work
with continuous points; on a domain with integer coordinates (pixel intensities, word
counts, one-hot categories) the continuous poison is turned into integer poison in three
steps, usable by every attack:

1. **LP relaxation of the L2 sphere** (equations (5)-(8)).  Randomised rounding keeps the
   mean, ``E[x^] = x``, but raises the squared norm: by Jensen a continuous ``x`` inside
   the sphere ``||x - mu_y|| <= tau_y`` rounds to points outside it on average.  The
   attack therefore constrains the *expected* squared distance after rounding,

       E||x^ - mu||^2 = sum_i f(x_i) - 2 <x, mu> + ||mu||^2 <= tau^2,           (5), (8)

   with ``f(x) = E[x^^2]``, equation (6).  For ``x`` in ``[k, k+1]`` the rounding gives
   ``k + 1`` with probability ``x - k``, so ``E[x^^2] = (x - k)(k + 1)^2 + (k + 1 - x) k^2
   = (2k + 1) x - k (k + 1)``: ``f`` interpolates ``x^2`` linearly between consecutive
   integers, is convex, and equals the maximum of those lines (equation (7)):

       f(x) = max_k (2k + 1) x - k (k + 1).

   (REFERENCE-NOTES writes the same family as ``(2k - 1) x - k (k - 1)`` with ``k``
   counted from 1; both index the chord of ``x^2`` over ``[k, k+1]``.)  Each line agrees
   with ``f`` on its interval and lies below it elsewhere, so over a coordinate's range
   ``[lo_i, hi_i]`` the lines ``k = floor(lo_i) .. ceil(hi_i) - 1`` give ``f`` exactly
   (the paper's "first M terms" with ``M_i`` the largest value of coordinate ``i``).
   With an epigraph variable ``t_i >= (2k+1) x_i - k(k+1)`` the constraint is linear
   (:class:`ExpectedL2Sphere`; continuous coordinates keep their ``x_i^2``, a second-order
   cone).  On integer points ``f(x) = x^2``: the relaxed constraint *is* the sphere.

2. **Randomised rounding** (:func:`randomized_round`): ``x^_i = ceil(x_i)`` with
   probability ``x_i - floor(x_i)``, else ``floor(x_i)``; a one-hot group draws its
   category with probabilities ``x_g`` (same mean ``E[x^] = x``, and a valid one-hot
   vector).  The generator is seeded (``random_state``) -- Koh et al.'s code ignored its
   seed argument (REFERENCE-NOTES §2).

3. **Repeated points** (:func:`integerize`): ``r`` copies of every rounded point, i.e.
   ``eps N / r`` roundings instead of ``eps N``, which keeps the attack concentrated
   against the k-NN defense while preserving ``E[x^]`` (the paper uses ``r`` = 2 or 3).
"""
from __future__ import annotations

import numpy as np

from .domain import Domain
from .errors import InputError
from .feasible import FeasibleSet, L2OnDomain, L2Sphere, _cp, _mul
from .poisons import PoisonSet

__all__ = ["expected_square", "expected_sq_distance", "square_pieces", "expected_square_constraints",
           "ExpectedL2Sphere", "relax_for_rounding", "randomized_round", "integerize",
           "unique_rows"]


# ------------------------------------------------------------------ the function f
def expected_square(x) -> np.ndarray:
    """``f(x) = E[x^^2]`` under randomised rounding, equation (6): ``x (ceil + floor) - ceil floor``."""
    x = np.asarray(x, float)
    lo, hi = np.floor(x), np.ceil(x)
    return x * (lo + hi) - lo * hi


def expected_sq_distance(x, mu, integer=None) -> np.ndarray:
    """``E||x^ - mu||^2`` when the ``integer`` coordinates of ``x`` are randomly rounded
    (all coordinates when ``integer`` is None); the others stay as they are.

    ``x`` may be one point (d,) or rows (n, d); equation (5) with ``E[x^_i^2] = f(x_i)``.
    """
    x = np.asarray(x, float)
    mu = np.asarray(mu, float)
    m = np.ones(x.shape[-1], bool) if integer is None else np.asarray(integer, bool)
    sq = np.where(m, expected_square(x), x ** 2)
    return sq.sum(axis=-1) - 2 * (x @ mu) + mu @ mu


def square_pieces(lo, hi, integer=None):
    """The lines of equation (7) that matter on ``[lo_i, hi_i]``: arrays ``(index, k)``.

    For every integer coordinate ``i`` (all when ``integer`` is None) the pieces
    ``k = floor(lo_i) .. ceil(hi_i) - 1`` (at least one), so that
    ``max_k (2k+1) x_i - k(k+1) = f(x_i)`` for every ``x_i`` in the range.
    """
    lo = np.asarray(lo, float).ravel()
    hi = np.asarray(hi, float).ravel()
    idx = np.flatnonzero(np.ones(lo.size, bool) if integer is None else np.asarray(integer, bool))
    first = np.floor(lo[idx]).astype(np.int64)
    last = np.maximum(np.ceil(hi[idx]).astype(np.int64) - 1, first)
    counts = last - first + 1
    rows = np.repeat(idx, counts)
    start = np.repeat(first, counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, (start + offset).astype(float)


def expected_square_constraints(x, t, lo, hi, integer, scale=None) -> list:
    """Linear constraints ``t_j >= f(x_{i_j})`` for the integer coordinates ``i_j`` of ``x``.

    ``t`` is an expression of one entry per integer coordinate (in index order).  With
    ``scale`` (a non-negative parameter-free scalar ``gamma``) the perspective
    ``t_j >= (2k+1) x_i - k(k+1) gamma`` describes ``gamma`` times the set.
    """
    cp = _cp()
    integer = np.asarray(integer, bool)
    rows, k = square_pieces(lo, hi, integer)
    pos = np.full(integer.size, -1)
    pos[np.flatnonzero(integer)] = np.arange(integer.sum())
    const = k * (k + 1)
    rhs = cp.multiply(2 * k + 1, x[rows])
    rhs = rhs - (const if scale is None else scale * const)
    return [t[pos[rows]] >= rhs]


# ------------------------------------------------------------- the relaxed sphere
class ExpectedL2Sphere(L2OnDomain, L2Sphere):
    """The L2 defense's sphere in the LP relaxation of equation (8).

    Same score, centroids and thresholds as :class:`~convexpoison.feasible.L2Sphere` (it
    *is* the L2 defense, so its name is ``"l2"``); only the cvxpy constraint differs:

        sum_{i integer} t_i + sum_{i continuous} x_i^2 - 2 mu_y . x + (||mu_y||^2 - tau_y^2) <= 0,
        t_i >= (2k + 1) x_i - k (k + 1)   for the pieces of :func:`square_pieces`,

    i.e. ``E||x^ - mu_y||^2 <= tau_y^2`` after randomised rounding of the integer
    coordinates.  A linear program when every coordinate is integer.  ``||mu_y||^2 -
    tau_y^2`` is a Parameter of its own, so the constraint is DPP and, with ``scale``,
    its perspective (``quad_over_lin`` for the continuous part) is too.
    """

    def _set_constraint_params(self):
        self._domain_of_fit()
        for lab, mu in self.centroids_.items():
            self._param((lab, "mu"), (self.d_,)).value = mu
            tau = max(self.thresholds_[lab], 0.0)
            self._param((lab, "tau"), nonneg=True).value = tau
            self._param((lab, "c")).value = float(mu @ mu - tau ** 2)

    def expected_sq_distance(self, X, y) -> np.ndarray:
        """``E||x^ - mu_y||^2`` of rows ``X`` (labels ``y``) after rounding."""
        X = np.atleast_2d(np.asarray(X, float))
        y = np.broadcast_to(np.asarray(y), (X.shape[0],))
        return np.array([expected_sq_distance(x, self.centroids_[int(v)], self.domain.integer)
                         for x, v in zip(X, y)])

    def _constraints(self, x, y, scale):
        cp = _cp()
        dom = self.domain
        mu, c = self._params[(y, "mu")], self._params[(y, "c")]
        integer = dom.integer
        cont = np.flatnonzero(~integer)
        cons, lhs = [], 0
        if integer.any():
            n_int = int(integer.sum())
            kw = {}
            if scale is None:
                # bounds on the epigraph variable (bounded variables keep cvxpy 1.9's
                # LP/MILP interfaces exact: docs/interactive.md, "Solver facts")
                lo, hi = dom.lo[integer], dom.hi[integer]
                top = np.maximum(lo ** 2, hi ** 2)
                bot = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(lo ** 2, hi ** 2))
                kw["bounds"] = [bot, top + 1.0]
            t = cp.Variable(n_int, name=f"l2lp_t_{y}", **kw)
            cons += expected_square_constraints(x, t, dom.lo, dom.hi, integer, scale)
            lhs = cp.sum(t)
        if cont.size:
            xc = x[cont]
            lhs = lhs + (cp.sum_squares(xc) if scale is None else cp.quad_over_lin(xc, scale))
        lhs = lhs - 2 * (mu @ x) + _mul(scale, c)
        cons.append(lhs <= 0)
        return cons


def relax_for_rounding(feasible: FeasibleSet, domain: Domain | None = None) -> FeasibleSet:
    """``feasible`` with every plain L2 sphere replaced by its LP relaxation (8).

    The other components are shared, not copied.  A domain without integer coordinates
    returns ``feasible`` unchanged.
    """
    dom = feasible.domain if domain is None else domain
    if dom is None or not dom.has_integers:
        return feasible
    comps = [ExpectedL2Sphere.from_sphere(c, dom)
             if isinstance(c, L2Sphere) and not isinstance(c, ExpectedL2Sphere) else c
             for c in feasible.components]
    return FeasibleSet(comps)


# ------------------------------------------------------------------------ rounding
def unique_rows(key):
    """``np.unique(key, axis=0, return_index=True, return_inverse=True)`` for wide rows.

    The same rows in the same (lexicographic) order, the first occurrence of each and the
    inverse map, but sorted on the columns where the rows differ only: ``np.unique``
    with ``axis=0`` builds a structured type of one field per column, which takes
    minutes on text rows of 10^5 - 10^6 words.  ``-0.0`` counts as ``0.0``, as in
    ``np.unique``.
    """
    key = np.ascontiguousarray(np.asarray(key, float) + 0.0)
    n = key.shape[0]
    if n == 0:
        return key.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64)
    cols = np.flatnonzero((key != key[:1]).any(axis=0))
    K = key[:, cols]
    # lexsort's last key is the primary one; it is stable, so each group starts with
    # its first occurrence (np.unique's return_index)
    order = np.lexsort(K.T[::-1]) if cols.size else np.arange(n)
    Ks = K[order]
    start = np.concatenate([[True], (Ks[1:] != Ks[:-1]).any(axis=1)])
    group = np.cumsum(start) - 1
    inverse = np.empty(n, np.int64)
    inverse[order] = group
    first = order[start]
    return key[first], first, inverse


def _rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def randomized_round(X, domain: Domain, random_state=None, snap=1e-9) -> np.ndarray:
    """Randomised rounding of the integer coordinates of rows ``X`` (section 3.3, step 2).

    Each integer coordinate outside the one-hot groups becomes ``ceil(x_i)`` with
    probability ``x_i - floor(x_i)`` and ``floor(x_i)`` otherwise; each one-hot group draws
    one category with probabilities proportional to ``x_g`` (its entries are clipped to
    ``[0, 1]``).  Both keep the mean: ``E[x^] = x``.  Continuous coordinates are returned
    unchanged.  Points are first clipped to the box, and values within ``snap`` of an
    integer are taken as that integer (solver round-off), so the result is integral and
    inside ``domain`` (integer coordinates end in ``[ceil(lo), floor(hi)]``).
    """
    if not isinstance(domain, Domain):
        raise InputError(f"domain: expected a convexpoison Domain, got {type(domain).__name__}")
    X = np.atleast_2d(np.asarray(X, float))
    if X.shape[1] != domain.d:
        raise InputError(f"X: {X.shape[1]} features but the domain has {domain.d}")
    if not np.all(np.isfinite(X)):
        raise InputError("X: contains NaN or inf")
    rng = _rng(random_state)
    X = domain.clip(X)
    out = X.copy()
    in_group = np.zeros(domain.d, bool)
    for g in domain.onehot_groups:
        in_group[g] = True
    cols = np.flatnonzero(domain.integer & ~in_group)
    if cols.size:
        Z = X[:, cols]
        near = np.rint(Z)
        Z = np.where(np.abs(Z - near) <= snap, near, Z)
        fl = np.floor(Z)
        up = rng.random(Z.shape) < (Z - fl)
        R = fl + up
        lo, hi = np.ceil(domain.lo[cols] - snap), np.floor(domain.hi[cols] + snap)
        out[:, cols] = np.clip(R, lo, hi)
    for g in domain.onehot_groups:
        P = np.clip(X[:, g], 0.0, 1.0)
        s = P.sum(axis=1, keepdims=True)
        P = np.where(s > 0, P / np.where(s > 0, s, 1.0), 1.0 / g.size)
        u = rng.random((X.shape[0], 1))
        pick = np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), g.size - 1)
        out[:, g] = 0.0
        out[np.arange(X.shape[0]), g[pick]] = 1.0
    return out


def integerize(poisons: PoisonSet, domain: Domain, repeat=2, random_state=None) -> PoisonSet:
    """Integer poison from continuous poison: randomised rounding with repeated points.

    Each row with ``c`` copies becomes ``ceil(c / repeat)`` independent roundings of it,
    each with ``repeat`` copies (the last with the remainder), so the total number of
    poison points and the expected mean of every row are unchanged (section 3.3,
    "Repeated points").  Identical rounded rows of the same label are merged.  Copy
    counts must be whole numbers.  A domain without integer coordinates returns the poison
    set clipped to the box.
    """
    if not isinstance(poisons, PoisonSet):
        raise InputError("poisons: expected a PoisonSet")
    r = int(repeat)
    if r != repeat or r < 1:
        raise InputError(f"repeat: copies of each rounded point must be a positive integer, "
                         f"got {repeat!r}")
    ps = poisons.check_dimension(domain.d).compact()
    if len(ps) == 0:
        return ps
    if not domain.has_integers:
        return PoisonSet(domain.clip(ps.X), ps.y, ps.weight, dict(ps.meta))
    copies = np.rint(ps.weight)
    if not np.allclose(copies, ps.weight, atol=1e-9):
        raise InputError("poisons: randomised rounding with repeated points needs whole copy counts")
    rng = _rng(random_state)
    rows, labels, weights = [], [], []
    for x, y, c in zip(ps.X, ps.y, copies.astype(int)):
        m = -(-c // r)
        w = np.full(m, float(r))
        w[-1] = c - r * (m - 1)
        rows.append(randomized_round(np.repeat(x[None, :], m, axis=0), domain, rng))
        labels.append(np.full(m, y))
        weights.append(w)
    X, y, w = np.vstack(rows), np.concatenate(labels), np.concatenate(weights)
    # merge identical rounded rows of one label (concentration is what the k-NN defense sees)
    key = np.hstack([y[:, None].astype(float), X])
    uniq, _, inv = unique_rows(key)
    merged = np.zeros(uniq.shape[0])
    np.add.at(merged, inv.ravel(), w)
    meta = dict(ps.meta)
    meta.update({"rounded": True, "repeat": r})
    return PoisonSet(uniq[:, 1:], uniq[:, 0].astype(int), merged, meta)
