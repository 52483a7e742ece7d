"""The certified upper bound on the damage of an eps-fraction attack (docs/upper-bound.md).

Steinhardt, Koh & Liang (2017), in the form of Koh et al. (2021) section 4.3: the defender
trains a hinge-loss SVM on ``Dc u Dp`` (``N = |Dc|`` clean points, ``|Dp| <= eps N``
poison points, each inside the feasible set ``F_y`` -- the domain intersected with the
sets that survive the defenses, fitted on the clean data and then held fixed).  Write the
training objective multiplied by ``(N + |Dp|) / N``:

    M(theta; Dp) = L(theta; Dc)/N + L(theta; Dp)/N + C_R (1 + |Dp|/N) R(theta),

``L`` sums of hinge losses, ``R = 1/2 (|w|^2 + b^2)`` (bias regularised, as in training).
Its minimum over ``theta`` is what the defender attains.  Since ``L(theta; Dp) <= |Dp|
max_{(x,y) in F} l(theta; x, y)`` and ``R >= 0``, every such ``Dp`` has

    min_theta M(theta; Dp) <= U = min_theta [ L(theta; Dc)/N + eps max_{(x,y) in F} l(theta; x, y)
                                              + C_R (1 + eps) R(theta) ].

**Other defenders** (``defender=``, docs/defender.md).  Under scikit-learn's ``C`` on the
sum the objective divided by ``C N`` is ``L(theta; Dc)/N + L(theta; Dp)/N + R(theta)/(C N)``:
the regulariser does not grow with the poison, so

    U = min_theta [ L(theta; Dc)/N + eps max_F l(theta; x, y) + R(theta) / (C N) ]

(no ``1 + eps``).  With a free intercept ``R = 1/2 |w|^2`` (the program stays bounded: the
clean hinge sum is coercive in ``b`` when both classes are present).  ``R >= 0`` either
way, so the clean training loss is bounded by ``U`` as below.

**What is bounded.** For every poison set of at most ``eps N`` points inside ``F``, the
defender's optimal training objective on ``Dc u Dp`` in the normalisation above (the
clean loss *sum* divided by ``N``, plus the poison loss sum divided by ``N``, plus
``C_R (1 + eps) R``) is at most ``U``; in particular the poisoned model's clean
training loss ``L(theta_hat; Dc)/N`` is at most ``U`` (Steinhardt et al.'s proxy for the
damage).  Assumptions: exact training (an eps-minimiser can only be below ``U + its
gap``), the defenses' thresholds fixed from the clean data ("fixed defense" of Steinhardt
et al.), hinge loss.  For integer domains ``F`` is relaxed to its convex hull (a larger
set: ``U`` stays an upper bound).

**One convex program.**  ``max_{x in F_y} hinge = max(0, 1 - y b + sigma_{F_y}(-y w))``
with the support function of ``F_y`` written by
:meth:`convexpoison.feasible.FeasibleSet.support_function` (its infimal-convolution form
is ``>= sigma``, so the program's optimum is ``>= U``: still an upper bound).  The outer
minimum is then one SOCP in ``(w, b)``, built once with ``eps`` a ``cp.Parameter`` (DPP):
:class:`convexpoison.programs.upper_bound.UpperBoundProgram`.

**Soundness.**  The reported ``upper_bound`` is *not* the solver's value: it is
``G(theta_hat)`` -- the bracket above evaluated in numpy at the returned ``theta_hat``,
with the inner maximum replaced by its proven upper bound (closed form for a box,
otherwise a tolerance-accounted solver bound) and a floating-point allowance.  Every
``theta`` gives an upper bound on ``min_theta``, so solver inaccuracy costs tightness,
never soundness.  ``program_lower_bound`` is the solver's tolerance-accounted lower bound
on the program's optimum (the bound cannot be improved below it with this ``F``).

**The matching attack.**  ``min_theta max_{p in Delta(F)}`` of the bracket (with ``eps
E_p l`` for ``eps max l``) is a convex-concave saddle problem.  At the optimum the
multipliers ``lambda_y`` of the epigraph constraints ``m >= max_x hinge_y`` split ``eps``
among the labels and the maximisers ``x_y`` at ``theta_hat`` carry the mass: the poison set
``{(x_y, y) with weight N lambda_y}`` makes training return ``theta_hat`` (when the
maximisers are unique) and attains ``U`` -- Steinhardt et al.'s candidate attack.
:meth:`CertifiedUpperBound.matching_attack` returns it with integer copy counts
(``floor(eps N)`` points in all, split by largest remainder).  It is a by-product of the
certificate, not an attack object (:mod:`convexpoison.attacks.minmax` is the attack).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import solvers
from ..errors import InputError, SolverFailure
from ..feasible import DomainSet, as_feasible
from ..programs.regularizer import RegTerms, hinge_defender
from ..programs.upper_bound import UpperBoundProgram, WorstHingeProgram
from ..training import LinearModel, objective
from ..validation import (check_fraction, check_positive, check_weights, check_X, check_y,
                          is_sparse, stack_rows)
from .base import Certificate

__all__ = ["UpperBoundResult", "CertifiedUpperBound", "certified_upper_bound",
           "max_hinge", "poisoned_training_loss", "upper_bound_statement", "QUANTITY"]

#: What ``upper_bound`` bounds (the certificate's damage quantity).
QUANTITY = ("the defender's optimal training objective on Dc u Dp normalised by the clean "
            "count N: L(theta;Dc)/N + L(theta;Dp)/N + C_R (1+eps)/2 (|w|^2+b^2), hence also "
            "the poisoned model's clean training loss (1/N) sum hinge")

_EPS = np.finfo(float).eps


@dataclass
class UpperBoundResult:
    """See :class:`CertifiedUpperBound`."""

    upper_bound: float                # sound U (evaluated at model)
    program_value: float              # the SOCP's optimal value
    program_lower_bound: float        # tolerance-accounted lower bound on it
    model: LinearModel                # theta_hat, the minimiser
    epsilon: float
    clean_loss: float                 # L(theta_hat; Dc) / N
    worst_loss: dict                  # label -> proven upper bound on max_{x in F_y} hinge
    points: dict                      # label -> the maximiser x_y at theta_hat
    label_fraction: dict              # label -> lambda_y / eps (share of the poison mass)
    status: str
    solver: str
    seconds: float
    n_clean: float = 0.0
    extra: dict = field(default_factory=dict)

    def certificate(self, statement="") -> Certificate:
        """This bound as a :class:`~convexpoison.certificates.base.Certificate`
        (``upper_bound`` = ``U``; no bound on the number of points)."""
        return Certificate(
            method="upper_bound", statement=statement, upper_bound=self.upper_bound,
            value=self.program_value, quantity=QUANTITY, solver=self.solver,
            status=self.status, seconds=self.seconds,
            details={"program_value": self.program_value,
                     "program_lower_bound": self.program_lower_bound,
                     "clean_loss_at_minimiser": self.clean_loss, "epsilon": self.epsilon,
                     "inner_verified": bool(self.extra.get("inner_verified", False)),
                     "defender": self.extra.get("defender", "")})


def upper_bound_statement(upper_bound, epsilon, n_clean, where, reg, attack_points=None,
                          attack_value=None, *, defender=None, inner_verified=False,
                          integer=False):
    """What the certified ``U`` proves, in one paragraph (``where``: the feasible set and
    its thresholds in words; ``defender``: the training it covers, default the package's
    SVM with ``C_R = reg``; ``inner_verified``: the inner maxima are the closed-form split
    bounds of :func:`split_hinge_bound`; ``integer``: the domain has integer coordinates,
    relaxed to their box)."""
    from ..programs.regularizer import defender_words

    D = hinge_defender(defender, reg, "the certified upper bound")
    tail = ("" if attack_points is None else
            f"  The matching attack ({attack_points} points) reaches {attack_value:.6g}.")
    R = "(|w|^2+b^2)" if D.penalize_intercept else "|w|^2"
    term = (f"C_R (1+eps)/2 {R}" if D.convention == "average" else
            f"1/(2 C N) {R}")
    return (
        f"For every poison set of at most eps*N = {epsilon * n_clean:g} points "
        f"(eps = {epsilon:g}, N = {n_clean}) lying inside F = {where}, the defender's exactly "
        f"trained hinge-loss SVM ({defender_words(D)}) satisfies L(theta;Dc)/N + "
        f"L(theta;Dp)/N + {term} <= {upper_bound:.6g}; in particular its "
        f"clean training loss (1/N) sum hinge <= {upper_bound:.6g}.  Steinhardt et al. (2017) "
        f"bound, one convex program, evaluated at the returned model with "
        + ("inner maxima in closed form from the program's split of the support function "
           "(box + L2 ball + slab, outward rounding: no solver tolerance assumed; the model "
           "itself may be any, it only costs tightness)" if inner_verified else
           "proven inner maxima (solver bound + 1e-7 slack; this assumes the solver met its "
           "tolerances: not verified in floating point, docs/minpoison.md 'Safe bounds')")
        + (".  Integer coordinates (word counts) are relaxed to their box: the maximum over "
           "the relaxation is at least the maximum over integer poison points, so the bound "
           "covers them" if integer else "")
        + f".{tail}")


class CertifiedUpperBound:
    """Steinhardt et al.'s certificate ``U`` for an ``epsilon``-fraction attacker in ``F``.

    Parameters
    ----------
    feasible : Domain or fitted FeasibleSet -- ``F_y`` (domain, l2, slab, loss, svd).
    reg : the defender's ``C_R`` (with ``defender=None``).
    epsilon : poison fraction ``|Dp| / N``.
    defender : the training the bound is about (a Defender, a ``--defender`` spelling or a
        scikit-learn estimator; default the package's SVM with ``C_R = reg``).
    solver, solver_options : for the SOCP (``solvers.solve``).

    After :meth:`fit` (clean data): ``upper_bound_``, ``model_``, ``points_``,
    ``label_fraction_``, ``result_`` (an :class:`UpperBoundResult`).  The program is
    built once; :meth:`fit` with a new ``epsilon`` (``set_params``) re-solves it.
    """

    def __init__(self, feasible, reg, epsilon=0.03, *, solver=None, solver_options=None,
                 onehot=True, defender=None):
        self.feasible = as_feasible(feasible)
        self.reg = None if reg is None else check_positive(reg, "reg")
        self.defender = defender
        self.defender_ = hinge_defender(defender, self.reg, "the certified upper bound")
        self.epsilon = check_fraction(epsilon, "epsilon")
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.onehot = bool(onehot)
        self._prob = None

    def set_params(self, **kw):
        for k, v in kw.items():
            if k == "epsilon":
                v = check_fraction(v, "epsilon")
            setattr(self, k, v)
        return self

    # ---------------------------------------------------------------- building
    def _build(self, X, y, s):
        self.program_ = prog = UpperBoundProgram(self.feasible, None, X, y, s,
                                                 onehot=self.onehot, defender=self.defender_)
        self._prob, self._w, self._b, self._eps = prog.problem, prog.w, prog.b, prog.epsilon
        self._label_cons, self._split_cons = prog.label_cons, prog.split_cons

    def _conic(self):
        return self.feasible.conic

    # -------------------------------------------------------------- inspecting
    @property
    def kind_(self):
        """The program's class: an SOCP with the L2 / SVD components, else a QP."""
        return "SOCP" if self._conic() else "QP"

    def _ensure(self, X, y, sample_weight):
        X = check_X(X, "X", d=self.feasible.d, accept_sparse=True)   # text stays CSR
        y = check_y(y, X.shape[0], "y")
        s = check_weights(sample_weight, len(y))
        if self._prob is None or getattr(self, "_shape", None) != (X.shape, id(X)):
            self._build(X, y, s)
            self._shape = (X.shape, id(X))
        self._eps.value = self.epsilon
        return X, y, s

    def program(self, X, y, sample_weight=None):
        """The certificate's program for clean data ``(X, y)``, built (not solved) with its
        Parameter ``epsilon`` set; :meth:`fit` solves this same object (its optimal value
        is ``result_.program_value``)."""
        self._ensure(X, y, sample_weight)
        return self._prob

    @property
    def problem(self):
        """The program last built by :meth:`program` or :meth:`fit` (variables ``w``,
        ``b``, ``max_hinge``, ``g_p``, ``g_m``; Parameter ``epsilon``)."""
        if self._prob is None:
            raise InputError("CertifiedUpperBound: call program(X, y) or fit first")
        return self._prob

    def describe(self, X=None, y=None, sample_weight=None):
        """A readable summary of the program (built from ``X, y`` when given):
        :func:`convexpoison.programs.summary.describe`."""
        from ..programs.summary import describe

        prob = self.program(X, y, sample_weight) if X is not None else self.problem
        return describe(prob, kind=self.kind_, solver=self.solver,
                        title="certified upper bound (Steinhardt et al.)")

    # ----------------------------------------------------------------- solving
    def fit(self, X, y, sample_weight=None):
        """Solve the program on clean data ``(X, y)`` and certify ``U`` soundly."""
        t0 = time.perf_counter()
        X, y, s = self._ensure(X, y, sample_weight)
        # text (d = 6660): the DPP form's parameter tensor grows like d^2 (solvers.DPP_MAX_D)
        opts = {**solvers.dpp_options(X.shape[1]), **self.solver_options}
        info = self.program_.solve(self.epsilon, solver=self.solver, **opts)
        N = float(s.sum())
        T = RegTerms(self.defender_)
        model = LinearModel(np.asarray(self._w.value, float).copy(), float(self._b.value),
                            "svm", self.defender_.reg_for(N))
        # the maximisers (points of F_y for the matching attack) and the solver's bound
        worst, points = max_hinge(self.feasible, model, onehot=self.onehot,
                                  _cache=self.__dict__.setdefault("_hinge_cache", {}))
        splits = self._splits()
        if splits is not None:          # closed form, no solver trusted (split_hinge_bound)
            worst = split_hinge_bound(self.feasible, model, splits, onehot=self.onehot)[0]
        clean_sum = float(s @ model.losses(X, y))
        absX = abs(X) if is_sparse(X) else np.abs(X)
        mag = float(s @ (np.asarray(absX @ np.abs(model.w)).ravel() + abs(model.b) + 1.0))
        clean_ub = (clean_sum + 4.0 * (len(y) + X.shape[1] + 4) * _EPS * mag) / N
        worst_all = max(0.0, max(worst.values()))
        R = T.R(model)
        if T.average:
            U = clean_ub + self.epsilon * worst_all + T.D.reg * (1 + self.epsilon) * R
        else:                                   # R / (C N): no (1 + eps) under C on the sum
            U = clean_ub + self.epsilon * worst_all + R / (T.D.C * N)
        U += 8 * _EPS * abs(U)
        lam = {lab: max(0.0, float(np.asarray(c.dual_value).reshape(())))
               if c.dual_value is not None else 0.0 for lab, c in self._label_cons.items()}
        frac = {lab: (v / self.epsilon if self.epsilon > 0 else 0.0) for lab, v in lam.items()}
        points, attained = self._saddle_points(model, lam, points, worst)
        self.result_ = UpperBoundResult(
            upper_bound=float(U), program_value=float(info.value),
            program_lower_bound=float(info.lower_bound()), model=model, epsilon=self.epsilon,
            clean_loss=clean_sum / N, worst_loss=worst, points=points, label_fraction=frac,
            status=info.status, solver=info.solver, seconds=time.perf_counter() - t0, n_clean=N,
            extra={"attained": attained, "defender": self.defender_.spec(),
                   "inner_verified": splits is not None})
        self.upper_bound_ = self.result_.upper_bound
        self.model_ = model
        self.points_ = points
        self.label_fraction_ = frac
        return self

    def _splits(self):
        """Per label, the program's split of ``g_y = -y w`` among the components (the
        infimal convolution of :meth:`FeasibleSet.support_function`): ``{component: value}``
        for the L2 sphere (its vector ``g_l2``) and the slab (its scalar ``alpha``), the
        domain taking the remainder.  None when a component has no closed-form support
        here (svd, loss) or the solver returned no values: the inner maximum then comes
        from :func:`max_hinge`'s solver bound."""
        from ..feasible import L2Sphere, Slab

        comps = self.feasible.components
        if not any(isinstance(c, DomainSet) for c in comps):
            return None
        if not all(isinstance(c, (DomainSet, L2Sphere, Slab)) for c in comps):
            return None
        if sum(isinstance(c, L2Sphere) for c in comps) > 1 or sum(isinstance(c, Slab) for c in comps) > 1:
            return None
        byname = {v.name(): v for v in self._prob.variables()}
        out = {}
        for lab in (-1, 1):
            tag = f"{'p' if lab > 0 else 'm'}{abs(lab)}"
            parts = {}
            for c in comps:
                if isinstance(c, DomainSet):
                    continue
                var = byname.get(("g_l2_" if isinstance(c, L2Sphere) else "alpha_slab_") + tag)
                if var is None or var.value is None or not np.all(np.isfinite(var.value)):
                    return None
                parts[c] = np.asarray(var.value, float)
            out[lab] = parts
        return out

    def _saddle_points(self, model, lam, points, worst):
        """The attacker's points at the saddle point: ``x_y = -nu_y / lambda_y`` from the
        multipliers ``nu_y`` of ``g_y = -y w`` (Lagrangian stationarity in ``g_y``:
        ``-nu_y / lambda_y`` is a subgradient of ``sigma_{F_y}`` at ``-y w``, i.e. a point of
        ``F_y`` -- the mean of the optimal mixture -- that maximises the hinge at
        ``theta_hat``).  A single maximiser is not enough when ``theta_hat`` sits at a kink
        of the max (whole faces of ``F_y`` maximise), which is where minimax optima usually
        sit.  Falls back to the primal maximiser of :func:`max_hinge` when ``lambda_y`` is
        negligible or the recovered point is not in ``F_y`` to 1e-6.
        Returns ``(points, attained)``: ``attained[y]`` is the hinge of ``x_y`` at ``theta_hat``."""
        dom = self.feasible.domain
        out, attained = dict(points), {}
        for lab in (-1, 1):
            nu = self._split_cons[lab].dual_value
            if lam[lab] > 1e-9 * max(self.epsilon, 1e-300) and nu is not None:
                x = -np.asarray(nu, float).ravel() / lam[lab]
                if dom is not None:
                    x = np.clip(x, dom.lo, dom.hi)
                if bool(self.feasible.contains(x, lab, tol=1e-6)[0]):
                    out[lab] = x
            attained[lab] = float(max(0.0, 1 - lab * (out[lab] @ model.w + model.b)))
        return out, attained

    # ------------------------------------------------------- the matching attack
    def matching_attack(self, n_clean=None, integer=True):
        """``(X_poison, y_poison, weight)`` of the matching attack (module docstring).

        ``integer=True``: ``floor(eps N)`` copies in all, split over the labels by largest
        remainder of ``eps N lambda_y``; otherwise the fractional weights ``N lambda_y``.
        """
        res = self.result_
        N = res.n_clean if n_clean is None else float(n_clean)
        labs = [lab for lab in (-1, 1) if lab in res.points]
        want = np.array([self.epsilon * N * res.label_fraction.get(lab, 0.0) for lab in labs])
        if integer:
            from ..attacks.base import n_poisons

            # the attacker's whole budget, or less when the label fractions sum below 1
            total = min(n_poisons(self.epsilon, N) if self.epsilon > 0 else 0,
                        int(np.floor(want.sum() + 1e-9)))
            base = np.floor(want).astype(int)
            rest = total - base.sum()
            order = np.argsort(-(want - base))
            for i in order[:max(rest, 0)]:
                base[i] += 1
            want = base.astype(float)
        keep = want > 0
        Xp = np.array([res.points[lab] for lab in labs])[keep]
        yp = np.array(labs)[keep]
        return Xp.reshape(-1, self.feasible.d), yp, want[keep]

    def matching_attack_rows(self):
        """The matching attack with one row per copy: ``(X_poison, y_poison)`` (after
        :meth:`fit`)."""
        Xp, yp, wp = self.matching_attack()
        reps = np.round(wp).astype(int)
        return np.repeat(Xp, reps, axis=0), np.repeat(yp, reps)


def max_hinge(feasible, model, onehot=True, _cache=None):
    """Per label, a proven upper bound on ``max_{x in F_y} hinge(model; x, y)`` and a maximiser.

    A pure box has the closed form ``1 - y b + sum_j max(-y w_j lo_j, -y w_j hi_j)`` (plus
    a rounding allowance); otherwise the linear objective ``-y w.x`` is maximised over the
    (relaxed) ``F_y`` by a DPP program built once per label and its tolerance-accounted
    upper bound is used.  Returns ``(bounds, points)``, dicts keyed by label.
    """
    fs = as_feasible(feasible)
    w = np.asarray(model.w, float)
    b = float(model.b)
    dom = fs.domain
    comps = fs.components
    bounds, points = {}, {}
    pure_box = (len(comps) == 1 and isinstance(comps[0], DomainSet)
                and not (onehot and dom.onehot_groups))
    cache = {} if _cache is None else _cache
    for lab in (-1, 1):
        if pure_box:
            k = -lab * w
            terms = np.maximum(k * dom.lo, k * dom.hi)
            val = 1 - lab * b + terms.sum()
            bounds[lab] = max(0.0, val + 4 * (w.size + 4) * _EPS * (np.abs(terms).sum() + abs(b) + 1))
            points[lab] = np.where(k > 0, dom.hi, dom.lo)
            continue
        key = (lab, tuple((id(c), c._generation) for c in comps))
        if key not in cache:
            cache[key] = WorstHingeProgram(fs, lab, onehot=onehot)
        info, xv = cache[key].solve(w)
        bounds[lab] = max(0.0, 1 - lab * b + info.upper_bound())
        if xv is None:
            raise SolverFailure("the max-hinge program returned no point", solver=info.solver,
                                status=info.status)
        xv = np.asarray(xv, float)
        points[lab] = np.clip(xv, dom.lo, dom.hi) if dom is not None else xv
    return bounds, points


def split_hinge_bound(feasible, model, splits, onehot=True):
    """Per label, a proven upper bound on ``max_{x in conv(F_y)} hinge(model; x, y)`` in
    closed form -- no solver's value is trusted -- and the box vertex of the remainder.

    ``F_y`` = box (the domain, integer coordinates relaxed) ∩ L2 ball ``|x - mu_y| <=
    tau_y`` ∩ slab ``|v_y.x - c_y| <= s_y``.  For ANY split ``g = g_l2 + alpha v_y + r`` of
    ``g = -y w`` (Rockafellar, Convex Analysis, Theorem 16.4: the support function of an
    intersection is at most the sum of the components' support functions of a split),

        sigma_F(g) <= mu_y.g_l2 + tau_y |g_l2| + alpha c_y + s_y |alpha| + sum_j max(lo_j r_j, hi_j r_j),

    every term in closed form.  ``splits[y]`` maps the L2 / slab components to ``g_l2``
    (vector) / ``alpha`` (scalar) -- the outer program's own split, which makes the bound
    tight at its minimiser, but any values keep it valid.  The remainder ``r`` is computed
    in floating point; its rounding error ``e_j`` is carried as an interval
    ``[r_j - e_j, r_j + e_j]`` and every sum is widened by a rigorous rounding bound
    (:mod:`convexpoison.certificates.safe`).  Returns ``(bounds, points)`` like
    :func:`max_hinge`; ``points[y]`` is a box vertex for the remainder (a point of the box,
    not necessarily of ``F_y``: the caller's saddle-point recovery replaces it)."""
    from ..feasible import L2Sphere
    from . import safe

    u = safe.UNIT_ROUNDOFF
    fs = as_feasible(feasible)
    dom = fs.domain
    w = np.asarray(model.w, float)
    b = float(model.b)
    d = w.size
    bounds, points = {}, {}
    for lab in (-1, 1):
        g = -lab * w                                            # exact (a sign change)
        r = g.copy()
        rerr = np.zeros(d)
        head, head_err = 0.0, 0.0
        for comp, val in splits[lab].items():
            if isinstance(comp, L2Sphere):
                gl = np.asarray(val, float).ravel()
                mu = np.asarray(comp.centroids_[lab], float)
                tau = max(float(comp.thresholds_[lab]), 0.0)
                dot = float(mu @ gl)
                nrm = float(safe.upper(np.sqrt(safe.upper(gl @ gl, safe.dot_err(d, gl @ gl)))))
                head += dot + tau * nrm
                head_err += float(safe.dot_err(d, np.abs(mu) @ np.abs(gl))) + 2 * u * tau * nrm
                piece, piece_err = gl, np.zeros(d)
            else:                                               # the slab: alpha v_y
                alpha = float(np.asarray(val, float).reshape(()))
                v = np.asarray(comp.directions_[lab], float)
                c = float(comp._params[(lab, "c")].value)
                sl = max(float(comp.thresholds_[lab]), 0.0)
                head += alpha * c + sl * abs(alpha)
                head_err += 2 * u * (abs(alpha * c) + sl * abs(alpha))
                piece = alpha * v
                piece_err = u * np.abs(piece)                   # alpha v_j rounded once
            r_new = r - piece
            rerr = rerr + piece_err + u * np.abs(r_new)         # the subtraction's rounding
            r = r_new
        # the domain's support at the remainder, r_j anywhere in [r_j - e_j, r_j + e_j]
        rlo, rhi = safe.lower(r, rerr), safe.upper(r, rerr)
        with np.errstate(invalid="ignore"):
            corners = np.stack([rlo * dom.lo, rlo * dom.hi, rhi * dom.lo, rhi * dom.hi])
        corners = np.where(np.isnan(corners), 0.0, corners)    # 0 * inf
        terms = corners.max(axis=0)
        if onehot and dom.onehot_groups:
            # a one-hot group is a simplex in the relaxed domain (as in DomainSet.support):
            # its support is max_j r_j, the group's other terms drop out
            terms = terms.copy()
            for grp in dom.onehot_groups:
                grp = np.asarray(grp, int)
                top = float(np.max(rhi[grp]))
                terms[grp] = 0.0
                terms[grp[0]] = top
        box = float(np.sum(terms))
        box_err = float(safe.dot_err(d, np.sum(np.abs(terms))))
        val = 1 - lab * b + head + box
        err = head_err + box_err + 4 * u * (abs(head) + abs(box) + abs(b) + 1)
        bounds[lab] = max(0.0, float(safe.upper(val, err)))
        points[lab] = np.where(r > 0, dom.hi, dom.lo)
    return bounds, points


def poisoned_training_loss(X, y, Xp, yp, wp, reg, sample_weight=None, train_tol=1e-10, *,
                           defender=None):
    """What ``U`` bounds, for a concrete poison set: train on ``Dc u Dp`` and return
    ``(value, gap, model)`` with ``value = (W / N) * objective`` (``W = N + |Dp|``) =
    ``L(theta;Dc)/N + L(theta;Dp)/N + C_R (1 + |Dp|/N) R(theta)`` at the trained model
    (``R(theta) / (C N)`` under scikit-learn's ``C``: ``defender``, trained with
    ``defender.train``) and ``gap`` the proven bound on how far ``value`` is above the
    exact minimum."""
    D = hinge_defender(defender, reg, "poisoned_training_loss")
    X = check_X(X, "X", accept_sparse=True)
    y = check_y(y, X.shape[0], "y")
    s = check_weights(sample_weight, len(y))
    Xp = np.asarray(Xp, float).reshape(-1, X.shape[1])
    yp = np.asarray(yp).ravel()
    wp = np.asarray(wp, float).ravel()
    # sparse text stays CSR (the few poison rows join it); dense data as before
    Xa = stack_rows(X, Xp) if is_sparse(X) else np.vstack([X, Xp])
    ya, sa = np.concatenate([y, yp]), np.concatenate([s, wp])
    model = D.train(Xa, ya, sa, tol=train_tol)
    scale = sa.sum() / s.sum()
    val = objective(model, Xa, ya, sa, D.reg_for(sa.sum())) * scale
    gap = max(float(model.gap_), 0.0) * scale
    return float(val), float(gap), model


def certified_upper_bound(feasible, X, y, reg, epsilon, sample_weight=None, **kw) -> UpperBoundResult:
    """One-shot :class:`CertifiedUpperBound` (``defender=`` among the keywords); returns its
    :class:`UpperBoundResult`."""
    return CertifiedUpperBound(feasible, reg, epsilon, **kw).fit(X, y, sample_weight).result_
