"""convexpoison attack influence: Koh et al.'s influence attack (section 4.1, Algorithm 2)."""
from __future__ import annotations

from ._common import (add_dataset, add_defense, add_no_progress, add_out, add_reg, bars, load,
                      parse_list, progress)

HELP = ("influence attack (Koh et al. section 4.1): projected gradient ascent on the test loss "
        "with inverse-Hessian products")

VARIANTS = ("improved", "basic")


def add_arguments(p):
    from ..attacks.influence import DELTA

    add_dataset(p)
    p.add_argument("--epsilon", type=float, required=True,
                   help="poison budget as a fraction of the clean training set")
    add_defense(p)
    p.add_argument("--variant", default="improved",
                   help="improved (two concentrated points, default) or basic "
                        "(eps*n separate points: influence-basic)")
    p.add_argument("--feasible", default=None,
                   help="feasible-set components for the poison points among domain,l2,slab,svd "
                        "(default: domain plus the --defense ones among l2,slab)")
    known = p.add_mutually_exclusive_group()
    known.add_argument("--test-known", dest="use", action="store_const", const="test",
                       help="the attacker knows the test set (default; Koh et al. section 5)")
    known.add_argument("--train-only", dest="use", action="store_const", const="train",
                       help="the attacker ascends the training loss instead (section 6.1)")
    p.set_defaults(use="test")
    add_reg(p)
    p.add_argument("--p", type=float, default=0.05, help="fraction each defense removes per class")
    p.add_argument("--quantile", type=float, default=0.9,
                   help="feasible-set thresholds: this quantile of the clean scores (default 0.9)")
    p.add_argument("--delta", type=float, default=DELTA,
                   help=f"smoothing of the hinge for the derivatives (default {DELTA})")
    p.add_argument("--step", type=float, default=None,
                   help="initial step length (default: a quarter of the median distance of "
                        "clean points to their class centroid)")
    p.add_argument("--n-steps", type=int, default=4,
                   help="step lengths tried per iteration: step, step/2, ... (default 4)")
    p.add_argument("--max-iter", type=int, default=50, help="gradient steps at most (default 50)")
    p.add_argument("--patience", type=int, default=2,
                   help="stop after this many consecutive steps without improvement (default 2)")
    p.add_argument("--refit", action="store_true",
                   help="refit the feasible set on clean + poison after every step (iterative)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial label flips, rounding)")
    p.add_argument("--solver", default=None, help="conic solver for the projections")
    add_out(p, "poison set (.npz with X, y, weight)")
    add_no_progress(p)


def run(args):
    from ..attacks.influence import InfluenceAttack
    from ..defenses import DEFENSES
    from ..errors import InputError
    from .evaluate import check_p

    data, reg = load(args)
    if not data.is_binary:
        raise InputError(f"--dataset: the influence attack is for binary datasets; {data.name} "
                         f"has {data.n_classes} classes")
    if args.variant not in VARIANTS:
        raise InputError(f"--variant: unknown variant {args.variant!r}; choose from "
                         f"{','.join(VARIANTS)}")
    if not 0 < args.epsilon <= 1:
        raise InputError(f"--epsilon: must be in (0, 1], got {args.epsilon}")
    defenses = parse_list(args.defense, DEFENSES, "--defense")
    check_p(args.p)
    if not 0 < args.quantile <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {args.quantile}")
    if not args.delta > 0:
        raise InputError(f"--delta: must be positive, got {args.delta}")
    if args.step is not None and not args.step > 0:
        raise InputError(f"--step: must be positive, got {args.step}")
    for flag in ("n_steps", "max_iter", "patience"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')}: must be at least 1, "
                             f"got {getattr(args, flag)}")
    feasible = None
    if args.feasible is not None:
        feasible = parse_list(args.feasible, ["domain", "l2", "slab", "svd"], "--feasible")
    if int(args.epsilon * data.n_train + 1e-9) < 1:
        raise InputError(f"--epsilon: {args.epsilon} x {data.n_train} training points is less "
                         "than one poison point")
    attack = InfluenceAttack(args.epsilon, variant=args.variant, reg=reg, defenses=defenses,
                             feasible=feasible, p=args.p, quantile=args.quantile,
                             delta=args.delta, step=args.step, n_steps=args.n_steps,
                             max_iter=args.max_iter, patience=args.patience, refit=args.refit,
                             use=args.use, solver=args.solver, random_state=args.seed,
                             progress=None if args.no_progress else progress,
                             progress_bar=bars(args))
    attack.fit(data)
    res = attack.result_
    if args.out:
        res.poisons.save(args.out)
    from ..solvers import default_solver

    return {"dataset": data.name, "attack": "influence", "epsilon": args.epsilon, "reg": reg,
            "use": args.use, "defenses": defenses, "feasible": attack.feasible_.names,
            "delta": args.delta, "refit": bool(args.refit), **res.to_dict(),
            "solver": args.solver or default_solver("SOCP"), "status": "optimal",
            "seed": args.seed, "out": args.out}


def show(res):
    print(f"influence attack ({res['variant']}) on {res['dataset']}: epsilon {res['epsilon']:g} "
          f"({res['n_poisons']:g} poison points at {res['n_distinct']} distinct rows), "
          f"attacker knows the {res['use']} set")
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f}   (removed {r['poison']:g} poison, {r['clean']:g} clean)")
    print(f"min over defenses       {res['poisoned_test_error']:.4f}")
    print(f"attacker's test loss    {res['initial_objective']:.4f} -> {res['objective']:.4f} "
          f"in {res['iterations']} steps ({res['stop_reason']}), {res['seconds']:.1f} s")
    if res.get("out"):
        print(f"poison set written to {res['out']}")
