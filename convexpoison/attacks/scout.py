"""Solves made ahead in the second process: the reachable-target attack on two cores, its
answer unchanged (docs/reachable.md, *Two cores*).

Four stretches of the attack are sequences of independent-looking computations made one
after the other in this process:

* the search (steps 2-3): *units* -- a model priced where it is, a segment search from a
  priced model, a model priced and then searched along its segment -- of a handful of
  screening solves each (0.1 s per solve on mnist17);
* a realisation (step 5): the fixed-count program solved for every count vector of each
  total (mnist17: 26 solves of 0.12 s for a realisation near the polished poison);
* step 4's screening: each candidate's fractional poison judged under the defenses
  (0.13 s on mnist17);
* step 5b: each seed poison's exact model, that model's screening solve and the poison's
  judgement.

Which points a search unit prices depends on what was priced before it (the bisection's
outcomes, the pruning floor), and a realisation stops at its first total within
``eps_close``; so the work cannot simply be shared out between two processes without
changing the answer.  :class:`Scout` runs it *speculatively* instead.  The second
process holds its own pricer (the same program, compiled there); while this process runs
the units from the front, the scout runs them from the back, one per job (a search unit
with the pruning floor this process had when the job was sent).  Every solve it makes
comes back keyed by what was solved (the target's parameters; the target, slots and
count vector); when this process reaches that unit it runs it as always, and a solve the
scout already made is taken from there instead of made again.  So the units run here, in
their order, with the floor, the bisection and the stopping of the serial run, and each
answer is the one a solve here gives: a solve is the same computation in either process
(one BLAS thread each; measured bit for bit on 80 screening solves and 12 fixed-count
solves of mnist17), and it does not depend on what was solved before it.  Where the
scout's lower floor made it price a point that this process prunes, the paths part and
this process solves the rest itself: the scout only ever saves solves.  The judgements
(steps 4 and 5b) are made there with the attack's own judge, shipped with the pricer;
whether this process uses one (a seed poison refused before its judgement) is decided
here, as in the serial run.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Scout"]

#: The second process's pricer and what its units need (set by :func:`_scout_setup`).
_STATE = {}


def _scout_setup(feasible, X, y, defender, solver, clean, search, judge):
    """The second process's pricer: the program built and compiled there (a job); and its
    copy of the attack's judge (:class:`~convexpoison.attacks.reachable._Judge`)."""
    from .reachable import _Pricer

    pricer = _Pricer(feasible, X, y, defender, solver)
    pricer.compile_ahead(clean)
    _STATE.update(pricer=pricer, clean=clean, search=search, target=None, judge=judge)


def _scout_judge(i, poison):
    """A poison judged under the defenses in the second process (a job): ``[(i, judgement)]``."""
    return [(i, _STATE["judge"](poison))]


def _scout_seed(name, poison, random_state):
    """A seed poison's exact model, that model's screening solve and the poison's judgement,
    made in the second process (step 5b; a job): ``[(name, (model, key, entry, judgement))]``."""
    from .reachable import _exact_model, _model_key

    pricer = _STATE["pricer"]
    model = _exact_model(poison, pricer.X, pricer.y, pricer.defender, random_state)
    key = _model_key(model)
    if key not in pricer.ahead:
        _STATE["target"] = None                 # the solve moves the program's target
        pricer.ahead[key] = pricer._solve(model)
    return [(name, (model, key, pricer.ahead[key], _STATE["judge"](poison)))]


def _scout_compile(model, slots, solver):
    """A realisation's fixed-count program compiled in the second process (a job)."""
    from .minpoison import fixed_count_program

    _aim(model)
    fixed_count_program(_STATE["pricer"].solved, slots, solver).compile_ahead()


def _aim(model):
    """The second process's program pointed at ``model`` (as a realisation's exact solve
    leaves it: the loss cone aimed, the target set)."""
    from .reachable import _model_key

    key = _model_key(model)
    if _STATE["target"] != key:
        pricer = _STATE["pricer"]
        pricer.aim(model)
        pricer.program.set_target(model)
        _STATE["target"] = key


class _Ahead:
    """The second process's screening: a solve goes to its pricer's ``ahead`` (standing
    for the memo: a target met again is not solved again), not to the count or the
    candidates; ``new`` lists the solves it made."""

    def __init__(self, pricer):
        self.pricer, self.new = pricer, []
        self.last = self.grad = None

    def screen(self, model):
        from .reachable import _model_key

        key, p = _model_key(model), self.pricer
        entry = p.ahead.get(key)
        if entry is None:
            entry = p.ahead[key] = p._solve(model)
            self.new.append((key, entry))
        value, self.last, self.grad = entry
        return value


def _speculate(pricer, clean, search, unit, floor0):
    """Run a search ``unit`` (:func:`~convexpoison.attacks.reachable._explore`) ahead of
    the search: its solves go to ``pricer.ahead`` (:class:`_Ahead`) and are returned as
    ``[(key, entry)]``.
    ``search`` is ``(limit, t_max, steps, Xe, ye)``; the pruning floor is ``floor0``
    (None: no pruning) raised by what the unit itself finds within the budget, as the
    search raises it."""
    from .reachable import PricedTarget, _explore, _model_key

    limit, t_max, steps, Xe, ye = search
    seen, inside = {}, [-np.inf if floor0 is None else floor0]

    def add(model, source, t, price):
        key = _model_key(model)
        if key not in seen:
            err = model.error(Xe, ye)
            seen[key] = PricedTarget(model, source, float(t), float(price), err, np.nan)
            if price <= limit:
                inside.append(err)
        return seen[key]

    floor = None if floor0 is None else (lambda: max(inside), (Xe, ye))
    ahead = _Ahead(pricer)
    _explore(unit, ahead, clean, limit, t_max, steps, add, floor)
    return ahead.new


def _scout_unit(unit, floor0):
    """One unit of the search run in the second process (a job): :func:`_speculate` with
    this process's floor when the job was sent."""
    _STATE["target"] = None                  # the screening solves move the program's target
    return _speculate(_STATE["pricer"], _STATE["clean"], _STATE["search"], unit, floor0)


def _scout_counts(unit, model, slots, solver):
    """One count vector's fixed-count solve in the second process (a job):
    ``[(key, (points, residual) or None)]`` (None: the solver failed)."""
    from ..errors import SolverFailure
    from .minpoison import fixed_count_program

    _aim(model)
    kkt = fixed_count_program(_STATE["pricer"].solved, slots, solver)
    try:
        Xp, res, _ = kkt.solve(unit)
        out = Xp, res
    except SolverFailure:
        out = None
    return [(counts_key(model, slots, unit), out)]


def counts_key(model, slots, counts):
    """The key of a fixed-count solve: the target, the slot layout and the count vector."""
    from .reachable import _model_key

    return _model_key(model), tuple(slots), tuple(float(c) for c in counts)


class Scout:
    """Solves made ahead in the second process of ``beside``
    (:class:`~convexpoison.parallel.Beside` with two workers) for ``pricer``.

    ``search`` is ``(limit, t_max, steps, Xe, ye)``, the search's fixed settings;
    ``judge``: the attack's :class:`~convexpoison.attacks.reachable._Judge` (None: poisons
    are judged here only).  The second process builds and compiles its own pricer first
    (a job queued behind what it runs now)."""

    def __init__(self, beside, pricer, clean, search, judge=None):
        self.beside, self.pricer, self.judging = beside, pricer, judge is not None
        beside.submit(_scout_setup, pricer.feasible, pricer.X, pricer.y, pricer.defender,
                      pricer.solver, clean, search, judge)
        #: fixed-count solves made ahead, by :func:`counts_key`
        self.counts = {}
        self.compiled = set()          # (slots, solver) of the fixed-count programs compiled there
        self.job = None                # (index of the unit, job, merge) out in the second process
        # the units of the current ahead(): this process runs units[:front], the
        # second process was sent units[back:]; send(unit) gives a job, merge takes its result
        self.units, self.front, self.back, self.send, self.merge = [], 0, 0, None, None
        self.used = 0                  # solves made there and taken here
        self.judged_there = 0          # poisons judged there (steps 4 and 5b)
        self.failed = False            # a job raised: nothing more is sent

    def ahead(self, units, send, merge):
        """Yield ``units`` in order, to be run here; meanwhile the second process runs them
        from the back, one job each: ``send(unit)`` gives the job's ``(fn, *args)`` and
        ``merge`` takes its result."""
        self.units, self.send, self.merge = list(units), send, merge
        self.front, self.back = 0, len(self.units)
        try:
            for i, unit in enumerate(self.units):
                self.front = i + 1
                if self.job is not None and self.job[0] == i:
                    self._collect()            # the scout has it: wait, and use its solves
                self._send()
                yield unit
        finally:
            if self.job is not None:           # stopped early (max_priced, eps_close)
                self._collect()
            self.units = []

    def search(self, units, floor):
        """The search's units (:func:`~convexpoison.attacks.reachable._explore`), in order;
        the scout's solves go to the pricer's :attr:`ahead`.  ``floor``: the search's
        pruning floor (None: no pruning)."""
        def merge(fresh):
            for key, entry in fresh:
                if key not in self.pricer.memo:
                    self.pricer.ahead[key] = entry

        return self.ahead(units, lambda u: (_scout_unit, u,
                                            None if floor is None else floor[0]()), merge)

    def count_vectors(self, model, slots, solver, vectors):
        """A realisation's count vectors, in order; the scout's solves go to
        :attr:`counts`.  The second process compiles the fixed-count program of a slot
        layout and solver at the first realisation that needs it, which runs here alone."""
        layout = tuple(slots), solver
        if layout not in self.compiled:
            self.beside.submit(_scout_compile, model, list(slots), solver)
            self.compiled.add(layout)
            return iter(vectors)
        return self.ahead(vectors, lambda c: (_scout_counts, c, model, list(slots), solver),
                          self.counts.update)

    def judged(self, poisons, judge):
        """``judge(P)`` for each poison of ``poisons``, in order (step 4's screening under
        the defenses); the second process judges them from the back (given the judge)."""
        if not self.judging:
            yield from map(judge, poisons)
            return
        done = {}

        def merge(fresh):
            done.update(fresh)
            self.judged_there += len(fresh)

        for i in self.ahead(range(len(poisons)), lambda i: (_scout_judge, i, poisons[i]),
                            merge):
            self.poll()
            yield done.pop(i) if i in done else judge(poisons[i])

    def seeds(self, names, poisons, random_state, exact, scored):
        """Step 5b's seed poisons ``names``, in order; the second process makes, from the
        back, each one's exact model (into ``exact``), that model's screening solve (into
        the pricer's :attr:`ahead`) and the poison's judgement (into ``scored``), given the
        judge."""
        if not self.judging:
            yield from names
            return

        def merge(fresh):
            for name, (model, key, entry, judgement) in fresh:
                exact[name], scored[name] = model, judgement
                self.judged_there += 1
                if key not in self.pricer.memo:
                    self.pricer.ahead[key] = entry

        for name in self.ahead(names, lambda n: (_scout_seed, n, poisons[n], random_state),
                               merge):
            self.poll()
            yield name

    def poll(self):
        """Before a solve here: take a finished job's solves and send the next unit."""
        if self.job is not None and self.job[1].future.done():
            self._collect()
            self._send()

    def _send(self):
        # the last unit not started here, unless this process is about to run it
        if self.job is None and self.back - 1 >= self.front and not self.failed:
            self.back -= 1
            fn, *args = self.send(self.units[self.back])
            self.job = self.back, self.beside.submit(fn, *args), self.merge

    def _collect(self):
        _, job, merge = self.job
        self.job = None
        try:
            result = job.result()
        except Exception:          # noqa: BLE001 - speculation: this process solves it itself
            self.failed = True     # (and every unit after it: a scout that fails once, e.g.
            return                 # its setup, would fail again)
        merge(result)
