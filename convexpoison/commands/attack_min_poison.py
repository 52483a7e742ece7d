"""convexpoison attack min-poison: the fewest poison points that induce a target, with the
matching certificate (the minimum-poison program, docs/minpoison.md).

Reports the program's certified lower bound (``lower_bound``: no poison set of fewer
points makes exact training return the target), the integer attack found from it
(``n_poisons``, checked by exact retraining: ``max_loss_difference``,
``distance_to_target``), Theorem 4.2 at the clean model for comparison and, with
``--optimal``, the Dinkelbach-optimal Theorem 4.2 bound.
"""
from __future__ import annotations

import math
import time

from ._common import add_dataset, add_reg, load, progress
from ._common import defender_for, defender_kw, source_fields

HELP = "minimum-poison attack toward a target model, with its LP lower bound"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--target", required=True,
                   help="target model file (.npz from 'convexpoison target', or any w/b model)")
    add_reg(p)
    p.add_argument("--feasible", default="domain",
                   help="where poison points may lie: comma-separated among domain,l2,slab,svd")
    p.add_argument("--integer", default="auto", choices=["auto", "relax", "exact"],
                   help="integer/binary coordinates: convex relaxation (a bound) or exact "
                        "column generation over integer points (auto: exact where supported)")
    p.add_argument("--tol", type=float, default=1e-6,
                   help="margin tolerance for clean points (widening keeps the bound sound)")
    p.add_argument("--eps-close", type=float, default=0.1,
                   help="accept a poison set whose max loss difference to the target is at most this")
    p.add_argument("--max-extra", type=int, default=2,
                   help="search integer poison sets up to ceil(lower bound) + this")
    p.add_argument("--hybrid", action="store_true",
                   help="if no candidate is eps-close, continue with MTP from the best one")
    p.add_argument("--budget", type=float, default=None, help="MTP budget in --hybrid mode")
    p.add_argument("--optimal", action="store_true",
                   help="also compute the Dinkelbach-optimal Theorem 4.2 bound for comparison")
    p.add_argument("--solver", default=None, help="solver of the LP/SOCP")
    p.add_argument("--out", default=None, help="poison set file (.npz with X, y, weight)")
    p.add_argument("--no-progress", action="store_true")


def _finite(v):
    """JSON has no infinity: an unattainable target's bound is reported as null."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _count(v):
    v = _finite(v)
    return None if v is None else int(v)


def run(args):
    from ..attacks.minpoison import MinimumPoisoning
    from ..certificates.theorem42 import theorem42
    from ..errors import InputError
    from ..programs.maxloss import MaxLossDifference
    from ._common import feasible_for, load_target

    data, reg = load(args)
    D = defender_for(args, data, reg)
    kw = defender_kw(args, D, reg)
    R = kw.pop("reg")            # None with --defender: the defender brings its own
    if not data.is_binary:
        raise InputError(f"--dataset: the minimum-poison program is for binary SVMs; {data.name} "
                         f"has {data.n_classes} classes")
    for name in ("tol", "eps_close"):
        v = getattr(args, name)
        if not (v >= 0 and math.isfinite(v)):
            raise InputError(f"--{name.replace('_', '-')}: must be a finite non-negative number, got {v}")
    if args.max_extra < 0:
        raise InputError(f"--max-extra: must be non-negative, got {args.max_extra}")
    target, subpop = load_target(args.target, data)
    if target.w.shape != (data.d,):
        raise InputError(f"--target: model has {target.w.shape} weights; {data.name} has d={data.d}")
    feasible = feasible_for(args.feasible, data)
    t0 = time.perf_counter()
    X, y = data.X_train, data.y_train
    clean = D.train(X, y)
    attack = MinimumPoisoning(target, feasible, R, **kw, tol=args.tol, eps_close=args.eps_close,
                              max_extra=args.max_extra, integer=args.integer, solver=args.solver,
                              hybrid=args.hybrid, hybrid_budget=args.budget,
                              progress=None if args.no_progress else progress).fit(data)
    res = attack.result_
    lp = res.program
    # Theorem 4.2 at theta_c (Suya et al. Remark 2) beside the program's bound
    ml = MaxLossDifference(feasible, integer="relax").solve(clean, target)
    at_clean = theorem42(clean, target, X, y, R, ml.upper_bound, **kw)

    def acc(model, Xs, ys):
        return None if model is None or Xs is None else float(1.0 - model.error(Xs, ys))

    out = {
        "dataset": data.name, "reg": reg, **source_fields(data, D), "feasible": args.feasible, "integer": args.integer,
        "n_poisons": res.n_poisons if res.model is not None else None,
        "distinct_points": int(len(res.poisons)),
        "lower_bound": _count(lp.certified),
        "lp_value": _finite(lp.value), "lp_lower_bound": _finite(lp.lower_bound),
        "lp_relaxed_value": _finite(lp.relaxed_value),
        "lp_relaxed_lower_bound": _finite(lp.relaxed_lower_bound),
        "unattainable": not math.isfinite(lp.value),
        "bound_method": "min-poison LP" + (" (exact, column generation)" if lp.columns else ""),
        "tol": lp.tol, "n_margin": lp.n_margin,
        "fractional_weights": {"gamma": {str(k): v for k, v in lp.gamma.items()},
                               "eta": {str(k): v for k, v in lp.eta.items()}},
        "max_loss_difference": _finite(res.max_loss_difference),
        "max_loss_upper_bound": _finite(res.max_loss_upper_bound),
        "distance_to_target": _finite(res.distance_to_target),
        "kkt_residual": _finite(res.residual),
        "candidates": res.candidates,
        "theorem42_at_clean": _count(at_clean.lower_bound),
        "clean_test_error": clean.error(data.X_test, data.y_test),
        "target_test_error": target.error(data.X_test, data.y_test),
        "poisoned_test_error": None if res.model is None else res.model.error(data.X_test, data.y_test),
        "status": res.status, "solver": lp.solver, "lp_seconds": lp.seconds,
        "lp_verified": bool(lp.verified),
        # K(delta) at the distance reached (docs/minpoison.md, "Neighbourhood bound")
        **res.at_achieved,
    }
    if subpop is not None:
        out["subpop_accuracy"] = {"clean": acc(clean, *subpop), "target": acc(target, *subpop),
                                  "poisoned": acc(res.model, *subpop)}
    if args.optimal:
        from ..certificates.optimal import optimal_lower_bound

        progress("Dinkelbach-optimal Theorem 4.2 bound ...")
        opt = optimal_lower_bound(target, feasible, X, y, R, **kw)
        out["optimal_lower_bound"] = _count(opt.lower_bound)
        out["optimal_value"] = _finite(opt.value)
        if math.isfinite(lp.value) and opt.value and math.isfinite(opt.value):
            out["lp_vs_optimal_relative"] = float((lp.value - opt.value) / max(abs(lp.value), 1.0))
    if args.out and res.model is not None:
        attack.poisons_.save(args.out)
        progress(f"poison set written to {args.out}")
    out["out"] = args.out
    out["seconds"] = time.perf_counter() - t0
    return out


def show(res):
    from ._common import show_source

    show_source(res)
    lb = res["lower_bound"]
    if res["unattainable"]:
        print("The target is unattainable: no poison set inside the feasible set induces it.")
        return
    print(f"certified lower bound (min-poison LP): {lb}   (LP value {res['lp_value']:.6g}, "
          f"margin tolerance {res['tol']:g})")
    print(f"Theorem 4.2 at the clean model: {res['theorem42_at_clean']}")
    if res.get("optimal_lower_bound") is not None:
        print(f"Dinkelbach-optimal Theorem 4.2: {res['optimal_lower_bound']} "
              f"(c = {res['optimal_value']:.6g})")
    print(f"integer attack: {res['n_poisons']} poison points ({res['distinct_points']} distinct), "
          f"max loss difference {res['max_loss_difference']:.4g}, distance to target "
          f"{res['distance_to_target']:.3g}  [{res['status']}]")
    if res.get("lower_bound_at_achieved") is not None:
        print(f"certified at the distance reached ({res['lower_bound_at_achieved_delta']:.3g}): "
              f"{res['lower_bound_at_achieved']}  (n_poisons / bound = "
              f"{res['n_poisons'] / max(res['lower_bound_at_achieved'], 1):.3f})")
    print(f"test error: clean {res['clean_test_error']:.4f}, target {res['target_test_error']:.4f}, "
          f"poisoned {res['poisoned_test_error']:.4f}")
    if res.get("subpop_accuracy"):
        s = res["subpop_accuracy"]
        print(f"subpopulation accuracy: clean {s['clean']:.3f}, target {s['target']:.3f}, "
              f"poisoned {s['poisoned']:.3f}")
    print(f"{res['seconds']:.1f} s" + (f"; poison set written to {res['out']}" if res["out"] else ""))
