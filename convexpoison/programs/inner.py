"""The inner maximiser of the min-max attack: the highest-loss feasible point.

Koh et al. (2021) section 4.3.1 and Algorithm 5 (Steinhardt et al. 2017); docs/minmax.md.
Every step of the min-max attack needs

    (x~, y~) in argmax_{y, x in F_y} l(theta; x, y).

**Binary margin losses** (hinge, logistic): ``l = c(-y s(x))`` with ``c`` increasing, so
per label the maximiser minimises the margin ``y s(x) = y (w . x + b)`` -- the convex
program after equation (21),

    minimise_x  y w . x     subject to  x in F_y,

an LP over a box or polytope, an SOCP with the L2 sphere or the SVD residual; the label
with the smallest margin wins.

**Multi-class** (Crammer--Singer, labels 0..k-1): ``l = max(0, max_{k != y} 1 + s_k(x) -
s_y(x))``, a maximum of affine functions, so the maximum over ``x`` is the largest of
``max_{x in F_y} (w_k - w_y) . x + 1 + b_k - b_y`` over the pairs ``(y, k != y)``: one
program per label ``y`` with the direction ``w_k - w_y`` as its Parameter, re-solved for
every competing class ``k`` (section 5.7: the attack chooses the labels itself).

**The decoy constraint** (equation (22), section 4.3.2): with decoy parameters
``theta_d`` the points must also have ``l(theta_d; x, y) <= tau`` (``tau = 0.25``,
Appendix B.3).  For a binary hinge decoy this is the linear constraint
``1 - y (w_d . x + b_d) <= tau`` (:class:`~convexpoison.feasible.LossBound` with a fixed
``tau``); for a Crammer--Singer decoy ``1 + (w_dk - w_dy) . x + b_dk - b_dy <= tau`` for
every ``k != y``.

Each program is built once per label with ``theta`` (and the decoy) as ``cp.Parameter``s
(DPP) and re-solved at every step.  Integer coordinates are relaxed: the caller uses the
LP relaxation of :mod:`convexpoison.integer` and rounds the result.

**Fast path.**  When ``F_y`` is a box, or a box intersected with the L2 sphere, and there
is no decoy, the maximiser has a closed form (box: a vertex) or an exact ``O(d log d)``
solution (:func:`box_ball_argmax`: ``x(t) = clip(mu + t g, lo, hi)`` with ``t`` found
on the sorted breakpoints so that ``||x - mu|| = tau``).  ``method="auto"`` uses it
(the multi-class attack on MNIST needs 90 programs per step); ``method="cvxpy"`` always
solves the programs.

**Integer fast path.**  On an all-integer box with the LP relaxation of the sphere
(:class:`~convexpoison.integer.ExpectedL2Sphere`), optionally the slab and a binary decoy
constraint, ``method="auto"`` solves the LP exactly without a solver
(:class:`IntegerSphereSteps`: a fractional knapsack over unit steps of the coordinates,
a one-variable dual for one active half-space, HiGHS over the steps for more); docs/minmax.md.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import solvers
from ..errors import InputError, SolverFailure
from ..feasible import DomainSet, FeasibleSet, L2Sphere, LossBound
from ..losses import Hinge, Logistic, SquaredHinge

__all__ = ["InnerResult", "InnerMaximizer", "box_ball_argmax", "margin_loss",
           "IntegerSphereSteps", "integer_sphere_argmax"]

#: Margin losses of the binary models the attack supports.
MARGIN_LOSSES = {"svm": Hinge(), "logreg": Logistic(), "l2svm": SquaredHinge()}


def margin_loss(model_kind):
    try:
        return MARGIN_LOSSES[model_kind]
    except KeyError:
        raise InputError(f"model: the inner maximiser supports svm, logreg, l2svm and multisvm, "
                         f"got {model_kind!r}") from None


# --------------------------------------------------------------------- fast path
def box_ball_argmax(g, lo, hi, mu, tau):
    """``argmax g . x`` over ``{lo <= x <= hi, ||x - mu|| <= tau}`` (``mu`` in the box).

    Lagrange: for a multiplier ``1/t`` of the ball, the box maximiser of
    ``g . x - ||x - mu||^2 / (2t)`` is ``x(t) = clip(mu + t g, lo, hi)``, and
    ``phi(t) = ||x(t) - mu||`` is non-decreasing (each coordinate moves away from ``mu``
    until it hits its bound).  If the vertex ``x(inf)`` is inside the ball it is optimal;
    otherwise the optimum is ``x(t*)`` with ``phi(t*) = tau`` (complementary slackness),
    found exactly: between consecutive breakpoints ``t_i = (bound_i - mu_i) / g_i``,
    ``phi(t)^2 = C + t^2 G`` (``C`` the clipped coordinates' squares, ``G`` the free
    coordinates' ``g_i^2``).  Returns ``x`` (d,).
    """
    g = np.asarray(g, float)
    mu = np.asarray(mu, float)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    tau = float(tau)
    bound = np.where(g > 0, hi, np.where(g < 0, lo, mu))
    vertex = np.where(g != 0, bound, mu)
    if tau <= 0:
        return mu.copy()
    if np.sum((vertex - mu) ** 2) <= tau ** 2:
        return vertex
    nz = g != 0
    gap = bound[nz] - mu[nz]                   # signed distance to the bound, same sign as g
    tb = gap / g[nz]                           # breakpoints (>= 0)
    order = np.argsort(tb, kind="stable")
    tb, gap2, g2 = tb[order], gap[order] ** 2, g[nz][order] ** 2
    # before breakpoint j: coordinates order[:j] are clipped, the rest free
    C = np.concatenate([[0.0], np.cumsum(gap2)])              # clipped part, j = 0..m
    G = np.concatenate([[g2.sum()], g2.sum() - np.cumsum(g2)])
    G = np.maximum(G, 0.0)
    # phi^2 at each breakpoint tb[j] (coordinates 0..j clipped, others free)
    phi2 = C[1:] + tb ** 2 * G[1:]
    j = int(np.searchsorted(phi2, tau ** 2, side="left"))    # first breakpoint past tau
    # on the segment ending at tb[j], coordinates order[:j] are clipped
    if G[j] <= 0:
        t = tb[min(j, tb.size - 1)]
    else:
        t = np.sqrt(max(tau ** 2 - C[j], 0.0) / G[j])
    return np.clip(mu + t * g, lo, hi)


# ------------------------------------------------- fast path: integer LP relaxation
class IntegerSphereSteps:
    """The LP relaxation of the L2 sphere on an all-integer box as unit steps (one label).

    On integer coordinates with integer bounds the relaxed sphere of
    :class:`~convexpoison.integer.ExpectedL2Sphere` (Koh et al. eq. (8)),
    ``sum_j f(x_j) - 2 mu.x <= tau^2 - |mu|^2`` with ``f`` the chord interpolation of
    ``x^2`` at the integers (eq. (7)), is a separable convex constraint whose pieces are
    linear between consecutive integers.  Start from ``x0`` = the integer point nearest
    ``mu`` (in the box), the minimiser of its left-hand side; every move of a coordinate
    by one unit, ``k -> k + 1`` (up) or ``k + 1 -> k`` (down), then costs the chord slope
    ``2k + 1 - 2 mu_j`` (up) or ``2 mu_j - 2k - 1`` (down), ``>= 0`` and increasing away
    from ``x0``, against the budget ``B = tau^2 - |x0 - mu|^2`` (``f = x^2`` at integers).
    A point is ``x = x0 + sum_s sign_s z_s e_{j_s}`` with ``z_s in [0, 1]``; costs being
    convex per coordinate, any ``z`` maps to a feasible ``x`` of equal objective (a
    cheaper step can always replace a dearer one of the same coordinate), so
    ``max g.x`` over the box and the relaxed sphere is a fractional knapsack over the
    steps (no sphere: ``B = inf``).  Built once per label: only the gains depend on ``g``.

    Coordinates with ``lo = hi`` (words never seen in training) have no steps: the
    methods take and return vectors over the ``free`` coordinates only (:meth:`expand`
    puts ``x0`` back around them), so a step costs O(free + steps), not O(d).
    """

    def __init__(self, lo, hi, mu=None, tau=None):
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        self.d = lo.size
        if mu is None:
            x0 = lo.copy()
            self.budget = np.inf
        else:
            mu = np.asarray(mu, float)
            x0 = np.clip(np.floor(mu + 0.5), lo, hi)
            self.budget = float(tau) ** 2 - float(np.sum((x0 - mu) ** 2))
        self.x0 = x0
        self.free = np.flatnonzero(hi > lo)
        F = self.free
        self.x0f = x0[F]
        up = (hi[F] - x0[F]).astype(np.int64)
        down = (x0[F] - lo[F]).astype(np.int64)
        pos = np.arange(F.size)
        ju, ku = _ranges(pos, x0[F], up, +1)
        jd, kd = _ranges(pos, x0[F] - 1, down, -1)
        self.j = np.concatenate([ju, jd])
        self.sign = np.concatenate([np.ones(ju.size), -np.ones(jd.size)])
        if mu is None:
            self.cost = np.zeros(self.j.size)
        else:
            muf = mu[F]
            # chord slopes of x^2 - 2 mu x on [k, k+1]; round-off can make the first ~ -1e-16
            self.cost = np.maximum(np.concatenate([2 * ku + 1 - 2 * muf[ju],
                                                   2 * muf[jd] - 2 * kd - 1]), 0.0)

    def expand(self, xf) -> np.ndarray:
        """The full point: ``xf`` on the free coordinates, ``x0`` (= ``lo = hi``) elsewhere."""
        x = self.x0.copy()
        x[self.free] = xf
        return x

    def point(self, z) -> np.ndarray:
        return self.x0f + np.bincount(self.j, weights=self.sign * z, minlength=self.free.size)

    def knapsack(self, gf) -> np.ndarray:
        """``argmax g.x`` over the box and the relaxed sphere (free coordinates): the steps
        in decreasing order of gain per unit cost, the last one taken fractionally (the
        exact LP optimum)."""
        gain = self.sign * np.asarray(gf, float)[self.j]
        z = np.zeros(self.j.size)
        pos = np.flatnonzero(gain > 0)
        if not np.isfinite(self.budget):
            z[pos] = 1.0
            return self.point(z)
        cost = self.cost[pos]
        with np.errstate(divide="ignore"):
            ratio = np.where(cost > 0, gain[pos] / np.where(cost > 0, cost, 1.0), np.inf)
        take, frac_at, frac = _fill(ratio, cost, self.budget)
        z[pos[take]] = 1.0
        if frac_at is not None:
            z[pos[frac_at]] = frac
        return self.point(z)

    def linprog(self, gf, Af, cf):
        """``argmax g.x`` with the extra half-spaces ``A x <= c`` (free coordinates): the
        knapsack with ``len(c)`` more rows, an LP over the steps (HiGHS); None when
        infeasible."""
        from scipy.optimize import linprog

        gf = np.asarray(gf, float)
        Af = np.asarray(Af, float)
        rows = [Af[:, self.j] * self.sign]
        rhs = [np.asarray(cf, float) - Af @ self.x0f]
        if np.isfinite(self.budget):
            rows.insert(0, self.cost[None, :])
            rhs.insert(0, [self.budget])
        res = linprog(-(self.sign * gf[self.j]), A_ub=np.vstack(rows), b_ub=np.concatenate(rhs),
                      bounds=(0.0, 1.0), method="highs")
        if res.status == 2:
            return None
        if res.status != 0:
            raise SolverFailure(f"the integer inner LP did not solve: {res.message}",
                                solver="highs", status=str(res.status))
        return self.point(np.clip(res.x, 0.0, 1.0))


def _fill(ratio, cost, budget):
    """The fractional knapsack's choice: ``(take, at, frac)`` -- the items taken whole, the
    one taken in part (or None) and its fraction -- filling ``budget`` in decreasing
    ``ratio``.  A weighted selection (quickselect on the ratio: each round keeps the half
    holding the cut) in O(n) expected, instead of sorting every item each time."""
    idx = np.arange(ratio.size)
    taken = []
    left = float(budget)
    while idx.size:
        r = ratio[idx]
        if idx.size <= 64:
            return _fill_in_order(idx[np.argsort(-r, kind="stable")], cost, left, taken)
        pivot = np.partition(r, r.size // 2)[r.size // 2]
        above = r > pivot
        c_above = float(cost[idx[above]].sum())
        if c_above > left:
            idx = idx[above]                     # the cut is among the larger ratios
            continue
        taken.append(idx[above])
        left -= c_above
        at = r == pivot
        c_at = float(cost[idx[at]].sum())
        if c_at > left:                          # the cut is inside the tie at the pivot
            return _fill_in_order(idx[at], cost, left, taken)
        taken.append(idx[at])
        left -= c_at
        idx = idx[r < pivot]
    return (np.concatenate(taken) if taken else np.zeros(0, np.int64)), None, 0.0


def _fill_in_order(order, cost, left, taken):
    """:func:`_fill`'s end: the items ``order`` taken in that order until ``left`` runs out."""
    cum = np.cumsum(cost[order])
    n = int(np.searchsorted(cum, left, side="right"))
    taken.append(order[:n])
    if n < order.size:
        rest = left - (cum[n - 1] if n else 0.0)
        return np.concatenate(taken), int(order[n]), min(max(rest / cost[order[n]], 0.0), 1.0)
    return np.concatenate(taken), None, 0.0


def _ranges(idx, start, counts, step):
    """``(index, k)``: ``counts_i`` entries ``start_i, start_i + step, ...`` per index."""
    counts = np.maximum(counts, 0)
    total = int(counts.sum())
    rows = np.repeat(idx, counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(start, counts) + step * offset


def integer_sphere_argmax(g, lo, hi, mu=None, tau=None, A=None, c=None):
    """``argmax g.x`` over the integer box's LP relaxation with the relaxed L2 sphere
    (``mu``, ``tau``; None: no sphere) and the half-spaces ``A x <= c`` (optional).

    Exact for the LP relaxation (:class:`IntegerSphereSteps`).  Returns ``x``, or None
    when the set is empty.
    """
    st = IntegerSphereSteps(lo, hi, mu, tau)
    return _integer_argmax(st, g, A, c)


def _integer_argmax(st, g, A=None, c=None, tol=1e-9):
    """The optimum over ``st``'s set and ``A x <= c``: the knapsack when the half-spaces
    are inactive; one violated half-space by :func:`_one_halfspace` (exact when the
    others then hold: it solves a relaxation); otherwise the LP over the steps."""
    if st.budget < 0:
        return None                            # the relaxed sphere misses the integer box
    F = st.free
    gf = np.asarray(g, float)[F]
    x = st.knapsack(gf)
    if A is None or len(c) == 0:
        return st.expand(x)
    A = np.asarray(A, float)
    c = np.asarray(c, float)
    slack = tol * (1.0 + np.abs(c))
    # the half-spaces on the free coordinates (the fixed ones sit at x0)
    cf = c - (A @ st.x0 - A[:, F] @ st.x0f)
    Af = A[:, F]
    bad = np.flatnonzero(Af @ x > cf + slack)
    if bad.size == 0:
        return st.expand(x)                     # the relaxation's optimum is feasible
    if bad.size == 1:
        i = int(bad[0])
        x = _one_halfspace(st, gf, Af[i], cf[i], x, key=i)
        if x is None:
            return None
        if np.all(Af @ x <= cf + slack):
            return st.expand(x)
    x = st.linprog(gf, Af, cf)
    return None if x is None else st.expand(x)


def _one_halfspace(st, g, a, c, x0, rtol=1e-8, max_iter=200, key=None):
    """``argmax g.x`` over ``st``'s set and one half-space ``a.x <= c`` that its optimum
    ``x0`` violates.  The Lagrangian dual ``q(nu) = max (g - nu a).x + nu c`` is convex
    in ``nu >= 0`` with slope ``c - a.x(nu)`` (``x(nu)`` the knapsack of ``g - nu a``).
    A bracket ``nu_lo < nu_hi`` with ``a.x(nu_lo) > c >= a.x(nu_hi)`` is narrowed by
    regula falsi on the slope (Illinois variant: the slope is monotone and, over many
    small steps, close to linear), started around the last solve's multiplier (``theta``
    moves little between steps of the attack).  The primal point is the combination of
    ``x(nu_lo)`` and ``x(nu_hi)`` with ``a.x = c``; it stops when its value is within
    ``rtol`` of the dual bound ``min(q(nu_lo), q(nu_hi))`` (weak duality), so the value
    is exact to that tolerance.  None if the set is empty."""
    x_min = st.knapsack(-a)
    if a @ x_min > c + 1e-9 * (1.0 + abs(c)):
        return None                              # even the smallest a.x breaks the half-space

    def slope(nu):
        x = st.knapsack(g - nu * a)
        return x, float(a @ x - c)

    lo, x_lo, s_lo = 0.0, x0, float(a @ x0 - c)
    memo = st.__dict__.setdefault("last_nu", {})         # per half-space (``key``)
    prev = memo.get(key)
    if prev is not None and prev > 0:
        x, s = slope(prev)
        if s > 0:
            lo, x_lo, s_lo = prev, x, s
            hi = 2.0 * prev
        else:
            hi, x_hi, s_hi = prev, x, s
    else:
        hi = max(float(np.abs(g).max()) / max(float(np.abs(a).max()), 1e-300), 1e-300)
    if prev is None or prev <= 0 or s > 0:
        x_hi, s_hi = slope(hi)
        for _ in range(200):
            if s_hi <= 0:
                break
            lo, x_lo, s_lo, hi = hi, x_hi, s_hi, 2.0 * hi
            x_hi, s_hi = slope(hi)
        else:
            return x_min                         # numerically empty apart from x_min
    fl, fh, last = s_lo, s_hi, None
    for _ in range(max_iter):
        t = s_lo / (s_lo - s_hi) if s_lo > s_hi else 0.0      # weight of x_hi
        x = (1.0 - t) * x_lo + t * x_hi
        val = float(g @ x)
        bound = min(float(g @ x_lo) - lo * s_lo, float(g @ x_hi) - hi * s_hi)
        if bound - val <= rtol * (1.0 + abs(val)) or hi - lo <= 1e-15 * hi:
            break
        # false position on the slope; an end kept twice has its slope halved (Illinois)
        mid = lo + (hi - lo) * fl / (fl - fh) if fl > fh else 0.5 * (lo + hi)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        xm, sm = slope(mid)
        if sm == 0:
            x = xm                               # a.x = c at a maximiser: optimal
            break
        if sm > 0:
            lo, x_lo, s_lo, fl = mid, xm, sm, sm
            if last == "lo":
                fh *= 0.5
            last = "lo"
        else:
            hi, x_hi, s_hi, fh = mid, xm, sm, sm
            if last == "hi":
                fl *= 0.5
            last = "hi"
    memo[key] = 0.5 * (lo + hi)
    return x


# ------------------------------------------------------------------------ results
@dataclass
class InnerResult:
    """The highest-loss feasible point at ``theta`` and the values behind the choice.

    ``loss``: its loss at ``theta`` (the inner maximum, a primal value); ``values``: the
    best value per label (binary: the loss; multi-class: ``max_k 1 + s_k - s_y``);
    ``competitor``: the class ``k`` that attains the multi-class maximum (None if binary).
    """

    x: np.ndarray
    y: int
    loss: float
    values: dict = field(default_factory=dict)
    competitor: int | None = None
    n_solves: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------- the maximiser
class InnerMaximizer:
    """``max_{y, x in F_y} l(theta; x, y)`` as DPP programs built once (module docstring).

    Parameters
    ----------
    feasible : a fitted :class:`~convexpoison.feasible.FeasibleSet` (``F_y``; use
        :func:`convexpoison.integer.relax_for_rounding` for integer domains).
    labels : the labels to search: (-1, +1) for binary models, 0..k-1 for ``multisvm``.
    model : 'svm' (hinge), 'logreg' (logistic) or 'multisvm' (Crammer--Singer).
    decoy : decoy parameters (``.w``, ``.b``) for the constraint (22), or None.
    tau : its threshold (0.25 in Koh et al.).
    method : 'auto' (fast path when it applies) or 'cvxpy'.
    solver : the conic solver (default: :mod:`convexpoison.solvers`'s choice).
    """

    def __init__(self, feasible: FeasibleSet, labels=(-1, 1), model="svm", decoy=None,
                 tau=0.25, method="auto", solver=None):
        if not isinstance(feasible, FeasibleSet):
            raise InputError("feasible: expected a fitted FeasibleSet")
        self.feasible = feasible
        self.d = feasible.d
        self.model = model
        self.labels = [int(v) for v in labels]
        if len(self.labels) < 2:
            raise InputError("labels: the inner maximiser needs at least two labels")
        self.multiclass = model == "multisvm"
        if self.multiclass:
            if sorted(self.labels) != list(range(len(self.labels))):
                raise InputError("labels: a multi-class model needs labels 0..k-1")
        else:
            margin_loss(model)
            if sorted(self.labels) != [-1, 1]:
                raise InputError("labels: a binary model needs labels -1, +1")
        self.k = len(self.labels)
        if method not in ("auto", "cvxpy"):
            raise InputError(f"method: expected 'auto' or 'cvxpy', got {method!r}")
        self.solver = solver
        self.tau = float(tau)
        if not np.isfinite(self.tau) or self.tau < 0:
            raise InputError(f"tau: the decoy loss threshold must be non-negative, got {tau!r}")
        self.decoy = decoy
        self._check_decoy(decoy)
        self.fast = method == "auto" and decoy is None and self._fast_applies()
        # the integer LP relaxation (box, relaxed sphere, slab, binary decoy): unit steps
        self.integer_fast = (method == "auto" and not self.fast
                             and self._integer_fast_applies(decoy))
        self._steps = {}
        self._programs = {}
        self._empty = set()               # labels whose feasible set is proven empty
        if not (self.fast or self.integer_fast):
            self._build()

    # -- set-up ----------------------------------------------------------------
    def _check_decoy(self, decoy):
        if decoy is None:
            return
        try:
            w = np.asarray(decoy.w, float)
            b = np.asarray(decoy.b, float)
        except AttributeError:
            raise InputError("decoy: expected a linear model with .w and .b") from None
        want = (self.k, self.d) if self.multiclass else (self.d,)
        if w.shape != want or b.shape != (want[:1] if self.multiclass else ()):
            raise InputError(f"decoy: expected w of shape {want} for this model, got {w.shape}")

    def _fast_applies(self) -> bool:
        comps = self.feasible.components
        dom = self.feasible.domain
        if dom is None or dom.onehot_groups:
            return False
        kinds = [type(c) for c in comps]
        return (set(kinds) <= {DomainSet, L2Sphere} and DomainSet in kinds
                and kinds.count(L2Sphere) <= 1)

    def _integer_fast_applies(self, decoy) -> bool:
        """Whether :class:`IntegerSphereSteps` applies: an all-integer box with integer
        bounds, at most one relaxed L2 sphere (:class:`~convexpoison.integer.ExpectedL2Sphere`)
        and one slab, and no decoy or a binary one (its constraint is a half-space)."""
        from ..feasible import Slab
        from ..integer import ExpectedL2Sphere

        dom = self.feasible.domain
        if dom is None or dom.onehot_groups or not np.all(dom.integer):
            return False
        if decoy is not None and self.multiclass:
            return False
        bounds = np.concatenate([dom.lo, dom.hi])
        if not (np.all(np.isfinite(bounds)) and np.all(bounds == np.round(bounds))):
            return False
        kinds = [type(c) for c in self.feasible.components]
        return (set(kinds) <= {DomainSet, ExpectedL2Sphere, Slab} and DomainSet in kinds
                and kinds.count(ExpectedL2Sphere) <= 1 and kinds.count(Slab) <= 1)

    def _integer_parts(self, lab):
        """``(steps, A, c)`` of label ``lab`` on the integer fast path: the unit steps of the
        box and relaxed sphere, and the half-spaces of the slab and the binary decoy."""
        from ..feasible import Slab

        if lab not in self._steps:
            dom = self.feasible.domain
            sph = [c for c in self.feasible.components if isinstance(c, L2Sphere)]
            mu, rad = ((sph[0].centroids_[lab], max(sph[0].thresholds_[lab], 0.0)) if sph
                       else (None, None))
            rows, rhs = [], []
            for comp in self.feasible.components:
                if isinstance(comp, Slab):
                    # |v.(x - mu_y)| <= s as two half-spaces
                    v, s = comp.directions_[lab], max(comp.thresholds_[lab], 0.0)
                    vm = float(v @ comp.centroids_[lab])
                    rows += [v, -v]
                    rhs += [s + vm, s - vm]
            self._steps[lab] = (IntegerSphereSteps(dom.lo, dom.hi, mu, rad), rows, rhs)
        st, rows, rhs = self._steps[lab]
        rows, rhs = list(rows), list(rhs)
        if self.decoy is not None:
            # equation (22): 1 - y (w_d.x + b_d) <= tau
            rows.append(-lab * np.asarray(self.decoy.w, float))
            rhs.append(self.tau - 1.0 + lab * float(self.decoy.b))
        if not rows:
            return st, None, None
        return st, np.vstack(rows), np.asarray(rhs, float)

    def _build(self):
        import cvxpy as cp

        fs = self.feasible
        if self.decoy is not None and not self.multiclass:
            # equation (22) through the feasible-set component (a fixed tau for both labels)
            self._decoy_comp = LossBound(self.decoy, tau=self.tau)
        for lab in self.labels:
            x = fs.variable(f"x_{lab}")
            g = cp.Parameter(self.d, name=f"direction_{lab}")
            cons = fs.constraints(x, lab)
            if self.decoy is not None:
                cons += self._decoy_constraints(x, lab)
            prob = cp.Problem(cp.Maximize(g @ x), cons)
            solvers.assert_dpp(prob, f"inner maximiser (label {lab})")
            kind = "LP" if prob.is_lp() else "SOCP"
            self._programs[lab] = (prob, x, g, kind)

    def program(self, label):
        """``(problem, x)``: the cvxpy program ``max direction_label . x`` over ``F_label``
        (and the decoy set) without solving it; its Parameter ``direction_<label>`` is the
        direction (``-y w`` for a binary model, ``w_k - w_y`` for Crammer--Singer).  On the
        fast path the programs are built on this first request (the maximiser itself keeps
        using the closed form)."""
        lab = int(label)
        if lab not in self.labels:
            raise InputError(f"label: expected one of {self.labels}, got {label!r}")
        if not self._programs:
            self._build()
        prob, x, _, _ = self._programs[lab]
        return prob, x

    def kind(self, label):
        """The problem class ('LP' or 'SOCP') of :meth:`program` ``(label)``."""
        self.program(label)
        return self._programs[int(label)][3]

    def describe(self, label):
        """A readable summary of :meth:`program` ``(label)``
        (:func:`convexpoison.programs.summary.describe`)."""
        from .summary import describe

        return describe(self.program(label), kind=self.kind(label), solver=self.solver,
                        title=f"inner maximiser, label {int(label):+d}")

    def _decoy_constraints(self, x, lab):
        import cvxpy as cp

        if not self.multiclass:
            return self._decoy_comp.constraints(x, lab)
        # Crammer-Singer decoy loss <= tau: 1 + (w_dk - w_dy) . x + b_dk - b_dy <= tau, k != y
        W = np.asarray(self.decoy.w, float)
        b = np.asarray(self.decoy.b, float)
        others = [k for k in self.labels if k != lab]
        D = cp.Parameter((len(others), self.d), name=f"decoy_dir_{lab}")
        e = cp.Parameter(len(others), name=f"decoy_off_{lab}")
        D.value = W[others] - W[lab]
        e.value = b[others] - b[lab]
        self._decoy_params = getattr(self, "_decoy_params", {})
        self._decoy_params[lab] = (D, e, others)
        tau = cp.Parameter(nonneg=True, name=f"decoy_tau_{lab}")
        tau.value = self.tau
        return [1 + D @ x + e <= tau]

    def set_decoy(self, decoy):
        """Swap the decoy in place (the programs stay compiled)."""
        if decoy is None or self.decoy is None:
            raise InputError("decoy: set_decoy only swaps one decoy for another (build a new "
                             "maximiser to add or remove the constraint)")
        self._check_decoy(decoy)
        self.decoy = decoy
        if not self.multiclass:
            if hasattr(self, "_decoy_comp"):      # built programs (not on the fast paths)
                self._decoy_comp.set_model(decoy)
        else:
            W = np.asarray(decoy.w, float)
            b = np.asarray(decoy.b, float)
            for lab, (D, e, others) in getattr(self, "_decoy_params", {}).items():
                D.value = W[others] - W[lab]
                e.value = b[others] - b[lab]
        self._empty = set()
        return self

    # -- one linear maximisation ------------------------------------------------
    def argmax_linear(self, lab, direction):
        """``(x, value)`` maximising ``direction . x`` over ``F_lab`` (and the decoy set);
        ``(None, -inf)`` when that set is empty (a decoy constraint can empty a label)."""
        direction = np.asarray(direction, float)
        if self.fast:
            dom = self.feasible.domain
            comps = [c for c in self.feasible.components if isinstance(c, L2Sphere)]
            if not comps:                      # a box: the best vertex
                x = np.where(direction > 0, dom.hi, dom.lo)
            else:
                sph = comps[0]
                x = box_ball_argmax(direction, dom.lo, dom.hi, sph.centroids_[lab],
                                    sph.thresholds_[lab])
            return x, float(direction @ x)
        if self.integer_fast:
            st, A, c = self._integer_parts(lab)
            x = _integer_argmax(st, direction, A, c)
            if x is None:
                return None, -np.inf
            return x, float(direction @ x)
        return self._solve_general(lab, direction)

    def _solve_general(self, lab, direction):
        """``(x, value)``, or ``(None, -inf)`` when ``F_lab`` (with the decoy set) is empty."""
        if lab in self._empty:
            return None, -np.inf
        prob, x, g, kind = self._programs[lab]
        g.value = direction
        try:
            info = solvers.solve(prob, kind, solver=self.solver)
        except SolverFailure as exc:
            if exc.status != "infeasible":
                raise
            # the constraints do not depend on theta: the label stays empty until the
            # decoy changes
            self._empty.add(lab)
            return None, -np.inf
        if x.value is None:
            raise SolverFailure("the inner maximiser returned no point", solver=info.solver,
                                status=info.status)
        xv = np.asarray(x.value, float)
        dom = self.feasible.domain
        if dom is not None:
            xv = np.clip(xv, dom.lo, dom.hi)
        return xv, float(info.value)

    # -- the maximiser ---------------------------------------------------------
    def maximize(self, w, b) -> InnerResult:
        """The highest-loss feasible point for the model ``(w, b)``."""
        t0 = time.perf_counter()
        w = np.asarray(w, float)
        b = np.asarray(b, float)
        best, values, n = None, {}, 0
        if not self.multiclass:
            loss = margin_loss(self.model)
            if w.shape != (self.d,):
                raise InputError(f"w: expected shape ({self.d},), got {w.shape}")
            for lab in self.labels:
                x, val = self.argmax_linear(lab, -lab * w)
                n += 1
                if x is None:
                    continue
                margin = lab * float(b) - val         # y s(x) = y b + y w.x
                lv = float(loss.value(margin))
                values[lab] = lv
                if best is None or lv > best[2]:
                    best = (x, lab, lv, None)
        else:
            if w.shape != (self.k, self.d):
                raise InputError(f"w: expected shape ({self.k}, {self.d}), got {w.shape}")
            for lab in self.labels:
                top = None
                for k in self.labels:
                    if k == lab:
                        continue
                    x, val = self.argmax_linear(lab, w[k] - w[lab])
                    n += 1
                    if x is None:
                        break                             # F_lab is empty
                    v = 1.0 + float(b[k] - b[lab]) + val
                    if top is None or v > top[1]:
                        top = (x, v, k)
                if top is None:
                    continue
                values[lab] = top[1]
                if best is None or top[1] > best[2]:
                    best = (top[0], lab, top[1], top[2])
        if best is None:
            why = " under the decoy constraint (try a larger tau)" if self.decoy is not None else ""
            raise InputError("feasible: every label's feasible set is empty" + why)
        x, lab, val, comp = best
        lossval = max(0.0, val) if self.multiclass else val
        return InnerResult(x=x, y=lab, loss=lossval, values=values, competitor=comp,
                           n_solves=n, seconds=time.perf_counter() - t0)
