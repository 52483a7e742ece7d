"""Target models: the model an adversary wants the defender to learn (Koh et al. 2021
Algorithm 3; Suya et al. 2021 Appendix C.1 and section 5).

Model-targeted poisoning (Suya et al. 2021, Algorithm 1) and the KKT attack (Koh et al.
2021, section 4.2) start from a *target* ``theta_p`` that meets the attacker's goal.  By
Suya et al.'s Theorem 4.1 a target with a lower loss on the clean data ``Dc`` needs fewer
poison points to reach, so among the targets that meet the goal the attacker keeps the one
with the lowest clean loss (Suya et al. Appendix C, "among all the valid candidate models
that satisfy the error rate requirement we choose the one with lowest loss on the clean
training set").

Three recipes, all built on the label-flip heuristic of Koh et al. Algorithm 3:

* :func:`koh_target` -- the original heuristic: flip the labels of the points of the
  attacker's evaluation set that the clean model ``theta_c`` fits worst (margin
  ``y s_c(x)`` at or below the ``q``-quantile, i.e. hinge loss at least Algorithm 3's
  ``gamma``), add ``r`` copies of them to ``Dc``, retrain, sweep ``q`` x ``r``.
* :func:`improved_target` -- Suya et al. Appendix C.1: the same sweep, but the worst-fit
  points are re-found under the model updated so far instead of always under ``theta_c``.
* :func:`subpopulation_targets` -- ClusterMatch (Jagielski et al.; Suya et al. section 5
  "Subpopulations"): k-means clusters intersected with one true label, kept when the clean
  model classifies them correctly; for each, the label-flip heuristic restricted to the
  subpopulation's training points gives a target that misclassifies the subpopulation.

Conventions (REFERENCE-NOTES §1, "Target models"):

* The quantile is pooled over the classes (Suya's and Koh's code) and taken with
  ``method="inverted_cdf"`` on the margins, as :mod:`convexpoison.decoys` does, so the
  many points of zero hinge loss are still ordered.
* Copies are *weights* (``train(..., sample_weight=)``), never duplicated rows.  The
  retraining set is always ``[Dc; pool with flipped labels]`` with weight 0 on the pool
  points not flipped, so every candidate has the same rows and each retraining is
  warm-started from the previous candidate's dual variables.
* "Clean loss" is the defender's regularised training objective on ``Dc``,
  ``(1/N) sum_Dc loss + C_R R(theta)`` with ``R = 1/2(|w|^2 + b^2)``
  (:func:`convexpoison.training.objective`).  Suya's code drops ``b^2`` here while its
  liblinear training regularises ``b``; we use the defender's ``R`` throughout.  The
  paper's Table 4 reports ``N`` times this value (``clean_total_loss``).
* The defender (``defender=``: a :class:`~convexpoison.defender.Defender`, a spelling such
  as ``"svc:C=1"`` or a scikit-learn estimator; default the package's ``model`` with
  ``C_R = reg``, intercept penalised) trains every candidate (``D.train``), so the target
  is a model that defender returns (docs/defender.md: Theorem 4.2 and the minimum-poison
  LP are about such a model).  The clean loss is then that defender's objective on ``Dc``
  alone: its ``R`` and its effective ``C_R`` for the clean weight ``N``
  (``1/(C N)`` under scikit-learn's ``C``).
* The error goal is met when the target's test error is *at least* ``error`` (Suya's code
  uses ``>``); a subpopulation goal when its accuracy on the subpopulation's test points
  is at most ``max_accuracy`` (0 by default: every point misclassified).

Early stopping (``stop_at_goal=True``) is exact for the fixed flip sets of
:func:`koh_target` and :func:`subpopulation_targets`: with the flip set ``F`` fixed, the
retraining objective times its total weight is ``N J_c(theta) + r |F| J_F(theta)`` (``J``
the regularised mean objectives), and for ``r1 < r2`` adding the two optimality
inequalities gives ``J_F(theta_r2) <= J_F(theta_r1)`` and then
``J_c(theta_r1) <= J_c(theta_r2)``: the clean loss never decreases with ``r``.  So once a
repeat count meets the goal, larger ones for the same ``q`` cannot be selected.  Under
scikit-learn's ``C`` the same argument runs on ``C L_c(theta) + R(theta) + r C L_F(theta)``
(``C N`` times the clean loss plus ``r`` times the flipped rows' loss): still exact.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, SolverFailure
from .poisons import _json_default
from .training import LinearModel, objective
from .validation import check_fraction, stack_rows

__all__ = ["Target", "Candidate", "Subpopulation", "koh_target", "improved_target",
           "subpopulation_targets", "find_subpopulations", "label_flip_sweep", "select",
           "flip_set", "QUANTILES", "REPEATS", "SUBPOP_QUANTILES", "SUBPOP_REPEATS"]

#: Default grids.  Suya's MNIST grid is q = 0.05..0.60 x r in {1,2,3,5,8,10,12,15,20,25,30,50,60};
#: this coarser one keeps its range (early stopping skips the expensive large-r end).
QUANTILES = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60)
REPEATS = (1, 2, 3, 5, 8, 12, 20, 30, 45, 60)
#: Suya's subpopulation grid: q in {0.30..0.55, 0.8, 1.0}, r in {1..100}.
SUBPOP_QUANTILES = (0.30, 0.40, 0.50, 0.60, 0.80, 1.0)
SUBPOP_REPEATS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 100)
METHODS = ("koh", "improved", "subpop")
USES = ("test", "train")
BINARY_MODELS = ("svm", "logreg")


# --------------------------------------------------------------------------- results
class ModelFields:
    """``w`` and ``b`` of the wrapped ``model``: the record passes for the model itself
    (targets here, decoys in :mod:`convexpoison.decoys`)."""

    @property
    def w(self):
        return self.model.w

    @property
    def b(self):
        return self.model.b


@dataclass
class Candidate:
    """One retrained model of a label-flip sweep.

    ``flip``: indices (into the flip pool) of the flipped points; ``weight``: copies of
    each (an adaptive candidate can weight them unequally); ``goal_value``: test error
    (indiscriminate) or subpopulation test accuracy; ``meets``: whether the goal is met.
    """

    model: LinearModel
    quantile: float
    repeats: int
    clean_loss: float
    goal_value: float
    meets: bool
    flip: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)
    step: int = 0

    @property
    def n_flipped(self) -> int:
        return int(self.flip.size)

    @property
    def n_poison(self) -> float:
        return float(self.weight.sum())

    def to_dict(self) -> dict:
        return {"quantile": self.quantile, "repeats": self.repeats, "step": self.step,
                "clean_loss": self.clean_loss, "goal_value": self.goal_value,
                "meets": bool(self.meets), "n_flipped": self.n_flipped, "n_poison": self.n_poison}


@dataclass
class Subpopulation:
    """A ClusterMatch subpopulation: a k-means cluster intersected with one true label.

    ``train`` / ``test``: row indices into ``X_train`` / ``X_test``; the accuracies are the
    clean model's on those rows.
    """

    cluster: int
    label: int
    train: np.ndarray
    test: np.ndarray
    clean_train_accuracy: float
    clean_test_accuracy: float

    def __getitem__(self, key):
        """``sp["train"]`` / ``sp["test"]`` or, like a ``(train, test)`` pair, ``sp[0]`` / ``sp[1]``."""
        if key in ("train", 0):
            return self.train
        if key in ("test", 1):
            return self.test
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict:
        return {"cluster": self.cluster, "label": self.label, "n_train": int(self.train.size),
                "n_test": int(self.test.size),
                "clean_train_accuracy": self.clean_train_accuracy,
                "clean_test_accuracy": self.clean_test_accuracy}


@dataclass
class Target(ModelFields):
    """A target model and everything that made it.

    Attributes
    ----------
    model : the target :class:`~convexpoison.training.LinearModel` ``theta_p``.
    kind : 'koh', 'improved', 'subpop' (or 'model' for a plain model file).
    settings : JSON-serialisable dict: dataset, regularisation, grids, the chosen ``q``
        and ``r``, flipped-point counts, clustering parameters...
    clean_loss : regularised training objective of ``model`` on ``Dc``.
    test_error : its 0/1 error on the whole test set.
    subpop : the :class:`Subpopulation` (train/test index arrays) or None.
    subpop_accuracy : accuracy on the subpopulation's test points (None if no subpop).
    clean_test_error : the clean model's test error.
    candidates : every :class:`Candidate` the sweep trained (not saved to files).
    """

    model: LinearModel
    kind: str
    settings: dict = field(default_factory=dict)
    clean_loss: float = float("nan")
    test_error: float = float("nan")
    subpop: Subpopulation | None = None
    subpop_accuracy: float | None = None
    clean_test_error: float = float("nan")
    candidates: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        out = {"kind": self.kind, "clean_loss": self.clean_loss,
               "clean_total_loss": self.settings.get("n_train", float("nan")) * self.clean_loss,
               "target_test_error": self.test_error, "clean_test_error": self.clean_test_error}
        if self.subpop is not None:
            out["subpop_accuracy"] = self.subpop_accuracy
            out["subpop"] = self.subpop.to_dict()
        return out

    # ------------------------------------------------------------------ files
    def save(self, path):
        """One ``.npz``: ``w``, ``b`` (the model file format of docs/training.md, readable by
        :meth:`LinearModel.load`), the model metadata, JSON ``settings`` and the
        subpopulation's index arrays."""
        m = self.model
        sp = self.subpop
        from .fileio import atomic_path, npz_path

        # the defender's spelling, as model files store it (LinearModel.load reads it back)
        extra = {} if m.defender is None else {"defender": m.defender.spec()}
        with atomic_path(npz_path(path)) as tmp:        # never a truncated file
            np.savez(tmp, w=np.asarray(m.w), b=np.asarray(m.b), model=m.model, reg=m.reg,
                     bias_regularized=m.bias_regularized, objective=m.objective_, gap=m.gap_,
                     **extra, kind=self.kind, settings=json.dumps(self.settings, default=_json_default),
                     clean_loss=self.clean_loss, test_error=self.test_error,
                     clean_test_error=self.clean_test_error,
                     subpop_accuracy=np.nan if self.subpop_accuracy is None else self.subpop_accuracy,
                     has_subpop=sp is not None,
                     subpop_train=np.zeros(0, np.int64) if sp is None else np.asarray(sp.train, np.int64),
                     subpop_test=np.zeros(0, np.int64) if sp is None else np.asarray(sp.test, np.int64),
                     subpop_info=json.dumps({} if sp is None else {
                         "cluster": sp.cluster, "label": sp.label,
                         "clean_train_accuracy": sp.clean_train_accuracy,
                         "clean_test_accuracy": sp.clean_test_accuracy}))

    @classmethod
    def load(cls, path) -> "Target":
        """Read a file written by :meth:`save`; a plain model file (``w``, ``b``) gives a
        Target of kind 'model' with empty settings."""
        model = LinearModel.load(path)                     # raises InputError if unreadable
        with np.load(path, allow_pickle=False) as f:
            if "kind" not in f:
                return cls(model, "model")
            try:
                settings = json.loads(str(f["settings"]))
                info = json.loads(str(f["subpop_info"]))
            except ValueError as exc:
                raise InputError(f"target file {path}: bad settings ({exc})") from None
            subpop = None
            if bool(f["has_subpop"]):
                subpop = Subpopulation(int(info["cluster"]), int(info["label"]),
                                       f["subpop_train"].astype(np.int64),
                                       f["subpop_test"].astype(np.int64),
                                       float(info["clean_train_accuracy"]),
                                       float(info["clean_test_accuracy"]))
            acc = float(f["subpop_accuracy"])
            return cls(model, str(f["kind"]), settings, float(f["clean_loss"]),
                       float(f["test_error"]), subpop, None if np.isnan(acc) else acc,
                       float(f["clean_test_error"]))


# --------------------------------------------------------------------------- the sweep
def flip_set(margins, q) -> np.ndarray:
    """Indices of the points whose margin ``y s(x)`` is at or below its ``q``-quantile.

    These are the points with the highest loss under their true label (Koh et al.
    Algorithm 3: ``loss >= gamma``), hence the cheapest to fit once flipped.  The quantile
    is pooled over the classes; ``q = 1`` takes every point.
    """
    margins = np.asarray(margins, float)
    gamma = np.quantile(margins, q, method="inverted_cdf")
    return np.flatnonzero(margins <= gamma)


def check_grid(quantiles, repeats):
    qs = [check_fraction(q, "quantiles") for q in np.atleast_1d(quantiles)]
    if not qs or min(qs) <= 0:
        raise InputError("quantiles: give fractions in (0, 1]")
    qs = sorted(set(qs))
    try:
        reps = [int(r) for r in np.atleast_1d(repeats)]
    except (TypeError, ValueError):
        raise InputError(f"repeats: expected positive integers, got {repeats!r}") from None
    if not reps or min(reps) < 1 or any(r != float(x) for r, x in zip(reps, np.atleast_1d(repeats))):
        raise InputError(f"repeats: expected positive integers, got {repeats!r}")
    return qs, sorted(set(reps))


def label_flip_sweep(X, y, X_pool, y_pool, reg, goal, *, model="svm", quantiles=QUANTILES,
                     repeats=REPEATS, adaptive=False, stop_at_goal=True, clean_model=None,
                     tol=1e-10, progress=None, failures=None, independent=False,
                     defender=None) -> list:
    """Train the label-flip candidates of Koh et al. Algorithm 3 (or Suya's adaptive variant).

    The grid is walked quantile by quantile, repeat counts ascending within each quantile.
    Koh's candidates do not depend on the order, and the quantiles are walked from the
    largest down: large flip sets usually meet the goal at small ``r``, which bounds the
    clean loss worth exploring early (see ``stop_at_goal``).  The adaptive chain walks them
    upward, as the authors' code does.

    Parameters
    ----------
    X, y : the clean training set ``Dc``.
    X_pool, y_pool : the points that may be flipped (true labels).
    goal : callable ``model -> (value, meets)``.
    adaptive : False -- Koh: the flip set of quantile ``q`` is chosen once, under
        ``theta_c``, and given ``r`` copies.  True -- Suya et al. Appendix C.1: before each
        candidate the ``q`` worst-fit pool points are re-found under the model updated so
        far (the candidate trained last, carried across the whole grid as in the authors'
        ``generate_target_theta.py --improved``) and given ``r`` copies.
    stop_at_goal : leave a quantile's repeat grid once a candidate meets the goal or its
        clean loss reaches the best goal-meeting clean loss found so far.  Exact for
        ``adaptive=False`` (the clean loss is nondecreasing in ``r``; module docstring);
        a heuristic cut for the adaptive variant.
    independent : train every candidate on ``Dc`` plus its own flipped rows only, warm-started
        from ``theta_c`` (Koh's decoys, :class:`~convexpoison.decoys.DecoyGenerator`).  The
        optimum is the same either way; the exact-to-tolerance iterate is not (the chained
        warm starts differ in the last 1e-7), and the min-max attack's decoy-constrained LPs
        are degenerate enough for that to pick other optimal poison points -- so the decoys
        keep the path they were measured with.
    defender : what trains every candidate (module docstring; default: ``model`` with
        ``C_R = reg``).  ``reg`` may be None when the defender has its own
        regularisation.
    failures : a list to collect the candidates whose retraining raised
        :class:`~convexpoison.errors.SolverFailure` (dicts with quantile, repeats, solver,
        status); the sweep then leaves that quantile and goes on.  ``None``: re-raise.

    Returns the list of :class:`Candidate` in the order trained.
    """
    from .defender import resolve_defender

    qs, reps = check_grid(quantiles, repeats)
    D = resolve_defender(defender, None, model, reg)
    n, m = len(y), len(y_pool)
    reg_clean = D.reg_for(n)            # the clean loss: the defender's objective on Dc
    y_pool = np.asarray(y_pool)
    Xa = stack_rows(X, X_pool)          # sparse text stays sparse
    ya = np.concatenate([y, -y_pool])
    theta_c = clean_model if clean_model is not None else D.train(X, y, tol=tol)
    # Warm starts only save time (every solve is exact): theta_c's dual variables, padded
    # with zeros for the pool rows, seed the first solve; a quantile's first candidate starts
    # from the previous quantile's first one, later ones from the previous repeat count's
    # (same rows, other weights).
    first = theta_c if theta_c.dual_ is not None else None
    current = theta_c            # the model under which the adaptive variant picks points
    cands = []
    best = np.inf                # lowest clean loss among candidates meeting the goal so far
    for q in (qs if adaptive else qs[::-1]):
        koh_flip = flip_set(y_pool * theta_c.decision_function(X_pool), q)
        warm = first
        for step, r in enumerate(reps):
            flip = flip_set(y_pool * current.decision_function(X_pool), q) if adaptive else koh_flip
            if independent:
                Xt, yt = stack_rows(X, X_pool[flip]), np.concatenate([y, -y_pool[flip]])
                sw = np.concatenate([np.ones(n), np.full(flip.size, float(r))])
                warm = theta_c
            else:
                Xt, yt = Xa, ya
                sw = np.ones(n + m)
                sw[n:] = 0.0
                sw[n + flip] = r
            try:
                trained = D.train(Xt, yt, sample_weight=sw, warm_start=warm, tol=tol)
            except SolverFailure as exc:
                # no exact minimiser, so no attainable target here; heavier copies of the
                # same quantile would be harder still, so leave this quantile
                if failures is None:
                    raise
                failures.append({"quantile": float(q), "repeats": int(r), "solver": exc.solver,
                                 "status": exc.status, "message": str(exc)})
                break
            current = warm = trained
            if step == 0:
                first = current
            value, meets = goal(current)
            cand = Candidate(current, float(q), int(r), objective(current, X, y, reg=reg_clean),
                             float(value), bool(meets), flip, np.full(flip.size, float(r)), step)
            cands.append(cand)
            if progress is not None:
                progress(cand)
            if meets:
                best = min(best, cand.clean_loss)
            if stop_at_goal and (meets or cand.clean_loss >= best):
                break
    return cands


def _check_trained(cands, failed):
    if not cands and failed:
        f = failed[-1]
        raise SolverFailure(f"no label-flip candidate could be trained exactly: {f['message']}",
                            solver=f["solver"], status=f["status"])


def select(candidates):
    """The candidate meeting the goal with the lowest clean loss (first one on ties)."""
    ok = [c for c in candidates if c.meets]
    if not ok:
        return None
    return min(ok, key=lambda c: c.clean_loss)


# --------------------------------------------------------------------------- indiscriminate
def _prepare(data, reg, model, defender=None):
    """The defender the targets are trained under (checked: binary svm or logreg)."""
    from .defender import resolve_defender

    if model not in BINARY_MODELS:
        raise InputError(f"model: target models are for binary svm or logreg, got {model!r}")
    if not data.is_binary:
        raise InputError(f"dataset: {data.name} is not binary; targets need labels in {{-1, +1}}")
    D = resolve_defender(defender, data, model, reg)
    if D.model not in BINARY_MODELS:
        raise InputError(f"defender: target models are for binary svm or logreg, got "
                         f"{D.spec()}")
    return D


def _check_use(use):
    if use not in USES:
        raise InputError(f"use: expected 'test' or 'train', got {use!r}")


def _indiscriminate(kind, data, reg, error, quantiles, repeats, use, model, adaptive,
                    stop_at_goal, clean_model, tol, progress, defender):
    t0 = time.perf_counter()
    D = _prepare(data, reg, model, defender)
    reg, model = D.reg, D.model         # reg: None under scikit-learn's C
    try:
        error = float(error)
    except (TypeError, ValueError):
        raise InputError(f"error: expected a number in (0, 1), got {error!r}") from None
    if not 0 < error < 1:
        raise InputError(f"error: the error goal must lie in (0, 1), got {error!r}")
    _check_use(use)
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    Xp, yp = (Xt, yt) if use == "test" else (X, y)
    theta_c = clean_model or D.train(X, y, tol=tol)

    def goal(mod):
        e = mod.error(Xt, yt)
        return e, e >= error

    failed = []
    cands = label_flip_sweep(X, y, Xp, yp, None, goal, quantiles=quantiles,
                             repeats=repeats, adaptive=adaptive, stop_at_goal=stop_at_goal,
                             clean_model=theta_c, tol=tol, progress=progress, failures=failed,
                             defender=D)
    _check_trained(cands, failed)
    best = select(cands)
    if best is None:
        top = max(c.goal_value for c in cands)
        raise InputError(f"error: no candidate reached test error {error:g} (highest "
                         f"{top:.4g}); widen the quantile/repeat grid or lower the goal")
    settings = {"dataset": getattr(data, "name", None), "method": kind, "model": model,
                "reg": reg, "defender": D.spec(), "error_goal": error, "use": use, "adaptive": adaptive,
                "quantiles": [float(q) for q in np.atleast_1d(quantiles)],
                "repeats": [int(r) for r in np.atleast_1d(repeats)],
                "stop_at_goal": stop_at_goal, "train_tol": tol,
                "quantile": best.quantile, "repeats_chosen": best.repeats, "step": best.step,
                "n_flipped": best.n_flipped, "n_poison": best.n_poison,
                "flip_source": use, "flip_index": best.flip.tolist(),
                "flip_weight": best.weight.tolist(), "n_candidates": len(cands),
                "failed_candidates": failed,
                "n_train": int(len(y)),
                "clean_loss_theta_c": objective(theta_c, X, y, reg=D.reg_for(len(y))),
                "seconds": time.perf_counter() - t0}
    return Target(best.model, kind, settings, best.clean_loss, best.model.error(Xt, yt),
                  clean_test_error=theta_c.error(Xt, yt), candidates=cands)


def koh_target(data, reg=None, error=0.10, quantiles=QUANTILES, repeats=REPEATS, use="test",
               model="svm", *, stop_at_goal=True, clean_model=None, tol=1e-10,
               progress=None, defender=None) -> Target:
    """Koh et al.'s label-flip target (Algorithm 3) with Suya et al.'s selection rule.

    For each ``q`` in ``quantiles`` and ``r`` in ``repeats``: flip the labels of the points
    of the evaluation set (``use='test'``: the test set, as in Suya's code; ``'train'``:
    ``Dc``) whose margin under ``theta_c`` is at or below the ``q``-quantile, add them with
    weight ``r`` to ``Dc``, retrain exactly.  Returns the candidate whose test error is at
    least ``error`` with the lowest clean loss; ``Target.candidates`` lists all trained.
    ``defender``: what trains ``theta_c`` and every candidate (module docstring).
    """
    return _indiscriminate("koh", data, reg, error, quantiles, repeats, use, model, False,
                           stop_at_goal, clean_model, tol, progress, defender)


def improved_target(data, reg=None, error=0.10, quantiles=QUANTILES, repeats=REPEATS,
                    use="test", model="svm", *, stop_at_goal=True, clean_model=None,
                    tol=1e-10, progress=None, defender=None) -> Target:
    """Suya et al.'s improved target generation (Appendix C.1).

    As :func:`koh_target`, but the high-loss points are re-found under the model updated so
    far: each candidate flips the ``q`` worst-fit evaluation points of the candidate trained
    just before it (the whole grid is one chain starting at ``theta_c``, as in the authors'
    code), so the flipped points follow the moving decision boundary and the target reaches
    the error goal closer to ``theta_c`` (Table 4).  Same selection rule and ``defender``.
    """
    return _indiscriminate("improved", data, reg, error, quantiles, repeats, use, model, True,
                           stop_at_goal, clean_model, tol, progress, defender)


# --------------------------------------------------------------------------- subpopulations
def find_subpopulations(data, clean_model, k=20, random_state=0, label=-1, n_targets=3,
                        min_test=10, n_init=10) -> list:
    """ClusterMatch (Jagielski et al.; Suya et al. section 5, REFERENCE-NOTES "ClusterMatch").

    ``KMeans(k, random_state, n_init)`` on ``X_train``; test points are assigned to
    clusters by ``predict``.  A subpopulation is a cluster intersected with the true label
    ``label`` (Adult: -1 = "<=50K"; ``None``: the cluster's majority training label, which
    must also be its majority test label).  Subpopulations with fewer than ``min_test``
    test points are dropped; the rest are ranked by the clean model's accuracy on their
    test points, then on their training points, then by size, and the first ``n_targets``
    returned (the paper's three all have 100% clean test accuracy).
    """
    from sklearn.cluster import KMeans

    k = int(k)
    if k < 1 or k > data.n_train:
        raise InputError(f"k: the number of clusters must be in 1..{data.n_train}, got {k}")
    if label is not None and label not in (-1, 1):
        raise InputError(f"label: expected -1, +1 or None (majority), got {label!r}")
    km = KMeans(n_clusters=k, random_state=random_state, n_init=n_init).fit(data.X_train)
    trn, tst = km.labels_, km.predict(data.X_test)
    pred_tr = clean_model.predict(data.X_train)
    pred_te = clean_model.predict(data.X_test)
    subs = []
    for c in range(k):
        lab = label
        if lab is None:
            ytr, yte = data.y_train[trn == c], data.y_test[tst == c]
            if ytr.size == 0 or yte.size == 0:
                continue
            lab = 1 if np.sum(ytr == 1) > ytr.size / 2 else -1
            if (np.sum(yte == 1) > yte.size / 2) != (lab == 1):
                continue                          # train and test majorities disagree
        tr = np.flatnonzero((trn == c) & (data.y_train == lab))
        te = np.flatnonzero((tst == c) & (data.y_test == lab))
        if tr.size == 0 or te.size < min_test:
            continue
        subs.append(Subpopulation(int(c), int(lab), tr, te, float(np.mean(pred_tr[tr] == lab)),
                                  float(np.mean(pred_te[te] == lab))))
    subs.sort(key=lambda s: (-s.clean_test_accuracy, -s.clean_train_accuracy, -s.test.size, s.cluster))
    return subs if n_targets is None else subs[:int(n_targets)]


def subpopulation_targets(data, reg=None, k=20, n_targets=3, random_state=0, label=-1,
                          quantiles=SUBPOP_QUANTILES, repeats=SUBPOP_REPEATS, use="train",
                          model="svm", *, max_accuracy=0.0, min_test=10, n_init=10,
                          cluster=None, adaptive=False, stop_at_goal=True, clean_model=None,
                          tol=1e-10, progress=None, defender=None) -> list:
    """One target per ClusterMatch subpopulation: it misclassifies the subpopulation.

    For each subpopulation of :func:`find_subpopulations` (or only cluster ``cluster``),
    the label-flip sweep of :func:`label_flip_sweep` restricted to the subpopulation's
    training points (``use='train'``; ``'test'``: its test points, as Suya's code does)
    trains candidates; the goal is an accuracy of at most ``max_accuracy`` on the
    subpopulation's test points, and the candidate meeting it with the lowest clean loss
    is kept.  When no candidate meets it, the one with the lowest subpopulation accuracy
    (then clean loss) is returned with ``settings['goal_met'] = False``.

    ``defender``: what trains ``theta_c`` and every candidate (module docstring).

    Returns a list of :class:`Target` (kind 'subpop'), in the ranking order.
    """
    t0 = time.perf_counter()
    D = _prepare(data, reg, model, defender)
    reg, model = D.reg, D.model
    _check_use(use)
    max_accuracy = check_fraction(max_accuracy, "max_accuracy")
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    theta_c = clean_model or D.train(X, y, tol=tol)
    subs = find_subpopulations(data, theta_c, k=k, random_state=random_state, label=label,
                               n_targets=None if cluster is not None else n_targets,
                               min_test=min_test, n_init=n_init)
    if cluster is not None:
        subs = [s for s in subs if s.cluster == int(cluster)]
        if not subs:
            raise InputError(f"cluster: cluster {cluster} of k={k} has no subpopulation with "
                             f"label {label} and at least {min_test} test points")
    if not subs:
        raise InputError(f"k: no cluster of k={k} has at least {min_test} test points of label {label}")
    targets = []
    for sp in subs:
        t1 = time.perf_counter()
        pool = sp.train if use == "train" else sp.test
        Xp, yp = (X, y) if use == "train" else (Xt, yt)
        Xs, ys = Xt[sp.test], yt[sp.test]

        def goal(mod, Xs=Xs, ys=ys):
            acc = 1.0 - mod.error(Xs, ys)
            return acc, acc <= max_accuracy

        failed = []
        cands = label_flip_sweep(X, y, Xp[pool], yp[pool], None, goal,
                                 quantiles=quantiles, repeats=repeats, adaptive=adaptive,
                                 stop_at_goal=stop_at_goal, clean_model=theta_c, tol=tol,
                                 progress=progress, failures=failed, defender=D)
        _check_trained(cands, failed)
        best = select(cands)
        met = best is not None
        if not met:
            best = min(cands, key=lambda c: (c.goal_value, c.clean_loss))
        settings = {"dataset": getattr(data, "name", None), "method": "subpop", "model": model,
                    "reg": reg, "defender": D.spec(), "k": int(k), "random_state": random_state, "n_init": n_init,
                    "label": sp.label, "cluster": sp.cluster, "min_test": min_test,
                    "max_accuracy": max_accuracy, "goal_met": met, "use": use,
                    "adaptive": adaptive, "stop_at_goal": stop_at_goal, "train_tol": tol,
                    "quantiles": [float(q) for q in np.atleast_1d(quantiles)],
                    "repeats": [int(r) for r in np.atleast_1d(repeats)],
                    "quantile": best.quantile, "repeats_chosen": best.repeats,
                    "n_flipped": best.n_flipped, "n_poison": best.n_poison,
                    "flip_source": use,
                    "flip_index": pool[best.flip].tolist(), "flip_weight": best.weight.tolist(),
                    "n_candidates": len(cands), "failed_candidates": failed,
                    "n_train": int(len(y)),
                    "clean_loss_theta_c": objective(theta_c, X, y, reg=D.reg_for(len(y))),
                    "subpop": sp.to_dict(), "seconds": time.perf_counter() - t1,
                    "seconds_total": time.perf_counter() - t0}
        targets.append(Target(best.model, "subpop", settings, best.clean_loss,
                              best.model.error(Xt, yt), sp, float(best.goal_value),
                              theta_c.error(Xt, yt), cands))
    return targets
