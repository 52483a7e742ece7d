"""Reachable-target attack: how much do *other* poison sets inducing the chosen target move
the defended models?  (Measurement only; docs/reachable-history.md, "Alternative realisations".)

Many poison sets induce the same target: with the copy counts fixed, the fixed-count KKT
program (:class:`convexpoison.programs.minpoison.FixedCountKKT`) has a face of optima --
the point locations trade off against each other and the clean points exactly on the
target's margin carry free multipliers -- and the defenses (which fit centroids, slabs,
singular vectors and neighbours on ``Dc u Dp``, and retrain on what is left) see
different poison sets differently.  This script runs the attack with its defaults, takes
the chosen target's accepted realisation (its slots and integer counts; optionally each
label's copies split over ``--split`` locations), and solves the fixed-count program
again with a secondary objective, the KKT residual held within ``r0 + 1e-6 W C_R``
(``r0`` the residual of the plain solve; the retrained model is then within about 1e-6
of the target, strong convexity):

* ``random``: a random linear objective over the points and the free margin multipliers
  (``K`` draws);
* ``deep`` / ``shallow``: the poison's largest (smallest) margin ``y (w.x + b)`` under the
  defended models of the last evaluation, minimised (maximised), three rounds -- keep
  every poison point on the active side of the defended models (or not).

Every alternative is retrained exactly on ``Dc u Dp`` (max loss difference to the target)
and judged under the five defenses, as the attack judges its candidates.  (cvxpy warns
that the random objective's program is not DPP -- its multiplier term multiplies two
Parameters -- so each draw recompiles: 0.1-0.4 s on spambase, harmless here.)

Run: ``python bench/reachable_alternatives.py [--dataset spambase] [--K 12]
[--split 1] [--modes random,deep,shallow]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _common as C


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="spambase")
    ap.add_argument("--epsilon", type=float, default=0.03)
    ap.add_argument("--K", type=int, default=12, help="random alternatives")
    ap.add_argument("--split", type=int, default=1,
                    help="locations per label the realised copies are spread over")
    ap.add_argument("--modes", default="random,deep,shallow")
    args = ap.parse_args()

    import cvxpy as cp

    from convexpoison.attacks.reachable import ReachableTargetAttack
    from convexpoison.datasets import load_dataset
    from convexpoison.defenses import CleanNeighbours, evaluate, parse_defenses
    from convexpoison.poisons import PoisonSet
    from convexpoison.programs.maxloss import MaxLossDifference
    from convexpoison.programs.minpoison import FixedCountKKT

    seen = []

    class Attack(ReachableTargetAttack):
        # the pricer (its program holds the chosen target's margin partition) is local to
        # _fit: keep what every realisation was given
        def _realise(self, data, pricer, cand, budget, D):
            seen.append((pricer, cand, D))
            return super()._realise(data, pricer, cand, budget, D)

    data = load_dataset(args.dataset)
    t0 = time.perf_counter()
    atk = Attack(epsilon=args.epsilon).fit(data)
    res = atk.result_
    print(f"attack: {time.perf_counter() - t0:.1f} s, {res.poisons.n_poisons:g} points "
          f"(certified {res.target.certified:g}), min over defenses "
          f"{res.evaluation.min_over_defenses:.4f}", dict(res.evaluation.per_defense))
    pricer, cand, D = next(s for s in seen if s[1] is res.target)
    pricer.certify(cand.model)                 # load the chosen target's partition again
    prog = pricer.program
    free = prog._P["free"].value > 0
    rec = min((t for t in res.realisation.candidates
               if t["max_loss_difference"] <= atk.eps_close),
              key=lambda t: t["n_poisons"])
    # the realisation's slot layout: the key of the fixed-count program it cached
    slots = next(key[0] for key in pricer.solved.__dict__["_fixed_count"]
                 if len(key[0]) == len(rec["counts"]))
    slots2, counts = [], []
    for (lab, role), n in zip(slots, rec["counts"]):
        k = args.split if role == "grad" else 1
        q, r = divmod(int(n), k)
        for i in range(k):
            if q + (i < r) > 0:
                slots2.append((lab, role)), counts.append(q + (i < r))
    counts = np.array(counts, float)
    labels = np.array([lab for lab, _ in slots2])
    fc = FixedCountKKT(prog, slots2, solver="CLARABEL")
    X0, r0, _ = fc.solve(counts)
    print(f"{int(free.sum())} clean points on the target's margin (free multipliers); "
          f"slots {slots2}, counts {counts.tolist()}, residual {r0:.3g}")

    Xc, yc = data.X_train, data.y_train
    defenses = parse_defenses(("l2", "slab", "loss", "svd", "knn"))
    knn = CleanNeighbours(Xc, yc, k=5)
    maxloss = MaxLossDifference(atk.feasible_, integer="relax")

    def judge(Xp):
        ps = PoisonSet(Xp, labels, counts, meta={})
        Xa, ya, wa, _ = ps.with_clean(Xc, yc, None)
        model = D.train(Xa, ya, wa, tol=1e-8, random_state=0)
        ev = evaluate(data, ps, defenses=defenses, p=0.05, defender=D,
                      clean_model=atk.clean_model_, clean_neighbours=knn, tol=1e-6)
        return float(maxloss.solve(model, cand.model).value), ev

    rows = []

    def show(name, Xp, seconds):
        mld, ev = judge(Xp)
        rows.append((name, mld, ev))
        print(f"{name:>12}: max loss difference {mld:.2g}, no defense "
              f"{ev.no_defense_test_error:.4f}, min {ev.min_over_defenses:.4f} ",
              {k: round(v, 4) for k, v in ev.per_defense.items()}, f"{seconds:.1f} s")
        return ev

    ev0 = show("plain", X0, 0.0)
    xs = cp.hstack(fc._xs)
    bound = r0 + 1e-6 * prog.reg_weight(counts.sum()) * prog._reg_coef()
    base = fc.problem.constraints + [cp.norm(fc._r, 2) <= bound]
    modes = args.modes.split(",")
    if "random" in modes:
        rng = np.random.default_rng(0)
        cx, cb = cp.Parameter(xs.shape[0]), cp.Parameter(len(free))
        prob = cp.Problem(cp.Minimize(cx @ xs + cb @ fc._beta), base)
        for k in range(args.K):
            t1 = time.perf_counter()
            cx.value = rng.standard_normal(xs.shape[0])
            cb.value = rng.standard_normal(len(free)) * free
            prob.solve(solver="CLARABEL")
            show(f"random {k}", np.array([x.value for x in fc._xs]), time.perf_counter() - t1)
    for sense, name in ((1, "deep"), (-1, "shallow")):
        if name not in modes:
            continue
        ev, t = ev0, cp.Variable()
        for it in range(3):
            t1 = time.perf_counter()
            ms = [m for d, m in ev.models.items() if d not in ("none", "clean")]
            cons = [sense * labels[k] * (fc._xs[k] @ np.asarray(m.w) + float(m.b)) <= t
                    for k in range(len(slots2)) for m in ms]
            cp.Problem(cp.Minimize(t), base + cons).solve(solver="CLARABEL")
            ev = show(f"{name} {it}", np.array([x.value for x in fc._xs]),
                      time.perf_counter() - t1)
    print("\nper defense over the alternatives (min / max):")
    for d in ev0.per_defense:
        v = [ev.per_defense[d] for _, _, ev in rows]
        print(f"  {d:>5}: {min(v):.4f} / {max(v):.4f}  (plain {ev0.per_defense[d]:.4f})")
    mins = [ev.min_over_defenses for _, _, ev in rows]
    print(f"min over defenses: {min(mins):.4f} / {max(mins):.4f} (plain "
          f"{ev0.min_over_defenses:.4f}); max loss difference at most "
          f"{max(m for _, m, _ in rows):.2g}")
    C.write_result("reachable_alternatives", {
        "settings": vars(args), "n_margin": int(free.sum()), "slots": slots2,
        "counts": counts.tolist(), "attack_min_over_defenses": res.evaluation.min_over_defenses,
        "attack_per_defense": dict(res.evaluation.per_defense),
        "alternatives": [{"name": n, "max_loss_difference": m,
                          "min_over_defenses": ev.min_over_defenses,
                          "per_defense": dict(ev.per_defense)} for n, m, ev in rows]})


if __name__ == "__main__":
    main()
