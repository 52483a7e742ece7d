"""The influence attack (Koh et al. 2021, section 4.1, Algorithm 2, Appendix B.1).

Projected gradient ascent on the attacker's test loss over the poison features.  The
defender trains on ``Dc ∪ Dp`` (docs/training.md: weighted mean loss plus ``C_R R(theta)``, bias
regularised), so the test loss depends on a poison point ``x_j`` only through the
trained parameters ``theta^``; by the implicit-function theorem (equation (10))

    dL_test / dx_j = - g_test^T H^{-1} d^2 F / (d theta d x_j),

with ``g_test`` the mean gradient of the test loss at ``theta^`` (equation (9)), ``H`` the
Hessian of the training objective ``F`` (equation (11)) and, for a row of ``s_j`` copies,
``d^2 F / (d theta d x_j) = (s_j / W) d^2 l / (d theta d x_j)``.  For a margin loss
``phi(m)``, ``m = y (w.x + b)``, ``x~ = (x, 1)``:

    d^2 l / (d theta d x) = phi'(m) y [I; 0] + phi''(m) x~ w^T,

so with ``u = H^{-1} g_test`` (one conjugate-gradient solve per iteration, shared by all
poison rows -- Algorithm 2's "pre-compute g^T H^{-1}")

    dL_test / dx_j = - (s_j / W) (phi'(m_j) y_j u_w + phi''(m_j) (u . x~_j) w).

The hinge has no second derivative, so -- as Koh et al. (Appendix B.1, after Koh and Liang
2017) -- derivatives use the smoothed hinge ``delta log(1 + exp((1 - m)/delta))``
(:class:`~convexpoison.losses.SmoothedHinge`), and the gradient is taken at the minimiser
``theta_delta`` of the *smoothed* training objective (:func:`train_smoothed`, Newton-CG
warm-started from the exact SVM; Koh et al.'s code likewise retrains with ``fmin_ncg``).
At that point the formula is the exact derivative of ``x -> L_test(theta_delta(x))``
(checked against finite differences of retraining in the tests).

**The smoothing delta.**  Koh et al.'s code uses ``delta = 0.001``.  At an SVM solution the
margin support vectors sit at ``m = 1`` where ``phi'' = 1/(4 delta)``: with ``delta =
0.001`` the Hessian's largest eigenvalues grow as 250 per unit of ``|x|^2 / W`` while the
smallest is ``C_R`` (1e-3 for spambase), and the surrogate's curvature changes on a margin
scale of ``delta``, so Newton's method needs many damped steps.  The default here is
``delta = 0.01``: ``theta_delta`` stays within ``O(delta)`` of the hinge solution (the
surrogate exceeds the hinge by at most ``delta log 2``), the Hessian's condition number
drops tenfold, and both the Newton retraining and the Jacobi-preconditioned CG solve
converge in a few dozen iterations on the bundled data (measured on mnist17, warm-started
from the SVM: CG 172 iterations at delta = 0.001, 63 at 0.01; the Newton retraining took
about 100 times longer at 0.001).  The price is fidelity to the defender's hinge SVM: on a
small problem the gradient differs from a finite difference of exact SVM retraining by 8%
at delta = 0.01 and 0.5% at 1e-4 (tests/test_influence.py).  ``delta`` is a setting.

Every step (Algorithm 2): retrain ``theta_delta`` on ``Dc ∪ Dp``, compute the gradient of
every distinct poison row, try a few step lengths along it, project each moved point onto
its feasible set ``F_y`` (:meth:`convexpoison.feasible.FeasibleSet.project`, a DPP QP built
once per label), retrain, and keep the step with the highest test loss ("step-size
search", selecting on the attacker's evaluation set as in Appendix B.1).  The step lengths
shrink after a step that does not improve, and the attack stops after ``patience``
consecutive steps without improvement (Koh et al.'s code: 2) or ``max_iter`` steps.

Two variants:

* ``improved`` (section 4.1.2) -- the attack concentrated on two distinct points
  ``(x_+, +1)`` and ``(x_-, -1)`` (Theorem 1), weighted inversely to the class balance of
  ``Dc`` (Appendix B.1: ``n_+ = eps n N_-/N``, ``n_- = eps n N_+/N``, as integer copies);
* ``basic`` (Algorithm 2, influence-basic) -- ``eps n`` separate points initialised by
  random label flips of ``Dc`` drawn with replacement among the flips that lie in
  ``F_y``, each moved by its own gradient.

Both start from label-flipped clean points (the improved attack from one random feasible
flip per class).  ``refit=True`` refits the feasible set on ``Dc ∪ Dp`` after every
accepted step (iterative optimisation, Algorithm 1 / section 5.4).  Integer coordinates
(e.g. pixel counts) get the vanilla randomised rounding of section 3.3 before each
retraining.  On scipy.sparse clean data (bag-of-words counts, docs/text.md) the projection
is also onto the LP relaxation of the L2 sphere (section 3.3, equation (8),
:func:`~convexpoison.integer.relax_for_rounding`), as in Koh et al.'s text experiments; the
clean matrix stays sparse throughout (training, Hessian-vector products, CG).

By default the attack models the defender as training on ``Dc ∪ Dp`` without
sanitisation (the poison is kept inside ``F`` by the projection; concentration is what
evades the loss, SVD and k-NN defenses, section 3.1).  Concentrated points then survive
every defense, yet the defended error falls well below the undefended one: removing 5% of
the *clean* points moves the trained model away from the one the ascent optimised
against.  ``anticipate`` (beyond the paper, within its threat model: "the attacker has
complete information about the model and defenses", section 6) lets the attacker's model
of training apply the named defenses: each retraining sanitises ``Dc ∪ Dp`` with every
anticipated defense and trains on what it keeps, the objective is the *lowest* smoothed
test loss over them (the damage the attacker is sure of, whichever the defender picks),
and the gradient is that of the defense attaining the minimum with its removals held
fixed (sanitisation is piecewise constant in the poison positions).  The result is
judged the defender's way either way: :func:`convexpoison.defenses.evaluate` trains the
exact hinge SVM under every defense.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from ..defenses import DEFENSES
from ..errors import InputError, SolverFailure
from ..feasible import FEASIBLE_FROM_DEFENSE as _FROM_DEFENSE
from ..integer import randomized_round
from ..losses import SmoothedHinge
from ..poisons import PoisonSet
from ..validation import (check_fraction, check_positive, check_weights, check_X, check_y,
                          is_sparse)
from ._common import check_use, clean_arrays, fitted, resolve_feasible
from .base import DEFAULT_EPSILON, PoisoningAttack

__all__ = ["DELTA", "TAU", "OBJECTIVES", "SmoothedObjective", "train_smoothed",
           "smoothed_loss", "smoothed_loss_gradient", "smoothed_error",
           "smoothed_error_gradient", "influence_gradient", "randomized_round",
           "InfluenceAttack", "InfluenceResult", "FEASIBLE_FROM_DEFENSE"]

#: Default smoothing of the hinge (see the module docstring; Koh et al.'s code: 0.001).
DELTA = 0.01

#: The attacker's objectives on its evaluation set: Koh et al.'s smoothed-hinge test loss,
#: or the 0/1 error smoothed by a sigmoid of width ``tau`` (:func:`smoothed_error`).
OBJECTIVES = ("test-loss", "smoothed-error")

#: Default width of the smoothed error, in units of the margin (the hinge's kink is at
#: margin 1): measured on spambase, ascending from the reachable-target attack's poison
#: under all five defenses, tau 0.02 / 0.05 / 0.1 / 0.2 / 1 reached 13.4 / 14.4 / 14.2 /
#: 14.0 / 12.8% (docs/influence.md).
TAU = 0.05

#: Feasible-set components standing in for each defense.  Koh et al. (section 5.1) take
#: the L2 and slab feasible sets for the influence attack and rely on concentration
#: against the loss, SVD and k-NN defenses ('svd' can be requested explicitly): the shared
#: mapping (:data:`convexpoison.feasible.FEASIBLE_FROM_DEFENSE`) without 'loss'.
FEASIBLE_FROM_DEFENSE = {k: v for k, v in _FROM_DEFENSE.items() if k != "loss"}


# --------------------------------------------------------------------------- the objective
class SmoothedObjective:
    """The smoothed-hinge training objective on weighted data, with exact derivatives.

        F(theta) = sum_i c_i phi(y_i theta . x~_i) + C_R/2 |theta|^2,   c_i = s_i / W,

    ``theta = (w, b)``, ``x~ = (x, 1)`` (the bias regularised, as in training).  Offers
    the value, gradient, Hessian-vector products ``H v = X~^T (c phi'' * (X~ v)) + C_R v``
    (exact: ``y_i^2 = 1``), the Jacobi preconditioner, and ``H^{-1} g`` by conjugate
    gradient with a residual tolerance.

    The Hessian's products skip the rows whose curvature term ``h_i |x~_i|^2`` is at most
    ``eps C_R / n`` (``eps`` the float epsilon): ``phi''`` decays like ``exp(-|1 - m|/delta)``,
    so only rows with margins near 1 count (a third of mnist17's and spambase's rows at
    their clean models).  The skipped terms sum to at most ``eps C_R <= eps |H|`` in every
    direction (``H >= C_R I``): the products are exact to rounding.
    """

    def __init__(self, X, y, reg, sample_weight=None, delta=DELTA):
        # scipy.sparse rows (bag-of-words text) stay sparse: every use is X @ v or X.T @ v
        self.X = check_X(X, accept_sparse=True)
        n = self.X.shape[0]
        self.y = check_y(y, n).astype(float)
        self.reg = check_positive(reg, "reg")
        s = check_weights(sample_weight, n)
        self.total_weight = float(s.sum())
        self.c = s / self.total_weight
        self.loss = SmoothedHinge(delta)
        self.d = self.X.shape[1]
        sq = self.X.multiply(self.X).sum(axis=1) if is_sparse(self.X) else np.einsum(
            "ij,ij->i", self.X, self.X)
        self._sqnorm = np.asarray(sq, float).ravel() + 1.0        # |x~_i|^2
        self._theta = None

    # -- pieces at theta -------------------------------------------------------
    def at(self, theta):
        """Cache the margins and curvature weights at ``theta``; returns ``self``."""
        theta = np.asarray(theta, float)
        if self._theta is None or not np.array_equal(theta, self._theta):
            self._theta = theta.copy()
            self.m = self.y * (self.X @ theta[:-1] + theta[-1])
            self.h = self.c * self.loss.second_derivative(self.m)
            self._curved = None
        return self

    def _curved_rows(self):
        """``(X[k], h[k])`` over the rows whose curvature can matter (the class docstring),
        gathered once per ``theta`` for all its Hessian products."""
        if self._curved is None:
            k = np.flatnonzero(self.h * self._sqnorm
                               > np.finfo(float).eps * self.reg / len(self.h))
            self._curved = self.X[k], self.h[k]
        return self._curved

    def value(self, theta) -> float:
        self.at(theta)
        return float(self.c @ self.loss.value(self.m) + 0.5 * self.reg * self._theta @ self._theta)

    def gradient(self, theta) -> np.ndarray:
        self.at(theta)
        g = self.c * self.y * self.loss.derivative(self.m)
        return np.append(self.X.T @ g, g.sum()) + self.reg * self._theta

    def hvp(self, v) -> np.ndarray:
        """``H v`` at the cached ``theta`` (call :meth:`at` first)."""
        Xk, hk = self._curved_rows()
        u = hk * (Xk @ v[:-1] + v[-1])
        return np.append(Xk.T @ u, u.sum()) + self.reg * v

    def hessian_diagonal(self) -> np.ndarray:
        Xk, hk = self._curved_rows()
        sq = Xk.multiply(Xk).T @ hk if is_sparse(Xk) else hk @ (Xk * Xk)
        return np.append(sq, hk.sum()) + self.reg

    def operator(self):
        from scipy.sparse.linalg import LinearOperator

        k = self.d + 1
        return LinearOperator((k, k), matvec=self.hvp, dtype=float)

    def solve(self, theta, g, rtol=1e-8, maxiter=None):
        """``H^{-1} g`` at ``theta`` by preconditioned conjugate gradient.

        Returns ``(u, info)`` with ``info = {"iterations", "residual"}`` (the relative
        residual ``|H u - g| / |g|``).  Raises :class:`SolverFailure` when CG stops
        above ``rtol`` (``H`` is positive definite, ``H >= C_R I``, so this only happens
        when ``maxiter`` is too small for the conditioning).
        """
        from scipy.sparse.linalg import LinearOperator, cg

        self.at(theta)
        g = np.asarray(g, float)
        k = self.d + 1
        gn = float(np.linalg.norm(g))
        if gn == 0:
            return np.zeros(k), {"iterations": 0, "residual": 0.0}
        dinv = 1.0 / self.hessian_diagonal()
        M = LinearOperator((k, k), matvec=lambda r: dinv * r, dtype=float)
        count = [0]

        def cb(_):
            count[0] += 1

        maxiter = 20 * k if maxiter is None else int(maxiter)
        u, _ = cg(self.operator(), g, rtol=rtol, atol=0.0, maxiter=maxiter, M=M, callback=cb)
        res = float(np.linalg.norm(self.hvp(u) - g) / gn)
        if not res <= 10 * rtol:
            raise SolverFailure(f"conjugate gradient stopped after {count[0]} iterations with "
                                f"relative residual {res:.1e} > {rtol:.0e}", solver="cg",
                                status="maxiter")
        return u, {"iterations": count[0], "residual": res}


def train_smoothed(X, y, reg, sample_weight=None, delta=DELTA, theta0=None, tol=1e-10,
                   max_iter=500):
    """Minimiser of the smoothed-hinge training objective (:class:`SmoothedObjective`).

    Newton's method with Jacobi-preconditioned CG directions and Armijo backtracking,
    started at ``theta0`` (e.g. the exact hinge SVM, ``O(delta)`` away).  Stops when
    ``|grad| <= tol * C_R * max(1, |theta|)``: by ``C_R``-strong convexity
    ``|theta - theta*| <= |grad| / C_R``, so ``theta`` is then within a relative ``tol`` of
    the minimiser.  Returns ``(theta, info)`` with ``info = {"iterations", "grad_norm",
    "objective"}``; raises :class:`SolverFailure` if ``max_iter`` Newton steps do not
    reach the tolerance.
    """
    from scipy.sparse.linalg import LinearOperator, cg

    obj = SmoothedObjective(X, y, reg, sample_weight, delta)
    k = obj.d + 1
    theta = np.zeros(k) if theta0 is None else np.asarray(theta0, float).copy()
    if theta.shape != (k,):
        raise InputError(f"theta0: expected {k} parameters (w, b), got shape {theta.shape}")
    f = obj.value(theta)
    g = obj.gradient(theta)
    it = stalls = 0
    while np.linalg.norm(g) > tol * obj.reg * max(1.0, np.linalg.norm(theta)):
        if it >= max_iter:
            raise SolverFailure(f"Newton's method on the smoothed hinge stopped after {it} steps "
                                f"with |grad| = {np.linalg.norm(g):.2e}", solver="newton-cg",
                                status="max_iter")
        obj.at(theta)
        dinv = 1.0 / obj.hessian_diagonal()
        M = LinearOperator((k, k), matvec=lambda r: dinv * r, dtype=float)
        # inexact Newton: forcing term min(0.1, sqrt|g|) (superlinear near the optimum)
        gn = float(np.linalg.norm(g))
        step, _ = cg(obj.operator(), -g, rtol=min(0.1, np.sqrt(gn)), atol=0.0,
                     maxiter=20 * k, M=M)
        slope = float(g @ step)
        if not slope < 0:                       # CG failed to give descent: use -grad
            step, slope = -g, -gn * gn
        t = 1.0
        # Armijo backtracking, with the rounding error of f allowed for: near the optimum
        # the decrease |g|^2/C_R falls below the resolution of f, and full Newton steps
        # must still be taken for the gradient to shrink quadratically
        fuzz = 16 * np.finfo(float).eps * max(1.0, abs(f))
        while True:
            f_new = obj.value(theta + t * step)
            if f_new <= f + 1e-4 * t * slope + fuzz or t < 1e-12:
                break
            t *= 0.5
        theta = theta + t * step
        g_new = obj.gradient(theta)
        # in floating point the objective stops decreasing before the gradient reaches an
        # over-tight tolerance; then stop if |grad| meets sqrt(tol) (theta is optimal to
        # rounding error), else report the failure
        stalls = stalls + 1 if (f_new >= f - fuzz and np.linalg.norm(g_new) >= 0.5 * gn) else 0
        f, g = f_new, g_new
        it += 1
        if stalls >= 3:
            if np.linalg.norm(g) <= np.sqrt(tol) * obj.reg * max(1.0, np.linalg.norm(theta)):
                break
            raise SolverFailure(f"Newton's method on the smoothed hinge stalled with |grad| = "
                                f"{np.linalg.norm(g):.2e}", solver="newton-cg", status="stalled")
    return theta, {"iterations": it, "grad_norm": float(np.linalg.norm(g)), "objective": f}


def _trial(attack, Xr, yp, wp, theta, starts):
    """One trial step length of the ascent: :meth:`InfluenceAttack._retrain` on ``Dc ∪
    (Xr, yp, wp)`` from ``theta`` and the warm starts ``starts``, returned with them
    (module-level: a job that a second process can run)."""
    th, info, kept = attack._retrain(Xr, yp, wp, theta, starts)
    return th, info, kept, starts


# --------------------------------------------------------------------------- the gradient
def smoothed_loss(theta, X, y, delta=DELTA):
    """Mean smoothed-hinge loss of ``theta = (w, b)`` on ``(X, y)`` (the attacker's L_test)."""
    m = y * (X @ theta[:-1] + theta[-1])
    return float(np.mean(SmoothedHinge(delta).value(m)))


def smoothed_loss_gradient(theta, X, y, delta=DELTA):
    """``g_test`` of equation (9): mean gradient of the smoothed test loss w.r.t. ``(w, b)``."""
    m = y * (X @ theta[:-1] + theta[-1])
    g = y * SmoothedHinge(delta).derivative(m) / len(y)
    return np.append(X.T @ g, g.sum())


def smoothed_error(theta, X, y, tau=TAU):
    """Mean ``sigmoid(-m / tau)`` of the margins ``m = y (w.x + b)``: the 0/1 error with its
    step smoothed over margins of about ``tau`` (the ``'smoothed-error'`` objective)."""
    from scipy.special import expit

    m = y * (X @ theta[:-1] + theta[-1])
    return float(np.mean(expit(-m / tau)))


def smoothed_error_gradient(theta, X, y, tau=TAU):
    """Mean gradient of :func:`smoothed_error` w.r.t. ``(w, b)`` (``g_test`` of equation (9)
    for that objective)."""
    from scipy.special import expit

    m = y * (X @ theta[:-1] + theta[-1])
    s = expit(-m / tau)
    g = -y * s * (1.0 - s) / (tau * len(y))
    return np.append(X.T @ g, g.sum())


def influence_gradient(objective, theta, Xp, yp, wp, g_test, rtol=1e-8):
    """``dL_test/dx_j`` for every poison row (equations (9)-(11), Algorithm 2's update).

    ``objective`` is the :class:`SmoothedObjective` of ``Dc ∪ Dp`` (the rows ``Xp`` with
    copies ``wp`` among them) and ``theta`` its minimiser.  With ``u = H^{-1} g_test``:

        dL/dx_j = -(s_j / W) (phi'(m_j) y_j u_w + phi''(m_j) (u . x~_j) w).

    Returns ``(G, info)``: ``G`` of shape ``(m, d)`` and the CG record of the solve.
    """
    u, info = objective.solve(theta, g_test, rtol=rtol)
    Xp = np.atleast_2d(np.asarray(Xp, float))
    yp = np.asarray(yp, float).ravel()
    scale = np.asarray(wp, float).ravel() / objective.total_weight
    w, b = theta[:-1], theta[-1]
    m = yp * (Xp @ w + b)
    loss = objective.loss
    dphi, d2phi = loss.derivative(m), loss.second_derivative(m)
    ux = Xp @ u[:-1] + u[-1]
    G = -scale[:, None] * ((dphi * yp)[:, None] * u[None, :-1] + (d2phi * ux)[:, None] * w[None, :])
    return G, info


def _dense(X, idx):
    """Rows ``idx`` of ``X`` as a dense array (a few poison starts: sparse clean rows are
    gathered, never the whole matrix)."""
    R = X[np.atleast_1d(idx)]
    return R.toarray() if is_sparse(R) else np.asarray(R, float)


def _centroid_radius(X, y, v):
    """Median distance of the rows of class ``v`` to their centroid; on sparse rows from
    ``|x - mu|^2 = |x|^2 - 2 x.mu + |mu|^2`` (not densified)."""
    Z = X[y == v]
    if not is_sparse(Z):
        return np.median(np.linalg.norm(Z - Z.mean(0), axis=1))
    mu = np.asarray(Z.mean(axis=0)).ravel()
    sq = np.asarray(Z.multiply(Z).sum(axis=1)).ravel() - 2 * (Z @ mu) + mu @ mu
    return np.median(np.sqrt(np.maximum(sq, 0.0)))


def _rounded(X, domain, rng):
    """The poison rows the defender sees: integer coordinates randomly rounded
    (:func:`convexpoison.integer.randomized_round`, Koh et al. section 3.3); on a domain
    without integer coordinates the rows as they are (the projection already put them in
    the domain)."""
    if domain is None or not domain.has_integers:
        return X
    return randomized_round(X, domain, rng)


# ------------------------------------------------------------------------------ results
@dataclass
class InfluenceResult:
    """What :class:`InfluenceAttack` found and how the defender fared.

    ``history``: one record per step -- the chosen step length, the attacker's objective
    (mean smoothed-hinge loss on its evaluation set under ``theta_delta``), that model's
    0/1 error there, and the Newton/CG work.  ``evaluation``: the
    :class:`~convexpoison.defenses.Evaluation` of the returned poison set (exact hinge
    SVM under every defense).
    """

    poisons: PoisonSet
    evaluation: object
    history: list
    variant: str
    initial_objective: float
    objective: float
    n_iter: int
    stop_reason: str
    seconds: float = 0.0

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped the ascent; the poison is the best accepted before it."""
        return self.stop_reason == "interrupted"

    @property
    def status(self) -> str:
        """Why the ascent stopped: 'max_iter', 'no improvement', 'zero gradient' or 'interrupted'."""
        return self.stop_reason

    def to_dict(self) -> dict:
        ev = self.evaluation
        return {**ev.to_dict(), "status": self.status, "variant": self.variant, "n_distinct": self.poisons.n_distinct,
                "initial_objective": self.initial_objective, "objective": self.objective,
                "iterations": self.n_iter, "stop_reason": self.stop_reason,
                "interrupted": self.interrupted,
                "cg_iterations": int(sum(h.get("cg_iterations", 0) for h in self.history)),
                "max_cg_residual": max((h.get("cg_residual", 0.0) for h in self.history),
                                       default=0.0),
                "history": self.history, "seconds": self.seconds}


# ------------------------------------------------------------------------------ the attack
class InfluenceAttack(PoisoningAttack):
    """Projected gradient ascent on the test loss (Algorithm 2 and its improvements).

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``|Dc|``
        (``|Dp| =`` :func:`~convexpoison.attacks.base.n_poisons`).
    variant : 'improved' (two concentrated points, section 4.1.2) or 'basic'
        (``epsilon N`` separate points, influence-basic).
    n_init : random starts; the one with the highest final attacker objective (smoothed
        test loss) is kept.  Default 1; about 10 concentrated starts cost one basic run.
    reg : the defender's ``C_R`` (default: the dataset's).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"linearsvc:C=1"``
        or a scikit-learn estimator; default the package's SVM with ``C_R = reg``.  It
        trains the clean model and the evaluated ones; the attacker's smoothed model of
        training uses its effective ``C_R`` for the weight it is trained on (``1/(C W)``
        under scikit-learn's ``C``).  Hinge loss with a penalised intercept only: with a
        free intercept the smoothed objective's Hessian is singular in ``b`` wherever no
        point lies in the smoothing band, and the influence gradient needs its inverse.
    defenses : names of the defenses the result is evaluated under (default
        :data:`~convexpoison.defenses.DEFENSES`); those among l2, slab give the feasible set
        unless ``feasible`` names it.
    feasible : feasible-set components (default: ``domain`` plus l2/slab of ``defenses``),
        or a ready fitted :class:`~convexpoison.feasible.FeasibleSet` without a loss
        component, used as it is instead of being fitted on ``Dc`` (``quantile`` is then
        unused; ``refit=True`` refits it).
    p : fraction each defense removes per class (evaluation).
    quantile : feasible-set thresholds as a quantile of the clean scores (0.9 as in Koh et
        al.'s code: stricter than the defense's ``1 - p`` so the points survive the
        defender's refit on ``Dc ∪ Dp``).
    delta : hinge smoothing for the derivatives (module docstring).
    step : initial step length, the distance the fastest-moving point travels (default:
        a quarter of the median distance of clean points to their class centroid).
    n_steps : step lengths tried per iteration (``step, step/2, ...``).
    max_iter, patience : stop after ``max_iter`` steps or ``patience`` consecutive steps
        without improvement.
    refit : refit the feasible set on ``Dc ∪ Dp`` after every accepted step.
    anticipate : defense names the attacker's model of training applies (module
        docstring); default none (Koh et al.'s attack).  Each retraining then costs one
        training per anticipated defense more.
    objective : what the ascent maximises on the evaluation set: 'test-loss' (Koh et
        al.'s mean smoothed-hinge loss) or 'smoothed-error' (mean ``sigmoid(-margin /
        tau)``, :func:`smoothed_error`: the 0/1 error the defender is judged by, smoothed).
        The test loss grows with every wrong margin; the smoothed error only with margins
        near zero, so it spends the poison on test points it can flip.
    tau : width of the smoothed error, in units of the margin (:data:`TAU`).
    initial_poisons : a :class:`~convexpoison.poisons.PoisonSet` to start the ascent from
        (its rows, labels and copies; rows outside the feasible set are projected onto
        it) instead of label flips of ``Dc`` -- e.g. another attack's poison, polished
        (the reachable-target attack's step 5c, docs/reachable.md).  ``epsilon`` then
        plays no part: the copies are the start's.
    use : 'test' (the attacker knows the test set, Koh et al. section 5) or 'train'.
    n_pos : copies at ``+1`` of the improved attack (default: inverse class balance).
    cg_rtol : relative residual of the CG solve ``H u = g_test``.
    random_state : seed of the label-flip initialisation and the rounding.
    workers : 2 or more: the step lengths after the first are tried in a second process
        (:class:`~convexpoison.parallel.Beside`) while this one tries the first; every
        trial trains from the same warm starts, so the result is the serial one (with one
        BLAS thread, bit for bit).  Measured in docs/reachable-history.md, *Time on two cores*.
    progress : callable receiving a line of text per step (or None).
    progress_bar : a bar of the steps on standard error: None (when it is a terminal),
        True (always), False (never); :mod:`convexpoison.progress`.

    Ctrl-C stops the ascent cleanly: the poison of the last accepted step is evaluated and
    returned with ``result_.stop_reason == 'interrupted'``.
    """

    def __init__(self, epsilon=DEFAULT_EPSILON, variant="improved", reg=None,
                 defenses=DEFENSES, feasible=None, p=0.05,
                 quantile=0.9, delta=DELTA, step=None, n_steps=4, max_iter=50, patience=2,
                 refit=False, use="test", n_pos=None, cg_rtol=1e-8, solver=None,
                 random_state=0, progress=None, progress_bar=None, n_init=1, anticipate=(),
                 defender=None, objective="test-loss", tau=TAU, initial_poisons=None,
                 workers=1):
        self.epsilon = epsilon
        self.workers = workers
        self.objective = objective
        self.tau = tau
        self.initial_poisons = initial_poisons
        self.variant = variant
        self.reg = reg
        self.defenses = defenses
        self.feasible = feasible
        self.p = p
        self.quantile = quantile
        self.delta = delta
        self.step = step
        self.n_steps = n_steps
        self.max_iter = max_iter
        self.patience = patience
        self.n_init = n_init
        self.refit = refit
        self.anticipate = anticipate
        self.use = use
        self.n_pos = n_pos
        self.cg_rtol = cg_rtol
        self.solver = solver
        self.random_state = random_state
        self.progress = progress
        self.progress_bar = progress_bar
        self.defender = defender

    _name = "influence"
    _needs = "Dc, the evaluation set and the domain"

    # -- set-up ---------------------------------------------------------------
    def _initial_poison(self, Xc, yc, n_total, feas, rng):
        """Label flips of ``Dc`` that lie in the feasible set (Appendix B.1), or the rows of
        ``initial_poisons`` (projected onto the set where outside it)."""
        if self.initial_poisons is not None:
            P = self.initial_poisons
            X = np.array(P.X, dtype=float)
            out = ~feas.contains(X, P.y)
            if out.any():
                X[out] = self._project(X[out], P.y[out], feas)
            return X, np.array(P.y), np.array(P.weight, dtype=float)
        flipped = -yc
        ok = feas.contains(Xc, flipped)
        if self.variant == "basic":
            pool = np.flatnonzero(ok)
            if pool.size == 0:                  # no flip is feasible: project random flips
                idx = rng.choice(Xc.shape[0], n_total, replace=True)
                return (self._project(_dense(Xc, idx), flipped[idx], feas), flipped[idx],
                        np.ones(n_total))
            idx = rng.choice(pool, n_total, replace=True)
            return _dense(Xc, idx), flipped[idx], np.ones(n_total)
        N = Xc.shape[0]
        n_neg_clean = int(np.sum(yc == -1))
        if self.n_pos is None:
            n_pos = int(round(n_total * n_neg_clean / N))
        else:
            n_pos = int(self.n_pos)
            if not 0 <= n_pos <= n_total:
                raise InputError(f"n_pos: must be between 0 and {n_total}, got {self.n_pos}")
        rows, labels, weights = [], [], []
        for label, count in ((1, n_pos), (-1, n_total - n_pos)):
            if count == 0:
                continue
            cand = np.flatnonzero(ok & (flipped == label))
            if cand.size:
                rows.append(_dense(Xc, rng.choice(cand))[0])
            else:
                src = np.flatnonzero(flipped == label)
                src = src if src.size else np.arange(N)
                rows.append(self._project(_dense(Xc, [rng.choice(src)]), np.array([label]),
                                          feas)[0])
            labels.append(label)
            weights.append(float(count))
        return np.array(rows), np.array(labels), np.array(weights)

    def _project(self, X, y, feas):
        """Rows of ``X`` projected onto ``F_y`` of their labels (a DPP QP per label)."""
        out = np.empty_like(X)
        for lab in np.unique(y):
            m = y == lab
            out[m] = feas.project(X[m], int(lab), solver=self.solver)
        return out

    # -- the attacker's model ---------------------------------------------------
    def _retrain_data(self, Xp, yp, wp):
        """``Dc ∪ Dp`` as rows, labels and copies (clean rows first; sparse clean rows give
        a sparse matrix)."""
        if is_sparse(self.Xc_):
            import scipy.sparse as sp

            X = sp.vstack([self.Xc_, sp.csr_matrix(np.asarray(Xp, float))], format="csr")
        else:
            X = np.vstack([self.Xc_, Xp])
        return (X, np.concatenate([self.yc_, yp]),
                np.concatenate([np.ones(self.Xc_.shape[0]), wp]))

    def _retrain(self, Xp, yp, wp, theta0, starts=None):
        """The attacker's model of training, warm-started at ``theta0``.

        ``theta_delta`` on ``Dc ∪ Dp``; with ``anticipate``, on what the anticipated defense
        leaving the lowest test loss keeps of it.  Returns ``(theta, info, kept)`` with
        ``kept`` the weights of the rows of ``Dc ∪ Dp`` that ``theta`` is trained on
        (:meth:`_kept_data` gives them).  ``starts`` (a dict, updated): each anticipated
        defense's model from an earlier call, the start of its training -- the poison moves
        little between calls, so Newton needs a third fewer steps than from ``theta``
        (measured on mnist17 and spambase).
        """
        X, y, s = self._retrain_data(Xp, yp, wp)
        theta, info = train_smoothed(X, y, self._reg_on(s), s, delta=self.delta, theta0=theta0)
        if not self.anticipate_:
            return theta, info, s
        best = None
        starts = {} if starts is None else starts
        for name in self.anticipate_:
            kept = self._defense(name, theta).sanitize(X, y, s)
            keep = kept > 0
            th, inf = train_smoothed(X[keep], y[keep], self._reg_on(kept), kept[keep],
                                     delta=self.delta, theta0=starts.get(name, theta))
            starts[name] = th
            score = self._score(th)
            if best is None or score < best[0]:
                best = (score, th, {**inf, "defense": name}, kept)
        return best[1:]

    def _kept_data(self, Xp, yp, wp, kept):
        """``(X, y, s, wp_kept)``: the rows, labels and weights of ``Dc ∪ Dp`` that a model
        of :meth:`_retrain` is trained on (its Hessian drives the gradient), and the copies
        of each poison row among them."""
        X, y, _ = self._retrain_data(Xp, yp, wp)
        keep = kept > 0
        return X[keep], y[keep], kept[keep], kept[self.Xc_.shape[0]:]

    def _trials(self, Xrs, yp, wp, theta, starts):
        """``(theta, info, kept, starts)`` of :meth:`_retrain` for each trial poison in
        ``Xrs``, each from its own copy of ``starts``, so that a trial's model does not
        depend on where it ran: the first here, the others in the second process of
        ``workers`` (:class:`~convexpoison.parallel.Beside`), one step length beside the
        other."""
        beside = self.__dict__.get("_beside")
        jobs = []
        if beside is not None and beside.workers > 1 and len(Xrs) > 1:
            portable = self._portable()
            jobs = [beside.submit(_trial, portable, X, yp, wp, theta, dict(starts))
                    for X in Xrs[1:]]
            Xrs = Xrs[:1]
        return [_trial(self, X, yp, wp, theta, dict(starts)) for X in Xrs] + [
            j.result() for j in jobs]

    def _portable(self):
        """A copy of this attack that its model of training can run from in another
        process: without the progress callbacks, the feasible sets (cvxpy) and the
        process handle."""
        out = copy.copy(self)
        for name in ("progress", "progress_bar", "feasible", "feasible_", "initial_poisons",
                     "_beside"):
            out.__dict__[name] = None
        return out

    def _reg_on(self, s):
        """The defender's effective ``C_R`` for training weights ``s`` (``reg`` itself under
        the package's convention, ``1/(C sum s)`` under scikit-learn's ``C``)."""
        return self.defender_.reg_for(np.sum(s))

    def _defense(self, name, theta):
        """An anticipated defense; the loss defense scores with the undefended ``theta``."""
        from ..defenses import make_defense
        from ..training import LinearModel

        if name == "loss":
            base = LinearModel(w=theta[:-1], b=float(theta[-1]), model="svm", reg=self.reg_)
            return make_defense(name, p=self.p, base_model=base)
        if name == "knn":
            return make_defense(name, p=self.p, clean=self.clean_neighbours_)
        return make_defense(name, p=self.p)

    def _score(self, theta):
        """The attacker's objective (``objective``) of ``theta`` on its evaluation set."""
        if self.objective == "smoothed-error":
            return smoothed_error(theta, self.Xe_, self.ye_, self.tau)
        return smoothed_loss(theta, self.Xe_, self.ye_, self.delta)

    def _score_gradient(self, theta):
        """``g_test``: the gradient of :meth:`_score` w.r.t. ``(w, b)``."""
        if self.objective == "smoothed-error":
            return smoothed_error_gradient(theta, self.Xe_, self.ye_, self.tau)
        return smoothed_loss_gradient(theta, self.Xe_, self.ye_, self.delta)

    def _error(self, theta):
        s = self.Xe_ @ theta[:-1] + theta[-1]
        return float(np.mean(np.where(s >= 0, 1, -1) != self.ye_))

    # -- main entry ---------------------------------------------------------------
    def _ascend(self, Xc, yc, n_total, feas, domain, reg, clean, rng):
        """One projected-gradient ascent from a fresh random start (Algorithm 2)."""
        from ..progress import bar

        Xp, yp, wp = self._initial_poison(Xc, yc, n_total, feas, rng)
        Xr = _rounded(Xp, domain, rng)
        starts = {}
        theta, _, kept = self._retrain(Xr, yp, wp, clean.theta, starts)
        fit = self._kept_data(Xr, yp, wp, kept)
        best = self._score(theta)
        initial = best
        if self.step is None:
            radii = [_centroid_radius(Xc, yc, v) for v in (-1, 1)]
            step = 0.25 * float(np.median(radii))
        else:
            step = check_positive(self.step, "step")
        self._say(f"influence-{self.variant}: {len(yp)} distinct poison rows "
                  f"({n_total:g} points), start: {self.objective} {best:.4f}, step {step:.3g}")
        history, fails, stop = [], 0, "max_iter"
        it = 0
        pbar = bar(int(self.max_iter), f"influence-{self.variant}", self.progress_bar, unit="step")
        try:
            with pbar:
                for it in range(1, int(self.max_iter) + 1):
                    X, y, s, w_kept = fit
                    obj = SmoothedObjective(X, y, self._reg_on(s), s, delta=self.delta)
                    g_test = self._score_gradient(theta)
                    G, cg_info = influence_gradient(obj, theta, Xr, yp, w_kept, g_test,
                                                    rtol=self.cg_rtol)
                    gmax = float(np.max(np.linalg.norm(G, axis=1)))
                    rec = {"iteration": it, "cg_iterations": cg_info["iterations"],
                           "cg_residual": cg_info["residual"], "grad_norm": gmax}
                    if gmax == 0:
                        stop = "zero gradient"
                        history.append({**rec, "accepted": False})
                        break
                    D = G / gmax
                    lengths = []
                    for k in range(int(self.n_steps)):
                        eta = step * 0.5 ** k
                        Xn = self._project(Xp + eta * D, yp, feas)
                        lengths.append((eta, Xn, _rounded(Xn, domain, rng)))
                    trial = None
                    for (eta, Xn, Xnr), (th, tinfo, tkept, tstarts) in zip(
                            lengths, self._trials([t[2] for t in lengths], yp, wp, theta,
                                                  starts)):
                        sc = self._score(th)
                        if trial is None or sc > trial[0]:
                            trial = (sc, eta, Xn, Xnr, th, tinfo, tkept, tstarts)
                    # the next step's warm starts: the defended models of the best length
                    sc, eta, Xn, Xnr, th, tinfo, tkept, starts = trial
                    accepted = sc > best + 1e-12 * max(1.0, abs(best))
                    rec.update({"step": eta, "objective": sc, "accepted": bool(accepted),
                                "newton_iterations": tinfo["iterations"]})
                    if "defense" in tinfo:
                        rec["defense"] = tinfo["defense"]
                    if accepted:
                        Xp, Xr, theta, best, fails = Xn, Xnr, th, sc, 0
                        fit = self._kept_data(Xr, yp, wp, tkept)
                        step = 2 * eta
                        rec["eval_error"] = self._error(theta)
                        if self.refit:
                            X, y, s = self._retrain_data(Xr, yp, wp)
                            feas.fit(X, y, sample_weight=s)
                    else:
                        fails += 1
                        step = eta * 0.5
                    history.append(rec)
                    pbar.set_postfix(loss=f"{best:.4g}", step=f"{eta:.3g}", refresh=False)
                    pbar.update(1)
                    under = f" with the {rec['defense']} defense" if "defense" in rec else ""
                    self._say(f"influence-{self.variant} step {it}: {self.objective}{under} "
                              f"{sc:.4f} "
                              f"({'accepted' if accepted else 'rejected'}, step {eta:.3g}, "
                              f"CG {cg_info['iterations']} it.)")
                    if fails >= int(self.patience):
                        stop = "no improvement"
                        break
        except KeyboardInterrupt:
            # the user's stop: Xr, theta and best change together only on an accepted step
            stop = "interrupted"
            if self.__dict__.get("_beside") is not None:
                self._beside.abandon()      # its trial is not waited for (it ignores SIGINT)
            self._say(f"influence-{self.variant}: interrupted; keeping the last accepted step")
        return {"Xr": Xr, "yp": yp, "wp": wp, "history": history, "initial": initial,
                "best": best, "it": it, "stop": stop}

    def _fit(self, data):
        """The ascent on a dataset (``n_init`` starts); sets ``result_``, ``poisons_``,
        ``feasible_``, ``clean_model_``.  A caller that holds a second process already (the
        reachable-target attack's polish) lends it as ``_beside``."""
        from ..parallel import Beside

        if self.__dict__.get("_beside") is not None:
            return self._run(data)
        with Beside(self.workers) as self._beside:
            try:
                return self._run(data)
            finally:
                self._beside = None

    def _run(self, data):
        from ..defenses import evaluate, parse_defenses

        t0 = time.perf_counter()
        if self.variant not in ("improved", "basic"):
            raise InputError(f"variant: expected 'improved' or 'basic', got {self.variant!r}")
        n_total = self._budget(data)
        D = self.defender_ = self._defender(data)
        if D.loss != "hinge":
            raise InputError(f"defender: the influence attack models training by the smoothed "
                             f"hinge; {D.spec()} has the {D.loss.replace('_', ' ')} loss")
        if not D.penalize_intercept:
            raise InputError(f"defender: the influence attack models training by the smoothed "
                             f"hinge with a penalised intercept; {D.spec()} is not one (a free "
                             "intercept leaves its Hessian singular in b)")
        Xc, yc, Xt, yt = clean_arrays(data, self._name)
        if self.objective not in OBJECTIVES:
            raise InputError(f"objective: expected one of {', '.join(OBJECTIVES)}, got "
                             f"{self.objective!r}")
        check_positive(self.tau, "tau")
        if self.initial_poisons is not None:
            P = self.initial_poisons
            if not isinstance(P, PoisonSet) or not P.n_poisons > 0:
                raise InputError("initial_poisons: give a non-empty PoisonSet")
            if P.X.shape[1] != Xc.shape[1] or not np.all(np.isin(P.y, (-1, 1))):
                raise InputError(f"initial_poisons: rows of {Xc.shape[1]} features labelled "
                                 f"-1/+1 expected, got {P.X.shape[1]} features, labels "
                                 f"{sorted(set(np.asarray(P.y).tolist()))}")
            n_total = P.n_poisons
        # the attacker's C_R on Dc ∪ Dp (total weight N + n_total)
        eps, reg = float(self.epsilon), D.reg_for(Xc.shape[0] + n_total)
        self.reg_ = reg
        check_positive(self.delta, "delta")
        check_use(self.use)
        for name in ("max_iter", "patience", "n_steps"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name}: must be at least 1, got {getattr(self, name)}")
        defenses = parse_defenses(self.defenses)
        domain = data.domain
        check_fraction(self.quantile, "quantile")
        rng = np.random.default_rng(self.random_state)
        self.Xc_, self.yc_ = Xc, yc
        self.Xe_, self.ye_ = (Xt, yt) if self.use == "test" else (Xc, yc)

        feasible = resolve_feasible(self.feasible, self._name, defenses, domain, Xc.shape[1],
                                    ("loss",), "the influence attack evades the loss defense "
                                    "by concentrating its points")
        relax = is_sparse(Xc) and domain is not None and domain.has_integers

        def fit_feasible():
            f = fitted(feasible, domain, Xc, yc, self.quantile)
            if relax:
                # bag-of-words counts: the L2 sphere in its LP relaxation (equation (8)),
                # so the randomly rounded points stay inside it in expectation
                from ..integer import relax_for_rounding

                f = relax_for_rounding(f, domain)
            return f

        feas = self.feasible_ = fit_feasible()
        clean = self.clean_model_ = D.train(Xc, yc)
        self.anticipate_ = parse_defenses(self.anticipate) if self.anticipate else []
        if "knn" in self.anticipate_:
            from ..defenses import CleanNeighbours

            self.clean_neighbours_ = CleanNeighbours(Xc, yc)

        if int(self.n_init) < 1:
            raise InputError(f"n_init: must be at least 1, got {self.n_init}")
        # Restarts (n_init > 1): the ascent stalls near its random start (the accepted
        # step shrinks to a few percent of the first), so the defended error varies a lot
        # between starts; the attacker keeps the start with the highest final objective
        # (its own smoothed test loss -- no defender information), which ranks the
        # defended errors almost perfectly (docs/influence.md, measured results).
        run = None
        for r in range(int(self.n_init)):
            if r > 0:
                self._say(f"influence-{self.variant}: restart {r + 1}/{self.n_init}")
                feas = fit_feasible() if self.refit else feas
            cand = self._ascend(Xc, yc, n_total, feas, domain, reg, clean, rng)
            if run is None or cand["best"] > run["best"]:
                run = cand
            if run["stop"] == "interrupted":
                break
        Xr, yp, wp, history, initial, best, it, stop = (
            run[k] for k in ("Xr", "yp", "wp", "history", "initial", "best", "it", "stop"))
        poisons = PoisonSet(Xr, yp, wp, {"attack": "influence", "variant": self.variant,
                                         "epsilon": eps, "delta": self.delta,
                                         "anticipate": ",".join(self.anticipate_)}).compact()
        self._say(f"influence-{self.variant}: evaluating under {','.join(defenses)}")
        ev = evaluate(data, poisons, defenses=defenses, p=self.p, defender=D, clean_model=clean)
        self.poisons_ = poisons
        self.result_ = InfluenceResult(poisons, ev, history, self.variant, initial, best, it,
                                       stop, time.perf_counter() - t0)
        return self
