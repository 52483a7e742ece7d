"""Minimum-poison model-targeted attack (docs/minpoison.md).

The minimum-poison program (:mod:`convexpoison.programs.minpoison`) gives the fewest
*fractional* poison copies that make training return the target ``theta_p`` and a
certified lower bound.  A real attack needs integer copy counts, so:

1. **Counts.**  Round every slot's weight of the fractional solution (the two
   gradient-carrying points of Koh et al.'s Theorem 1 and any zero-gradient points) down,
   up and one further up (an unused slot: 0 or 1 copy); keep the count vectors whose total
   is at most ``ceil(bound) + max_extra``.
2. **Locations.**  With the counts fixed, re-optimise the points: the KKT-residual
   minimisation of Koh et al. section 4.2 (equation (17)) with the decoy ``theta_d = theta_p``
   (:class:`~convexpoison.programs.minpoison.FixedCountKKT`).  A residual ``r`` bounds the
   retrained model's distance to the target by ``|r| / (W C_R)`` (strong convexity).
   Integer domains (``integer='auto'``): the exact program's solution is already made of
   integer points (column generation), often many distinct ones, so the points are kept
   and the counts chosen per total by rounding plus a local search
   (:func:`count_search`).
3. **Verification.**  Retrain exactly from scratch on ``Dc u Dp``
   (the defender's ``D.train``, duality-gap certified) in order of total count and
   residual; accept the first whose max loss difference
   ``D(theta, theta_p)`` (:class:`~convexpoison.programs.maxloss.MaxLossDifference`, the
   MTP stopping rule) is at most ``eps_close``.
4. **Hybrid (optional).**  If no candidate is close enough, continue with Suya et al.'s
   MTP (:class:`~convexpoison.attacks.mtp.ModelTargetedPoisoning`) seeded with the best
   candidate's poison points to finish the last stretch.

The attack follows the contract of :mod:`convexpoison.attacks.base`:
``MinimumPoisoning(target).fit(data).poisons_`` (docs/attacks.md).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, SolverFailure
from ..poisons import PoisonSet
from ..programs.minpoison import FixedCountKKT, MinimumPoisonProgram, MinPoisonResult
from ..training import LinearModel
from ..validation import check_positive, check_weights, check_X, check_y
from .base import PoisoningAttack

__all__ = ["MinimumPoisoning", "MinPoisonAttackResult", "count_candidates", "count_search"]

#: Slots (distinct points) beyond which the floor/ceil/ceil+1 product is replaced by
#: largest-remainder allocations.
MAX_ENUMERATED_SLOTS = 6

#: A realisation's ``meta["placement"]`` when its points were placed nearest the anchors
#: (:meth:`MinimumPoisoning._anchors`, :meth:`FixedCountKKT.solve_near`)
NEAR_ANCHORS = "nearest the anchors"


@dataclass
class MinPoisonAttackResult:
    """What :class:`MinimumPoisoning` found (its ``result_``).

    ``poisons`` (integer copies), ``model`` (retrained on ``Dc u Dp``), ``program`` (the
    fractional optimum and its certificate), ``lower_bound`` (certified integer),
    ``max_loss_difference`` / ``max_loss_upper_bound`` (``D(model, target)``),
    ``distance_to_target`` (``|theta - theta_p|_2``), ``residual`` (the fixed-count KKT
    residual), ``candidates`` (every count vector retrained, in order), ``status``
    ('eps_close', 'not_close', 'hybrid', 'unattainable').
    """

    poisons: PoisonSet
    model: LinearModel | None
    program: MinPoisonResult
    lower_bound: float
    max_loss_difference: float
    max_loss_upper_bound: float
    distance_to_target: float
    residual: float
    status: str
    candidates: list = field(default_factory=list)
    seconds: float = 0.0
    hybrid: object = None
    #: K(delta) at the distance the induced model has to the target (docs/minpoison.md,
    #: "Neighbourhood bound"): lower_bound_at_achieved and the delta used
    at_achieved: dict = field(default_factory=dict)

    @property
    def n_poisons(self) -> int:
        return int(round(self.poisons.n_poisons))

    def to_dict(self) -> dict:
        """The attack's outcome as JSON-friendly numbers (``status`` as above)."""
        lp = self.program
        return {"status": self.status, "n_poisons": self.n_poisons if self.model is not None else None,
                # a Ctrl-C in the hybrid's MTP finish: its points so far (the command line
                # writes them and exits 130)
                "interrupted": self.status == "hybrid-interrupted",
                "distinct_points": int(len(self.poisons)), "lower_bound": self.lower_bound,
                "lp_value": lp.value, "max_loss_difference": self.max_loss_difference,
                "max_loss_upper_bound": self.max_loss_upper_bound,
                "distance_to_target": self.distance_to_target, "kkt_residual": self.residual,
                "n_candidates": len(self.candidates), "seconds": self.seconds,
                **self.at_achieved}


def count_candidates(weights, limit, max_slots=MAX_ENUMERATED_SLOTS):
    """Integer count vectors near the fractional ``weights`` with total ``<= limit``.

    Each slot takes ``floor``, ``ceil`` or ``ceil + 1`` of its weight (0 or 1 for an unused
    slot; the product, for up
    to ``max_slots`` slots); beyond that, largest-remainder allocations of every total
    from ``ceil(sum)`` to ``limit``.  Sorted by total (the empty attack included when the
    weights allow it: a target the clean data already induce needs no poison).
    """
    c = np.asarray(weights, float)
    lo = np.floor(c + 1e-9)
    if c.size <= max_slots:
        # an unused slot (weight 0) may take one copy
        choices = [sorted({lo[k], np.ceil(c[k] - 1e-9), np.ceil(c[k] - 1e-9) + 1}) if c[k] > 0
                   else [0.0, 1.0] for k in range(c.size)]
        out = {tuple(v) for v in itertools.product(*choices) if sum(v) <= limit}
    else:
        out = set()
        rem = c - lo
        order = np.argsort(-rem)
        for total in range(int(np.ceil(c.sum() - 1e-9)), int(limit) + 1):
            extra = total - int(lo.sum())
            if extra < 0:
                continue
            v = lo.copy()
            v[order[:min(extra, c.size)]] += 1
            v[order[0]] += max(0, extra - c.size)
            out.add(tuple(v))
    return sorted((np.array(v) for v in out), key=lambda v: (v.sum(), tuple(np.abs(v - c))))


class MinimumPoisoning(PoisoningAttack):
    """Fewest-points model-targeted poisoning with a matching certificate.

    Parameters
    ----------
    target : LinearModel (binary SVM) the attacker wants training to return (required;
        checked in ``fit``).
    feasible : Domain or FeasibleSet (fitted) -- where poison points may lie (default: the
        dataset's domain).
    reg : the defender's ``C_R`` (default: the dataset's).
    defender : the training the attack targets and is verified against (a Defender, a
        ``--defender`` spelling or a scikit-learn estimator; default the package's SVM with
        ``C_R = reg``): the program uses its regulariser row (docs/defender.md) and every
        candidate is retrained exactly with ``defender.train``.
    tol : margin tolerance of the program (reported).
    eps_close : accept a poison set when ``D(theta, theta_p) <= eps_close``.
    max_extra : search totals up to ``ceil(lower bound) + max_extra``.
    per_total : how many candidates (smallest residual first) to retrain per total.
    integer : 'relax' or 'exact' for the program on integer domains (see the program);
        'auto' (default): 'exact' where supported -- its integer points make the rounding
        to integer copies work (a relaxed point is fractional in one-hot coordinates).
    hybrid : finish with MTP seeded by the best candidate when none is close enough.
    hybrid_budget : MTP's budget (poison points) in hybrid mode.
    progress : callable receiving a line of text per stage (or None).
    bound_at_achieved : compute ``lower_bound_at_achieved`` (K(delta) of the program, delta
        the induced model's distance to the target) into ``result_``.

    The number of poison points is what the attack finds (no ``epsilon``): ``poisons_``
    holds the integer attack, ``result_`` the program's certificate and the retrained
    candidates.  ``fit(data, sample_weight=w)`` weights the clean points.
    """

    _name = "minimum-poison"
    _needs = "the clean training data and the target model"

    def __init__(self, target=None, feasible=None, reg=None, *, tol=1e-6, eps_close=0.1,
                 max_extra=2, per_total=3, integer="auto", solver=None, train_tol=1e-10,
                 hybrid=False, hybrid_budget=None, progress=None, random_state=0,
                 bound_at_achieved=True, defender=None):
        self.target = target
        self.defender = defender
        self.feasible = feasible
        self.reg = reg
        self.tol = tol
        self.eps_close = eps_close
        self.max_extra = max_extra
        self.per_total = per_total
        self.integer = integer
        self.solver = solver
        self.train_tol = train_tol
        self.hybrid = hybrid
        self.hybrid_budget = hybrid_budget
        self.progress = progress
        self.random_state = random_state
        self.bound_at_achieved = bound_at_achieved

    # ------------------------------------------------------------------ API
    def _fit(self, data, sample_weight=None):
        self.result_ = res = self._run(data, sample_weight)
        self.poisons_ = res.poisons

    def _run(self, data, sample_weight) -> MinPoisonAttackResult:
        from ..programs.maxloss import MaxLossDifference

        t0 = time.perf_counter()
        if not isinstance(self.target, LinearModel) or not self.target.is_binary:
            raise InputError("target: the minimum-poison attack needs a binary linear model")
        from ..programs.regularizer import hinge_defender

        self.defender_ = hinge_defender(self._defender(data), None, "the minimum-poison attack")
        self.tol_ = check_positive(self.tol, "tol", allow_zero=True)
        self.eps_close_ = check_positive(self.eps_close, "eps_close", allow_zero=True)
        self.max_extra_ = int(check_positive(self.max_extra, "max_extra", allow_zero=True))
        self.per_total_ = int(check_positive(self.per_total, "per_total"))
        self.feasible_ = data.domain if self.feasible is None else self.feasible
        X = check_X(data.X_train, "X", accept_sparse=True)     # sparse text stays sparse
        y = check_y(data.y_train, X.shape[0], "y")
        s = check_weights(sample_weight, len(y))
        self.reg_ = self.defender_.reg_for(s.sum())          # the clean data's effective C_R
        if self.target.w.shape != (X.shape[1],):
            raise InputError(f"target: model has {self.target.w.shape[0]} features, data has {X.shape[1]}")
        prog = self._program().fit(X, y, s)
        self.program_ = prog
        lp = prog.solve(self.target)
        self._say(f"min-poison program: value {lp.value:.6g}, certified >= {lp.certified} "
                  f"({lp.solver}, {lp.seconds:.2f} s)")
        if not np.isfinite(lp.value):
            return MinPoisonAttackResult(PoisonSet.empty(X.shape[1]), None, lp, lp.certified,
                                         np.nan, np.nan, np.nan, np.nan, "unattainable",
                                         seconds=time.perf_counter() - t0)
        dom = prog.domain
        self.maxloss_ = MaxLossDifference(
            self.feasible_, integer="exact" if (dom is not None and dom.has_integers
                                               and prog.kind_ == "LP") else "relax")
        limit = int(lp.certified) + self.max_extra_
        tried, best = [], None
        for total, group, labels in self._groups(prog, lp, limit):
            for res, counts, Xp, near in group[:self.per_total_]:
                keep = counts > 0
                ps = PoisonSet(Xp[keep], labels[keep], counts[keep], meta={"attack": "min-poison"})
                if near:
                    ps.meta["placement"] = NEAR_ANCHORS
                model = self._retrain(X, y, s, ps)
                ml = self.maxloss_.solve(model, self.target)
                dist = float(np.linalg.norm(model.theta - self.target.theta))
                rec = {"n_poisons": total, "counts": counts.tolist(), "residual": res,
                       "max_loss_difference": float(ml.value),
                       "max_loss_upper_bound": float(ml.upper_bound), "distance_to_target": dist}
                tried.append(rec)
                shown = counts.tolist() if len(counts) <= 8 else f"{int(np.count_nonzero(counts))} points"
                self._say(f"  {total} poisons {shown}: residual {res:.3g}, "
                          f"max loss difference {ml.value:.4g}, distance {dist:.3g}"
                          + (f", {NEAR_ANCHORS}" if near else ""))
                rank = self._rank(ml.value, ps)
                if best is None or rank < best[0]:
                    best = (rank, rec, ps, model)
                if ml.value <= self.eps_close_ and self._first_close():
                    break
            if (best is not None and best[1]["max_loss_difference"] <= self.eps_close_
                    and self._first_close()):
                break
        if best is None:
            raise InputError("max_extra: no integer count vector within the allowed total; "
                             "raise max_extra")
        _, rec, ps, model = best
        status = "eps_close" if rec["max_loss_difference"] <= self.eps_close_ else "not_close"
        out = MinPoisonAttackResult(
            ps, model, lp, lp.certified, rec["max_loss_difference"], rec["max_loss_upper_bound"],
            rec["distance_to_target"], rec["residual"], status, tried)
        if status == "not_close" and self.hybrid:
            out = self._hybrid(out, data)
        if self.bound_at_achieved:
            from ..certificates.lp import lower_bound_at_achieved

            out.at_achieved = lower_bound_at_achieved(out.model, self.target, self.feasible_,
                                                      X, y, None, s, program=prog,
                                                      defender=self.defender_)
        out.seconds = time.perf_counter() - t0
        return out

    # ------------------------------------------------------------ internals
    def _program(self):
        """The program; 'auto' is 'exact' (integer points by column generation) for integer
        domains where that is supported, else 'relax'."""
        if self.integer not in ("auto", "relax", "exact"):
            raise InputError(f"integer: expected 'auto', 'relax' or 'exact', got {self.integer!r}")
        kw = dict(tol=self.tol_, solver=self.solver, progress=self.progress,
                  defender=self.defender_)
        if self.integer != "auto":
            return MinimumPoisonProgram(self.feasible_, None, integer=self.integer, **kw)
        try:
            return MinimumPoisonProgram(self.feasible_, None, integer="exact", **kw)
        except InputError:
            return MinimumPoisonProgram(self.feasible_, None, integer="relax", **kw)

    def _groups(self, prog, lp, limit):
        """Per total (increasing): candidate ``(residual, counts, points, near)`` sorted by
        the KKT residual (``near``: the points were placed nearest :meth:`_anchors`), and
        the slots' labels.

        Two-point solutions (continuous points): floor/ceil count vectors, each with the
        points re-optimised (:class:`FixedCountKKT`).  Column-generation solutions (integer
        points): the points are kept and the counts chosen per total by rounding and a
        local search (:func:`count_search`).
        """
        if lp.columns:
            # the solution's points with their weights, then every other generated point
            pts = [(lab, role, x) for lab, role, x, _ in lp.columns]
            weights = [wt for *_, wt in lp.columns]
            for lab, role, x in lp.generated:
                if not any(l2 == lab and r2 == role and np.array_equal(x, x2) for l2, r2, x2 in pts):
                    pts.append((lab, role, x)), weights.append(0.0)
            weights = np.array(weights)
            labels = np.array([lab for lab, _, _ in pts])
            X = np.array([x for _, _, x in pts])
            k = len(lp.columns)
            for total in range(max(0, int(np.ceil(lp.value - 1e-6))), limit + 1):
                # the search over the solution's points only, and over all generated points
                n1, r1 = count_search(prog, pts[:k], weights[:k], total)
                n1 = np.concatenate([n1, np.zeros(len(pts) - k)])
                n2, r2 = count_search(prog, pts, weights, total)
                group = [(r1, n1, X, False)] + ([(r2, n2, X, False)]
                                                if not np.array_equal(n1, n2) else [])
                yield total, sorted(group, key=lambda t: t[0]), labels
            return
        slots, weights = _slots(lp, prog)
        kkt = fixed_count_program(prog, slots, self.solver)
        labels = np.array([lab for lab, _ in slots])
        anchors = self._anchors(slots)
        candidates = count_candidates(weights, limit)
        lowest = self._lowest_total(lp)
        by_total = {t: [c for c in candidates if int(c.sum()) == t]
                    for t in sorted({int(c.sum()) for c in candidates if c.sum() >= lowest})}
        # every count vector, in the order solved (by total)
        solved = self._solves(kkt, slots, [c for group in by_total.values() for c in group])
        for total, vectors in by_total.items():
            group = []
            for counts, out in itertools.islice(solved, len(vectors)):
                if out is None:                # e.g. no point on the active side for a label
                    continue
                Xp, res = out
                group.append((res, counts, Xp, False))
            group.sort(key=lambda t: t[0])
            if anchors is not None:
                # the count vectors retrained (per_total): their points moved nearest the
                # anchors, the residual held; a slot without an anchor stays near its own
                for i, (res, counts, Xp, _) in enumerate(group[:self.per_total_]):
                    near = np.array([Xp[k] if a is None else a for k, a in enumerate(anchors)])
                    try:
                        Xn, rn, _ = kkt.solve_near(counts, near, res)
                    except SolverFailure:
                        continue               # the least-residual points, as without anchors
                    group[i] = rn, counts, Xn, True
            yield total, group, labels

    def _solves(self, kkt, slots, vectors):
        """``(counts, (points, residual) or None)`` for each count vector in order: the
        fixed-count program solved (None: the solver failed)."""
        for counts in vectors:
            try:
                Xp, res, _ = kkt.solve(counts)
            except SolverFailure:
                yield counts, None
                continue
            yield counts, (Xp, res)

    def _lowest_total(self, lp):
        """The fewest points a count vector of the two-point solution may total (all the
        floor / ceil vectors: one below the certified minimum may still come within
        eps_close)."""
        return 0

    def _rank(self, max_loss, ps):
        """Order of the retrained count vectors (lowest kept): the max loss difference."""
        return max_loss

    def _first_close(self):
        """Stop at the first count vector within ``eps_close`` (the fewest points)."""
        return True

    def _anchors(self, slots):
        """Per slot, the point the realisation's points should lie nearest (None: no
        preference), or None for the least-residual points alone (this attack)."""
        return None

    def _retrain(self, X, y, s, ps):
        Xa, ya, wa, _ = ps.with_clean(X, y, s)
        return self.defender_.train(Xa, ya, wa, tol=self.train_tol,
                                    random_state=self.random_state)

    def _hybrid(self, res, data):
        """Finish with MTP from the min-poison candidate (Suya et al. Algorithm 1)."""
        from .mtp import ModelTargetedPoisoning

        kw = {}
        if self.defender is not None:
            kw["defender"] = self.defender_
        try:
            ModelTargetedPoisoning(self.target, **kw)
        except TypeError:
            raise InputError(f"defender: the hybrid finish (MTP) does not take a defender yet; "
                             f"run without hybrid for {self.defender_.spec()}") from None
        mtp = ModelTargetedPoisoning(
            self.target, self.feasible_, None if kw else self.reg_, **kw,
            eps_close=self.eps_close_,
            budget=self.hybrid_budget,
            integer="exact" if self.maxloss_.integer == "exact" else "relax",
            progress_bar=None if self.progress else False, train_tol=self.train_tol,
            random_state=self.random_state, initial_poisons=res.poisons,
            bound_at_achieved=False).fit(data)
        h = mtp.result_
        last = h.history[-1]
        ps = PoisonSet(h.poisons.X, h.poisons.y, h.poisons.weight,
                       meta={"attack": "min-poison + MTP"})
        return MinPoisonAttackResult(
            ps, h.model, res.program, res.lower_bound, last.max_loss_difference,
            last.max_loss_upper_bound, last.distance_to_target, res.residual,
            "hybrid" if h.stop_reason == "eps_close" else f"hybrid-{h.stop_reason}",
            res.candidates, hybrid=h)


def count_search(prog, points, weights, total):
    """Integer copies of fixed (integer) points for a given ``total``: round, then a local
    search over the counts.

    With the clean margin multipliers held at the program's optimum, the KKT residual of
    counts ``n`` is ``sum_j (n_j - c_j) a_j`` (``a_j`` the column of point ``j``,
    ``-y (x_j, 1) + C_R theta_p`` or ``C_R theta_p``; ``c`` the fractional optimum, whose
    residual is 0).  Start from ``floor(c)``, add copies greedily to the column that
    most reduces ``|r|_2`` until the total is reached, then apply the best one-copy move
    between two columns while it helps (an exact MILP over the counts proved too slow
    for CBC at d = 61).  Finally the margin multipliers are re-optimised (bounded least
    squares).  Returns ``(counts, |r|_2)``.
    """
    from scipy.optimize import lsq_linear

    ct = prog._P["ct"].value
    # a column's regulariser term (none under C on the sum: the row is the constant ct)
    pc = ct if prog.terms_.average else np.zeros_like(ct)
    A = np.zeros((prog.d + 1, len(points)))
    for j, (lab, role, x) in enumerate(points):
        A[:, j] = pc + (-lab * np.append(x, 1.0) if role == "grad" else 0.0)
    c = np.asarray(weights, float)
    n = np.floor(c + 1e-9)
    r = A @ (n - c)
    norms = np.sum(A * A, axis=0)
    while n.sum() < total:
        j = int(np.argmin(norms + 2 * (r @ A)))
        n[j] += 1
        r += A[:, j]
    while n.sum() > total:
        score = np.where(n > 0, norms - 2 * (r @ A), np.inf)
        j = int(np.argmin(score))
        n[j] -= 1
        r -= A[:, j]
    D = A.T @ A
    for _ in range(10 * len(points)):
        ra = r @ A
        # change of |r|^2 when one copy moves from column i to column j
        delta = (2 * (ra[None, :] - ra[:, None]) + np.diag(D)[None, :] + np.diag(D)[:, None]
                 - 2 * D)
        delta[n <= 0, :] = np.inf
        np.fill_diagonal(delta, np.inf)
        i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if not delta[i, j] < -1e-12 * max(1.0, r @ r):
            break
        n[i] -= 1
        n[j] += 1
        r += A[:, j] - A[:, i]
    # the residual with the clean margin multipliers re-optimised
    P = prog._P
    free = P["free"].value
    on = np.flatnonzero(free > 0)
    grad = A - pc[:, None]
    base = P["glo"].value + prog.reg_weight(n.sum()) * ct + grad @ n
    if on.size:
        sol = lsq_linear(prog.G_[on].T, -base, bounds=(0.0, 1.0), method="bvls", tol=1e-12)
        base = base + prog.G_[on].T @ sol.x
    return n, float(np.linalg.norm(base))


#: The slot layout :func:`_slots` gives a solution with a gradient-carrying point per label
#: and none on the zero-gradient sides, both of them feasible: every realisation of the
#: reachable-target attack on spambase and mnist17 -- the layout whose fixed-count program
#: is worth compiling ahead (:func:`fixed_count_program`).
USUAL_SLOTS = ((1, "grad"), (-1, "grad"), (1, "idle"), (-1, "idle"))


def fixed_count_program(prog, slots, solver=None) -> FixedCountKKT:
    """The fixed-count program of ``prog`` for ``slots``, built once per slot layout,
    program and solver (kept on ``prog``): the target enters through the program's
    Parameters, so realising another target is a re-solve."""
    cache = prog.__dict__.setdefault("_fixed_count", {})
    key = (tuple(slots), prog._key, solver)
    if key not in cache:
        cache[key] = FixedCountKKT(prog, slots, solver=solver)
    return cache[key]


def _slots(lp: MinPoisonResult, prog: MinimumPoisonProgram):
    """(label, role) slots and their fractional weights from a program solution.

    Slots of weight 0 are added for every (label, role) the solution does not use but the
    feasible set allows: after rounding, one copy of a freely placed point of the other
    label, or one zero-gradient copy (it only adds ``C_R theta_p`` to the condition), is
    often what absorbs the rounding error."""
    slots, weights = [], []
    if lp.columns:
        for lab, role, _x, wt in lp.columns:
            slots.append((int(lab), role)), weights.append(wt)
    else:
        for lab in (1, -1):
            if lp.points.get(lab) is not None:
                slots.append((lab, "grad")), weights.append(lp.gamma[lab])
            if lp.idle_points.get(lab) is not None:
                slots.append((lab, "idle")), weights.append(lp.eta[lab])
    for lab in (1, -1):
        for role in ("grad", "idle"):
            if (lab, role) not in slots and prog.side_point(lab, role) is not None:
                slots.append((lab, role)), weights.append(0.0)
    return slots, np.array(weights, float)
