"""The min-max attack (Koh et al. 2021 section 4.3, Algorithm 5; Steinhardt et al. 2017).

Replacing the test loss by the training loss on ``Dc ∪ Dp`` (equations (18)-(20)) turns
the attacker's bilevel problem into the saddle-point problem (21):

    min_theta  C_R (1 + eps) R(theta) + L(theta; Dc)/N + eps max_{(x,y) in F} l(theta; x, y),

``R = 1/2 (|w|^2 + b^2)`` (the bias is regularised, as in :mod:`convexpoison.training`).
Algorithm 5 solves it online: at every step the inner maximiser
(:class:`~convexpoison.programs.inner.InnerMaximizer`) finds the highest-loss feasible
point ``(x~, y~)`` at the current ``theta``, ``theta`` takes a (sub)gradient step on the
bracket with ``l(theta; x~, y~)`` in place of the max, and after ``burn_in`` steps the
point joins ``Dp`` (with ``copies`` copies).  The step is AdaGrad with ``eta = 0.03``
(Koh et al.'s code; REFERENCE-NOTES §2), or a plain subgradient step ``eta / sqrt(t)``;
``theta`` starts at the clean model.  Binary models (hinge or logistic loss, labels
``{-1, +1}``) and the Crammer--Singer multi-class SVM (``multisvm``, labels ``0..k-1``;
the inner search runs over labels and competing classes, section 5.7) are supported.

**Decoy constraint** (section 4.3.2, equation (22)): with decoy parameters ``theta_d``
(:mod:`convexpoison.decoys`, Algorithm 3) every point must also satisfy
``l(theta_d; x, y) <= tau`` (``tau = 0.25``, Appendix B.3), which keeps the poison fitted
by the model it drives towards and so out of reach of the loss defense.  Without it the
attack is min-max-basic.  ``decoy="auto"`` generates decoys (binary data), runs the
attack once per decoy and keeps the one that does most damage under the defenses;
multi-class decoys flip the worst-fit points to their runner-up class
(:class:`~convexpoison.decoys.MulticlassDecoyGenerator`), and the decoy-constrained inner
maximum is then found by :class:`MulticlassDecoyInner` (a Lagrangian dual over the
``k - 1`` decoy half-spaces) when the feasible set is a box and an L2 sphere.

**Integer inputs** (section 3.3): on a domain with integer coordinates the L2 sphere is
replaced by its LP relaxation (:class:`~convexpoison.integer.ExpectedL2Sphere`), the
loop runs on continuous points, each with ``repeat_points`` copies, and the result is
randomly rounded with repeated points (:func:`~convexpoison.integer.integerize`).

**Upper-bound iterate values.**  At every step the loop records
``U_t = L(theta_t; Dc)/N + eps max_F l(theta_t) + C_R (1 + eps) R(theta_t)``, the bracket
of (21) at the iterate (Steinhardt et al.'s "min over t of clean loss + eps max loss").
``min_t U_t`` is an upper bound on the saddle value only as far as the inner maxima are
exact (they are primal solver values); the certified bound is
:mod:`convexpoison.certificates.upper_bound`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..decoys import multiclass_flips
from ..defenses import DEFENSES
from ..errors import InputError, SolverFailure
from ..feasible import FEASIBLE_FROM_DEFENSE as _FROM_DEFENSE
from ..poisons import PoisonSet
from ..validation import check_fraction, check_positive, is_sparse
from ._common import check_use, clean_arrays, fitted, resolve_feasible
from .base import DEFAULT_EPSILON, PoisoningAttack

__all__ = ["MinMaxAttack", "MinMaxRun", "MinMaxResult", "loss_and_gradient",
           "FEASIBLE_FROM_DEFENSE", "DECOY_REPEATS", "DECOY_QUANTILES", "LEARNER_ROWS"]

#: Feasible-set components that stand in for each defense (the loss defense is handled by
#: the decoy constraint; k-NN and SVD by the attack's concentration, section 3.1).
#: The shared mapping (:data:`convexpoison.feasible.FEASIBLE_FROM_DEFENSE`) without 'loss'.
FEASIBLE_FROM_DEFENSE = {k: v for k, v in _FROM_DEFENSE.items() if k != "loss"}

#: The decoy sweep's default grid (Koh et al.'s MNIST grid, q 0.05-0.25, r <= 25, thinned:
#: every decoy costs a full run of the attack).
DECOY_REPEATS = (1, 3, 8, 25)
DECOY_QUANTILES = (0.05, 0.1, 0.15, 0.2, 0.25)

#: ``learner_loss_quantile``: clean rows per class (a fixed random subsample) on which the
#: learner's per-class loss thresholds and the anchors are computed at every step.
LEARNER_ROWS = 300


# ----------------------------------------------------------------------- losses
def loss_and_gradient(model, W, b, X, y):
    """Mean loss of rows ``(X, y)`` at ``(W, b)`` and its (sub)gradient ``(gW, gb)``.

    ``model``: 'svm' (hinge subgradient ``-y (x, 1)`` where the margin is below 1),
    'logreg', 'l2svm' (squared hinge), or 'multisvm' (Crammer--Singer: ``+x`` on the row
    of the maximising class ``k* = argmax_k 1[k != y] + s_k`` and ``-x`` on row ``y``
    when ``k* != y``).
    """
    from ..programs.inner import margin_loss

    sparse = is_sparse(X)               # sparse text rows are used as they are
    X = X if sparse else np.atleast_2d(np.asarray(X, float))
    y = np.atleast_1d(np.asarray(y))
    n = X.shape[0]
    if model == "multisvm":
        y = y.astype(int)
        S = X @ W.T + b
        D = S + 1.0
        D[np.arange(n), y] -= 1.0
        kstar = np.argmax(D, axis=1)
        losses = D[np.arange(n), kstar] - S[np.arange(n), y]
        A = np.zeros_like(S)
        act = kstar != y
        A[np.flatnonzero(act), kstar[act]] += 1.0
        A[np.flatnonzero(act), y[act]] -= 1.0
        gW = np.asarray(X.T @ A).T if sparse else A.T @ X
        return float(losses.mean()), gW / n, A.sum(axis=0) / n
    loss = margin_loss(model)
    yf = y.astype(float)
    m = yf * (X @ W + float(b))
    g = loss.derivative(m) * yf
    return float(loss.value(m).mean()), X.T @ g / n, float(g.sum()) / n


# ----------------------------------------------------------------------- results
@dataclass
class MinMaxRun:
    """One run of Algorithm 5 (for one decoy, or none)."""

    poisons: PoisonSet                 # what the defender receives (rounded if integer)
    continuous: PoisonSet              # the post-burn-in points before rounding
    model: object                      # the last iterate theta_T (a LinearModel)
    iterate_values: list               # U_t, t = 1..T
    max_losses: list                   # inner maxima max_F l(theta_t)
    clean_losses: list                 # L(theta_t; Dc)/N
    labels: list                       # label of the point chosen at every step
    decoy: int | None = None
    n_solves: int = 0
    seconds: float = 0.0
    evaluation: object = None          # defenses.Evaluation
    per_defense: dict = field(default_factory=dict)
    eval_score: float = float("nan")
    interrupted: bool = False          # Ctrl-C: the points kept before it (fewer than eps N)
    n_capped: int | None = None        # learner_loss_quantile: steps whose point hit its cap

    @property
    def best_iterate_value(self) -> float:
        return float(np.min(self.iterate_values)) if self.iterate_values else float("nan")

    def summary(self) -> dict:
        ev = self.evaluation
        return {"decoy": self.decoy, "per_defense": dict(self.per_defense),
                "min_over_defenses": None if ev is None else ev.min_over_defenses,
                "no_defense_test_error": None if ev is None else ev.no_defense_test_error,
                "eval_score": self.eval_score, "n_distinct": self.poisons.n_distinct,
                "best_iterate_value": self.best_iterate_value, "seconds": self.seconds}


@dataclass
class MinMaxResult:
    best: MinMaxRun
    runs: list
    decoys: list
    clean_test_error: float
    evaluation: object
    settings: dict
    seconds: float = 0.0
    interrupted: bool = False          # Ctrl-C: the best of what was found before it

    @property
    def poisons(self) -> PoisonSet:
        return self.best.poisons

    @property
    def status(self) -> str:
        """'interrupted' (Ctrl-C: fewer points than the budget) or 'completed' (every step ran)."""
        return "interrupted" if self.interrupted else "completed"

    def to_dict(self) -> dict:
        ev, run = self.evaluation, self.best
        ps = run.poisons
        by_label = {str(int(v)): float(ps.weight[ps.y == v].sum()) for v in np.unique(ps.y)}
        d = None if run.decoy is None else self.decoys[run.decoy]
        out = {"status": self.status, "clean_test_error": self.clean_test_error,
               "poisoned_test_error": ev.poisoned_test_error,
               "no_defense_test_error": ev.no_defense_test_error,
               "per_defense": dict(ev.per_defense),
               "min_over_defenses": ev.min_over_defenses,
               "removed": {k: dict(v) for k, v in ev.removed.items()},
               "n_poisons": ps.n_poisons, "n_distinct": ps.n_distinct,
               "poisons_per_label": by_label,
               "variant": "minmax-basic" if run.decoy is None else "minmax",
               "decoy": (None if d is None else d.to_dict() if hasattr(d, "to_dict")
                         else {"index": run.decoy}),
               "n_decoys": len(self.decoys),
               "upper_bound_iterates": [float(v) for v in run.iterate_values],
               "best_iterate_value": run.best_iterate_value,
               "final_iterate_value": float(run.iterate_values[-1]),
               "max_loss_iterates": [float(v) for v in run.max_losses],
               "n_iterations": len(run.iterate_values),
               "n_inner_solves": run.n_solves,
               "candidates": [r.summary() for r in self.runs],
               "interrupted": self.interrupted,
               "seconds": self.seconds}
        if ev.n_outside_domain is not None:
            out["n_poisons_outside_domain"] = ev.n_outside_domain
        if run.n_capped is not None:
            out["learner_capped_steps"] = run.n_capped
        out.update(self.settings)
        return out


# ------------------------------------------------------------------------ the attack
class MinMaxAttack(PoisoningAttack):
    """The min-max attack (and min-max-basic), binary or multi-class.

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``|Dc|``
        (``|Dp| =`` :func:`~convexpoison.attacks.base.n_poisons`).
    reg : the defender's ``C_R`` (default: the dataset's).
    model : 'svm', 'logreg' or 'multisvm' (default: the defender's, else 'svm' for binary
        data and 'multisvm' otherwise).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator; default the package's ``model`` with ``C_R = reg`` and a
        penalised intercept.  It trains the clean model, the decoys and the models the
        defenses judge; the online learner descends that defender's objective on
        ``Dc ∪ Dp`` times ``W/N``: ``L(theta;Dc)/N + eps l(theta; x_t) + (1 + eps)
        C_R(W) R(theta)`` with its effective ``C_R(W)`` at ``W = N(1 + eps)`` (``1/(C N)``
        for the product under scikit-learn's ``C``) and its ``R`` (no ``b^2`` with a free
        intercept).
    defenses : names of the defenses the result is judged under (and decoys are chosen
        by; default :data:`~convexpoison.defenses.DEFENSES`).
    feasible : feasible-set components for the points (default: ``domain`` plus those of
        ``defenses`` among l2, slab; 'svd' can be named), or a ready fitted
        :class:`~convexpoison.feasible.FeasibleSet` without a loss component, used as it
        is instead of being fitted on ``Dc`` (``quantile`` is then unused).
    decoy : None / 'none' (min-max-basic), 'auto' (generate decoys: Algorithm 3, for
        multi-class data :class:`~convexpoison.decoys.MulticlassDecoyGenerator`), a model
        with ``.w``, ``.b``, or a list of them.  Multi-class decoys on a box (+ L2 sphere)
        feasible set use :class:`MulticlassDecoyInner` (no conic solver).
    tau : the decoy-loss threshold of equation (22).
    p : fraction each defense removes per class.
    quantile : feasible-set thresholds as a quantile of the clean scores (0.9, stricter
        than the defense's ``1 - p`` so the points survive the refit on ``Dc ∪ Dp``).
    copies : copies of every post-burn-in point (Koh et al.'s ``att_rep``; default 1, or
        ``repeat_points`` on an integer domain).
    burn_in : steps before points are kept (default ``max(1, 0.1/eps - 1)`` times the
        number of kept steps, Koh et al.'s Enron setting).
    eta, step : AdaGrad (``'adagrad'``, the default) or ``'subgradient'`` (``eta/sqrt(t)``).
    integer : use the integer path (LP relaxation, rounding, repeated points) when the
        domain has integer coordinates.
    repeat_points : ``r`` of the repeated-points heuristic.
    random_state : seed of the rounding.
    use : 'test' (the attacker knows the test set: decoys and the choice among them use
        it) or 'train' (section 6.1).
    decoy_repeats, decoy_quantiles, max_decoys : the decoy sweep (``decoy='auto'``).
    method : inner maximiser, 'auto' (fast exact path when it applies) or 'cvxpy'.
    screen_tol : training tolerance while comparing decoys; the chosen poison is then
        evaluated with exact training.
    progress : callable receiving a line of text per run (or None).
    progress_bar : a bar of the iterations on standard error: None (when it is a
        terminal), True (always), False (never); :mod:`convexpoison.progress`.
    clean_batch : multi-class only: None (default) takes the online learner's clean-loss
        gradient over all of ``Dc`` at every step; an integer ``m`` takes it over ``m``
        clean rows drawn without replacement at each step (a stochastic gradient, as
        AdaGrad training itself uses; seeded by ``random_state``), which makes a step
        ``N / m`` times cheaper on a large set (docs/minmax-multiclass.md).  The iterate
        values ``U`` then use the minibatch's clean loss.
    learner_loss_quantile : multi-class only, box (+ L2 sphere) feasible sets: None
        (default, off) or a fraction ``q``: every poison must also satisfy the *learner
        constraint* ``l(theta_t; x, y) <= tau_y(theta_t)``, the ``k - 1`` half-spaces
        ``1 + s_j(theta_t; x) - s_y(theta_t; x) <= tau_y(theta_t)``, where ``tau_y`` is the
        ``q``-quantile of class ``y``'s clean losses under the current iterate ``theta_t``
        (on a fixed subsample of :data:`LEARNER_ROWS` clean rows per class).  The loss
        defense removes each class's highest losses under the model trained on
        ``Dc ∪ Dp``, which ``theta_t`` approximates, so a point below the class's quantile
        survives it.  The hinge's gradient does not grow with the loss, so the cap
        restricts the point's direction, not its push.  With or without a decoy
        (:meth:`MulticlassDecoyInner._maximize_learner`; docs/minmax-multiclass.md).
    learner_rank : with ``learner_loss_quantile``: 'value' (default; the pair with the
        highest constrained loss, ties by the uncapped one) or 'push' (the pair with the
        highest loss without its own cap, then capped), see
        :meth:`MulticlassDecoyInner._maximize_learner`.
    learner_radius : None (default, off) or ``r > 0``: after every step the online
        learner's iterate ``(W, b)`` is projected onto the ball ``||(W, b)||_2 <= r
        ||(W_c, b_c)||_2`` around the origin (``theta_c`` the clean model the defender
        trains): projected online gradient descent, so the learner minimises over that
        ball.  For a defender without an explicit regulariser (Koh et al.'s AdaGrad
        training, ``multisvm-adagrad``) the stopping after a few passes is what bounds the
        model, and a learner left to run from ``theta_c`` outgrows it: on fmnist its
        iterate reached norm 10.4 and 23.8 % test error while the defender retrained on
        ``Dc ∪ Dp`` had norm 5.3 and 19.9 %, so the learner chose its points against a
        model the defender never trains.  ``r = 1`` keeps the learner at the clean model's
        scale (docs/minmax-multiclass.md, "the learner's radius").

    Ctrl-C stops the iterations cleanly: the run keeps the points of the steps after the
    burn-in that finished (fewer than ``epsilon N`` of them), the remaining decoys are
    skipped, and the best run so far is returned with ``result_.interrupted`` set.  If no
    point had been kept yet, the KeyboardInterrupt propagates.
    """

    def __init__(self, epsilon=DEFAULT_EPSILON, reg=None, model=None, defenses=DEFENSES,
                 feasible=None, decoy="auto", tau=0.25, p=0.05, quantile=0.9, copies=None,
                 burn_in=None, eta=0.03, step="adagrad", integer=True, repeat_points=2,
                 random_state=0, use="test", decoy_repeats=DECOY_REPEATS,
                 decoy_quantiles=DECOY_QUANTILES, max_decoys=3, method="auto", solver=None,
                 screen_tol=1e-6, progress=None, progress_bar=None, defender=None,
                 clean_batch=None, learner_loss_quantile=None, learner_rank="value",
                 learner_radius=None):
        self.epsilon = epsilon
        self.reg = reg
        self.model = model
        self.defenses = defenses
        self.feasible = feasible
        self.decoy = decoy
        self.tau = tau
        self.p = p
        self.quantile = quantile
        self.copies = copies
        self.burn_in = burn_in
        self.eta = eta
        self.step = step
        self.integer = integer
        self.repeat_points = repeat_points
        self.random_state = random_state
        self.use = use
        self.decoy_repeats = decoy_repeats
        self.decoy_quantiles = decoy_quantiles
        self.max_decoys = max_decoys
        self.method = method
        self.solver = solver
        self.screen_tol = screen_tol
        self.progress = progress
        self.progress_bar = progress_bar
        self.defender = defender
        self.clean_batch = clean_batch
        self.learner_loss_quantile = learner_loss_quantile
        self.learner_rank = learner_rank
        self.learner_radius = learner_radius

    _name = "min-max"
    _needs = "Dc, the domain and the defenses"
    #: the loss defense is handled by the decoy constraint, not by a component
    _exclude = ("loss",)
    _why = "the loss defense is handled by the decoy constraint"

    # -- helpers -------------------------------------------------------------
    def _decoy_models(self, multiclass, Xc, yc, Xt, yt, D, model, clean):
        """List of decoy models; ``[None]`` means min-max-basic."""
        from ..decoys import Decoy, DecoyGenerator, MulticlassDecoyGenerator

        dec = self.decoy
        if dec is None or (isinstance(dec, str) and dec.lower() == "none"):
            return [None], []
        if isinstance(dec, str):
            if dec.lower() != "auto":
                raise InputError(f"decoy: expected 'auto', 'none', a model or a list of models, "
                                 f"got {dec!r}")
            if multiclass:
                gen = MulticlassDecoyGenerator(None, defender=D, repeats=self.decoy_repeats,
                                               quantiles=self.decoy_quantiles, use=self.use,
                                               max_decoys=self.max_decoys, tol=self.screen_tol)
                gen.fit(Xc, yc, Xt, yt, clean_model=clean)
                self._say(f"minmax: {len(gen.candidates_)} multi-class decoy candidates, "
                          f"{len(gen.decoys_)} kept")
                decoys = list(gen.decoys_)
                return [d.model for d in decoys], decoys
            gen = DecoyGenerator(None, defender=D, repeats=self.decoy_repeats, quantiles=self.decoy_quantiles,
                                 use=self.use, model=model, max_decoys=self.max_decoys,
                                 tol=self.screen_tol)
            gen.fit(Xc, yc, Xt, yt, clean_model=clean)
            self._say(f"minmax: {len(gen.candidates_)} decoy candidates, {len(gen.decoys_)} kept")
            decoys = list(gen.decoys_)
        else:
            decoys = list(dec) if isinstance(dec, (list, tuple)) else [dec]
            if not decoys:
                raise InputError("decoy: give at least one decoy model")
        models = [d.model if isinstance(d, Decoy) else d for d in decoys]
        return models, decoys

    def _fast_decoy(self, fs) -> bool:
        """Whether :class:`MulticlassDecoyInner` applies: ``method='auto'`` and a feasible
        set of the domain's box and at most one L2 sphere (the fast path's sets)."""
        from ..feasible import DomainSet, L2Sphere

        dom = fs.domain
        if self.method != "auto" or dom is None or dom.onehot_groups:
            return False
        kinds = [type(c) for c in fs.components]
        return set(kinds) <= {DomainSet, L2Sphere} and kinds.count(L2Sphere) <= 1

    # -- Algorithm 5 -----------------------------------------------------------
    def run_once(self, inner, clean, Xc, yc, reg, eps, n_total, copies, burn_in, domain,
                 integer_path, rng, bar=None, penalize_intercept=True,
                 clean_batch=None, radius=None) -> MinMaxRun:
        """Algorithm 5 with the inner maximiser ``inner`` (a decoy or none), from ``clean``.

        ``reg``: the defender's effective ``C_R`` on ``Dc ∪ Dp`` (total weight
        ``N (1 + eps)``); ``penalize_intercept``: whether its ``R`` has ``b^2``;
        ``clean_batch``: the multi-class learner's clean minibatch size (None: all of ``Dc``;
        the class docstring); ``radius``: the ball ``||(W, b)|| <= radius`` every iterate is
        projected onto (None: no projection; ``learner_radius`` in the class docstring).

        ``bar`` (a :func:`convexpoison.progress.bar`) advances by one per step.  Ctrl-C ends
        the loop: the run holds the points kept so far (``interrupted``); with none kept
        the KeyboardInterrupt propagates.
        """
        t0 = time.perf_counter()
        model = inner.model
        W = np.array(clean.w, float, copy=True)
        b = np.array(clean.b, float, copy=True)
        n_keep = -(-n_total // copies)
        T = burn_in + n_keep
        acc_W, acc_b = np.zeros_like(W), np.zeros_like(b)
        eta = check_positive(self.eta, "eta")
        U, maxl, cl, labs = [], [], [], []
        pts, plabs, pw = [], [], []
        n_solves = 0
        interrupted = False
        # multi-class only: the clean gradient of a minibatch (a generator of its own: the
        # rounding's ``rng`` draws what it draws without one)
        mb = (np.random.default_rng(self.random_state)
              if clean_batch is not None and model == "multisvm" else None)
        try:
            for t in range(T):
                res = inner.maximize(W, b)
                n_solves += res.n_solves
                if mb is None:
                    Lc, gW, gb = loss_and_gradient(model, W, b, Xc, yc)
                else:
                    idx = mb.choice(Xc.shape[0], clean_batch, replace=False)
                    Lc, gW, gb = loss_and_gradient(model, W, b, Xc[idx], yc[idx])
                R = 0.5 * (float(np.sum(W ** 2)) + (float(np.sum(b ** 2)) if penalize_intercept
                                                    else 0.0))
                U.append(Lc + eps * max(res.loss, 0.0) + reg * (1 + eps) * R)
                maxl.append(res.loss)
                cl.append(Lc)
                labs.append(res.y)
                _, pW, pb = loss_and_gradient(model, W, b, res.x[None, :], [res.y])
                gW = gW + eps * pW + reg * (1 + eps) * W
                gb = gb + eps * pb + (reg * (1 + eps) * b if penalize_intercept else 0.0)
                if self.step == "adagrad":
                    acc_W += gW ** 2
                    acc_b += gb ** 2
                    W = W - eta * gW / (np.sqrt(acc_W) + 1e-12)
                    b = b - eta * gb / (np.sqrt(acc_b) + 1e-12)
                else:
                    W = W - eta / np.sqrt(t + 1) * gW
                    b = b - eta / np.sqrt(t + 1) * gb
                if radius is not None:
                    # projected online gradient descent: the learner stays in the ball that
                    # stands in for the defender's implicit regularisation
                    norm = _norm(W, b)
                    if norm > radius:
                        W = W * (radius / norm)
                        b = b * (radius / norm)
                if t >= burn_in:
                    k = t - burn_in
                    pts.append(res.x)
                    plabs.append(res.y)
                    pw.append(float(copies if k < n_keep - 1 else n_total - copies * (n_keep - 1)))
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:
            # the user's stop: keep the points of the finished steps
            k = min(len(pts), len(plabs), len(pw))
            del pts[k:], plabs[k:], pw[k:]
            if not pts:
                raise                       # nothing kept yet: nothing to return
            interrupted = True
        cont = _merge(np.array(pts), np.array(plabs), np.array(pw))
        if integer_path:
            from ..integer import integerize

            ps = integerize(cont, domain, repeat=int(self.repeat_points), random_state=rng)
        elif domain is not None:
            ps = PoisonSet(domain.clip(cont.X), cont.y, cont.weight)
        else:
            ps = cont
        from ..training import LinearModel

        last = LinearModel(W, b if model == "multisvm" else float(b), model, reg,
                           bias_regularized=penalize_intercept)
        return MinMaxRun(poisons=ps, continuous=cont, model=last, iterate_values=U,
                         max_losses=maxl, clean_losses=cl, labels=labs, n_solves=n_solves,
                         seconds=time.perf_counter() - t0, interrupted=interrupted)

    # -- main entry ----------------------------------------------------------
    def _fit(self, data):
        """Algorithm 5 on a dataset (once per decoy); sets ``result_``, ``poisons_``,
        ``clean_model_``, ``feasible_set_``, ``decoys_``."""
        from ..defenses import CleanNeighbours, evaluate, parse_defenses
        from ..integer import relax_for_rounding
        from ..programs.inner import InnerMaximizer
        from ..progress import bar

        t0 = time.perf_counter()
        n_total = self._budget(data)
        eps_req = float(self.epsilon)
        Xc, yc, Xt, yt = clean_arrays(data, self._name, binary=False)
        binary = bool(np.all(np.isin(yc, (-1, 1))))
        model = self.model or ("svm" if binary else "multisvm")
        if model not in ("svm", "logreg", "multisvm", "l2svm"):
            raise InputError(f"model: expected svm, logreg, l2svm or multisvm, got {model!r}")
        D = self.defender_ = self._defender(data, model)
        if self.defender is not None:
            if self.model is not None and self.model != D.model:
                raise InputError(f"model: {self.model} is not the defender's model "
                                 f"({D.spec()}); give one of the two")
            model = D.model
        if binary == (model == "multisvm"):
            kind = "binary" if binary else "multi-class"
            raise InputError(f"model: {model} does not fit {kind} labels")
        labels = [-1, 1] if binary else list(range(int(max(yc.max(), yt.max())) + 1))
        check_use(self.use)
        if self.step not in ("adagrad", "subgradient"):
            raise InputError(f"step: expected 'adagrad' or 'subgradient', got {self.step!r}")
        check_positive(self.tau, "tau", allow_zero=True)
        defenses = parse_defenses(self.defenses)
        domain = data.domain
        feasible = resolve_feasible(self.feasible, self._name, defenses, domain, Xc.shape[1],
                                    self._exclude, self._why)
        N = Xc.shape[0]
        eps = n_total / N
        integer_path = bool(self.integer) and domain is not None and domain.has_integers
        r = int(self.repeat_points)
        if r < 1 or r != self.repeat_points:
            raise InputError(f"repeat_points: must be a positive integer, got {self.repeat_points!r}")
        copies = self.copies if self.copies is not None else (r if integer_path else 1)
        if int(copies) != copies or copies < 1:
            raise InputError(f"copies: must be a positive integer, got {self.copies!r}")
        copies = int(min(copies, n_total))
        n_keep = -(-n_total // copies)
        if self.burn_in is None:
            burn_in = int(round(max(1.0, 0.1 / eps - 1.0) * n_keep))
        else:
            burn_in = int(self.burn_in)
            if burn_in < 0 or burn_in != self.burn_in:
                raise InputError(f"burn_in: must be a non-negative integer, got {self.burn_in!r}")
        check_fraction(self.quantile, "quantile")
        rng = np.random.default_rng(self.random_state)
        clean_batch = self.clean_batch
        if clean_batch is not None:
            if binary:
                raise InputError("clean_batch: the minibatch clean gradient is for multi-class "
                                 "data only")
            if (not isinstance(clean_batch, (int, np.integer)) or isinstance(clean_batch, bool)
                    or clean_batch < 1):
                raise InputError(f"clean_batch: must be a positive integer, got {clean_batch!r}")
            clean_batch = int(min(clean_batch, N))
        lq = self.learner_loss_quantile
        if lq is not None:
            if binary:
                raise InputError("learner_loss_quantile: the learner constraint is for "
                                 "multi-class data only")
            check_fraction(lq, "learner_loss_quantile")
            if self.learner_rank not in ("value", "push"):
                raise InputError(f"learner_rank: expected 'value' or 'push', got "
                                 f"{self.learner_rank!r}")

        if self.learner_radius is not None:
            check_positive(self.learner_radius, "learner_radius")

        # the learner's C_R: the defender's on Dc ∪ Dp of total weight N (1 + eps)
        reg = D.reg_for(N + n_total)
        clean = D.train(Xc, yc)
        self.clean_model_ = clean
        radius = (None if self.learner_radius is None
                  else float(self.learner_radius) * _norm(clean.w, clean.b))
        fs = fitted(feasible, domain, Xc, yc, self.quantile)
        names = fs.names
        if integer_path:
            fs = relax_for_rounding(fs, domain)
        self.feasible_set_ = fs
        if lq is not None and not self._fast_decoy(fs):
            raise InputError("learner_loss_quantile: needs method='auto' and a feasible set of "
                             "the domain's box and at most one L2 sphere")
        decoy_models, decoys = self._decoy_models(not binary, Xc, yc, Xt, yt, D, model, clean)
        self.decoys_ = decoys

        X_eval, y_eval = (None, None) if self.use == "test" else (Xc, yc)
        screening = len(decoy_models) > 1
        neighbours = (CleanNeighbours(Xc, yc, k=5) if "knn" in defenses and screening else None)
        runs, inner, interrupted = [], None, False
        pbar = bar((burn_in + n_keep) * len(decoy_models), "minmax", self.progress_bar, unit="step")
        try:
            for i, dm in enumerate(decoy_models):
                try:
                    if inner is None or dm is None:
                        inner = InnerMaximizer(fs, labels, model=model, decoy=dm, tau=self.tau,
                                               method=self.method, solver=self.solver)
                        if lq is not None:
                            inner = MulticlassDecoyInner(fs, labels, dm, self.tau, Xc, yc,
                                                         fallback=inner, learner_quantile=lq,
                                                         random_state=self.random_state,
                                                         learner_rank=self.learner_rank)
                        elif dm is not None and model == "multisvm" and self._fast_decoy(fs):
                            inner = MulticlassDecoyInner(fs, labels, dm, self.tau, Xc, yc,
                                                         fallback=inner)
                    else:
                        inner.set_decoy(dm)
                    self._say(f"minmax: run {i + 1}/{len(decoy_models)} "
                              f"({'min-max-basic' if dm is None else 'decoy %d' % i}): "
                              f"{burn_in} burn-in + {n_keep} kept steps, eps={eps:.4g}")
                    run = self.run_once(inner, clean, Xc, yc, reg, eps, n_total, copies, burn_in,
                                        domain, integer_path, rng, bar=pbar,
                                        penalize_intercept=D.penalize_intercept,
                                        clean_batch=clean_batch, radius=radius)
                    run.decoy = None if dm is None else i
                    if lq is not None:
                        run.n_capped, inner.n_capped = inner.n_capped, 0
                    ev = evaluate(data, run.poisons, defenses=defenses, p=self.p, defender=D,
                                  X_eval=X_eval, y_eval=y_eval, clean_model=clean,
                                  clean_neighbours=neighbours,
                                  tol=self.screen_tol if screening else 1e-10)
                    run.evaluation = ev
                    run.per_defense = dict(ev.per_defense)
                    if X_eval is None:
                        run.eval_score = ev.poisoned_test_error
                        run._key = (ev.poisoned_test_error, ev.no_defense_test_error)
                    else:
                        run.eval_score = ev.eval_min_over_defenses
                        run._key = (ev.eval_min_over_defenses, ev.eval_no_defense)
                    self._say(f"minmax: run {i + 1}: min over defenses {ev.poisoned_test_error:.4f} "
                              f"({', '.join(f'{k} {v:.3f}' for k, v in ev.per_defense.items())}), "
                              f"best iterate value {run.best_iterate_value:.4f}, {run.seconds:.1f} s")
                    runs.append(run)
                except KeyboardInterrupt:
                    # Ctrl-C outside the steps (or before any point was kept): the runs so far
                    if not runs:
                        raise
                    interrupted = True
                if interrupted or runs[-1].interrupted:
                    interrupted = True
                    self._say(f"minmax: interrupted; keeping the best of {len(runs)} run(s)")
                    break
        finally:
            pbar.close()
        best = runs[0]
        for run in runs[1:]:
            if run._key > best._key:
                best = run
        ev = best.evaluation
        if screening:
            ev = evaluate(data, best.poisons, defenses=defenses, p=self.p, defender=D,
                          clean_model=clean)
            best.evaluation = ev
            best.per_defense = dict(ev.per_defense)
        best.poisons.meta.update({"attack": "minmax" if best.decoy is not None else "minmax-basic",
                                  "epsilon": eps_req, "tau": self.tau})
        settings = {"model": model, "defender": D.spec(), "epsilon_used": eps, "tau": self.tau, "copies": copies,
                    "burn_in": burn_in, "eta": self.eta, "step": self.step,
                    "feasible": names, "quantile": self.quantile, "use": self.use,
                    "integer_path": integer_path,
                    "repeat_points": r if integer_path else None,
                    "random_state": self.random_state}
        if clean_batch is not None:
            settings["clean_batch"] = clean_batch
        if lq is not None:
            settings["learner_loss_quantile"] = float(lq)
            settings["learner_rank"] = self.learner_rank
        if radius is not None:
            settings["learner_radius"] = float(self.learner_radius)
            settings["learner_ball"] = radius
        self.poisons_ = best.poisons
        self.result_ = MinMaxResult(best, runs, decoys, clean.error(Xt, yt), ev, settings,
                                    time.perf_counter() - t0, interrupted)
        return self


class MulticlassDecoyInner:
    """The multi-class inner maximiser under the decoy constraint (22), without a conic solver.

    Per pair ``(y, k)`` it maximises ``g . x`` (``g = w_k - w_y``) over ``B_y`` (the box,
    intersected with the class-``y`` L2 sphere when the feasible set has one) and the
    ``k - 1`` half-spaces ``A_y x <= c_y`` of the decoy constraint
    ``1 + (w_dj - w_dy) . x + b_dj - b_dy <= tau``.  Lagrange on the half-spaces only:
    ``q(lam) = max_{x in B_y} (g - A_y^T lam) . x + lam . c_y`` is convex, and
    differentiable with gradient ``c_y - A_y x(lam)`` where the maximiser ``x(lam)``
    (:func:`~convexpoison.programs.inner.box_ball_argmax`) is unique (always, with the
    sphere); ``min_{lam >= 0} q`` (L-BFGS-B on ``k - 1`` variables) is the constrained
    maximum (Slater: a clean point strictly inside); without the sphere it is an LP,
    solved by HiGHS.  Each pair's multipliers warm-start its next solve, and ``q`` at the
    last multipliers bounds the pair's maximum (weak duality), so most pairs are skipped.  The primal point ``x(lam*)`` is made
    exactly feasible by moving it towards a strictly feasible anchor (the clean class-``y``
    point inside ``B_y`` with the most decoy slack) by the smallest step that satisfies
    every half-space; ``g . x`` is then a feasible value within ``q(lam*) - g . x`` of the
    maximum.  Pairs are visited in the order of their bound (above) and skipped once that
    bound cannot beat the best so far, so the label chosen is the same as with exact
    programs up to that gap.  A label without an anchor (no clean point satisfies the
    constraint with slack) falls back to ``fallback`` (the cvxpy maximiser).

    ``learner_quantile=q`` adds the learner constraint of
    :class:`MinMaxAttack` (``learner_loss_quantile``): at every step the ``k - 1``
    half-spaces ``1 + s_j(theta_t; x) - s_y(theta_t; x) <= tau_y(theta_t)``
    (:meth:`learner_halfspaces`; ``decoy`` may then be None), solved by
    :meth:`_maximize_learner`; a label without a clean point strictly inside both
    constraints is skipped (``fallback`` does not know the learner's half-spaces).
    """

    def __init__(self, feasible, labels, decoy, tau, Xc, yc, fallback, learner_quantile=None,
                 learner_rows=LEARNER_ROWS, random_state=0, learner_rank="value"):
        from ..feasible import L2Sphere

        dom = feasible.domain
        self.lo, self.hi = np.asarray(dom.lo, float), np.asarray(dom.hi, float)
        sph = [c for c in feasible.components if isinstance(c, L2Sphere)]
        self.sphere = sph[0] if sph else None
        self.labels = list(labels)
        self.k = len(self.labels)
        self.tau = float(tau)
        self.Xc, self.yc = Xc, np.asarray(yc, int)
        self.fallback = fallback
        self.model = "multisvm"
        self.decoy = None
        self.n_fallback = 0
        self.max_gap = 0.0
        self.learner_quantile = learner_quantile
        self.learner_rank = learner_rank
        self.n_capped = 0                   # steps whose point sits on its learner cap
        self.thresholds = None              # the last step's tau_y(theta_t), per label
        if learner_quantile is not None:
            # the learner's thresholds and anchors come from a fixed subsample of each class
            # (a step would otherwise score all of Dc)
            rng = np.random.default_rng(random_state)
            idx = []
            for lab in self.labels:
                rows = np.flatnonzero(self.yc == lab)
                if rows.size > learner_rows:
                    rows = np.sort(rng.choice(rows, learner_rows, replace=False))
                idx.append(rows)
            idx = np.concatenate(idx)
            self.Xs, self.ys = np.asarray(Xc[idx], float), self.yc[idx]
            inside = np.ones(len(idx), bool)
            if self.sphere is not None:
                for lab in self.labels:
                    mu, rad = self._ball(lab)
                    m = self.ys == lab
                    inside[m] = np.sum((self.Xs[m] - mu) ** 2, axis=1) <= rad ** 2
            self.s_inside = inside
        self.set_decoy(decoy)

    def _ball(self, lab):
        if self.sphere is None:
            return None, None
        return (np.asarray(self.sphere.centroids_[lab], float),
                float(self.sphere.thresholds_[lab]))

    def _box_ball(self, lab, g):
        from ..programs.inner import box_ball_argmax

        mu, rad = self._ball(lab)
        # directions below 1e-13 of the largest are rounding noise of g - A^T lam (they would
        # put breakpoints at ~1e300 and overflow)
        g = np.where(np.abs(g) > 1e-13 * np.abs(g).max(initial=0.0), g, 0.0)
        if mu is None:
            return np.where(g > 0, self.hi, self.lo)
        return box_ball_argmax(g, self.lo, self.hi, mu, rad)

    def set_decoy(self, decoy):
        """The decoy's half-spaces and anchors (``decoy=None``: no decoy constraint, only the
        learner's; the anchors are then chosen per step)."""
        self.decoy = decoy
        self.A, self.c, self.anchor = {}, {}, {}
        self._lam, self._pair = {}, None          # warm starts of the dual, per (y, k)
        d = self.lo.size
        if decoy is None:
            for lab in self.labels:
                self.A[lab], self.c[lab], self.anchor[lab] = np.zeros((0, d)), np.zeros(0), None
            if self.learner_quantile is not None:
                self.s_slack = np.full(len(self.ys), np.inf)
            return self
        Wd = np.asarray(decoy.w, float)
        bd = np.asarray(decoy.b, float)
        for lab in self.labels:
            others = [j for j in self.labels if j != lab]
            A = Wd[others] - Wd[lab]
            c = self.tau - 1.0 - (bd[others] - bd[lab])
            X = self.Xc[self.yc == lab]
            mu, rad = self._ball(lab)
            if mu is not None:
                X = X[np.sum((X - mu) ** 2, axis=1) <= rad ** 2]
            slack = (c[None, :] - X @ A.T).min(axis=1) if len(X) else np.array([])
            self.A[lab], self.c[lab] = A, c
            self.anchor[lab] = X[int(np.argmax(slack))] if slack.size and slack.max() > 0 else None
        if self.learner_quantile is not None:
            # the subsample's decoy slack (fixed), combined with the learner's per step
            margin, _ = multiclass_flips(self.Xs @ Wd.T + bd, self.ys)
            self.s_slack = self.tau - 1.0 + margin
        if hasattr(self.fallback, "set_decoy") and self.fallback.decoy is not None:
            self.fallback.set_decoy(decoy)
        return self

    def learner_halfspaces(self, w, b):
        """The learner constraint at ``theta_t = (w, b)``: per label ``y``, ``(A, c)`` of the
        ``k - 1`` half-spaces ``1 + s_j(x) - s_y(x) <= tau_y`` (rows in the order of the
        other labels), ``tau_y`` the ``learner_quantile`` of class ``y``'s clean losses
        (on the fixed subsample), and the anchor: the subsample point of class ``y`` inside
        ``B_y`` with the most slack in these and the decoy's half-spaces (None without slack)."""
        margin, _ = multiclass_flips(self.Xs @ w.T + b, self.ys)
        worst = 1.0 - margin                             # max_j 1 + s_j - s_y (loss if > 0)
        loss = np.maximum(worst, 0.0)
        out, taus = {}, {}
        for lab in self.labels:
            m = self.ys == lab
            tau_y = float(np.quantile(loss[m], self.learner_quantile))
            taus[lab] = tau_y
            others = [j for j in self.labels if j != lab]
            A = w[others] - w[lab]
            c = tau_y - 1.0 - (b[others] - b[lab])
            slack = np.minimum(tau_y - worst, self.s_slack)
            slack = np.where(m & self.s_inside, slack, -np.inf)
            i = int(np.argmax(slack))
            out[lab] = (A, c, self.Xs[i] if slack[i] > 0 else None)
        self.thresholds = taus
        return out

    def argmax_linear(self, lab, g):
        """``(x, value)``: a feasible point and its ``g . x`` (module docstring)."""
        A, c, x0 = self.A[lab], self.c[lab], self.anchor[lab]
        if x0 is None:
            self.n_fallback += 1
            return self.fallback.argmax_linear(lab, g)
        # theta moves little between steps: start from this pair's last multipliers
        key = (lab, key_k) if (key_k := getattr(self, "_pair", None)) is not None else None
        return self._solve(lab, g, A, c, x0, key)

    def _solve(self, lab, g, A, c, x0, key):
        """``max g . x`` over ``B_y`` and ``A x <= c`` (``x0`` strictly feasible; ``key``:
        the warm start's key or None): ``(x, g . x)``, ``x`` exactly feasible."""
        from scipy.optimize import minimize

        if self.sphere is None:
            # a box and k - 1 half-spaces: an LP (HiGHS), no dual to smooth it
            from scipy.optimize import linprog

            res = linprog(-g, A_ub=A if len(c) else None, b_ub=c if len(c) else None, bounds=np.column_stack([self.lo, self.hi]),
                          method="highs")
            if res.status != 0:
                self.n_fallback += 1
                return self.fallback.argmax_linear(lab, g)
            x = np.clip(res.x, self.lo, self.hi)
            return self._feasible(x, A, c, x0), float(g @ self._feasible(x, A, c, x0))
        x = self._box_ball(lab, g)
        if np.all(A @ x <= c):
            return x, float(g @ x)                 # the decoy constraint is inactive

        def q(lam):
            xl = self._box_ball(lab, g - A.T @ lam)
            return float((g - A.T @ lam) @ xl + lam @ c), c - A @ xl

        lam0 = self._lam.get(key, np.zeros(len(c))) if key is not None else np.zeros(len(c))
        res = minimize(q, lam0, jac=True, method="L-BFGS-B",
                       bounds=[(0, None)] * len(c),
                       options={"maxiter": 300, "gtol": 1e-11, "ftol": 1e-14})
        if key is not None:
            self._lam[key] = res.x
        x = self._feasible(self._box_ball(lab, g - A.T @ res.x), A, c, x0)
        val = float(g @ x)
        self.max_gap = max(self.max_gap, float(res.fun) - val)
        return x, val

    @staticmethod
    def _feasible(x, A, c, x0):
        """``x`` moved towards the strictly feasible anchor ``x0`` by the smallest step
        ``t`` with ``A ((1 - t) x + t x0) <= c`` (the box and the sphere are convex, so
        the point stays in them)."""
        viol = A @ x - c
        if not np.any(viol > 0):
            return x
        s0 = c - A @ x0
        t = float(np.max(np.where(viol > 0, viol / (viol + s0), 0.0)))
        return (1 - t) * x + t * x0

    def maximize(self, w, b):
        from ..programs.inner import InnerResult

        t0 = time.perf_counter()
        w = np.asarray(w, float)
        b = np.asarray(b, float)
        if self.learner_quantile is not None:
            return self._maximize_learner(w, b, t0)
        pairs = []
        for lab in self.labels:
            for k in self.labels:
                if k != lab:
                    g = w[k] - w[lab]
                    # weak duality: q(lam) at any lam >= 0 (this pair's last multipliers, or
                    # 0: the bound without the decoy) bounds the pair's constrained maximum
                    lam = self._lam.get((lab, k))
                    if lam is None or self.anchor[lab] is None or self.sphere is None:
                        ub = float(g @ self._box_ball(lab, g))
                    else:
                        gl = g - self.A[lab].T @ lam
                        ub = float(gl @ self._box_ball(lab, gl) + lam @ self.c[lab])
                    pairs.append((1.0 + b[k] - b[lab] + ub, lab, k, g))
        pairs.sort(key=lambda p: -p[0])
        best, values, n = None, {}, 0
        for ub, lab, k, g in pairs:
            if best is not None and ub <= best[2]:
                break
            self._pair = k
            x, val = self.argmax_linear(lab, g)
            self._pair = None
            n += 1
            if x is None:
                continue
            v = 1.0 + float(b[k] - b[lab]) + val
            if v > values.get(lab, -np.inf):
                values[lab] = v
            if best is None or v > best[2]:
                best = (x, lab, v, k)
        if best is None:
            raise InputError("feasible: every label's feasible set is empty under the decoy "
                             "constraint (try a larger tau)")
        x, lab, val, comp = best
        return InnerResult(x=x, y=lab, loss=max(0.0, val), values=values, competitor=comp,
                           n_solves=n, seconds=time.perf_counter() - t0)


    def _maximize_learner(self, w, b, t0):
        """The inner maximum under the learner constraint (and the decoy's, if any).

        Per pair ``(y, k)``: the half-spaces of the other competitors ``j != k`` enter the
        dual (:meth:`_solve`); the pair's own one, ``1 + s_k - s_y <= tau_y``, bounds the
        objective itself (its multiplier would cancel ``g`` and leave the primal point
        undetermined), so it is applied after: the maximiser ``x_u`` of the rest, if its
        loss exceeds ``tau_y``, is moved towards the anchor until the loss is ``tau_y``.
        That point attains the pair's constrained maximum ``min(u, tau_y)``.
        ``learner_rank='value'``: the pair with the highest constrained value is chosen
        (the exact inner maximiser); ties (pairs capped at the same ``tau_y``) go to the
        highest uncapped value ``u``, the point the unconstrained min-max would push hardest
        with.  Once most steps are capped, 'value' puts every point in the class with the
        highest threshold; ``'push'`` chooses the pair by ``u`` instead (the min-max's
        own choice of class and competitor, the chosen point then capped).
        """
        from ..programs.inner import InnerResult

        H = self.learner_halfspaces(w, b)
        pairs = []
        for lab in self.labels:
            LA, Lc, x0 = H[lab]
            if x0 is None:
                continue                   # no clean point satisfies both constraints
            others = [j for j in self.labels if j != lab]
            for i, k in enumerate(others):
                g = w[k] - w[lab]
                keep = np.arange(len(others)) != i
                A = np.vstack([self.A[lab], LA[keep]])
                c = np.concatenate([self.c[lab], Lc[keep]])
                lam = self._lam.get((lab, k))
                if lam is None or self.sphere is None:
                    ub = float(g @ self._box_ball(lab, g))
                else:                      # weak duality, as in maximize
                    gl = g - A.T @ lam
                    ub = float(gl @ self._box_ball(lab, gl) + lam @ c)
                base = 1.0 + float(b[k] - b[lab])
                pairs.append((base + min(ub, Lc[i]), base + ub, lab, k, g, A, c, Lc[i], x0,
                              base))
        if not pairs:
            raise InputError("learner_loss_quantile: no label has a clean point strictly "
                             "inside the learner's (and decoy's) constraint")
        push = self.learner_rank == "push"
        pairs.sort(key=(lambda p: -p[1]) if push else (lambda p: (-p[0], -p[1])))
        tie = 1e-9
        best, values, n = None, {}, 0
        for ub, ubu, lab, k, g, A, c, cap, x0, base in pairs:
            if push:
                if best is not None and ubu <= best[4]:
                    break
            elif best is not None and ub < best[2] - tie:
                break
            elif best is not None and ub <= best[2] + tie and ubu <= best[4]:
                continue                   # a tie that cannot win on the uncapped value
            xu, u = self._solve(lab, g, A, c, x0, (lab, k))
            n += 1
            x = self._feasible(xu, np.vstack([A, g]), np.append(c, cap), x0)
            v, u = base + float(g @ x), base + u
            values[lab] = max(values.get(lab, -np.inf), v)
            if push:
                better = best is None or u > best[4]
            else:
                better = (best is None or v > best[2] + tie
                          or (v >= best[2] - tie and u > best[4]))
            if better:
                best = (x, lab, v, k, u)
        x, lab, val, comp, u = best
        if u > val + 1e-12:
            self.n_capped += 1
        return InnerResult(x=x, y=lab, loss=max(0.0, val), values=values, competitor=comp,
                           n_solves=n, seconds=time.perf_counter() - t0)


def _norm(W, b) -> float:
    """``||(W, b)||_2``, the model's size that ``learner_radius`` bounds."""
    return float(np.sqrt(np.sum(np.square(W)) + np.sum(np.square(b))))


def _merge(X, y, w, decimals=9) -> PoisonSet:
    """Rows equal to ``decimals`` places (and of one label) merged, copies added."""
    if X.size == 0:
        raise SolverFailure("minmax: no point was kept (burn-in covers every step)",
                            solver="minmax", status="empty")
    from ..integer import unique_rows

    key = np.hstack([y[:, None].astype(float), np.round(X, decimals)])
    _, first, inv = unique_rows(key)          # np.unique(axis=0), fast on wide text rows
    weight = np.zeros(first.size)
    np.add.at(weight, inv.ravel(), w)
    return PoisonSet(X[first], y[first], weight)
