"""convexpoison attack kkt: Koh et al.'s KKT attack with decoy parameters (Algorithms 3, 4)."""
from __future__ import annotations

from ._common import (add_dataset, add_defense, add_no_progress, add_out, add_reg, add_scheduler,
                      bars, load, parse_list, progress)

HELP = "KKT attack (Koh et al. section 4.2): decoys, the eps+/eps- grid, judged under every defense"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--epsilon", type=float, required=True,
                   help="poison budget as a fraction of the clean training set")
    add_defense(p)
    p.add_argument("--feasible", default=None,
                   help="feasible-set components for the poison points among domain,l2,slab,loss,svd "
                        "(default: domain plus the --defense ones among l2,slab,loss)")
    known = p.add_mutually_exclusive_group()
    known.add_argument("--test-known", dest="use", action="store_const", const="test",
                       help="the attacker knows the test set (default; Koh et al. section 5)")
    known.add_argument("--train-only", dest="use", action="store_const", const="train",
                       help="the attacker only knows the training set (section 6.1)")
    p.set_defaults(use="test")
    add_reg(p)
    p.add_argument("--p", type=float, default=0.05, help="fraction each defense removes per class")
    p.add_argument("--quantile", type=float, default=None,
                   help="feasible-set thresholds: this quantile of the clean scores "
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


def _floats(value, name):
    from ..errors import InputError

    out = []
    for v in str(value).split(","):
        v = v.strip()
        if not v:
            continue
        try:
            out.append(float(v))
        except ValueError:
            raise InputError(f"{name}: not a number: {v!r}") from None
    if not out:
        raise InputError(f"{name}: give at least one value")
    return out


def run(args):
    from ..attacks.kkt import KKTAttack
    from ..defenses import DEFENSES
    from ..errors import InputError
    from .evaluate import check_p

    data, reg = load(args)
    if not data.is_binary:
        raise InputError(f"--dataset: the KKT attack is for binary datasets; {data.name} has "
                         f"{data.n_classes} classes")
    if not 0 < args.epsilon <= 1:
        raise InputError(f"--epsilon: must be in (0, 1], got {args.epsilon}")
    defenses = parse_list(args.defense, DEFENSES, "--defense")
    check_p(args.p)
    if args.quantile is not None and not 0 < args.quantile <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {args.quantile}")
    if args.grid < 1:
        raise InputError(f"--grid: must be at least 1, got {args.grid}")
    if not 0 < args.screen_tol < 1:
        raise InputError(f"--screen-tol: must be in (0, 1), got {args.screen_tol}")
    if args.workers < 1:
        raise InputError(f"--workers: must be at least 1, got {args.workers}")
    if args.iterations < 1:
        raise InputError(f"--iterations: must be at least 1, got {args.iterations}")
    if args.max_decoys is not None and args.max_decoys < 1:
        raise InputError(f"--max-decoys: must be at least 1, got {args.max_decoys}")
    repeats = None
    if args.repeats is not None:
        repeats = [int(r) for r in _floats(args.repeats, "--repeats")]
        if min(repeats) < 1 or any(r != f for r, f in zip(repeats, _floats(args.repeats, "--repeats"))):
            raise InputError("--repeats: give positive integers")
    quantiles = None
    if args.quantiles is not None:
        quantiles = _floats(args.quantiles, "--quantiles")
        if min(quantiles) <= 0 or max(quantiles) > 1:
            raise InputError("--quantiles: give fractions in (0, 1]")
    feasible = None
    if args.feasible is not None:
        from ..feasible import COMPONENTS

        feasible = parse_list(args.feasible, list(COMPONENTS), "--feasible")
    if int(args.epsilon * data.n_train + 1e-9) < 1:
        raise InputError(f"--epsilon: {args.epsilon} x {data.n_train} training points is less "
                         "than one poison point")
    attack = KKTAttack(args.epsilon, reg=reg, defenses=defenses, feasible=feasible, p=args.p,
                       quantile=args.quantile, grid=args.grid, use=args.use, repeats=repeats,
                       quantiles=quantiles, max_decoys=args.max_decoys,
                       iterations=args.iterations, workers=args.workers, solver=args.solver,
                       screen_tol=args.screen_tol, scheduler=args.scheduler,
                       progress=None if args.no_progress else progress, progress_bar=bars(args))
    attack.fit(data)
    res = attack.result_
    if args.out:
        res.poisons.save(args.out)
    from ..solvers import default_solver

    return {"dataset": data.name, "attack": "kkt", "epsilon": args.epsilon, "reg": reg,
            "use": args.use, "defenses": defenses,
            **res.to_dict(), "solver": args.solver or default_solver("SOCP"),
            "status": "optimal", "workers": args.workers,
            "scheduler": args.scheduler, "out": args.out}


def show(res):
    print(f"KKT attack on {res['dataset']}: epsilon {res['epsilon']:g} "
          f"({res['n_poisons']:g} poison points: {res['n_pos']} at +1, {res['n_neg']} at -1), "
          f"attacker knows the {res['use']} set")
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f}   (removed {r['poison']:g} poison, {r['clean']:g} clean)")
    print(f"min over defenses       {res['poisoned_test_error']:.4f}")
    print(f"KKT residual            {res['kkt_residual']:.4g}")
    print(f"{res['n_candidates']} candidates from {res['n_decoys']} decoys in {res['seconds']:.1f} s"
          + (" (interrupted: the best of those that finished)" if res.get("interrupted") else ""))
    if res.get("out"):
        print(f"poison set written to {res['out']}")
