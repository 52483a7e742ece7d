"""The optimal Theorem 4.2 lower bound by Dinkelbach iterations (docs/lower-bound.md).

Suya et al. (2021), Theorem 4.2: for every model ``theta``, every poison set that makes
training on ``Dc u Dp`` return the target ``theta_p`` has ``|Dp| >= c(theta)``,

    c(theta) = num(theta) / den(theta),
    num(theta) = L(theta_p; Dc) - L(theta; Dc) + N C_R (R(theta_p) - R(theta)),
    den(theta) = sup_{y, x in F_y} [l(theta; x, y) - l(theta_p; x, y)] + C_R (R(theta) - R(theta_p)),

with ``L`` sums over the clean set (weights count as copies, ``N`` their total), hinge
loss and ``R = 1/2 (|w|^2 + b^2)`` (the bias is regularised, as in training).  The paper
evaluates ``c`` at ``theta_c`` (Remark 2) and at MTP's intermediate models (section 4.3);
this module finds ``sup_theta c(theta)`` itself.

Why it is a tractable problem.  ``num`` is concave in ``theta`` (minus a convex loss sum,
minus a convex regulariser) and ``den`` convex (a supremum over ``x`` of functions convex
in ``theta``, plus a convex term), so ``c`` is quasi-concave where ``num > 0`` and
Dinkelbach's method finds its global maximum:

    t_0 = 0 (or the best known c),   theta_k = argmax_theta  num(theta) - t_k den(theta),
    t_{k+1} = c(theta_k).

``F(t) = max_theta num - t den`` is convex and non-increasing in ``t``, ``F >= 0`` (take
``theta = theta_p``: both terms vanish) and ``F(t*) = 0`` at ``t* = sup c``; ``t_k``
increases monotonically to ``t*`` (with the line search below, in a handful of steps).
``t*`` equals the optimum of the minimum-poison program (docs/minpoison.md), an independent
LP the tests compare against: Theorem 4.2 optimised over ``theta`` is tight up to
fractional copies.

The supremum inside ``den`` as a convex function of ``theta`` (docs/lower-bound.md).  With
``a(x) = 1 - y s_theta(x)`` and ``c(x) = 1 - y s_p(x)``,
``max(0,a) - max(0,c) = max(a - max(0,c), -max(0,c))`` (pieces A and B):

* piece B, ``sup_{x in F_y} -max(0, c) = -max(0, min_{x in F_y} c)``, does not depend on
  ``theta``: one small program per label, bounded soundly, gives the constant ``kappa_y``;
* piece A: ``a - max(0,c) = min_{mu in [0,1]} a - mu c``, which is affine in ``x`` for
  fixed ``(theta, mu)``; ``F_y`` and ``[0,1]`` are compact convex, so by the minimax theorem
  ``sup_x min_mu = min_mu sup_x`` and

      sup_{x in F_y} a - max(0,c) = min_{mu in [0,1]} (1 - mu) - y b + mu y b_p
                                     + sigma_{F_y}(y (mu w_p - w)),

  ``sigma_F`` the support function of ``F_y`` -- jointly convex in ``(theta, mu)``, so
  ``mu_y`` is one more variable of the epigraph.  ``sigma`` of an intersection is bounded
  by the infimal convolution of the components' support functions (weak duality; equal
  when the components have a common relative-interior point, e.g. the class centroid
  inside the L2 sphere and slab): :meth:`convexpoison.feasible.FeasibleSet.support_function`,
  each component writing its own (:meth:`convexpoison.feasible.Component.support`).  A box gives a sum of
  per-coordinate maxima ``max(lo_j g_j, hi_j g_j)``; one-hot groups the simplex's
  ``max_j g_j``; an L2 sphere ``g.mu + tau |g|``; a slab ``alpha c + s |alpha|`` with
  ``g = alpha v``; and so on.

Integer and binary coordinates (digits17, adult).  The program uses the convex hull of
the domain (``integer="relax"``): ``sup_{x integer} <= sup_{x in hull}``, so the relaxed
denominator is larger and the bound stays valid.  The *reported* certificate at the final
``theta`` is evaluated separately (below), and for integer domains also with the exact
mixed-integer denominator (``MaxLossDifference(..., integer="exact")``, proven optimal),
which is never larger and usually certifies more; both are reported.

Soundness (the proof obligations, met in
:func:`convexpoison.certificates.theorem42.certify_at`):

1. The certified number is never the Dinkelbach program's value: at the final ``theta``
   the supremum is re-bounded by :class:`~convexpoison.programs.maxloss.MaxLossDifference`
   (closed form with rounding allowance, a tolerance-accounted solver bound, or a proven
   MILP optimum), the numerator is recomputed in numpy with a floating-point allowance,
   and the ratio goes through :func:`~convexpoison.certificates.base.sound_ceil`.  Any
   ``theta`` at all gives a valid bound, so a Dinkelbach iterate that is only nearly
   optimal costs tightness, never soundness.
2. ``target_gap``: the theorem assumes training returns the *exact* minimiser.  When the
   target is only known to be a ``gamma``-minimiser of the training objective (a model
   trained to a duality gap ``gamma``, e.g. ``LinearModel.gap_``), multiplying the
   optimality inequality by ``W = N + |Dp|`` gives
   ``num(theta) - N gamma <= |Dp| (den(theta) + gamma)``, so
   ``|Dp| >= (num - N gamma) / (den + gamma)``; ``target_gap=gamma`` certifies that.
3. A solver that does not report ``optimal`` raises :class:`SolverFailure`: no number.

Where the supremum lies, and the line search.  ``num(theta_p) = den(theta_p) = 0`` (the
sup of ``l(theta_p) - l(theta_p)`` is 0), ``num`` is concave and ``den`` convex, so along
a ray ``theta_p + e d`` the slopes ``num/e`` and ``den/e`` are non-increasing and
non-decreasing in ``e > 0``: **c is non-increasing along every ray leaving theta_p**, and
``sup c`` is the limit, as ``e -> 0``, of the best ray's ratio of directional derivatives.
Plain Dinkelbach iterates therefore creep toward ``theta_p`` and gain about half of the
remaining distance to ``t*`` per iteration.  After each subproblem we evaluate ``c``
(soundly) along the ray through ``theta_k`` at ``e = 10^0, 10^-1, ...`` until rounding and
the solvers' certificate slack stop paying, and take the best as ``t_{k+1}`` (it is ``>=
c(theta_k)``, so the iteration keeps Dinkelbach's monotone convergence).  The reported
model is that best point -- close to ``theta_p`` by design.

The gap certificate of the last step.  The subproblem's tolerance-accounted optimum
``gap >= F(t)`` states ``num(theta) <= t den(theta) + gap`` for every ``theta``: any
``theta`` certifies at most ``t + gap / den(theta)``.  ``upper_estimate = t +
gap / den(theta_K)`` (``theta_K`` the last subproblem's maximiser) indicates how much is
left; it is an estimate, not a proof (``den`` can be small near ``theta_p``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..feasible import DomainSet, as_feasible
from ..programs.dinkelbach import DinkelbachSubproblem
from ..training import LinearModel
from ..validation import check_binary_model, check_positive, check_weights, check_X, check_y
from ..programs.regularizer import hinge_defender
from .base import Certificate
from .theorem42 import LowerBound, certify_at, domain_sup_bound

__all__ = ["DinkelbachStep", "OptimalLowerBound", "DinkelbachLowerBound", "optimal_lower_bound"]


# ----------------------------------------------------------------------------- helpers
def _binary_model(model, name, d):
    w, b = check_binary_model(model, name, d)
    return model if isinstance(model, LinearModel) else LinearModel(w, b)


# ------------------------------------------------------------------------- results
@dataclass
class DinkelbachStep:
    """One Dinkelbach iteration: ``theta_k = argmax num - t_k den`` and ``c(theta_k)``."""

    iteration: int
    t: float                 # t_k
    value: float             # F(t_k), the subproblem's optimal value
    value_upper: float       # tolerance-accounted upper bound on F(t_k)
    bound_value: float       # sound c(theta_k) (nan: nothing certified at theta_k)
    ray_value: float         # best sound c on the ray theta_p + e (theta_k - theta_p)
    ray_step: float          # the e that attains it
    lower_bound: float       # sound_ceil of the best so far
    solver: str
    seconds: float


@dataclass
class OptimalLowerBound:
    """The optimal Theorem 4.2 certificate (see :class:`DinkelbachLowerBound`).

    ``lower_bound`` is the certified integer (0: nothing; ``inf``: no poison set of any
    size induces the target); ``value`` the real-valued ``c`` at ``model`` it comes from.
    ``gap`` (a tolerance-accounted upper bound on ``F(t)`` at the last step's ``t``) is the
    gap certificate: every ``theta`` has ``num(theta) <= t den(theta) + gap``;
    ``upper_estimate`` is ``t + gap / den`` at the last subproblem's maximiser (an
    estimate of what is left, not a proof).  For integer domains ``relaxed`` and
    ``exact`` hold the best certificates with the relaxed and the exact (MILP)
    denominator (the exact one searched on the ray of the relaxed optimum, see
    ``_exact_search``); ``lower_bound`` is the larger and ``model`` the ``theta`` it is
    evaluated at.
    """

    lower_bound: float
    value: float
    model: LinearModel
    numerator: float
    denominator: float
    status: str
    upper_estimate: float
    gap: float
    gap_t: float
    iterations: list = field(default_factory=list)
    relaxed: LowerBound | None = None
    exact: LowerBound | None = None
    initial: LowerBound | None = None          # the best of the seed models (theta_c, MTP's)
    denominator_method: str = "relax"
    solver: str = ""
    solver_status: str = ""        # the last subproblem's status ('not solved': none was)
    seconds: float = 0.0
    defender: str = ""             # the defender's --defender spelling (Defender.spec())

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("model", "iterations",
                                                                  "relaxed", "exact", "initial")}
        out["iterations"] = [asdict(s) for s in self.iterations]
        for k in ("relaxed", "exact", "initial"):
            v = getattr(self, k)
            out[k] = None if v is None else v.to_dict()
        out["w"] = np.asarray(self.model.w).tolist()
        out["b"] = float(self.model.b)
        return out

    def certificate(self, statement="") -> Certificate:
        """This bound as a :class:`~convexpoison.certificates.base.Certificate`: the
        certified integer as ``lower_bound``, the theorem's case and the Dinkelbach
        diagnostics in ``details``, the last subproblem's solver and status."""
        return Certificate(
            method="optimal", statement=statement, lower_bound=self.lower_bound,
            value=self.value, solver=self.solver, status=self.solver_status,
            seconds=self.seconds,
            details={"bound_status": self.status, "numerator": self.numerator,
                     "denominator": self.denominator, "upper_estimate": self.upper_estimate,
                     "gap": self.gap, "gap_t": self.gap_t,
                     "denominator_method": self.denominator_method,
                     "defender": self.defender})


# ------------------------------------------------------------------------ the program
class DinkelbachLowerBound:
    """``sup_theta c(theta)`` of Suya et al. Theorem 4.2 by Dinkelbach iterations.

    Parameters
    ----------
    feasible : Domain or FeasibleSet -- where poison points may lie (``F_y``).
    reg : the defender's ``C_R`` (with ``defender=None``).
    defender : the training the target must come out of (a Defender, a ``--defender``
        spelling or a scikit-learn estimator; default the package's SVM with ``C_R =
        reg``): docs/defender.md, "What changes in the theory".
    integer : 'relax' (the convex hull of integer coordinates everywhere), 'exact'
        (also evaluate the final denominator by the exact MILP; needs a polyhedral
        feasible set) -- 'auto' is 'exact' for integer domains with a polyhedral set.
    max_iter : Dinkelbach iterations at most.
    rtol : stop when an iteration improves ``t`` by less than ``rtol * t``.
    target_gap : certify for targets that are ``target_gap``-minimisers (module docstring).
    delta : certify every model within parameter l2 distance ``delta`` of the target
        (:func:`~convexpoison.certificates.theorem42.certify_at`'s neighbourhood form; the
        Dinkelbach search itself maximises the exact ratio, whose maximiser is then
        certified with the shifted terms -- any ``theta`` gives a valid bound).
    solver, solver_options : for the Dinkelbach subproblems (``solvers.solve``).

    The subproblem ``max_theta num(theta) - t den(theta)`` is built once with ``t`` a
    ``cp.Parameter`` (DPP) and re-solved; it is the SVM training program on ``Dc`` with,
    in addition, ``t`` copies of the attacker's worst point in the support-function form.
    """

    def __init__(self, feasible, reg, *, integer="auto", max_iter=30, rtol=1e-7,
                 target_gap=0.0, solver=None, solver_options=None, onehot=True, progress=None,
                 delta=0.0, defender=None):
        self.feasible = as_feasible(feasible)
        self.reg = None if reg is None else check_positive(reg, "reg")
        self.defender = defender
        self.defender_ = hinge_defender(defender, self.reg, "the optimal Theorem 4.2 bound")
        if integer not in ("auto", "relax", "exact"):
            raise InputError(f"integer: expected 'auto', 'relax' or 'exact', got {integer!r}")
        self.integer = integer
        self.max_iter = int(max_iter)
        if self.max_iter < 1:
            raise InputError("max_iter: must be a positive integer")
        self.rtol = check_positive(rtol, "rtol", allow_zero=True)
        self.target_gap = check_positive(target_gap, "target_gap", allow_zero=True)
        self.delta = check_positive(delta, "delta", allow_zero=True)
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.onehot = bool(onehot)
        self.progress = progress

    # ---------------------------------------------------------------- building
    def _conic(self):
        return self.feasible.conic

    def _use_exact(self):
        dom = self.feasible.domain
        has_int = dom is not None and dom.has_integers
        if self.integer == "relax" or not has_int:
            return False
        if self._conic():
            if self.integer == "exact":
                raise InputError("integer: 'exact' needs a polyhedral feasible set (a MILP); the "
                                 "l2/svd components make it a mixed-integer SOCP -- use 'relax'")
            return False
        return True

    def _build(self, X, y, s, target):
        self.subproblem_ = sub = DinkelbachSubproblem(self.feasible, None, X, y, s, target,
                                                      onehot=self.onehot,
                                                      defender=self.defender_)
        self.kappa_ = sub.kappa
        self._prob, self._t, self._w, self._b = sub.problem, sub.t, sub.w, sub.b

    def _set_data(self, X, y, target, sample_weight):
        X = check_X(X, "X", d=self.feasible.d, accept_sparse=True)    # text stays CSR
        y = check_y(y, X.shape[0], "y")
        s = check_weights(sample_weight, len(y))
        self.d_ = X.shape[1]
        target = _binary_model(target, "target", self.d_)
        self.X_, self.y_, self.s_, self.target_ = X, y, s, target
        self.model_reg_ = self.defender_.reg_for(s.sum())     # C_R recorded on the models
        self.labels_ = (-1, 1)
        return X, y, s, target

    # -------------------------------------------------------------- inspecting
    @property
    def kind_(self):
        """The subproblem's class: an SOCP with the L2 / SVD components, else a QP."""
        return "SOCP" if self._conic() else "QP"

    def program(self, X, y, target, sample_weight=None):
        """The Dinkelbach subproblem ``max_theta num(theta) - t den(theta)`` for clean data
        ``(X, y)`` and ``target`` (:class:`convexpoison.programs.dinkelbach.DinkelbachSubproblem`),
        built (not solved) with its Parameter ``t`` at 0.
        Building bounds piece B (``kappa_y``, two small programs solved once), which enters
        as a constant.  :meth:`fit` builds the same program and sets ``t`` to ``t_k`` at
        iteration ``k`` (``result_.iterations[k].t``, optimal value ``.value``)."""
        X, y, s, target = self._set_data(X, y, target, sample_weight)
        self._build(X, y, s, target)
        return self._prob

    @property
    def problem(self):
        """The subproblem last built by :meth:`program` or :meth:`fit` (variables ``w``,
        ``b``, ``sup``, ``mu_p``, ``mu_m``; Parameter ``t``)."""
        if getattr(self, "_prob", None) is None:
            raise InputError("DinkelbachLowerBound: call program(X, y, target) or fit first "
                             "(fit builds no program when the target is unattainable)")
        return self._prob

    def describe(self, X=None, y=None, target=None, sample_weight=None):
        """A readable summary of the subproblem (built from ``X, y, target`` when given):
        :func:`convexpoison.programs.summary.describe`."""
        from ..programs.summary import describe

        prob = self.program(X, y, target, sample_weight) if X is not None else self.problem
        return describe(prob, kind=self.kind_, solver=self.solver,
                        title="Dinkelbach subproblem (Theorem 4.2)")

    # ----------------------------------------------------------------- solving
    def _maxloss(self, integer):
        from ..programs.maxloss import MaxLossDifference

        key = f"_ml_{integer}"
        if getattr(self, key, None) is None:
            setattr(self, key, MaxLossDifference(self.feasible, integer=integer,
                                                 onehot=self.onehot))
        return getattr(self, key)

    def _domain_only(self):
        return all(isinstance(c, DomainSet) for c in self.feasible.components)

    def sup_upper_bound(self, model, integer="relax"):
        """Proven upper bound on the supremum in ``den`` at ``model``: the exact MILP
        (``integer='exact'``), the closed form :func:`domain_sup_bound` for a pure domain,
        else the max-loss program's tolerance-accounted bound."""
        if integer == "relax" and self._domain_only():
            bound = domain_sup_bound(self.feasible.domain, model, self.target_, self.onehot)
            if not self.feasible.domain.onehot_groups or not self.onehot:
                # a pure box: the max-loss closed form is as cheap; keep the smaller
                bound = min(bound, self._maxloss(integer).solve(model, self.target_).upper_bound)
            return bound
        return self._maxloss(integer).solve(model, self.target_).upper_bound

    def _certify(self, model, integer="relax"):
        radius = 0.0
        if self.delta > 0:
            from ..programs.minpoison import feasible_radius

            radius = max(feasible_radius(self.feasible, lab) for lab in (-1, 1))
        return certify_at(model, self.target_, self.X_, self.y_, None,
                          self.sup_upper_bound(model, integer), self.s_, self.target_gap,
                          delta=self.delta, radius=radius, defender=self.defender_)

    def _say(self, msg):
        if self.progress:
            self.progress(msg)

    def fit(self, X, y, target, sample_weight=None, init_models=()):
        """Run the iterations on clean data ``(X, y)`` toward ``target``.

        ``init_models``: models whose bounds seed ``t_0`` (e.g. ``theta_c`` or MTP's
        intermediate models); the result is never below the best of them.
        Sets ``result_`` (an :class:`OptimalLowerBound`) and returns ``self``.
        """
        t_start = time.perf_counter()
        X, y, s, target = self._set_data(X, y, target, sample_weight)
        exact = self._use_exact()

        # seeds: theta_c (Remark 2) and the given models, certified with the relaxed den
        seeds = [self.defender_.train(X, y, s)] + [
            _binary_model(m, "init_models", self.d_) for m in init_models]
        best, best_model = None, None
        for m in seeds:
            cert = self._certify(m)
            if best is None or _better(cert, best):
                best, best_model = cert, m
        initial = best
        if best.status == "unattainable":
            return self._finish(best, best_model, [], initial, float("inf"), 0.0, 0.0, exact,
                                "", t_start, "not solved")

        self._build(X, y, s, target)
        t = best.value if best.status == "ok" else 0.0
        history = []
        est, solver_used, gap, gap_t = float("inf"), "", float("nan"), float("nan")
        solver_status = "not solved"
        for k in range(self.max_iter):
            t0 = time.perf_counter()
            info = self.subproblem_.solve(t, solver=self.solver, **self.solver_options)
            solver_used, solver_status = info.solver, info.status
            gap, gap_t = max(info.upper_bound(), 0.0), float(self._t.value)
            model = LinearModel(np.asarray(self._w.value, float).copy(), float(self._b.value),
                                "svm", self.model_reg_)
            cert = self._certify(model)
            if cert.status == "ok":
                den_k = cert.denominator
                est = gap_t + gap / den_k if den_k > 0 else float("inf")
            ray_cert, ray_model, step = self._ray(model)
            for c_, m_ in ((cert, model), (ray_cert, ray_model)):
                if c_ is not None and _better(c_, best):
                    best, best_model = c_, m_
            history.append(DinkelbachStep(
                k, gap_t, float(info.value), gap, cert.value,
                float("nan") if ray_cert is None else ray_cert.value, step,
                best.lower_bound, info.solver, time.perf_counter() - t0))
            self._say(f"Dinkelbach {k}: t={gap_t:.8g}  F(t)={info.value:.3g}  "
                      f"c(theta_k)={cert.value:.8g}  ray {history[-1].ray_value:.8g} (e={step:g})  "
                      f"bound {best.lower_bound}")
            if best.status == "unattainable":
                break
            t_new = best.value if best.status == "ok" else 0.0
            if not t_new > gap_t + self.rtol * max(gap_t, 1.0):
                break                         # no progress: F(t) is at solver tolerance
            t = t_new
        return self._finish(best, best_model, history, initial, est, gap, gap_t, exact,
                            solver_used, t_start, solver_status)

    def _ray(self, model, factor=0.1, max_steps=12):
        """The best sound ``c`` on ``theta_p + e (theta - theta_p)``, ``e = 1, factor, ...``.

        ``c`` is non-increasing in ``e`` (module docstring), so the search walks toward
        ``theta_p`` and stops when the sound value drops: rounding allowances and the
        denominator's certificate slack then outweigh the gain.
        """
        tp = self.target_.theta
        delta = model.theta - tp
        best, best_model, best_e = None, None, float("nan")
        e = factor
        for _ in range(max_steps):
            th = tp + e * delta
            m = LinearModel(th[:-1].copy(), float(th[-1]), "svm", self.model_reg_)
            cert = self._certify(m)
            if best is not None and not _better(cert, best):
                break
            if cert.status == "ok" or cert.status == "unattainable":
                best, best_model, best_e = cert, m, e
            e *= factor
        return best, best_model, best_e

    def _exact_search(self, model, factors=(1.0, 10.0, 100.0, 1000.0)):
        """The exact (MILP) certificate near ``model``, on its ray from ``theta_p``.

        ``model`` sits close to ``theta_p`` (the relaxed optimum is a limit there), where
        the MILP bound's absolute slack (``1e-7``) is no longer small next to the
        denominator; ``c`` with the exact denominator is also non-increasing along the ray,
        so moving a little *away* from ``theta_p`` trades a slightly smaller ratio for a
        negligible slack.  Returns the best ``(LowerBound, model)`` over ``factors``.
        """
        tp = self.target_.theta
        delta = model.theta - tp
        best, best_model = None, None
        for f in factors:
            th = tp + f * delta
            m = model if f == 1.0 else LinearModel(th[:-1].copy(), float(th[-1]), "svm", self.model_reg_)
            cert = self._certify(m, "exact")
            if best is None or _better(cert, best):
                best, best_model = cert, m
            elif best.status == "ok":
                break                          # past the best trade-off
        return best, best_model

    def _finish(self, best, model, history, initial, est, gap, gap_t, exact, solver, t_start,
                solver_status):
        relaxed = best
        exact_cert, exact_model = (self._exact_search(model) if exact and model is not None
                                   else (None, None))
        final, final_model = relaxed, model
        if exact_cert is not None and _better(exact_cert, relaxed):
            final, final_model = exact_cert, exact_model
        self.result_ = OptimalLowerBound(
            lower_bound=final.lower_bound, value=final.value, model=final_model,
            numerator=final.numerator, denominator=final.denominator, status=final.status,
            upper_estimate=float(max(est, relaxed.value)) if relaxed.status == "ok" else float(est),
            gap=float(gap), gap_t=float(gap_t), iterations=history,
            relaxed=relaxed,
            exact=exact_cert, initial=initial,
            denominator_method="exact" if exact else "relax", solver=solver,
            solver_status=solver_status, seconds=time.perf_counter() - t_start,
            defender=self.defender_.spec())
        return self


def _better(a: LowerBound, b: LowerBound) -> bool:
    """``a`` certifies more than ``b`` (unattainable beats everything; nan certifies 0)."""
    va = a.value if a.status in ("ok", "unattainable") else -np.inf
    vb = b.value if b.status in ("ok", "unattainable") else -np.inf
    return va > vb


def optimal_lower_bound(target, feasible, X, y, reg, sample_weight=None, init_models=(),
                        **kw) -> OptimalLowerBound:
    """One-shot :class:`DinkelbachLowerBound` (``defender=`` among the keywords); returns
    its :class:`OptimalLowerBound`."""
    return DinkelbachLowerBound(feasible, reg, **kw).fit(
        X, y, target, sample_weight=sample_weight, init_models=init_models).result_
