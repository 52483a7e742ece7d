"""convexpoison attack influence: Koh et al.'s influence attack (section 4.1, Algorithm 2)."""
from __future__ import annotations

from ._common import (add_dataset, add_defense, add_epsilon, add_no_progress, add_out, add_p,
                      add_quantile, add_reg, add_use, check_at_least, check_binary,
                      check_budget, fit_attack, load, parse_feasible, parse_list, reporting,
                      show_errors, show_out, solver_fields)
from ._common import defender_for, defender_kw, read_poisons, source_fields

HELP = ("influence attack (Koh et al. section 4.1): projected gradient ascent on the test loss "
        "with inverse-Hessian products")

VARIANTS = ("improved", "basic")


def add_arguments(p):
    from ..attacks.influence import DELTA, OBJECTIVES, TAU
    from ..defenses import DEFENSES

    add_dataset(p)
    add_epsilon(p)
    add_defense(p)
    p.add_argument("--variant", default="improved",
                   help="improved (two concentrated points, default) or basic "
                        "(eps*n separate points: influence-basic)")
    p.add_argument("--feasible", default=None,
                   help="feasible-set components for the poison points among domain,l2,slab,svd "
                        "(default: domain plus the --defense ones among l2,slab)")
    add_use(p, "the attacker knows the test set (default; Koh et al. section 5)",
            "the attacker ascends the training loss instead (section 6.1)")
    add_reg(p)
    add_p(p)
    add_quantile(p)
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
    p.add_argument("--anticipate", default=None,
                   help=f"defenses (among {','.join(DEFENSES)}) the attacker's model of training "
                        "applies: maximise the lowest test loss over them (default: none, "
                        "Koh et al.'s attack against an undefended learner)")
    p.add_argument("--objective", choices=OBJECTIVES, default="test-loss",
                   help="what the ascent maximises on the evaluation set: test-loss (Koh et al.'s "
                        "smoothed hinge, default) or smoothed-error (the 0/1 error smoothed by a "
                        "sigmoid of width --tau)")
    p.add_argument("--tau", type=float, default=TAU,
                   help=f"width of the smoothed error in margin units (default {TAU})")
    p.add_argument("--initial-poisons", default=None, metavar="FILE",
                   help="start the ascent from this poison set (.npz, e.g. another attack's "
                        "--out) instead of label flips; its copies replace --epsilon's budget")
    p.add_argument("--restarts", type=int, default=1,
                   help="random starts; keep the one with the highest final attacker "
                        "objective (default 1; ~10 recommended for the concentrated variant)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial label flips, rounding)")
    p.add_argument("--workers", type=int, default=1,
                   help="2 or more: each step's other step lengths are tried in a second process "
                        "beside the first, with the same result (default 1)")
    p.add_argument("--solver", default=None, help="conic solver for the projections")
    add_out(p, "poison set (.npz with X, y, weight)")
    add_no_progress(p)


def run(args):
    from ..attacks.influence import InfluenceAttack
    from ..defenses import DEFENSES
    from ..errors import InputError
    from ._common import check_attack_flags

    data, reg = load(args)
    D = defender_for(args, data, reg)
    check_binary(data, "influence")
    if args.variant not in VARIANTS:
        raise InputError(f"--variant: unknown variant {args.variant!r}; choose from "
                         f"{','.join(VARIANTS)}")
    defenses = check_attack_flags(args)
    if not args.delta > 0:
        raise InputError(f"--delta: must be positive, got {args.delta}")
    if not args.tau > 0:
        raise InputError(f"--tau: must be positive, got {args.tau}")
    initial = None
    if args.initial_poisons is not None:
        initial = read_poisons(args.initial_poisons, data, "--initial-poisons")
        if not initial.n_poisons > 0:
            raise InputError(f"--initial-poisons: {args.initial_poisons} holds no poison points")
    if args.step is not None and not args.step > 0:
        raise InputError(f"--step: must be positive, got {args.step}")
    check_at_least(args, "n_steps", "max_iter", "patience", "restarts")
    feasible = parse_feasible(args)
    anticipate = parse_list(args.anticipate, DEFENSES, "--anticipate") if args.anticipate else []
    check_budget(args.epsilon, data)
    attack = InfluenceAttack(args.epsilon, variant=args.variant, **defender_kw(args, D, reg),
                             defenses=defenses,
                             feasible=feasible, p=args.p, quantile=args.quantile,
                             delta=args.delta, step=args.step, n_steps=args.n_steps,
                             max_iter=args.max_iter, patience=args.patience, refit=args.refit,
                             use=args.use, solver=args.solver, random_state=args.seed,
                             workers=args.workers,
                             n_init=args.restarts, anticipate=anticipate,
                             objective=args.objective, tau=args.tau, initial_poisons=initial,
                             **reporting(args))
    res = fit_attack(attack, data, args)
    return {"dataset": data.name, "attack": "influence", "epsilon": args.epsilon, "reg": reg,
            **source_fields(data, D),
            "use": args.use, "defenses": defenses, "feasible": attack.feasible_.names,
            "delta": args.delta, "refit": bool(args.refit), "restarts": args.restarts,
            "anticipate": anticipate, "objective_name": args.objective, "tau": args.tau,
            "initial_poisons": args.initial_poisons,
            **solver_fields(args), **res.to_dict(), "seed": args.seed, "out": args.out}


def show(res):
    print(f"influence attack ({res['variant']}) on {res['dataset']}: epsilon {res['epsilon']:g} "
          f"({res['n_poisons']:g} poison points at {res['n_distinct']} distinct rows), "
          f"attacker knows the {res['use']} set")
    show_errors(res)
    what = "smoothed error " if res.get("objective_name") == "smoothed-error" else "test loss    "
    print(f"attacker's {what} {res['initial_objective']:.4f} -> {res['objective']:.4f} "
          f"in {res['iterations']} steps ({res['stop_reason']}), {res['seconds']:.1f} s")
    show_out(res)
