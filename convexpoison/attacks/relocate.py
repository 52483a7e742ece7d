"""Relocation: a hill climb over where a poison's points sit, each move judged by
retraining under the defenses (step 5e of the reachable-target attack, docs/reachable.md).

The reachable-target attack searches models and realises them; its polish (step 5c) moves
points along the gradient of a smoothed defended error and rounds integer coordinates at
random.  Neither moves a point from one category of a one-hot group to another on purpose,
and on adult (seven one-hot groups, four continuous coordinates) that is where the damage
is: the accepted poison sits at a dozen such points.  Relocation gathers each label's
copies on its ``points`` heaviest points (:func:`gathered`: a move then carries every
copy) and tries, one at a time,

* a **point move**: one of these points to a neighbouring location of the domain --
  another category of one of its one-hot groups, a continuous coordinate to one of
  :data:`GRID`'s fractions of its box, an integer coordinate outside the groups one step
  up or down;
* a **copy move**: :data:`COPIES` copies (at most what it has) from one of those points to
  another;

and keeps a move when the poison's minimum over the defenses on the evaluation set rises
(ties: when the mean over the defenses rises) -- the true objective, every defense fitted
on ``Dc u Dp`` and the model retrained, not a surrogate.  The result therefore never
scores below the start.  A moved point must lie inside the feasible set with the loss cone
aimed at the model the poison induces (``inside``), and a poison above the best so far must
be one the caller accepts (``accept``: the reachable attack's step 5b rule), so that the
result is a poison the attack can accept with its model's certified minimum.

A climb stops at a local optimum; with ``kicks`` relocation is an iterated local search:
the best poison so far takes a few random point moves and another climb starts there
(on adult the climbs end between 19.7% and 20.8%, docs/reachable-history.md).
"""
from __future__ import annotations

import time

import numpy as np

from ..poisons import PoisonSet

__all__ = ["relocate", "gathered", "heaviest", "point_moves", "GRID", "COPIES", "KICK_MOVES"]

#: Fractions of a continuous coordinate's box a point move sets it to.
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Copies a copy move takes from one point to another.
COPIES = (5, 20, 60)

#: Random point moves of a kick (:func:`relocate`'s ``kicks``).
KICK_MOVES = 3


def point_moves(x, domain, grid=GRID):
    """The neighbouring locations of the point ``x`` in ``domain`` (a generator of rows):
    another category of each one-hot group; each continuous coordinate at the ``grid``
    fractions of its box (coordinates with an infinite bound are not moved); each integer
    coordinate outside the groups one step up or down inside its box."""
    x = np.asarray(x, dtype=float)
    grouped = np.zeros(x.size, bool)
    for g in domain.onehot_groups:
        grouped[g] = True
        on = g[int(np.argmax(x[g]))]
        for j in g:
            if j != on:
                z = x.copy()
                z[g] = 0.0
                z[j] = 1.0
                yield z
    lo, hi = np.asarray(domain.lo, float), np.asarray(domain.hi, float)
    for j in np.flatnonzero(~grouped):
        if domain.integer[j]:
            values = (x[j] - 1.0, x[j] + 1.0)
        elif np.isfinite(lo[j]) and np.isfinite(hi[j]):
            values = tuple(lo[j] + f * (hi[j] - lo[j]) for f in grid)
        else:
            continue
        for v in values:
            if lo[j] <= v <= hi[j] and v != x[j]:
                z = x.copy()
                z[j] = v
                yield z


def _key(judged):
    """What a move must raise: (min over the defenses, their mean) on the evaluation set."""
    ev, score, _ = judged
    per = ev.eval_per_defense if ev.eval_per_defense is not None else ev.per_defense
    return score, (float(np.mean(list(per.values()))) if per else score)


def heaviest(ps, points):
    """The ``points`` heaviest points of each label of ``ps`` (indices, label by label, the
    heaviest first; ties in row order)."""
    out = []
    for lab in np.unique(ps.y):
        idx = np.flatnonzero(ps.y == lab)
        out += list(idx[np.argsort(-ps.weight[idx], kind="stable")[:points]])
    return out


def gathered(ps, points):
    """``ps`` with each label's copies gathered on its ``points`` heaviest points, in
    proportion to their copies (rounded down, the rest to the heaviest): the same number
    of copies per label, every copy at a point relocation moves."""
    keep = heaviest(ps, points)
    w = np.zeros(len(ps.y))
    for lab in np.unique(ps.y):
        idx = [i for i in keep if ps.y[i] == lab]
        total = ps.weight[ps.y == lab].sum()
        share = np.floor(ps.weight[idx] * total / ps.weight[idx].sum())
        share[0] += total - share.sum()
        w[idx] = share
    return PoisonSet(ps.X, ps.y, w, meta=dict(ps.meta)).compact()


def relocate(ps, judge, domain, inside=None, points=1, sweeps=3, trials=300, random_state=0,
             gather=True, accept=None, kicks=0, kick_moves=KICK_MOVES, say=None):
    """Hill-climb the poison ``ps`` over point and copy moves (module docstring).

    Parameters
    ----------
    ps : the starting :class:`~convexpoison.poisons.PoisonSet` (rows with no copies dropped).
    judge : ``judge(poison, warm)`` -> ``(evaluation, min over the defenses, undefended
        error)`` on the evaluation set; ``warm`` is the undefended model of the poison it
        moves from (its duals seed the training: the same models, sooner).
    domain : the data's :class:`~convexpoison.domain.Domain` (None: copy moves only).
    inside : ``inside(X, y, model)`` -> bool per row: inside the feasible set with the
        loss cone aimed at ``model`` (None: every point is inside).  A point move is tried
        only when the moved point is inside for the current poison's model, and kept only
        when every point is inside for the new poison's model.
    points : the points moved per label (the heaviest; with ``gather`` every copy of the
        label is on them); copies move among them.
    sweeps : passes over the moves (in a random order each); stops early after a pass
        that keeps no move.
    trials : the most poisons judged (the start not counted).
    random_state : seed of the moves' order.
    gather : start from :func:`gathered` ``(ps, points)`` instead of ``ps`` (a move then
        carries every copy).  Measured on adult from the accepted poison's 13 points
        (20.11%), 400 trials each: 20.16% without gathering (two points per label moved),
        20.33% gathered on two points per label, 20.69% on one -- the climb's scores
        (docs/reachable-history.md, *adult: relocation*).
        The record's ``start`` is ``ps``'s score, and the result is never below it.
    accept : ``accept(poison, judgement)`` -> bool: whether a poison that scores above
        the best so far (at first the start) may be the result (None: any).  A move to
        such a poison is kept only when accepted, so the result is always acceptable.
        (The reachable attack: step 5b's rule, its model certified among others -- on
        adult a climb that did not ask ended above the start at eight poisons the attack
        could not accept.)  A climb after a kick may pass, unasked, through poisons below
        the best.
    kicks : restarts of an iterated local search: when a climb stops (a pass that keeps
        no move, or ``sweeps`` passes), the best poison so far takes ``kick_moves`` random
        point moves (inside the feasible set, whatever they score) and the climb starts
        again from there, while trials remain.  The best poison over every climb is the
        result.  Measured offline on adult from a climb's local optimum at 20.69%: three
        kicks of three moves, 400 trials each, reached 20.78%, 20.82% and 20.73%
        (docs/reachable-history.md, *adult: relocation*).
    kick_moves : the random point moves of a kick.
    say : callable receiving a line per kept move (or None).

    Returns
    -------
    ``(poison, its judgement, record)``, ``record`` a dict: ``start`` and ``score`` (min
    over the defenses before and after), ``gathered`` (the gathered poison's; None
    without ``gather``), ``trials``, ``kept`` (moves kept), ``refused`` (moves ``accept``
    refused), ``climbs`` (each climb's start and end scores: the first from the gathered
    poison, then one per kick), ``seconds``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(random_state)
    ps = ps.compact()
    cur = judge(ps, None)
    first = (ps, cur)
    tally = {"trials": 0, "kept": 0, "refused": 0}
    if gather:
        ps = gathered(ps, int(points))
        cur = judge(ps, None)
        gathered_score = cur[1]
    inside = inside if inside is not None else (lambda X, y, model: np.ones(len(y), bool))

    def keep_best(poison, judged):
        """Whether the poison is the best acceptable one so far (then it is the best): a
        poison above the best must be accepted (False: refused); None: not above it."""
        nonlocal best
        if not _key(judged) > _key(best[1]):
            return None
        if accept is not None and not accept(poison, judged):
            tally["refused"] += 1
            return False
        best = (poison, judged)
        return True

    best = first
    keep_best(ps, cur)
    climbs = []
    for kick in range(int(kicks) + 1):
        if kick:
            if tally["trials"] >= trials:
                break
            kicked = _kicked(*best, domain, inside, int(points), int(kick_moves), rng)
            if kicked is None:
                break
            ps = kicked
            tally["trials"] += 1
            cur = judge(ps, best[1][0].models["none"])
            if say is not None:
                say(f"relocation: kick {kick}: {int(kick_moves)} random point moves; min "
                    f"over the defenses {cur[1]:.4f}")
            keep_best(ps, cur)
        begin = cur[1]
        ps, cur = _climb(ps, cur, judge, domain, inside, int(points), int(sweeps), trials,
                         rng, keep_best, tally, say)
        climbs.append((float(begin), float(cur[1])))
    ps, cur = best
    record = {"start": float(first[1][1]), "score": float(cur[1]),
              "gathered": float(gathered_score) if gather else None, **tally,
              "climbs": climbs, "seconds": time.perf_counter() - t0}
    return ps.compact(), cur, record


def _climb(ps, cur, judge, domain, inside, points, sweeps, trials, rng, keep_best, tally,
           say):
    """One climb from ``(ps, cur)`` (:func:`relocate`'s passes over the moves); returns
    where it stops.  ``keep_best(poison, judged)``: False for a poison above the best that
    is not accepted (the move is then refused).  ``tally`` counts the trials
    and the moves kept across climbs."""
    for sweep in range(sweeps):
        movers = heaviest(ps, points)
        moves = [(i, z) for i in movers
                 for z in (point_moves(ps.X[i], domain) if domain is not None else ())]
        moves += [(a, (b, c)) for a in movers for b in movers if a != b for c in COPIES]
        order = rng.permutation(len(moves))
        kept_before = tally["kept"]
        for k in order:
            if tally["trials"] >= trials:
                break
            i, move = moves[k]
            X, w = ps.X, ps.weight
            model = cur[0].models["none"]
            if isinstance(move, tuple):           # a copy move: c copies from i to b
                b, c = move
                c = min(c, w[i])
                if c <= 0:
                    continue
                w = w.copy()
                w[i] -= c
                w[b] += c
                what = f"{c:g} copies from point {i} to point {b}"
            else:                                 # a point move
                if not inside(move[None], ps.y[i:i + 1], model)[0]:
                    continue
                X = X.copy()
                X[i] = move
                what = f"point {i} (label {int(ps.y[i]):+d}) moved"
            trial = PoisonSet(X, ps.y, w, meta=dict(ps.meta))
            tally["trials"] += 1
            out = judge(trial, model)
            if not (_key(out) > _key(cur) and inside(X, ps.y, out[0].models["none"]).all()):
                continue
            if keep_best(trial, out) is False:
                continue
            ps, cur = trial, out
            tally["kept"] += 1
            if say is not None:
                say(f"relocation: trial {tally['trials']}: {what}; min over the defenses "
                    f"{cur[1]:.4f}")
        if tally["trials"] >= trials or tally["kept"] == kept_before:
            break
    return ps, cur


def _kicked(ps, judged, domain, inside, points, moves, rng, attempts=20):
    """``ps`` after ``moves`` random point moves of its ``points`` heaviest points per
    label, each inside the feasible set for ``ps``'s model (a kick of the iterated local
    search); None when no such move exists (``attempts`` draws)."""
    if domain is None:
        return None
    model = judged[0].models["none"]
    X = ps.X.copy()
    movers = heaviest(ps, points)
    done = 0
    for _ in range(attempts * moves):
        if done == moves:
            break
        i = movers[rng.integers(len(movers))]
        options = [z for z in point_moves(X[i], domain)
                   if inside(z[None], ps.y[i:i + 1], model)[0]]
        if options:
            X[i] = options[rng.integers(len(options))]
            done += 1
    if not done:
        return None
    return PoisonSet(X, ps.y, ps.weight, meta=dict(ps.meta))
