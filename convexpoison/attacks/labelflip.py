"""Label-flip baselines (Koh et al. 2021, Appendix D; DESIGN §3.8).

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

import numpy as np

from ..errors import InputError
from ..poisons import PoisonSet
from ..validation import check_fraction, check_X, check_y

__all__ = ["RandomLabelFlip", "AlfaLabelFlip", "CompetingLabelFlip", "competing_labels"]


class RandomLabelFlip:
    """Flip the labels of ``epsilon * n`` randomly chosen points of the attacker's pool.

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``n``.
    n_train : ``n`` = ``|Dc|``, the size the budget refers to (``|Dp| = floor(epsilon n)``,
        Koh et al. section 3); default: the size of the pool passed to :meth:`poison`.
    n_classes : for multi-class labels 0..k-1 (default ``max(y) + 1``); a flipped label is
        drawn uniformly among the other classes.  Binary labels {-1, +1} are negated.
    random_state : seed or ``numpy.random.Generator``.

    Points are drawn without replacement while the pool is large enough, with
    replacement otherwise.  ``poisons_`` (a :class:`~convexpoison.poisons.PoisonSet`, one
    row per distinct point with its copy count) and ``indices_`` are set by
    :meth:`poison`.
    """

    def __init__(self, epsilon, n_train=None, n_classes=None, random_state=None):
        self.epsilon = epsilon
        self.n_train = n_train
        self.n_classes = n_classes
        self.random_state = random_state

    def poison(self, X, y):
        """``(X_poison, y_poison)``: the chosen pool points with flipped labels."""
        eps = check_fraction(self.epsilon, "epsilon")
        X = check_X(X)
        n_pool = X.shape[0]
        y = np.asarray(y).ravel()
        binary = bool(np.all(np.isin(y, (-1, 1))))
        y = check_y(y, n_pool, binary=binary)
        n = n_pool if self.n_train is None else int(self.n_train)
        if n < 1:
            raise InputError(f"n_train: must be positive, got {self.n_train!r}")
        count = int(np.floor(eps * n + 1e-9))
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(n_pool, size=count, replace=count > n_pool)
        if binary:
            y_flip = -y[idx]
        else:
            k = int(y.max()) + 1 if self.n_classes is None else int(self.n_classes)
            if k < 2 or y.max() >= k:
                raise InputError(f"n_classes: need at least 2 classes covering the labels, got {k}")
            y_flip = (y[idx] + rng.integers(1, k, size=count)) % k
        self.indices_ = idx
        # one row per distinct pool point, its copies as the weight
        uniq, first, inv = np.unique(idx, return_index=True, return_inverse=True)
        weight = np.bincount(inv, minlength=uniq.size).astype(float)
        if binary or count == 0:
            self.poisons_ = PoisonSet(X[uniq], y_flip[first] if count else np.zeros(0, int),
                                      weight, {"attack": "labelflip", "method": "random",
                                               "epsilon": eps})
        else:
            # multi-class: copies of one point may get different labels; keep rows apart
            self.poisons_ = PoisonSet(X[idx], y_flip, np.ones(count),
                                      {"attack": "labelflip", "method": "random", "epsilon": eps})
        return X[idx].copy(), y_flip


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


def _pool(X, y, d=None):
    X = check_X(X, "X", d=d)
    y = np.asarray(y).ravel()
    binary = bool(np.all(np.isin(y, (-1, 1))))
    return X, check_y(y, X.shape[0], binary=binary), binary


def _budget(epsilon, n_train, n_pool_default):
    eps = check_fraction(epsilon, "epsilon")
    n = n_pool_default if n_train is None else int(n_train)
    if n < 1:
        raise InputError(f"n_train: must be positive, got {n_train!r}")
    return eps, int(np.floor(eps * n + 1e-9))


class CompetingLabelFlip:
    """Multi-class label flips by the highest competing score (Lu et al. Appendix A.4).

    ``fit(X, y)`` trains the clean model on ``Dc`` (a Crammer--Singer SVM for labels
    0..k-1, a binary SVM for {-1, +1}) unless ``model`` is given; ``poison(X, y)`` takes
    ``floor(epsilon n)`` points of the attacker's pool and relabels each with its competing
    class under the clean model.  ``select='random'`` draws the points uniformly (without
    replacement while the pool allows); ``select='loss'`` takes those whose flipped
    label has the highest loss under the clean model (the label-flip heuristic of Koh et
    al. section 4.2.1).  ``poisons_``, ``indices_`` are set by :meth:`poison`.
    """

    def __init__(self, epsilon, reg=0.09, model=None, n_train=None, select="random",
                 random_state=None):
        self.epsilon = epsilon
        self.reg = reg
        self.model = model
        self.n_train = n_train
        self.select = select
        self.random_state = random_state

    def fit(self, X, y):
        from ..training import train

        X, y, binary = _pool(X, y)
        self.n_train_ = X.shape[0]
        self.model_ = self.model if self.model is not None else train(
            X, y, model="svm" if binary else "multisvm", reg=self.reg)
        return self

    def poison(self, X, y):
        """``(X_poison, y_poison)``: pool points relabelled with their competing class."""
        if not hasattr(self, "model_"):
            if self.model is None:
                raise InputError("model: call fit(X_train, y_train) or give a clean model")
            self.model_ = self.model
        if self.select not in ("random", "loss"):
            raise InputError(f"select: expected 'random' or 'loss', got {self.select!r}")
        X, y, _ = _pool(X, y)
        n_default = getattr(self, "n_train_", X.shape[0])
        eps, count = _budget(self.epsilon, self.n_train, n_default)
        y_flip = competing_labels(self.model_, X, y)
        rng = np.random.default_rng(self.random_state)
        if self.select == "random":
            idx = rng.choice(X.shape[0], size=count, replace=count > X.shape[0])
        else:
            loss = self.model_.losses(X, y_flip)
            order = np.argsort(-loss, kind="stable")
            idx = np.resize(order, count)            # cycles through the pool if too small
        self.indices_ = idx
        uniq, inv = np.unique(idx, return_inverse=True)
        weight = np.bincount(inv, minlength=uniq.size).astype(float)
        self.poisons_ = PoisonSet(X[uniq], y_flip[uniq], weight,
                                  {"attack": "labelflip", "method": "competing",
                                   "select": self.select, "epsilon": eps})
        return X[idx].copy(), y_flip[idx]


class AlfaLabelFlip:
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
    epsilon : budget fraction of ``n`` (``n`` = ``|Dc|`` from :meth:`fit`, or ``n_train``).
    reg : ``C_R``; model : 'svm' or 'logreg' (binary) -- multi-class data uses 'multisvm'.
    feasible : fitted FeasibleSet the flipped points must lie in.
    copies : most copies of one pool point (1: distinct points, as in Xiao et al.; raised
        when the feasible pool is too small for the budget).
    tol : relative duality gap of the retrainings inside the alternation (screening).
    """

    def __init__(self, epsilon, reg=0.09, model="svm", feasible=None, n_train=None, copies=1,
                 max_iter=10, tol=1e-6, random_state=None, progress=None):
        self.epsilon = epsilon
        self.reg = reg
        self.model = model
        self.feasible = feasible
        self.n_train = n_train
        self.copies = copies
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.progress = progress

    def fit(self, X, y):
        """Learn the clean model ``theta*`` on ``Dc = (X, y)``."""
        from ..training import train

        X, y, binary = _pool(X, y)
        self.binary_ = binary
        self.model_name_ = self.model if binary else "multisvm"
        if binary and self.model_name_ not in ("svm", "logreg"):
            raise InputError(f"model: expected 'svm' or 'logreg' for binary data, got {self.model!r}")
        self.X_, self.y_ = X, y
        self.clean_model_ = train(X, y, model=self.model_name_, reg=self.reg)
        return self

    def poison(self, X, y):
        """``(X_poison, y_poison)`` from the pool ``(X, y)`` (rows repeated by their copies)."""
        from ..training import train

        if not hasattr(self, "clean_model_"):
            raise InputError("AlfaLabelFlip: call fit(X_train, y_train) before poison")
        X, y, binary = _pool(X, y, d=self.X_.shape[1])
        if binary != self.binary_:
            raise InputError("y: the pool's labels are not of the kind the clean data has")
        eps, count = _budget(self.epsilon, self.n_train, self.X_.shape[0])
        if int(self.max_iter) < 1:
            raise InputError(f"max_iter: must be at least 1, got {self.max_iter}")
        clean = self.clean_model_
        y_flip = competing_labels(clean, X, y)
        ok = np.ones(X.shape[0], bool) if self.feasible is None else \
            self.feasible.contains(X, y_flip)
        pool = np.flatnonzero(ok)
        if count > 0 and pool.size == 0:
            raise InputError("feasible: no flipped pool point lies in the feasible set")
        copies = max(int(self.copies), int(np.ceil(count / max(pool.size, 1))))
        if copies < 1:
            raise InputError(f"copies: must be at least 1, got {self.copies}")
        Xs, ys = X[pool], y_flip[pool]
        clean_loss = clean.losses(Xs, ys)
        n = self.X_.shape[0]

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
        best, history, seen = None, [], set()
        for it in range(1, int(self.max_iter) + 1):
            key = q.tobytes()
            if key in seen:
                break
            seen.add(key)
            keep = q > 0
            Xt = np.vstack([self.X_, Xs[keep]])
            yt = np.concatenate([self.y_, ys[keep]])
            s = np.concatenate([np.ones(n), q[keep]])
            model = train(Xt, yt, model=self.model_name_, reg=self.reg, sample_weight=s,
                          tol=self.tol, warm_start=clean)       # clean rows come first
            poisoned_loss = model.losses(Xs, ys)
            gap = clean_loss - poisoned_loss
            value = float(q @ gap)               # L(theta*; Dp) - L(theta^; Dp) for this Dp
            history.append({"iteration": it, "objective": value,
                            "n_distinct": int(keep.sum())})
            if self.progress is not None:
                self.progress(f"alfa round {it}: loss gap {value:.4g}")
            if best is None or value > best[0]:
                best = (value, q.copy())
            q = select(gap)
        value, q = best if best is not None else (0.0, q)
        keep = q > 0
        self.history_ = history
        self.objective_ = value
        self.indices_ = pool[keep]
        self.poisons_ = PoisonSet(Xs[keep], ys[keep], q[keep],
                                  {"attack": "labelflip", "method": "alfa", "epsilon": eps})
        return np.repeat(Xs[keep], q[keep].astype(int), axis=0), np.repeat(ys[keep], q[keep].astype(int))
