"""Decoy parameters: models with high test error that poison could plausibly induce.

Koh et al. (2021) section 4.2.1, Algorithm 3 and Appendix B.2.  The attacker trains the
clean model ``theta_c``, takes the points of its evaluation set that ``theta_c`` fits
worst, flips their labels, adds ``r`` copies of them to ``Dc`` and retrains: the result
``theta_decoy`` has high error on the evaluation set while its loss on ``Dc`` stays
close to the optimum (the bound after Algorithm 3).  Sweeping the repeat count ``r`` and
the fraction ``q`` of points flipped gives candidates; a candidate is dropped when
another one has both a higher evaluation error and a lower clean training objective
(Appendix B.2, "removed all parameters that had lower test error and higher training
loss than some other candidate").

Which points are "fit worst": the ``q``-quantile of the margins ``y s_c(x)`` over the
whole evaluation set, pooled over the classes (Koh et al.'s ``generateTheta.m``); the
points at or below it are flipped.  This is Algorithm 3's ``loss >= gamma`` with
``gamma`` the ``(1 - q)``-quantile of the losses, written with margins so that the many
points of zero hinge loss are still ordered.

The evaluation set is a setting (section 6.1): ``use="test"`` -- the attacker knows the
test set and flips its points (the paper's default); ``use="train"`` -- it only knows
``Dc`` and flips points of ``Dc``, judging the decoys by their error on ``Dc``.

The clean "training loss" used for pruning is the training objective on ``Dc``
(mean loss + ``C_R R(theta)``, :func:`convexpoison.training.objective`): what decides
whether a decoy is attainable by a few poison points.

``defender`` (a :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"``
or a scikit-learn estimator; default the package's ``model`` with ``C_R = reg``) trains
``theta_c`` and every decoy, and its objective on ``Dc`` is the clean training loss
(:func:`convexpoison.targets.label_flip_sweep`): a decoy is a model that defender returns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .targets import ModelFields, check_grid, label_flip_sweep
from .validation import check_X, check_y

__all__ = ["Decoy", "DecoyGenerator", "MulticlassDecoyGenerator", "multiclass_flips",
           "pareto_prune", "REPEATS", "QUANTILES"]

#: Koh et al.'s grid for Enron (Appendix B.2): repeats and flipped fractions.
REPEATS = (1, 2, 3, 5, 8, 12, 18, 25, 33)
QUANTILES = tuple(np.round(np.arange(0.05, 0.551, 0.05), 2).tolist())
USES = ("test", "train")


@dataclass
class Decoy(ModelFields):
    """One decoy model and how it was made.

    ``eval_error``: 0/1 error on the attacker's evaluation set; ``clean_objective``: the
    training objective on ``Dc``; ``n_flipped``: distinct points flipped (each added
    ``repeats`` times).
    """

    model: object
    repeats: int
    quantile: float
    n_flipped: int
    eval_error: float
    clean_objective: float

    def to_dict(self) -> dict:
        return {"repeats": self.repeats, "quantile": self.quantile, "n_flipped": self.n_flipped,
                "eval_error": self.eval_error, "clean_objective": self.clean_objective}


def pareto_prune(errors, losses) -> np.ndarray:
    """Keep-mask: drop a candidate when another has a higher error *and* a lower loss.

    Both inequalities strict, as in Appendix B.2; candidates tied in one of the two
    survive.  O(m^2) comparisons, m the number of candidates (at most a few hundred).
    """
    e = np.asarray(errors, float).ravel()
    L = np.asarray(losses, float).ravel()
    if e.shape != L.shape:
        raise InputError("losses: expected one loss per error")
    dominated = ((e[None, :] > e[:, None]) & (L[None, :] < L[:, None])).any(axis=1)
    return ~dominated


class DecoyGenerator:
    """Algorithm 3 swept over ``repeats`` x ``quantiles``, then Pareto-pruned.

    Parameters
    ----------
    reg : ``C_R`` of the defender's training (None when ``defender`` has its own).
    repeats : copies of each flipped point (Koh's Enron grid by default).
    quantiles : fractions ``q`` of the evaluation set flipped.
    use : 'test' (flip points of the test set, the attacker knows it) or 'train' (flip
        points of ``Dc``; section 6.1).
    model : the defender's model ('svm' or 'logreg').
    prune : drop dominated candidates (Appendix B.2).
    max_decoys : keep at most this many after pruning: evenly spaced positions of the
        front sorted by evaluation error, both ends included (``None``: all).
    defender : what trains the clean model and the decoys (module docstring).

    Attributes after ``fit``: ``clean_model_``, ``candidates_`` (every :class:`Decoy`),
    ``decoys_`` (the kept ones, by increasing evaluation error).
    """

    def __init__(self, reg, repeats=REPEATS, quantiles=QUANTILES, use="test", model="svm",
                 prune=True, max_decoys=None, tol=1e-10, defender=None):
        self.reg = reg
        self.repeats = repeats
        self.quantiles = quantiles
        self.use = use
        self.model = model
        self.prune = prune
        self.max_decoys = max_decoys
        self.tol = tol
        self.defender = defender

    def _check(self):
        if self.use not in USES:
            raise InputError(f"use: expected 'test' or 'train', got {self.use!r}")
        if self.max_decoys is not None and int(self.max_decoys) < 1:
            raise InputError("max_decoys: must be at least 1")
        return check_grid(self.quantiles, self.repeats)

    def fit(self, X, y, X_eval=None, y_eval=None, clean_model=None):
        """Generate the decoys for clean data ``(X, y)`` and the attacker's evaluation set.

        With ``use='test'`` the evaluation set ``(X_eval, y_eval)`` is required (the test
        set the attacker knows); with ``use='train'`` it is ``(X, y)`` itself.
        """
        from .defender import resolve_defender

        qs, reps = self._check()
        D = resolve_defender(self.defender, None, self.model, self.reg)
        X = check_X(X, accept_sparse=True)
        y = check_y(y, X.shape[0])
        if self.use == "train":
            Xe, ye = X, y
        else:
            if X_eval is None or y_eval is None:
                raise InputError("X_eval: use='test' needs the attacker's test set")
            Xe = check_X(X_eval, "X_eval", d=X.shape[1], accept_sparse=True)
            ye = check_y(y_eval, Xe.shape[0], name="y_eval")
        theta_c = clean_model if clean_model is not None else D.train(X, y, tol=self.tol)
        self.clean_model_ = theta_c
        # Koh's sweep (Algorithm 3) over the whole grid: no goal, so no early stop; the
        # flip set of each q is the q-quantile of the margins under theta_c
        # (targets.flip_set), given r copies
        swept = label_flip_sweep(X, y, Xe, ye, None, lambda m: (m.error(Xe, ye), False),
                                 quantiles=qs, repeats=reps,
                                 stop_at_goal=False, clean_model=theta_c, tol=self.tol,
                                 independent=True, defender=D)
        swept.sort(key=lambda c: (c.quantile, c.repeats))
        cands = [Decoy(c.model, c.repeats, c.quantile, c.n_flipped, c.goal_value, c.clean_loss)
                 for c in swept]
        return self._keep(cands)

    def _keep(self, cands):
        """Set ``candidates_`` and ``decoys_``: the Pareto front (when ``prune``) by
        increasing evaluation error, at most ``max_decoys`` evenly spaced ones."""
        self.candidates_ = cands
        keep = (pareto_prune([c.eval_error for c in cands], [c.clean_objective for c in cands])
                if self.prune else np.ones(len(cands), bool))
        kept = sorted((c for c, k in zip(cands, keep) if k),
                      key=lambda c: (c.eval_error, c.clean_objective))
        if self.max_decoys is not None and len(kept) > int(self.max_decoys):
            idx = np.unique(np.round(np.linspace(0, len(kept) - 1, int(self.max_decoys))).astype(int))
            kept = [kept[i] for i in idx]
        self.decoys_ = kept
        return self


# ------------------------------------------------------------------- multi-class decoys
def multiclass_flips(scores, y):
    """Multi-class margins ``s_y(x) - max_{k != y} s_k(x)`` and the runner-up classes.

    Algorithm 3 for k classes: a point "fit worst" has the smallest margin, and its flipped
    label is the runner-up class ``argmax_{k != y} s_k(x)`` -- the wrong label the clean
    model already finds most plausible, so the flipped copy costs the decoy least clean
    loss (the bound after Algorithm 3 needs ``L(theta_c; D_flip)`` small).
    """
    S = np.array(scores, float, copy=True)
    y = np.asarray(y, int)
    idx = np.arange(len(y))
    own = S[idx, y].copy()
    S[idx, y] = -np.inf
    runner = np.argmax(S, axis=1)
    return own - S[idx, runner], runner


class MulticlassDecoyGenerator(DecoyGenerator):
    """Algorithm 3 for a k-class (Crammer--Singer) defender, swept and Pareto-pruned.

    For every flipped fraction ``q`` the evaluation points whose multi-class margin
    (:func:`multiclass_flips`) is at or below its ``q``-quantile are relabelled to their
    runner-up class, added ``r`` times to ``Dc``, and the defender is retrained (warm
    started from ``theta_c``, tolerance ``tol``).  A candidate is dropped when another has a
    higher evaluation error *and* a lower clean objective (:func:`pareto_prune`);
    ``max_decoys`` keeps evenly spaced ones of the front.  Parameters as
    :class:`DecoyGenerator` (``model`` is ``'multisvm'``); attributes after ``fit``:
    ``clean_model_``, ``candidates_``, ``decoys_`` (by increasing evaluation error).
    """

    def __init__(self, reg=None, repeats=(2, 5), quantiles=(0.1, 0.2), use="test",
                 prune=True, max_decoys=None, tol=1e-6, defender=None):
        super().__init__(reg, repeats, quantiles, use, "multisvm", prune, max_decoys, tol,
                         defender)

    def fit(self, X, y, X_eval=None, y_eval=None, clean_model=None):
        from .defender import resolve_defender
        from .targets import flip_set

        qs, reps = self._check()
        D = resolve_defender(self.defender, None, "multisvm", self.reg)
        if D.model != "multisvm":
            raise InputError("defender: the multi-class decoys need a multi-class defender")
        X = check_X(X)
        y = check_y(y, X.shape[0], binary=False)
        if self.use == "train":
            Xe, ye = X, y
        else:
            if X_eval is None or y_eval is None:
                raise InputError("X_eval: use='test' needs the attacker's test set")
            Xe = check_X(X_eval, "X_eval", d=X.shape[1])
            ye = check_y(y_eval, Xe.shape[0], name="y_eval", binary=False)
        theta_c = clean_model if clean_model is not None else D.train(X, y, tol=self.tol)
        self.clean_model_ = theta_c
        margins, runner = multiclass_flips(theta_c.decision_function(Xe), ye)
        n = X.shape[0]
        reg_clean = D.reg_for(n)
        cands = []
        for q in qs:
            flip = flip_set(margins, q)
            Xa = np.vstack([X, Xe[flip]])
            ya = np.concatenate([y, runner[flip]])
            for r in reps:
                s = np.concatenate([np.ones(n), np.full(flip.size, float(r))])
                m = D.train(Xa, ya, sample_weight=s, warm_start=theta_c, tol=self.tol)
                clean_obj = float(np.mean(m.losses(X, y)) + reg_clean * m.regularizer())
                cands.append(Decoy(m, int(r), float(q), int(flip.size), m.error(Xe, ye),
                                   clean_obj))
        return self._keep(cands)
