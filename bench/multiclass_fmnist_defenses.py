"""A saved fmnist poison set under all five defenses (docs/minmax-multiclass.md, "Five
defenses on fmnist"): the test error of the defender retrained on what each defense keeps,
the poison and clean points each removes, and the seconds each defense's scoring takes on
the 60 000 + poison rows.

    python bench/multiclass_fmnist_defenses.py NAME POISONS.npz [--defender multisvm-adagrad]
                                              [--defense l2,slab,loss,svd,knn]
                                              [--defender-seeds K]

``POISONS.npz``: a poison-set file (``bench/minmax_fmnist.py --save-poisons``).  The errors
are those of ``convexpoison evaluate --dataset fmnist --poisons POISONS.npz --defense ...
--defender ...`` (the same :func:`convexpoison.defenses.evaluate`); the scoring times are
measured separately (each defense's ``sanitize`` once more, outside the evaluation).
``--defender-seeds K``: the AdaGrad defender's row order depends on its ``seed``
(docs/defender.md); with ``K > 1`` the same poison set is also evaluated under seeds
``0 .. K-1`` (clean, no defense and each defense's error per seed, and their mean) --
how much of a figure is the defender's shuffle rather than the attack.
Writes ``bench/results/NAME.json``.  Needs the Debian package dataset-fashion-mnist.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import _common as C  # one BLAS thread


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("poisons")
    ap.add_argument("--defender", default="multisvm-adagrad")
    ap.add_argument("--defense", default="l2,slab,loss,svd,knn")
    ap.add_argument("--defender-seeds", type=int, default=1, metavar="K",
                    help="also evaluate under the AdaGrad defender's seeds 0..K-1")
    args = ap.parse_args(argv)
    from convexpoison.defender import Defender
    from convexpoison.defenses import evaluate, make_defense, parse_defenses
    from convexpoison.poisons import PoisonSet

    ds = C.load_optional("fmnist")
    if ds is None:
        return 0
    D = Defender.from_spec(args.defender).with_default_reg(ds.reg)
    names = parse_defenses(args.defense)
    ps = PoisonSet.load(args.poisons).check_dimension(ds.d).compact()
    X, y, w, _ = ps.with_clean(ds.X_train, ds.y_train)
    t0 = time.perf_counter()
    ev = evaluate(ds, ps, defenses=names, defender=D)
    total = time.perf_counter() - t0
    score_seconds = {}
    for name in names:
        if name == "loss":      # scored by the undefended model the evaluation trained
            kw = {"defender": D, "base_model": ev.models["none"]}
        else:
            kw = {}
        t = time.perf_counter()
        make_defense(name, **kw).sanitize(X, y, w)
        score_seconds[name] = time.perf_counter() - t
    out = {"poisons": args.poisons, "poison_meta": ps.meta, "defender": D.spec(),
           **ev.to_dict(), "evaluate_seconds": total, "score_seconds": score_seconds,
           "loadavg_at_end": list(os.getloadavg())}
    rows = [[n, f"{ev.per_defense[n]:.4f}", ev.removed[n]["poison"], ev.removed[n]["clean"],
             f"{score_seconds[n]:.1f}"] for n in names]
    C.table(["defense", "test error", "poisons removed", "clean removed", "score s"], rows,
            title=f"{args.poisons} under {D.spec()} (clean {ev.clean_test_error:.4f}, "
                  f"no defense {ev.no_defense_test_error:.4f}; {total:.0f} s)")
    if args.defender_seeds > 1:
        out["defender_seeds"] = seeds = _seeds(ds, ps, D, names, args.defender_seeds)
        cols = ["clean", "none", *names]
        C.table(["seed", *cols], [[s["seed"], *(f"{s[c]:.4f}" for c in cols)] for s in seeds]
                + [["mean", *(f"{sum(s[c] for s in seeds) / len(seeds):.4f}" for c in cols)]],
                title="the same poison set under the defender's seeds")
    C.write_result(args.name, {"command": " ".join(["python", *sys.argv]), "result": out})
    return 0


def _seeds(ds, ps, D, names, k):
    """The evaluation under the AdaGrad defender's seeds ``0 .. k-1`` (its row order)."""
    from dataclasses import replace

    from convexpoison.defenses import evaluate

    if D.trainer != "adagrad":
        raise SystemExit("--defender-seeds: only the AdaGrad defender has a seed")
    rows = []
    for seed in range(k):
        ev = evaluate(ds, ps, defenses=names, defender=replace(D, seed=seed))
        rows.append({"seed": seed, "clean": ev.clean_test_error,
                     "none": ev.no_defense_test_error, **ev.per_defense,
                     "poisons_removed": {n: ev.removed[n]["poison"] for n in names}})
    return rows


if __name__ == "__main__":
    sys.exit(main())
