"""The KKT attack (Koh et al. 2021, section 4.2, equation (17), Algorithms 3 and 4).

Given decoy parameters ``theta_d = (w_d, b_d)`` (:mod:`convexpoison.decoys`), find poison
that makes training return ``theta_d``.  Training on ``Dc ∪ Dp`` (docs/training.md: mean loss
over ``W = N (1 + eps)`` points plus ``C_R R``, bias regularised) is at ``theta_d`` when
its (sub)gradient vanishes; multiplied by ``W / N`` the condition reads

    g_c + eps_+ grad l(theta_d; x_+, +1) + eps_- grad l(theta_d; x_-, -1)
        + (1 + eps) C_R theta_d = 0,          g_c = (1/N) sum_{Dc} grad l(theta_d; x, y),

with all the poison at two points (Theorem 1: two distinct points suffice for a binary
SVM).  For the hinge loss on its active side (``y s_d(x) <= 1``) the gradient is
``-y (x, 1)``, so equation (17) in this normalisation is the convex program

    minimise   || g_c + (1 + eps) C_R theta_d - eps_+ (x_+, 1) + eps_- (x_-, 1) ||_2
    subject to  w_d . x_+ + b_d <= 1,   -(w_d . x_- + b_d) <= 1,
                x_+ in F_{+1},  x_- in F_{-1},

(an SOCP: the norm is minimised instead of its square -- same minimiser, better scaled).
``F_y`` intersects the feasible-set components of :mod:`convexpoison.feasible`: the
domain, the L2 sphere and the slab fitted on ``Dc`` (section 3.2), and the loss-defense
constraint ``l(theta_d; x, y) <= tau_y`` under the decoy (section 4.2, "Evading the loss
defense"; ``tau_y`` the quantile of the decoy's losses on ``Dc``).

The program is built once (DPP) with Parameters ``theta_d``, ``g_c``,
``(1 + eps) C_R theta_d``, ``eps_+`` and ``eps_-`` and re-solved for every
(decoy, eps_+) pair of the grid (Algorithm 4).  Copy counts are integers: with
``n = floor(eps N)`` poison points, ``n_+ = round(t n / T)`` (t = 0..T) and
``n_- = n - n_+``, plus the pair that zeroes the bias coordinate of the residual
(``eps_+ - eps_- = g_b + (1 + eps) C_R b_d``, Koh et al.'s code); the program is solved
with exactly ``eps_+- = n_+- / N``, so its residual is that of the poison set returned.
Integer coordinates (one-hot groups, counts) are fixed by diving: one group at a time,
to the categories the relaxation weights most, re-solving in between (no mixed-integer
conic solver is assumed; Suya et al.'s code solved the MISOCP with Gurobi).  On
scipy.sparse clean data (bag-of-words counts, ``rounding='random'``) the L2 sphere is
replaced by its LP relaxation and each candidate's two points are randomly rounded with
repeated points instead (Koh et al. section 3.3, Appendix B; docs/kkt.md, "Sparse text").

Every candidate is judged the way the defender would treat it
(:func:`convexpoison.defenses.evaluate`): trained on ``Dc ∪ Dp`` under each defense; the
attack keeps the candidate with the highest minimum-over-defenses error on the
attacker's evaluation set (the test set when known, ``Dc`` otherwise; section 6.1).
Optionally (``iterations > 1``, Algorithm 1) the feasible set is refitted on
``Dc ∪ Dp`` with the best poison so far and the sweep repeated.

The sweep runs in worker processes with ``workers > 1``, or on a Dask cluster with
``scheduler`` (:func:`convexpoison.parallel.map_tasks`); each task is one (decoy, pair)
and depends on nothing but its inputs, so the results equal the serial run's.  A progress
bar counts the finished tasks; Ctrl-C stops the sweep and the attack returns the best
candidate among those that finished (``result_.interrupted``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, SolverFailure
from ..defenses import DEFENSES
from ..feasible import FEASIBLE_FROM_DEFENSE, FeasibleSet
from ..poisons import PoisonSet
from ..validation import check_fraction
from ._common import DataFields, check_use, clean_arrays, resolve_feasible
from .base import DEFAULT_EPSILON, PoisoningAttack, fit_part
from ..programs.kkt import KKTProgram, clean_gradient, kkt_residual

__all__ = ["KKTProgram", "KKTAttack", "KKTCandidate", "KKTResult", "clean_gradient",
           "kkt_residual", "epsilon_pairs", "bias_exact_split", "FEASIBLE_FROM_DEFENSE"]

#: Feasible-set components that stand in for each defense ('knn' and 'svd' are evaded by
#: concentrating the attack, section 3.1; 'svd' can be requested explicitly): all of
#: :data:`convexpoison.feasible.FEASIBLE_FROM_DEFENSE`, imported above.


# ----------------------------------------------------------------------- gradients
def bias_exact_split(model, X, y, reg, n_total, *, defender=None) -> float:
    """The real ``n_+`` that zeroes the bias coordinate of the residual of (17).

    That coordinate, ``g_b + (1 + eps) C_R b_d - eps_+ + eps_-``, does not depend on the
    points, so ``eps_+ - eps_- = g_b + (1 + eps) C_R b_d`` with ``eps_+ + eps_- = eps``
    (Koh et al.'s code adds this split to the grid).

    ``defender`` (default: the package's SVM with ``C_R = reg``): the regulariser's bias
    term is that of the defender's ``R`` (docs/defender.md, "The KKT attack"): ``(1 + eps)
    C_R b_d`` under ``reg``, ``b_d / (C N)`` under scikit-learn's ``C`` (it does not grow
    with the poison), and 0 with a free intercept (the row is ``sum of y-weighted
    gradient weights = 0``).
    """
    from ..defender import resolve_defender

    D = resolve_defender(defender, None, "svm", reg)
    N = X.shape[0]
    eps = n_total / N
    if not D.penalize_intercept:
        reg_b = 0.0
    elif D.convention == "average":
        reg_b = (1 + eps) * D.reg * float(model.b)
    else:
        reg_b = float(model.b) / (D.C * N)
    beta = clean_gradient(model, X, y)[-1] + reg_b
    return N * (eps + beta) / 2


def epsilon_pairs(n_total, grid=6, bias_exact=None) -> list:
    """Integer splits ``(n_+, n_-)`` of ``n_total`` poison points (Algorithm 4's grid).

    ``n_+ = round(t n_total / grid)`` for ``t = 0..grid``, plus ``bias_exact`` (a real
    ``n_+``, rounded and clipped) when given; duplicates removed, order kept.
    """
    n_total = int(n_total)
    grid = int(grid)
    if grid < 1:
        raise InputError(f"grid: the epsilon grid needs at least 1 step, got {grid}")
    pos = [int(round(t * n_total / grid)) for t in range(grid + 1)]
    if bias_exact is not None and np.isfinite(bias_exact):
        pos.append(int(np.clip(round(float(bias_exact)), 0, n_total)))
    out = []
    for n_pos in pos:
        pair = (n_pos, n_total - n_pos)
        if pair not in out:
            out.append(pair)
    return out


# -------------------------------------------------------------------------- results
@dataclass
class KKTCandidate:
    """One (decoy, eps_+) grid point: the poison it gave and how the defender fared."""

    decoy: int
    iteration: int
    n_pos: int
    n_neg: int
    status: str
    residual: float = float("nan")            # objective of (17) at the returned points
    kkt_residual: float = float("nan")        # direct recomputation (kkt_residual())
    x_plus: np.ndarray | None = field(default=None, repr=False)
    x_minus: np.ndarray | None = field(default=None, repr=False)
    per_defense: dict = field(default_factory=dict)       # test error per defense
    no_defense: float = float("nan")
    eval_per_defense: dict = field(default_factory=dict)  # attacker's evaluation set
    eval_no_defense: float = float("nan")
    removed: dict = field(default_factory=dict)
    seconds: float = 0.0
    rounded: PoisonSet | None = field(default=None, repr=False)  # rounding='random'


    @property
    def ok(self) -> bool:
        return self.x_plus is not None or self.x_minus is not None

    @property
    def min_over_defenses(self) -> float:
        return min(self.per_defense.values()) if self.per_defense else self.no_defense

    @property
    def eval_score(self) -> float:
        """What the attacker maximises: min over defenses of its evaluation-set error."""
        if not self.ok:
            return -np.inf
        return min(self.eval_per_defense.values()) if self.eval_per_defense else self.eval_no_defense

    def poison_set(self) -> PoisonSet:
        """The poison the defender receives: the two points with their copy counts, or
        their randomised roundings (``rounding='random'``)."""
        if self.rounded is not None:
            return self.rounded
        return self.relaxed_set()

    def relaxed_set(self) -> PoisonSet:
        """The program's two points with their copy counts (before any rounding)."""
        rows = [(x, lab, n) for x, lab, n in ((self.x_plus, 1, self.n_pos),
                                             (self.x_minus, -1, self.n_neg))
                if x is not None and n > 0]
        return PoisonSet(np.vstack([r[0] for r in rows]), np.array([r[1] for r in rows]),
                         np.array([r[2] for r in rows], float))

    def summary(self) -> dict:
        return {"decoy": self.decoy, "iteration": self.iteration, "n_pos": self.n_pos,
                "n_neg": self.n_neg, "status": self.status, "residual": self.residual,
                "kkt_residual": self.kkt_residual, "per_defense": self.per_defense,
                "no_defense": self.no_defense, "eval_per_defense": self.eval_per_defense,
                "eval_score": None if not self.ok else self.eval_score}


@dataclass
class KKTResult:
    best: KKTCandidate
    poisons: PoisonSet
    candidates: list
    decoys: list
    clean_test_error: float
    evaluation: object                  # defenses.Evaluation of the best poison set
    seconds: float = 0.0
    interrupted: bool = False           # Ctrl-C: the best of the candidates that finished

    @property
    def status(self) -> str:
        """'interrupted' (Ctrl-C), else the solver status of the chosen candidate's points."""
        return "interrupted" if self.interrupted else self.best.status

    def to_dict(self) -> dict:
        ev = self.evaluation
        d = self.decoys[self.best.decoy]
        return {"status": self.status, "clean_test_error": self.clean_test_error,
                "poisoned_test_error": ev.poisoned_test_error,
                "no_defense_test_error": ev.no_defense_test_error,
                "per_defense": dict(ev.per_defense),
                "min_over_defenses": ev.min_over_defenses,
                "removed": ev.removed,
                "n_poisons": self.poisons.n_poisons,
                "n_pos": self.best.n_pos, "n_neg": self.best.n_neg,
                "kkt_residual": self.best.kkt_residual,
                "program_residual": self.best.residual,
                "point_status": self.best.status,
                "decoy": d.to_dict() if hasattr(d, "to_dict") else {"index": self.best.decoy},
                "n_decoys": len(self.decoys),
                "n_candidates": len(self.candidates),
                "n_failed": sum(not c.ok for c in self.candidates),
                "iteration": self.best.iteration,
                "interrupted": self.interrupted,
                "seconds": self.seconds}


# ------------------------------------------------------------------- worker processes
_STATE = {}


def _init_worker(setup):
    """Per-process state: data, clean model, feasible set fitted on Dc (or the ready one
    given), the program."""
    from ..feasible import make_feasible_set

    _STATE.clear()
    _STATE.update(setup)
    ready = isinstance(setup["feasible"], FeasibleSet)
    if ready:
        feas = setup["feasible"]
    else:
        decoy0 = setup["decoys"][0] if setup["decoys"] else None
        feas = make_feasible_set(setup["feasible"], setup["domain"], setup["Xc"], setup["yc"],
                                 quantile=setup["quantile"], decoy=decoy0)
    if setup["rounding"] == "random":
        # the L2 sphere in its LP relaxation (equation (8)): the points are rounded
        # randomly, and it bounds the expected squared distance after rounding
        from ..integer import relax_for_rounding

        feas = relax_for_rounding(feas, setup["domain"])
    _STATE["feasible_set"] = feas
    if "knn" in setup["defenses"]:
        from ..defenses import CleanNeighbours

        _STATE["clean_neighbours"] = CleanNeighbours(setup["Xc"], setup["yc"], k=5)
    # a ready set counts as fitted for the first iteration: it is used as it is (only its
    # loss component follows the decoys); later iterations refit it (Algorithm 1)
    _STATE["refit_key"] = (0, None) if ready else None
    _STATE["program"] = _program(feas, setup)


def _program(feas, setup):
    """Program (17) over ``feas`` for the setup's defender (its stationarity rows); with
    ``rounding='random'`` the integer coordinates stay relaxed (rounded afterwards)."""
    return KKTProgram(feas, None, solver=setup["solver"], defender=setup["defender"],
                      dive=setup["rounding"] == "dive")


def _fit_data(refit):
    """Data the feasible set is fitted on: Dc, or Dc ∪ Dp for a refit (Algorithm 1)."""
    s = _STATE
    if refit is None:
        return s["Xc"], s["yc"], None
    ps = PoisonSet(*refit)
    X, y, w, _ = ps.with_clean(s["Xc"], s["yc"])
    return X, y, w


def _run_task(task):
    """Solve (17) for one (decoy, pair) and evaluate the poison under every defense."""
    from ..defenses import evaluate

    s = _STATE
    it, refit, di, n_pos, n_neg = task
    t0 = time.perf_counter()
    feas, prog = s["feasible_set"], s["program"]
    key = (it, None if refit is None else tuple(np.asarray(a).tobytes() for a in refit))
    X, y, w = _fit_data(refit)
    if s["refit_key"] != key:
        gens = [c._generation for c in feas.components]
        for comp in feas.components:
            if comp.name != "loss":
                comp.fit(X, y, sample_weight=w)
        if gens != [c._generation for c in feas.components]:
            # a component re-created its Parameters (e.g. a larger SVD rank): rebuild
            prog = s["program"] = _program(feas, s)
        s["refit_key"] = key
        s["decoy_key"] = None
    decoy = s["decoys"][di]
    if s.get("decoy_key") != di:
        try:
            loss = feas["loss"]
        except KeyError:
            loss = None
        if loss is not None:
            loss.set_model(decoy)
            loss.fit(X, y, sample_weight=w)
        prog.set_decoy(decoy, s["Xc"], s["yc"])
        s["decoy_key"] = di
    N = s["Xc"].shape[0]
    cand = KKTCandidate(decoy=di, iteration=it, n_pos=n_pos, n_neg=n_neg, status="")
    try:
        xp, xm, value, status = prog.solve(n_pos, n_neg, N)
    except SolverFailure as exc:
        cand.status = f"solver: {exc.status}"
        cand.seconds = time.perf_counter() - t0
        return cand
    cand.x_plus, cand.x_minus, cand.residual, cand.status = xp, xm, value, status
    if s["rounding"] == "random":
        from ..integer import integerize

        # randomised rounding with repeated points (Koh et al. section 3.3, Appendix B),
        # seeded by the task so that a parallel sweep equals the serial one
        rng = np.random.default_rng([int(s["random_state"] or 0), it, di, n_pos, n_neg])
        cand.rounded = integerize(cand.relaxed_set(), s["domain"], repeat=s["repeat_points"],
                                  random_state=rng)
        cand.status = "randomly rounded"
    ps = cand.poison_set()
    # equation (17)'s normalisation: the summed-objective residual over the clean count
    cand.kkt_residual = float(np.linalg.norm(kkt_residual(
        decoy, s["Xc"], s["yc"], None, ps, tol=1e-7, subgradient="equation17",
        defender=s["defender"]))) / len(s["yc"])
    data = s["data"]
    ev = evaluate(data, ps, defenses=s["defenses"], p=s["p"], defender=s["defender"],
                  X_eval=s["X_eval"], y_eval=s["y_eval"], clean_model=s["clean_model"],
                  clean_neighbours=s.get("clean_neighbours"), tol=s["tol"])
    cand.per_defense = dict(ev.per_defense)
    cand.no_defense = ev.no_defense_test_error
    if s["X_eval"] is None:          # the attacker knows the test set: it is the evaluation set
        cand.eval_per_defense, cand.eval_no_defense = dict(ev.per_defense), ev.no_defense_test_error
    else:
        cand.eval_per_defense, cand.eval_no_defense = dict(ev.eval_per_defense), ev.eval_no_defense
    cand.removed = ev.removed
    cand.seconds = time.perf_counter() - t0
    return cand


# ------------------------------------------------------------------------ the attack
def _fitted(attack, data):
    """``attack.fit(data)`` as a part of another attack (a job of
    :class:`~convexpoison.parallel.Beside`; :func:`~convexpoison.attacks.base.fit_part`)."""
    return fit_part(attack, data)


class SharedSweep:
    """``attack.fit(data)`` started with its sweep shared with the second process of
    ``beside`` (:class:`~convexpoison.parallel.Beside`); calling it finishes the fit here
    and returns the fitted attack (:meth:`poison`: only its poison) -- for a caller with
    work of its own to do meanwhile (the reachable-target attack's MTP runs beside its KKT
    attacks toward its targets).

    The checks, the clean model and the decoys are made here, at construction, and the
    sweep's tasks are queued in the second process, the last first.  The call then runs
    here, from the first, every task the second process has not started (withdrawn
    there; ``n_here`` counts them), collects the others and concludes.  The candidates
    are a serial sweep's (a task is the same computation in either process, as in
    :func:`~convexpoison.parallel.map_tasks`), and so is the answer.  One iteration of
    Algorithm 1 only: otherwise, or with one worker, the whole fit is one job there.  An
    error of the preparation is raised by the call, as a job's would be."""

    def __init__(self, attack, data, beside):
        self.attack, self.n_here, self.jobs, self.error, self.cands = attack, 0, [], None, None
        if beside.workers < 2 or int(attack.iterations) != 1 or attack.scheduler is not None:
            self.whole = beside.submit(_fitted, attack, data)
            return
        self.whole = None
        try:
            self.run = attack._prepare(data)
        except (InputError, SolverFailure) as exc:
            self.error = exc
            return
        self.tasks = attack._tasks(self.run, 0, None)
        self.init = beside.submit(_init_worker, self.run["setup"])
        self.jobs = [beside.submit(_run_task, t) for t in reversed(self.tasks)][::-1]

    def __call__(self):
        """The fitted attack."""
        if self.whole is not None:
            return self.whole.result()
        cands = self._candidates()
        return self.attack._conclude(self.run, cands, _pick(cands), False)

    def poison(self):
        """The fitted attack's poison (``poisons_``) without its exact evaluation under the
        defenses (what :meth:`KKTAttack._conclude` adds: ~1 s on spambase)."""
        if self.whole is not None:
            return self.whole.result().poisons_
        cands = self._candidates()
        return self.attack._poison_of(cands, _pick(cands))

    def _candidates(self):
        if self.error is not None:
            raise self.error
        if self.cands is not None:             # collected before
            return self.cands
        cands = []
        try:
            for task, job in zip(self.tasks, self.jobs):
                if not job.cancel():           # started there: so is every later task
                    break
                if not cands:
                    _init_worker(self.run["setup"])
                cands.append(_run_task(task))
        finally:
            _STATE.clear()
        self.n_here = len(cands)
        self.init.result()                     # (raises what the state's setup raised there)
        self.cands = cands + [job.result() for job in self.jobs[len(cands):]]
        return self.cands


class KKTAttack(PoisoningAttack):
    """The KKT attack with decoys, the epsilon grid and every defense as the judge.

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``|Dc|``
        (``|Dp| =`` :func:`~convexpoison.attacks.base.n_poisons`).
    reg : the defender's ``C_R`` (default: the dataset's).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator; default the package's SVM with ``C_R = reg``.  It trains
        the clean model, the decoys and every model the defenses judge, and it gives
        program (17) its stationarity rows (under scikit-learn's ``C`` the regulariser term
        is ``grad R / C``; with a free intercept the bias row has none).  Hinge loss only.
    defenses : names of the defenses the candidates are judged under (min over them is
        maximised; default :data:`~convexpoison.defenses.DEFENSES`).
    feasible : feasible-set components constraining the poison (default: ``domain`` plus
        those of ``defenses`` among l2, slab, loss), or a ready fitted
        :class:`~convexpoison.feasible.FeasibleSet` (e.g. from
        :func:`~convexpoison.feasible.make_feasible_set`), used as it is instead of being
        fitted on ``Dc`` (``quantile`` is then unused); its loss component, if any, is
        pointed at each decoy and refitted, and ``iterations > 1`` refits it on ``Dc ∪ Dp``.
    p : fraction each defense removes per class.
    quantile : feasible-set thresholds as a quantile of the clean scores (default
        ``1 - p``: the points the defenses fitted on ``Dc`` keep, section 3.2; Koh et al.'s
        code used 0.9, stricter, leaving room for the refit on ``Dc ∪ Dp``).
    grid : ``T`` of Algorithm 4 (``T + 1`` splits, plus the bias-exact one).
    use : 'test' (the attacker knows the test set) or 'train' (section 6.1).
    repeats, quantiles, max_decoys : the decoy sweep (:class:`~convexpoison.decoys.DecoyGenerator`).
    decoys : ready-made decoy models (skips the sweep).
    iterations : rounds of Algorithm 1 (refit the feasible set on ``Dc ∪ Dp``).
    workers : processes for the sweep (results identical to ``workers=1``).
    scheduler : a Dask scheduler address or ``dask.distributed.Client``: run the sweep on
        that cluster instead (results identical to the serial run; ``workers`` unused).
    progress : callable receiving a line of text per stage (or None).
    progress_bar : the sweep's bar on standard error: None (when it is a terminal),
        True (always), False (never); :mod:`convexpoison.progress`.
    screen_tol : relative duality gap of the trainings during the sweep (decoys and the
        defended models that judge each candidate).  The chosen poison set is then
        evaluated again with exact training (gap 1e-10), and that is what is reported.
    rounding : integer coordinates of the domain (docs/integer.md): 'dive' fixes them in
        turn and re-solves (:meth:`~convexpoison.programs.kkt.KKTProgram._dive`);
        'random' solves (17) with the L2 sphere in its LP relaxation (equation (8),
        f(x) = max_k (2k+1) x - k(k+1)) and rounds each candidate's two points randomly
        with repeated points (:func:`~convexpoison.integer.integerize`; Koh et al.
        Appendix B, their text experiments).  Default (None): 'random' when the clean
        data are scipy.sparse (bag-of-words counts: thousands of integer coordinates,
        too many to dive), 'dive' otherwise.
    repeat_points : ``r`` of the repeated points (``rounding='random'``).
    random_state : seed of the rounding (``rounding='random'``).
    """

    def __init__(self, epsilon=DEFAULT_EPSILON, reg=None, defenses=DEFENSES,
                 feasible=None, p=0.05, quantile=None, grid=6, use="test", repeats=None,
                 quantiles=None, max_decoys=None, decoys=None, iterations=1, workers=1,
                 solver=None, screen_tol=1e-6, progress=None, scheduler=None,
                 progress_bar=None, defender=None, rounding=None, repeat_points=2,
                 random_state=0):
        self.epsilon = epsilon
        self.reg = reg
        self.defenses = defenses
        self.feasible = feasible
        self.p = p
        self.quantile = quantile
        self.grid = grid
        self.use = use
        self.repeats = repeats
        self.quantiles = quantiles
        self.max_decoys = max_decoys
        self.decoys = decoys
        self.iterations = iterations
        self.workers = workers
        self.solver = solver
        self.screen_tol = screen_tol
        self.progress = progress
        self.scheduler = scheduler
        self.progress_bar = progress_bar
        self.defender = defender
        self.rounding = rounding
        self.repeat_points = repeat_points
        self.random_state = random_state

    _name = "KKT"
    _needs = "Dc, the evaluation set and the domain"

    # -- main entry ----------------------------------------------------------
    def _fit(self, data):
        """The sweep on a dataset; sets ``result_``, ``poisons_``, ``clean_model_``, ``decoys_``."""
        from ..parallel import Interrupted, map_tasks
        from ..progress import bar

        run = self._prepare(data)
        workers, iterations, setup = run["workers"], run["iterations"], run["setup"]
        all_cands, refit, best, interrupted = [], None, None, False
        where = "on the Dask cluster" if self.scheduler is not None else f"on {workers} worker(s)"
        for it in range(iterations):
            tasks = self._tasks(run, it, refit)
            self._say(f"kkt: iteration {it + 1}: {len(tasks)} (decoy, eps+) candidates {where}")
            with bar(len(tasks), f"kkt sweep {it + 1}/{iterations}", self.progress_bar,
                     unit="task") as pbar:
                try:
                    cands = map_tasks(_run_task, tasks, workers=workers, initializer=_init_worker,
                                      initargs=(setup,), scheduler=self.scheduler, progress=pbar)
                except Interrupted as exc:
                    # Ctrl-C: keep the candidates that finished (the user's stop, not a failure)
                    cands = [c for c in exc.results if c is not None]
                    interrupted = True
                    self._say(f"kkt: interrupted after {len(cands)} of {len(tasks)} candidates")
            all_cands += cands
            it_best = _pick(cands)
            if it_best is None:
                if interrupted and best is None:
                    _STATE.clear()
                    raise KeyboardInterrupt          # nothing was found before the Ctrl-C
                break
            self._say(f"kkt: iteration {it + 1}: best min-over-defenses error "
                      f"{it_best.eval_score:.4f} (decoy {it_best.decoy}, n+={it_best.n_pos}, "
                      f"n-={it_best.n_neg})")
            improved = best is None or _key(it_best) > _key(best)
            if improved:
                best = it_best
            if interrupted:
                break
            if it + 1 < iterations:
                ps = best.poison_set()
                new = (ps.X, ps.y, ps.weight)
                if refit is not None and all(np.array_equal(a, b) for a, b in zip(new, refit)):
                    break                      # Algorithm 1: D_p converged
                refit = new
        _STATE.clear()
        return self._conclude(run, all_cands, best, interrupted)

    def _prepare(self, data):
        """Everything before the sweep (checks, the clean model, the decoys): ``run``, a dict
        of what the sweep and :meth:`_conclude` need (``setup``: the workers' state)."""
        from ..decoys import QUANTILES, REPEATS, DecoyGenerator
        from ..defenses import parse_defenses
        from ..parallel import check_scheduler, check_workers

        t0 = time.perf_counter()
        n_total = self._budget(data)
        D = self._hinge_defender(data, f"the {self._name} attack's program (17) is for the "
                                       "binary hinge loss")
        reg = D.reg                                # None under scikit-learn's C
        Xc, yc, Xt, yt = clean_arrays(data, self._name)
        check_use(self.use)
        defenses = parse_defenses(self.defenses)
        domain = data.domain
        feas_names = resolve_feasible(self.feasible, self._name, defenses, domain, Xc.shape[1])
        workers = check_workers(self.workers)
        check_scheduler(self.scheduler)            # a bad address fails now, not after the decoys
        iterations = int(self.iterations)
        if iterations < 1:
            raise InputError("iterations: must be at least 1")
        quantile = 1.0 - check_fraction(self.p, "p") if self.quantile is None else self.quantile
        if not 0 < check_fraction(quantile, "quantile"):
            raise InputError("quantile: must be in (0, 1]")

        rounding = self._rounding(Xc, domain)
        clean = D.train(Xc, yc)
        self.clean_model_ = clean
        if self.decoys is not None:
            decoys = list(self.decoys)
            if not decoys:
                raise InputError("decoys: give at least one decoy model")
        else:
            gen = DecoyGenerator(None, defender=D, repeats=self.repeats or REPEATS,
                                 quantiles=self.quantiles or QUANTILES, use=self.use,
                                 max_decoys=self.max_decoys, tol=self.screen_tol)
            gen.fit(Xc, yc, Xt, yt, clean_model=clean)
            decoys = gen.decoys_
            self._say(f"kkt: {len(gen.candidates_)} decoy candidates, {len(decoys)} after pruning")
        self.decoys_ = decoys
        from ..decoys import Decoy

        models = [dc.model if isinstance(dc, Decoy) else dc for dc in decoys]

        X_eval, y_eval = (None, None) if self.use == "test" else (Xc, yc)
        setup = {"Xc": Xc, "yc": yc, "reg": reg, "defender": D, "domain": domain, "feasible": feas_names,
                 "quantile": float(quantile), "solver": self.solver,
                 "decoys": models, "defenses": defenses, "p": float(self.p),
                 "X_eval": X_eval, "y_eval": y_eval, "clean_model": clean,
                 "tol": float(self.screen_tol), "rounding": rounding,
                 "repeat_points": int(self.repeat_points), "random_state": self.random_state,
                 "data": DataFields(Xc, yc, Xt, yt, domain, reg)}
        return {"t0": t0, "n_total": n_total, "D": D, "defenses": defenses, "workers": workers,
                "iterations": iterations, "models": models, "setup": setup}

    def _tasks(self, run, it, refit):
        """The sweep's tasks of iteration ``it``: every (decoy, eps+ split)."""
        setup, n_total = run["setup"], run["n_total"]
        tasks = []
        for di, m in enumerate(run["models"]):
            bias_pos = bias_exact_split(m, setup["Xc"], setup["yc"], None, n_total,
                                        defender=run["D"])
            for n_pos, n_neg in epsilon_pairs(n_total, self.grid, bias_pos):
                tasks.append((it, refit, di, n_pos, n_neg))
        return tasks

    def _conclude(self, run, all_cands, best, interrupted):
        """The sweep's best candidate as the attack's poison, trained exactly under every
        defense; sets ``poisons_`` and ``result_``."""
        from ..defenses import evaluate

        poisons = self._poison_of(all_cands, best)
        setup = run["setup"]
        ev = evaluate(setup["data"], poisons, defenses=run["defenses"], p=self.p,
                      defender=run["D"], clean_model=setup["clean_model"])
        self.poisons_ = poisons
        self.result_ = KKTResult(best, poisons, all_cands, self.decoys_,
                                 setup["clean_model"].error(setup["data"].X_test,
                                                            setup["data"].y_test),
                                 ev, time.perf_counter() - run["t0"], interrupted)
        return self

    def _poison_of(self, all_cands, best):
        """The best candidate's poison set (:class:`SolverFailure` when none was solved)."""
        if best is None:
            statuses = sorted({c.status for c in all_cands})
            raise SolverFailure(f"kkt: no (decoy, eps+) candidate could be solved ({', '.join(statuses)})",
                                solver=self.solver or "default", status=statuses[0] if statuses else "")
        poisons = best.poison_set()
        poisons.meta.update({"attack": "kkt", "epsilon": float(self.epsilon), "use": self.use,
                             "n_pos": best.n_pos, "n_neg": best.n_neg})
        return poisons

    def _rounding(self, Xc, domain):
        """'dive' or 'random' (the ``rounding`` parameter; None chooses by sparsity)."""
        from ..validation import is_sparse

        r = self.rounding
        if r is None:
            r = "random" if is_sparse(Xc) else "dive"
        if r not in ("dive", "random"):
            raise InputError(f"rounding: expected 'dive' or 'random', got {r!r}")
        rp = self.repeat_points
        if isinstance(rp, bool) or int(rp) != rp or int(rp) < 1:
            raise InputError(f"repeat_points: must be a positive integer, got {rp!r}")
        if r == "random" and (domain is None or not domain.has_integers):
            return "dive"            # nothing to round: the relaxation is the program
        return r


def _key(c):
    """Ranking of candidates: evaluation score, then undefended error, then small residual."""
    return (c.eval_score, c.eval_no_defense, -c.kkt_residual)


def _pick(cands):
    ok = [c for c in cands if c.ok]
    if not ok:
        return None
    best = ok[0]
    for c in ok[1:]:
        if _key(c) > _key(best):
            best = c
    return best
