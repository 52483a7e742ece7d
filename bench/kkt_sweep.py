"""KKT attack sweep: serial vs 2 workers (issue 10, part 3).

The full decoy x epsilon-split grid of Koh et al.'s Algorithm 4 on spambase at
``epsilon = 0.03`` (the package's defaults: decoy sweep over its quantiles x repeats with
pruning, ``grid = 6`` splits plus the bias-exact one, all five defenses judging every
candidate), run by :class:`convexpoison.attacks.kkt.KKTAttack` with ``workers=1`` and
``workers=2`` one after the other.  Prints seconds for each, the ratio, and the resulting
minimum-over-defenses test error; the two runs must give the same answer (asserted:
same error, same poison set).  Goal: the serial sweep under 60 s (Koh et al.: 27 s to
reach 17% on Enron).

Run: ``python bench/kkt_sweep.py`` (``--max-decoys K`` limits the decoys, for a quick look).
"""
from __future__ import annotations

import argparse
import time

import _common as C
import numpy as np


def run(ds, workers, max_decoys, epsilon):
    from convexpoison.attacks.kkt import KKTAttack

    t0 = time.perf_counter()
    att = KKTAttack(epsilon, workers=workers, max_decoys=max_decoys, progress=C.say).fit(ds)
    sec = time.perf_counter() - t0
    return sec, att.result_


def main():
    from convexpoison.datasets import load_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epsilon", type=float, default=0.03)
    ap.add_argument("--max-decoys", type=int, default=None)
    args = ap.parse_args()
    ds = load_dataset("spambase")
    runs = {}
    for w in (1, 2):
        C.say(f"kkt_sweep: workers={w}")
        sec, res = run(ds, w, args.max_decoys, args.epsilon)
        runs[w] = (sec, res)
    (s1, r1), (s2, r2) = runs[1], runs[2]
    d1, d2 = r1.to_dict(), r2.to_dict()
    same_err = d1["min_over_defenses"] == d2["min_over_defenses"]
    p1, p2 = r1.poisons, r2.poisons
    same_set = (p1.X.shape == p2.X.shape and np.array_equal(p1.X, p2.X)
                and np.array_equal(p1.y, p2.y) and np.array_equal(p1.weight, p2.weight))
    rows = [[w, f"{s:.1f}", d["n_candidates"], d["n_decoys"], d["n_failed"], d["n_poisons"],
             d["clean_test_error"], d["min_over_defenses"], d["poisoned_test_error"]]
            for w, (s, d) in ((1, (s1, d1)), (2, (s2, d2)))]
    C.table(["workers", "seconds", "candidates", "decoys", "failed", "n_poisons",
             "clean err", "min-over-defenses err", "no-defense err"], rows,
            title=f"KKT sweep on spambase, epsilon {args.epsilon:g} ("
                  + ("full decoy x split grid)" if args.max_decoys is None else
                     f"REDUCED grid: at most {args.max_decoys} decoys x splits)"))
    ratio = s1 / s2
    print(f"serial / 2 workers = {ratio:.2f}x; serial under 60 s: {'yes' if s1 < 60 else 'NO'} "
          f"({s1:.1f} s); same answer: {'yes' if same_err and same_set else 'NO'}")
    print("per defense (serial):", ", ".join(f"{k} {v:.4f}" for k, v in d1["per_defense"].items()))
    C.write_result("kkt_sweep", {
        "dataset": "spambase", "epsilon": args.epsilon, "max_decoys": args.max_decoys,
        "serial": {"seconds": s1, **{k: d1[k] for k in ("n_candidates", "n_decoys", "n_failed",
                                                         "n_poisons", "min_over_defenses",
                                                         "per_defense", "poisoned_test_error",
                                                         "clean_test_error", "kkt_residual")}},
        "workers2": {"seconds": s2, "min_over_defenses": d2["min_over_defenses"],
                     "per_defense": d2["per_defense"]},
        "speedup_2_workers": ratio, "serial_under_60s": s1 < 60,
        "same_min_over_defenses": same_err, "same_poison_set": same_set})
    assert same_err and same_set, ("serial and 2-worker sweeps disagree: "
                                   f"{d1['min_over_defenses']} vs {d2['min_over_defenses']}")


if __name__ == "__main__":
    main()
