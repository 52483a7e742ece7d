"""Certificate cost and tightness (issue 10, part 2).

For MTP runs toward the targets of Suya et al.'s experiments -- mnist17 and
fmnist-sneaker-boot (Koh label-flip target with test error >= 10%, reduced grid) and the
three adult ClusterMatch subpopulations (target misclassifying the subpopulation, reduced
grid) -- report

* ``n_poisons``: poison points MTP added (one copy per iteration, the package default);
* the best intermediate lower bound: Theorem 4.2 at every MTP model (Suya et al. 4.3);
* the optimal lower bound: ``sup_theta c(theta)`` by Dinkelbach iterations
  (:func:`convexpoison.certificates.optimal.optimal_lower_bound`, seeded with the clean
  model and MTP's last model);
* ratios ``n_poisons / optimal`` (goal <= 1.10; Suya et al. report 1.12-2.0 for their
  bound) and ``intermediate / optimal``, and the seconds of each part.

Phases and caps.  mnist17 runs to ``eps_close`` with one copy per iteration.  The adult
subpopulations run to ``eps_close`` 0.01 the way ``tests/test_mtp_acceptance.py`` does:
10 copies per iteration up to 2000 poisons (fast progress far from the target), then one
copy per iteration from those poisons (the same run directory, ``resume=True``) -- with 10
copies throughout the run ends in a 2-cycle short of 0.01-closeness (docs/mtp.md).
fmnist-sneaker-boot stops at a poison budget (``CAPS``): a run to ``eps_close`` needs at
least the optimal bound's ~3 400 exact retrainings of 12 000 x 784, too long for
``make bench``.  A capped run's ``n_poisons`` is the count so far and ``n_poisons / optimal``
only a lower bound on the final ratio (the final run can only add points).

Targets are cached under ``bench/results/cache/`` (delete it to rebuild).
Run: ``python bench/certificates.py`` (``--caps mnist17=0,fmnist-sneaker-boot=100,adult=0``;
0 = no cap; a cap bounds every phase's budget).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common as C
import numpy as np

#: eps_close per dataset (Suya et al.: MNIST 0.1, Adult 0.01; fmnist as MNIST)
EPS_CLOSE = {"mnist17": 0.1, "fmnist-sneaker-boot": 0.1, "adult": 0.01}
#: poison budget caps (None: run to eps_close), chosen for a ~15 minute make bench
CAPS = {"mnist17": None, "fmnist-sneaker-boot": 100, "adult": None}
#: MTP phases (settings of each (re)start; the last one runs to eps_close or the cap):
#: adult as tests/test_mtp_acceptance.py and docs/mtp.md -- 10 copies up to 2000 poisons,
#: then single copies (at C_R = 0.01 ten copies of one point overshoot the 0.01 closeness)
PHASES = {"adult": [dict(copies=10, budget=2000), dict(copies=1)]}
#: Dinkelbach iterations (package default 30).  On fmnist-sneaker-boot each subproblem
#: (a QP over 12 000 clean points x 785 parameters) takes ~1.5 CPU-minutes, so it is capped;
#: any theta certifies soundly, so a capped run gives a valid but possibly lower bound.
DINKELBACH_MAX_ITER = {"fmnist-sneaker-boot": 2}


def one(ds, tg, name, eps_close, cap, subpop=None):
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.certificates.optimal import optimal_lower_bound
    from convexpoison.training import train

    X, y = ds.X_train, ds.y_train
    goal_set = "subpop" if subpop is not None else "test"
    phases = [dict(p) for p in PHASES.get(ds.name, [dict(copies=1)])]
    if cap is not None:
        for ph in phases:
            ph["budget"] = min(ph.get("budget") or cap, cap)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # one run directory for all phases: each later phase resumes the previous one's
        # poisons, warm-started dual variables and history (so the history, and the best
        # intermediate bound, cover the whole run)
        for k, ph in enumerate(phases):
            att = ModelTargetedPoisoning(tg.model, ds.domain, ds.reg, eps_close=eps_close,
                                         goal_set=goal_set, run_dir=Path(tmp) / "run",
                                         resume=k > 0, progress_bar=False, **ph)
            res = att.fit(ds, subpop=subpop).result_
            if res.stop_reason == "eps_close":
                break
    t_mtp = time.perf_counter() - t0
    last = res.history[-1]
    clean = train(X, y, "svm", ds.reg)
    t0 = time.perf_counter()
    max_iter = DINKELBACH_MAX_ITER.get(ds.name, 30)
    opt = optimal_lower_bound(tg.model, ds.domain, X, y, ds.reg, init_models=[clean, res.model],
                              max_iter=max_iter)
    t_opt = time.perf_counter() - t0
    n = res.n_poisons
    inter = res.lower_bound
    capped = res.stop_reason != "eps_close"
    ob = opt.lower_bound
    return {"run": name, "dataset": ds.name, "eps_close": eps_close, "budget_cap": cap,
            "phases": phases, "distinct_points": len(res.poisons),
            "stop_reason": res.stop_reason, "capped": capped, "iterations": len(res.history),
            "n_poisons": n, "final_max_loss_difference": last.max_loss_difference,
            "final_test_accuracy": last.test_accuracy,
            "final_subpop_accuracy": last.subpop_accuracy,
            "intermediate_lower_bound": inter, "optimal_lower_bound": ob,
            "optimal_value": opt.value, "optimal_status": opt.status,
            "optimal_upper_estimate": opt.upper_estimate,
            "dinkelbach_iterations": len(opt.iterations), "dinkelbach_max_iter": max_iter,
            "optimal_capped": len(opt.iterations) >= max_iter and max_iter < 30,
            "n_over_optimal": n / ob if ob and np.isfinite(ob) else None,
            "ratio_kind": "lower bound on the final ratio (capped run)" if capped else "final",
            "intermediate_over_optimal": inter / ob if ob and np.isfinite(ob) else None,
            "mtp_seconds": t_mtp, "optimal_seconds": t_opt,
            "mtp_seconds_per_iteration": t_mtp / len(res.history),
            "target": tg.summary()}


def main():
    from convexpoison.datasets import load_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--caps", default=None, help="dataset=cap,... (0: no cap)")
    ap.add_argument("--datasets", default="mnist17,fmnist-sneaker-boot,adult")
    args = ap.parse_args()
    caps = dict(CAPS)
    if args.caps:
        for item in args.caps.split(","):
            k, v = item.split("=")
            caps[k.strip()] = int(v) or None
    t_start = time.perf_counter()
    runs, targets_info = [], {}
    for name in args.datasets.split(","):
        ds = load_dataset(name)
        if name == "adult":
            tgs, tsec, cached = C.subpop_targets_cached(ds)
            targets_info[name] = {"seconds": tsec, "cached": cached, "n": len(tgs)}
            for i, tg in enumerate(tgs):
                sp = tg.subpop
                sub = (ds.X_test[sp.test], ds.y_test[sp.test])
                C.say(f"certificates: adult subpopulation {i} (cluster {sp.cluster})")
                runs.append(one(ds, tg, f"adult-subpop{i} (cluster {sp.cluster})",
                                EPS_CLOSE[name], caps.get(name), subpop=sub))
        else:
            tg, tsec, cached = C.koh_target_cached(ds)
            targets_info[name] = {"seconds": tsec, "cached": cached, "n": 1}
            C.say(f"certificates: {name}")
            runs.append(one(ds, tg, f"{name} (koh 10%)", EPS_CLOSE[name], caps.get(name)))
    rows = []
    for r in runs:
        ratio = r["n_over_optimal"]
        rtxt = "-" if ratio is None else (f">={ratio:.3f} (capped)" if r["capped"] else f"{ratio:.3f}")
        otxt = f"{r['optimal_lower_bound']:g}" + (" (capped)" if r["optimal_capped"] else "")
        acc = r["final_subpop_accuracy"]
        acc = r["final_test_accuracy"] if acc is None or not np.isfinite(acc) else acc
        rows.append([r["run"], r["n_poisons"], r["stop_reason"], r["final_max_loss_difference"],
                     f"{acc:.3f}",
                     r["intermediate_lower_bound"], otxt, rtxt,
                     r["intermediate_over_optimal"], f"{r['mtp_seconds']:.1f}",
                     f"{r['optimal_seconds']:.1f}"])
    C.table(["run", "n_poisons", "stop", "maxloss at stop", "acc (subpop/test)", "intermediate LB", "optimal LB",
             "n/optimal", "interm./optimal", "MTP s", "optimal s"], rows,
            title="Certificates: MTP poison count vs lower bounds (goal n/optimal <= 1.10)")
    print("capped: MTP stopped at its poison budget before eps_close, so n_poisons is the "
          "count so far and n/optimal only a lower bound on the final ratio; optimal LB "
          "(capped): Dinkelbach stopped at its iteration cap -- a sound bound, maybe below "
          "the optimum")
    C.write_result("certificates", {"runs": runs, "targets": targets_info,
                                    "caps": caps, "eps_close": EPS_CLOSE,
                                    "seconds": time.perf_counter() - t_start})


if __name__ == "__main__":
    main()
