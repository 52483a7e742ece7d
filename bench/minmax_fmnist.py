"""The multi-class min-max attack on the full Fashion-MNIST (60 000 x 784, 10 classes) at
eps = 3 % (1 800 poisons), judged under the L2 and loss defenses by retraining the chosen
defender (docs/minmax-multiclass.md).

    python bench/minmax_fmnist.py NAME [--defender multisvm-adagrad] [--decoy Q,R | none]
                                       [--clean-batch 1000] [--tau 0.25]
                                       [--defense l2,loss] [--save-poisons FILE]
                                       [--learner-q Q] [--learner-rank value|push]
                                       [--eta 0.03] [--burn-in STEPS] [--quantile 0.9]
                                       [--seed 0] [--learner-radius R]

``--decoy Q,R``: one multi-class decoy (the q-quantile of the test points with the smallest
margin flipped to their runner-up class, added R times; MulticlassDecoyGenerator), ``none``:
min-max-basic.  ``--defender``: any ``--defender`` spelling, e.g. the exact Crammer--Singer
trained to a relative duality gap, ``multisvm:reg=0.09,gap=1e-3`` (docs/defender.md);
its requested and reached gaps go into the result.  ``--defense``: the defenses judged
(any of l2, slab, loss, svd, knn).  Progress lines go to ``bench/results/NAME.log``; the
result (the attack's ``result_.to_dict()`` without its per-step lists, plus the decoy's own
error) to ``bench/results/NAME.json`` and the poison set (a poison-set file, which
``convexpoison evaluate --poisons`` reads and ``bench/plot_poisons.py`` draws) to
``--save-poisons`` (default ``/tmp/NAME-poisons.npz``).  Needs the Debian package
dataset-fashion-mnist.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import _common as C  # one BLAS thread


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("--defender", default="multisvm-adagrad")
    ap.add_argument("--decoy", default="0.5,15")
    ap.add_argument("--clean-batch", type=int, default=1000)
    ap.add_argument("--tau", type=float, default=0.25, help="the decoy-loss threshold (22)")
    ap.add_argument("--defense", default="l2,loss",
                    help="defenses judged, comma-separated (l2, slab, loss, svd, knn)")
    ap.add_argument("--save-poisons", default=None, metavar="FILE",
                    help="poison-set file (default /tmp/NAME-poisons.npz)")
    ap.add_argument("--learner-q", type=float, default=None,
                    help="learner_loss_quantile of the attack (default: off)")
    ap.add_argument("--learner-rank", default="value", help="learner_rank of the attack")
    ap.add_argument("--eta", type=float, default=0.03, help="the online learner's step size")
    ap.add_argument("--burn-in", type=int, default=None,
                    help="learner steps before the poison is collected (default: the attack's)")
    ap.add_argument("--quantile", type=float, default=0.9,
                    help="the feasible set's L2-sphere quantile of the clean distances")
    ap.add_argument("--seed", type=int, default=0,
                    help="the attack's random_state (the learner's clean minibatches)")
    ap.add_argument("--learner-radius", type=float, default=None,
                    help="learner_radius of the attack (default: off)")
    args = ap.parse_args(argv)
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.decoys import MulticlassDecoyGenerator
    from convexpoison.defender import Defender
    from convexpoison.defenses import parse_defenses

    ds = C.load_optional("fmnist")
    if ds is None:
        return 0
    log = open(f"{C.RESULTS}/{args.name}.log", "a", buffering=1)

    def say(*a):
        print(time.strftime("%H:%M:%S"), *a, file=log, flush=True)

    D = Defender.from_spec(args.defender).with_default_reg(ds.reg)
    defenses = parse_defenses(args.defense)
    t0 = time.time()
    decoy, info = "none", {}
    if args.decoy != "none":
        q, r = args.decoy.split(",")
        g = MulticlassDecoyGenerator(defender=D, repeats=(int(r),), quantiles=(float(q),),
                                     prune=False)
        g.fit(ds.X_train, ds.y_train, ds.X_test, ds.y_test)
        c = g.candidates_[0]
        decoy = c.model
        info = {"decoy_q": float(q), "decoy_r": int(r), "decoy_error": c.eval_error,
                "decoy_flipped": c.n_flipped}
        if D.gap is not None:
            info["decoy_reached_gap"] = float(c.model.gap_ / c.model.objective_)
        say("decoy", info, f"{time.time() - t0:.1f}s")
    att = MinMaxAttack(epsilon=0.03, decoy=decoy, defenses=defenses, feasible="l2",
                       defender=D, clean_batch=args.clean_batch, tau=args.tau,
                       learner_loss_quantile=args.learner_q, learner_rank=args.learner_rank,
                       eta=args.eta, burn_in=args.burn_in, quantile=args.quantile,
                       random_state=args.seed, learner_radius=args.learner_radius,
                       progress=say,
                       progress_bar=False).fit(ds)
    out = {k: (v if not (isinstance(v, list) and len(v) > 50) else f"<{len(v)} values omitted>")
           for k, v in att.result_.to_dict().items()}
    ev = att.result_.evaluation.to_dict()
    for key in ("requested_gap", "reached_gap"):       # only for a defender with a gap
        if key in ev:
            out[key] = ev[key]
    poisons = args.save_poisons or f"/tmp/{args.name}-poisons.npz"
    out.update(info, total_seconds=time.time() - t0, poison_file=poisons,
               loadavg_at_end=list(os.getloadavg()))
    with open(f"{C.RESULTS}/{args.name}.json", "w") as f:
        json.dump(out, f, indent=1, default=str)
    att.poisons_.save(poisons)
    say("DONE", out["per_defense"], f"{time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
