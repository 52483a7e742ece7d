"""Equation (17) of Koh et al. (2021), the KKT attack's program, and the KKT residual.

The KKT attack (section 4.2, Algorithms 3 and 4; :mod:`convexpoison.attacks.kkt`,
docs/kkt.md) looks for poison that makes training return decoy parameters ``theta_d =
(w_d, b_d)``: the training (sub)gradient at ``theta_d`` must vanish with all the poison at
two points (Theorem 1).  Multiplied by ``W / N`` (``W = N (1 + eps)``) and with the hinge
gradient ``-y (x, 1)`` on the active side, that is equation (17) as the convex program

    minimise   || g_c + (1 + eps) C_R theta_d - eps_+ (x_+, 1) + eps_- (x_-, 1) ||_2
    subject to  w_d . x_+ + b_d <= 1,   -(w_d . x_- + b_d) <= 1,   x_+- in F_{+-1},

with ``g_c = (1/N) sum_{Dc} grad l(theta_d; x, y)`` (:func:`clean_gradient`) and ``F_y`` a
fitted :class:`~convexpoison.feasible.FeasibleSet` (an SOCP: the norm is minimised instead
of its square -- same minimiser, better scaled).  For another defender (``defender=``,
docs/defender.md) the regulariser term is ``(1 + eps) C_R grad R(theta_d)`` under ``C_R`` on
the average loss and ``grad R(theta_d) / (C N)`` under scikit-learn's ``C`` on the sum (the
poison enters only through its gradients); with a free intercept ``grad R = (w_d, 0)``, so
the bias row reads ``g_c,b - eps_+ + eps_- = 0`` (the dual's ``sum alpha_i y_i = 0``).  :class:`KKTProgram` builds it
once (DPP) with Parameters ``theta_d``, ``g_c``, ``(1 + eps) C_R theta_d``, ``eps_+`` and
``eps_-``; integer coordinates are fixed by diving (no mixed-integer conic solver is
assumed; Suya et al.'s code solved the MISOCP with Gurobi).

:func:`kkt_residual` is the package's one KKT residual: a subgradient of the training
objective at a model, for the clean data plus a poison set (its scaling is stated there).
"""
from __future__ import annotations

import numpy as np

from .. import solvers
from ..errors import InputError, SolverFailure
from ..losses import Hinge
from ..validation import check_positive, check_weights

__all__ = ["KKTProgram", "clean_gradient", "kkt_residual", "DPP_MAX_D"]

DPP_MAX_D = solvers.DPP_MAX_D       # above it no compiled DPP form (solvers.dpp_options)


# ----------------------------------------------------------------------- gradients
def _rows(X):
    """Dense rows as a float array; scipy.sparse rows (bag-of-words text) stay sparse --
    every use below is a product ``X @ v`` or ``X.T @ v`` (never densified)."""
    from ..validation import check_X, is_sparse

    return check_X(X, accept_sparse=True) if is_sparse(X) else np.asarray(X, float)


def clean_gradient(model, X, y) -> np.ndarray:
    """``g_c = (1/N) sum_{Dc} grad_theta hinge(theta; x, y)`` as a vector ``(gw, gb)``.

    The hinge subgradient taken is ``-y (x, 1)`` for margins ``< 1`` and 0 otherwise
    (:meth:`convexpoison.losses.Hinge.grad_theta`).
    """
    gw, gb = Hinge().grad_theta(np.asarray(model.w, float), float(model.b),
                                _rows(X), np.asarray(y, float))
    n = X.shape[0]
    return np.append(gw, gb) / n


def kkt_residual(model, X, y, reg, poisons=None, sample_weight=None, tol=0.0,
                 subgradient="smallest", *, defender=None) -> np.ndarray:
    """``W`` times a subgradient of the training objective at ``model`` on ``Dc ∪ Dp``.

    **Scaling.**  Training minimises ``F(theta) = (1/W) sum_i s_i l_i(theta) + C_R R(theta)``
    (hinge loss ``l``, ``R = 1/2 (|w|^2 + b^2)``, ``s_i`` the clean ``sample_weight`` and the
    poison copy counts, ``W = sum_i s_i``).  The returned vector ``(r_w, r_b)`` is

        r = sum_i s_i beta_i (-y_i) (x_i, 1) + W C_R theta     (= W * a subgradient of F),

    the gradient of the *summed* objective.  Divide its norm by ``W`` for ``|grad F|``; by
    the clean weight ``N`` for equation (17)'s normalisation (Koh et al. 2021, the norm
    :class:`KKTProgram` minimises); ``|r| / (W C_R)`` bounds the distance from ``model`` to
    the model trained on ``Dc ∪ Dp`` (``F`` is ``C_R``-strongly convex).

    **Which subgradient.**  Points inside the margin (``y s < 1``) have ``beta = 1``,
    points outside ``beta = 0``; on the margin the hinge has a whole interval.

    * ``subgradient="smallest"``: points with ``|y s - 1| <= tol`` get the ``beta`` in
      ``[0, 1]`` that minimises ``|r|`` (a bounded least-squares problem).  With ``tol = 0``
      this is the exact distance of ``0`` from the subdifferential (the minimum-poison
      program's optimality condition, docs/minpoison.md).
    * ``subgradient="equation17"``: the choice equation (17) makes -- clean points count
      when ``y s < 1`` (:meth:`~convexpoison.losses.Hinge.grad_theta`), poison points when
      ``y s <= 1 + tol`` (they are placed on the active side of the margin).

    ``poisons``: a :class:`~convexpoison.poisons.PoisonSet` (or ``None``).

    ``defender`` (default: the package's SVM with ``C_R = reg``): the regulariser term is
    ``W C_R grad R(theta)`` (``C_R`` on the average) or ``grad R(theta) / C`` (scikit-learn's
    ``C`` on the sum: then ``r`` is ``1/C`` times the gradient of the defender's own
    objective), ``grad R = (w, 0)`` with a free intercept (docs/defender.md).
    """
    from scipy.optimize import lsq_linear

    from ..validation import is_sparse
    from .regularizer import RegTerms, hinge_defender

    T = RegTerms(hinge_defender(defender, reg, "kkt_residual"))

    if subgradient not in ("smallest", "equation17"):
        raise InputError(f"subgradient: expected 'smallest' or 'equation17', got {subgradient!r}")
    X = _rows(X)
    y = np.asarray(y, float)
    w = np.asarray(model.w, float)
    b = float(np.asarray(model.b, float).reshape(()))
    s = check_weights(sample_weight, len(y))
    n_p = 0 if poisons is None else len(poisons)
    if is_sparse(X):
        return _sparse_residual(T, X, y, s, w, b, poisons, tol, subgradient)
    if n_p:
        Xa, ya = np.vstack([X, poisons.X]), np.concatenate([y, np.asarray(poisons.y, float)])
        sa = np.concatenate([s, poisons.weight])
    else:
        Xa, ya, sa = X, y, s
    m = ya * (Xa @ w + b)
    if subgradient == "smallest":
        lo, hi = m < 1 - tol, m <= 1 + tol
    else:
        lo = np.concatenate([m[:len(y)] < 1, m[len(y):] <= 1 + tol])
        hi = lo
    G = -(sa * ya)[:, None] * np.hstack([Xa, np.ones((len(ya), 1))])       # rows s_i grad_i
    W = sa.sum()
    base = G[lo].sum(axis=0) + T.total_coef(W) * T.grad(w, b)
    free = hi & ~lo
    if not free.any():
        return base
    sol = lsq_linear(G[free].T, -base, bounds=(0.0, 1.0), method="bvls", tol=1e-14)
    return base + G[free].T @ sol.x


def _sparse_residual(T, X, y, s, w, b, poisons, tol, subgradient):
    """:func:`kkt_residual` for sparse clean rows ``X`` (dense poison rows): the sums over
    points are products ``X.T @ v``; only the few rows on the margin (``"smallest"``) are
    gathered densely for the bounded least-squares problem."""
    from scipy.optimize import lsq_linear

    n = len(y)
    if poisons is not None and len(poisons):
        P, yp = np.asarray(poisons.X, float), np.asarray(poisons.y, float)
        sp_, mp = np.asarray(poisons.weight, float), None
    else:
        P, yp, sp_ = np.zeros((0, X.shape[1])), np.zeros(0), np.zeros(0)
    mc = y * (X @ w + b)
    mp = yp * (P @ w + b)
    m = np.concatenate([mc, mp])
    if subgradient == "smallest":
        lo, hi = m < 1 - tol, m <= 1 + tol
    else:
        lo = np.concatenate([mc < 1, mp <= 1 + tol])
        hi = lo
    coef = -np.concatenate([s * y, sp_ * yp]) * lo          # s_i (-y_i) on the active rows
    W = s.sum() + sp_.sum()
    base = np.append(X.T @ coef[:n] + P.T @ coef[n:], coef.sum()) + T.total_coef(W) * T.grad(w, b)
    free = hi & ~lo
    if not free.any():
        return base
    import scipy.sparse as sps

    fc, fp = np.flatnonzero(free[:n]), np.flatnonzero(free[n:])
    sy = np.concatenate([(s * y)[fc], (sp_ * yp)[fp]])
    rows = sps.vstack([X[fc], sps.csr_matrix(P[fp])], format="csr")
    G = sps.diags(-sy) @ sps.hstack([rows, np.ones((len(sy), 1))], format="csr")
    if len(sy) * (X.shape[1] + 1) <= _DENSE_LSQ:
        # a few margin rows: the exact bounded least squares on their dense form
        sol = lsq_linear(G.T.toarray(), -base, bounds=(0.0, 1.0), method="bvls", tol=1e-14)
    else:
        # many (a separable text set has nearly every point on the margin): sparse
        # trust-region reflective with LSMR steps, never densified
        sol = lsq_linear(G.T.tocsr(), -base, bounds=(0.0, 1.0), method="trf",
                         lsq_solver="lsmr", tol=1e-12)
    return base + G.T @ sol.x


#: Entries of the margin rows' matrix up to which :func:`kkt_residual` solves the bounded
#: least-squares problem densely (exactly, by BVLS) on sparse clean data.
_DENSE_LSQ = 5_000_000


class KKTProgram:
    """Equation (17) as DPP programs over a fitted :class:`~convexpoison.feasible.FeasibleSet`.

    ``set_decoy(model, X, y)`` loads a decoy (its ``g_c`` on the clean data ``(X, y)``; a
    loss component of the feasible set is updated and refitted by the caller);
    ``solve(n_pos, n_neg, N)`` solves for ``eps_+- = n_+- / N`` and returns
    ``(x_plus, x_minus, residual, status)``.  Integer coordinates of the domain are
    fixed by diving (:meth:`_dive`).

    ``dive=False`` leaves integer coordinates relaxed: the points returned are the
    relaxation's (status 'optimal'), for the caller to round (the KKT attack's
    ``rounding='random'``, Koh et al. Appendix B).

    Three programs share the variables and Parameters: both points, and one point only
    -- used when the other label gets no copies, so that an empty (or tight) feasible set
    of the unused label does not make the split infeasible; the unused point is
    returned as ``None``.  Each is built on first use.
    """

    SIDES = ("both", "plus", "minus")

    def __init__(self, feasible, reg, solver=None, *, defender=None, dive=True):
        import cvxpy as cp

        from .regularizer import RegTerms, hinge_defender

        self.feasible = feasible
        self.reg = None if reg is None else check_positive(reg, "reg")
        self.defender = defender
        self.terms_ = RegTerms(hinge_defender(defender, self.reg, "the KKT program (17)"))
        self.solver = solver
        self._solvers = solvers.candidates("SOCP", solver)[:2]   # preferred, fallback
        d = self.d = feasible.d
        self.dpp = not solvers.dpp_options(d)
        self.x_plus = feasible.variable("x_plus")
        self.x_minus = feasible.variable("x_minus")
        self.w_d = cp.Parameter(d, name="w_decoy")
        self.b_d = cp.Parameter(name="b_decoy")
        self.g_c = cp.Parameter(d + 1, name="g_clean")
        self.reg_grad = cp.Parameter(d + 1, name="reg_grad")      # (1 + eps) C_R theta_d
        self.eps_pos = cp.Parameter(nonneg=True, name="eps_plus")
        self.eps_neg = cp.Parameter(nonneg=True, name="eps_minus")
        dom = feasible.domain
        # dive=False: the integer coordinates stay relaxed (the caller rounds the points
        # afterwards, e.g. randomised rounding over an LP-relaxed sphere, docs/integer.md)
        self.integer = (np.zeros(d, bool) if dom is None or not dive else dom.integer.copy())
        if self.integer.any():
            # with mask = 1 on the integer coordinates they are fixed to the rounded values
            self.mask = cp.Parameter(d, nonneg=True, name="fix_mask")
            self.fix_plus = cp.Parameter(d, name="fix_plus")
            self.fix_minus = cp.Parameter(d, name="fix_minus")
            self._unfix()
        for p, v in ((self.w_d, np.zeros(d)), (self.b_d, 0.0), (self.g_c, np.zeros(d + 1)),
                     (self.reg_grad, np.zeros(d + 1)), (self.eps_pos, 0.0), (self.eps_neg, 0.0)):
            p.value = v                   # placeholders until set_decoy / solve
        self._programs = {}
        self.theta_ = None
        self._program("both")

    @property
    def problem(self):
        """The two-point program (the ``cvxpy.Problem``)."""
        return self._program("both")

    def _unfix(self):
        zeros = np.zeros(self.d)
        self.mask.value, self.fix_plus.value, self.fix_minus.value = zeros, zeros, zeros

    def _program(self, side):
        """The program for ``side`` ('both', 'plus', 'minus'), built and compiled once."""
        if side in self._programs:
            return self._programs[side]
        import cvxpy as cp

        d = self.d
        xp, xm = self.x_plus, self.x_minus
        plus, minus = side in ("both", "plus"), side in ("both", "minus")
        cons = []
        r_w = self.g_c[:d] + self.reg_grad[:d]
        r_b = self.g_c[d] + self.reg_grad[d]
        if plus:
            cons += self.feasible.constraints(xp, 1)
            # on the active side of the hinge, so grad l = -y (x, 1)
            cons += [self.w_d @ xp + self.b_d <= 1]
            r_w = r_w - self.eps_pos * xp
            r_b = r_b - self.eps_pos
        if minus:
            cons += self.feasible.constraints(xm, -1)
            cons += [-(self.w_d @ xm + self.b_d) <= 1]
            r_w = r_w + self.eps_neg * xm
            r_b = r_b + self.eps_neg
        if self.integer.any():
            if plus:
                cons.append(cp.multiply(self.mask, xp) == self.fix_plus)
            if minus:
                cons.append(cp.multiply(self.mask, xm) == self.fix_minus)
        objective = cp.Minimize(cp.norm(cp.hstack([r_w, cp.reshape(r_b, (1,), order="C")]), 2))
        prog = cp.Problem(objective, cons)
        solvers.assert_dpp(prog, f"KKT program (17), {side}")
        self._programs[side] = prog
        return prog

    def set_decoy(self, model, X, y):
        """Load decoy ``model``; ``g_c`` is its clean gradient on ``(X, y)`` = ``Dc``."""
        w = np.asarray(model.w, float)
        if w.shape != (self.d,):
            raise InputError(f"decoy: expected a binary model with w of shape ({self.d},)")
        self.theta_ = np.append(w, float(model.b))
        self.grad_R_ = self.terms_.grad(w, float(model.b))     # grad R(theta_d) of the defender
        self.w_d.value = w
        self.b_d.value = float(model.b)
        self.g_c.value = clean_gradient(model, X, y)
        return self

    def _solve(self, side):
        """Solve ``side`` with the preferred solver, then (unless infeasibility is proven)
        with the fallback one (:func:`convexpoison.solvers.solve`, which keeps each solver's
        compiled form).

        Above :data:`DPP_MAX_D` coordinates the program is recompiled with the Parameters'
        values as constants (no compiled DPP form is kept).

        ``warm_start=False``: cvxpy would otherwise hand the new data to the solver object
        of the previous solve (Clarabel keeps its set-up, e.g. the equilibration, from the
        first data it saw), so an answer would depend on what this process solved before
        -- enough, in the last digits, to make a parallel sweep differ from the serial one.
        """
        opts = solvers.dpp_options(self.d)
        return solvers.solve(self._program(side), "SOCP", solver=self._solvers,
                             stop_if_infeasible=True, warm_start=False, **opts)

    def solve(self, n_pos, n_neg, N):
        """Solve for ``eps_+ = n_pos / N``, ``eps_- = n_neg / N``.

        Returns ``(x_plus, x_minus, residual, status)`` (a point is ``None`` when its label
        gets no copies); ``status`` is 'optimal', 'rounded' (integer coordinates fixed and
        re-solved), 'rounded-unrefined' (that re-solve failed; the rounded relaxation is
        returned).  Raises :class:`SolverFailure` when the relaxation itself fails
        (status 'infeasible': no feasible points for this decoy).
        """
        if self.theta_ is None:
            raise InputError("decoy: call set_decoy before solve")
        if n_pos < 0 or n_neg < 0 or n_pos + n_neg == 0:
            raise InputError(f"n_pos, n_neg: need non-negative counts, not both 0 (got {n_pos}, {n_neg})")
        side = "both" if n_pos and n_neg else "plus" if n_pos else "minus"
        eps_p, eps_n = n_pos / N, n_neg / N
        self.eps_pos.value, self.eps_neg.value = eps_p, eps_n
        self.N_ = N
        self.reg_grad.value = self._reg_grad(eps_p, eps_n, N)
        info = self._solve(side)
        xp = np.asarray(self.x_plus.value, float).copy() if n_pos else None
        xm = np.asarray(self.x_minus.value, float).copy() if n_neg else None
        value, status = info.value, "optimal"
        if self.integer.any():
            try:
                xp, xm, value, status = self._dive(side, xp, xm)
            finally:
                self._unfix()
        if value is None:
            value = self.residual_of(xp, xm, eps_p, eps_n)
        return xp, xm, float(value), status

    def _dive(self, side, xp, xm, tries=4):
        """Integer coordinates by diving: fix one one-hot group at a time (both points),
        re-solving the relaxation in between so later groups and the continuous
        coordinates adapt; the other integer coordinates are rounded and fixed last.

        A group is fixed to the categories the current relaxation weights most; when that
        makes the program infeasible, the next most weighted combinations are tried
        (``tries`` in all).  If none is feasible the remaining coordinates are rounded
        without re-solving (status 'rounded-unrefined'; the residual is then recomputed
        from the points).  Returns ``(x_plus, x_minus, value, status)``.
        """
        dom = self.feasible.domain
        mask = np.zeros(self.d)
        fix = {"p": np.zeros(self.d), "m": np.zeros(self.d)}
        cur = {"p": xp, "m": xm}
        act = [k for k in ("p", "m") if cur[k] is not None]
        value = None
        steps = [("group", np.asarray(g, int)) for g in dom.onehot_groups]
        rest = self.integer.copy()
        for g in dom.onehot_groups:
            rest[g] = False
        if rest.any():
            steps.append(("round", np.flatnonzero(rest)))

        def attempt(idx, vals):
            m = mask.copy()
            m[idx] = 1.0
            fp, fm = fix["p"].copy(), fix["m"].copy()
            for k, f in (("p", fp), ("m", fm)):
                if k in vals:
                    f[idx] = vals[k]
            self.mask.value, self.fix_plus.value, self.fix_minus.value = m, fp, fm
            try:
                info = self._solve(side)
            except SolverFailure:
                return None
            return m, fp, fm, info

        for kind, idx in steps:
            if kind == "group":
                # categories by decreasing relaxed weight, per active point; the pairs of
                # ranks (0, 0), (0, 1), (1, 0), (1, 1), ... in turn
                order = {k: np.argsort(-cur[k][idx], kind="stable") for k in act}
                ranks = sorted(((a, b) for a in range(len(idx)) for b in range(len(idx))),
                               key=lambda c: (max(c), c))
                options = []
                for pair in ranks:
                    vals = {}
                    for k, r in zip(act, pair):
                        vals[k] = np.zeros(len(idx))
                        vals[k][order[k][r]] = 1.0
                    if not any(all(np.array_equal(o[k], vals[k]) for k in act) for o in options):
                        options.append(vals)
                    if len(options) == tries:
                        break
            else:
                vals = {k: np.clip(np.rint(cur[k][idx]), dom.lo[idx], dom.hi[idx]) for k in act}
                options = [vals]
            for vals in options:
                res = attempt(idx, vals)
                if res is not None:
                    mask, fix["p"], fix["m"], info = res
                    value = info.value
                    for k, var in (("p", self.x_plus), ("m", self.x_minus)):
                        if k in act:
                            cur[k] = np.asarray(var.value, float).copy()
                            cur[k][mask > 0] = fix[k][mask > 0]
                    break
            else:
                # no feasible choice: round everything left and stop re-solving
                out = {}
                for k in act:
                    x = np.clip(cur[k], dom.lo, dom.hi)
                    x[mask > 0] = fix[k][mask > 0]
                    out[k] = self._round(x, skip=mask > 0)
                return out.get("p"), out.get("m"), None, "rounded-unrefined"
        return cur["p"] if "p" in act else None, cur["m"] if "m" in act else None, \
            value, "rounded"

    def _reg_grad(self, eps_p, eps_n, N):
        """The regulariser's term of (17): ``(1 + eps) C_R grad R(theta_d)`` (average
        convention; the default's ``(1 + eps) C_R theta_d`` exactly) or
        ``grad R(theta_d) / (C N)`` (C on the sum)."""
        T = self.terms_
        if T.average:
            return (1 + eps_p + eps_n) * T.D.reg * (self.theta_ if T.penalize_intercept
                                                    else self.grad_R_)
        return self.grad_R_ / (T.D.C * N)

    def residual_of(self, xp, xm, eps_p, eps_n, N=None) -> float:
        """The objective of (17) at given points (numpy; ``None`` for an unused point;
        ``N`` the clean count, default the last :meth:`solve`'s -- used under C only)."""
        N = getattr(self, "N_", None) if N is None else N
        if not self.terms_.average and N is None:
            raise InputError("N: give the clean count (the regulariser term is grad R / (C N))")
        g = self.g_c.value + self._reg_grad(eps_p, eps_n, N)
        if xp is not None:
            g = g - eps_p * np.append(xp, 1.0)
        if xm is not None:
            g = g + eps_n * np.append(xm, 1.0)
        return float(np.linalg.norm(g))

    def _round(self, x, skip=None):
        """Integer coordinates: one-hot groups to their largest entry, others to the nearest
        integer inside the bounds; coordinates in ``skip`` are left as they are."""
        dom = self.feasible.domain
        skip = np.zeros(self.d, bool) if skip is None else skip
        out = np.clip(x, dom.lo, dom.hi)
        free = self.integer & ~skip
        out[free] = np.clip(np.rint(out[free]), dom.lo[free], dom.hi[free])
        for g in dom.onehot_groups:
            if not skip[g].any():
                best = g[int(np.argmax(out[g]))]
                out[g] = 0.0
                out[best] = 1.0
        return out
