"""The minimum-poison program: the fewest poison points that make training return a target
(docs/minpoison.md).  Beyond the source papers.

Why it is a linear program
--------------------------
Training minimises ``F(theta) = (1/W) sum_i s_i hinge_i(theta) + C_R R(theta)`` with
``R = 1/2 (|w|^2 + b^2)`` (bias regularised, ``grad R(theta) = theta``) and
``W = N + |Dp|``.  ``F`` is ``C_R``-strongly convex, so ``theta_p = (w_p, b_p)`` is the
training optimum on ``Dc u Dp`` *exactly* when ``0`` is a subgradient of ``F`` there.  The
hinge subgradient of a point is ``-y (x, 1)`` inside the margin (``y s_p(x) < 1``),
``-beta y (x, 1)`` with ``beta in [0, 1]`` on it and ``0`` outside.  Multiplying the
condition by ``W`` gives (the issue's display)::

    sum_{clean, y s<1} -s_i y_i (x_i, 1) + sum_{clean, y s=1} -beta_i s_i y_i (x_i, 1)
        - (z_+, gamma_+) + (z_-, gamma_-) + (N + alpha_+ + alpha_-) C_R theta_p = 0

where, per poison label, ``gamma`` is the total gradient-carrying weight and
``z = sum_j beta_j c_j x_j`` (``c_j`` the copies of point ``x_j``) is the *perspective* of
the poison points: ``z in gamma * conv(F_y)`` and the margin condition
``y (w_p . z + b_p gamma) <= gamma`` holds because every gradient-carrying point has
``y s_p(x_j) <= 1``.  Poison points outside the margin carry no gradient but still count
in ``W``: their weight ``eta = alpha - gamma`` needs a point ``u / eta in F_y`` with
``y s_p >= 1`` (written the same way, so the program is exact also when no such point
exists: then ``eta`` is forced to 0).  Minimising ``alpha_+ + alpha_-`` over this
polyhedral cone (an SOCP with the L2 / SVD components) therefore

* is a **lower bound**: every real poison set inducing ``theta_p`` is a feasible point
  whose objective is its size (Koh et al. 2021's Theorem 1 argument, made quantitative);
* is **attained** with fractional copies: ``x = z/gamma`` is a single point of ``F_y`` on
  the active side of the margin, so an optimal solution is realised by two gradient
  points (one per label; Koh et al. Theorem 1) plus at most two zero-gradient points.

Margin tolerance.  Clean points with ``|y s_p(x) - 1| <= tol`` get ``beta in [0, 1]``
whichever side of the margin they are on: this only enlarges the feasible set, so the
optimum can only go down and the bound stays sound.  ``tol`` is reported.

Design.  The program is built once per (clean data, feasible set); the *target* enters
only through Parameters -- ``theta_p`` in the margin constraints, ``C_R theta_p`` in the
KKT rows (``(N + alpha) C_R theta_p`` is parameter x parameter-free: DPP), and the
target-dependent margin partition as Parameters, ``beta = lo + (hi - lo) delta``
(``1, 1`` inside the margin, ``0, 1`` on it, ``0, 0`` outside; ``lo`` only through
``G^T lo``: :func:`_clean_gradient`).  A new target or a refit of
the feasible-set components is a re-solve without recompilation.

Integer coordinates (docs/integer.md).  ``integer="relax"`` uses the convex relaxation (box,
one-hot sums) -- a valid bound; with an L2 component and integer coordinates the
perspective of Koh et al.'s linear relaxation ``sum_j f(x_j) - 2 mu.x + |mu|^2 <= tau^2``,
``f(x) = max_k (2k+1) x - k(k+1)`` (``= x^2`` at integers, so integer points satisfy it)
tightens it.  ``integer="exact"`` (binary / integer coordinates, polyhedral components)
solves the program over *integer* poison points exactly by column generation: a master
LP over generated integer points and a MILP pricing problem per label; at every round
the multipliers of the KKT rows give a Lagrangian lower bound (dual multipliers scaled to
be feasible against the MILP's proven pricing bound), so the certificate is sound
whatever round it stops at.

Certificate.  ``lower_bound`` is a proven lower bound on the program's optimum: for a
domain feasible set, also cut by half-spaces (the polyhedral components), a
floating-point-safe bound from the solver's duals
(:meth:`MinimumPoisonProgram.verified_bound`, ``verified=True``; sound whatever the
solver's accuracy, so a solve stopped at ``optimal_inaccurate`` still gives one), else the
tolerance-accounted ``SolveInfo.lower_bound()`` of the LP (or the Lagrangian bound of
column generation); ``certified`` is its :func:`~convexpoison.certificates.base.sound_ceil`.

Neighbourhood.  ``solve(target, delta)`` with ``delta > 0`` solves the neighbourhood
program ``K(delta)`` (docs/minpoison.md, "Neighbourhood bound"): a lower bound for every
model within parameter l2 distance ``delta`` of the target.
The certificate built on it is :func:`convexpoison.certificates.lp.lp_lower_bound`.  The
KKT residual of a realised poison set is :func:`convexpoison.programs.kkt.kkt_residual`
(``subgradient="smallest"``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import solvers
from ..certificates.base import sound_ceil
from ..errors import InputError, SolverFailure
from ..feasible import DomainSet, L2Sphere, SVDResidual, as_feasible
from ..validation import (check_binary_model, check_positive, check_weights, check_X, check_y,
                          is_sparse)

__all__ = ["MinPoisonResult", "MinimumPoisonProgram", "FixedCountKKT", "margin_partition",
           "as_feasible", "feasible_radius"]

LABELS = (1, -1)
#: Weights below this (relative to 1 + N) are treated as zero when realising a solution.
WEIGHT_EPS = 1e-9


# ------------------------------------------------------------------------ helpers
#: Above this many (candidate multiplier x coordinate) entries the dual function of the
#: safe bound's pricing is evaluated by sorted breakpoints (:func:`_box_dual_values`)
#: instead of one (candidates x d) array: that array is O(d^2) (text: d = 6660 gives up to
#: 13 321 x 6660 = 0.7 GB); below it the array, as on every dense bundled set.
_DENSE_DUAL_LIMIT = 2e7


def _box_dual_values(cw, c0, a, a0, rhs, mus, lo, hi):
    """``c0 + mu (a0 - rhs) + sum_j min(lo_j c_j, hi_j c_j)``, ``c_j = cw_j + mu a_j``, at
    every ``mu`` of ``mus`` in ``O((d + K) log d)``: ``min(lo c, hi c) = lo c + (hi - lo)
    min(c, 0)`` and ``c_j(mu) < 0`` exactly on one side of the breakpoint ``-cw_j / a_j``,
    so the negative part is a prefix / suffix sum over the sorted breakpoints.  Floats
    without rounding control: only used to choose ``mu`` (any ``mu`` gives a valid bound)."""
    mus = np.asarray(mus, float)
    span = hi - lo
    base = c0 + mus * (a0 - rhs) + float(lo @ cw) + mus * float(lo @ a)
    neg = np.zeros_like(mus)
    zero = a == 0
    neg += float(np.sum(span[zero] * np.minimum(cw[zero], 0.0)))
    for side in (1, -1):
        J = np.flatnonzero(side * a > 0)
        if not J.size:
            continue
        bp = -cw[J] / a[J]
        order = np.argsort(bp)
        bp, sc, sa = bp[order], (span[J] * cw[J])[order], (span[J] * a[J])[order]
        csc = np.concatenate([[0.0], np.cumsum(sc)])
        csa = np.concatenate([[0.0], np.cumsum(sa)])
        if side > 0:        # a_j > 0: c_j(mu) < 0 for mu < bp_j (the suffix above mu)
            k = np.searchsorted(bp, mus, side="right")
            neg += (csc[-1] - csc[k]) + mus * (csa[-1] - csa[k])
        else:               # a_j < 0: c_j(mu) < 0 for mu > bp_j (the prefix below mu)
            k = np.searchsorted(bp, mus, side="left")
            neg += csc[k] + mus * csa[k]
    return base + neg


def margin_partition(w, b, X, y, tol):
    """Bounds on the clean points' subgradient multipliers under ``theta_p = (w, b)``.

    Returns ``(lo, hi)``: ``1, 1`` for ``y s < 1 - tol`` (inside the margin), ``0, 1`` for
    ``|y s - 1| <= tol`` (on it, widened by ``tol``), ``0, 0`` for ``y s > 1 + tol``.
    ``tol`` may be an array (one tolerance per point: the neighbourhood bound widens
    point ``i`` by ``delta |(x_i, 1)|``).
    """
    m = y * (X @ w + b)
    inside = m < 1 - tol
    on = ~inside & (m <= 1 + tol)
    lo = inside.astype(float)
    hi = (inside | on).astype(float)
    return lo, hi


def feasible_radius(feasible, label) -> float:
    """``R >= max |(x, 1)|_2`` over ``F_label`` (the domain's box; an L2 component's ball
    ``|x| <= |mu_y| + tau_y``), rounded up; ``inf`` when no component bounds ``F_label``.
    A model within ``delta`` of ``theta_p`` moves a point's margin by at most ``delta R``."""
    r = np.inf
    for comp in as_feasible(feasible).components:
        if isinstance(comp, DomainSet):
            dom = comp.domain
            m = np.maximum(np.abs(dom.lo), np.abs(dom.hi))
            r = min(r, float(np.sqrt(1.0 + m @ m)))
        elif isinstance(comp, L2Sphere):
            mu = np.asarray(comp.centroids_[label], float)
            rad = float(np.linalg.norm(mu)) + max(float(comp.thresholds_[label]), 0.0)
            r = min(r, float(np.sqrt(1.0 + rad * rad)))
    return r * (1.0 + 1e-12) if np.isfinite(r) else r


@dataclass
class MinPoisonResult:
    """Optimum of the minimum-poison program for one target.

    Attributes
    ----------
    value : the program's optimal value (``alpha_+ + alpha_-``; fractional copies).
    lower_bound : a proven lower bound on the optimum (tolerance accounted for); ``inf``
        when the program is proven infeasible (the target is unattainable).
    certified : ``sound_ceil(lower_bound)``: no poison set of fewer points induces the target.
    gamma, eta : per label, the gradient-carrying and the zero-gradient weight.
    points, idle_points : per label, ``z / gamma`` and ``u / eta`` (``None`` when the weight is 0).
    beta : multipliers of the clean points (``nan`` where not on the margin).
    n_margin : clean points given a free multiplier (``|y s - 1| <= tol``).
    tol : the margin tolerance.
    exact : the program is exact for the domain (no relaxation of integer coordinates).
    upper_value : for column generation, the master's value (an attained value over
        integer points); equals ``value`` otherwise.
    relaxed_value, relaxed_lower_bound : the convex relaxation's optimum and its proven
        lower bound (for integer domains; equal to ``value`` / ``lower_bound`` otherwise).
    columns : for column generation, the generated (label, role, point, weight) with
        positive weight; ``generated`` every generated (label, role, point).
    delta : the neighbourhood radius: the bound holds for every model within parameter
        l2 distance ``delta`` of the target (``K(delta)``; 0 = the target itself).
    verified : ``lower_bound`` is a floating-point-safe bound computed from the solver's
        duals (:meth:`MinimumPoisonProgram.verified_bound`, Neumaier & Shcherbina 2004);
        false: it is the solver's value minus the fixed ``solvers.CERTIFICATE_SLACK``.
    solver_value_bound : the solver's value minus the fixed slack (for comparison).
    """

    value: float
    lower_bound: float
    certified: float
    gamma: dict
    eta: dict
    points: dict
    idle_points: dict
    beta: np.ndarray
    n_margin: int
    tol: float
    exact: bool
    solver: str
    status: str
    seconds: float
    iterations: int = 1
    upper_value: float = float("nan")
    relaxed_value: float = float("nan")
    relaxed_lower_bound: float = float("nan")
    columns: list = field(default_factory=list, repr=False)
    generated: list = field(default_factory=list, repr=False)
    delta: float = 0.0
    verified: bool = False
    solver_value_bound: float = float("nan")
    defender: str = ""          # the defender's --defender spelling (Defender.spec())

    @property
    def alpha(self) -> dict:
        return {y: self.gamma[y] + self.eta[y] for y in self.gamma}

    def poison_set(self):
        """The fractional realisation: rows ``x`` with weights ``gamma`` / ``eta``."""
        from ..poisons import PoisonSet

        rows, labels, weights = [], [], []
        if self.columns:
            for lab, _role, x, wt in self.columns:
                rows.append(x), labels.append(lab), weights.append(wt)
        else:
            for lab in LABELS:
                for pts, wts in ((self.points, self.gamma), (self.idle_points, self.eta)):
                    if pts.get(lab) is not None:
                        rows.append(pts[lab]), labels.append(lab), weights.append(wts[lab])
        d = len(rows[0]) if rows else 0
        if not rows:
            return PoisonSet(np.zeros((0, d)), np.zeros(0, int), np.zeros(0),
                             meta={"attack": "min-poison (fractional)"})
        return PoisonSet(np.array(rows), np.array(labels), np.array(weights),
                         meta={"attack": "min-poison (fractional)", "lp_value": self.value})

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items()
               if k not in ("points", "idle_points", "beta", "columns", "generated")}
        out["gamma"] = {str(k): float(v) for k, v in self.gamma.items()}
        out["eta"] = {str(k): float(v) for k, v in self.eta.items()}
        return out


# ------------------------------------------------------------------------ the LP
class MinimumPoisonProgram:
    """The minimum-poison program (docs/minpoison.md) for fixed clean data and feasible set.

    Parameters
    ----------
    feasible : Domain or FeasibleSet -- ``F_y``, fitted.
    reg : the defender's ``C_R`` (with ``defender=None``).
    defender : the training the target must come out of (a Defender, a ``--defender``
        spelling or a scikit-learn estimator; default the package's SVM with ``C_R = reg``).
        Under scikit-learn's ``C`` on the sum the regulariser row is the constant
        ``grad R(theta_p) / C`` (the poison counts leave the KKT rows); with a free
        intercept the bias row has no regulariser term (docs/defender.md).
    tol : margin tolerance for clean points (see the module docstring).
    integer : 'relax' (convex relaxation of integer coordinates; a valid bound) or
        'exact' (column generation over integer points; needs integer coordinates and
        polyhedral components, or L2 with every coordinate integer).
    idle : allow zero-gradient poison weight (exact; turning it off gives a restriction).
    solver : solver for the LP/SOCP (default: :mod:`convexpoison.solvers`' choice).
    milp_solver : solver of the pricing MILPs ('exact').
    max_rounds, gap : column-generation limits (rounds; relative gap between the
        master's value and the Lagrangian bound).
    progress : optional callable receiving one line per column-generation round.
    solver_options : extra options for the LP/SOCP solver (e.g. loose tolerances: the
        verified bound stays sound whatever the solver's accuracy).

    Usage::

        prog = MinimumPoisonProgram(domain, reg).fit(X, y)
        res = prog.solve(target)           # re-solve with other targets: no recompilation
        res.certified, res.poison_set()
    """

    def __init__(self, feasible, reg, *, tol=1e-6, integer="relax", idle=True, solver=None,
                 milp_solver=None, onehot=True, max_rounds=200, gap=1e-6, progress=None,
                 solver_options=None, defender=None):
        from .regularizer import RegTerms, hinge_defender

        self.feasible = as_feasible(feasible)
        self.solver_options = dict(solver_options or {})
        self.reg = None if reg is None else check_positive(reg, "reg")
        self.defender = defender
        self.defender_ = hinge_defender(defender, self.reg, "the minimum-poison program")
        self.terms_ = RegTerms(self.defender_)
        self.tol = check_positive(tol, "tol", allow_zero=True)
        if integer not in ("relax", "exact"):
            raise InputError(f"integer: expected 'relax' or 'exact', got {integer!r}")
        self.integer, self.idle, self.solver, self.milp_solver = integer, bool(idle), solver, milp_solver
        self.onehot = bool(onehot)
        self.max_rounds, self.gap = int(max_rounds), float(gap)
        self.progress = progress
        self.d = self.feasible.d
        self.domain = self.feasible.domain
        comps = self.feasible.components
        self.conic_ = any(isinstance(c, (L2Sphere, SVDResidual)) for c in comps)
        has_int = self.domain is not None and self.domain.has_integers
        self.exact_ = integer == "exact" and has_int
        if self.exact_:
            if not self.terms_.average:
                raise InputError(f"defender: integer='exact' (column generation) is implemented "
                                 f"for C_R on the average loss only, not {self.defender_.spec()}; "
                                 "use integer='relax'")
            if any(isinstance(c, SVDResidual) for c in comps):
                raise InputError("integer: 'exact' needs a polyhedral feasible set; the svd "
                                 "component makes pricing a mixed-integer SOCP -- use 'relax'")
            if any(isinstance(c, L2Sphere) for c in comps) and not self.domain.integer.all():
                raise InputError("integer: 'exact' with the l2 component needs every coordinate "
                                 "integer (then it is linear, docs/integer.md) -- use 'relax'")
        self.kind_ = "SOCP" if self.conic_ else "LP"

    # -------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Store the clean data and build the program (once)."""
        X = check_X(X, "X", d=self.d, accept_sparse=True)
        y = check_y(y, X.shape[0], "y")
        s = check_weights(sample_weight, len(y))
        self.X_, self.y_, self.s_ = X, y, s
        self.n_weight_ = float(s.sum())
        # rows s_i * (-y_i) (x_i, 1): the clean points' gradient when inside the margin
        if is_sparse(X):        # text: G stays CSR (cvxpy takes it as a sparse constant)
            import scipy.sparse as sp

            ones = sp.csr_matrix(np.ones((len(y), 1)))
            self.G_ = sp.diags(-(s * y)) @ sp.hstack([X, ones], format="csr")
        else:
            self.G_ = -(s * y)[:, None] * np.hstack([X, np.ones((len(y), 1))])
        self._build()
        return self

    def _params(self):
        import cvxpy as cp

        d, n = self.d, len(self.y_)
        return {"w": cp.Parameter(d, name="w_p"), "b": cp.Parameter(name="b_p"),
                "ct": cp.Parameter(d + 1, name="reg_theta_p"),
                "glo": cp.Parameter(d + 1, name="clean_grad_lo"),
                "free": cp.Parameter(n, name="beta_free")}

    def _cone(self, z, g, label, halves=None):
        """``z in g * F_label`` (with the §3.7 tightening for integer coordinates + L2).
        ``halves``: a list that receives ``(component, constraints)`` for every polyhedral
        component (their duals feed :meth:`verified_bound`)."""
        cons = [g >= 0]
        for comp in self.feasible.components:
            if isinstance(comp, DomainSet):
                cons += comp.domain.constraints(z, scale=g, onehot=self.onehot)
            else:
                made = comp.constraints(z, label, scale=g)
                if halves is not None and comp.polyhedral:
                    halves.append((comp, made))
                cons += made
                if isinstance(comp, L2Sphere) and self.domain is not None and self.domain.has_integers:
                    cons += self._integer_l2(z, g, label, comp)
        return cons

    def _integer_l2(self, z, g, label, comp):
        """Perspective of Koh et al.'s §3.3 relaxation of ``|x - mu|^2 <= tau^2``."""
        import cvxpy as cp

        dom = self.domain
        P = self.__dict__.setdefault("_l2p", {})
        if label not in P:
            P[label] = {"mu": cp.Parameter(self.d, name=f"l2int_mu_{label:+d}"),
                        "musq": cp.Parameter(nonneg=True, name=f"l2int_musq_{label:+d}"),
                        "tausq": cp.Parameter(nonneg=True, name=f"l2int_tausq_{label:+d}"),
                        "comp": comp}
        p = P[label]
        I = np.flatnonzero(dom.integer)
        C = np.flatnonzero(~dom.integer)
        J, c1, c0 = [], [], []
        for pos, j in enumerate(I):
            for k in range(int(round(dom.lo[j])), int(round(dom.hi[j]))):
                J.append(pos), c1.append(2 * k + 1), c0.append(k * (k + 1))
        t = cp.Variable(len(I), name=f"l2int_t_{label:+d}")
        J = np.array(J, int)
        cons = [t[J] >= cp.multiply(np.array(c1, float), z[I[J]]) - np.array(c0, float) * g]
        lhs = cp.sum(t) - 2 * (p["mu"][I] @ z[I]) + g * p["musq"]
        if C.size:
            lhs = lhs + cp.quad_over_lin(z[C] - g * p["mu"][C], g)
            self.kind_ = "SOCP"
        return cons + [lhs <= g * p["tausq"]]

    def _set_l2_params(self):
        dom = self.domain
        for label, p in self.__dict__.get("_l2p", {}).items():
            comp = p["comp"]
            mu = np.asarray(comp.centroids_[label], float)
            tau = max(float(comp.thresholds_[label]), 0.0)
            I = dom.integer
            p["mu"].value = mu
            p["musq"].value = float(mu[I] @ mu[I])
            p["tausq"].value = tau ** 2

    def _build(self):
        self._P, self._prob, self._kkt, self._vars = self._assemble(robust=False)
        self._key = self._component_key()
        self.__dict__.pop("_robust", None)          # rebuilt on demand (K(delta))

    def _assemble(self, robust):
        """The program; ``robust=True`` gives the neighbourhood program ``K(delta)``
        (docs/minpoison.md, "Neighbourhood bound"): with ``Delta = theta - theta_p``,
        ``|Delta|_2 <= delta``, the regulariser's term ``(N + alpha) C_R Delta`` becomes a
        variable ``C_R delta t`` with ``|t|_2 <= N + alpha`` (an SOC), and the poison margin
        conditions are relaxed by ``delta R_y`` (``R_y >= |(x, 1)|`` on ``F_y``).  ``delta``
        enters only through Parameters (``C_R delta`` and ``delta R_y``): DPP."""
        import cvxpy as cp

        P = self._params()
        d = self.d
        grad, delta = _clean_gradient(P, self.G_)
        cons = []
        z, g, u, e, halves = {}, {}, {}, {}, {}
        total = self.n_weight_
        if robust:
            P["reg_delta"] = cp.Parameter(nonneg=True, name="reg_delta")
            P["widen"] = {lab: cp.Parameter(nonneg=True, name=f"widen_{lab:+d}") for lab in LABELS}
        for lab in LABELS:
            z[lab] = cp.Variable(d, name=f"z_{lab:+d}")
            g[lab] = cp.Variable(name=f"gamma_{lab:+d}", nonneg=True)
            halves[lab] = []
            cons += self._cone(z[lab], g[lab], lab, halves[lab])
            # every gradient-carrying point is on the active side: y s_p(x) <= 1
            # (y s_p(x) <= 1 + delta R_y for some model within delta of theta_p)
            rhs = g[lab] + P["widen"][lab] * g[lab] if robust else g[lab]
            cons.append(lab * (P["w"] @ z[lab] + P["b"] * g[lab]) <= rhs)
            grad = grad - lab * cp.hstack([z[lab], cp.reshape(g[lab], (1,), order="F")])
            total = total + g[lab]
            if self.idle:
                u[lab] = cp.Variable(d, name=f"u_{lab:+d}")
                e[lab] = cp.Variable(name=f"eta_{lab:+d}", nonneg=True)
                cons += self._cone(u[lab], e[lab], lab)
                rhs = e[lab] - P["widen"][lab] * e[lab] if robust else e[lab]
                cons.append(lab * (P["w"] @ u[lab] + P["b"] * e[lab]) >= rhs)
                total = total + e[lab]
        # W * (KKT condition): (N + alpha) C_R grad R(theta_p) is parameter x parameter-free
        # (DPP); under C on the sum the row is the constant grad R(theta_p) / C
        per_poison = self.terms_.average
        lhs = grad + total * P["ct"] if per_poison else grad + P["ct"]
        if robust:
            t = cp.Variable(d + 1, name="reg_shift")
            cons.append(cp.norm(t, 2) <= (total if per_poison else 1.0))
            lhs = lhs + P["reg_delta"] * t
        kkt = lhs == 0
        cons.append(kkt)
        objective = cp.Minimize(sum(g.values()) + sum(e.values()))
        prob = cp.Problem(objective, solvers.stack_norm_cones(cons))
        solvers.assert_dpp(prob, "minimum-poison program" + (" (neighbourhood)" if robust else ""))
        return P, prob, kkt, {"delta": delta, "z": z, "g": g, "u": u, "e": e, "halves": halves}

    def _component_key(self):
        return tuple((id(c), c._generation) for c in self.feasible.components)

    # ------------------------------------------------------------ inspecting
    @property
    def problem(self):
        """The cvxpy program (built by :meth:`fit`; not solved).  Its Parameters ``w_p``,
        ``b_p``, ``reg_theta_p``, ``clean_grad_lo``, ``beta_free`` hold the target and its margin
        partition: :meth:`set_target` loads them, then ``solvers.solve(prog.problem,
        prog.kind_)`` is what :meth:`solve` does for ``integer='relax'``."""
        if not hasattr(self, "_prob"):
            raise InputError("MinimumPoisonProgram: call fit(X, y) before asking for the problem")
        if self._component_key() != self._key:      # a refit re-created parameters
            self._build()
        return self._prob

    def describe(self, target=None):
        """A readable summary of :attr:`problem` (with ``target`` loaded when given):
        :func:`convexpoison.programs.summary.describe`."""
        from .summary import describe

        prob = self.problem
        if target is not None:
            self.set_target(target)
            prob = self._prob
        return describe(prob, kind=self.kind_, solver=self.solver,
                        title="minimum-poison program")

    # -------------------------------------------------------------- solving
    def set_target(self, target, delta=0.0):
        """Load ``target`` (and, for ``delta > 0``, the neighbourhood program's Parameters);
        returns ``(w, b, lo, hi)`` -- the margin bounds of the program solved for ``delta``."""
        if not hasattr(self, "X_"):
            raise InputError("MinimumPoisonProgram: call fit(X, y) before solve")
        if self._component_key() != self._key:      # a refit re-created parameters
            self._build()
        delta = check_positive(delta, "delta", allow_zero=True)
        w, b = check_binary_model(target, "target", self.d)
        lo, hi = margin_partition(w, b, self.X_, self.y_, self.tol)
        loads = [(self._P, lo, hi)]
        if delta > 0:
            lo, hi = margin_partition(w, b, self.X_, self.y_, self.margin_widths(w, b, delta))
            R = self.radius_bounds()
            P = self._robust_program()[0]
            P["reg_delta"].value = float(np.nextafter(self._reg_coef() * delta, np.inf))  # round up
            for lab in LABELS:
                P["widen"][lab].value = float(np.nextafter(delta * R[lab], np.inf))
            loads.append((P, lo, hi))
        for P, lo_, hi_ in loads:
            P["w"].value, P["b"].value = w, b
            P["ct"].value = self.reg_row(w, b)
            P["glo"].value, P["free"].value = self.G_.T @ lo_, hi_ - lo_
        self._set_l2_params()
        return w, b, lo, hi

    def _reg_coef(self):
        """The regulariser's coefficient in the KKT rows: ``C_R`` (times ``W``, average
        convention) or ``1 / C`` (C on the sum)."""
        return self.defender_.reg if self.terms_.average else 1.0 / self.defender_.C

    def reg_row(self, w, b):
        """The regulariser's row per unit of weight (average convention: the row is ``W``
        times this) or in all (C on the sum): ``C_R grad R(theta_p)`` or
        ``grad R(theta_p) / C``; ``grad R = (w, b)``, or ``(w, 0)`` with a free intercept."""
        if self.terms_.average and self.terms_.penalize_intercept:
            return self.defender_.reg * np.append(w, b)     # the default: C_R theta_p
        g = self.terms_.grad(w, b)
        return self.defender_.reg * g if self.terms_.average else g / self.defender_.C

    def reg_weight(self, n_poison):
        """The factor of :meth:`reg_row` in the KKT rows for ``n_poison`` poison weight:
        ``N + n_poison`` (average convention), 1 (C on the sum)."""
        return (self.n_weight_ + n_poison) if self.terms_.average else 1.0

    def margin_widths(self, w, b, delta):
        """Per clean point, the tolerance ``tol + delta |(x_i, 1)|``: a model within
        ``delta`` of ``(w, b)`` moves point ``i``'s margin by at most ``delta |(x_i, 1)|``
        (Cauchy--Schwarz), so every point whose margin can equal 1 in the neighbourhood is
        given a free multiplier.  Rounded up (``1e-12`` relative, plus the rounding of the
        computed margin)."""
        from ..training import _row_norms_sq

        norms = np.sqrt(1.0 + _row_norms_sq(self.X_))
        scale = 1.0 + norms * float(np.linalg.norm(np.append(w, b)))
        return self.tol + delta * norms * (1.0 + 1e-12) + 1e-12 * scale

    def radius_bounds(self) -> dict:
        """Per label, ``R_y >= max |(x, 1)|_2`` over ``F_y`` (:func:`feasible_radius`)."""
        return {lab: feasible_radius(self.feasible, lab) for lab in LABELS}

    def _robust_program(self):
        """The neighbourhood program (built on first use, then re-solved with Parameters)."""
        if self.__dict__.get("_robust") is None:
            if not all(np.isfinite(v) for v in self.radius_bounds().values()):
                raise InputError("delta: the neighbourhood bound needs a bounded feasible set "
                                 "(a finite box or an l2 component)")
            self._robust = self._assemble(robust=True)
        return self._robust

    def solve(self, target, delta=0.0) -> MinPoisonResult:
        """Solve for ``target`` (a binary linear model); raises SolverFailure unless optimal
        or proven infeasible (then ``lower_bound = inf``).

        ``delta > 0`` gives the neighbourhood bound ``K(delta)``: no model within parameter
        l2 distance ``delta`` of ``target`` is induced by fewer than ``certified`` poison
        points (docs/minpoison.md, "Neighbourhood bound"; always over the convex relaxation
        of integer coordinates).  ``delta = 0`` is the exact program."""
        t0 = time.perf_counter()
        delta = check_positive(delta, "delta", allow_zero=True)
        w, b, lo, hi = self.set_target(target, delta)
        n_margin = int(np.sum((lo == 0) & (hi == 1)))
        if delta > 0:
            _, prob, kkt, V = self._robust_program()
            res = self._solve_lp(prob, kkt, V, "SOCP", w, b, lo, hi, n_margin, t0, delta)
        elif self.exact_:
            res = self._solve_exact(w, b, lo, hi, n_margin, t0)
        else:
            res = self._solve_lp(self._prob, self._kkt, self._vars, self.kind_, w, b, lo, hi,
                                 n_margin, t0, 0.0)
        res.defender = self.defender_.spec()
        return res

    def _solve_lp(self, prob, kkt, V, kind, w, b, lo, hi, n_margin, t0, delta):
        inaccurate = None
        try:
            info = solvers.solve(prob, kind, solver=self.solver, **self.solver_options)
        except SolverFailure as exc:
            if "infeasible" in str(exc.status) and "inaccurate" not in str(exc.status):
                return self._infeasible(exc, n_margin, t0)
            if not self.verifiable():
                raise
            # no solver reached its tolerances.  A solve stopped short still has duals, and
            # the verified bound from any duals is sound (adult's relocated poisons: Clarabel,
            # refined and regularised, and ECOS stop at optimal_inaccurate on their models'
            # programs; docs/minpoison.md, "Safe bounds")
            inaccurate = exc
            info = solvers.solve(prob, kind, solver=self.solver, inaccurate_ok=True,
                                 **self.solver_options)
        gamma = {lab: max(float(V["g"][lab].value), 0.0) for lab in LABELS}
        eta = {lab: (max(float(V["e"][lab].value), 0.0) if self.idle else 0.0) for lab in LABELS}
        points = {lab: self._point(V["z"][lab].value, gamma[lab]) for lab in LABELS}
        idle = {lab: (self._point(V["u"][lab].value, eta[lab]) if self.idle else None)
                for lab in LABELS}
        for lab in LABELS:                      # a dropped (negligible) weight is zero
            if points[lab] is None:
                gamma[lab] = 0.0
            if idle[lab] is None:
                eta[lab] = 0.0
        beta = np.where((lo == 0) & (hi == 1), np.asarray(V["delta"].value, float), np.nan)
        slack_lb = info.lower_bound()
        safe = self.verified_bound(np.asarray(kkt.dual_value, float), w, b, lo, hi, delta,
                                   halves=self._halfspace_multipliers(V))
        if safe is None and inaccurate is not None:
            raise inaccurate        # an inaccurate solve's value bounds nothing
        lb = slack_lb if safe is None else safe
        exact = not (self.domain is not None and self.domain.has_integers)
        return MinPoisonResult(
            value=float(info.value), lower_bound=float(lb), certified=sound_ceil(max(lb, 0.0)),
            gamma=gamma, eta=eta, points=points, idle_points=idle, beta=beta,
            n_margin=n_margin, tol=self.tol, exact=exact,
            solver=info.solver, status=info.status, seconds=time.perf_counter() - t0,
            upper_value=float(info.value), relaxed_value=float(info.value),
            relaxed_lower_bound=float(lb), delta=float(delta), verified=safe is not None,
            solver_value_bound=float(slack_lb))

    # ------------------------------------------------------ safe (verified) bound
    def verifiable(self) -> bool:
        """Whether :meth:`verified_bound` applies: the feasible set is the domain (a box,
        with one-hot sums) cut by half-spaces (the ``polyhedral`` components: the l2
        secant, the slab, the loss bound).  The l2 sphere and the svd residual make the
        pricing problem conic, which is not verified here."""
        return self.domain is not None and all(
            isinstance(c, DomainSet) or c.polyhedral for c in self.feasible.components)

    def _halfspace_multipliers(self, V) -> dict:
        """Per label ``[(a, r, nu), ...]``: the polyhedral components' half-spaces ``a.x <= r``
        with the duals ``nu`` of their constraints in the gradient points' cone (the
        perspective ``a.z <= r gamma`` has the same multiplier).  Any ``nu >= 0`` gives a
        valid bound; the solver's make it tight.  A missing or negative dual counts 0."""
        out = {}
        for lab, pairs in V.get("halves", {}).items():
            rows = []
            for comp, cons in pairs:
                for (a, r), con in zip(comp.halfspaces(lab), cons, strict=True):
                    nu = con.dual_value
                    nu = 0.0 if nu is None else float(np.asarray(nu, float).ravel()[0])
                    if np.isfinite(nu) and nu > 0:
                        rows.append((a, r, nu))
            out[lab] = rows
        return out

    def verified_bound(self, lam, w, b, lo, hi, delta=0.0, halves=None):
        """A floating-point-safe lower bound on the program's optimum from multipliers
        ``lam`` of the KKT rows (any vector; the solver's duals make it tight), or None
        when the feasible set is not supported (:meth:`verifiable`).

        The program's Lagrangian with the KKT rows dualised (docs/minpoison.md, "Safe
        bounds") is ``L(lam) = N (lam.C_R theta_p - C_R delta |lam|) + sum_i min_{beta_i in
        [lo_i, hi_i]} beta_i (G lam)_i`` as long as every poison column has reduced cost
        ``1 + lam.a - C_R delta |lam| >= 0``; with ``m`` a proven lower bound on
        ``min_col lam.a - C_R delta |lam|`` (per label, a Lagrangian bound of the pricing
        LP over the box, the margin condition dualised with a multiplier ``mu >= 0``),
        ``lam / max(1, -m)`` is exactly dual feasible and ``L(lam) / max(1, -m)`` bounds
        the optimum (Neumaier & Shcherbina 2004's repair by scaling).  Every sum is
        widened by its rounding-error bound (:mod:`convexpoison.certificates.safe`).
        Zero-gradient columns are always included (also with ``idle=False``), so the bound
        holds for the true minimum-poison problem with this margin partition.

        ``halves``: per label ``[(a, r, nu), ...]`` (:meth:`_halfspace_multipliers`), the
        half-spaces of the polyhedral components with multipliers ``nu >= 0``.  They are
        dualised in the pricing bound as the margin condition is: ``min c.x`` over the box
        cut by ``a.x <= r`` is at least ``min (c + sum nu a).x - sum nu r`` over the box
        alone (Lagrangian relaxation), so every ``nu >= 0`` gives a valid bound.
        """
        if not self.verifiable() or lam is None or not np.all(np.isfinite(lam)):
            return None
        best = -np.inf
        for sign in (1.0, -1.0):        # either sign convention of the solver's duals
            best = max(best, self._lagrangian_bound(sign * lam, w, b, lo, hi, delta,
                                                    halves or {}))
        return max(best, 0.0) if np.isfinite(best) else 0.0

    def _lagrangian_bound(self, lam, w, b, lo, hi, delta, halves):
        from ..certificates import safe

        u = safe.UNIT_ROUNDOFF
        n1 = lam.size
        ct = self.reg_row(w, b)
        lct, lct_err = safe.matvec(ct, lam)
        lct_err = lct_err + 2 * u * abs(float(lct))         # ct = C_R theta rounded itself
        # |lam|_2 rounded up, times C_R delta (or delta / C) rounded up
        lam_norm = float(safe.upper(np.sqrt(safe.upper(lam @ lam, safe.dot_err(n1, lam @ lam)))))
        rpen = (float(safe.upper(self._reg_coef() * delta * lam_norm * (1 + 4 * u)))
                if delta > 0 else 0.0)
        per_poison = self.terms_.average
        R = self.radius_bounds() if delta > 0 else {lab: 0.0 for lab in LABELS}
        # column values, lower bounds: grad columns lam.(-y (x, 1) + ct) - rpen, idle lam.ct - rpen
        # (C on the sum: the columns carry no regulariser term, grad lam.(-y (x, 1)), idle 0)
        base_col = float(safe.lower(lct, lct_err)) - rpen if per_poison else 0.0
        m = np.inf
        for lab in LABELS:
            wid = float(safe.upper(delta * R[lab])) if delta > 0 else 0.0
            cw, c0, cw_err, c0_err = _dualised(-lab * lam[:-1], -lab * lam[-1],
                                               halves.get(lab, ()))
            f = self._price_bound(cw, c0, lab * w, lab * b, 1.0 + wid, cw_err, c0_err)
            if f is not None:
                m = min(m, float(safe.lower(f + base_col, 4 * u * (abs(f) + abs(base_col)))))
            if self._side_possible(lab * w, lab * b, 1.0 - wid):
                m = min(m, base_col)
        # the constant part: N lam.ct - N C_R delta |lam| + sum_i min(lo_i g_i, hi_i g_i)
        g, g_err = safe.matvec(self.G_, lam)
        g_err = g_err + 2 * u * np.abs(g)                    # G = -s y (x, 1) rounded itself
        glo, ghi = safe.lower(g, g_err), safe.upper(g, g_err)
        terms = np.minimum(np.minimum(lo * glo, hi * glo), np.minimum(lo * ghi, hi * ghi))
        sb = float(safe.lower(np.sum(terms), safe.dot_err(terms.size, np.sum(np.abs(terms)))))
        if per_poison:
            N = self.n_weight_
            Nerr = safe.dot_err(len(self.s_), N)             # the weights' sum was rounded
        else:                       # C on the sum: the constant row, lam.ct - delta/C |lam|
            N, Nerr = 1.0, 0.0
        head = N * float(safe.lower(lct, lct_err)) - (N + Nerr) * rpen
        head_err = abs(N * float(lct)) * 4 * u + Nerr * (abs(float(lct)) + lct_err)
        L = float(safe.lower(head + sb, head_err + 4 * u * (abs(head) + abs(sb))))
        scale = float(safe.upper(max(1.0, -m))) if np.isfinite(m) else 1.0
        return float(safe.lower(L / scale, 4 * u * abs(L / scale)))

    def _box_parts(self):
        """The domain's box and its one-hot groups usable in closed form (0/1 boxes)."""
        dom = self.domain
        groups = []
        if self.onehot:
            for g in dom.onehot_groups:
                if np.all(dom.lo[g] == 0) and np.all(dom.hi[g] >= 1):
                    groups.append(np.asarray(g, int))
        free = np.ones(self.d, bool)
        for g in groups:
            free[g] = False
        return dom.lo, dom.hi, groups, free

    def _min_linear(self, c, cerr):
        """A lower bound on ``min c'.x`` over ``conv(F)`` (the box; ``x_g`` in the simplex for
        the one-hot groups kept), ``|c' - c| <= cerr``."""
        from ..certificates import safe

        lo, hi, groups, free = self._box_parts()
        total = safe.box_min(c[free], cerr[free], lo[free], hi[free])
        for g in groups:      # sum x_g = 1, x_g in [0, 1]: the smallest coefficient
            total = total + float(np.min(safe.lower(c[g], cerr[g])))
        return float(safe.lower(total, 4 * safe.UNIT_ROUNDOFF * abs(total)))

    def _side_possible(self, a, a0, thresh):
        """False only when ``a.x + a0 >= thresh`` is proven impossible on ``conv(F)``."""
        from ..certificates import safe

        err = safe.dot_err(self.d, np.abs(a)) + 1e-300
        top = -self._min_linear(-a, err) + a0
        return bool(top + 1e-12 * (1.0 + abs(top)) >= thresh)

    def _price_bound(self, cw, c0, a, a0, rhs, cw_err=0.0, c0_err=0.0):
        """A lower bound on ``min cw'.x + c0'`` over ``x in conv(F)`` (the box and one-hot
        sums) with ``a.x + a0 <= rhs`` (None when that set is proven empty), for every
        ``|cw' - cw| <= cw_err``, ``|c0' - c0| <= c0_err``: the margin condition dualised with
        the best multiplier ``mu >= 0`` among the breakpoints of the concave
        piecewise-linear dual function (any ``mu`` gives a valid bound)."""
        from ..certificates import safe

        u = safe.UNIT_ROUNDOFF
        if not self._side_possible(-a, -a0, -rhs):
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            mus = -cw / a
        mus = mus[np.isfinite(mus) & (mus > 0)]
        cands = np.unique(np.concatenate([[0.0], mus, mus * (1 + 1e-9)]))
        vals = self._dual_values(cw, c0, a, a0, rhs, cands)
        mu = float(cands[int(np.argmax(vals))])
        c = cw + mu * a
        cerr = 2 * u * (np.abs(cw) + np.abs(mu * a)) + cw_err + 1e-300
        # a0 - rhs is exact when the two are within a factor 2 (Sterbenz's lemma): the usual
        # case (margins near 1), where a huge mu must not be charged |mu| (|a0| + |rhs|) u
        diff = a0 - rhs
        exact_diff = a0 * rhs > 0 and abs(rhs) / 2 <= abs(a0) <= 2 * abs(rhs)
        diff_err = 0.0 if exact_diff else u * abs(diff)
        const = c0 + mu * diff
        cerr0 = 4 * u * (abs(c0) + abs(mu * diff)) + abs(mu) * diff_err + c0_err
        v = self._min_linear(c, cerr) + const
        return float(safe.lower(v, cerr0 + 4 * u * abs(v)))

    def _dual_values(self, cw, c0, a, a0, rhs, mus):
        """Float values (no rounding control: only used to choose ``mu``) of the dual
        function at the multipliers ``mus``."""
        lo, hi, groups, free = self._box_parts()
        if not groups and mus.size * cw.size > _DENSE_DUAL_LIMIT and np.all(np.isfinite(hi - lo)):
            return _box_dual_values(cw, c0, a, a0, rhs, mus, lo, hi)
        C = cw[None, :] + mus[:, None] * a[None, :]
        vals = np.sum(np.minimum(C[:, free] * lo[free], C[:, free] * hi[free]), axis=1)
        for g in groups:
            vals = vals + C[:, g].min(axis=1)
        return vals + c0 + mus * (a0 - rhs)

    def _infeasible(self, exc, n_margin, t0):
        nan = {lab: 0.0 for lab in LABELS}
        none = {lab: None for lab in LABELS}
        return MinPoisonResult(
            value=float("inf"), lower_bound=float("inf"), certified=float("inf"), gamma=nan,
            eta=dict(nan), points=none, idle_points=dict(none), beta=np.full(len(self.y_), np.nan),
            n_margin=n_margin, tol=self.tol, exact=False, solver=str(exc.solver),
            status="infeasible", seconds=time.perf_counter() - t0)

    def _point(self, zval, weight):
        if zval is None or weight <= WEIGHT_EPS * (1.0 + self.n_weight_):
            return None
        x = np.asarray(zval, float) / weight
        if self.domain is not None:
            x = np.clip(x, self.domain.lo, self.domain.hi)
        return x

    def side_point(self, label, role):
        """A point of ``F_label`` (convex relaxation) with ``y s_p(x) <= 1`` ('grad') or
        ``>= 1`` ('idle') under the current target, or None when there is none."""
        import cvxpy as cp

        x = cp.Variable(self.d, name="x_side")
        cons = self._cone(x, cp.Constant(1.0), label)[1:]
        m = label * (self._P["w"] @ x + self._P["b"])
        cons.append(m <= 1 if role == "grad" else m >= 1)
        prob = cp.Problem(cp.Minimize(0), cons)
        try:
            solvers.solve(prob, "SOCP" if self.conic_ else "LP", solver=self.solver)
        except SolverFailure as exc:
            if "infeasible" in str(exc.status) and "inaccurate" not in str(exc.status):
                return None
            raise
        return np.asarray(x.value, float)

    # ------------------------------------------------ exact: column generation
    def _pricing(self, label, role):
        """MILP ``min c . x`` over integer ``x in F_label`` on one side of the margin."""
        import cvxpy as cp

        cache = self.__dict__.setdefault("_pricers", {})
        key = (label, role, self._key)
        if key in cache:
            return cache[key]
        dom = self.domain
        kw = {"bounds": [dom.lo.copy(), dom.hi.copy()], "name": f"x_{role}_{label:+d}",
              "integer": [tuple(int(j) for j in np.flatnonzero(dom.integer))]}
        x = cp.Variable(self.d, **kw)
        c = cp.Parameter(self.d, name=f"price_{role}_{label:+d}")
        cons = []
        for comp in self.feasible.components:
            if isinstance(comp, DomainSet):
                cons += comp.domain.constraints(x, onehot=self.onehot)
            elif isinstance(comp, L2Sphere):
                # all coordinates integer: f(x) = x^2 at integers makes the §3.7 form exact
                g = cp.Constant(1.0)
                cons += self._integer_l2(x, g, label, comp)
            else:
                cons += comp.constraints(x, label)
        P = self._P
        m = label * (P["w"] @ x + P["b"])
        cons.append(m <= 1 if role == "grad" else m >= 1)
        prob = cp.Problem(cp.Minimize(c @ x), cons)
        solvers.assert_dpp(prob, "minimum-poison pricing MILP")
        cache[key] = (prob, x, c)
        return cache[key]

    def _price(self, label, role, cvec):
        """Proven lower bound on ``min c.x`` and a minimiser; ``(inf, None)`` if infeasible."""
        prob, x, c = self._pricing(label, role)
        c.value = cvec
        self._set_l2_params()
        try:
            info = solvers.solve(prob, "MILP", solver=self.milp_solver)
        except SolverFailure as exc:
            if "infeasible" in str(exc.status) and "inaccurate" not in str(exc.status):
                return float("inf"), None
            raise
        xv = np.clip(np.asarray(x.value, float), self.domain.lo, self.domain.hi)
        xv[self.domain.integer] = np.round(xv[self.domain.integer])
        return info.lower_bound(), xv

    def _roundings(self, frac, label, w, b, role, n=40, seed=0):
        """Randomised roundings of a fractional point that are feasible integer points on
        the right side of the target's margin (one category per one-hot group drawn with
        the fractional values as probabilities; other integer coordinates floor +
        Bernoulli(fraction), docs/integer.md)."""
        dom = self.domain
        rng = np.random.default_rng(seed)
        frac = np.clip(frac, dom.lo, dom.hi)
        grouped = np.zeros(self.d, bool)
        for g in dom.onehot_groups:
            grouped[g] = True
        other = dom.integer & ~grouped
        out = []
        for _ in range(n):
            x = frac.copy()
            fl = np.floor(x[other])
            x[other] = fl + (rng.random(other.sum()) < x[other] - fl)
            for g in dom.onehot_groups:
                p = np.clip(frac[g], 0, None)
                p = p / p.sum() if p.sum() > 0 else np.full(g.size, 1.0 / g.size)
                x[g] = 0.0
                x[g[rng.choice(g.size, p=p)]] = 1.0
            m = label * (x @ w + b)
            if (m <= 1 if role == "grad" else m >= 1) and self.feasible.contains(x, label, tol=0)[0]:
                if not any(np.array_equal(x, o) for o in out):
                    out.append(x)
        return out

    def _dual_bound(self, lam, lo, hi, price_min):
        """Lagrangian bound ``L(lambda) / max(1, -m)`` (see :meth:`_solve_exact`)."""
        Gl = self.G_ @ lam
        L = self.n_weight_ * float(lam @ self._P["ct"].value) + float(
            np.sum(np.minimum(lo * Gl, hi * Gl)))
        return L / max(1.0, -price_min)

    def _price_all(self, lam, ct, idle_ok, cols, seed=False):
        """``m``, a proven lower bound on ``min_col lambda . a_col``, and new columns
        (those of reduced cost ``1 + lambda . a < 0``; every pricing point when seeding)."""
        m, new = np.inf, []
        for lab in LABELS:
            # lambda . (-y (x, 1) + ct) = lambda.ct - y lambda_b - y lambda_w . x
            v, x = self._price(lab, "grad", -lab * lam[:-1])
            if x is not None:
                val = v + float(lam @ ct) - lab * lam[-1]
                m = min(m, val)
                fresh = not any(c[0] == lab and c[1] == "grad" and np.array_equal(c[2], x)
                                for c in cols)
                if fresh and (seed or val < -1 + 1e-9):
                    new.append((lab, "grad", x))
            if idle_ok.get(lab) is not None:
                m = min(m, float(lam @ ct))
        return (m if np.isfinite(m) else 0.0), new

    def _solve_exact(self, w, b, lo, hi, n_margin, t0):
        """Column generation over integer poison points (Dantzig--Wolfe on the cones).

        Columns are integer points ``x`` of ``F_y`` with a role: 'grad' (``y s_p <= 1``,
        column ``-y (x, 1) + C_R theta_p``) or 'idle' (``y s_p >= 1``, column
        ``C_R theta_p``).  For multipliers ``lambda`` of the KKT rows the Lagrangian is

            L(lambda) = N C_R lambda.theta_p + sum_i min_{beta_i in [lo_i, hi_i]} beta_i (G lambda)_i
                        + sum_columns min_{c >= 0} c (1 + lambda . a_col)

        and with ``m <= min_col lambda . a_col`` (the pricing MILPs' proven bounds), the
        scaled multipliers ``lambda / max(1, -m)`` are dual feasible, so
        ``L(lambda) / max(1, -m)`` bounds the exact optimum from below -- in every round.
        The master is seeded with the pricing points of the relaxation's multipliers; a
        penalised residual keeps it feasible until enough columns exist.
        """
        import cvxpy as cp

        ct = self._P["ct"].value
        try:                                        # the relaxation (built in fit)
            info = solvers.solve(self._prob, self.kind_, solver=self.solver)
        except SolverFailure as exc:
            if "infeasible" in str(exc.status) and "inaccurate" not in str(exc.status):
                return self._infeasible(exc, n_margin, t0)   # the relaxation is infeasible
            raise
        lam = np.asarray(self._kkt.dual_value, float)   # cvxpy: L = f + lambda . h
        relax_value = float(info.value)
        cols = []                                   # (label, role, x)
        used = {info.solver}
        scale = max(1.0, float(np.abs(self.G_).sum(axis=0).max()))
        idle_ok = {}
        if self.idle:
            for lab in LABELS:
                _, x = self._price(lab, "idle", np.zeros(self.d))
                idle_ok[lab] = x
                if x is not None:
                    cols.append((lab, "idle", x))
        # round 0 prices with the relaxation's multipliers (seeding the master), plus
        # randomised roundings of the relaxation's fractional points (Koh et al. §3.3)
        m, new = self._price_all(lam, ct, idle_ok, cols, seed=True)
        best_lb = self._dual_bound(lam, lo, hi, m)
        cols += new
        V = self._vars
        for lab in LABELS:
            gval = float(V["g"][lab].value)
            if gval > WEIGHT_EPS * (1.0 + self.n_weight_):
                frac = np.asarray(V["z"][lab].value, float) / gval
                for x in self._roundings(frac, lab, w, b, "grad"):
                    if not any(c[0] == lab and c[1] == "grad" and np.array_equal(c[2], x) for c in cols):
                        cols.append((lab, "grad", x))
        big = 100.0 * max(1.0, float(np.abs(lam).max()))
        master_val, weights, rounds = np.inf, None, 0
        while rounds < self.max_rounds:
            rounds += 1
            # master LP over the generated columns; an L1-penalised residual keeps it
            # feasible while too few columns exist (exact penalty once big > |lambda*|)
            n_col = len(cols)
            A = np.zeros((self.d + 1, n_col))
            for j, (lab, role, x) in enumerate(cols):
                A[:, j] = ct + (-lab * np.append(x, 1.0) if role == "grad" else 0.0)
            c = cp.Variable(n_col, nonneg=True)
            on = np.flatnonzero(hi > lo)               # margin points: beta in [0, 1]
            fixed = self.G_.T @ lo
            r = cp.Variable(self.d + 1)
            lhs = A @ c + (fixed + self.n_weight_ * ct) + r
            if on.size:
                delta = cp.Variable(on.size, bounds=[np.zeros(on.size), np.ones(on.size)])
                lhs = lhs + self.G_[on].T @ delta
            rows = lhs == 0
            master = cp.Problem(cp.Minimize(cp.sum(c) + big * cp.norm1(r)), [rows])
            minfo = solvers.solve(master, "LP", solver=self.solver)
            used.add(minfo.solver)
            lam = np.asarray(rows.dual_value, float)
            resid = float(np.abs(r.value).sum())
            if resid <= 1e-7 * scale:
                master_val, weights = float(np.sum(c.value)), np.asarray(c.value, float)
            m, new = self._price_all(lam, ct, idle_ok, cols)
            best_lb = max(best_lb, self._dual_bound(lam, lo, hi, m))
            if self.progress is not None:
                self.progress(f"column generation round {rounds}: {n_col} columns, master "
                              f"{master_val:.6g} (residual {resid:.2g}), bound {best_lb:.6g}, "
                              f"{time.perf_counter() - t0:.1f} s")
            if np.isfinite(master_val) and master_val - best_lb <= self.gap * max(1.0, master_val):
                break
            if not new:
                if np.isfinite(master_val):
                    break
                big *= 10.0                         # penalty too small: the residual stays
                if big > 1e12:
                    break
            cols += new
        if weights is None or not np.isfinite(master_val):
            raise SolverFailure("column generation found no integer poison set realising the "
                                f"target within {rounds} rounds (Lagrangian bound {best_lb:.6g})",
                                solver="+".join(sorted(used)), status="not converged")
        keep = weights > WEIGHT_EPS * (1.0 + self.n_weight_)
        columns = [(cols[j][0], cols[j][1], cols[j][2], float(weights[j])) for j in np.flatnonzero(keep)]
        gamma = {lab: sum(wt for l_, r_, _, wt in columns if l_ == lab and r_ == "grad") for lab in LABELS}
        eta = {lab: sum(wt for l_, r_, _, wt in columns if l_ == lab and r_ == "idle") for lab in LABELS}
        points = {lab: _heaviest(columns, lab, "grad") for lab in LABELS}
        idle = {lab: _heaviest(columns, lab, "idle") for lab in LABELS}
        # floating-point allowance on the (exactly evaluated) Lagrangian bound
        lb = min(max(best_lb - 1e-9 * (1.0 + abs(best_lb)), info.lower_bound()), master_val)
        return MinPoisonResult(
            value=master_val, lower_bound=float(lb), certified=sound_ceil(max(lb, 0.0)),
            gamma=gamma, eta=eta, points=points, idle_points=idle,
            beta=np.full(len(self.y_), np.nan), n_margin=n_margin, tol=self.tol, exact=True,
            solver="+".join(sorted(used)), status="optimal" if master_val - lb <= self.gap * max(1.0, master_val) + 1e-9 else "gap",
            seconds=time.perf_counter() - t0, iterations=rounds, upper_value=master_val,
            relaxed_value=relax_value, relaxed_lower_bound=info.lower_bound(), columns=columns,
            generated=list(cols))


def _dualised(cw, c0, rows):
    """``(cw + sum nu a, c0 - sum nu r)`` over ``rows = [(a, r, nu), ...]`` and bounds on
    their rounding errors: a pricing objective with the half-spaces ``a.x <= r`` dualised
    (:meth:`MinimumPoisonProgram.verified_bound`)."""
    from ..certificates import safe

    if not rows:
        return cw, c0, 0.0, 0.0
    A = np.array([a for a, _, _ in rows], float)
    r = np.array([r_ for _, r_, _ in rows], float)
    nu = np.array([n for _, _, n in rows], float)
    k = len(rows) + 1
    cw_err = safe.dot_err(k, np.abs(cw) + nu @ np.abs(A))
    c0_err = float(safe.dot_err(k, abs(c0) + float(nu @ np.abs(r))))
    return cw + nu @ A, c0 - float(nu @ r), cw_err, c0_err


def _clean_gradient(P, G):
    """The clean points' gradient ``G^T beta`` with ``beta = lo + (hi - lo) * delta``,
    ``delta in [0, 1]``: ``(G^T lo) + G^T ((hi - lo) * delta)`` and ``delta``.

    Writing the target-dependent bounds ``lo <= beta <= hi`` directly would make most of
    them equalities split into two inequalities (``lo = hi``), a feasible set with empty
    interior on which interior-point solvers (Clarabel, ECOS) report infeasibility (seen
    on adult); this form keeps a strictly feasible ``delta`` and stays DPP
    (parameter x variable).  ``lo`` enters only through ``G^T lo``, one Parameter of
    ``d + 1`` entries (``clean_grad_lo``) instead of one per clean point: cvxpy's compile
    reshapes the program's data into (rows, variables x Parameter entries), so the ``n``
    Parameters fewer halve that work (the screening program on spambase: 4.1-4.5 s ->
    1.6-2.7 s)."""
    import cvxpy as cp

    n = G.shape[0]
    delta = cp.Variable(n, name="delta", bounds=[np.zeros(n), np.ones(n)])
    return P["glo"] + G.T @ cp.multiply(P["free"], delta), delta


def _heaviest(columns, lab, role):
    best = [c for c in columns if c[0] == lab and c[1] == role]
    return max(best, key=lambda c: c[3])[2] if best else None


# ------------------------------------------------------- fixed counts (attack)
class FixedCountKKT:
    """KKT-residual minimisation with the copy counts fixed (Koh et al. 2021 equation (17) with ``theta_d = theta_p``; docs/kkt.md).

    Slots ``k`` hold ``n_k`` copies of a point ``x_k in F_{y_k}``; a 'grad' slot is on the
    active side of the margin (``y s_p(x) <= 1``, gradient ``-y (x, 1)``), an 'idle' slot
    outside it (``y s_p(x) >= 1``, no gradient).  Minimise the norm of ``W`` times the
    training objective's subgradient at ``theta_p`` over the points and the clean
    margin multipliers:

        r = G^T beta - sum_grad y_k n_k (x_k, 1) + (N + sum_k n_k) C_R theta_p

    Continuous domains: ``|r|_2^2`` (a QP; SOCP with L2/SVD components).  Integer
    coordinates: ``|r|_1`` with integer points (a MILP; ``n_k x_k`` is linear because
    the counts are fixed).  Counts and target are Parameters: the program is built once
    per (slots, target partition) and re-solved for every count vector.

    By ``C_R``-strong convexity, with the exact margin partition, the model trained on the
    result lies within ``|r|_2 / (W C_R)`` of the target.
    """

    def __init__(self, program: MinimumPoisonProgram, slots, integer=None, solver=None):
        import cvxpy as cp

        self.program = program
        self.slots = list(slots)                      # [(label, role), ...]
        prog = program
        dom = prog.domain
        self.integer = (dom is not None and dom.has_integers) if integer is None else bool(integer)
        comps = prog.feasible.components
        if self.integer and (any(isinstance(c, SVDResidual) for c in comps) or (
                any(isinstance(c, L2Sphere) for c in comps) and not dom.integer.all())):
            raise InputError("integer: integer points need a polyhedral feasible set (l2 only "
                             "with every coordinate integer; no svd); relax the points instead")
        self.solver = solver
        P = prog._P
        d = prog.d
        grad, _ = _clean_gradient(P, prog.G_)
        cons = []
        counts = cp.Parameter(len(self.slots), nonneg=True, name="counts")
        wct = cp.Parameter(d + 1, name="W_reg_theta_p")     # (N + sum n) C_R theta_p
        r = grad + wct
        xs = []
        for k, (lab, role) in enumerate(self.slots):
            kw = {"name": f"x_{k}"}
            if dom is not None:
                kw["bounds"] = [dom.lo.copy(), dom.hi.copy()]
                if self.integer:
                    kw["integer"] = [tuple(int(j) for j in np.flatnonzero(dom.integer))]
            x = cp.Variable(d, **kw)
            xs.append(x)
            for comp in prog.feasible.components:
                if isinstance(comp, DomainSet):
                    cons += comp.domain.constraints(x, onehot=prog.onehot)
                elif isinstance(comp, L2Sphere) and self.integer:
                    cons += prog._integer_l2(x, cp.Constant(1.0), lab, comp)
                else:
                    cons += comp.constraints(x, lab)
            m = lab * (P["w"] @ x + P["b"])
            if role == "grad":
                cons.append(m <= 1)
                r = r - lab * counts[k] * cp.hstack([x, np.ones(1)])
            else:
                cons.append(m >= 1)
        if self.integer:
            obj = cp.norm1(r)
            self.kind_ = "MILP"
        else:
            obj = cp.sum_squares(r)
            self.kind_ = "SOCP" if prog.conic_ else "QP"
        self._prob = cp.Problem(cp.Minimize(obj), solvers.stack_norm_cones(cons))
        solvers.assert_dpp(self._prob, "fixed-count KKT program")
        self._r, self._xs, self._counts, self._wct = r, xs, counts, wct

    @property
    def problem(self):
        """The cvxpy program (not solved); :meth:`set_counts` loads its Parameters
        ``counts`` and ``W_reg_theta_p`` (the target comes from the minimum-poison
        program's :meth:`~MinimumPoisonProgram.set_target`)."""
        return self._prob

    def set_counts(self, counts):
        """Load the copy counts (one per slot) into the program's Parameters."""
        prog = self.program
        counts = np.asarray(counts, float)
        if counts.shape != (len(self.slots),):
            raise InputError(f"counts: expected {len(self.slots)} counts (one per slot), "
                             f"got shape {counts.shape}")
        if prog._P["ct"].value is None:
            raise InputError("counts: set the target first (MinimumPoisonProgram.set_target)")
        self._counts.value = counts
        self._wct.value = prog.reg_weight(counts.sum()) * prog._P["ct"].value
        return self

    def describe(self, counts=None):
        """A readable summary of :attr:`problem` (``counts`` loaded when given)."""
        from .summary import describe

        if counts is not None:
            self.set_counts(counts)
        n = len(self.slots)
        return describe(self._prob, kind=self.kind_, solver=self.solver,
                        title=f"fixed-count KKT program ({n} slot{'s' if n != 1 else ''})")

    def _options(self):
        # the program's drop_zeros and ignore_dpp (solvers.solve, solvers.dpp_options) hold
        # here too: the same G^T beta, the same products of w_p and points
        return {k: v for k, v in self.program.solver_options.items()
                if k in ("drop_zeros", "ignore_dpp")}

    def compile_ahead(self, near=False):
        """Compile the program for its solver now (:func:`~convexpoison.solvers.compile_ahead`),
        the target loaded by ``set_target`` and one copy per slot standing in for the
        counts: its first :meth:`solve` then only loads the counts; with ``near`` also
        :meth:`solve_near`'s program."""
        self.set_counts(np.ones(len(self.slots)))
        solvers.compile_ahead(self._prob, self.kind_, solver=self.solver, **self._options())
        if near and not self.integer:
            prob, A, rho = self._near_program()
            A.value, rho.value = np.zeros(A.shape), 1.0
            solvers.compile_ahead(prob, "SOCP", solver=self.solver, **self._options())
        return self

    def solve(self, counts):
        """Points and residual norm for integer ``counts`` (one per slot)."""
        self.set_counts(counts)
        info = solvers.solve(self._prob, self.kind_, solver=self.solver, **self._options())
        return self._points(), float(np.linalg.norm(np.asarray(self._r.value, float))), info

    def _points(self):
        """The slots' points of the last solve, inside the domain."""
        X = np.array([np.asarray(x.value, float) for x in self._xs])
        dom = self.program.domain
        if dom is not None:
            X = np.clip(X, dom.lo, dom.hi)
            if self.integer:
                X[:, dom.integer] = np.round(X[:, dom.integer])
        return X

    def _near_program(self):
        """``(problem, anchors, bound)`` of :meth:`solve_near`, built once like the residual
        program: the anchors and the residual bound are Parameters."""
        import cvxpy as cp

        if not hasattr(self, "_near"):
            A = cp.Parameter((len(self.slots), self.program.d), name="anchors")
            rho = cp.Parameter(nonneg=True, name="residual_bound")
            # |x - a|^2 = |x|^2 - 2<a, x> + |a|^2: the same minimiser with the anchors kept
            # out of the cone (inside sum_squares their Parameter spreads over the cone's
            # rows: the compile took 5.5-8.5 s on mnist17 instead of 1.8 s, the solve a
            # third longer)
            dist = sum(cp.sum_squares(x) - 2 * (A[k] @ x) for k, x in enumerate(self._xs))
            prob = cp.Problem(cp.Minimize(dist),
                              self._prob.constraints + [cp.norm(self._r, 2) <= rho])
            solvers.assert_dpp(prob, "fixed-count program nearest anchors")
            self._near = prob, A, rho
        return self._near

    def solve_near(self, counts, anchors, residual):
        """Points for ``counts`` nearest ``anchors`` (one row per slot, squared Euclidean
        distance summed over the slots) among those whose residual norm is at most
        ``residual`` (:meth:`solve`'s least, plus a hair): the same target within the same
        bound (the class docstring), the points placed where the caller wants them.  Many
        placements induce a target with a given count vector; which one the defenses see
        decides the damage (docs/reachable-history.md, *Realisations near the polished poison*).  Continuous points
        only (the residual's L2 norm).  Returns ``(points, residual norm, SolveInfo)``;
        raises :class:`SolverFailure` like :meth:`solve`.

        The bound is an equality in all but name for an exactly induced target (least
        residual ~1e-12, bound 1e-7), and there the solver often stops at
        ``optimal_inaccurate`` with points that induce the target to 1e-9 (mnist17).  Such
        a placement is accepted when the residual recomputed from its points is within the
        bound (+5%: answers reported ``optimal`` were measured 3% above it, the solver's
        feasibility tolerance): it is a placement, which the caller's exact retraining
        judges, not a bound on anything."""
        if self.integer:
            raise InputError("anchors: the fixed-count program places integer points by "
                             "their residual alone")
        anchors = np.asarray(anchors, float)
        if anchors.shape != (len(self.slots), self.program.d):
            raise InputError(f"anchors: expected {len(self.slots)} rows of "
                             f"{self.program.d} coordinates, got shape {anchors.shape}")
        prob, A, rho = self._near_program()
        self.set_counts(counts)
        A.value = anchors
        # room for the solver's own tolerance on the bound (its optimum sits on it)
        rho.value = float(residual) * (1.0 + 1e-3) + 1e-7
        info = solvers.solve(prob, "SOCP", solver=self.solver, inaccurate_ok=True,
                             **self._options())
        rn = float(np.linalg.norm(np.asarray(self._r.value, float)))
        if not rn <= rho.value * 1.05:
            raise SolverFailure(f"the points nearest the anchors leave residual {rn:.3g} above "
                                f"the bound {rho.value:.3g} ({info.solver}={info.status})",
                                solver=info.solver, status=info.status)
        return self._points(), rn, info
