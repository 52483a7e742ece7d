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
(on adult the climbs end between 19.7% and 20.8%, docs/reachable-history.md); with
``wide_kicks``, kicks of more moves follow, to leave the basin the first kicks found.

With ``anneal``, ``chains`` runs of simulated annealing follow, each from the best poison
so far: a random point, copy or split move per trial (:func:`random_move`), a worse poison
kept with probability ``exp(delta / T)`` (``T`` falling geometrically over the chain, as
in Kirkpatrick et al.'s annealing), so that a chain crosses the valleys a climb stops in.
It passes poisons the caller refuses: on adult most of the high-scoring ones are
*wasteful*, more points than their model's certified minimum (315 points for models
certified at 281-305); ``trim`` may turn one into an acceptable poison (fewer copies, a
model that needs them all), which the chain then continues from.
"""
from __future__ import annotations

import time

import numpy as np

from ..poisons import PoisonSet

__all__ = ["relocate", "gathered", "heaviest", "point_moves", "random_move", "objective", "trimmed",
           "GRID", "COPIES",
           "SPLIT", "KICK_MOVES", "WIDE_MOVES", "TEMPERATURE", "REALISE_ABOVE"]

#: Fractions of a continuous coordinate's box a point move sets it to.
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Copies a copy move takes from one point to another.
COPIES = (5, 20, 60)

#: Random point moves of a kick (:func:`relocate`'s ``kicks``).
KICK_MOVES = 3

#: Random point moves of a wide kick (:func:`relocate`'s ``wide_kicks``).
WIDE_MOVES = 6

#: Copies a split move takes from a point to a new location beside it (annealing).
SPLIT = (1, 5, 20)

#: Trials between the annealing's progress lines.
PROGRESS = 250

#: The annealing's first and last temperature, in units of the minimum over the defenses
#: (a fraction of the evaluation set): a chain keeps a move that loses 0.1 point of error
#: (on adult 4.5 test points) with probability 0.61 at the first, 0.036 at the last.  On
#: adult, from the same 20.51% poison, runs of two or three chains from 0.002 reached
#: 20.82% and nothing, from 0.004 20.60% and nothing (four runs, one seed each: weak
#: evidence; docs/reachable-history.md, *adult: annealing inside the relocation*).
TEMPERATURE = (0.002, 0.0003)

#: How far above the best a refused chain poison must score for ``realise`` to be asked
#: (one solve and a column generation, 5-20 s on adult): the realisation of its model
#: scores lower than the poison itself -- on adult 0.11, 0.15 and 0.26 point of test error
#: lower for three refused chain poisons of 20.84-21.31% (docs/reachable-history.md,
#: *adult: the refused chain poisons' models realised*).
REALISE_ABOVE = 0.001


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
             gather=True, accept=None, kicks=0, kick_moves=KICK_MOVES, wide_kicks=0,
             wide_moves=WIDE_MOVES, anneal=0, chains=1,
             temperature=TEMPERATURE, locations=1, trim=None, realise=None, say=None):
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
    kick_moves : the random point moves of each of the ``kicks`` kicks.
    wide_kicks, wide_moves : after the ``kicks``, ``wide_kicks`` more kicks of
        ``wide_moves`` random point moves each, from the best poison so far: the narrow
        kicks find a basin, the wide ones leave it for the next.  Measured offline on
        adult: from the search's 19.87% start kicks of three moves reach 20.51%, kicks of
        six 20.44%, kicks that grew from three to six after each kick that found nothing
        20.49%; from that 20.51% poison, kicks of six moves reached 21.04% and 21.22%
        (accepted), where kicks of three stopped at 20.5-20.8%
        (docs/reachable-history.md, *adult: free climbs and longer kicks* and *kicks
        that adapt*).
    anneal : the trials of each annealing chain, after the climbs (0: none).  Each trial is
        a :func:`random_move` of the chain's poison; the moved poison is judged and taken
        when its :func:`objective` (min over the defenses + a tenth of their mean) is not
        lower, or else with probability ``exp(delta / T)``, and only when every point is
        inside for its model.  A poison above the best so far becomes the best when
        ``accept`` accepts it, as in the climbs.  ``trials`` does not limit them (the
        record's ``trials`` counts them).
    chains : annealing chains, each from the best poison so far.
    temperature : ``(first, last)`` temperature of a chain, falling geometrically.
    locations : the most points (rows) per label a split move makes (1: no split moves).
    trim : ``trim(poison, judgement)`` -> ``(poison, judgement)`` or None, called on a
        chain's poison that ``accept`` refused above the best: an acceptable poison in its
        place (e.g. with fewer copies), which becomes the best and the chain's poison
        when it scores above the best (None: the chain goes on from the refused one).
    realise : ``realise(poison, judgement)`` -> ``(poison, judgement)`` or None, called on a
        chain's poison that ``accept`` refused (and ``trim`` did not replace) scoring at
        least :data:`REALISE_ABOVE` above the best: an acceptable poison that induces its
        model, which becomes the best when it scores above the best.  The chain goes on
        from the refused poison, and a later chain starts from it while its realisation
        is the best (a realisation spreads the copies over many points).
    say : callable receiving a line per kept move (or None).

    Returns
    -------
    ``(poison, its judgement, record)``, ``record`` a dict: ``start`` and ``score`` (min
    over the defenses before and after), ``gathered`` (the gathered poison's; None
    without ``gather``), ``trials``, ``kept`` (moves kept), ``refused`` (moves ``accept``
    refused), ``climbs`` (each climb's start and end scores: the first from the gathered
    poison, then one per kick), ``kick_moves`` (each kick's random point moves),
    ``chains`` (each annealing chain's start score, its
    best accepted score and the trials whose poison it took), ``trimmed`` (acceptable
    poisons ``trim`` made that became the best), ``realised`` (the same for ``realise``),
    ``seconds``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(random_state)
    ps = ps.compact()
    cur = judge(ps, None)
    first = (ps, cur)
    tally = {"trials": 0, "kept": 0, "refused": 0, "trimmed": 0, "realised": 0}
    if gather:
        ps = gathered(ps, int(points))
        cur = judge(ps, None)
        gathered_score = cur[1]
    inside = inside if inside is not None else (lambda X, y, model: np.ones(len(y), bool))

    def keep_best(poison, judged, accepted=False):
        """Whether the poison is the best acceptable one so far (then it is the best): a
        poison above the best must be accepted (False: refused; ``accepted``: it was,
        already); None: not above it."""
        nonlocal best
        if not _key(judged) > _key(best[1]):
            return None
        if accept is not None and not accepted and not accept(poison, judged):
            tally["refused"] += 1
            return False
        best = (poison, judged)
        return True

    best = first
    keep_best(ps, cur)
    climbs = []
    # the narrow kicks, then the wide ones (each kick's random point moves, in turn)
    schedule = [int(kick_moves)] * int(kicks) + [int(wide_moves)] * int(wide_kicks)
    for kick in range(len(schedule) + 1):
        if kick:
            if tally["trials"] >= trials:
                break
            moves = schedule[kick - 1]
            kicked = _kicked(*best, domain, inside, int(points), moves, rng)
            if kicked is None:
                break
            ps = kicked
            tally["trials"] += 1
            cur = judge(ps, best[1][0].models["none"])
            if say is not None:
                say(f"relocation: kick {kick}: {moves} random point moves; min "
                    f"over the defenses {cur[1]:.4f}")
            keep_best(ps, cur)
        begin = cur[1]
        ps, cur = _climb(ps, cur, judge, domain, inside, int(points), int(sweeps), trials,
                         rng, keep_best, tally, say)
        climbs.append((float(begin), float(cur[1])))
    origin = {}         # a realisation that became the best -> the chain poison it realises

    def realised(poison, judged):
        if realise is None or judged[1] < best[1][1] + REALISE_ABOVE:
            return None
        alt = realise(poison, judged)
        if alt is None or not keep_best(*alt, accepted=True):
            return None
        origin[id(alt[0])] = (poison, judged)
        tally["realised"] += 1
        return alt

    annealed = []
    for _ in range(int(chains) if anneal else 0):
        begin = best[1][1]
        taken = _anneal(*origin.get(id(best[0]), best), judge, domain, inside, int(anneal),
                        temperature, int(locations), rng, keep_best, trim, realised, tally,
                        say)
        annealed.append((float(begin), float(best[1][1]), taken))
    ps, cur = best
    record = {"start": float(first[1][1]), "score": float(cur[1]),
              "gathered": float(gathered_score) if gather else None, **tally,
              "climbs": climbs, "kick_moves": schedule[:len(climbs) - 1], "chains": annealed,
              "seconds": time.perf_counter() - t0}
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


def random_move(ps, domain, inside, model, rng, locations=1):
    """A random neighbour of the poison ``ps`` (the annealing's move): ``(poison, what)``,
    or None when the move drawn is not possible.  A random row ``i`` takes

    * a **point move** (six draws in ten, or whenever its label has one row and no
      split is possible): to a random location of :func:`point_moves`, inside the
      feasible set for ``model``;
    * a **copy move**: :data:`COPIES` copies (at most all but one) to another row of
      its label;
    * a **split move** (while its label has fewer than ``locations`` rows): :data:`SPLIT`
      copies (at most all but one) to a new row at a random neighbouring location --
      on adult a single copy elsewhere moves the model at little cost
      (docs/reachable-history.md, *A location more per label*)."""
    i = int(rng.integers(len(ps.y)))
    same = np.flatnonzero(ps.y == ps.y[i])
    others = same[same != i]
    can_split = len(same) < locations and ps.weight[i] > 1
    draw = rng.random()
    if draw < 0.6 or not (len(others) or can_split):
        z = _neighbour(ps, i, domain, inside, model, rng)
        if z is None:
            return None
        X = ps.X.copy()
        X[i] = z
        return (PoisonSet(X, ps.y, ps.weight, meta=dict(ps.meta)),
                f"point {i} (label {int(ps.y[i]):+d}) moved")
    if len(others) and (draw < 0.85 or not can_split):
        j = int(others[rng.integers(len(others))])
        c = min(COPIES[rng.integers(len(COPIES))], ps.weight[i] - 1)
        if c <= 0:
            return None
        w = ps.weight.copy()
        w[i] -= c
        w[j] += c
        return (PoisonSet(ps.X, ps.y, w, meta=dict(ps.meta)),
                f"{c:g} copies from point {i} to point {j}")
    z = _neighbour(ps, i, domain, inside, model, rng)
    if z is None:
        return None
    c = min(SPLIT[rng.integers(len(SPLIT))], ps.weight[i] - 1)
    w = np.append(ps.weight, c)
    w[i] -= c
    return (PoisonSet(np.vstack([ps.X, z]), np.append(ps.y, ps.y[i]), w, meta=dict(ps.meta)),
            f"{c:g} copies of point {i} (label {int(ps.y[i]):+d}) split off to a new point")


def _neighbour(ps, i, domain, inside, model, rng):
    """A random neighbouring location of row ``i`` of ``ps`` (:func:`point_moves`), or
    None when there is none or it is not inside the feasible set for ``model``."""
    if domain is None:
        return None
    options = list(point_moves(ps.X[i], domain))
    z = options[rng.integers(len(options))] if options else None
    if z is None or not inside(z[None], ps.y[i:i + 1], model)[0]:
        return None
    return z


def _anneal(ps, cur, judge, domain, inside, trials, temperature, locations, rng, keep_best,
            trim, realised, tally, say):
    """One annealing chain of ``trials`` random moves from ``(ps, cur)`` (:func:`relocate`'s
    ``anneal``); the best acceptable poison is kept through ``keep_best``, and
    ``realised(poison, judgement)`` (an accepted realisation of a refused poison's model,
    already the best, or None) leaves the chain where it is.  Returns the number of trials
    whose poison the chain took."""
    first, last = temperature
    taken = 0
    for t in range(trials):
        T = first * (last / first) ** (t / trials)
        if say is not None and t and t % PROGRESS == 0:
            say(f"relocation: annealing trial {t} of {trials} (T {T:.2g}): the chain at "
                f"{cur[1]:.4f}, {taken} poisons taken")
        model = cur[0].models["none"]
        drawn = random_move(ps, domain, inside, model, rng, locations)
        if drawn is None:
            continue
        trial, what = drawn
        tally["trials"] += 1
        out = judge(trial, model)
        delta = objective(out) - objective(cur)
        # Metropolis: a worse poison taken with probability exp(delta / T)
        if delta < 0 and rng.random() >= np.exp(delta / T):
            continue
        if not inside(trial.X, trial.y, out[0].models["none"]).all():
            continue
        ps, cur = trial, out
        taken += 1
        kept = keep_best(ps, cur)
        if kept is False and trim is not None:
            alt = trim(ps, cur)
            if alt is not None and keep_best(*alt, accepted=True):
                ps, cur = alt
                tally["trimmed"] += 1
                kept, what = True, what + f", then trimmed to {ps.n_poisons:g} points"
        score = cur[1]
        if kept is False:
            alt = realised(ps, cur)
            if alt is not None:
                kept, score = True, alt[1][1]
                what += (f" (min over the defenses {cur[1]:.4f}, refused), its model realised "
                         f"with {alt[0].n_poisons:g} points")
        if kept and say is not None:
            say(f"relocation: annealing trial {t + 1} (T {T:.2g}): {what}; min over the "
                f"defenses {score:.4f}")
    return taken


def trimmed(P, judged, excess, judge, acceptable, certify=4):
    """A poison with ``excess`` points more than its model needs, trimmed (:func:`relocate`'s
    ``trim``): every poison with ``excess`` - 2 to ``excess`` + 6 copies (in steps of two)
    fewer on one of its points is judged (``judge(poison, warm)``, warm-started from
    ``P``'s model), and the ``certify`` highest by :func:`objective` are asked, in that
    order, whether they are ``acceptable(poison)`` (one certificate each): the first
    accepted ``(poison, judgement)``, or None.  The model moves with the copies, and so
    does its price -- erratically (adult: 3 to 28 copies off one point of a 315-point
    poison certified at 295 gave models certified at 265-301; 22 off gave 293 certified
    at 293, 21.24%; docs/reachable-history.md, *adult: annealing and trimmed poisons*)."""
    excess = int(np.ceil(excess))
    model = judged[0].models["none"]
    tries = []
    for i in range(len(P.y)):
        for k in range(max(excess - 2, 1), excess + 7, 2):
            if k < P.weight[i]:
                w = P.weight.copy()
                w[i] -= k
                Q = PoisonSet(P.X, P.y, w, meta=dict(P.meta))
                tries.append((Q, judge(Q, model)))
    tries.sort(key=lambda t: objective(t[1]), reverse=True)
    for Q, out in tries[:certify]:
        if acceptable(Q):
            return Q, out
    return None


def objective(judged):
    """The annealing's objective: the minimum over the defenses plus a tenth of their mean
    (:func:`_key`'s tie-break, made a small slope)."""
    score, mean = _key(judged)
    return score + 0.1 * mean


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
