"""The reachable-target attack: the most damaging model that ``epsilon n`` points provably
can induce, and the poison that induces it (docs/reachable.md).

Koh et al.'s KKT attack (2021, Algorithms 3 and 4) picks a decoy model and guesses how many
points each label gets; the KKT residual it minimises is usually not zero, so its poison
induces some model near the decoy.  The minimum-poison program
(:mod:`convexpoison.programs.minpoison`, docs/minpoison.md) gives, for any target, the
*exact* fewest points that induce it inside a feasible set.  This attack puts the two
together:

1. **Candidates.**  Koh et al.'s label-flip decoys (Algorithm 3), Suya et al.'s improved
   targets (2021, Appendix C.1) and the models that the package's other attacks induce
   (KKT, min-max, influence, run with small settings: reachable by construction), and
   the models that poisons found elsewhere induce (``given_poisons``: an audit gives the
   poisons of the attacks it ran before).
2. **Search in theta.**  Each candidate ``theta_k`` spans the segment
   ``theta(t) = theta_c + t (theta_k - theta_c)`` from the clean model (price 0); the
   price of ``theta(t)`` (the program's optimum) grows along it about linearly, so the
   search starts at ``t = limit / price(theta_k)``, brackets by doubling or halving and
   bisects for the largest ``t`` whose price fits the budget: a candidate too expensive
   is pulled back toward ``theta_c``, a cheap one pushed beyond itself until it spends the
   whole budget.  Pairwise averages of the best boundary targets of different seed
   families are searched the same way (mixtures), and a climb steps from the best
   boundary target toward priced models of higher error, bringing each step back onto
   the budget along its own segment.  Every priced model is a candidate; a point whose
   evaluation error cannot beat the best target within the budget is not priced
   (``prune``).  An optional
   climb along the budget's level set uses the price's gradient read from the program's
   duals (``dual_rounds``; off by default: it found nothing on spambase).  The search
   stops at ``max_priced`` solves or ``search_seconds``.
3. **Pricing.**  The feasible set is the defenses': the domain, the L2 sphere (its
   polyhedral inner form on domains with integer and continuous coordinates,
   :func:`~convexpoison.feasible.polyhedral_l2`) and the slab fitted on ``Dc`` and the loss defense's cone ``hinge(theta; x, y) <= tau_y`` under the
   target itself (the loss defense trains on ``Dc u Dp``, whose model *is* the target; the
   threshold is the ``quantile`` of the target's clean losses).  The search prices with a
   screening tolerance; the chosen target is priced again exactly and its certified
   minimum is reported.
   After the search, a KKT attack aimed at the priced models of highest error beyond the
   budget and MTP runs (Suya et al. 2021, Algorithm 1) aimed at those within twice it
   (``toward_rounds``, ``n_mtp``) induce models that are new seeds, and the search runs
   again with them (a model already priced is not solved again).
4. **Screening under the defenses.**  The defenses remove clean points, so the
   candidates of highest error are judged with the screening solve's fractional poison
   trained under every defense, and ranked by that minimum.
5. **Realisation.**  The best screened candidates are realised with the integer
   minimum-poison attack (:class:`~convexpoison.attacks.minpoison.MinimumPoisoning`: at
   most two points per label on continuous domains; the exact column-generation program
   on integer domains; on integer domains above ``solvers.DPP_MAX_D`` coordinates --
   sparse text -- the relaxed points with every copy randomly rounded;
   ``n_poisons <= certified + max_extra``) and judged by retraining
   under every defense (:func:`~convexpoison.defenses.evaluate`).  A realisation that
   misses its target is followed by the model it did induce (snap: a trained model,
   whose margin support vectors absorb the rounding to integer copies).  The best
   accepted minimum over the defenses on the evaluation set wins and is evaluated again
   exactly.
5b. **The seed poisons** (``seed_poisons``, on by default).  The seed attacks' own poisons
   are other realisations of the models they induce: one inside the feasible set with at
   most ``max_extra`` points more than its model's certified minimum competes with the
   minimum-poison realisations under the defenses.
5c. **Polish** (``polish_rounds``, two rounds by default).  The influence attack's ascent
   from the chosen poison on the smoothed evaluation error, lowest over the defenses
   each applied to ``Dc u Dp`` before training -- the defended damage the steps above
   only approximate; the model the polished poison induces is a new seed, searched,
   screened and realised (spambase: 13.14% -> 14.33%, an accepted target).
   ``keep_polished`` returns the polished poison itself when it scores higher (status
   'polished': more points than its model's certified minimum + ``max_extra``).
5e. **Relocation** (``relocate_trials``, off by default; :mod:`.relocate`).  A hill climb
   from the chosen poison over where its points sit: each label's copies gathered on its
   heaviest point, which moves to neighbouring locations of the domain (another category
   of a one-hot group, a continuous coordinate to a quarter of its box), or copies moved
   between points, each move judged by retraining under every defense and kept when the
   minimum over the defenses rises; with ``relocate_kicks``, an iterated local search:
   random moves from the best poison and another climb; with ``relocate_anneal``,
   chains of simulated annealing after the climbs, a poison with more points than its
   model needs trimmed (``relocate_trim``), or its model realised with the fewest points
   (``relocate_realise``).  The poison it ends at is a seed
   poison, its model a seed.  For one-hot domains, where neither the search in theta nor
   the polish moves a point between categories (adult: docs/reachable.md).
6. **Compress and extend** (``recycle_rounds``, off by default).  A poison of the whole
   budget induces a model that the minimum-poison program realises with fewer points;
   the points freed go to a KKT attack run on top of the realisation, whose poison
   induces the next round's model.  Starting from the KKT seed's poison, the best round
   (a realised target plus the KKT points on top) replaces step 5's result when it
   scores higher under the defenses (mnist17: 2.00% -> 3.00% on one machine, 2.67% on
   another).

Leftover budget: the search already spends it on the target (step 2 pushes each
candidate's price up to the budget); what rounding and snapping leave
(``budget - n_poisons``) is by default not used -- adding points the program did not ask
for moves training away from the target it certified.  ``topup=True`` spends it on more
copies of the realised points, one at a time, each kept only when it raises the minimum
over the defenses on the evaluation set (:meth:`ReachableTargetAttack._topup`); the
induced model is then no longer exactly the target.  Besides the chosen realisation, up
to :data:`TOPUP_TRIES` realisations of the relocation's chains (step 5e, with leftover
budget, within :data:`TOPUP_WITHIN` of it) are topped up too, and so, when the chosen
poison leaves nothing over, is the same poison with :data:`ROOM` of the budget taken off
one of its points (when step 5b's rule accepts it: an accepted target of its own); the
highest after the top-up is the result.

The attack follows the contract of :mod:`convexpoison.attacks.base` (docs/attacks.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..defenses import DEFENSES
from ..errors import InputError, SolverFailure
from ..poisons import PoisonSet
from ..validation import check_fraction, check_positive
from ._common import DataFields, check_use, clean_arrays, resolve_feasible
from .base import DEFAULT_EPSILON, PoisoningAttack, fit_part
from .influence import TAU
from .minpoison import NEAR_ANCHORS, MinimumPoisoning

__all__ = ["ReachableTargetAttack", "ReachableResult", "PricedTarget", "SEEDS"]

#: Where candidate targets come from (``seeds``): label-flip decoys (Koh et al.
#: Algorithm 3), Suya et al.'s improved targets, and the models the KKT, min-max and
#: influence attacks induce.
SEEDS = ("decoys", "improved", "kkt", "minmax", "influence")

#: The default seeds: min-max's induced model is left out (16-26 s on spambase, and no
#: accepted target on spambase or mnist17 came from its family; docs/reachable.md).
DEFAULT_SEEDS = ("decoys", "improved", "kkt", "influence")

#: Solver of the realisation's fixed-count programs when none is named: one solver, so a
#: count vector it cannot solve is skipped instead of compiling the program for a
#: fallback (seconds on spambase: another placement of the same count is not worth it).
REALISE_SOLVER = "CLARABEL"

#: Hand the solvers the pricing and fixed-count programs without the explicit zeros of
#: their matrices (solvers.solve ``drop_zeros``; bench/reachable.py ``--before`` turns it
#: off to measure what it saves).
DROP_ZEROS = True

#: The KKT seed's small settings: 2 eps+ splits over the 4 best decoys of the label-flip
#: grid below.  The flip fraction 0.05 (where Koh et al.'s grid starts; the full KKT
#: attack's best decoy on mnist17 is q 0.05, r 5) and the fourth decoy: mnist17 2.33% ->
#: 3.00% with two BLAS threads (2.00% -> 2.33% with one) against fractions 0.1, 0.3, 0.5
#: and 3 decoys; spambase 13.14% and adult 19.07% unchanged (docs/reachable.md).
SEED_KKT = {"grid": 2, "max_decoys": 4, "quantiles": (0.05, 0.1, 0.3, 0.5),
            "repeats": (2, 5, 8)}

#: The KKT attack of the compress-and-extend rounds (step 6): flip fractions 0.1, 0.3, 0.5
#: and a larger grid (3 eps+ splits, 5 decoys).  Measured on mnist17 with 16 rounds: 3.00%
#: with one BLAS thread and with two; with the seed's grid of then (2 splits, 3 decoys)
#: 2.33% and 3.00% (the rounds' walk follows round-off; docs/reachable-history.md, Compress and
#: extend).  On a second machine: 2.67%.
RECYCLE_KKT = {**SEED_KKT, "quantiles": (0.1, 0.3, 0.5), "grid": 3, "max_decoys": 5}

#: Solvers of the chosen target's exact price, in order, when none is named.
CERTIFY_SOLVERS = ("MOSEK", "CLARABEL", "SCS")
#: The same for the model a seed poison induces (step 5b, keep_polished): Clarabel, then ECOS
#: (it certified two of adult's seed models Clarabel left optimal_inaccurate), never SCS
#: (on adult's KKT seed model SCS failed, like Clarabel, after 130 s)
SEED_CERTIFY_SOLVERS = ("MOSEK", "CLARABEL", "ECOS")

#: The top-up (``topup``) also tries up to this many of the relocation's accepted
#: realisations that leave budget over and score within :data:`TOPUP_WITHIN` of the chosen
#: result: a realisation of fewer points can end higher once its leftover is spent.
#: Offline on adult, a refused chain poison's model realised with 295 points at 21.11%
#: ended at 21.47% after its top-up (3 copies and 17 points at a new location), above
#: the 21.20% of an accepted 315-point poison that has nothing left over
#: (docs/reachable-history.md, *adult: the refused chain poisons' models realised*).
TOPUP_TRIES = 3
#: ... and this far below it at most (a fraction of the evaluation set: 0.5 point).
TOPUP_WITHIN = 0.005

#: Passes of the climb of the top-up's new point over its neighbouring locations
#: (:meth:`ReachableTargetAttack._placed_climb`).  Offline on adult, after the top-up of
#: two realisations of refused chain poisons' models: 21.47% to 21.51% and 21.53% in two
#: passes (about 50 locations each, 57 s), and 21.40% to 21.44% and 21.47%
#: (docs/reachable-history.md, *adult: the top-up's new point climbed*).
PLACED_CLIMB = 4

#: Room for the top-up (``topup``) when the chosen result leaves (almost) nothing over:
#: fractions of the budget taken off one of its points -- the smaller poison, when step
#: 5b's rule accepts it, an accepted target whose leftover the top-up spends (often at a
#: new point).  Offline on adult: 21.27% (315 points on two, certified 315) to **21.38%**
#: (10 copies off one point, 10 points at a new one; the whole poison accepted too), and
#: the problem file's 20.64% poison to **20.82%** (30 copies off its heaviest point;
#: measured with 10-40 copies off each point: docs/reachable-history.md, *adult: kicks
#: that adapt, and block moves at the plateau*).
ROOM = (1 / 32, 1 / 10)

#: Screening tolerances of the search's solves (the chosen target is priced exactly).
SCREEN_OPTIONS = {"CLARABEL": {"tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "tol_feas": 1e-7}}


@dataclass
class PricedTarget:
    """A candidate target and its price: ``price`` is the minimum-poison program's optimum
    (screening tolerance; ``inf``: unattainable or unpriceable), ``certified`` the exact
    certified minimum when it was computed, ``t`` its position on the segment from the
    clean model through the seed model ``source``."""

    model: object = field(repr=False)
    source: str
    t: float
    price: float
    eval_error: float
    test_error: float
    certified: float | None = None
    #: the program's fractional poison at the screening solve (PoisonSet or None)
    fractional: object = field(default=None, repr=False)
    #: min over the defenses of the evaluation error when the fractional poison is
    #: trained on under each defense (screening tolerance; None: not screened)
    defended: float | None = None
    #: the price's gradient in (w, b) at the screening solve (:meth:`_Pricer._gradient`)
    grad: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"source": self.source, "t": self.t, "price": self.price,
                "eval_error": self.eval_error, "test_error": self.test_error,
                "certified": self.certified, "defended": self.defended}


@dataclass
class ReachableResult:
    """What :class:`ReachableTargetAttack` found (its ``result_``)."""

    poisons: PoisonSet
    target: PricedTarget
    realisation: object                # MinPoisonAttackResult of the chosen target
    evaluation: object                 # defenses.Evaluation, exact retraining
    clean_test_error: float
    budget: int
    candidates: list
    realised: list
    seeds: dict
    status: str
    seconds: float = 0.0
    #: the search stopped at ``max_priced`` solves or ``search_seconds``
    search_exhausted: bool = False
    #: what ``target_lower_bound`` proves, naming the feasible set it covers
    #: (:func:`~convexpoison.certificates.lp.lp_statement`)
    statement: str = ""
    #: copies the leftover top-up added per realised location (``topup``; None: off)
    topup: list | None = None
    #: step 6 (``recycle_rounds``): per round the points of the realised target, the KKT
    #: points on top and the minimum over the defenses; ``chosen`` when it won (None: off)
    recycle: dict | None = None
    #: step 5c (``polish_rounds``): per round the score it started from, the polished
    #: poison's minimum over the defenses (test set), the targets priced from its model
    #: and the best score after it; ``chosen`` when the round changed the result (None: off)
    polish: list | None = None
    #: a Ctrl-C stopped the fit (``status`` 'interrupted'; ``realisation_status`` says
    #: whether the result's target was accepted)
    interrupted: bool = False
    #: the defenses whose kept clean points the targets were priced against (None: all of
    #: ``Dc``) and how many points that is
    clean_kept_by: list | None = None
    n_clean_priced: int = 0
    #: step 5e (``relocate_trials``): the score the relocation started from, the gathered
    #: poison's and the one it ended at, the poisons it judged, the moves it kept and
    #: those step 5b's rule refused, its seconds, the best score after its model's
    #: search, and ``chosen`` when it changed the result (None: off)
    relocation: dict | None = None

    def to_dict(self) -> dict:
        ev, rz = self.evaluation, self.realisation
        n = float(self.poisons.n_poisons)
        return {"status": self.status, "clean_test_error": self.clean_test_error,
                "poisoned_test_error": ev.poisoned_test_error,
                "no_defense_test_error": ev.no_defense_test_error,
                "per_defense": dict(ev.per_defense), "min_over_defenses": ev.min_over_defenses,
                "removed": {k: dict(v) for k, v in ev.removed.items()},
                "n_poisons": n, "budget": self.budget, "leftover": self.budget - n,
                # the realisation of the target (what the acceptance rule and
                # max_loss_difference are about) and the top-up's copies on top of it
                "target_poisons": float(rz.poisons.n_poisons),
                "realised_by": _realised_by(rz.poisons),
                "topup_copies": None if self.topup is None else float(sum(self.topup)),
                "recycle": self.recycle, "polish": self.polish,
                "relocation": self.relocation,
                "target_test_error": self.target.test_error,
                "target_eval_error": self.target.eval_error,
                "target_lower_bound": self.target.certified,
                "target_lower_bound_statement": self.statement,
                "target_lp_value": float(rz.program.value),
                "target_source": self.target.source, "target_t": self.target.t,
                "max_loss_difference": rz.max_loss_difference,
                "distance_to_target": rz.distance_to_target,
                "realisation_status": rz.status,
                "candidates_priced": len(self.candidates),
                "candidates_within_budget": sum(c.price <= self.budget for c in self.candidates),
                "candidates_realised": len(self.realised),
                "search_exhausted": self.search_exhausted, "interrupted": self.interrupted,
                "clean_kept_by": self.clean_kept_by, "n_clean_priced": self.n_clean_priced,
                "seeds": dict(self.seeds), "seconds": self.seconds}


def _clean_kept(kept_by, Xc, yc, p, D):
    """The clean points the targets are priced against: all of ``Dc`` (``kept_by`` None or
    empty), else those that every defense named, fitted on ``Dc`` alone, keeps.

    Each defense removes a fraction ``p`` of every class whatever the poison (on
    fine-foods the k-NN and L2 defenses about 200 clean points each), so the model it
    trains is fitted on about these points plus the poison.  A target priced against
    them is one the poison induces under that defense, not on ``Dc``: measured on
    fine-foods (the k-NN and L2 defenses, 3792 of 4000 points), the chosen target's
    fractional poison scored 44.5-44.7% min over the defenses where the problem file's,
    priced against ``Dc``, scored 42.6% (docs/reachable-history.md, *fine-foods: runs of
    at least two*)."""
    from ..defenses import make_defense

    keep = np.ones(len(yc), dtype=bool)
    for name in kept_by or ():
        keep &= make_defense(name, p=p, defender=D).fit(Xc, yc).keep_
    return keep


def _model_key(model):
    """A linear model's parameters as a dictionary key (the same target met twice)."""
    return np.asarray(model.w, dtype=float).tobytes(), float(model.b)


def _realised_by(ps) -> str:
    """What produced a realisation: the minimum-poison attack, or a seed attack's own
    poison (step 5b, ``seed_poisons``)."""
    return ps.meta.get("realisation", "minimum-poison attack")


def _temperature(value):
    """``relocate_temperature`` checked: ``(first, last)``, ``first >= last > 0``."""
    try:
        first, last = (float(v) for v in value)
    except (TypeError, ValueError):
        first = last = float("nan")
    if not 0 < last <= first < float("inf"):
        raise InputError(f"relocate_temperature: {value!r} is not (first, last) with "
                         "first >= last > 0")
    return first, last


def _exact_model(P, X, y, D, random_state):
    """The model exact training on ``(X, y) u P`` returns (what a realisation is judged by)."""
    Xa, ya, wa, _ = P.with_clean(X, y)
    return D.train(Xa, ya, sample_weight=wa, tol=1e-8, random_state=random_state)


class _Judge:
    """A poison trained under every defense at the screening tolerance (steps 4-6): called
    on a poison, ``(evaluation, its minimum over the defenses, the undefended error)`` on
    the attacker's evaluation set.  Picklable: the second process judges with its own copy
    (:mod:`.scout`), its k-NN table of ``Dc`` built there."""

    def __init__(self, data, defenses, p, defender, clean, tol, use):
        self.data = data                       # a DataFields (what a second process needs)
        self.defenses, self.p, self.defender, self.clean = defenses, p, defender, clean
        self.tol, self.use = tol, use
        self._knn = None
        self._last = None       # (poison, result) of the last call: a poison judged twice

    @property
    def knn(self):
        """The k-NN defense's neighbours in ``Dc`` (built at the first use; None without it)."""
        if self._knn is None and "knn" in self.defenses:
            from ..defenses import CleanNeighbours

            self._knn = CleanNeighbours(self.data.X_train, self.data.y_train, k=5)
        return self._knn

    def __getstate__(self):
        return {**self.__dict__, "_knn": None, "_last": None}

    def __call__(self, ps, warm=None):
        """``warm``: a model whose duals seed the undefended training (the same result;
        :func:`~convexpoison.defenses.evaluate`'s ``warm_start``)."""
        from ..defenses import evaluate

        if self._last is not None and self._last[0] is ps:
            return self._last[1]
        test = self.use == "test"
        d = self.data
        ev = evaluate(d, ps, defenses=self.defenses, p=self.p, defender=self.defender,
                      X_eval=None if test else d.X_train, y_eval=None if test else d.y_train,
                      clean_model=self.clean, clean_neighbours=self.knn, tol=self.tol,
                      warm_start=warm)
        out = ((ev, ev.min_over_defenses, ev.no_defense_test_error) if test else
               (ev, ev.eval_min_over_defenses, ev.eval_no_defense))
        self.remember(ps, out)
        return out

    def remember(self, ps, out):
        """``out`` is what a call on ``ps`` (this very object) returns next: the text
        rounding's chosen draw (:meth:`ReachableTargetAttack._rounded`) is not judged
        twice."""
        self._last = (ps, out)


def _poisons_of(attack, data):
    """A seed attack's poison on ``data`` (a job of :class:`~convexpoison.parallel.Beside`:
    a module-level function, so that a second process can run it)."""
    return fit_part(attack, data).poisons_


class _Exhausted(Exception):
    """The search reached ``max_priced`` screening solves or ``search_seconds``."""


def _own_realisation(P, model, lp, certified, realisation, status):
    """A poison ``P`` as the realisation of the model it induces, ``model`` (exact training
    on ``Dc u P``: max loss difference 0), certified by ``lp`` at ``certified`` points:
    ``(poison, result)``."""
    from .minpoison import MinPoisonAttackResult

    ps = PoisonSet(P.X, P.y, P.weight, meta={**P.meta, "realisation": realisation})
    return ps, MinPoisonAttackResult(ps, model, lp, certified, 0.0, 0.0, 0.0,
                                     float("nan"), status, [{"n_poisons": float(P.n_poisons)}])


class _Pricer:
    """The minimum-poison program over the defenses' feasible set, built once; a target
    is a re-solve (DPP), with the loss cone pointed at the target first."""

    def __init__(self, feasible, X, y, defender, solver):
        from ..programs.minpoison import MinimumPoisonProgram

        self.feasible, self.X, self.y, self.solver = feasible, X, y, solver
        self.loss = feasible["loss"] if "loss" in feasible.names else None
        from .. import solvers

        # drop_zeros: the clean multipliers' columns (free * delta under the dense G) keep
        # every entry of G in the solver's matrix, zero or not; without the zeros a solve
        # is 10x (spambase) to 25x (mnist17) faster (solvers._solve_sparse).  Above
        # solvers.DPP_MAX_D (sparse text) no compiled DPP form (solvers.dpp_options)
        self.program = MinimumPoisonProgram(
            feasible, None, integer="relax", solver=solver, defender=defender,
            solver_options={"drop_zeros": DROP_ZEROS, **solvers.dpp_options(X.shape[1])}
        ).fit(X, y)
        self.defender = defender
        self.solved = _Solved(self.program)
        self.count = self.failed = 0
        self.last = self.grad = None
        #: screening results by target (w, b): (value, fractional poison, gradient)
        self.memo = {}
        #: screening results the second process computed ahead (:mod:`.scout`), by target:
        #: a screen takes them instead of solving (a Scout, polled before each solve)
        self.ahead, self.scout = {}, None
        #: the search's cap on screening solves and its deadline (time.perf_counter();
        #: None: none); reaching either raises _Exhausted
        self.cap = self.deadline = None

    def aim(self, model):
        """Point the loss cone at ``model`` (its threshold: the quantile of its clean losses)."""
        if self.loss is not None:
            self.loss.set_model(model)
            self.loss.fit(self.X, self.y)

    def screen(self, model) -> float:
        """The program's optimum at the screening tolerance (``inf``: infeasible or failed)."""
        key = _model_key(model)
        if key in self.memo:
            # a search run again (step 3b) meets the same models: priced once
            value, self.last, self.grad = self.memo[key]
            return value
        if (self.cap is not None and self.count >= self.cap) or (
                self.deadline is not None and time.perf_counter() >= self.deadline):
            raise _Exhausted
        self.count += 1
        if self.scout is not None and key not in self.ahead:
            self.scout.poll()
        if key in self.ahead:
            entry = self.ahead.pop(key)          # solved by the scout: the same solve
            self.scout.used += 1
        else:
            entry = self._solve(model)
        self.memo[key] = entry
        value, self.last, self.grad = entry
        if not np.isfinite(value):
            self.failed += 1
        return value

    def _solve(self, model):
        """One screening solve at ``model``: ``(value, fractional poison, gradient)``."""
        from .. import solvers

        self.aim(model)
        prog = self.program
        prog.set_target(model)
        name = self.solver or solvers.default_solver(prog.kind_)
        try:
            value = float(solvers.solve(prog.problem, prog.kind_, solver=name, fallback=False,
                                        **prog.solver_options,
                                        **SCREEN_OPTIONS.get(name.upper(), {})).value)
        except SolverFailure:
            # infeasible (unattainable) or not solved at the screening tolerance: left out
            # of the search (a fallback solver would recompile the program: slower than
            # the few candidates it could save)
            return float("inf"), None, None
        return value, self._fractional(), self._gradient()

    def compile_ahead(self, model, realise_solver=None, near=False):
        """Compile the screening program now, at ``model`` (its first screen then only loads
        the target), and with ``realise_solver`` the realisation's fixed-count program for
        the usual slot layout (:data:`~convexpoison.attacks.minpoison.USUAL_SLOTS`) -- while
        the seed attacks finish in the second process (``workers``).  Measured on mnist17:
        the fixed-count program compiles in 1.5 s here and in 4 s where the realisation
        needed it (the same program: cvxpy's compile is sparse-matrix products with 50-80
        million rows, slower in a process that has worked for a minute).  A program
        recompiled at every solve (``ignore_dpp``) is not compiled ahead."""
        from .. import solvers
        from .minpoison import USUAL_SLOTS, fixed_count_program

        prog = self.program
        if prog.solver_options.get("ignore_dpp"):
            return
        self.aim(model)
        prog.set_target(model)
        solvers.compile_ahead(prog.problem, prog.kind_,
                              solver=self.solver or solvers.default_solver(prog.kind_),
                              **prog.solver_options)
        if realise_solver is not None:
            # on self.solved: the program the realisation uses (_Realisation._program)
            # (and the program nearest the polished poison: step 5d, ``near``)
            fixed_count_program(self.solved, USUAL_SLOTS, realise_solver).compile_ahead(near)

    def _gradient(self):
        """The price's gradient in ``theta = (w, b)`` at the last solve, from its duals
        (envelope theorem): the target enters the program's Lagrangian through the KKT
        row's regulariser term ``W C_R theta`` (dual ``lambda``: ``W C_R lambda``) and the
        poison margin conditions ``y (w.z + b gamma) <= gamma`` (dual ``mu``:
        ``mu y (z, gamma)``; the zero-gradient points' ``>=`` conditions with the opposite
        sign).  The clean margin partition and the loss cone also move with ``theta``;
        they are left out (piecewise constant / second order): a local direction for the
        search, never a bound.  None when a dual is missing."""
        prog = self.program
        lam = prog._kkt.dual_value
        if lam is None:
            return None
        V = prog._vars
        total = prog.n_weight_ + sum(float(v.value or 0.0) for k in ("g", "e")
                                     for v in V[k].values())
        lam = np.asarray(lam, dtype=float).ravel()
        # the row W * reg_row(theta) (average convention; reg_row alone under C on the
        # sum) is linear and diagonal in theta: its derivative against lambda is reg_row(lambda)
        g = (total if prog.terms_.average else 1.0) * prog.reg_row(lam[:-1], lam[-1])
        pairs = [("z", "g", 1.0), ("u", "e", -1.0)]
        for lab in (1, -1):
            for zk, gk, sign in pairs:
                if lab not in V[zk]:
                    continue
                z, gam = V[zk][lab], V[gk][lab]
                for c in self._margin_constraints():
                    if {id(z), id(gam)} == {id(v) for v in c.variables()}:
                        mu = c.dual_value
                        if mu is None or z.value is None:
                            return None
                        g = g + float(mu) * sign * lab * np.append(z.value, gam.value)
        return g

    def _margin_constraints(self):
        """The poison margin conditions of the program (the constraints holding ``w_p``
        and exactly two variables: a point's perspective and its weight)."""
        prob = self.program.problem
        if getattr(self, "_margins_of", None) is not prob:
            self._margins = [c for c in prob.constraints
                             if len(c.variables()) == 2
                             and any(p.name() == "w_p" for p in c.parameters())]
            self._margins_of = prob
        return self._margins

    def _fractional(self):
        """The screening solve's fractional poison: per label the gradient-carrying point
        ``z / gamma`` and the zero-gradient one ``u / eta`` with their weights (what
        :meth:`MinPoisonResult.poison_set` gives for an exact solve)."""
        prog = self.program
        V = prog._vars
        rows, labels, weights = [], [], []
        for lab in (1, -1):
            for zk, gk in (("z", "g"), ("u", "e")):
                if lab not in V[gk] or V[gk][lab].value is None:
                    continue
                wt = max(float(V[gk][lab].value), 0.0)
                x = prog._point(V[zk][lab].value, wt)
                if x is not None:
                    rows.append(x), labels.append(lab), weights.append(wt)
        if not rows:
            return None
        return PoisonSet(np.array(rows), np.array(labels), np.array(weights),
                         meta={"attack": "min-poison (fractional, screening)"})

    def certify(self, model, solvers=CERTIFY_SOLVERS):
        """The exact solve (the package's tolerances): its certified minimum
        (``MinPoisonResult``).  With no solver named, Clarabel and then SCS: ECOS, the
        package's next fallback, stops at ``optimal_inaccurate`` where Clarabel does on
        this program (measured on spambase's chosen target), and compiling it for nothing
        costs 2-4 s (MOSEK first when licensed, as everywhere).  Clarabel at
        ``optimal_inaccurate`` is first tried again with refined linear solves
        (``solvers.CLARABEL_REFINED``), which finished spambase's chosen target in 0.07 s.
        ``solvers``: another order (the seed poisons' models: Clarabel, then ECOS, no SCS:
        on adult it failed after 130 s)."""
        self.aim(model)
        # the package's fall-back (solvers.solve) over this order instead of its own
        self.program.solver = self.solver if self.solver is not None else solvers
        try:
            self.solved.lp = self.program.solve(model)
        finally:
            self.program.solver = self.solver
        return self.solved.lp


class _Realisation(MinimumPoisoning):
    """The minimum-poison attack on the pricer's program, already built, compiled and
    solved for the target (:meth:`_Pricer.certify`): realising a target costs no new
    program and no second exact solve."""

    pricer = None
    #: a poison whose points the realisation's points should lie nearest (a PoisonSet)
    anchor = None
    #: with ``anchor``: the realisation's score under the defenses (a function of the
    #: poison, higher better); every count vector from the certified minimum to certified
    #: + max_extra is then retrained, and the highest-scoring one within eps_close is kept
    score = None

    #: the second process's :class:`~.scout.Scout` (``workers``): count vectors solved
    #: ahead there, the realisation's own answers (None: every solve here)
    scout = None

    def _solves(self, kkt, slots, vectors):
        """As the attack's, with each count vector's solve taken from the scout where it
        made it ahead (:meth:`~.scout.Scout.count_vectors`)."""
        from .scout import counts_key

        scout = self.scout
        if scout is None:
            yield from super()._solves(kkt, slots, vectors)
            return
        for counts in scout.count_vectors(self.target, slots, kkt.solver, vectors):
            key = counts_key(self.target, slots, counts)
            if key not in scout.counts:
                scout.poll()
            if key in scout.counts:
                scout.used += 1
                yield counts, scout.counts.pop(key)
            else:
                yield from super()._solves(kkt, slots, [counts])

    def _rank(self, max_loss, ps):
        if self.score is None:
            return super()._rank(max_loss, ps)
        return (0, -self.score(ps)) if max_loss <= self.eps_close_ else (1, max_loss)

    def _first_close(self):
        return self.score is None

    def _lowest_total(self, lp):
        # placed near an anchor (step 5d), the realisation is meant to induce the very
        # model: fewer points than its certified minimum cannot (mnist17: two of the five
        # count vectors skipped, 1-1.5 s each with the near solve, retraining and max loss)
        return int(lp.certified) if self.anchor is not None else 0

    def _program(self):
        return self.pricer.solved if self.pricer is not None else super()._program()

    def _anchors(self, slots):
        """Per slot ``(label, role)``: the mean of the anchor poison's points of that
        label on that side of the target's margin (weighted by their copies), or None
        where it has none."""
        P = self.anchor
        if P is None or not P.n_poisons > 0:
            return None
        m = P.y * self.target.decision_function(P.X)
        out = []
        for lab, role in slots:
            sel = (P.y == lab) & ((m <= 1) if role == "grad" else (m > 1))
            out.append(np.average(P.X[sel], axis=0, weights=P.weight[sel]) if sel.any()
                       else None)
        return out


class _Solved:
    """The pricer's program as :class:`MinimumPoisoning` uses it: ``fit`` is a no-op (same
    clean data) and ``solve`` returns the exact solution the pricer just computed for this
    target; everything else is the program's own.  One per pricer, so what the attack
    caches on it (the fixed-count programs per slot layout) is kept across targets."""

    def __init__(self, program):
        self.program = program
        self.lp = None

    def fit(self, X, y, sample_weight=None):
        return self

    def solve(self, target, delta=0.0):
        # the exact solution at the target; a neighbourhood bound (delta > 0) is a solve of
        # its own
        return self.lp if delta == 0 else self.program.solve(target, delta=delta)

    def __getattr__(self, name):
        return getattr(self.program, name)


def _spread_up(rng, copies, fraction, min_run=1):
    """Which of ``copies`` copies of a point round each coordinate up: every copy up with
    probability ``fraction`` (as independent rounding), but the number rounded up per
    coordinate is ``copies * fraction`` rounded to a neighbouring integer -- the copies'
    sum, what enters the KKT condition, within 1 of ``copies`` x the relaxed point per
    coordinate (independent rounding: a binomial spread of ``sqrt(copies f (1 - f))``).

    The copies rounded up form a cyclic run, and the coordinates' runs (in a random order,
    from a random copy) follow one another round the copies.  Copies next to each other
    then differ only in the coordinates whose run starts or ends between them -- each copy
    has close neighbours among the others, which the k-NN defense (Koh et al. 2021,
    section 2) then does not remove -- and every copy rounds up the same number of
    coordinates (to within one), so none is farther than the others from its class's
    centroid (the L2 defense).  Measured on fine-foods (copies with about 260 rounded
    coordinates, 91 points): a random subset of copies per coordinate, the same marginals,
    lost 19 points to the k-NN defense; runs from independent random copies lost none,
    and 5-8 to the L2 defense; these runs 3 (docs/reachable-history.md, *fine-foods: the
    copies in runs*).

    ``min_run``: a coordinate with ``copies * fraction < min_run`` is rounded up in a run
    of ``min_run`` copies with probability ``copies * fraction / min_run``, else in none
    (still unbiased; its sum within ``min_run`` of the relaxed one).  Every rounded-up
    coordinate is then shared by at least ``min_run`` copies: a copy has no coordinate of
    its own, which the SVD defense, fitted with the poison, sees as a residual out of its
    top singular directions.  Measured on fine-foods (102 copies, pricing against the
    clean points the k-NN and L2 defenses keep): runs of one lost 19-25 points to the SVD
    defense, runs of at least two none (docs/reachable-history.md, *fine-foods: runs of
    at least two*)."""
    want = copies * fraction
    n_up = np.floor(want) + (rng.random(fraction.size) < want - np.floor(want))
    run = min(int(min_run), copies)
    if run > 1:
        rare = want < run
        n_up[rare] = run * (rng.random(int(rare.sum())) < want[rare] / run)
    order = rng.permutation(fraction.size)
    start = np.empty(fraction.size, dtype=np.int64)
    start[order] = (rng.integers(copies) + np.cumsum(n_up[order]) - n_up[order]) % copies
    place = (np.arange(copies)[:, None] - start) % copies      # position in each run
    return place < n_up


def _best_within(priced, limit, default=float("nan")):
    """The highest evaluation error among the priced targets within ``limit`` points."""
    return max((c.eval_error for c in priced if c.price <= limit), default=default)


def _blend(clean, model, t):
    """``theta_c + t (theta - theta_c)`` as a linear model."""
    from ..training import LinearModel

    w = clean.w + t * (np.asarray(model.w) - clean.w)
    b = float(clean.b) + t * (float(model.b) - float(clean.b))
    return LinearModel(w, b, model="svm", reg=clean.reg, bias_regularized=clean.bias_regularized,
                       defender=clean.defender)


def _theta_model(clean, theta):
    """The linear model ``theta = (w, b)`` with the clean model's training settings."""
    from ..training import LinearModel

    return LinearModel(np.asarray(theta[:-1], dtype=float), float(theta[-1]), model="svm",
                       reg=clean.reg, bias_regularized=clean.bias_regularized,
                       defender=clean.defender)


def _segment(pricer, clean, seed, guess, limit, t_max, steps, add, floor=None):
    """Price ``theta(t) = theta_c + t (theta_k - theta_c)`` for the largest ``t <= t_max``
    whose price is at most ``limit`` (``seed`` is ``theta_k``, priced at ``t = 1``).

    The price grows along the segment away from ``theta_c`` (price 0), about linearly,
    so the search starts at ``guess`` (``limit / price`` at ``t = 1``), brackets the
    boundary by doubling (a cheap point) or halving (an expensive one, at most 6
    times), then takes ``steps`` bisection steps.

    ``floor`` (``prune``): a callable giving the best evaluation error within the
    budget so far, and ``(Xe, ye)``.  A point whose evaluation error (a matrix product)
    is at most the floor is not priced but taken as fitting: fitting or not, the
    segment's boundary target below it has no more error than the best already found
    (the error falls toward ``theta_c``), so only the part of the segment that could
    beat it is priced.  Measured: the climb's segments toward far decoys on mnist17
    halve ``t`` down to 4e-5 at the clean error, the price stuck at 150-250 (a tiny
    move off a trained model changes its margin partition)."""
    model, source = seed.model, seed.source

    def ok(t):
        if t == 1.0:
            return seed.price <= limit
        m = _blend(clean, model, t)
        if floor is not None and m.error(*floor[1]) <= floor[0]():
            return True
        return add(m, f"{source} t={t:.3g}", t, pricer.screen(m)).price <= limit

    t = float(guess)
    if ok(t):
        lo, hi = t, None
        while hi is None and t < t_max:
            t = min(2.0 * t, t_max)
            if ok(t):
                lo = t
            else:
                hi = t
        if hi is None:
            return
    else:
        lo, hi = None, t
        for _ in range(6):
            t = hi / 2.0
            if ok(t):
                lo = t
                break
            hi = t
        if lo is None:
            return
    for _ in range(steps):
        t = 0.5 * (lo + hi)
        if ok(t):
            lo = t
        else:
            hi = t


def _explore(unit, pricer, clean, limit, t_max, steps, add, floor):
    """One unit of the search (:meth:`ReachableTargetAttack._search`; the scout runs the
    same units ahead, :mod:`.scout`):

    * ``("price", model, source)``: the model priced where it is;
    * ``("segment", priced, guess)``: the segment search from a priced model
      (:func:`_segment`);
    * ``("step", model, name, zero_ok)``: the model priced, then searched along its
      segment from ``guess = limit / price`` (a price of 0: from ``t_max`` with
      ``zero_ok``, else not searched)."""
    kind = unit[0]
    if kind == "price":
        _, model, source = unit
        add(model, source, 1.0, pricer.screen(model))
    elif kind == "segment":
        _, c, guess = unit
        _segment(pricer, clean, c, guess, limit, t_max, steps, add, floor)
    else:
        _, model, name, zero_ok = unit
        c = add(model, name, 1.0, pricer.screen(model))
        if np.isfinite(c.price) and (c.price > 0 or zero_ok):
            guess = min(t_max, limit / c.price) if c.price > 0 else t_max
            _segment(pricer, clean, c, guess, limit, t_max, steps, add, floor)


class _Choice:
    """Steps 4-5b of one fit: candidates screened under the defenses, realised and judged,
    the best kept.  A :meth:`judge` result is ``((accepted, score, undefended error),
    target, poison, realisation)``; two are compared by that first triple
    (:meth:`better`).  ``realised`` records every realisation judged (the result's list),
    ``latest`` the best judged so far (what a Ctrl-C keeps)."""

    def __init__(self, attack, data, pricer, budget, D, defended, add, n_screen, n_realise):
        self.attack, self.data, self.pricer, self.budget, self.D = attack, data, pricer, budget, D
        self.defended, self.add = defended, add
        self.n_screen, self.n_realise = n_screen, n_realise
        self.realised = []
        self.latest = None

    def judge(self, cand, out=None, scored=None):
        """``out``: ``(poison, realisation)`` when already realised; ``scored``:
        ``defended(poison)`` when already computed."""
        if out is None:
            out = self.attack._realise(self.data, self.pricer, cand, self.budget, self.D,
                                       judge=self.defended)
        if out is None:
            return None
        ps, rz = out
        ev, score, undefended = self.defended(ps) if scored is None else scored
        self.realised.append({"target": cand.to_dict(), "n_poisons": float(ps.n_poisons),
                              "realised_by": _realised_by(ps), "status": rz.status,
                              "max_loss_difference": rz.max_loss_difference,
                              "score": score, "per_defense": dict(ev.per_defense)})
        self.attack._say(f"reachable: {cand.source} (t {cand.t:.3g}): {ps.n_poisons:g} points "
                         f"({_realised_by(ps)}; certified {cand.certified:g}), {rz.status}, "
                         f"min over defenses {score:.4f}")
        # an accepted target is one the poison induces (eps_close); a realisation that
        # only comes near its target is kept only when no target was accepted
        found = (rz.status == "eps_close", score, undefended), cand, ps, rz
        self.latest = self.better(self.latest, found)
        return found

    @staticmethod
    def better(best, found):
        """The higher of two :meth:`judge` results by (accepted, score, undefended
        error); either may be None."""
        return found if found is not None and (best is None or found[0] > best[0]) \
            else best

    def choose(self, within, best):
        """Steps 4-5 on the candidates ``within`` the budget: the better of ``best``
        (None or a :meth:`judge` result) and their best realisation."""
        pricer, defended = self.pricer, self.defended
        # 4. screen under the defenses: the defenses remove clean points (spambase:
        # the L2 defense 189), which can pull the induced model back toward theta_c,
        # so the undefended error is a poor ranking.  The n_screen candidates of
        # highest evaluation error are judged with their fractional poison (the
        # screening solve's two points per label, weights as copies) trained under
        # every defense -- the minimum over the defenses, as the KKT attack chooses
        # -- and realised in that order.
        within.sort(key=lambda c: (-c.eval_error, c.price))
        todo = [c for c in within[:self.n_screen]
                if c.fractional is not None and c.defended is None]
        judged = (map(defended, [c.fractional for c in todo]) if pricer.scout is None
                  else pricer.scout.judged([c.fractional for c in todo], defended))
        for cand, (_, score, _) in zip(todo, list(judged)):
            cand.defended = score
        within.sort(key=lambda c: (c.defended is None, -(c.defended or 0.0),
                                   -c.eval_error, c.price))
        if self.n_screen:
            self.attack._say("reachable: screened under the defenses: " + ", ".join(
                f"{c.source} {c.defended:.4f}" for c in within if c.defended is not None))
        # 5. realise the best, judge under the defenses
        tried, seen = 0, set()
        for cand in within:
            if tried >= self.n_realise:
                break
            key = round(cand.eval_error, 6), cand.source.split(" ")[0]
            if key in seen:
                continue
            if best is not None and best[0][0] and (cand.defended is None
                                                    or cand.defended <= best[0][1]):
                # an accepted target scores at least what this candidate's fractional
                # poison screened at under the defenses (or the candidate was not
                # screened: lower evaluation error than every screened one): realising
                # it (10-40 s on spambase) is unlikely to do better; the rest rank lower
                break
            seen.add(key)
            tried += 1
            found = self.judge(cand)
            if found is not None and not found[0][0] and found[3].model is not None:
                best = self.missed(cand, found, best)
            best = self.better(best, found)
        return best

    def missed(self, cand, found, best, again=True):
        """A realisation of ``cand`` that misses it (``found``, a :meth:`judge` result) still
        induces a model exactly, the model its retraining returned -- a trained model,
        priced as ``cand``'s snapped target.  Two chances for it (the better of ``best`` and
        what they give is returned):

        * its poison is that model's realisation (max loss difference 0) when step 5b's
          rule accepts it: inside the feasible set, ``n_poisons <= certified + max_extra``
          (the certificate solved only when the poison would beat ``best``);
        * **snap** (``snap``; ``again``: not for a snapped target's own miss): the
          snapped target is realised in turn.  Its margin support vectors carry free
          multipliers that absorb the rounding to integer copies; a blended target often
          has none, and its integer realisation then misses it.

        Measured on adult (docs/reachable-history.md, *adult: annealing and trimmed
        poisons*): the integer realisations of an annealed poison's model miss it by
        0.014-0.04 in max loss difference, at 21.1-21.2% under the defenses; their own
        models mostly need fewer points, or put a point outside the loss cone."""
        if not (self.attack.seed_poisons or self.attack.snap):
            return best                         # (neither chance taken: not priced)
        m = found[3].model
        snapped = self.add(m, f"{cand.source} snapped", cand.t, self.pricer.screen(m))
        best = self.better(best, self.own(cand, found, best))
        # its price is at most the size of the poison that induced it (<= budget)
        if again and self.attack.snap and snapped.price <= self.budget:
            out = self.judge(snapped)
            if out is not None and not out[0][0] and out[3].model is not None:
                best = self.missed(snapped, out, best, again=False)
            best = self.better(best, out)
        return best

    def own(self, cand, found, best):
        """:meth:`missed`'s first chance: ``found``'s poison as the realisation of the model
        it induces (step 5b's rule, :meth:`ReachableTargetAttack._seed_realisation`): a
        :meth:`judge` result, or None."""
        ps, rz = found[2], found[3]
        if not self.attack.seed_poisons:
            return None
        # (the judge keeps its last call, this poison's: not retrained)
        out = self.attack._seed_realisation(self.pricer, f"{cand.source} realisation", ps,
                                            self.budget, self.D, self.add,
                                            self.worth(best), rz.model)
        return None if out is None else self.judge(*out)

    def worth(self, best, known=None):
        """The ``worth`` of :meth:`ReachableTargetAttack._seed_realisation`: a poison's
        evaluation under the defenses (``known``, or judged now), or None when, accepted,
        it would be judged (True, score, undefended) no higher than ``best``, an accepted
        result: `better` would keep the result, and the exact certificate (about 1 s on
        spambase, up to 30 s on adult) is not computed."""
        def worth(P):
            ev = self.defended(P) if known is None else known
            keep = not (best is not None and best[0][0]) or (True, *ev[1:]) > best[0]
            return ev if keep else None
        return worth

    def seed_realisations(self, names, best, scored=None):
        """Step 5b: the named seed poisons, other realisations of targets the search
        priced (the model each induces), judged under the defenses like the rest.
        ``scored``: ``{name: defended(poison)}`` already computed."""
        attack, pricer = self.attack, self.pricer
        scored, exact = dict(scored or {}), {}
        if pricer.scout is not None:
            # their exact models, screening solves and judgements made ahead in the
            # second process (the same as made here)
            names = pricer.scout.seeds(names, attack._seed_poisons, attack.random_state,
                                       exact, scored)
        for seed in names:
            out = attack._seed_realisation(pricer, seed, attack._seed_poisons[seed],
                                           self.budget, self.D, self.add,
                                           self.worth(best, scored.get(seed)),
                                           exact.get(seed))
            best = self.better(best, None if out is None else self.judge(*out))
        return best


def _moves_inside(ps, i, domain, pricer):
    """The neighbouring locations of row ``i`` of ``ps`` (:func:`.relocate.point_moves`)
    inside the feasible set for its label, the loss cone as ``pricer`` is aimed."""
    from .relocate import point_moves

    for z in point_moves(ps.X[i], domain):
        if pricer.feasible.satisfies(z[None], ps.y[i:i + 1])[0]:
            yield z


class ReachableTargetAttack(PoisoningAttack):
    """The highest-error target whose certified minimum poison fits the budget, realised.

    Parameters
    ----------
    epsilon : poison budget as a fraction of ``|Dc|`` (:func:`~convexpoison.attacks.base.n_poisons`).
    defenses : the defenses the result is judged under (min over them is maximised;
        default every defense).  Those among l2, slab, loss give the feasible set.
    reg : the defender's ``C_R`` (default: the dataset's).
    defender : what the victim trains (docs/defender.md): a
        :class:`~convexpoison.defender.Defender`, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator; default the package's SVM with ``C_R = reg``.  It trains
        the clean model, the seed models and every judged model; the minimum-poison
        program prices targets for it (its regulariser row) and the seed attacks run
        against it (a seed attack that does not support it is recorded in
        ``result_.seeds`` and skipped).  Hinge loss only.
    feasible : feasible-set component names (default: ``domain`` plus the l2, slab, loss
        of ``defenses``; 'svd' may be named).  The loss component follows each target.
        On a domain with integer and continuous coordinates 'l2' is the sphere's secant
        half-space (:class:`~convexpoison.feasible.L2Secant`: inside it, exact at binary
        points) and 'svd' is refused: the realisation's programs over integer points
        must stay MILPs.
    p : fraction each defense removes per class.
    quantile : feasible-set thresholds as a quantile of the clean scores (default
        ``1 - p``).
    use : the attacker's evaluation set: 'test' (it knows the test set, Koh et al.
        section 5) or 'train' (``Dc``, section 6.1).  Candidates are ranked and realised
        poison sets chosen by their error there.
    seeds : candidate sources among :data:`SEEDS`.  The min-max seed runs with one decoy,
        the lowest-error one of the pruned front of this attack's grid
        (``decoy_quantiles`` x ``decoy_repeats``; name one of each to choose it: on
        fine-foods q 0.6, r 5 gives the seed model the search reaches 40.2% from).
    kkt_seed : the KKT seed's settings: 'small' (:data:`SEED_KKT`, 3-4 s on spambase and
        mnist17) or 'full' (the KKT attack's own defaults, its whole decoy x eps+ grid:
        on adult 120 s more, and its poison, accepted, gives 19.49% against 19.07%;
        docs/reachable.md).
    given_poisons : poison sets found elsewhere, ``{name: PoisonSet}`` (None: none) -- an
        audit's other attacks (:func:`convexpoison.audit.run_audit` gives the poisons of
        the attacks it ran before), or ``--given-poisons`` files.  Each induces a model
        on ``Dc`` that is a seed (reachable by construction) and is a seed poison (step
        5b: accepted like the seed attacks' own).  A name among the seed attacks
        (``kkt``, ``minmax``, ``influence``) stands for that seed: its small-settings run
        is skipped.  Measured on mnist17 with the full KKT attack's poison (92 s): 2.00%
        -> 2.67% (docs/reachable.md).
    decoy_quantiles, decoy_repeats : the label-flip grid of the decoys and improved targets.
    n_search : seeds whose segment is searched (those whose segment promises the highest
        error at the budget); every seed is priced.
    n_mix : after the segment search, the best target within the budget of each of the
        ``n_mix`` best seed families is averaged pairwise and each average searched along
        its own segment from the clean model (0: no mixtures).
    n_climb, climb_rounds, climb_step : the climb: ``climb_rounds`` times, from the best
        target within the budget, a step of ``climb_step`` toward each of the ``n_climb``
        priced models of higher evaluation error, brought back onto the budget along its
        own segment from the clean model (stops when a round finds nothing better).
    toward_rounds, n_toward, toward_reach : after the search, ``toward_rounds`` times (0:
        off) a KKT attack (the seed's small settings, 3 splits) with the ``n_toward``
        priced models of highest evaluation error beyond the budget, priced at most
        ``toward_reach`` times the budget, as its decoys (:meth:`_toward`);
        the model its poison induces -- a trained model, cheaper than the decoys it aims
        at -- is a new seed, searched like the others (segment, mixtures, climb), and its
        poison a seed poison (step 5b).  Measured on spambase: 10.10% -> 11.29%
        (docs/reachable.md).  A round stops the step when it adds no seed.
    n_mtp, mtp_reach, mtp_steps : each toward round also runs MTP (Suya et al. 2021,
        Algorithm 1) toward each of the ``n_mtp`` priced models of highest evaluation error
        beyond the budget, priced at most ``mtp_reach`` times it and not aimed at before,
        spending the budget in ``mtp_steps`` steps (:meth:`_mtp_toward`, 0: off); the
        models their poisons induce are new seeds, their poisons seed poisons.  Measured
        on spambase: 11.29% -> 13.14% (docs/reachable.md).
    t_max : how far beyond a seed model the segment search may go (``t <= t_max``).
    dual_rounds, dual_step, newton : the dual climb (:meth:`_dual_climb`; 0 rounds: off,
        the default -- on spambase it found no target of higher error, docs/reachable.md):
        tangent steps of ``dual_step |theta_s - theta_c|`` along the budget's level set,
        brought back by up to ``newton`` Newton steps along the dual price gradient.
    max_priced, search_seconds : the search (steps 2-3) stops at this many screening
        solves or after this many seconds (None: no limit), whichever comes first; what
        was priced until then is the candidate list (``search_exhausted_``).  The
        seconds make a run's candidates depend on the machine's speed; give
        ``search_seconds=None`` for a reproducible search.
    prune : a point of a segment whose evaluation error is at most the best within the
        budget so far is not priced (taken as fitting): its segment's boundary target
        cannot beat that best (:meth:`_segment`).  False prices every point.
    steps : bisection steps per segment.
    slack : the search keeps targets of price at most ``budget - slack`` (room for the
        rounding to integer copies).
    n_screen : candidates (highest evaluation error first) screened under the defenses
        with their fractional poison before realisation; they are realised in the order
        of that screening's minimum over the defenses (0: by evaluation error).
    n_realise : candidates realised and judged under the defenses (best first).
    eps_close, max_extra : the minimum-poison attack's acceptance rule and count slack
        (never beyond the budget).
    snap : when a realisation is not accepted, price the model its poison induced (a
        trained model) and realise that one too (counts toward the same candidate).
    seed_poisons : also judge the seed attacks' own poisons (KKT, influence, min-max) as
        realisations of the models they induce (:meth:`_seed_realisation`): a poison
        inside the feasible set with at most ``max_extra`` points more than the certified
        minimum of its induced model passes the same acceptance rule as the
        minimum-poison realisations -- another poison set for a target the search priced,
        which the defenses can see differently.
    clean_kept_by : defenses (among l2, slab, loss, svd, knn; None: none) whose kept clean
        points the targets are priced against: the minimum-poison program, the
        realisations' retraining and the certificate use the points of ``Dc`` that every
        defense named, fitted on ``Dc`` alone, keeps (:func:`_clean_kept`); the result is
        still judged on all of ``Dc`` under every defense.  Each defense removes its
        fraction ``p`` of the clean points whatever the poison, so a target priced against
        what it keeps is one the poison induces under it.  On fine-foods the k-NN and L2
        defenses' (docs/reachable.md).
    min_run : the text realisation's rounding (step 5, :func:`_spread_up`): the fewest
        copies that round a word up together (1: as many as its fraction gives).  2 on
        fine-foods with ``clean_kept_by``: no copy keeps a word of its own, which the SVD
        defense would see.
    n_roundings : the text realisation's random roundings per count vector (step 5,
        :meth:`_rounded`): above 1, each is judged under the defenses on the evaluation
        set and the highest-scoring kept (1: the one nearest the target, not judged).
    recycle_rounds : compress and extend (step 6, :meth:`_recycle`; 0: off, the default):
        starting from the KKT seed's poison, each round prices and realises the model the
        current poison induces (the minimum-poison realisation needs fewer points than the
        poison that induced it) and spends the points this frees on a KKT attack run on
        top of ``Dc`` and the realisation; the best round (a realised target plus the
        KKT points on top, judged under the defenses) replaces the search's result when
        it scores higher.  Measured on mnist17 (docs/reachable.md): 2.00% -> 3.00% with 16
        rounds (the walk follows floating-point round-off; 3.00% with one BLAS thread and
        with two on one machine, 2.67% on another).
    polish_rounds, polish_steps, polish_tau : step 5c, the polish (:meth:`_polish`; 0
        rounds: off): from the chosen poison, ``polish_steps`` steps of the influence
        attack's ascent on the lowest over the defenses of the smoothed evaluation error
        (sigmoid width ``polish_tau`` in margin units), every defense applied to ``Dc u
        Dp`` before each training; the model the polished poison induces is a new seed,
        searched, screened and realised like the others (the polished poison a seed
        poison), and a round that changes the result is followed by the next.  Measured
        (docs/reachable.md): spambase 13.14% -> 14.33%, a target realised by the
        minimum-poison attack (106 points, certified 105).
    keep_polished : the polish's poison itself is the result when it scores higher under
        the defenses than every accepted realisation and lies inside the feasible set
        (the loss cone aimed at its model; status 'polished'; off by default).  It
        induces its own model (max loss difference 0), but with more points than that
        model's certified minimum + ``max_extra`` (``target_lower_bound``), which is why
        step 5b did not accept it: the defenses see where the extra copies sit; the
        undefended model does not need them.  Measured on mnist17
        (docs/reachable.md): the polished poisons score 3.67-4.00% where their models'
        accepted realisations score 2.00-3.00%.
    anchored : when a polished poison scores above every accepted realisation under the
        defenses without being one, realise its model once more with the points placed
        nearest the polished poison's (step 5d, :meth:`FixedCountKKT.solve_near`; continuous
        points), every count vector from the certified minimum (fewer points cannot induce
        the model) to certified + ``max_extra`` retrained and the one
        within ``eps_close`` scoring highest under the defenses kept (on by default; a
        count vector whose near placement fails keeps its least-residual points, and
        ``realised_by`` says "near" only when the kept one was placed near).
    relocate_trials, relocate_points, relocate_sweeps, relocate_kicks : step 5e, relocation
        (:func:`~convexpoison.attacks.relocate.relocate`; 0 trials, the default: off):
        after the polish, a hill climb from the chosen poison over where its points sit:
        each label's copies gathered on its ``relocate_points`` heaviest points, these
        moved one at a time to a neighbouring location of the domain (another category
        of a one-hot group, a continuous coordinate to a quarter of its box) or copies
        moved between them, each move judged by retraining under every defense and kept
        when the minimum over the defenses on the evaluation set rises; at most
        ``relocate_trials`` poisons judged in ``relocate_sweeps`` passes per climb, and
        ``relocate_kicks`` restarts (``relocate_kick_moves`` random point moves from the
        best poison so far, then another climb; 0, the default: one climb).  Moved points
        stay inside the set the certificate covers (the loss cone aimed at the poison's
        model), and a move to a poison above the best so far (at first the start) is kept
        only when step 5b would accept that poison (its model certified, its points
        within ``max_extra`` of the certified minimum).  The
        poison it ends at is a seed poison, its model a seed, searched, screened and
        realised like the others.  For domains of one-hot groups (adult: docs/reachable.md);
        each trial is a retraining under every defense (0.1-1 s on adult).
    relocate_anneal, relocate_chains, relocate_locations, relocate_temperature : after the
        climbs, ``relocate_chains`` chains of simulated annealing of ``relocate_anneal``
        trials each (0, the default: none), each from the best poison so far: a random
        point move, copy move, or split move (copies to a new point beside one, up to
        ``relocate_locations`` points per label), a worse poison kept with probability
        ``exp(delta / T)``, ``T`` falling from ``relocate_temperature[0]`` to ``[1]``
        (in units of the minimum over the defenses; None: :data:`~convexpoison.attacks.
        relocate.TEMPERATURE`, 0.002 to 0.0003); the same rule as the climbs for a new
        best (:func:`~convexpoison.attacks.relocate.relocate`'s ``anneal``).
    relocate_trim : when step 5b's rule refuses a chain's poison above the best only for
        having more points than its model's certified minimum + ``max_extra``, the
        poison is trimmed: copies taken off one of its points (the excess - 2 to + 6),
        each trimmed poison judged and the ``relocate_trim`` best certified until one is
        acceptable, which becomes the best and the chain's poison (0: off).  On adult a
        chain's high-scoring poisons are mostly such (docs/reachable-history.md, *adult:
        annealing and trimmed poisons*).
    relocate_realise : when a chain's poison that step 5b's rule refuses (and that no trim
        replaces) scores :data:`~convexpoison.attacks.relocate.REALISE_ABOVE` above the
        best, its model is a candidate target realised by the integer minimum-poison
        attack (step 5) and judged under the defenses; an accepted realisation above the
        best becomes the best, and the chain goes on from the refused poison (0: off).
        The realisation scores a little lower than the poison, at the fewest points its
        model needs: the rest of the budget is the top-up's (docs/reachable-history.md,
        *adult: the refused chain poisons' models realised*).
    relocate_kick_moves : the random point moves of each kick (3,
        :data:`~convexpoison.attacks.relocate.KICK_MOVES`).
    relocate_wide_kicks, relocate_wide_moves : after the ``relocate_kicks`` kicks, this
        many more of ``relocate_wide_moves`` random point moves each (0, the default:
        none; 6 moves), from the best poison so far: the narrow kicks find a basin, the
        wide ones leave it (:func:`~convexpoison.attacks.relocate.relocate`, with the
        offline measurements behind it).  In problems/reachable-adult.toml thirty wide
        kicks after the six narrow ones took the climbs from 20.51% to 20.78%, and the
        chains and the top-up from there to 21.69% (docs/reachable-history.md, *adult:
        wide kicks after the narrow ones*).
    topup : spend the leftover budget on more copies of the chosen realisation's points,
        greedily, each copy kept only when it raises the minimum over the defenses on the
        evaluation set (:meth:`_topup`).  Off by default: the poison then no longer
        induces the target exactly (``max_loss_difference`` and the acceptance rule
        stay those of the realisation, ``target_poisons`` points).
    screen_tol : training tolerance while judging candidates (the result is re-evaluated
        exactly).
    solver : conic solver of the programs.
    random_state : seed of the seed attacks and the training.
    workers : 2 (or more, or 0 / -1: one per core) runs the KKT attacks -- the seed and each
        toward round's -- in a second process, beside the seeds and MTP runs that do not
        depend on them, and the polish's second step length beside its first
        (``InfluenceAttack.workers``); in between, the second process makes the
        searches' and realisations' solves ahead from the back (:mod:`.scout`: this
        process takes each when it reaches it).  This process then runs one BLAS thread
        throughout (the other core is the second process's): with numpy's two threads
        outside the overlapped stretches adult took 376 s against 198 s, mnist17 54 s
        against 48.6 s (2026-12-03), and with one thread the result is the serial
        one-thread result bit for bit (1, the default, keeps the caller's threads).
        Measured (bench/reachable.py --workers 2): docs/reachable-history.md, *Time on two
        cores* and *Solves made ahead in the second process*.
    progress : callable receiving a line of text per stage (or None).

    A Ctrl-C keeps what was found: the search cut short is realised, a later Ctrl-C keeps
    the best realisation judged (``interrupted_``, status 'interrupted'); before any
    realisation it propagates (docs/reachable.md, *Ctrl-C*).
    """

    _name = "reachable-target"
    _needs = "Dc, the evaluation set and the domain"

    def __init__(self, epsilon=DEFAULT_EPSILON, defenses=DEFENSES, reg=None, feasible=None,
                 p=0.05, quantile=None, use="test", seeds=DEFAULT_SEEDS, kkt_seed="small",
                 given_poisons=None,
                 decoy_quantiles=(0.05, 0.1, 0.2, 0.3), decoy_repeats=(2, 5, 8),
                 n_search=4, n_mix=3, n_climb=4, climb_rounds=2, climb_step=0.25,
                 dual_rounds=0, dual_step=0.05, newton=3, toward_rounds=3, n_toward=4,
                 toward_reach=6.0, n_mtp=4, mtp_reach=2.0, mtp_steps=55, t_max=4.0, steps=4,
                 slack=1.0, max_priced=200, search_seconds=120.0, prune=True, n_screen=8,
                 n_realise=2, eps_close=0.01, max_extra=2, snap=True, seed_poisons=True,
                 clean_kept_by=None, min_run=1, n_roundings=1,
                 topup=False, recycle_rounds=0, polish_rounds=2, polish_steps=15,
                 polish_tau=TAU, keep_polished=False, anchored=True, relocate_trials=0,
                 relocate_points=1, relocate_sweeps=3, relocate_kicks=0, relocate_anneal=0,
                 relocate_chains=1, relocate_locations=1, relocate_trim=4,
                 relocate_realise=1, relocate_kick_moves=3, relocate_wide_kicks=0,
                 relocate_wide_moves=6, relocate_temperature=None,
                 screen_tol=1e-6, solver=None,
                 random_state=0, workers=1, progress=None, defender=None):
        self.epsilon = epsilon
        self.defenses = defenses
        self.reg = reg
        self.feasible = feasible
        self.p = p
        self.quantile = quantile
        self.use = use
        self.seeds = seeds
        self.kkt_seed = kkt_seed
        self.given_poisons = given_poisons
        self.decoy_quantiles = decoy_quantiles
        self.decoy_repeats = decoy_repeats
        self.n_search = n_search
        self.t_max = t_max
        self.steps = steps
        self.slack = slack
        self.n_mix = n_mix
        self.n_climb = n_climb
        self.climb_rounds = climb_rounds
        self.climb_step = climb_step
        self.dual_rounds = dual_rounds
        self.dual_step = dual_step
        self.newton = newton
        self.toward_rounds = toward_rounds
        self.n_toward = n_toward
        self.toward_reach = toward_reach
        self.n_mtp = n_mtp
        self.mtp_reach = mtp_reach
        self.mtp_steps = mtp_steps
        self.max_priced = max_priced
        self.search_seconds = search_seconds
        self.prune = prune
        self.n_screen = n_screen
        self.n_realise = n_realise
        self.eps_close = eps_close
        self.max_extra = max_extra
        self.snap = snap
        self.seed_poisons = seed_poisons
        self.clean_kept_by = clean_kept_by
        self.min_run = min_run
        self.n_roundings = n_roundings
        self.topup = topup
        self.recycle_rounds = recycle_rounds
        self.polish_rounds = polish_rounds
        self.polish_steps = polish_steps
        self.polish_tau = polish_tau
        self.keep_polished = keep_polished
        self.anchored = anchored
        self.relocate_trials = relocate_trials
        self.relocate_points = relocate_points
        self.relocate_sweeps = relocate_sweeps
        self.relocate_kicks = relocate_kicks
        self.relocate_anneal = relocate_anneal
        self.relocate_chains = relocate_chains
        self.relocate_locations = relocate_locations
        self.relocate_trim = relocate_trim
        self.relocate_realise = relocate_realise
        self.relocate_kick_moves = relocate_kick_moves
        self.relocate_wide_kicks = relocate_wide_kicks
        self.relocate_wide_moves = relocate_wide_moves
        self.relocate_temperature = relocate_temperature
        self.screen_tol = screen_tol
        self.solver = solver
        self.random_state = random_state
        self.workers = workers
        self.progress = progress
        self.defender = defender

    # ------------------------------------------------------------------ the attack
    def _fit(self, data):
        from ..parallel import Beside

        # hold: with a second process, one BLAS thread here for the whole attack
        with Beside(self.workers, hold=True) as self._beside:
            return self._attack(data)

    def _attack(self, data):
        from ..defenses import evaluate, parse_defenses
        from ..certificates.lp import lp_statement
        from ..feasible import make_feasible_set, polyhedral_l2

        t0 = time.perf_counter()
        #: a Ctrl-C stopped the fit: the result is what was found before it (status
        #: 'interrupted'; docs/reachable.md, Ctrl-C)
        self.interrupted_ = False
        budget = self._budget(data)
        D = self._hinge_defender(data, f"the {self._name} attack prices targets with the "
                                       "hinge-loss minimum-poison program")
        Xc, yc, Xt, yt = clean_arrays(data, self._name)
        check_use(self.use)
        defenses = parse_defenses(self.defenses)
        names = resolve_feasible(self.feasible, self._name, defenses, data.domain, Xc.shape[1])
        if not isinstance(names, list):
            raise InputError("feasible: give component names (the loss component follows "
                             "each target, so a ready feasible set cannot be used)")
        dom = data.domain
        # the realisation's fixed-count program has integer points: a MILP, which the L2 /
        # SVD cones make a mixed-integer SOCP unless every coordinate is integer.  The L2
        # sphere has a polyhedral inner form (feasible.L2Secant, exact at binary points);
        # the SVD residual has none
        mixed = dom is not None and dom.has_integers and not dom.integer.all()
        if mixed and "svd" in names:
            raise InputError("feasible: on a domain with integer and continuous coordinates "
                             "the minimum-poison realisation needs polyhedral components; "
                             f"drop svd (e.g. feasible {','.join(n for n in names if n != 'svd')}: "
                             "the SVD defense then judges the result)")
        seeds = self._check_seeds()
        if self.kkt_seed not in ("small", "full"):
            raise InputError(f"kkt_seed: 'small' or 'full', got {self.kkt_seed!r}")
        given = self._check_given(Xc.shape[1])
        p = check_fraction(self.p, "p")
        quantile = 1.0 - p if self.quantile is None else check_fraction(self.quantile, "quantile")
        t_max = check_positive(self.t_max, "t_max")
        steps = int(check_positive(self.steps, "steps", allow_zero=True))
        slack = check_positive(self.slack, "slack", allow_zero=True)
        n_realise = int(check_positive(self.n_realise, "n_realise"))
        toward_rounds = int(check_positive(self.toward_rounds, "toward_rounds", allow_zero=True))
        # the search's widths, checked here, before any work (they are used after the seeds)
        for name in ("n_mtp", "n_search", "n_mix", "n_climb", "climb_rounds", "n_screen"):
            check_positive(getattr(self, name), name, allow_zero=True)
        n_polish = int(check_positive(self.polish_rounds, "polish_rounds", allow_zero=True))
        check_positive(self.polish_steps, "polish_steps")
        check_positive(self.polish_tau, "polish_tau")
        n_relocate = int(check_positive(self.relocate_trials, "relocate_trials", allow_zero=True))
        check_positive(self.relocate_points, "relocate_points")
        check_positive(self.relocate_sweeps, "relocate_sweeps")
        check_positive(self.relocate_kicks, "relocate_kicks", allow_zero=True)
        check_positive(self.relocate_anneal, "relocate_anneal", allow_zero=True)
        check_positive(self.relocate_chains, "relocate_chains")
        check_positive(self.relocate_locations, "relocate_locations")
        check_positive(self.relocate_trim, "relocate_trim", allow_zero=True)
        check_positive(self.relocate_realise, "relocate_realise", allow_zero=True)
        check_positive(self.relocate_kick_moves, "relocate_kick_moves")
        check_positive(self.relocate_wide_kicks, "relocate_wide_kicks", allow_zero=True)
        check_positive(self.relocate_wide_moves, "relocate_wide_moves")
        if self.relocate_temperature is not None:
            _temperature(self.relocate_temperature)
        for name in ("n_toward", "toward_reach", "mtp_reach", "mtp_steps", "min_run",
                     "n_roundings"):
            check_positive(getattr(self, name), name)
        kept_by = (None if self.clean_kept_by is None
                   else parse_defenses(self.clean_kept_by, "clean_kept_by")) or None
        limit = budget - slack
        if limit <= 0:
            raise InputError(f"slack: {slack:g} leaves no budget of the {budget} poison points")
        Xe, ye = (Xt, yt) if self.use == "test" else (Xc, yc)
        self._beside.start()        # workers: the second process imports meanwhile

        clean = D.train(Xc, yc)
        self.clean_model_ = clean
        feas = make_feasible_set(names, data.domain, Xc, yc, quantile=quantile, decoy=clean)
        if mixed and "l2" in names:
            # the secant half-space inside the sphere: the certified minimum then covers a
            # subset of the points the L2 defense keeps (ReachableResult.feasible says so)
            feas = polyhedral_l2(feas)
        self.feasible_ = feas
        #: the clean points the targets are priced against (``clean_kept_by``)
        self.clean_kept_ = _clean_kept(kept_by, Xc, yc, p, D)
        Xp, yp = Xc[self.clean_kept_], yc[self.clean_kept_]
        pricer = _Pricer(feas, Xp, yp, D, self.solver)
        if kept_by:
            self._say(f"reachable: targets priced against the {len(yp)} of {len(yc)} clean "
                      f"points the {', '.join(kept_by)} defenses keep")
        self._say(f"reachable: budget {budget} points, feasible set {feas.describe()}")

        # 1. candidate models; the programs compiled while the KKT seed finishes beside
        self._seed_poisons = {}
        self._given = given
        self._toward_decoys = []
        self._mtp_targets = []
        # (integer points: the realisation's program is its own, _realise, and its points
        # are not placed near anything: no step 5d)
        fixed = None if dom is not None and dom.has_integers else self._realise_solver(False)
        found, seed_info = self._candidates(
            data, seeds, clean, D, budget, defenses, p,
            meanwhile=lambda: pricer.compile_ahead(clean, fixed,
                                                   near=self.anchored and n_polish > 0))
        self.seed_models_ = found
        # steps 4-6 judge poisons under the defenses (screening tolerance)
        defended = _Judge(DataFields(Xc, yc, Xt, yt, data.domain, getattr(data, "reg", None)),
                          defenses, p, D, clean, self.screen_tol, self.use)
        if self._beside.workers > 1 and not pricer.program.solver_options.get("ignore_dpp"):
            # the searches' units and the realisations' count vectors solved ahead in the
            # second process (idle between its KKT attacks and the polish's trials): the
            # same answer, fewer solves here (docs/reachable.md, Two cores).  Not for a
            # program compiled anew at every solve (sparse text).
            from .scout import Scout

            pricer.scout = Scout(self._beside, pricer, clean, (limit, t_max, steps, Xe, ye),
                                 defended)
        # 2.-3. priced, and searched along the segments from theta_c
        priced = []

        by_model = {}

        def add(model, source, t, price):
            key = _model_key(model)
            if key in by_model:
                return by_model[key]            # met again by a later search (step 3b)
            c = by_model[key] = PricedTarget(
                model, source, float(t), float(price), model.error(Xe, ye), model.error(Xt, yt),
                fractional=pricer.last, grad=pricer.grad if np.isfinite(price) else None)
            priced.append(c)
            return c

        # every seed priced where it is; the segment search only for the n_search seeds
        # whose segment promises most: the error at t = limit / price (the price grows
        # about linearly from theta_c, whose price is 0), a numpy product, not a solve
        max_priced = self.max_priced
        if max_priced is not None:
            max_priced = int(check_positive(max_priced, "max_priced"))
        pricer.cap = max_priced
        if self.search_seconds is not None:
            pricer.deadline = time.perf_counter() + check_positive(self.search_seconds,
                                                                   "search_seconds")
        self.search_exhausted_ = False
        scout = pricer.scout
        try:
            self._search(pricer, clean, found, limit, t_max, steps, add, priced, Xe, ye)
            for rnd in range(toward_rounds):
                # 3b. a KKT attack and MTP runs toward the priced models of highest error
                # beyond the budget: the models their poisons induce are new seeds, and
                # the search runs again with them (what was priced is not priced again:
                # _Pricer.memo)
                # the KKT attack runs beside the MTP runs (workers=2): both aim at what
                # the search priced before this round
                kkt = self._toward(data, priced, limit, D, defenses, p, rnd)
                mtp = self._mtp_toward(data, priced, limit, D, rnd)
                kkt = None if kkt is None else kkt()
                new = ([] if kkt is None else [kkt]) + mtp
                if not new:
                    break
                found = found + new
                self._search(pricer, clean, found, limit, t_max, steps, add, priced, Xe, ye)
                self._say(f"reachable: toward round {rnd + 1} of {toward_rounds}: {len(new)} "
                          f"new seeds; best evaluation error within the budget "
                          f"{_best_within(priced, limit):.4f} ({len(priced)} targets priced)")
        except _Exhausted:
            # the cap on screening solves: what was priced so far is the candidate list
            self.search_exhausted_ = True
            self._say(f"reachable: the search stops after {pricer.count} screening solves "
                      f"(max_priced {max_priced}, search_seconds {self.search_seconds})")
        except KeyboardInterrupt:
            # Ctrl-C: so is it, realised in this process alone (steps 4-5, no polish); a
            # second Ctrl-C keeps the best realisation judged by then, or stops with nothing
            self._interrupted(pricer, f"the search stops after {pricer.count} screening "
                                      "solves; realising the best of what was priced (Ctrl-C "
                                      "again: the best realisation judged by then, if any)")
        pricer.cap = pricer.deadline = None
        self.candidates_ = priced
        within = [c for c in priced if c.price <= limit]
        self.n_unsolved_ = pricer.failed
        self._say(f"reachable: {len(priced)} targets priced ({pricer.failed} not solved at "
                  f"the screening tolerance), {len(within)} within "
                  f"{limit:g} points; best evaluation error "
                  f"{_best_within(within, limit):.4f}"
                  + ("" if pricer.scout is None else
                     f"; {pricer.scout.used} of the {pricer.count} solves made ahead in the "
                     f"second process"))
        if not within and self.interrupted_:
            raise KeyboardInterrupt             # nothing within the budget priced yet
        if not within:
            raise InputError(f"epsilon: no candidate target is reachable with {budget} poison "
                             "points inside the feasible set; raise epsilon")
        choice = _Choice(self, data, pricer, budget, D, defended, add, int(self.n_screen),
                         n_realise)
        polish, kept, recycle, topup, topped = ([] if n_polish else None), None, None, None, None
        relocation, relocated = None, []

        def searched(name, poison, judged, best):
            """Steps 5c and 5e: the model ``poison`` induces is a new seed, searched (a
            quarter of the first search's solves and seconds), screened and realised like
            the others, and ``poison`` a seed poison (step 5b; ``judged``: its judgement,
            or None).  Returns ``(best, the model, the priced targets before)``."""
            # the seed is the model exact training returns: the price is that sensitive
            # (spambase: 105.2 points for it, 109.9 for the model trained at the
            # screening tolerance), and the segment search pushes it out to the budget
            model = _exact_model(poison, Xc, yc, D, self.random_state)
            self._seed_poisons[name] = poison
            n0 = len(priced)
            pricer.cap = None if max_priced is None else pricer.count + max(1, max_priced // 4)
            pricer.deadline = (None if self.search_seconds is None
                               else time.perf_counter() + self.search_seconds / 4)
            try:
                self._search(pricer, clean, [(name, model)], limit, t_max, steps, add, priced,
                             Xe, ye)
            except _Exhausted:
                pass
            pricer.cap = pricer.deadline = None
            best = choice.choose([c for c in priced[n0:] if c.price <= limit], best)
            if self.seed_poisons:
                best = choice.seed_realisations([name], best, {name: judged})
            return best, model, n0

        try:
            best = choice.choose(within, None)
            if self.seed_poisons:
                best = choice.seed_realisations([k for k, P in self._seed_poisons.items()
                                                 if P is not None], best)
            if best is None:
                raise SolverFailure("reachable: no candidate target could be realised within the "
                                    f"budget of {budget} points", solver=self.solver or "default",
                                    status="not realised")
            # (after a Ctrl-C in the search: steps 4-5 only)
            for rnd in range(0 if self.interrupted_ else n_polish):
                # 5c. polish the chosen poison against the defenses themselves, and realise
                # the model the polished poison induces (a new seed: searched, screened and
                # realised like the others; the polished poison itself is a seed poison)
                name, before = f"polish {rnd + 1}", best[0]
                attack = self._polish(data, best[2], D, defenses, p, names, quantile)
                if attack is None:
                    break
                # the polished poison under the defenses (keep_polished and step 5d compare it)
                near = self.anchored and fixed is not None
                polished = defended(attack.poisons_) if self.keep_polished or near else None
                best, model, n0 = searched(name, attack.poisons_, polished, best)
                if self.keep_polished:
                    _, score, undefended = polished
                    if kept is None or score > kept[0][1]:
                        kept = (False, score, undefended), name, attack.poisons_, model
                if near and polished[1] > best[0][1]:
                    # 5d. the polished poison scores above every accepted realisation but is
                    # not one (a point outside the loss cone, or more points than its model's
                    # certified minimum + max_extra): its model realised with the points placed
                    # nearest the polished poison's -- the same model, and where the defenses
                    # see the points decides the damage (docs/reachable-history.md, Realisations near the
                    # polished poison)
                    cand = add(model, f"{name} poison's model", 1.0, pricer.screen(model))
                    out = self._realise(data, pricer, cand, budget, D,
                                        anchor=(f"the {name} seed's poison", attack.poisons_),
                                        score=lambda ps: defended(ps)[1])
                    if out is not None:
                        best = choice.better(best, choice.judge(cand, out))
                polish.append({"round": rnd + 1, "start": before[1],
                               "polished": attack.result_.evaluation.min_over_defenses,
                               "steps": attack.result_.n_iter, "priced": len(priced) - n0,
                               "score": best[0][1], "chosen": best[0] > before})
                self._say(f"reachable: {name}: from {before[1]:.4f}, the polished poison "
                          f"{polish[-1]['polished']:.4f} under the defenses; {len(priced) - n0} "
                          f"targets priced from its model; best {best[0][1]:.4f}")
                if not best[0] > before:
                    break
            if n_relocate and not self.interrupted_:
                # 5e. relocation: a hill climb over where the chosen poison's points sit,
                # each move judged under the defenses themselves (.relocate); the poison
                # it ends at is a seed poison, its model a seed
                best, relocation, relocated = self._relocation(
                    best, defended, dom, pricer, D, n_relocate, searched, choice)
            if kept is not None and kept[0][1] > best[0][1]:
                # keep_polished: the polished poison itself, scoring higher under the defenses
                # than every accepted realisation; step 5b did not accept it (more points than
                # its model's certified minimum + max_extra), but it induces that model exactly
                out = self._polished(pricer, *kept[1:], add)
                if out is not None:
                    best = (kept[0], *out)
                    choice.realised.append({"target": out[0].to_dict(),
                                            "n_poisons": float(out[1].n_poisons),
                                            "realised_by": _realised_by(out[1]),
                                            "status": "polished", "max_loss_difference": 0.0,
                                            "score": kept[0][1], "per_defense": None})
            rounds = int(check_positive(self.recycle_rounds, "recycle_rounds", allow_zero=True))
            if rounds and not self.interrupted_:
                # 6. compress and extend, from the KKT seed's poison
                again, recycle = self._recycle(data, pricer, budget, D, defenses, p, defended,
                                               rounds, add)
                # (a round's result is always an accepted realisation plus its KKT points)
                if again is not None and again[0][1] > best[0][1]:
                    best = again
                    recycle["chosen"] = True
            choice.latest = best      # (keep_polished and step 6 choose outside judge())
            if self.topup and not self.interrupted_:
                def room(P, name):
                    # a smaller poison as the realisation of its own model (step 5b)
                    got = self._seed_realisation(pricer, name, P, budget, D, add)
                    return None if got is None else choice.judge(*got[:2])
                best, topped = self._topped(best, relocated, budget, defended, dom, pricer,
                                            room)
        except KeyboardInterrupt:
            if choice.latest is None:
                raise                   # nothing realised before the Ctrl-C: nothing to keep
            best, topped = choice.latest, None
            self._interrupted(pricer, "the result is the best realisation judged so far "
                                      f"(min over defenses {best[0][1]:.4f})")
        (_, score, _), cand, ps, rz = best
        if topped is not None:
            ps, topup, _ = topped
        ps.meta.update({"attack": "reachable-target", "epsilon": float(self.epsilon),
                        "use": self.use, "target_source": cand.source})
        ev = evaluate(data, ps, defenses=defenses, p=p, defender=D, clean_model=clean,
                      clean_neighbours=defended.knn)
        self.poisons_ = ps
        self.target_ = cand
        #: screening solves of the whole fit (a model met again is not solved again)
        self.n_solves_ = pricer.count
        #: of the fit's solves (screening, fixed-count), those the second process made
        #: ahead (workers; :mod:`.scout`)
        self.n_solves_ahead_ = 0 if scout is None else scout.used
        #: poisons judged under the defenses in the second process (steps 4 and 5b)
        self.n_judged_ahead_ = 0 if scout is None else scout.judged_there
        self.result_ = ReachableResult(
            ps, cand, rz, ev, clean.error(Xt, yt), budget, priced, choice.realised, seed_info,
            "interrupted" if self.interrupted_ else
            rz.status if rz.status in ("eps_close", "polished") else "not_close",
            time.perf_counter() - t0, self.search_exhausted_,
            # the bound's own program result: its feasible set in words (with the l2 secant
            # half-space, a subset of the L2 defense's set: feasible.L2Secant)
            lp_statement(rz.program, feas.describe(), len(yp), D.reg, defender=D,
                         kept_by=kept_by), topup,
            recycle, polish, self.interrupted_, kept_by, len(yp), relocation)

    # ------------------------------------------------------------------ internals
    def _interrupted(self, pricer, what):
        """A Ctrl-C: the fit goes on in this process alone (the second process is
        terminated, its solves ahead no longer asked for) only as far as a result from what
        it found -- steps 4-5 after a search cut short, nothing more after a realisation."""
        self.interrupted_ = True
        pricer.scout = None
        self._beside.abandon()
        self._say(f"reachable: interrupted: {what}")

    def _check_given(self, d):
        """``given_poisons`` checked before any work: ``{name: PoisonSet}`` of binary
        poisons with ``d`` features, none empty; names other than the label-flip seeds'."""
        from collections.abc import Mapping

        given = self.given_poisons
        if given is None:
            return {}
        if not isinstance(given, Mapping):
            raise InputError("given_poisons: give a mapping {name: PoisonSet}, got "
                             f"{type(given).__name__}")
        out = {}
        for name, P in given.items():
            if not isinstance(name, str) or not name or name in ("decoys", "improved"):
                raise InputError(f"given_poisons: {name!r} cannot name a poison set (a "
                                 "non-empty name other than 'decoys' and 'improved')")
            if not isinstance(P, PoisonSet):
                raise InputError(f"given_poisons: {name} is a {type(P).__name__}, not a "
                                 "PoisonSet")
            if not P.n_poisons > 0:
                raise InputError(f"given_poisons: {name} has no poison points")
            P.check_dimension(d, f"given_poisons: {name}")
            if not np.isin(P.y, (-1, 1)).all():
                raise InputError(f"given_poisons: {name} has labels other than -1 and +1")
            out[name] = P
        return out

    def _check_seeds(self):
        seeds = [self.seeds] if isinstance(self.seeds, str) else list(self.seeds)
        if not seeds:
            raise InputError(f"seeds: name at least one of {', '.join(SEEDS)}")
        for s in seeds:
            if s not in SEEDS:
                raise InputError(f"seeds: unknown seed {s!r}; choose from {', '.join(SEEDS)}")
        return list(dict.fromkeys(seeds))

    def _recycle(self, data, pricer, budget, D, defenses, p, defended, rounds, add):
        """Step 6, compress and extend: a poison of the whole budget induces a model that
        the minimum-poison program prices, and realises, with fewer points (the poison
        that induced it was not the cheapest for it: mnist17's KKT seed poison, 21 points,
        induces a model realised with 20; after a few rounds 14).  The points freed go to
        a KKT attack (the seed's small settings with the grid of :data:`RECYCLE_KKT`) run
        on top of ``Dc`` and the realisation,
        whose poison -- the realisation plus the KKT points -- induces the next round's
        model.  Round 0 is the KKT seed's own poison.  Every round's realisation (a target
        induced by its certified minimum) with the KKT points on top is judged under the
        defenses (``defended``); the best is returned as step 5's ``best`` tuple (the
        target is the realised one, the poison the realisation plus the KKT points) with
        a record of the rounds.  Stops when a model costs more than the budget, cannot be
        realised, or leaves no point free."""
        from ..datasets import from_arrays
        from ..validation import stack_rows

        Xc, yc = data.X_train, data.y_train
        P = self._seed_poisons.get("kkt")
        history, best, best_round = [], None, None
        R = cand = rz = None
        for k in range(rounds):
            if k or P is None:
                left = budget if R is None else int(budget - R.n_poisons)
                if left < 1:
                    break
                if R is None:
                    aug = data
                else:
                    # the realisation's copies as rows of the "clean" set the KKT attack sees:
                    # the defenses fit on Dc u R u P either way
                    Xr, yr = R.expanded()
                    aug = from_arrays(stack_rows(Xc, Xr), np.concatenate([yc, yr]),
                                      data.X_test, data.y_test, domain=data.domain,
                                      name=f"{data.name} + realised poison",
                                      **({} if data.reg is None else {"reg": data.reg}))
                # epsilon giving exactly `left` points on the augmented set (n_poisons floors)
                eps = (left + 0.5) / len(aug.y_train)
                try:
                    P = fit_part(self._seed_attack("kkt", defenses, p, D, epsilon=eps)
                                 .set_params(**RECYCLE_KKT), aug).poisons_
                except (InputError, SolverFailure) as exc:
                    self._say(f"reachable: recycle round {k}: KKT failed ({exc})")
                    break
            full = P if R is None else PoisonSet(
                np.vstack([R.X, P.X]), np.concatenate([R.y, P.y]),
                np.concatenate([R.weight, P.weight]), meta=dict(R.meta))
            ev, score, undefended = defended(full)
            rec = {"round": k, "target_poisons": None if R is None else float(R.n_poisons),
                   "kkt_points": float(P.n_poisons), "score": score}
            history.append(rec)
            if R is not None and rz.status == "eps_close" and (best is None
                                                                or score > best[0][1]):
                best = (True, score, undefended), cand, full, rz
                best_round = k
            model = ev.models["none"]
            c = add(model, f"recycle {k}", 1.0, pricer.screen(model))
            self._say(f"reachable: recycle round {k}: {rec['target_poisons'] or 0:g} realised + "
                      f"{P.n_poisons:g} KKT points, min over defenses {score:.4f}; the model "
                      f"they induce costs {c.price:.2f} points")
            if not c.price <= budget:
                break
            out = self._realise(data, pricer, c, budget, D)
            if out is None:
                break
            R, rz = out
            cand = c
        return best, {"rounds": history, "best_round": best_round, "chosen": False}

    def _seed_realisation(self, pricer, seed, P, budget, D, add, worth=None, model=None):
        """A seed attack's poison ``P`` as the realisation of the model it induces (step 5b;
        ``seed_poisons``): ``(candidate, (poison, realisation), scored)`` or None.
        ``worth``: made after the cheap refusals and before the exact certificate, it
        returns ``P``'s evaluation under the defenses (``scored``), or None to refuse it.
        ``model``: the exact model, when the second process made it ahead (the same).

        The target is the model trained exactly on ``Dc u P`` (the search's seed model was
        trained at the screening tolerance, and the price is that sensitive: adult's KKT
        seed poison, 315 points, induces a model certified at 315 while the screening
        model 0.001 away costs 325), priced and certified like every other candidate; ``P``
        induces it by construction (max loss difference 0).  Accepted under the same rule
        as the minimum-poison realisations: every point inside the feasible set (the loss
        cone aimed at the target) and ``n_poisons <= certified + max_extra``.  A poison
        inside the set that induces the target has at least the certified minimum of
        points (the certificate's promise, checked here); a wasteful one (the influence
        seeds: 110 points for a model that costs 96 on spambase) is refused.  On integer
        domains the certified minimum is the relaxed program's, a lower bound over
        integer points too."""
        if P is None or not P.n_poisons > 0:
            return None
        if P.n_poisons > budget:
            self._say(f"reachable: the {seed} seed's poison ({P.n_poisons:g} points) is "
                      f"beyond the budget of {budget}: its model is only a seed")
            return None
        if model is None:
            model = _exact_model(P, pricer.X, pricer.y, D, self.random_state)
        cand = add(model, f"{seed} poison's model", 1.0, pricer.screen(model))
        pricer.aim(model)                      # (screen may have answered from its memo)
        inside = pricer.feasible.satisfies(P.X, P.y)
        # refused before the exact solve (up to 30 s on adult) when a point lies outside
        # the set, or when the screening price is so far below the poison's size that
        # the certified minimum (within the screening tolerance of it, rounded up) cannot
        # reach n_poisons - max_extra: a refusal, not a claim, so the screening value may
        # decide it (spambase: 94-105 points for poisons of 110)
        wasteful = cand.price < P.n_poisons - self.max_extra - 2
        if not inside.all() or wasteful:
            why = (f"{int(np.count_nonzero(~inside))} outside the feasible set" if not
                   inside.all() else f"its model costs {cand.price:.1f} at the screening "
                                     "tolerance")
            self._say(f"reachable: the {seed} seed's poison ({P.n_poisons:g} points, {why}) "
                      "does not realise its model")
            return None
        scored = None if worth is None else worth(P)
        if worth is not None and scored is None:
            self._say(f"reachable: the {seed} seed's poison ({P.n_poisons:g} points) scores "
                      "no higher under the defenses than the accepted result: not certified")
            return None
        lp = self._certify_own(pricer, model, cand, f"the {seed} seed's poison")
        if lp is None:
            return None
        if not cand.certified <= P.n_poisons <= cand.certified + self.max_extra:
            self._say(f"reachable: the {seed} seed's poison ({P.n_poisons:g} points, inside "
                      "the feasible set) does not realise its model (certified "
                      f"{cand.certified:g} points)")
            return None
        return cand, _own_realisation(P, model, lp, cand.certified, f"{seed} seed poison",
                                     "eps_close"), scored

    def _polished(self, pricer, name, P, model, add):
        """``keep_polished``: the polished poison ``P`` as the result, ``(candidate, P,
        realisation)`` with status 'polished', or None.  The candidate is its model (exact
        training on ``Dc u P``: max loss difference 0), certified exactly like a seed
        poison's (:meth:`_seed_realisation`).  Only a poison inside the feasible set the
        certificate covers (the loss cone aimed at its model) is kept, so that
        ``target_lower_bound <= n_poisons`` says what it seems to: the polish projects onto
        the set without the loss cone, and rounds integer coordinates at random (adult's
        polished poison, rounded out of the slab, induces with its 315 points a model
        that 460 points inside the set would need)."""
        cand = add(model, f"{name} poison's model", 1.0, pricer.screen(model))
        pricer.aim(model)                      # (screen may have answered from its memo)
        outside = int(np.count_nonzero(~pricer.feasible.satisfies(P.X, P.y)))
        if outside:
            self._say(f"reachable: the {name} poison is not kept: {outside} of its points "
                      "lie outside the feasible set")
            return None
        lp = self._certify_own(pricer, model, cand, f"the {name} poison")
        if lp is None or not cand.certified <= P.n_poisons:
            return None
        self._say(f"reachable: keeping the {name} poison ({P.n_poisons:g} points; its model "
                  f"certified at {cand.certified:g})")
        return (cand, *_own_realisation(P, model, lp, cand.certified, f"{name} poison",
                                             "polished"))

    def _certify_own(self, pricer, model, cand, who):
        """The exact program of ``model``, the model a poison induces (step 5b,
        ``keep_polished``; :data:`SEED_CERTIFY_SOLVERS`; it also aims the loss cone at
        it), its certified minimum recorded on ``cand``; None (said) when no solver
        solves it."""
        try:
            lp = pricer.certify(model, solvers=SEED_CERTIFY_SOLVERS)
        except SolverFailure as exc:
            self._say(f"reachable: {who}: its model not certified ({exc})")
            return None
        cand.certified = float(lp.certified)
        return lp

    def _topup(self, ps, score, budget, defended, domain=None, pricer=None):
        """The leftover budget spent greedily (``topup``): per step, one more copy of each
        realised location is tried under the defenses (``defended``) and the one that
        raises the minimum over the defenses most is kept.  When no copy raises it, on a
        domain of one-hot groups (``domain``; adult) the leftover -- all of it, or half --
        is tried at a **new point** beside one of the realised ones (each neighbouring
        location of :func:`.relocate.point_moves` inside the feasible set with the loss
        cone aimed at the poison's model, ``pricer``), and the best placement that raises
        the minimum kept and climbed over its own neighbouring locations
        (:meth:`_placed_climb`); then copies again.  Stops when nothing raises it or the
        budget is spent.  The locations tried are the two heaviest per label (all of them on
        continuous domains; the exact program over integer points spreads adult's poison
        over about 60).  Copies of the realised points stay inside the feasible set and the
        domain (integer points included).  Measured (docs/reachable.md): one copy on
        spambase raises the minimum by one test point; on mnist17 none of the four leftover
        copies does; on adult, 22 leftover points beside one of a 293-point poison's four
        points raise 21.36% to 21.51%.  Returns the poison and the copies added per row
        (rows of new points appended), and its minimum over the defenses."""
        from .relocate import heaviest

        added = [0] * len(ps.weight)
        tried = heaviest(ps, 2)
        placing = domain is not None and bool(domain.onehot_groups) and pricer is not None
        model = None            # the poison's undefended model: it warm-starts the trials
        while ps.n_poisons + 1 <= budget:
            found = None
            if model is None:
                model = defended(ps)[0].models["none"]
            for i in tried:
                w = np.array(ps.weight, dtype=float)
                w[i] += 1
                trial = PoisonSet(ps.X, ps.y, w, meta=dict(ps.meta))
                # warm-started from the poison's model: the same models, sooner (adult:
                # seconds from the clean model, a tenth of one from a copy away)
                out = defended(trial, model)
                if out[1] > score and (found is None or out[1] > found[0]):
                    found = (out[1], i, trial, out[0].models["none"])
            if found is not None:
                score, i, ps, model = found
                added[i] += 1
                self._say(f"reachable: top-up: one more copy of point {i} (label "
                          f"{int(ps.y[i]):+d}), min over defenses {score:.4f}")
                continue
            placed = (self._placement(ps, score, budget, defended, domain, pricer)
                      if placing else None)
            if placed is None:
                break
            score, i, ps = placed
            added.append(int(ps.weight[-1]))
            tried = tried + [len(ps.y) - 1]
            placing = False                  # one new point: its copies are then tried
            self._say(f"reachable: top-up: {ps.weight[-1]:g} copies at a new point beside "
                      f"point {i} (label {int(ps.y[i]):+d}), min over defenses {score:.4f}")
            # (the model of the poison the climb ends at, when it trained it: not again)
            ps, score, model = self._placed_climb(ps, score, defended, domain, pricer)
        self._say(f"reachable: top-up: {sum(added)} copies added, "
                  f"{budget - ps.n_poisons:g} of the budget left")
        return ps, added, score

    def _topped(self, best, others, budget, defended, domain=None, pricer=None, room=None):
        """The top-up (:meth:`_topup`) of the chosen result ``best``, of up to
        :data:`TOPUP_TRIES` of ``others`` (accepted :class:`_Choice` results: the
        relocation's realisations) that leave budget over and score within
        :data:`TOPUP_WITHIN` of it, highest first, and of the room ``best``'s poison makes
        (:meth:`_rooms`; ``room(poison, name)``: a :class:`_Choice` result for a smaller
        poison, or None): ``(the result whose topped poison scores highest, (poison,
        copies added, score))`` -- ``best`` on ties."""
        pool = [(best, None)] + [(f, f"the relocation's realisation of {f[2].n_poisons:g} "
                                     "points") for f in sorted(
            (f for f in others if f is not best and f[2].n_poisons + 1 <= budget
             and f[0][1] >= best[0][1] - TOPUP_WITHIN),
            key=lambda f: f[0], reverse=True)[:TOPUP_TRIES]]
        pool += self._rooms(best, budget, room)
        chosen = None
        for found, what in pool:
            if what is not None:
                self._say(f"reachable: top-up of {what}, min over defenses {found[0][1]:.4f}")
            topped = self._topup(found[2], found[0][1], budget, defended, domain, pricer)
            if chosen is None or topped[2] > chosen[1][2]:
                chosen = (found, topped)
        if len(pool) > 1:
            self._say(f"reachable: top-up: the highest of {len(pool)} topped results "
                      f"{chosen[1][2]:.4f}")
        return chosen

    def _rooms(self, best, budget, room):
        """Room for the top-up when the chosen result ``best`` leaves less than the
        smallest :data:`ROOM` of the budget over: for each of its two heaviest points per
        label (a realisation of the exact program spreads adult's poison over about 60:
        each room is a certificate and a top-up, about a minute there) and each fraction
        of :data:`ROOM` (at least one copy, fewer than the point has), its poison
        with that many copies fewer, kept when ``room`` accepts it -- step 5b's rule (its
        model certified, every point inside, ``n_poisons <= certified + max_extra``): an
        accepted target in its own right, realised by the smaller poison.  The top-up
        then spends what it leaves (on adult, at a new point: a third location the
        climbs and chains do not try, ROOM's measurements).  Returns ``[(result, what)]``."""
        from .relocate import heaviest

        ps = best[2]
        takes = sorted({max(1, int(round(f * budget))) for f in ROOM})
        if room is None or budget - ps.n_poisons >= takes[0]:
            return []
        out = []
        for i in heaviest(ps, 2):
            for k in takes:
                if k >= ps.weight[i]:
                    continue
                w = np.array(ps.weight, dtype=float)
                w[i] -= k
                what = f"room ({k} copies off point {i})"
                found = room(PoisonSet(ps.X, ps.y, w, meta=dict(ps.meta)), what)
                if found is not None and found[0][0]:
                    out.append((found, f"{what} ({found[2].n_poisons:g} points, certified "
                                       f"{found[1].certified:g})"))
        return out

    def _placement(self, ps, score, budget, defended, domain, pricer):
        """The top-up's new point (:meth:`_topup`): ``(score, i, poison)`` of the best
        placement of the leftover (all of it, or half) at a neighbouring location of one
        of the two heaviest points per label that raises the minimum over the defenses
        above ``score``; None when none does."""
        from .relocate import heaviest

        left = budget - ps.n_poisons
        model = defended(ps)[0].models["none"]
        pricer.aim(model)                    # the loss cone aimed at the poison's model
        found = None
        for i in heaviest(ps, 2):
            for z in _moves_inside(ps, i, domain, pricer):
                for k in sorted({np.floor(left), np.ceil(left / 2)}):
                    trial = PoisonSet(np.vstack([ps.X, z]), np.append(ps.y, ps.y[i]),
                                      np.append(ps.weight, k), meta=dict(ps.meta))
                    s = defended(trial, model)[1]
                    if s > score and (found is None or s > found[0]):
                        found = (s, i, trial)
        return found

    def _placed_climb(self, ps, score, defended, domain, pricer):
        """The top-up's new point (the last row of ``ps``, minimum over the defenses
        ``score``) climbed over its neighbouring locations: per pass every location of
        :func:`.relocate.point_moves` inside the feasible set with the loss cone aimed at
        the poison's model is judged, and the best that raises the minimum taken, for at
        most :data:`PLACED_CLIMB` passes.  Its copies are leftover budget, not part of the
        certified realisation, so any location inside the set will do.  Returns
        ``(poison, score, its undefended model)`` -- the model None when the last pass
        moved the point (not yet trained for the poison it ends at)."""
        row = len(ps.y) - 1
        for _ in range(PLACED_CLIMB):
            model = defended(ps)[0].models["none"]
            pricer.aim(model)
            found = None
            for z in _moves_inside(ps, row, domain, pricer):
                X = ps.X.copy()
                X[row] = z
                trial = PoisonSet(X, ps.y, ps.weight, meta=dict(ps.meta))
                s = defended(trial, model)[1]
                if s > score and (found is None or s > found[0]):
                    found = (s, trial)
            if found is None:
                return ps, score, model
            score, ps = found
            self._say(f"reachable: top-up: the new point moved to a neighbouring location, "
                      f"min over defenses {score:.4f}")
        return ps, score, None

    def _candidates(self, data, seeds, clean, D, budget, defenses, p, meanwhile=None):
        """``[(source, model)]``: the seed models (trained under defender ``D``) -- a seed
        attack named in ``given_poisons`` is not run, its given poison stands for it -- and
        per seed what it cost.  ``meanwhile``: work of this process's own, done once its
        seeds are, before the seed attacks of the second process are collected."""
        from ..decoys import DecoyGenerator
        from ..targets import label_flip_sweep

        Xc, yc, Xt, yt, = data.X_train, data.y_train, data.X_test, data.y_test
        Xp, yp = (Xt, yt) if self.use == "test" else (Xc, yc)
        Xe, ye = Xp, yp
        out, info = [], {}
        tol = self.screen_tol
        given = self._given
        order = [s for s in seeds if s not in given] + list(given)
        # the KKT seed, the slowest, runs beside the others (workers) and is collected
        # last; the seed models and the seed poisons (step 5b) keep the seeds' order
        beside = self._beside.workers > 1
        jobs, started = {}, {}
        for seed in order:
            if seed == "kkt" and seed not in given:
                started[seed] = time.perf_counter()
                jobs[seed] = self._beside.submit(
                    _poisons_of, self._seed_attack(seed, defenses, p, D), data)
            if seed not in ("decoys", "improved"):
                self._seed_poisons[seed] = None      # its place, filled by _seed_model
        models = {}
        for seed in [s for s in order if s not in jobs] + list(jobs):
            if seed in jobs and meanwhile is not None:
                meanwhile()
                meanwhile = None
            t0 = started[seed] if beside and seed in jobs else time.perf_counter()
            try:
                if seed == "decoys":
                    gen = DecoyGenerator(None, repeats=self.decoy_repeats,
                                         quantiles=self.decoy_quantiles, use=self.use,
                                         prune=False, tol=tol, defender=D)
                    gen.fit(Xc, yc, Xt, yt, clean_model=clean)
                    models[seed] = [(f"decoy q={d.quantile:g} r={d.repeats}", d.model)
                                    for d in gen.candidates_]
                elif seed == "improved":
                    cands = label_flip_sweep(
                        Xc, yc, Xp, yp, None, lambda m: (m.error(Xe, ye), False),
                        quantiles=self.decoy_quantiles, repeats=self.decoy_repeats,
                        adaptive=True, stop_at_goal=False, clean_model=clean, tol=tol,
                        failures=[], defender=D)
                    models[seed] = [(f"improved q={c.quantile:g} r={c.repeats}", c.model)
                                    for c in cands]
                else:
                    if seed in given:
                        # found elsewhere (an audit's attack): only its model is new
                        poisons = given[seed]
                    elif seed in jobs:
                        poisons = jobs[seed].result()
                    else:
                        poisons = fit_part(self._seed_attack(seed, defenses, p, D),
                                           data).poisons_
                    models[seed] = [(seed, self._seed_model(seed, poisons, data, D))]
                info[seed] = {"models": len(models[seed]), "seconds": time.perf_counter() - t0,
                              **({"given": True} if seed in given else {})}
            except (InputError, SolverFailure) as exc:
                # a seed that fails leaves the others (recorded, never silent)
                self._seed_poisons.pop(seed, None)
                info[seed] = {"models": 0, "error": f"{type(exc).__name__}: {exc}",
                              "seconds": time.perf_counter() - t0}
            self._say(f"reachable: seed {seed}: {info[seed]}")
        if meanwhile is not None:
            meanwhile()
        out = [m for seed in order for m in models.get(seed, [])]
        info = {seed: info[seed] for seed in order}
        if not out:
            raise SolverFailure("reachable: no seed produced a candidate model",
                                solver=self.solver or "default", status="no candidates")
        return out, info

    def _seed_model(self, name, P, data, D):
        """Record a seed attack's poison ``P`` (step 5b judges it) and return the model it
        induces on ``Dc``: the seed model (screening tolerance, from the clean model)."""
        self._seed_poisons[name] = P
        Xa, ya, wa, _ = P.with_clean(data.X_train, data.y_train)
        return D.train(Xa, ya, sample_weight=wa, tol=self.screen_tol,
                       warm_start=self.clean_model_)

    def _seed_attack(self, seed, defenses, p, D, epsilon=None):
        """The other attacks with small settings (their induced models are what counts),
        against defender ``D`` (which carries the regularisation: no ``reg``)."""
        common = dict(epsilon=self.epsilon if epsilon is None else epsilon, defender=D,
                      defenses=defenses, p=p, use=self.use, progress=None, progress_bar=False)
        if seed == "kkt":
            from .kkt import KKTAttack

            small = SEED_KKT if self.kkt_seed == "small" else {}
            return KKTAttack(**small, screen_tol=self.screen_tol, **common)
        if seed == "minmax":
            from .minmax import MinMaxAttack

            return MinMaxAttack(max_decoys=1, decoy_quantiles=self.decoy_quantiles,
                                decoy_repeats=self.decoy_repeats,
                                random_state=self.random_state, screen_tol=self.screen_tol,
                                **common)
        from .influence import InfluenceAttack

        return InfluenceAttack(max_iter=8, n_steps=2, random_state=self.random_state, **common)

    def _relocation(self, best, defended, domain, pricer, D, trials, searched, choice):
        """Step 5e: relocation from the chosen poison (:func:`.relocate.relocate`), every
        poison judged under the defenses (``defended``, warm-started from the poison it
        moves from); a move above the best so far kept only when step 5b would accept its
        poison (``acceptable``: its model certified, its points within ``max_extra`` of
        the certified minimum).  A chain's refused poison may instead be trimmed
        (``relocate_trim``) or its model realised (``relocate_realise``: a candidate
        target of steps 4-5, realised and judged by ``choice``).  When the poison it ends
        at scores above the start, it is a seed poison and its model a seed
        (``searched``); when that poison is a realisation, it is also the accepted
        target it realises.  Returns ``(best, record, the accepted realisations)``."""
        from .relocate import TEMPERATURE, relocate, trimmed

        temperature = (TEMPERATURE if self.relocate_temperature is None
                       else _temperature(self.relocate_temperature))

        def inside(X, y, model):
            pricer.aim(model)                  # the loss cone aimed at the poison's model
            # the set the certificate covers: on adult the l2 secant's half-space, not
            # the sphere (a point between them makes its poison's model cost more points
            # than the poison has: refused, after a trial and an exact solve)
            return pricer.feasible.satisfies(X, y)

        last = {}

        def exact(P):
            """The model exact training on ``Dc u P`` returns, the last one remembered (a
            refused poison's realisation asks for the model its certificate just trained)."""
            key = (P.X.tobytes(), P.y.tobytes(), P.weight.tobytes())
            if last.get("key") != key:
                last.update(key=key, model=_exact_model(P, pricer.X, pricer.y, D,
                                                        self.random_state))
            return last["model"]

        def certified(P):
            """The certified minimum of the model ``P`` induces (its exact model, trained
            as step 5b trains it: the same model) and whether ``P`` lies inside the set it
            covers; None when no solver certifies it."""
            model = exact(P)
            try:
                lp = pricer.certify(model, solvers=SEED_CERTIFY_SOLVERS)
            except SolverFailure as exc:
                self._say(f"reachable: relocation: a poison's model not certified ({exc})")
                return None
            return lp.certified, bool(pricer.feasible.satisfies(P.X, P.y).all())

        def fits(P, got):
            # step 5b's rule: inside, within max_extra of the certified minimum
            return got is not None and got[1] and got[0] <= P.n_poisons <= got[0] + self.max_extra

        wasteful = {}                          # the last poison refused only for its excess

        def acceptable(P, judged):
            # step 5b's rule, ahead of it: a poison whose model no solver certifies, or
            # with more points than its certified minimum + max_extra, would be refused
            wasteful.clear()
            got = certified(P.compact())
            if fits(P, got):
                return True
            if got is not None:
                self._say(f"reachable: relocation: a poison not kept ({P.n_poisons:g} points, "
                          f"its model certified at {got[0]:g})")
                if got[1] and P.n_poisons > got[0]:
                    wasteful.update(poison=P, excess=P.n_poisons - got[0])
            return False

        def trim(P, judged):
            # a chain's poison that ``acceptable`` refused for its excess only, trimmed
            # (relocate.trimmed): the relocate_trim best certified until one is acceptable
            if wasteful.get("poison") is not P:
                return None
            out = trimmed(P, judged, wasteful["excess"], defended,
                          lambda Q: fits(Q, certified(Q)), int(self.relocate_trim))
            if out is not None:
                self._say(f"reachable: relocation: {P.n_poisons - out[0].n_poisons:g} copies "
                          f"fewer: {out[0].n_poisons:g} points, min over the defenses "
                          f"{out[1][1]:.4f}")
            return out

        realisations = {}                      # id(poison) -> choice.judge's result

        def realise(P, judged):
            # a chain's refused poison's model as a candidate target (steps 4-5): realised
            # with the fewest points its model needs, an accepted target when induced
            model = exact(P.compact())
            cand = choice.add(model, "relocation chain poison's model", 1.0,
                              pricer.screen(model))
            found = choice.judge(cand)
            if found is None or not found[0][0]:
                return None
            realisations[id(found[2])] = found
            return found[2], defended(found[2])  # (the judgement judge() just made)

        before = best[0]
        ps, judged, record = relocate(best[2], defended, domain, inside,
                                      points=int(self.relocate_points),
                                      sweeps=int(self.relocate_sweeps), trials=trials,
                                      kicks=int(self.relocate_kicks),
                                      kick_moves=int(self.relocate_kick_moves),
                                      wide_kicks=int(self.relocate_wide_kicks),
                                      wide_moves=int(self.relocate_wide_moves),
                                      anneal=int(self.relocate_anneal),
                                      chains=int(self.relocate_chains),
                                      locations=int(self.relocate_locations),
                                      temperature=temperature,
                                      trim=trim if self.relocate_trim else None,
                                      realise=realise if self.relocate_realise else None,
                                      random_state=self.random_state, accept=acceptable,
                                      say=lambda line: self._say(f"reachable: {line}"))
        self._say(f"reachable: relocation: from {record['start']:.4f} to {record['score']:.4f} "
                  f"under the defenses ({record['trials']} trials, {record['kept']} climbing "
                  f"moves kept, {record['refused']} poisons refused by step 5b's rule, "
                  f"{record['trimmed']} trimmed ones and {record['realised']} realisations "
                  f"kept, {record['seconds']:.0f} s)")
        for k, (begin, end, taken) in enumerate(record["chains"]):
            self._say(f"reachable: relocation: annealing chain {k + 1}: from {begin:.4f} to "
                      f"{end:.4f} ({taken} poisons taken)")
        if record["score"] > record["start"]:
            if id(ps) in realisations:         # an accepted target's realisation
                best = choice.better(best, realisations[id(ps)])
            best, _, _ = searched("relocation", ps, judged, best)
        record.update(best=best[0][1], chosen=best[0] > before)
        return best, record, list(realisations.values())

    def _polish(self, data, ps, D, defenses, p, names, quantile):
        """Step 5c: the influence attack's ascent started from the poison ``ps``, its
        objective the smoothed error (:func:`~convexpoison.attacks.influence.smoothed_error`,
        width ``polish_tau``) on the evaluation set, lowest over ``defenses`` each applied
        to ``Dc u Dp`` before training (``anticipate``): the defended objective the search
        and the screening only approximate (the defenses remove 5% of the clean points,
        and which ones depends on the poison).  The points stay in the feasible set
        without the loss cone (the realisation of the polished poison's model puts its
        points back inside it).  Returns the fitted attack, or None when it cannot run
        (e.g. a free intercept)."""
        attack = self._seed_attack("influence", defenses, p, D).set_params(
            feasible=[n for n in names if n != "loss"], quantile=quantile,
            anticipate=defenses, objective="smoothed-error", tau=self.polish_tau,
            initial_poisons=ps, max_iter=self.polish_steps, patience=3)
        # workers: the second step length of each ascent step in this attack's second
        # process, already started (InfluenceAttack.workers)
        attack._beside = self._beside
        try:
            return fit_part(attack, data)
        except (InputError, SolverFailure) as exc:
            self._say(f"reachable: the polish did not run ({exc})")
            return None

    def _toward(self, data, priced, limit, D, defenses, p, rnd):
        """Step 3b: a KKT attack whose decoys are the ``n_toward`` priced models of highest
        evaluation error beyond the budget, priced at most ``toward_reach`` times it (the
        climb's and the segments' far points: on spambase 17-21% test error at 500-660
        points).  A poison of the budget does not come near a model that costs far more:
        on mnist17 the models of highest error beyond the budget cost 800-28 000 points
        (21 in the budget) and the KKT attack toward them induced a model of 1.33% test
        error; toward those within 6 times the budget its poison realises its own model
        (21 points, certified 21) at 2.33% under the defenses, KKT's figure (with two BLAS
        threads; with one a point of it lies outside the loss cone and it is refused).
        Its poison (the whole budget) induces a trained model: reachable by construction,
        and measured cheaper than the budget (spambase: 94 points of 110, 11.07% test
        error, above every target the search found on its own segments from the clean
        model), so its segment can be pushed further.  Returns None (no model beyond the
        budget), or a function that returns the seed ``(source, model)`` or None (the
        attack failed): the attack's sweep runs in the second process beside the MTP runs,
        and this process takes the tasks not started there when the function is called
        (``workers``: :class:`~convexpoison.attacks.kkt.SharedSweep`; with one worker the
        whole attack runs then); its poison joins the seed poisons."""
        reach = self.toward_reach * limit
        far = sorted((c for c in priced if limit < c.price <= reach),
                     key=lambda c: (-c.eval_error, c.price))[:int(self.n_toward)]
        if not far or [id(c) for c in far] in [[id(c) for c in seen]
                                               for seen in self._toward_decoys]:
            return None                 # nothing beyond the budget, or an earlier round's decoys
        self._toward_decoys.append(far)
        from .kkt import SharedSweep

        name = f"kkt toward {rnd + 1}"
        attack = self._seed_attack("kkt", defenses, p, D).set_params(
            decoys=[c.model for c in far], grid=3)
        # its sweep in the second process; this process takes the tasks not started there
        # once its MTP runs are done (workers)
        fitted = SharedSweep(attack, data, self._beside)
        self._seed_poisons[name] = None         # its place among the seed poisons (step 5b)

        def finish():
            try:
                poisons = fitted.poison()
            except (InputError, SolverFailure) as exc:
                del self._seed_poisons[name]
                self._say(f"reachable: {name}: KKT failed ({exc})")
                return None
            model = self._seed_model(name, poisons, data, D)
            self._say(f"reachable: {name}: a KKT attack toward {len(far)} models beyond the "
                      f"budget (evaluation error {', '.join(f'{c.eval_error:.3f}' for c in far)})")
            return name, model

        return finish

    def _mtp_toward(self, data, priced, limit, D, rnd):
        """Step 3b, MTP: Suya et al.'s model-targeted attack (Algorithm 1) toward each of
        the ``n_mtp`` priced models of highest evaluation error beyond the budget, priced
        at most ``mtp_reach`` times it, not aimed at by an earlier round.  Each MTP run
        spends the budget (``ceil(budget / mtp_steps)`` copies per step) inside the
        feasible set with its loss cone aimed at MTP's target.  Its poison induces a
        trained model near the target -- cheaper than the target, within the budget or
        close to it (measured on spambase toward models of 13-15% test error at 135-185
        points: 11.2-12.6% at 103-105 points), and off every segment through the earlier
        seeds.  Returns the seeds ``(source, model)``; their poisons join the seed poisons
        (step 5b)."""
        from ..feasible import FeasibleSet, LossBound
        from .mtp import ModelTargetedPoisoning

        reach = self.mtp_reach * limit
        copies = int(np.ceil(self._budget(data) / self.mtp_steps))
        used = {id(c) for aimed in self._mtp_targets for c in aimed}
        far = [c for c in sorted((c for c in priced if limit < c.price <= reach),
                                 key=lambda c: (-c.eval_error, c.price))
               if id(c) not in used][:int(self.n_mtp)]
        self._mtp_targets.append(far)
        fixed = [k for k in self.feasible_.components if k.name != "loss"]
        loss = self.feasible_["loss"] if "loss" in self.feasible_.names else None
        seeds = []
        for i, c in enumerate(far):
            name = f"mtp toward {rnd + 1}.{i + 1}"
            # the loss cone follows the model being priced; MTP's one fixed model is its
            # target, and the cone under it keeps MTP's points near the cones of the models
            # it induces on the way (spambase: 12.92% without it, 13.14% with it)
            feas = FeasibleSet(fixed + ([] if loss is None else [
                LossBound(c.model, quantile=loss.quantile).fit(data.X_train, data.y_train)]))
            try:
                mtp = fit_part(ModelTargetedPoisoning(
                    c.model, feasible=feas, epsilon=self.epsilon, eps_close=0.0,
                    copies=copies, train_tol=self.screen_tol, solver=self.solver,
                    progress_bar=False, bound_at_achieved=False, defender=D,
                    random_state=self.random_state), data)
            except (InputError, SolverFailure) as exc:
                self._say(f"reachable: {name}: MTP failed ({exc})")
                continue
            model = self._seed_model(name, mtp.poisons_, data, D)
            self._say(f"reachable: {name}: MTP toward {c.source} (evaluation error "
                      f"{c.eval_error:.3f}, {c.price:.1f} points)")
            seeds.append((name, model))
        return seeds

    def _search(self, pricer, clean, found, limit, t_max, steps, add, priced, Xe, ye):
        """Steps 2-3 of the attack (docs/reachable.md): every seed priced, the segment
        search, the mixtures, the climb and the dual climb; ``add`` records each priced
        model in ``priced``."""
        n_search = int(self.n_search)
        floor = None
        if self.prune:
            floor = (lambda: _best_within(priced, limit, -np.inf), (Xe, ye))
        first = []
        # the models the other attacks induce first (reachable by construction: the
        # likeliest to fit the budget), then the label-flip models by evaluation error --
        # what a search cut short by max_priced / search_seconds gets to price (mnist17:
        # a screening solve takes 3-25 s)
        order = sorted(found, key=lambda sm: (sm[0] not in SEEDS and sm[0] not in self._given,
                                              -sm[1].error(Xe, ye)))

        def run(unit):
            _explore(unit, pricer, clean, limit, t_max, steps, add, floor)

        def explore(units):
            if pricer.scout is None:
                for unit in units:
                    run(unit)
            else:
                for unit in pricer.scout.search(units, floor):   # tried ahead beside
                    run(unit)

        explore([("price", model, source) for source, model in order])
        for source, model in order:
            c = add(model, source, 1.0, pricer.screen(model))      # priced just now
            if not np.isfinite(c.price):
                continue                   # unattainable (or not solved): no segment
            guess = min(t_max, limit / c.price) if c.price > 0 else t_max
            first.append((_blend(clean, model, guess).error(Xe, ye), guess, c))
        first.sort(key=lambda e: -e[0])
        explore([("segment", c, guess) for _, guess, c in first[:n_search]])
        # mixtures: the average of two boundary targets of different seed families is a
        # new direction from theta_c (its price is often below the budget: the two
        # families spend it on different clean points); searched along its segment
        n_mix = int(self.n_mix)
        best_of = {}
        for c in priced:
            fam = c.source.split(" t=")[0]
            if c.price <= limit and (fam not in best_of or c.eval_error > best_of[fam].eval_error):
                best_of[fam] = c
        tops = sorted(best_of.values(), key=lambda c: -c.eval_error)[:n_mix]
        mixes = []
        for i in range(len(tops)):
            for j in range(i + 1, len(tops)):
                a, b_ = tops[i], tops[j]
                name = f"mix({a.source.split(' t=')[0]}|{b_.source.split(' t=')[0]})"
                if not any(c.source == name for c in priced):    # else met by a search before
                    mixes.append(("step", _blend(a.model, b_.model, 0.5), name, True))
        explore(mixes)
        # climb: from the best target within the budget, step toward each of the
        # n_climb models of highest evaluation error (priced, any price) and bring the
        # step back onto the budget along its own segment from theta_c; the best
        # boundary target found is the next start
        n_climb = int(self.n_climb)
        for rnd in range(n_climb and self.climb_rounds):
            inside = [c for c in priced if c.price <= limit]
            if not inside:
                break
            start = max(inside, key=lambda c: (c.eval_error, -c.price))
            far = sorted((c for c in priced if c.eval_error > start.eval_error),
                         key=lambda c: -c.eval_error)[:n_climb]
            top = start.eval_error
            # each step named by round and the model stepped toward (the start is the best
            # of the previous round)
            explore([("step", _blend(start.model, c.model, self.climb_step),
                      f"climb{rnd + 1}>{c.source.split(' t=')[0].split(' snapped')[0]}", False)
                     for c in far])
            if _best_within(priced, limit) <= top:
                break
        # the climb along the price's level set (the program's dual sensitivities)
        self._dual_climb(pricer, clean, priced, limit, add, Xe, ye)

    def _dual_climb(self, pricer, clean, priced, limit, add, Xe, ye):
        """Climb along the budget's level set ``price(theta) = limit`` (``dual_rounds``
        rounds).  From the best target within the budget ``theta_s`` (price gradient ``g``
        from the program's duals, :meth:`_Pricer._gradient`), each direction ``v`` --
        toward the ``n_climb`` priced models of higher evaluation error, and the gradient
        of a smooth surrogate of the evaluation error (the mean of
        ``sigmoid(-y s(x) / T)``) -- is made tangent to the level set
        (``v - (g.v / g.g) g``: to first order a move that costs no price), a step of
        ``dual_step |theta_s - theta_c|`` is taken along it, and the step is brought back
        onto the budget by up to ``newton`` Newton steps along the new point's own
        gradient (``theta -= (price - limit) / |g|^2 g``; shortened by 4 after a step
        that raised the price).  Unlike the climb's segments
        from ``theta_c``, the correction removes only the price-raising component of the
        move, not a share of the whole displacement.  Every priced point is a candidate;
        the best boundary target found starts the next round (a round that finds nothing
        better stops the climb)."""
        rounds = int(check_positive(self.dual_rounds, "dual_rounds", allow_zero=True))
        step = check_positive(self.dual_step, "dual_step", allow_zero=True)
        newton = int(check_positive(self.newton, "newton", allow_zero=True))
        n_climb = int(self.n_climb)
        if not rounds or not step:
            return
        theta_c = clean.theta
        aim = limit - 0.25                 # room for the linearisation's error
        for rnd in range(rounds):
            inside = [c for c in priced if c.price <= limit and c.grad is not None]
            if not inside:
                return
            start = max(inside, key=lambda c: (c.eval_error, -c.price))
            top = start.eval_error
            th0, g0 = start.model.theta, start.grad
            if not np.dot(g0, g0) > 0:
                return
            length = step * np.linalg.norm(th0 - theta_c)
            dirs = [(c.source.split(" t=")[0].split(" snapped")[0], c.model.theta - th0)
                    for c in sorted((c for c in priced if c.eval_error > top),
                                    key=lambda c: -c.eval_error)[:n_climb]]
            # the surrogate: the mean of sigmoid(-y s / T) rises as points cross the boundary
            m = ye * start.model.decision_function(Xe)
            T = max(float(np.std(m)) * 0.25, 1e-6)
            sg = 1.0 / (1.0 + np.exp(np.clip(m / T, -50, 50)))
            wts = sg * (1.0 - sg) * ye / T
            dirs.append(("surrogate", np.append(Xe.T @ wts, wts.sum()) / len(ye)))
            for name, v in dirs:
                v = v - (np.dot(g0, v) / np.dot(g0, g0)) * g0
                nv = np.linalg.norm(v)
                if not nv > 0:
                    continue
                th = th0 + (length / nv) * v
                model = _theta_model(clean, th)
                c = add(model, f"dual{rnd + 1}>{name}", 1.0, pricer.screen(model))
                frac = 1.0
                for _ in range(newton):
                    if not np.isfinite(c.price) or c.price <= limit or c.grad is None:
                        break
                    # a Newton step toward the budget along the point's own gradient,
                    # shortened (by 4) whenever it raised the price: the dual gradient
                    # leaves out the clean points crossing the margin, which dominate
                    # at the scale of a step (docs/reachable.md)
                    g = c.grad
                    th2 = th - frac * ((c.price - aim) / np.dot(g, g)) * g
                    model = _theta_model(clean, th2)
                    c2 = add(model, f"dual{rnd + 1}>{name}", 1.0, pricer.screen(model))
                    if c2.price < c.price:
                        th, c = th2, c2
                    else:
                        frac /= 4.0
            best = _best_within(priced, limit)
            self._say(f"reachable: dual climb round {rnd + 1} from {start.source} "
                      f"({top:.4f}): best within the budget {best:.4f}")
            if best <= top:
                return

    def _rounded(self, data, pricer, cand, budget, D, extra, judge=None):
        """The realisation on large integer domains (sparse text): the exact solve's points
        (two per label) with integer copy counts near the solve's weights, every copy
        randomly rounded to integer word counts inside the domain, the copies' sum kept
        within 1 of count x the relaxed point per word (:func:`_spread_up`) -- per total
        from ``ceil(value)`` to
        ``certified + extra`` (never beyond the budget) the first of
        :func:`~convexpoison.attacks.minpoison.count_candidates`, retrained exactly; the
        one closest to the target in max loss difference is kept (computed over the
        domain: a superset of the feasible set, so an accepted result is accepted over it
        too).  Rounding moves the points, so the target is usually not induced exactly
        (``not_close``): Koh et al.'s random rounding of relaxed points (section 3.3).

        ``n_roundings`` above 1 (with ``judge``): that many draws per total, each judged
        under the defenses on the evaluation set, and the one scoring highest kept (one
        within ``eps_close`` of the target first): the draws' nearness to the target does
        not rank their damage (fine-foods, 12 draws: distances 1.27-1.33, 42.4-44.3% min
        over the defenses, docs/reachable-history.md, *fine-foods: runs of at least
        two*)."""
        from ..programs.maxloss import MaxLossDifference
        from .minpoison import MinPoisonAttackResult, count_candidates

        lp = pricer.solved.lp
        frac = lp.poison_set()
        if len(frac) == 0:
            return None
        dom = data.domain
        rng = np.random.default_rng(self.random_state)
        limit = int(min(budget, cand.certified + extra))

        def rounded(counts):
            # each copy rounded up with probability the fractional part (unbiased), the
            # number of copies rounded up per word fixed near count x that part, in runs
            # (_spread_up): the copies' sum -- what enters the KKT condition -- stays
            # within 1 of count x the relaxed point.  Measured on fine-foods (the problem
            # file's target): distance 0.73 to the target; each copy rounded on its own
            # (a binomial spread per word): 2.37; a common rounding of all copies: 2.77
            # (it moves the sum by up to count / 2 per word)
            rows, labels = [], []
            for k in np.flatnonzero(counts > 0):
                x = frac.X[k]
                base = np.floor(x)
                up = _spread_up(rng, int(counts[k]), x - base, self.min_run)
                rows.append(np.clip(base + up, dom.lo, dom.hi))
                labels += [frac.y[k]] * int(counts[k])
            return PoisonSet(np.vstack(rows), np.array(labels), np.ones(len(labels)),
                             meta={"attack": "min-poison (randomly rounded copies)"})
        mld = MaxLossDifference(dom, integer="relax", solver=self.solver)
        best, tried = None, []
        first = {}
        for counts in count_candidates(frac.weight, limit):
            first.setdefault(int(counts.sum()), counts)
        draws = int(self.n_roundings) if judge is not None else 1

        def rank(value, score):
            # one draw: the nearest to the target; several: within eps_close first, then
            # the highest score under the defenses, then the nearest
            return (value <= self.eps_close, score, -value) if draws > 1 else (-value,)

        for total in sorted(t for t in first if t >= max(1, int(np.ceil(lp.value - 1e-6)))):
            counts = np.asarray(first[total], float)
            for _ in range(draws):
                ps = rounded(counts)
                model = _exact_model(ps, pricer.X, pricer.y, D, self.random_state)
                ml = mld.solve(model, cand.model)
                dist = float(np.linalg.norm(model.theta - cand.model.theta))
                rec = {"n_poisons": total, "counts": counts.tolist(),
                       "max_loss_difference": float(ml.value), "distance_to_target": dist}
                scored = judge(ps) if draws > 1 else None
                if scored is not None:
                    rec["score"] = scored[1]
                tried.append(rec)
                self._say(f"  {total} poisons (randomly rounded copies): max loss difference "
                          f"{ml.value:.4g}, distance {dist:.3g}"
                          + ("" if scored is None else f", min over defenses {scored[1]:.4f}"))
                key = rank(float(ml.value), None if scored is None else scored[1])
                if best is None or key > best[0]:
                    best = (key, float(ml.value), float(ml.upper_bound), dist, ps, model, rec,
                            scored)
            if best[1] <= self.eps_close:
                break
        if best is None:
            return None
        _, value, upper, dist, ps, model, rec, scored = best
        if scored is not None:
            judge.remember(ps, scored)      # the caller judges the chosen draw again
        status = "eps_close" if value <= self.eps_close else "not_close"
        rz = MinPoisonAttackResult(ps, model, lp, cand.certified, value, upper, dist,
                                   float("nan"), status, tried)
        return ps, rz

    def _realise_solver(self, integer):
        """The solver of the realisation's programs: the one named, else
        :data:`REALISE_SOLVER` (continuous points) or the package's default (MILPs)."""
        return self.solver or (None if integer else REALISE_SOLVER)

    def _realise(self, data, pricer, cand, budget, D, anchor=None, score=None, judge=None):
        """The integer minimum-poison attack on ``cand`` (exactly priced first), or None;
        with ``anchor`` (``(name, poison)``; continuous points) its points placed nearest
        the poison's (:meth:`FixedCountKKT.solve_near`), and with ``score`` (a function of
        a poison) the count vector within ``eps_close`` that scores highest kept.
        ``judge`` (a :class:`_Judge`): the text rounding's draws are chosen by it
        (``n_roundings``)."""
        try:
            lp = pricer.certify(cand.model)
        except SolverFailure:
            return None
        cand.certified = float(lp.certified)
        if not cand.certified <= budget:
            return None
        extra = int(min(self.max_extra, budget - cand.certified))
        from .. import solvers

        integer = data.domain is not None and data.domain.has_integers   # MILPs: CBC
        # integer coordinates: the exact program (column generation over integer points,
        # MinimumPoisoning(integer="auto")); the relaxed optimum's points are fractional in
        # one-hot coordinates, and the integer points found for them leave the target far
        # (adult: max loss difference 0.75-1.1).  Its optimum is the certified minimum
        # over integer points (>= the relaxed price the search used).  Above
        # solvers.DPP_MAX_D (sparse text) that program's compiled form does not fit in
        # memory (fine-foods: 29 GiB asked for), and the fixed-count MILP over 6660
        # integer counts per point ran for over 6 minutes without an answer: the relaxed
        # program's points are rounded instead (:meth:`_rounded`; the relaxed certificate
        # covers every integer point)
        exact = integer and pricer.X.shape[1] <= solvers.DPP_MAX_D
        if integer and not exact:
            return self._rounded(data, pricer, cand, budget, D, extra, judge)
        attack = _Realisation(cand.model, feasible=pricer.feasible, defender=D,
                              eps_close=self.eps_close, max_extra=extra,
                              integer="auto" if exact else "relax",
                              per_total=1, train_tol=1e-8,
                              solver=self._realise_solver(integer),
                              random_state=self.random_state,
                              progress=self.progress, bound_at_achieved=False)
        attack.pricer = None if exact else pricer
        attack.scout = None if exact else pricer.scout
        attack.anchor = None if integer or anchor is None else anchor[1]
        attack.score = None if attack.anchor is None else score
        try:
            attack.fit(data)
        except (InputError, SolverFailure) as exc:
            self._say(f"reachable: {cand.source}: not realised ({exc})")
            return None
        rz = attack.result_
        if exact:
            cand.certified = float(rz.lower_bound)
        if rz.model is None or not rz.poisons.n_poisons <= budget:
            return None
        if rz.poisons.meta.get("placement") == NEAR_ANCHORS:
            rz.poisons.meta["realisation"] = f"minimum-poison attack near {anchor[0]}"
        return rz.poisons, rz
