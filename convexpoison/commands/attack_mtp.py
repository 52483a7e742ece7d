"""convexpoison attack mtp: Suya et al.'s model-targeted poisoning toward a target file."""
from __future__ import annotations

from pathlib import Path

from ._common import (add_dataset, add_reg, bars, feasible_for, load, load_target,
                      problem_fingerprint, progress, run_record)
from ._common import defender_for, defender_kw, source_fields

HELP = "model-targeted poisoning (Suya et al. Algorithm 1) with Theorem 4.2 bounds"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--target", required=True,
                   help="target model file (.npz from 'convexpoison target', or any w/b model)")
    add_reg(p)
    p.add_argument("--eps-close", type=float, default=0.1,
                   help="stop when the max loss difference to the target is at most this")
    p.add_argument("--budget", type=float, default=None, help="stop after this many poisons")
    p.add_argument("--copies", type=int, default=1, help="copies of each point per iteration")
    p.add_argument("--goal-accuracy", type=float, default=None,
                   help="stop when accuracy on --goal-set falls to this")
    p.add_argument("--goal-set", default="test", choices=["test", "subpop"],
                   help="where --goal-accuracy is measured: the test set or the target's subpopulation")
    p.add_argument("--feasible", default="domain",
                   help="feasible set components (comma-separated among domain,l2,slab,svd)")
    p.add_argument("--integer", default="exact", choices=["exact", "relax"],
                   help="integer/binary coordinates: exact MILP points or the LP relaxation")
    p.add_argument("--max-iter", type=int, default=100000, help="stop after this many iterations")
    p.add_argument("--out", default=None, help="poison set file (.npz with X, y, weight)")
    p.add_argument("--run-dir", default=None,
                   help="directory for the incremental record (default: OUT with .run)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--figures", action="store_true", help="write convergence and bound PNGs")
    p.add_argument("--no-progress", action="store_true")


def run(args):
    import time

    from ..attacks.mtp import ModelTargetedPoisoning
    from ..errors import InputError

    data, reg = load(args)
    D = defender_for(args, data, reg)
    kw = defender_kw(args, D, reg)
    if not data.is_binary:
        raise InputError(f"--dataset: MTP needs a binary dataset; {data.name} has {data.n_classes} classes")
    target, subpop = load_target(args.target, data)
    run_dir = args.run_dir or (str(Path(args.out).with_suffix(".run")) if args.out else None)
    record = run_record(run_dir, problem_fingerprint(data, target, reg, args.feasible, args.integer,
                                                defender=D if args.defender else "svm"),
                        args.resume, say=progress)          # a resume of another problem: refused
    t0 = time.perf_counter()
    clean = D.train(data.X_train, data.y_train)
    attack = ModelTargetedPoisoning(
        target, feasible_for(args.feasible, data), kw.pop("reg"), **kw, eps_close=args.eps_close,
        budget=args.budget, copies=args.copies, goal_accuracy=args.goal_accuracy,
        goal_set=args.goal_set, integer=args.integer, run_dir=run_dir, resume=args.resume,
        max_iter=args.max_iter, progress_bar=bars(args))
    with record:
        attack.fit(data, subpop=subpop)
    res = attack.result_
    seconds = time.perf_counter() - t0
    figures = []
    if args.figures and res.history:
        from ..plots import lower_bound_curve, mtp_convergence

        base = Path(args.out).with_suffix("") if args.out else Path(run_dir or "mtp")
        figures = [str(mtp_convergence(res.history, f"{base}-convergence.png")),
                   str(lower_bound_curve(res.history, f"{base}-lower-bound.png"))]
    if args.out:
        attack.poisons_.save(args.out)
        progress(f"poison set written to {args.out}")
    summary = res.to_dict()
    return {
        "dataset": data.name, "reg": reg, **source_fields(data, D), "n_poisons": res.n_poisons,
        "distinct_points": summary["distinct_points"],
        "max_loss_difference": summary["max_loss_difference"],
        "max_loss_upper_bound": summary["max_loss_upper_bound"],
        "distance_to_target": summary["distance_to_target"],
        "lower_bound": res.lower_bound, "bound_method": summary["bound_method"],
        "clean_test_error": clean.error(data.X_test, data.y_test),
        "poisoned_test_error": res.model.error(data.X_test, data.y_test),
        "target_test_error": target.error(data.X_test, data.y_test),
        "subpop_accuracy": summary["subpop_accuracy"], "iterations": len(res.history),
        "stop_reason": res.stop_reason, "status": res.status,
        "solver": getattr(attack, "solver_", None), "seconds": seconds,
        "run_dir": run_dir, "figures": figures, "out": args.out,
        # K(delta) at the distance reached (docs/minpoison.md, "Neighbourhood bound")
        **{k: v for k, v in summary.items() if k.startswith("lower_bound_at_achieved")},
    }
