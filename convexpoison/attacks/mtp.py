"""Model-targeted poisoning, MTP (Suya et al. 2021, Algorithm 1).

Loop::

    theta_t = train(Dc u Dp)                                  (warm-started, exact)
    (x*, y*) = argmax_{(x,y) in F} l(theta_t; x, y) - l(theta_p; x, y)   (docs/maxloss.md)
    Dp = Dp + copies * {(x*, y*)}

until ``D(theta_t, theta_p) <= eps_close``, the budget is spent, or an accuracy goal is
met.  The same max-loss solve bounds the supremum in Theorem 4.2, so every iteration
also yields a certified lower bound ``c(theta_t)`` on the number of poisons any attack
needs (Suya et al. section 4.3); the best one is reported.

Each iteration is appended to ``run_dir/history.jsonl`` and the full state (poison
points, copies, the dual variables of the last training) is rewritten atomically to
``run_dir/state.npz``, so an interrupted run resumes exactly where it stopped: the
resumed run produces the same poison set as an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..certificates.theorem42 import certify_at
from ..errors import InputError
from ..poisons import PoisonSet
from ..fileio import dumps, floats_from_json, write_text
from ..progress import bar as progress_bar
from ..training import LinearModel
from ..validation import check_positive, check_X, check_y, stack_rows
from .base import PoisoningAttack

STATE_VERSION = 1


@dataclass
class MTPRecord:
    """One iteration of Algorithm 1 (Suya et al. 2021)."""

    iteration: int
    n_poisons: float                # copies added so far (before this iteration's point)
    max_loss_difference: float      # D(theta_t, theta_p), attained by the point found
    max_loss_upper_bound: float     # proven upper bound on D(theta_t, theta_p)
    distance_to_target: float       # |theta_t - theta_p|_2
    test_accuracy: float
    subpop_accuracy: float
    lower_bound: float              # ceil of Theorem 4.2 at theta_t (0: nothing certified)
    bound_value: float              # c(theta_t)
    seconds: float


@dataclass
class MTPResult:
    """What :class:`ModelTargetedPoisoning` found: the poison set, the model trained on
    ``Dc ∪ Dp``, one :class:`MTPRecord` per iteration and why the loop stopped."""

    poisons: PoisonSet
    model: LinearModel
    history: list = field(default_factory=list)
    stop_reason: str = ""
    #: K(delta) at the distance the induced model has to the target (docs/minpoison.md,
    #: "Neighbourhood bound"): lower_bound_at_achieved and the delta used
    at_achieved: dict = field(default_factory=dict)

    @property
    def n_poisons(self) -> int:
        return int(round(self.poisons.n_poisons))

    @property
    def lower_bound(self) -> float:
        """Best Theorem 4.2 bound over theta_c and every intermediate model."""
        return max([r.lower_bound for r in self.history], default=0)

    @property
    def status(self) -> str:
        """Why the loop stopped: 'eps_close', 'budget', 'goal', 'max_iter' or 'interrupted'."""
        return self.stop_reason

    def to_dict(self) -> dict:
        last = self.history[-1] if self.history else None
        out = {"status": self.status, "stop_reason": self.stop_reason,
               "n_poisons": self.n_poisons, "distinct_points": len(self.poisons),
               "iterations": len(self.history), "lower_bound": self.lower_bound,
               "bound_method": "intermediate (Theorem 4.2)"}
        if last is not None:
            out.update({"max_loss_difference": last.max_loss_difference,
                        "max_loss_upper_bound": last.max_loss_upper_bound,
                        "distance_to_target": last.distance_to_target,
                        "test_accuracy": last.test_accuracy,
                        "subpop_accuracy": last.subpop_accuracy})
        out.update(self.at_achieved)
        return out


class ModelTargetedPoisoning(PoisoningAttack):
    """Suya et al.'s online attack toward a target model ``theta_p``.

    Parameters
    ----------
    target : LinearModel -- the binary model the adversary wants training to return
        (required; checked in ``fit``).
    feasible : Domain or FeasibleSet -- where poison points may lie (default: the
        dataset's domain).
    reg : the defender's ``C_R`` (training objective of docs/training.md; default: the
        dataset's).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator such as ``SVC(kernel="linear", C=1)``; default: the
        package's SVM with ``C_R = reg`` and a penalised intercept.  Every retraining of
        the loop is ``D.train`` on ``Dc ∪ Dp`` (under scikit-learn's ``C`` the effective
        ``C_R = 1/(C W)`` falls as poison is added); the max-loss-difference step does not
        involve the regulariser and is unchanged; the Theorem 4.2 bounds are the
        defender's.  Hinge-loss defenders only (the max-loss step is the hinge's).
    epsilon : stop when ``n_poisons(epsilon, n)`` poison copies were added (an
        ``epsilon``-fraction attacker, :func:`~convexpoison.attacks.base.n_poisons`).
    budget : stop when this many poison copies were added (give ``budget`` or
        ``epsilon``, not both; neither: no budget).
    eps_close : stop when the max loss difference is at most this.
    copies : copies of each point added per iteration (the last iteration adds only what
        is left of the budget).
    goal_accuracy, goal_set : stop when accuracy on ``goal_set`` ('test' or 'subpop')
        falls to ``goal_accuracy`` or below.
    integer : 'exact' (MILP; integer points) or 'relax' for integer/binary domains.
    run_dir : directory for the incremental record (resume with ``resume=True``).
    max_iter : hard cap on iterations (safety net; default 100000).
    initial_poisons : a :class:`~convexpoison.poisons.PoisonSet` (or ``(X, y)`` /
        ``(X, y, weight)``) the poison set starts from instead of the empty set -- e.g. the
        minimum-poison LP's integer attack, which MTP then refines (Algorithm 1 converges
        from any start: Theorem 4.1 only needs the loop's max-loss-difference steps).
        Ignored when a run is resumed from ``run_dir``.
    bound_at_achieved : at the end, compute ``lower_bound_at_achieved`` (the
        minimum-poison program's K(delta), delta the induced model's distance to the
        target; one extra convex solve) into ``result_.to_dict()``.
    progress_bar : the progress bar on standard error (iterations, rate, the current max
        loss difference and poison count; an ETA when there is a budget): None (only when
        standard error is a terminal), True (always), False (never).

    ``fit(data, subpop=(X_sub, y_sub))``: the attacker's subpopulation, whose accuracy is
    recorded per iteration (and can be the goal); the test accuracy is recorded on the
    dataset's test set.

    Ctrl-C stops the run cleanly: the result holds the poison found so far
    (``result_.status == 'interrupted'``) and ``run_dir`` holds every completed iteration,
    so ``resume=True`` continues it.
    """

    _name = "MTP"
    _needs = "the clean training data and the target model"

    def __init__(self, target=None, feasible=None, reg=None, *, epsilon=None, budget=None,
                 eps_close=0.1, copies=1, goal_accuracy=None, goal_set="test",
                 integer="exact", solver=None, run_dir=None, resume=False, max_iter=100000,
                 train_tol=1e-10, progress_bar=None, random_state=0, initial_poisons=None,
                 bound_at_achieved=True, defender=None):
        self.target = target
        self.feasible = feasible
        self.reg = reg
        self.epsilon = epsilon
        self.budget = budget
        self.eps_close = eps_close
        self.copies = copies
        self.goal_accuracy = goal_accuracy
        self.goal_set = goal_set
        self.integer = integer
        self.solver = solver
        self.run_dir = run_dir
        self.resume = resume
        self.max_iter = max_iter
        self.train_tol = train_tol
        self.progress_bar = progress_bar
        self.random_state = random_state
        self.initial_poisons = initial_poisons
        self.bound_at_achieved = bound_at_achieved
        self.defender = defender

    # ------------------------------------------------------------------ API
    def _check(self, data):
        """The settings checked and resolved against ``data`` (stored with a trailing ``_``)."""
        if self.target is None:
            raise InputError(f"target: no target model was given, so {self._name} has nothing "
                             "to aim at")
        if not isinstance(self.target, LinearModel) or not self.target.is_binary:
            raise InputError(f"target: {self._name} needs a binary linear model (w of shape "
                             "(d,), scalar b)")
        if self.target.w.shape != (data.d,):
            raise InputError(f"target: model has {self.target.w.shape[0]} features, data has "
                             f"{data.d}")
        D = self._hinge_defender(data, f"{self._name} is for the binary hinge loss (its "
                                       "max-loss-difference step is the hinge's)")
        self.reg_ = D.reg                 # None under scikit-learn's C (it moves with W)
        self.eps_close_ = check_positive(self.eps_close, "eps_close", allow_zero=True)
        if self.epsilon is not None and self.budget is not None:
            raise InputError("budget: give budget (a number of points) or epsilon (a fraction), "
                             "not both")
        self.budget_ = (float(self._budget(data)) if self.epsilon is not None
                        else None if self.budget is None
                        else check_positive(self.budget, "budget"))
        self.copies_ = int(check_positive(self.copies, "copies"))
        if self.goal_set not in ("test", "subpop"):
            raise InputError(f"goal_set: must be 'test' or 'subpop', got {self.goal_set!r}")
        self.feasible_ = data.domain if self.feasible is None else self.feasible
        self.run_dir_ = None if self.run_dir is None else Path(self.run_dir)
        self.max_iter_ = int(self.max_iter)

    def _fit(self, data, subpop=None):
        """Algorithm 1 on the clean data of ``data``; ``subpop``: a pair ``(X_sub, y_sub)``
        of the attacker's subpopulation (its accuracy is recorded and can be the goal)."""
        from ..programs.maxloss import MaxLossDifference

        self._check(data)
        X = check_X(data.X_train, "X", accept_sparse=True)    # text: never densified
        y = check_y(data.y_train, X.shape[0], "y")
        X_test, y_test = data.X_test, data.y_test
        self.maxloss_ = MaxLossDifference(self.feasible_, integer=self.integer, solver=self.solver)
        px, py, pw, model, history = self._start(X, y)
        t_start = time.perf_counter() - (history[-1].seconds if history else 0.0)
        stop = ""
        it = len(history)
        # iterations until the budget is spent (the ETA); open-ended without a budget
        total = (None if self.budget_ is None
                 else it + max(0, int(np.ceil((self.budget_ - pw.sum()) / self.copies_))) + 1)
        bar = progress_bar(total, "MTP", self.progress_bar, initial=it)
        try:
            while True:
                res = self.maxloss_.solve(model, self.target)
                self.solver_ = res.solver          # of the last max-loss solve (reported)
                bound = certify_at(model, self.target, X, y, None, res.upper_bound,
                                   defender=self.defender_)
                rec = MTPRecord(
                    iteration=it, n_poisons=float(pw.sum()),
                    max_loss_difference=float(res.value),
                    max_loss_upper_bound=float(res.upper_bound),
                    distance_to_target=float(np.linalg.norm(model.theta - self.target.theta)),
                    test_accuracy=_acc(model, X_test, y_test),
                    subpop_accuracy=_acc(model, *(subpop or (None, None))),
                    lower_bound=bound.lower_bound, bound_value=bound.value,
                    seconds=time.perf_counter() - t_start)
                history.append(rec)
                stop = self._stop_reason(rec)
                if not stop:
                    # committed together, so a Ctrl-C during training leaves a consistent pair
                    # the last step adds only what is left of the budget (never beyond it)
                    copies = (self.copies_ if self.budget_ is None
                              else min(self.copies_, self.budget_ - pw.sum()))
                    nx, ny, nw = _add_point(px, py, pw, res.x, res.y, copies)
                    model = self._train(X, y, nx, ny, nw, warm=model)
                    px, py, pw = nx, ny, nw
                self._save(rec, px, py, pw, model, stop)
                bar.set_postfix(maxloss=f"{rec.max_loss_difference:.4g}", goal=f"{self.eps_close_:g}",
                                poisons=f"{pw.sum():.0f}", 
                                best_bound=max(r.lower_bound for r in history), refresh=False)
                bar.update(1)
                it += 1
                if stop:
                    break
        except KeyboardInterrupt:
            stop = "interrupted"          # everything so far is on disk: resume later
        finally:
            bar.close()
        self.poisons_ = PoisonSet(px, py, pw, {"attack": "mtp"})
        self.result_ = MTPResult(self.poisons_, model, history, stop)
        if self.bound_at_achieved and stop != "interrupted":
            from ..certificates.lp import lower_bound_at_achieved

            self.result_.at_achieved = lower_bound_at_achieved(
                model, self.target, self.feasible_, X, y, None, defender=self.defender_)

    # ------------------------------------------------------------ internals
    def _stop_reason(self, rec):
        if rec.max_loss_difference <= self.eps_close_:
            return "eps_close"
        if self.budget_ is not None and rec.n_poisons >= self.budget_:
            return "budget"
        if self.goal_accuracy is not None:
            acc = rec.test_accuracy if self.goal_set == "test" else rec.subpop_accuracy
            if acc <= self.goal_accuracy:
                return "goal"
        if rec.iteration >= self.max_iter_:
            return "max_iter"
        return ""

    def _train(self, X, y, px, py, pw, warm=None):
        Xa = stack_rows(X, px) if len(px) else X
        ya = np.concatenate([y, py]) if len(py) else y
        wa = np.concatenate([np.ones(len(y)), pw])
        return self.defender_.train(Xa, ya, sample_weight=wa, warm_start=warm,
                                    tol=self.train_tol, random_state=self.random_state)

    def _initial(self, d):
        """The starting poison set: empty, or ``initial_poisons`` validated."""
        if self.initial_poisons is None:
            return np.zeros((0, d)), np.zeros(0, int), np.zeros(0)
        init = self.initial_poisons
        if not isinstance(init, PoisonSet):
            if not isinstance(init, (tuple, list)) or len(init) not in (2, 3):
                raise InputError("initial_poisons: expected a PoisonSet or a tuple (X, y[, weight])")
            init = PoisonSet(*init)
        if init.X.shape[1] != d:
            raise InputError(f"initial_poisons: points have {init.X.shape[1]} features, "
                             f"the data has {d}")
        if not set(np.unique(init.y).tolist()) <= {-1, 1}:
            raise InputError("initial_poisons: labels must be -1 or +1")
        return (np.array(init.X, float), np.array(init.y, int), np.array(init.weight, float))

    def _start(self, X, y):
        px, py, pw = self._initial(X.shape[1])
        if self.run_dir_ is not None:
            state = self.run_dir_ / "state.npz"
            if self.resume and state.exists():
                start = self._load(state, X, y)
                self._write_settings(resumed_at=len(start[4]))
                return start
            if not self.resume and (self.run_dir_ / "history.jsonl").exists():
                raise InputError(f"run_dir: {self.run_dir_} holds a previous run; pass resume=True "
                                 "(--resume) to continue it or choose another directory")
            self.run_dir_.mkdir(parents=True, exist_ok=True)
            self._write_settings()
        return px, py, pw, self._train(X, y, px, py, pw), []

    def settings(self) -> dict:
        return {"eps_close": self.eps_close_, "budget": self.budget_, "copies": self.copies_,
                "goal_accuracy": self.goal_accuracy, "goal_set": self.goal_set,
                "integer": self.integer, "reg": self.reg_, "train_tol": self.train_tol,
                "bias_regularized": self.defender_.penalize_intercept,
                "defender": self.defender_.spec(), "random_state": self.random_state}

    def _write_settings(self, resumed_at=None):
        """The current settings on top; a resumed run with other settings (a larger
        budget, fewer copies) adds ``{"from_iteration": k, ...}`` to ``segments``, so the
        file says which settings produced which iterations."""
        path = self.run_dir_ / "settings.json"
        now = self.settings()
        segments = []
        if resumed_at is not None and path.exists():
            old = json.loads(path.read_text())
            segments = old.get("segments") or [{"from_iteration": 0, **{
                k: v for k, v in old.items() if k != "segments"}}]
            if all(segments[-1].get(k) == v for k, v in now.items()):
                return                        # same settings: nothing new to record
        segments.append({"from_iteration": resumed_at or 0, **now})
        write_text(path, dumps({**now, "segments": segments}, indent=1))

    def _save(self, rec, px, py, pw, model, stop=""):
        if self.run_dir_ is None:
            return
        # history first, then the state: a crash in between leaves one extra history line,
        # which _load drops (the state says how many iterations are complete)
        with open(self.run_dir_ / "history.jsonl", "a") as f:
            f.write(dumps(asdict(rec)) + "\n")       # strict JSON: NaN is null
            f.flush()
        alpha, W = model.dual_
        tmp = self.run_dir_ / "state.tmp.npz"
        np.savez(tmp, version=STATE_VERSION, X=px, y=py, weight=pw, w=model.w, b=model.b,
                 alpha=alpha, W=W, objective=model.objective_, gap=model.gap_,
                 iteration=rec.iteration + 1, stop=stop)
        os.replace(tmp, self.run_dir_ / "state.npz")

    def _load(self, path, X, y):
        f = np.load(path)
        n_done = int(f["iteration"])
        lines = (self.run_dir_ / "history.jsonl").read_text().splitlines()
        history = [MTPRecord(**floats_from_json(json.loads(line))) for line in lines[:n_done] if line.strip()]
        if len(history) != n_done:
            raise InputError(f"run_dir: {self.run_dir_} is inconsistent (state at iteration "
                             f"{n_done}, history has {len(history)} lines)")
        # the saved iterate itself (not a retraining): the resumed run continues bit for bit
        D = self.defender_
        model = LinearModel(np.array(f["w"]), float(f["b"]), "svm", D.reg_for(float(f["W"])),
                            D.penalize_intercept, objective_=float(f["objective"]),
                            gap_=float(f["gap"]), method_="dcd",
                            dual_=(np.array(f["alpha"]), float(f["W"])), defender=D)
        px, py, pw = np.array(f["X"]), np.array(f["y"]).astype(int), np.array(f["weight"])
        if str(f["stop"]):
            # the run had stopped: its last record added no point.  Drop it; the loop
            # recomputes it and stops again unless the new settings (a larger budget, a
            # smaller eps_close) let the run go on.
            history, n_done = history[:-1], n_done - 1
        with open(self.run_dir_ / "history.jsonl", "w") as fh:
            fh.writelines(line + "\n" for line in lines[:n_done])
        return px, py, pw, model, history


def _add_point(px, py, pw, x, label, copies):
    """Append ``copies`` of (x, label); an identical existing row just gains weight."""
    if len(px):
        same = np.flatnonzero((py == label) & np.all(px == x, axis=1))
        if same.size:
            pw = pw.copy()
            pw[same[0]] += copies
            return px, py, pw
    return (np.vstack([px, x[None, :]]), np.append(py, int(label)), np.append(pw, float(copies)))


def _acc(model, X, y):
    if X is None or y is None or len(y) == 0:
        return float("nan")
    return 1.0 - model.error(X, y)
