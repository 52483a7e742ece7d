"""Data-sanitisation defenses and the evaluation of a poison set against them.

Koh et al. (2021), section 2.2 (docs/defenses.md): a defender

1. fits anomaly-detector parameters ``beta = B(D)`` on the data it received,
   ``D = Dc ∪ Dp``;
2. scores every point with ``s_beta(x, y)`` and, per class ``y``, discards the fraction
   ``p`` (5% by default) of the class with the highest scores;
3. trains its model on what is left, exactly, under the defender's objective
   (:meth:`convexpoison.defender.Defender.train`; e.g. scikit-learn's
   ``SVC(kernel="linear", C=1)`` with ``defender="svc:C=1"``).  Under scikit-learn's
   ``C`` on the sum of losses the effective ``C_R = 1/(C W)`` follows the weight ``W``
   actually trained on: a defence that removes points raises it.

Five defenses (``name``: score):

* ``l2``   -- distance to the class centroid ``||x - mu_y||``;
* ``slab`` -- ``|(mu_+ - mu_-) . (x - mu_y)|``;
* ``loss`` -- the loss under the model trained on all of ``D`` without sanitisation;
* ``svd``  -- ``||(I - V_k V_k^T) x||``, ``V_k`` the top-``k`` right singular vectors of the
  data matrix (smallest ``k`` with normalised squared Frobenius error < 0.05);
* ``knn``  -- distance to the ``k``-th nearest neighbour (``k = 5``) among the points of the
  same class.

The first four scores are those of the feasible-set components of
:mod:`convexpoison.feasible` (``L2Sphere``, ``Slab``, ``SVDResidual``, and the model's own
losses); only the k-NN score lives here.  Weights are copies: a poison row of weight 30
counts as 30 identical points in the centroids, the singular vectors and the neighbour
counts.

Removal counts points, as a defender sorting its (expanded) data by score does (Koh et
al.'s ``remove_quantile``): from each class ``y`` of total weight ``W_y`` exactly
``floor(p W_y)`` points are removed, highest scores first.  When the cut falls inside a
row of several copies, only part of its copies are removed (its weight is reduced): a
concentrated attack does not escape by piling more copies at one spot than the defender
removes.  Among rows with equal scores the later rows (the poison, which comes after the
clean data) go first.  This differs from the feasible sets' quantile-threshold rule
(:func:`convexpoison.feasible.quantile_thresholds`, ``score <= threshold`` kept) only when
scores tie at the cut.

An attack is judged by the test error the defender ends up with under each defense; its
guaranteed damage is the *minimum over the defenses* (section 5.2): the attacker does not
know which defense will be deployed.  :func:`evaluate` returns that table.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .feasible import L2Sphere, Slab, SVDResidual
from .poisons import PoisonSet
from .validation import check_fraction, check_weights, check_X, is_sparse

__all__ = [
    "DEFENSES", "Defense", "L2Defense", "SlabDefense", "LossDefense", "SVDDefense",
    "KNNDefense", "CleanNeighbours", "make_defense", "parse_defenses", "knn_scores",
    "Evaluation", "evaluate",
]

#: The defenses of Koh et al. section 2.2, in the order tables show them.
DEFENSES = ("l2", "slab", "loss", "svd", "knn")


def parse_defenses(names, flag="defense") -> list:
    """A list of defense names from a list or a comma-separated string (duplicates dropped);
    ``flag`` names the setting in the error."""
    if names is None:
        return list(DEFENSES)
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out = []
    for n in names:
        n = str(n).strip().lower()
        if not n:
            continue
        if n not in DEFENSES:
            raise InputError(f"{flag}: unknown defense {n!r}; choose from {','.join(DEFENSES)}")
        if n not in out:
            out.append(n)
    return out


# ------------------------------------------------------------------------- k-NN score
def knn_scores(X, y, k=5, sample_weight=None) -> np.ndarray:
    """Distance of every row to its ``k``-th nearest neighbour among the rows of its class.

    Weights are copies: a row of weight ``w_i`` has ``w_i - 1`` other copies of itself at
    distance 0, and another row of weight ``w_j`` counts ``w_j`` times.  The ``k``-th
    neighbour is the smallest distance at which the neighbours' cumulative weight reaches
    ``k``; a class holding fewer than ``k`` other points gets its farthest distance.
    Vectorised: one neighbour query per class (scikit-learn's ``NearestNeighbors``);
    rows whose first ``k + 1`` neighbours carry too little weight are re-queried with more.
    """
    from sklearn.neighbors import NearestNeighbors

    X = check_X(X, accept_sparse=True)     # sparse rows: scikit-learn's sparse distances
    n = X.shape[0]
    y = np.asarray(y).ravel()
    if y.shape[0] != n:
        raise InputError(f"y: expected {n} labels (one per row of X), got {y.shape[0]}")
    k = int(k)
    if k < 1:
        raise InputError(f"k: the k-NN defense needs k >= 1, got {k}")
    w = check_weights(sample_weight, n)
    out = np.empty(n)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        Z, v = X[rows], w[rows]
        m = rows.size
        self_w = np.maximum(v - 1.0, 0.0)          # the row's other copies, at distance 0
        nn = NearestNeighbors().fit(Z)
        todo = np.arange(m)
        kq = min(m, k + 1)
        while todo.size:
            dist, ind = nn.kneighbors(Z[todo], n_neighbors=kq)
            wn = v[ind]
            wn[ind == todo[:, None]] = 0.0         # the row itself is counted by self_w
            dist = np.hstack([np.zeros((todo.size, 1)), dist])
            cum = np.cumsum(np.hstack([self_w[todo, None], wn]), axis=1)
            reached = cum >= k * (1.0 - 1e-12)
            ok = reached.any(axis=1)
            first = np.argmax(reached, axis=1)
            score = np.where(ok, dist[np.arange(todo.size), first], dist[:, -1])
            done = ok | (kq >= m)
            out[rows[todo[done]]] = score[done]
            todo = todo[~done]
            kq = min(m, 2 * kq)
    return out


def _kth(dist, weight, k):
    """Row-wise smallest distance at which the cumulative weight reaches ``k`` (or the
    largest distance when it never does)."""
    order = np.argsort(dist, axis=1, kind="stable")
    d = np.take_along_axis(dist, order, axis=1)
    cum = np.cumsum(np.take_along_axis(weight, order, axis=1), axis=1)
    reached = cum >= k * (1.0 - 1e-12)
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), d[np.arange(d.shape[0]), first], d[:, -1])


class CleanNeighbours:
    """The ``k`` nearest clean neighbours of every clean point, computed once.

    An attack sweep evaluates many poison sets on the same ``Dc``; the ``k``-th-neighbour
    distance in ``Dc ∪ Dp`` of a clean point only needs its ``k`` nearest *clean*
    neighbours (unit weights) merged with its distances to the few poison rows, and that
    of a poison row its ``k`` nearest clean points merged with the other poison rows and
    its own copies.  :meth:`scores` gives exactly :func:`knn_scores` on ``Dc ∪ Dp`` (clean
    rows first) at the cost of the poison rows only.
    """

    def __init__(self, X, y, k=5):
        from sklearn.neighbors import NearestNeighbors

        self.X = check_X(X, accept_sparse=True)
        self.y = np.asarray(y).ravel()
        self.k = int(k)
        self.classes = {}
        for label in np.unique(self.y):
            rows = np.flatnonzero(self.y == label)
            Z = self.X[rows]
            if rows.size <= self.k:
                self.classes = None               # too small: fall back to knn_scores
                return
            nn = NearestNeighbors().fit(Z)
            dist, ind = nn.kneighbors(Z, n_neighbors=self.k + 1)
            # drop the point itself (or, among exact duplicates, one zero distance)
            is_self = ind == np.arange(rows.size)[:, None]
            drop = np.where(is_self.any(axis=1), np.argmax(is_self, axis=1), self.k)
            keep = np.ones_like(dist, bool)
            keep[np.arange(rows.size), drop] = False
            self.classes[int(label)] = (rows, dist[keep].reshape(rows.size, self.k))

    def matches(self, X, y) -> bool:
        from .training import _same_rows

        return (self.classes is not None and X.shape == self.X.shape
                and (X is self.X or _same_rows(X, self.X)) and np.array_equal(y, self.y))

    def scores(self, Xp, yp, wp) -> np.ndarray:
        """``knn_scores`` of ``Dc ∪ Dp`` (rows: clean first, then the poison rows)."""
        k = self.k
        if is_sparse(Xp):
            Xp = Xp.toarray()         # the few poison rows (sparse after a vstack with Dc)
        Xp = np.asarray(Xp, float).reshape(-1, self.X.shape[1])
        yp, wp = np.asarray(yp).ravel(), np.asarray(wp, float).ravel()
        n = self.X.shape[0]
        out = np.empty(n + Xp.shape[0])
        for label, (rows, dist) in self.classes.items():
            P = np.flatnonzero(yp == label)
            Zp, vp = Xp[P], wp[P]
            if not P.size:
                Dcp = np.zeros((rows.size, 0))
            elif is_sparse(self.X):     # sparse clean rows, dense poison rows
                from sklearn.metrics.pairwise import euclidean_distances

                Dcp = euclidean_distances(self.X[rows], Zp)
            else:
                Dcp = np.linalg.norm(self.X[rows][:, None, :] - Zp[None, :, :], axis=2)
            out[rows] = _kth(np.hstack([dist, Dcp]),
                             np.hstack([np.ones_like(dist), np.broadcast_to(vp, Dcp.shape)]), k)
            if P.size:
                # k nearest clean points of each poison row (few rows: plain numpy is
                # faster than another neighbour query)
                dc = np.partition(Dcp.T, k - 1, axis=1)[:, :k]
                Dpp = np.linalg.norm(Zp[:, None, :] - Zp[None, :, :], axis=2)
                Wpp = np.broadcast_to(vp, Dpp.shape).copy()
                np.fill_diagonal(Wpp, np.maximum(vp - 1.0, 0.0))
                np.fill_diagonal(Dpp, 0.0)
                out[n + P] = _kth(np.hstack([dc, Dpp]), np.hstack([np.ones_like(dc), Wpp]), k)
        missing = set(np.unique(yp).tolist()) - set(self.classes)
        if missing:
            raise InputError(f"y: poison labels {sorted(missing)} have no clean points")
        return out


# --------------------------------------------------------------------------- defenses
class Defense:
    """A data-sanitisation defense (scikit-learn style).

    ``fit(X, y, sample_weight)`` fits the detector on the given data (``Dc ∪ Dp``), scores
    the same rows and removes ``floor(p W_y)`` points of every class ``y``, highest scores
    first (see the module docstring).  Sets ``scores_``, ``kept_weight_`` (copies of each
    row the defender keeps), ``keep_`` (rows with any copy kept), ``removed_weight_`` and
    ``thresholds_`` (label -> score at the cut: rows scoring above it are removed
    entirely).  Subclasses implement ``_scores``.
    """

    name = "defense"

    def __init__(self, p=0.05):
        self.p = p

    def _fraction(self) -> float:
        p = check_fraction(self.p, "p")
        if p >= 1:
            raise InputError("p: the fraction removed per class must be below 1")
        return p

    def _quantile(self) -> float:
        return 1.0 - self._fraction()

    def _scores(self, X, y, w) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        p = self._fraction()
        X = check_X(X, accept_sparse=True)
        y = np.asarray(y).ravel()
        w = check_weights(sample_weight, X.shape[0])
        s = self.scores_ = np.asarray(self._scores(X, y, w), dtype=float)
        kept = w.copy()
        self.thresholds_ = {}
        for label in np.unique(y):
            rows = np.flatnonzero(y == label)
            budget = np.floor(p * w[rows].sum() + 1e-9)
            # highest score first; among equal scores the later row first
            order = rows[np.argsort(s[rows], kind="stable")[::-1]]
            before = np.cumsum(w[order]) - w[order]          # weight removed ahead of each row
            take = np.clip(budget - before, 0.0, w[order])
            kept[order] = w[order] - take
            cut = np.flatnonzero(take > 0)
            self.thresholds_[int(label)] = float(s[order[cut[-1]]]) if cut.size else np.inf
        self.kept_weight_ = kept
        self.removed_weight_ = w - kept
        self.keep_ = kept > 0
        return self

    def sanitize(self, X, y, sample_weight=None) -> np.ndarray:
        """The copies of each row the defender keeps (``kept_weight_`` of ``fit``)."""
        return self.fit(X, y, sample_weight).kept_weight_

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p!r})"


class _ComponentDefense(Defense):
    """A defense whose score is that of a feasible-set component fitted on ``D``: the
    defense removes what the component's set would exclude (one score, two uses)."""

    def _component(self):
        raise NotImplementedError

    def _scores(self, X, y, w):
        comp = self._component()
        comp.fit(X, y, sample_weight=w)
        self._fitted(comp)
        return comp.score(X, y)

    def _fitted(self, comp):
        """Hook to keep fitted state of the component (the SVD rank)."""


class L2Defense(_ComponentDefense):
    """Distance to the class centroid (the score of :class:`~convexpoison.feasible.L2Sphere`)."""

    name = "l2"

    def _component(self):
        return L2Sphere(self._quantile())


class SlabDefense(_ComponentDefense):
    """Projection on the centroid difference (:class:`~convexpoison.feasible.Slab`)."""

    name = "slab"

    def _component(self):
        return Slab(self._quantile())


class SVDDefense(_ComponentDefense):
    """Residual out of the top singular subspace (:class:`~convexpoison.feasible.SVDResidual`)."""

    name = "svd"

    def __init__(self, p=0.05, rel_error=0.05):
        super().__init__(p)
        self.rel_error = rel_error

    def _component(self):
        return SVDResidual(self._quantile(), rel_error=self.rel_error)

    def _fitted(self, comp):
        self.rank_ = comp.rank_


class LossDefense(Defense):
    """Loss under the model trained on all of ``D`` (no sanitisation).

    ``base_model``: that model when the caller already has it (the evaluation trains it
    anyway as the "no defense" model); otherwise ``fit`` trains it under ``defender``
    (a :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
    scikit-learn estimator), by default the package's ``model`` with ``C_R = reg``
    (required then).  The only defense that trains a model: the others' scores do not
    depend on the defender.
    """

    name = "loss"

    def __init__(self, p=0.05, model="svm", reg=None, base_model=None, defender=None):
        super().__init__(p)
        self.model = model
        self.reg = reg
        self.base_model = base_model
        self.defender = defender

    def _scores(self, X, y, w):
        base = self.base_model
        if base is None:
            from .defender import resolve_defender

            if self.reg is None and self.defender is None:
                raise InputError("reg: the loss defense trains its model: give reg (C_R), "
                                 "defender or base_model")
            D = resolve_defender(self.defender, None, self.model, self.reg)
            base = D.train(X, y, sample_weight=w)
        self.base_model_ = base
        return base.losses(X, y)


class KNNDefense(Defense):
    """Distance to the ``k``-th nearest neighbour within the class (:func:`knn_scores`).

    ``clean``: a :class:`CleanNeighbours` of the first rows of the data, with unit
    weights (``Dc`` when evaluating ``Dc ∪ Dp``); the scores are then computed from it
    (same values, much faster when evaluating many poison sets).
    """

    name = "knn"

    def __init__(self, p=0.05, k=5, clean=None):
        super().__init__(p)
        self.k = k
        self.clean = clean

    def _scores(self, X, y, w):
        c = self.clean
        if c is not None and c.k == int(self.k):
            n = c.X.shape[0]
            if (X.shape[0] >= n and np.all(w[:n] == 1)
                    and c.matches(X[:n], np.asarray(y)[:n])):
                return c.scores(X[n:], np.asarray(y)[n:], w[n:])
        return knn_scores(X, y, k=self.k, sample_weight=w)


_CLASSES = {"l2": L2Defense, "slab": SlabDefense, "loss": LossDefense, "svd": SVDDefense,
            "knn": KNNDefense}


def make_defense(name, p=0.05, defender=None, **kw) -> Defense:
    """A defense by name; ``kw`` go to its constructor (``k``, ``rel_error``, ``reg``, ...).

    ``defender`` goes to the one defense that trains a model (``loss``); the scores of
    the others do not depend on it."""
    (name,) = parse_defenses([name])
    if defender is not None and name == "loss":
        kw["defender"] = defender
    return _CLASSES[name](p=p, **kw)


# ------------------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    """The defender's outcome under each defense (Koh et al. section 5.2).

    Errors are 0/1 test errors.  ``removed[name]`` holds the weighted counts of poison and
    clean points the defense discarded.  ``models`` holds the trained models ('none' is
    the model trained on all of ``Dc ∪ Dp``).  ``eval_*`` are the same errors on the
    attacker's evaluation set when one was given (used to pick among attack candidates
    without looking at the test set).
    """

    clean_test_error: float
    no_defense_test_error: float
    per_defense: dict
    removed: dict
    n_poisons: float
    p: float
    models: dict = field(default_factory=dict, repr=False)
    eval_no_defense: float | None = None
    eval_per_defense: dict | None = None
    n_outside_domain: float | None = None
    seconds: float = 0.0
    #: the defender's requested relative duality gap (its ``gap``; None: exact training)
    requested_gap: float | None = None

    @property
    def no_defense(self) -> float:
        """Test error of the model trained on all of ``Dc ∪ Dp`` (no sanitisation)."""
        return self.no_defense_test_error

    @property
    def min_over_defenses(self):
        """The attack's guaranteed damage: the lowest test error over the defenses."""
        return min(self.per_defense.values()) if self.per_defense else None

    @property
    def best_defense(self):
        """The defense that achieves :attr:`min_over_defenses`."""
        if not self.per_defense:
            return None
        return min(self.per_defense, key=self.per_defense.get)

    @property
    def eval_min_over_defenses(self):
        if self.eval_per_defense is None:
            return None
        return min(self.eval_per_defense.values()) if self.eval_per_defense else self.eval_no_defense

    @property
    def poisoned_test_error(self):
        """Min over defenses when any defense is evaluated, else the undefended error."""
        m = self.min_over_defenses
        return self.no_defense_test_error if m is None else m

    def reached_gaps(self) -> dict:
        """The relative duality gap (``gap_ / objective_``, proven) each model was trained
        to: 'clean', 'none' and every defense's (NaN for AdaGrad's models)."""
        return {k: float(m.gap_ / m.objective_) if m.objective_ else float(m.gap_)
                for k, m in self.models.items()}

    def to_dict(self) -> dict:
        out = {"clean_test_error": self.clean_test_error,
               "poisoned_test_error": self.poisoned_test_error,
               "no_defense_test_error": self.no_defense_test_error,
               "no_defense": self.no_defense_test_error,
               "per_defense": dict(self.per_defense),
               "min_over_defenses": self.min_over_defenses,
               "best_defense": self.best_defense,
               "removed": {k: dict(v) for k, v in self.removed.items()},
               "n_poisons": self.n_poisons, "p": self.p}
        if self.n_outside_domain is not None:
            out["n_poisons_outside_domain"] = self.n_outside_domain
        if self.requested_gap is not None:
            out["requested_gap"] = self.requested_gap
            out["reached_gap"] = self.reached_gaps()
        if self.eval_per_defense is not None:
            out["eval_per_defense"] = dict(self.eval_per_defense)
            out["eval_no_defense"] = self.eval_no_defense
        return out


def _restrict(model, keep):
    """``model`` as a warm start for training on the rows ``keep`` of its training data:
    its dual variables restricted to those rows (training rescales them to the new
    total weight).  The answer does not depend on the warm start -- training stops on a
    proven duality gap -- only the time does."""
    import copy

    ws = copy.copy(model)
    dual = getattr(model, "dual_", None)
    if dual is not None:
        alpha, W = dual
        ws.dual_ = (alpha[keep], W) if len(alpha) == len(keep) else None
    return ws


def _split(data):
    def rows(X):            # sparse text stays sparse (never densified)
        return check_X(X, accept_sparse=True) if is_sparse(X) else np.asarray(X, float)

    try:
        return (rows(data.X_train), np.asarray(data.y_train),
                rows(data.X_test), np.asarray(data.y_test))
    except AttributeError:
        raise InputError("data: expected a dataset with X_train, y_train, X_test, y_test") from None


def evaluate(data, poisons: PoisonSet | None, defenses=DEFENSES, p=0.05, reg=None,
             model="svm", X_eval=None, y_eval=None, clean_model=None, k=5, rel_error=0.05,
             tol=1e-10, clean_neighbours=None, defender=None, warm_start=None) -> Evaluation:
    """Train on ``Dc ∪ Dp`` under every defense and report the test errors.

    Parameters
    ----------
    data : a dataset (``X_train``, ``y_train`` = ``Dc``; ``X_test``, ``y_test``).
    poisons : a :class:`~convexpoison.poisons.PoisonSet` (``None``: no poison).
    defenses : names among ``l2, slab, loss, svd, knn`` (list or comma-separated).
    p : fraction of each class every defense removes.
    reg : ``C_R`` (default ``data.reg``); model : 'svm', 'logreg' or 'multisvm'.
    defender : what the defender trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"``, or a
        scikit-learn estimator such as ``SVC(kernel="linear", C=1)``.  Default: the
        package's ``model`` with ``C_R = reg`` (intercept penalised).  Every model here
        (clean, undefended, after each defense) is ``D.train`` on the rows and copies it
        is trained on -- under scikit-learn's ``C`` the effective ``C_R`` is that of
        their total weight, so a defence that removes points raises it.  A defender
        with its own regularisation and a ``reg`` is an :class:`InputError`.
    X_eval, y_eval : an extra set on which the same models' errors are reported (the
        attacker's evaluation set, e.g. ``Dc`` when the test set is unknown).
    clean_model : the model trained on ``Dc`` (trained here when not given; one trained
        by another defender is an :class:`InputError`).
    clean_neighbours : a :class:`CleanNeighbours` of ``Dc`` (speeds up the k-NN defense
        when many poison sets are evaluated on the same data).
    tol : relative duality-gap tolerance of every training (:func:`~convexpoison.training.train`);
        the default is exact, a looser one serves to screen many candidates quickly.  A
        defender with a ``gap`` (``"multisvm:gap=1e-3"``) trains every model to the looser
        of the two, and the result reports ``requested_gap`` and the ``reached_gap`` of
        each model (:meth:`Evaluation.reached_gaps`).
    warm_start : a model trained on ``Dc`` and a poison of as many rows (e.g. the
        undefended model of a neighbouring poison: the reachable attack's relocation)
        whose dual variables seed the undefended training instead of ``clean_model``'s.
        The models do not depend on it -- training stops on a proven duality gap -- only
        the time: on adult a poison of 315 copies at two points took 24 s from the clean
        model (the coordinate descent stalls), and a poison one move away 0.03 s from the
        first one's model.
    """
    from .defender import resolve_defender

    t0 = time.perf_counter()
    Xc, yc, Xt, yt = _split(data)
    D = resolve_defender(defender, data, model, reg)
    names = parse_defenses(defenses)
    poisons = PoisonSet.empty(Xc.shape[1]) if poisons is None else poisons
    if not isinstance(poisons, PoisonSet):
        raise InputError("poisons: expected a PoisonSet")
    poisons = poisons.check_dimension(Xc.shape[1]).compact()
    X, y, w, is_poison = poisons.with_clean(Xc, yc)

    if clean_model is None:
        clean_model = D.train(Xc, yc, tol=tol)
    elif getattr(clean_model, "defender", None) not in (None, D):
        raise InputError(f"clean_model: trained by the defender {clean_model.defender.spec()}, "
                         f"not {D.spec()}; train it with the same defender (or leave it out)")
    base = (clean_model if len(poisons) == 0 or poisons.n_poisons == 0
            else D.train(X, y, sample_weight=w, tol=tol,      # clean rows come first
                         warm_start=clean_model if warm_start is None else warm_start))
    models = {"none": base}
    removed, per = {}, {}
    for name in names:
        kw = ({"k": k, "clean": clean_neighbours} if name == "knn"
              else {"rel_error": rel_error} if name == "svd" else {})
        if name == "loss":
            kw = {"defender": D, "base_model": base}
        kept = make_defense(name, p=p, **kw).sanitize(X, y, w)
        gone = w - kept
        removed[name] = {"poison": float(gone[is_poison].sum()),
                         "clean": float(gone[~is_poison].sum())}
        keep = kept > 0
        m = D.train(X[keep], y[keep], sample_weight=kept[keep], tol=tol,
                    warm_start=_restrict(base, keep))
        models[name] = m
        per[name] = m.error(Xt, yt)

    ev = Evaluation(clean_test_error=clean_model.error(Xt, yt),
                    no_defense_test_error=base.error(Xt, yt), per_defense=per,
                    removed=removed, n_poisons=poisons.n_poisons, p=float(p), models=models,
                    requested_gap=D.gap)
    ev.models["clean"] = clean_model
    if X_eval is not None:
        ev.eval_no_defense = base.error(X_eval, y_eval)
        ev.eval_per_defense = {nm: models[nm].error(X_eval, y_eval) for nm in names}
    domain = getattr(data, "domain", None)
    if domain is not None and len(poisons):
        ev.n_outside_domain = float(poisons.weight[~domain.contains(poisons.X, tol=1e-6)].sum())
    ev.seconds = time.perf_counter() - t0
    return ev
