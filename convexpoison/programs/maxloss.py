"""Max-loss-difference search and the loss-based distance (docs/maxloss.md).

Suya et al. (2021), Algorithm 1 line 4, picks the poison point

    (x*, y*) = argmax_{y, x in F_y}  l(theta_1; x, y) - l(theta_2; x, y)

between the current model ``theta_1 = theta_t`` and the target ``theta_2 = theta_p``; the
maximum is the loss-based distance ``D(theta_1, theta_2)`` of their Definition 1, the
stopping rule of Algorithm 1 and the ``sup`` in the denominator of Theorem 4.2.

Hinge loss (the exact programs)
-------------------------------
With ``a(x) = 1 - y s_1(x)`` and ``c(x) = 1 - y s_2(x)`` (both affine in ``x``)

    max(0, a) - max(0, c) = max( a - max(0, c),  -max(0, c) )          (piece A, piece B)

because ``max(0, a) = max(a, 0)`` and subtracting ``max(0, c)`` distributes over the max.
Both pieces are concave in ``x``, so per label the maximum is the larger of two convex
programs: an LP over a box or polytope, an SOCP when an L2 sphere or SVD residual is part
of ``F_y`` (docs/maxloss.md).  The difference is *not* non-negative in general (for instance
when ``theta_2`` has larger losses everywhere), and piece B is what makes the value exact
then: it is ``-max(0, min_x c)``.  Suya et al.'s code solves the same two cases as
LPs restricted to ``y s_1 <= 1 <= y s_2`` and ``y s_1, y s_2 <= 1`` (REFERENCE-NOTES §1);
the two-piece form covers all four sign patterns without case constraints.

Pure boxes have a closed form (docs/lower-bound.md).  ``a - max(0, c) = min_{mu in [0,1]} a - mu c``
and, the box and ``[0, 1]`` being compact convex sets and ``a - mu c`` bilinear, the
minimax theorem swaps ``sup_x`` and ``min_mu``:

    sup_{x in box} a - max(0,c) = min_{mu in [0,1]} g(mu),
    g(mu) = (1 - y b_1) - mu (1 - y b_2) + sum_j max(lo_j k_j(mu), hi_j k_j(mu)),
    k_j(mu) = -y w1_j + mu y w2_j.

``g`` is convex and piecewise linear with a kink where ``k_j(mu_j) = 0``; its slope jumps
by ``(hi_j - lo_j) |w2_j|`` there.  Sorting the kinks in ``(0, 1)`` and accumulating the
jumps gives the first point where the right slope is ``>= 0`` -- the exact minimiser --
in ``O(d log d)``.  A maximising ``x`` sits at ``hi`` or ``lo`` by the sign of
``k_j(mu*)``; the coordinates whose kink is at ``mu*`` are free and are set so that
``c(x) = 0`` (``mu*`` interior), ``c(x) <= 0`` (``mu* = 0``) or ``c(x) >= 0`` (``mu* = 1``),
which is possible exactly because ``0`` lies in the subdifferential of ``g`` at ``mu*``.
``g(mu*)`` is at the same time the primal value at that ``x`` and, by weak duality,
an upper bound; the reported ``upper_bound`` adds a floating-point rounding allowance.
This is the fast path MTP calls thousands of times at ``d = 784``.

Integer coordinates (digits17's pixels, adult's one-hot groups): ``integer="exact"``
solves the mixed-integer LP (HiGHS, zero MIP gap, every variable bounded -- the solver
notes in convexpoison/solvers.py); ``integer="relax"`` solves the LP relaxation, an upper
bound that is valid for certificates, whose maximiser may be fractional (a heuristic point
for attacks).  With
``onehot=False`` the one-hot equalities are dropped, as in Suya et al.'s Adult runs.

Logistic loss
-------------
The logistic loss difference is not concave; :class:`LogisticMaxLoss` runs projected
Adam ascent from several seeded starts (REFERENCE-NOTES §1).  Its result is an *attack
heuristic only*: ``upper_bound`` is NaN and it must never feed a certificate.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import solvers
from ..errors import InputError, SolverFailure
from ..feasible import DomainSet, L2Sphere, SVDResidual, as_feasible
from ..validation import check_binary_model

__all__ = ["MaxLossResult", "MaxLossDifference", "LogisticMaxLoss", "max_loss_difference",
           "loss_distance", "box_max_loss_difference"]

_EPS = np.finfo(float).eps


@dataclass
class MaxLossResult:
    """The maximiser of ``l(theta_1; x, y) - l(theta_2; x, y)`` and a proven bound.

    Attributes
    ----------
    x, y : the point and label with the largest attained ``value`` over the labels.
    value : ``l(theta_1; x, y) - l(theta_2; x, y)`` recomputed in numpy at ``x`` (attained
        by ``x``; with a relaxation ``x`` may be fractional).
    upper_bound : proven ``>=`` the true maximum over all labels (closed form plus a
        rounding allowance, a solver value with its tolerance accounted for, or a proven
        MILP bound).  NaN for the logistic heuristic.
    exact : ``x`` lies in the (integer) feasible set and ``value`` matches
        ``upper_bound`` up to tolerance, i.e. ``value`` is the maximum.
    solver, status, seconds : how it was computed.
    per_label : label -> ``(value, upper_bound)``.
    points : label -> the maximiser found for that label.
    """

    x: np.ndarray
    y: int
    value: float
    upper_bound: float
    exact: bool
    solver: str
    status: str
    seconds: float
    per_label: dict = field(default_factory=dict)
    points: dict = field(default_factory=dict, repr=False)


# ------------------------------------------------------------------------ helpers
def _check_labels(labels):
    try:
        labs = tuple(int(v) for v in np.atleast_1d(labels))
    except (TypeError, ValueError):
        raise InputError(f"labels: expected labels among -1, +1, got {labels!r}") from None
    if not labs or any(v not in (-1, 1) for v in labs) or len(set(labs)) != len(labs):
        raise InputError(f"labels: expected distinct labels among -1, +1, got {labels!r}")
    return labs


def _hinge_diff(w1, b1, w2, b2, x, y):
    """``max(0, 1 - y s_1(x)) - max(0, 1 - y s_2(x))`` in numpy."""
    return max(0.0, 1.0 - y * (w1 @ x + b1)) - max(0.0, 1.0 - y * (w2 @ x + b2))


def _box_label(w1, b1, w2, b2, lo, hi, y):
    """Exact maximum over the box for one label: ``(value, bound, x)`` (module docstring).

    ``value`` is recomputed at ``x``; ``bound`` is ``max(g(mu*), -max(0, min c))`` plus a
    rounding allowance, so ``bound >= true maximum`` in floating point too.
    """
    p = -y * w1                      # a(x) = a0 + p.x
    q = y * w2                       # c(x) = c0 - q.x
    a0, c0 = 1.0 - y * b1, 1.0 - y * b2
    lo_q, hi_q = lo * q, hi * q
    smin, smax = np.minimum(lo_q, hi_q), np.maximum(lo_q, hi_q)
    nz = q != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = np.where(nz, -p / np.where(nz, q, 1.0), np.nan)   # k_j(kink_j) = 0
    # piece A: minimise the convex piecewise-linear g on [0, 1].  The slope of the term
    # max(lo k, hi k) is min(lo q, hi q) left of its kink and max(lo q, hi q) right of it.
    slope0 = -c0 + np.where(nz & (kink > 0), smin, smax).sum()   # right slope at mu = 0
    mu = 0.0
    if slope0 < 0:
        inner = np.flatnonzero(nz & (kink > 0) & (kink < 1))
        order = inner[np.argsort(kink[inner])]
        slopes = slope0 + np.cumsum((hi[order] - lo[order]) * np.abs(q[order]))
        up = np.flatnonzero(slopes >= 0)
        mu = float(kink[order[up[0]]]) if up.size else 1.0
    # maximiser of a - mu* c: hi where k_j(mu*) > 0, lo where < 0 (decided from the kinks,
    # exactly), the coordinates with their kink at mu* free
    free = nz & (kink == mu)
    positive = np.where(nz, np.where(q > 0, mu > kink, mu < kink), p > 0)
    x = np.where(positive, hi, lo)
    x_cmin, x_cmax = x.copy(), x.copy()          # corners of the free face minimising / maximising c
    x_cmin[free] = np.where(q[free] > 0, hi[free], lo[free])
    x_cmax[free] = np.where(q[free] > 0, lo[free], hi[free])
    if mu == 0.0:
        xa = x_cmin                              # needs c <= 0
    elif mu == 1.0:
        xa = x_cmax                              # needs c >= 0
    else:                                        # needs c = 0: interpolate along the face
        c_max, c_min = c0 - q @ x_cmax, c0 - q @ x_cmin
        t = min(max(c_max / (c_max - c_min), 0.0), 1.0) if c_max > c_min else 0.0
        xa = x_cmax + t * (x_cmin - x_cmax)
    k = p + mu * q
    terms = np.maximum(lo * k, hi * k)
    g_a = a0 - mu * c0 + terms.sum()
    # piece B: sup -max(0, c) = -max(0, min_box c), attained at the corner minimising c
    c_low = c0 - smax.sum()
    g_b = -max(0.0, c_low)
    xb = np.where(q > 0, hi, lo)
    va = _hinge_diff(w1, b1, w2, b2, xa, y)
    vb = _hinge_diff(w1, b1, w2, b2, xb, y)
    value, x = (va, xa) if va >= vb else (vb, xb)
    # rounding allowance for sums of d + 2 terms (a generous multiple of the textbook bound)
    mag = abs(a0) + abs(c0) + np.abs(terms).sum() + np.abs(smax).sum() + 1.0
    slack = 4.0 * (lo.size + 4) * _EPS * mag
    return value, max(g_a, g_b, value) + slack, x


def box_max_loss_difference(w1, b1, w2, b2, lo, hi, y):
    """Closed-form ``max_{lo <= x <= hi} hinge(w1, b1; x, y) - hinge(w2, b2; x, y)``.

    Returns ``(value, x)``: the maximum, attained at ``x`` (recomputed there; it equals
    the closed-form optimum up to rounding).  See the module docstring for the derivation.
    """
    w1 = np.asarray(w1, dtype=float).ravel()
    w2 = np.asarray(w2, dtype=float).ravel()
    d = w1.size
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (d,)).astype(float)
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (d,)).astype(float)
    if w2.size != d:
        raise InputError(f"w2: has {w2.size} coordinates, w1 has {d}")
    if np.any(lo > hi) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InputError("lo, hi: need finite bounds with lo <= hi")
    if y not in (-1, 1):
        raise InputError(f"y: expected -1 or +1, got {y!r}")
    value, _, x = _box_label(w1, float(b1), w2, float(b2), lo, hi, int(y))
    return value, x


# ----------------------------------------------------------------------- the programs
class MaxLossDifference:
    """``max_{y, x in F_y} hinge(theta_1; x, y) - hinge(theta_2; x, y)`` (docs/maxloss.md).

    Parameters
    ----------
    feasible : Domain or FeasibleSet
        ``F_y``.  A Domain (or a FeasibleSet holding only its DomainSet) is a box.
    labels : labels searched, among -1 and +1.
    integer : 'relax' (LP relaxation of integer coordinates: valid upper bound, possibly
        fractional maximiser) or 'exact' (mixed-integer LP, exact optimum).
    solver : solver name passed to :func:`convexpoison.solvers.solve` (default: its choice).
    method : 'auto' (closed form when ``F_y`` is a pure box after relaxation, else
        programs), 'closed-form' (error unless a pure box) or 'lp' (always cvxpy programs).
    onehot : impose the one-hot group equalities of the domain.

    The cvxpy programs (one per label and piece) are built once, on the first
    :meth:`solve`, with ``theta_1, theta_2`` as Parameters (DPP), and re-solved after.
    Refitting the feasible set's components updates their parameters in place; a refit
    that re-creates parameters (a dimension or SVD capacity change) triggers a rebuild.
    """

    def __init__(self, feasible, labels=(-1, 1), integer="relax", solver=None, method="auto",
                 onehot=True):
        self.feasible = as_feasible(feasible)
        self.labels = _check_labels(labels)
        if integer not in ("relax", "exact"):
            raise InputError(f"integer: expected 'relax' or 'exact', got {integer!r}")
        if method not in ("auto", "closed-form", "lp"):
            raise InputError(f"method: expected 'auto', 'closed-form' or 'lp', got {method!r}")
        self.integer, self.solver, self.onehot = integer, solver, bool(onehot)
        self.d = self.feasible.d
        self.domain = self.feasible.domain
        comps = self.feasible.components
        has_int = self.domain is not None and self.domain.has_integers
        self.milp_ = integer == "exact" and has_int
        self.relaxed_ = integer == "relax" and has_int
        box = (len(comps) == 1 and isinstance(comps[0], DomainSet)
               and not (self.onehot and comps[0].domain.onehot_groups) and not self.milp_)
        if method == "closed-form" and not box:
            raise InputError("method: the closed form needs a pure box (a Domain without one-hot "
                             "groups, integer coordinates relaxed, no defense components)")
        self.method_ = "closed-form" if box and method != "lp" else "lp"
        conic = any(isinstance(c, (L2Sphere, SVDResidual)) for c in comps)
        if self.milp_ and conic:
            raise InputError("integer: 'exact' needs a polyhedral feasible set (a MILP); the "
                             "l2/svd components make it a mixed-integer SOCP -- use 'relax'")
        self.kind_ = "MILP" if self.milp_ else ("SOCP" if conic else "LP")
        self._programs = {}
        self._params = None

    # -------------------------------------------------------------- building
    def _parameters(self):
        if self._params is None:
            import cvxpy as cp

            d = self.d
            self._params = {"w1": cp.Parameter(d, name="w1"), "b1": cp.Parameter(name="b1"),
                            "w2": cp.Parameter(d, name="w2"), "b2": cp.Parameter(name="b2")}
        return self._params

    def _key(self):
        return tuple((id(c), c._generation) for c in self.feasible.components)

    def program(self, label, piece):
        """The cvxpy problem for ``label`` and ``piece`` ('A': ``max a - max(0,c)``; 'B':
        ``min max(0, c)``) with its variable ``x`` -- built once, then reused."""
        import cvxpy as cp

        key = (int(label), piece, self._key())
        if key in self._programs:
            return self._programs[key]
        P = self._parameters()
        y = float(label)
        x = self._variable(f"x_{piece}")
        cons = []
        for comp in self.feasible.components:
            if isinstance(comp, DomainSet):
                cons += comp.domain.constraints(x, onehot=self.onehot)
            else:
                cons += comp.constraints(x, int(label))
        # t = max(0, c) through its epigraph; t is bounded below (t >= 0) and the domain
        # bounds x, which keeps cvxpy 1.9's bound propagation exact (the solver notes in convexpoison/solvers.py)
        t = cp.Variable(name=f"t_{piece}", nonneg=True)
        a = 1 - y * (P["w1"] @ x + P["b1"])
        c = 1 - y * (P["w2"] @ x + P["b2"])
        cons.append(t >= c)
        objective = cp.Maximize(a - t) if piece == "A" else cp.Minimize(t)
        prob = cp.Problem(objective, cons)
        solvers.assert_dpp(prob, f"max-loss-difference program (label {label:+d}, piece {piece})")
        self._programs[key] = (prob, x)
        return prob, x

    def describe(self, label=-1, piece="A"):
        """A readable summary of :meth:`program` ``(label, piece)`` (variables, parameters,
        constraints, solver): :func:`convexpoison.programs.summary.describe`.  With
        ``method_ == 'closed-form'`` :meth:`solve` uses the closed form instead."""
        from .summary import describe

        return describe(self.program(label, piece), kind=self.kind_, solver=self.solver,
                        title=f"max-loss difference, label {int(label):+d}, piece {piece}")

    def _variable(self, name):
        """``x`` with the domain's box as declared bounds (solver notes in convexpoison/solvers.py); integer coordinates
        integer for the MILP.  (Built here rather than by ``Domain.variable``, whose
        ``integer=[(j,), ...]`` index list cvxpy 1.9 rejects for a 1-D variable: it wants
        one tuple of index arrays, ``[(j1, j2, ...)]``.)"""
        import cvxpy as cp

        dom = self.domain
        if dom is None:
            return cp.Variable(self.d, name=name)
        kw = {"bounds": [dom.lo.copy(), dom.hi.copy()], "name": name}
        if self.milp_:
            kw["integer"] = [tuple(int(j) for j in np.flatnonzero(dom.integer))]
        return cp.Variable(self.d, **kw)

    # --------------------------------------------------------------- solving
    def solve(self, model1, model2) -> MaxLossResult:
        """Maximise ``hinge(model1) - hinge(model2)`` over the labels and ``F_y``."""
        t0 = time.perf_counter()
        w1, b1 = check_binary_model(model1, "model1", self.d)
        w2, b2 = check_binary_model(model2, "model2", self.d)
        per, points, used, statuses = {}, {}, set(), set()
        if self.method_ == "closed-form":
            dom = self.domain
            for y in self.labels:
                v, ub, x = _box_label(w1, b1, w2, b2, dom.lo, dom.hi, y)
                per[y], points[y] = (float(v), float(ub)), x
            used.add("closed-form")
            statuses.add("optimal")
        else:
            P = self._parameters()
            for name, val in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
                P[name].value = val
            for y in self.labels:
                v, ub, x, info = self._solve_label(w1, b1, w2, b2, y)
                per[y], points[y] = (float(v), float(ub)), x
                used.add(info.solver)
                statuses.add(info.status)
        y_best = max(self.labels, key=lambda v: per[v][0])
        value = per[y_best][0]
        bound = max(u for _, u in per.values())
        x = points[y_best]
        # (the MILP's bound carries the feasibility allowance of _solve_label: "exact"
        # means the value is the maximum up to that allowance too)
        allow = self._milp_allowance(w1, b1, w2, b2) if self.milp_ else 0.0
        exact = bool(self._in_set(x) and value >= bound - 1e-6 * max(1.0, abs(bound)) - allow)
        return MaxLossResult(x=x, y=int(y_best), value=float(value), upper_bound=float(bound),
                             exact=exact, solver="+".join(sorted(used)),
                             status="+".join(sorted(statuses)),
                             seconds=time.perf_counter() - t0, per_label=per, points=points)

    def _solve_label(self, w1, b1, w2, b2, y):
        opts = {}
        if self.milp_ and self.solver is not None and self.solver.upper() == "CBC":
            opts = {"allowableGap": 1e-9, "allowableFractionGap": 0.0}   # solve to zero gap
        prob_a, xa = self.program(y, "A")
        info_a = solvers.solve(prob_a, self.kind_, solver=self.solver, **opts)
        prob_b, xb = self.program(y, "B")
        info_b = solvers.solve(prob_b, self.kind_, solver=self.solver, **opts)
        # piece A is a maximisation: its tolerance-accounted upper bound; piece B's value is
        # -min t with t >= 0, so -max(0, lower bound on min t) bounds it from above
        ub = max(info_a.upper_bound(), -max(0.0, info_b.lower_bound()))
        if self.milp_:
            # a MILP solver meets its feasibility tolerance (HiGHS: 1e-6) on the row
            # t >= c, whose terms are of size |w| |x|, not of the (tiny, near theta_p)
            # difference: measured 1.3e-6 below the brute-force integer maximum
            # (test_certificates' harness, seed 189).  Widen by 10x that tolerance on the
            # rows' scale, so the bound stays above the true maximum.
            ub += self._milp_allowance(w1, b1, w2, b2)
        best = None
        for var in (xa, xb):
            if var.value is None:
                raise SolverFailure("the solver returned no point", solver=info_a.solver,
                                    status=info_a.status)
            x = self._clean(np.asarray(var.value, dtype=float))
            v = _hinge_diff(w1, b1, w2, b2, x, y)
            if best is None or v > best[0]:
                best = (v, x)
        return best[0], ub, best[1], info_a

    def _milp_allowance(self, w1, b1, w2, b2):
        """``1e-5 (1 + |b1| + |b2| + sum_j (|w1_j| + |w2_j|) max(|lo_j|, |hi_j|))``: ten times
        a MILP solver's feasibility tolerance on the scale of the margin rows."""
        dom = self.domain
        m = np.maximum(np.abs(dom.lo), np.abs(dom.hi)) if dom is not None else np.ones(self.d)
        return 1e-5 * (1.0 + abs(b1) + abs(b2) + float((np.abs(w1) + np.abs(w2)) @ m))

    def _clean(self, x):
        """Clip a solver's point to the box; round integer coordinates of a MILP solution."""
        dom = self.domain
        if dom is None:
            return x.copy()
        x = np.clip(x, dom.lo, dom.hi)
        if self.milp_:
            x[dom.integer] = np.round(x[dom.integer])
        return x

    def _in_set(self, x, tol=1e-7):
        """``x`` in the unrelaxed domain (integrality; one-hot sums when imposed)."""
        dom = self.domain
        if dom is None:
            return True
        if np.any(x < dom.lo - tol) or np.any(x > dom.hi + tol):
            return False
        xi = x[dom.integer]
        if np.any(np.abs(xi - np.round(xi)) > tol):
            return False
        if self.onehot:
            return all(abs(x[g].sum() - 1.0) <= tol for g in dom.onehot_groups)
        return True


# ------------------------------------------------------------------------ logistic
class LogisticMaxLoss:
    """Projected Adam ascent on ``logistic(theta_1) - logistic(theta_2)`` -- attack only.

    The objective is a difference of convex functions of ``x``, so ascent finds a local
    maximum: the result's ``upper_bound`` is NaN and ``exact`` is false; it is **never** a
    certificate (REFERENCE-NOTES §1: Suya et al.'s LR bound is invalid for this reason).
    Starts: the hinge closed-form maximiser (pure boxes) and ``n_starts`` uniform random
    points of the box, seeded by ``random_state``.  Projection: clipping on a pure box,
    else :meth:`FeasibleSet.project` (a QP per point and step: slow).  Integer coordinates
    are rounded at the end (one-hot groups set to their largest entry) when
    ``round_integers``.
    """

    def __init__(self, feasible, labels=(-1, 1), n_starts=10, max_iter=2000, lr=0.1,
                 tol=1e-7, random_state=0, round_integers=True):
        self.feasible = as_feasible(feasible)
        self.labels = _check_labels(labels)
        self.n_starts = int(n_starts)
        self.max_iter = int(max_iter)
        if self.n_starts < 1 or self.max_iter < 1:
            raise InputError("n_starts, max_iter: must be positive integers")
        self.lr, self.tol = float(lr), float(tol)
        self.random_state = random_state
        self.round_integers = round_integers
        self.d = self.feasible.d
        self.domain = self.feasible.domain
        comps = self.feasible.components
        self._box = len(comps) == 1 and isinstance(comps[0], DomainSet)

    def _project(self, X, y):
        if self._box:
            return np.clip(X, self.domain.lo, self.domain.hi)
        return self.feasible.project(X, y)

    @staticmethod
    def _f(w1, b1, w2, b2, X, y):
        return np.logaddexp(0.0, -y * (X @ w1 + b1)) - np.logaddexp(0.0, -y * (X @ w2 + b2))

    def _round(self, X):
        dom = self.domain
        if dom is None or not self.round_integers or not dom.has_integers:
            return X
        X = X.copy()
        X[:, dom.integer] = np.rint(X[:, dom.integer])
        for g in dom.onehot_groups:
            hot = np.argmax(X[:, g], axis=1)
            X[:, g] = 0.0
            X[np.arange(X.shape[0]), g[hot]] = 1.0
        return np.clip(X, dom.lo, dom.hi)

    def solve(self, model1, model2) -> MaxLossResult:
        from scipy.special import expit

        t0 = time.perf_counter()
        w1, b1 = check_binary_model(model1, "model1", self.d)
        w2, b2 = check_binary_model(model2, "model2", self.d)
        rng = np.random.default_rng(self.random_state)
        per, points = {}, {}
        for y in self.labels:
            if self.domain is not None:
                starts = rng.uniform(self.domain.lo, self.domain.hi, (self.n_starts, self.d))
            else:
                center = self.feasible.check_nonempty([y])[y]
                starts = center + 0.1 * rng.standard_normal((self.n_starts, self.d))
            if self._box:
                _, hx = box_max_loss_difference(w1, b1, w2, b2, self.domain.lo, self.domain.hi, y)
                starts = np.vstack([hx, starts])
            X = self._project(starts, y)
            f = self._f(w1, b1, w2, b2, X, y)
            best_f, best_X = f.copy(), X.copy()
            m, v = np.zeros_like(X), np.zeros_like(X)
            beta1, beta2, eps = 0.9, 0.999, 1e-8
            for it in range(1, self.max_iter + 1):
                s1, s2 = X @ w1 + b1, X @ w2 + b2
                G = (-y * expit(-y * s1))[:, None] * w1 + (y * expit(-y * s2))[:, None] * w2
                m = beta1 * m + (1 - beta1) * G
                v = beta2 * v + (1 - beta2) * G * G
                step = self.lr * (m / (1 - beta1 ** it)) / (np.sqrt(v / (1 - beta2 ** it)) + eps)
                X = self._project(X + step, y)
                f_new = self._f(w1, b1, w2, b2, X, y)
                better = f_new > best_f
                best_f[better], best_X[better] = f_new[better], X[better]
                done = np.max(np.abs(f_new - f)) < self.tol
                f = f_new
                if done:
                    break
            cand = self._round(best_X)
            vals = self._f(w1, b1, w2, b2, cand, y)
            i = int(np.argmax(vals))
            per[y], points[y] = (float(vals[i]), float("nan")), cand[i]
        y_best = max(self.labels, key=lambda lab: per[lab][0])
        return MaxLossResult(x=points[y_best], y=int(y_best), value=per[y_best][0],
                             upper_bound=float("nan"), exact=False, solver="adam",
                             status="heuristic", seconds=time.perf_counter() - t0,
                             per_label=per, points=points)


# ------------------------------------------------------------------------ functions
def _loss_of(model1, loss):
    if loss is None:
        loss = "logistic" if getattr(model1, "model", "svm") == "logreg" else "hinge"
    if loss not in ("hinge", "logistic"):
        raise InputError(f"loss: expected 'hinge' or 'logistic', got {loss!r}")
    return loss


def max_loss_difference(model1, model2, feasible, loss=None, **kw) -> MaxLossResult:
    """One-shot :class:`MaxLossDifference` (hinge) or :class:`LogisticMaxLoss` solve.

    ``loss`` defaults to 'logistic' when ``model1.model == 'logreg'``, else 'hinge'.  For
    repeated calls (MTP) build the class once: it keeps its compiled programs.
    """
    if _loss_of(model1, loss) == "logistic":
        return LogisticMaxLoss(feasible, **kw).solve(model1, model2)
    return MaxLossDifference(feasible, **kw).solve(model1, model2)


def loss_distance(model1, model2, feasible, sound=True, loss=None, **kw) -> float:
    """Loss-based distance ``D(theta_1, theta_2)`` of Suya et al. Definition 1.

    ``sound=True`` (default) returns the proven upper bound on the maximum -- what a
    certificate (Theorem 4.2's denominator) or a guaranteed stopping rule needs;
    ``sound=False`` returns the value attained by the maximiser found.  Both coincide up
    to tolerance for exact solves.  Logistic loss has no proven bound: it needs
    ``sound=False``.
    """
    if _loss_of(model1, loss) == "logistic" and sound:
        raise InputError("sound: the logistic max-loss difference is a heuristic with no proven "
                         "upper bound; pass sound=False for an attack-side estimate")
    res = max_loss_difference(model1, model2, feasible, loss=loss, **kw)
    return res.upper_bound if sound else res.value
