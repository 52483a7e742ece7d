"""convexpoison attack kkt: Koh et al.'s KKT attack with decoy parameters (Algorithms 3, 4)."""
from __future__ import annotations

from ._common import (add_dataset, add_defense, add_epsilon, add_no_progress, add_out, add_p,
                      add_quantile, add_reg, add_scheduler, add_use, check_at_least,
                      check_binary, check_budget, fit_attack, load, numbers, parse_feasible,
                      reporting, show_errors, show_out, solver_fields)
from ._common import defender_for, defender_kw, source_fields

HELP = "KKT attack (Koh et al. section 4.2): decoys, the eps+/eps- grid, judged under every defense"


def add_arguments(p):
    add_dataset(p)
    add_epsilon(p)
    add_defense(p)
    p.add_argument("--feasible", default=None,
                   help="feasible-set components for the poison points among domain,l2,slab,loss,svd "
                        "(default: domain plus the --defense ones among l2,slab,loss)")
    add_use(p, "the attacker knows the test set (default; Koh et al. section 5)",
            "the attacker only knows the training set (section 6.1)")
    add_reg(p)
    add_p(p)
    add_quantile(p, None, "feasible-set thresholds: this quantile of the clean scores "
                          "(default 1 - p: what the defenses fitted on the clean data keep)")
    p.add_argument("--grid", type=int, default=6, help="eps+ grid steps T of Algorithm 4 (default 6)")
    p.add_argument("--repeats", default=None,
                   help="decoy repeat counts r, comma-separated (default 1,2,3,5,8,12,18,25,33)")
    p.add_argument("--quantiles", default=None,
                   help="decoy flip fractions q, comma-separated (default 0.05,0.10,...,0.55)")
    p.add_argument("--max-decoys", type=int, default=None,
                   help="keep at most this many decoys after Pareto pruning")
    p.add_argument("--iterations", type=int, default=1,
                   help="rounds of Algorithm 1 (refit the feasible set on clean + poison)")
    p.add_argument("--workers", type=int, default=1, help="worker processes for the sweep")
    add_scheduler(p)
    p.add_argument("--solver", default=None, help="conic solver for the KKT program")
    p.add_argument("--screen-tol", type=float, default=1e-6,
                   help="training tolerance (relative duality gap) while judging candidates; "
                        "the chosen poison set is re-evaluated exactly (default 1e-6)")
    add_out(p, "poison set (.npz with X, y, weight)")
    add_no_progress(p)


def run(args):
    from ..attacks.kkt import KKTAttack
    from ..errors import InputError
    from ._common import check_attack_flags

    data, reg = load(args)
    D = defender_for(args, data, reg)
    check_binary(data, "KKT")
    defenses = check_attack_flags(args)
    check_at_least(args, "grid")
    if not 0 < args.screen_tol < 1:
        raise InputError(f"--screen-tol: must be in (0, 1), got {args.screen_tol}")
    check_at_least(args, "workers", "iterations", "max_decoys")
    repeats = None
    if args.repeats is not None:
        values = numbers(args.repeats, "--repeats")
        repeats = [int(r) for r in values]
        if min(repeats) < 1 or any(r != f for r, f in zip(repeats, values)):
            raise InputError("--repeats: give positive integers")
    quantiles = None
    if args.quantiles is not None:
        quantiles = numbers(args.quantiles, "--quantiles")
        if min(quantiles) <= 0 or max(quantiles) > 1:
            raise InputError("--quantiles: give fractions in (0, 1]")
    from ..feasible import COMPONENTS

    feasible = parse_feasible(args, COMPONENTS)
    check_budget(args.epsilon, data)
    attack = KKTAttack(args.epsilon, **defender_kw(args, D, reg), defenses=defenses, feasible=feasible, p=args.p,
                       quantile=args.quantile, grid=args.grid, use=args.use, repeats=repeats,
                       quantiles=quantiles, max_decoys=args.max_decoys,
                       iterations=args.iterations, workers=args.workers, solver=args.solver,
                       screen_tol=args.screen_tol, scheduler=args.scheduler, **reporting(args))
    res = fit_attack(attack, data, args)
    return {"dataset": data.name, "attack": "kkt", "epsilon": args.epsilon, "reg": reg,
            **source_fields(data, D),
            "use": args.use, "defenses": defenses,
            **solver_fields(args), **res.to_dict(), "workers": args.workers,
            "scheduler": args.scheduler, "out": args.out}


def show(res):
    print(f"KKT attack on {res['dataset']}: epsilon {res['epsilon']:g} "
          f"({res['n_poisons']:g} poison points: {res['n_pos']} at +1, {res['n_neg']} at -1), "
          f"attacker knows the {res['use']} set")
    show_errors(res)
    print(f"KKT residual            {res['kkt_residual']:.4g}")
    print(f"{res['n_candidates']} candidates from {res['n_decoys']} decoys in {res['seconds']:.1f} s"
          + (" (interrupted: the best of those that finished)" if res.get("interrupted") else ""))
    show_out(res)
