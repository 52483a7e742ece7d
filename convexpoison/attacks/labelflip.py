"""Label-flip baselines (Koh et al. 2021, Appendix D; Lu et al. Appendix A.4).

A label-flip attacker cannot move points: it adds points of a pool it is given (the
test set when the attacker knows it, otherwise its own training data) with their labels
flipped.  :class:`RandomLabelFlip` is the naive baseline -- ``epsilon * n`` pool points
chosen uniformly at random -- against which the optimised attacks are compared.
:class:`AlfaLabelFlip` is Koh et al.'s adaptation of alfa (Xiao et al. 2012; Appendix D):
choose the flips that maximise the loss gap between the clean and the poisoned model,
among the flips that lie in the feasible set.  :class:`CompetingLabelFlip` is the
multi-class flip of Lu et al. (Appendix A.4, after Koh et al.): the new label of a point
is its highest-scoring competing class under the clean model (:func:`competing_labels`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..poisons import PoisonSet
from ..validation import check_X, check_y, is_sparse
from ._common import check_use
from .base import DEFAULT_EPSILON, PoisoningAttack

__all__ = ["RandomLabelFlip", "AlfaLabelFlip", "CompetingLabelFlip", "LabelFlipResult",
           "competing_labels"]


@dataclass
class LabelFlipResult:
    """What a label-flip attack found: the poison set, the pool rows it flipped
    (``indices``, into the pool of ``use``), and why it stopped (``status``: 'completed';
    alfa: 'converged' when its selection repeated, else 'max_iter')."""

    poisons: PoisonSet
    method: str
    use: str
    indices: np.ndarray
    status: str = "completed"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "method": self.method, "use": self.use,
                "n_poisons": self.poisons.n_poisons, "n_distinct": self.poisons.n_distinct,
                **self.extra}


class _LabelFlip(PoisoningAttack):
    """What the label flips share: the pool (``use``) and the budget."""

    _needs = "the clean training data (the budget and the pool refer to it)"

    def _pool(self, data):
        """The attacker's pool ``(X, y, binary)``: the test set or the training set."""
        check_use(self.use)
        X, y = (data.X_test, data.y_test) if self.use == "test" else (data.X_train, data.y_train)
        if X is None or len(y) == 0:
            raise InputError(f"use: the dataset has no {self.use} set to flip points of")
        return _pool(X, y, d=data.d)

    def _flip_defender(self, data, binary, model=None):
        """The defender whose model chooses the flips (``self._defender``), checked against
        the labels: a binary loss for {-1, +1}, the multi-class hinge for 0..k-1."""
        model = model or ("svm" if binary else "multisvm")
        D = self.defender_ = self._defender(data, model)
        if binary != (D.model != "multisvm"):
            kind = "binary" if binary else "multi-class"
            raise InputError(f"defender: {D.spec()} does not fit the {kind} labels of the "
                             "data")
        return D

    def _result(self, poisons, idx, status="completed", **extra):
        self.indices_ = idx
        self.poisons_ = poisons
        self.result_ = LabelFlipResult(poisons, poisons.meta.get("method", ""), self.use, idx,
                                       status, extra)


class RandomLabelFlip(_LabelFlip):
    """Flip the labels of ``n_poisons(epsilon, n)`` randomly chosen points of the attacker's pool.

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``n = |Dc|`` (the training set of ``fit``;
        :func:`~convexpoison.attacks.base.n_poisons`).
    use : the pool: 'test' (the attacker knows the test set; default) or 'train'.
    n_classes : for multi-class labels 0..k-1 (default: the dataset's); a flipped label is
        drawn uniformly among the other classes.  Binary labels {-1, +1} are negated.
    random_state : seed or ``numpy.random.Generator``.
    defender : the defender the poison is meant for (docs/defender.md); the random choice
        does not depend on it -- it is checked (a spelling, a Defender or a scikit-learn
        estimator) and recorded in ``poisons_.meta``, as every attack takes one.

    Points are drawn without replacement while the pool is large enough, with
    replacement otherwise.  ``poisons_`` (one row per distinct point with its copy count),
    ``indices_`` (the pool rows drawn) and ``result_`` are set by ``fit``.
    """

    _name = "random label-flip"

    def __init__(self, epsilon=DEFAULT_EPSILON, use="test", n_classes=None, random_state=None,
                 defender=None):
        self.epsilon = epsilon
        self.use = use
        self.n_classes = n_classes
        self.random_state = random_state
        self.defender = defender

    def _fit(self, data):
        count = self._budget(data)
        eps = float(self.epsilon)
        X, y, binary = self._pool(data)
        n_pool = X.shape[0]
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(n_pool, size=count, replace=count > n_pool)
        meta = {"attack": "labelflip", "method": "random", "epsilon": eps}
        if self.defender is not None:
            # checked and recorded only (the default needs no C_R: none is resolved)
            from ..defender import as_defender

            meta["defender"] = as_defender(self.defender).spec()
        if binary:
            y_flip = -y[idx]
        else:
            k = data.n_classes if self.n_classes is None else int(self.n_classes)
            if k < 2 or y.max() >= k:
                raise InputError(f"n_classes: need at least 2 classes covering the labels, got {k}")
            y_flip = (y[idx] + rng.integers(1, k, size=count)) % k
        if binary:
            # one row per distinct pool point, its copies as the weight
            uniq, first, inv = np.unique(idx, return_index=True, return_inverse=True)
            weight = np.bincount(inv, minlength=uniq.size).astype(float)
            ps = PoisonSet(X[uniq], y_flip[first], weight, meta)
        else:
            # multi-class: copies of one point may get different labels; keep rows apart
            ps = PoisonSet(X[idx], y_flip, np.ones(count), meta)
        self._result(ps, idx)


# ---------------------------------------------------------------------------------------
# Flips chosen with a model: the multi-class rule and the adapted alfa
# ---------------------------------------------------------------------------------------
def competing_labels(model, X, y) -> np.ndarray:
    """For every row the class ``j != y`` with the highest score ``s_j(x)`` under ``model``.

    In the Crammer--Singer loss ``max(0, 1 + max_{j != y} s_j(x) - s_y(x))`` (Lu et al.
    eq. (38)) this ``j`` is the competing class, the one the model confuses the point with;
    Lu et al. (Appendix A.4, after Koh et al.) take it as the label flip of a multi-class
    margin model: the flipped point pulls the boundary between ``y`` and its nearest
    competitor.  For binary models (labels {-1, +1}) the competing label is ``-y``.
    """
    y = np.asarray(y).ravel()
    if getattr(model, "is_binary", np.ndim(getattr(model, "w", None)) == 1):
        return -y
    S = np.array(model.decision_function(np.asarray(X, float)), dtype=float, copy=True)
    S[np.arange(len(y)), y.astype(int)] = -np.inf
    return np.argmax(S, axis=1)


def _stack(Xc, Xp):
    """``Dc ∪ Dp`` rows, clean first: sparse when ``Xc`` is (text; never densified)."""
    if is_sparse(Xc):
        import scipy.sparse as sp

        return sp.vstack([Xc, sp.csr_matrix(Xp)], format="csr")
    return np.vstack([Xc, Xp])


def _pool(X, y, d=None):
    X = check_X(X, "X", d=d, accept_sparse=True)     # text stays sparse (few rows are taken)
    y = np.asarray(y).ravel()
    binary = bool(np.all(np.isin(y, (-1, 1))))
    return X, check_y(y, X.shape[0], binary=binary), binary


class CompetingLabelFlip(_LabelFlip):
    """Multi-class label flips by the highest competing score (Lu et al. Appendix A.4).

    ``fit(data)`` trains the clean model on ``Dc`` (a Crammer--Singer SVM for labels
    0..k-1, a binary SVM for {-1, +1}) unless ``model`` is given, takes
    ``n_poisons(epsilon, n)`` points of the attacker's pool (``use``) and relabels each
    with its competing class under the clean model.  ``select='random'`` draws the points
    uniformly (without replacement while the pool allows); ``select='loss'`` takes those
    whose flipped label has the highest loss under the clean model (the highest-loss
    label-flip heuristic of Koh et al. section 4.2.1).  ``defender`` (a
    :class:`~convexpoison.defender.Defender`, a spelling such as ``"multisvm:C=1"`` /
    ``"svc:C=1"`` or a scikit-learn estimator such as
    ``LinearSVC(loss="hinge", multi_class="crammer_singer")``; default the package's SVM
    with ``C_R = reg``) trains that clean model.  Sets ``poisons_``, ``indices_``,
    ``model_`` and ``result_``.
    """

    _name = "competing label-flip"

    def __init__(self, epsilon=DEFAULT_EPSILON, reg=None, model=None, use="test",
                 select="random", random_state=None, defender=None):
        self.epsilon = epsilon
        self.reg = reg
        self.model = model
        self.use = use
        self.select = select
        self.random_state = random_state
        self.defender = defender

    def _fit(self, data):
        count = self._budget(data)
        eps = float(self.epsilon)
        if self.select not in ("random", "loss"):
            raise InputError(f"select: expected 'random' or 'loss', got {self.select!r}")
        X, y, _ = self._pool(data)
        if self.model is not None:
            self.model_ = self.model
        else:
            Xc, yc, binary = _pool(data.X_train, data.y_train)
            self.model_ = self._flip_defender(data, binary).train(Xc, yc)
        y_flip = competing_labels(self.model_, X, y)
        rng = np.random.default_rng(self.random_state)
        if self.select == "random":
            idx = rng.choice(X.shape[0], size=count, replace=count > X.shape[0])
        else:
            loss = self.model_.losses(X, y_flip)
            order = np.argsort(-loss, kind="stable")
            idx = np.resize(order, count)            # cycles through the pool if too small
        uniq, inv = np.unique(idx, return_inverse=True)
        weight = np.bincount(inv, minlength=uniq.size).astype(float)
        self._result(PoisonSet(X[uniq], y_flip[uniq], weight,
                               {"attack": "labelflip", "method": "competing",
                                "select": self.select, "epsilon": eps}), idx)


class AlfaLabelFlip(_LabelFlip):
    """Adapted alfa (Koh et al. 2021 Appendix D; Xiao et al. 2012).

    alfa adds the flipped pool points whose flipped labels have a high loss under the clean
    model ``theta*`` but a low loss under the poisoned model ``theta^`` (Appendix D's text;
    its displayed objective has the two losses the other way round, which would pick
    flips the clean model already fits -- we follow the text and Xiao et al.):

        maximise  L(theta*; Dp) - L(theta^; Dp),   theta^ = argmin L(theta; Dc ∪ Dp),
        |Dp| = floor(epsilon n),   (x, flip(y)) in Dp only for (x, y) in the pool,

    with Koh et al.'s two changes: the pool is the attacker's set (the test set when known)
    and every flipped point must lie in the feasible set ``feasible`` (a fitted
    :class:`~convexpoison.feasible.FeasibleSet`; ``None``: no constraint).  Xiao et al.'s
    alternating solution: for a fixed ``theta^`` the problem over copy counts ``q_i`` is a
    linear program whose optimum takes the points with the largest gaps
    ``l(theta*; x_i, y~_i) - l(theta^; x_i, y~_i)`` (``copies`` per point), and for fixed
    ``q`` ``theta^`` is retrained.  The first selection assumes a zero poisoned loss (the
    highest clean losses).  Alternation stops when the selection repeats or after
    ``max_iter`` rounds; the selection with the largest achieved objective (its gap under
    the model trained with it) is returned.

    Flipped labels: ``-y`` for binary data, the highest competing class under ``theta*``
    for multi-class data (:func:`competing_labels`; Crammer--Singer SVM).

    Parameters
    ----------
    epsilon : budget fraction of ``n = |Dc|`` (:func:`~convexpoison.attacks.base.n_poisons`).
    reg : ``C_R`` (default: the dataset's); model : 'svm' or 'logreg' (binary) --
        multi-class data uses 'multisvm'.
    feasible : where the flipped points must lie: None (no constraint), feasible-set
        component names (fitted on ``Dc`` at the ``quantile`` of the clean scores) or a
        fitted :class:`~convexpoison.feasible.FeasibleSet`.
    quantile : feasible-set thresholds when ``feasible`` gives names (default 0.9).
    use : the pool: 'test' (the attacker knows the test set; default) or 'train'.
    copies : most copies of one pool point (1: distinct points, as in Xiao et al.; raised
        when the feasible pool is too small for the budget).
    tol : relative duality gap of the retrainings inside the alternation (screening).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator; default the package's ``model`` with ``C_R = reg``.  It
        trains ``theta*`` and every ``theta^`` (under scikit-learn's ``C`` with the
        effective ``C_R`` of ``Dc ∪ Dp``).

    Sets ``poisons_``, ``indices_``, ``result_``, ``clean_model_``, ``history_``,
    ``objective_`` and ``poisoned_model_`` (``theta^`` of the returned selection, trained
    to ``tol``).
    """

    _name = "alfa label-flip"

    def __init__(self, epsilon=DEFAULT_EPSILON, reg=None, model="svm", feasible=None,
                 quantile=0.9, use="test", copies=1, max_iter=10, tol=1e-6, random_state=None,
                 progress=None, defender=None):
        self.epsilon = epsilon
        self.reg = reg
        self.model = model
        self.feasible = feasible
        self.quantile = quantile
        self.use = use
        self.copies = copies
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.progress = progress
        self.defender = defender

    def _fit(self, data):
        """The clean model ``theta*`` on ``Dc``, then the alternation over the pool."""
        count = self._budget(data)
        eps = float(self.epsilon)
        Xc, yc, binary = _pool(data.X_train, data.y_train)
        model_name = self.model if binary else "multisvm"
        if binary and model_name not in ("svm", "logreg"):
            raise InputError(f"model: expected 'svm' or 'logreg' for binary data, got {self.model!r}")
        D = self._flip_defender(data, binary, model_name)
        if int(self.max_iter) < 1:
            raise InputError(f"max_iter: must be at least 1, got {self.max_iter}")
        X, y, _ = self._pool(data)
        feasible = self.feasible
        if feasible is not None and not hasattr(feasible, "contains"):
            from ..feasible import make_feasible_set
            from ..validation import check_fraction

            if not 0 < check_fraction(self.quantile, "quantile"):
                raise InputError("quantile: must be in (0, 1]")
            feasible = make_feasible_set(feasible, data.domain, Xc, yc, quantile=self.quantile)
        self.feasible_ = feasible
        clean = self.clean_model_ = D.train(Xc, yc)
        y_flip = competing_labels(clean, X, y)
        ok = np.ones(X.shape[0], bool) if feasible is None else feasible.contains(X, y_flip)
        pool = np.flatnonzero(ok)
        if count > 0 and pool.size == 0:
            raise InputError("feasible: no flipped pool point lies in the feasible set")
        copies = max(int(self.copies), int(np.ceil(count / max(pool.size, 1))))
        if copies < 1:
            raise InputError(f"copies: must be at least 1, got {self.copies}")
        Xs, ys = X[pool], y_flip[pool]
        clean_loss = clean.losses(Xs, ys)
        n = Xc.shape[0]

        def select(gap):
            order = np.lexsort((-clean_loss, -gap))           # by gap, ties by clean loss
            q = np.zeros(pool.size)
            left = count
            for i in order:
                if left <= 0:
                    break
                q[i] = min(copies, left)
                left -= q[i]
            return q

        q = select(clean_loss)                # first round: assume zero poisoned loss
        best, history, seen, status = None, [], set(), "max_iter"
        for it in range(1, int(self.max_iter) + 1):
            key = q.tobytes()
            if key in seen:
                status = "converged"
                break
            seen.add(key)
            keep = q > 0
            Xt = _stack(Xc, Xs[keep])
            yt = np.concatenate([yc, ys[keep]])
            s = np.concatenate([np.ones(n), q[keep]])
            model = D.train(Xt, yt, sample_weight=s, tol=self.tol,
                            warm_start=clean)                   # clean rows come first
            poisoned_loss = model.losses(Xs, ys)
            gap = clean_loss - poisoned_loss
            value = float(q @ gap)               # L(theta*; Dp) - L(theta^; Dp) for this Dp
            history.append({"iteration": it, "objective": value,
                            "n_distinct": int(keep.sum())})
            self._say(f"alfa round {it}: loss gap {value:.4g}")
            if best is None or value > best[0]:
                best = (value, q.copy(), model)
            q = select(gap)
        value, q, self.poisoned_model_ = best if best is not None else (0.0, q, None)
        keep = q > 0
        self.history_ = history
        self.objective_ = value
        self._result(PoisonSet(Xs[keep], ys[keep], q[keep],
                               {"attack": "labelflip", "method": "alfa", "epsilon": eps}),
                     pool[keep], status, alfa_objective=value, alfa_rounds=len(history),
                     feasible=[] if feasible is None else list(feasible.names))
