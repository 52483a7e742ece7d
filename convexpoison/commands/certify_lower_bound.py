"""convexpoison certify lower-bound: Suya et al. Theorem 4.2 for a target model.

``--method optimal`` (default) maximises ``c(theta)`` globally by Dinkelbach iterations
(:mod:`convexpoison.certificates.optimal`); ``--method intermediate`` runs MTP toward the
target and reports the best bound over its intermediate models (Suya et al. section 4.3,
:mod:`convexpoison.certificates.theorem42`); ``--method lp`` the minimum-poison program's
proven optimum (:mod:`convexpoison.certificates.lp`).

The JSON is a :class:`~convexpoison.certificates.base.Certificate`: ``lower_bound`` is the
certified minimum number of poison points (an integer; null with ``lower_bound_reason``
when no poison set of any size induces the target); ``upper_bound`` is null (these
certificates bound no damage).  What MTP used is ``mtp_n_poisons`` (an attack, not a proof).
"""
from __future__ import annotations

import time

import numpy as np

from ._common import add_dataset, add_reg, load, progress
from ._common import defender_for, defender_kw, source_fields

HELP = "certified lower bound on the poison points needed to induce a target (Theorem 4.2)"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--target", default=None, help="target model file (.npz with w, b)")
    p.add_argument("--poisons", default=None,
                   help="instead of --target: certify the model this poison set (.npz with X, y, "
                        "weight) induces, i.e. the model trained on Dc u Dp; the bound is then at "
                        "most |Dp| and n_poisons / lower_bound measures the attack's optimality")
    add_reg(p)
    p.add_argument("--method", default="optimal", choices=["optimal", "intermediate", "lp"],
                   help="optimal: Dinkelbach maximisation of c(theta); intermediate: the best "
                        "bound over MTP's intermediate models; lp: the minimum-poison linear "
                        "program's certified bound")
    p.add_argument("--feasible", default="domain",
                   help="where poison points may lie: comma-separated among domain,l2,slab,svd")
    p.add_argument("--integer", default="auto", choices=["auto", "relax", "exact"],
                   help="integer/binary coordinates: also evaluate the denominator by an exact "
                        "MILP (auto: when the domain has integer coordinates)")
    p.add_argument("--target-gap", type=float, default=0.0,
                   help="certify for targets that are only this close (training objective) to "
                        "optimal on Dc u Dp (default 0: the exact theorem)")
    # dest "neighbourhood": its check (>= 0) differs from the influence attack's --delta (> 0)
    p.add_argument("--delta", type=float, default=0.0, dest="neighbourhood", metavar="DELTA",
                   help="lp: certify every model within this parameter l2 distance of the "
                        "target (the neighbourhood bound K(delta), docs/minpoison.md)")
    p.add_argument("--max-iter", type=int, default=30, help="Dinkelbach iterations at most")
    p.add_argument("--eps-close", type=float, default=0.1,
                   help="intermediate: MTP stops at this max loss difference")
    p.add_argument("--budget", type=float, default=None, help="intermediate: MTP budget")
    p.add_argument("--solver", default=None, help="solver of the Dinkelbach subproblems")
    p.add_argument("--no-progress", action="store_true")


def _induced_target(path, data, D):
    """The model the defender ``D`` trains (exactly, to a proven duality gap) on ``Dc u Dp``."""
    from ._common import read_poisons

    ps = read_poisons(path, data)
    Xa, ya, wa, _ = ps.with_clean(data.X_train, data.y_train)
    model = D.train(Xa, ya, sample_weight=wa, tol=1e-12)
    # a gap-minimiser certificate: the model is within gap_ of the exact optimum
    gap = max(float(model.gap_), 0.0) + 1e-12 * abs(model.objective_)
    info = {"n_poisons": ps.n_poisons, "poisons": str(path), "target_gap": gap,
            "induced_test_error": model.error(data.X_test, data.y_test)}
    return model, None, info


def _strong(D, induced, data):
    """The strong-convexity modulus of the defender's objective on ``Dc u Dp`` (the
    ``C_R`` of ``sqrt(2 gap / C_R)``): ``D.reg_for(W)`` with ``W`` the union's weight.  A
    free intercept leaves the objective flat along ``b`` and a target file does not say its
    ``W`` under C-on-the-sum: both refused rather than certified with a wrong modulus."""
    from ..errors import InputError

    if not D.penalize_intercept:
        raise InputError(f"--defender: {D.spec()} has a free intercept, so its objective is not "
                         "strongly convex in b and a gap-optimal target (--target-gap, "
                         "--poisons) has no distance bound; use --target with --target-gap 0")
    if D.convention == "sum" and induced is None:
        raise InputError(f"--defender: {D.spec()} puts C on the sum of losses, so --target-gap "
                         "needs the poisoned set's size; use --poisons")
    W = data.n_train + (induced["n_poisons"] if induced is not None else 0)
    return D.reg_for(W)


def run(args):
    from ..certificates import Certificate, DinkelbachLowerBound, certify_at, lower_bound_statement
    from ..certificates.lp import lp_certificate, lp_lower_bound, lp_statement
    from ..errors import InputError
    from ._common import feasible_for, load_target

    data, reg = load(args)
    D = defender_for(args, data, reg)
    kw = defender_kw(args, D, reg)
    R = kw.pop("reg")            # None with --defender: the defender brings its own
    if not data.is_binary:
        raise InputError(f"--dataset: Theorem 4.2 is implemented for binary SVMs; {data.name} "
                         f"has {data.n_classes} classes")
    if not args.target_gap >= 0:
        raise InputError(f"--target-gap: must be non-negative, got {args.target_gap}")
    if not (args.neighbourhood >= 0 and np.isfinite(args.neighbourhood)):
        raise InputError(f"--delta: must be a finite non-negative number, got {args.neighbourhood}")
    if args.neighbourhood > 0 and args.method == "intermediate":
        raise InputError("--delta: the neighbourhood bound is for --method lp or optimal "
                         "(docs/lower-bound.md, 'A neighbourhood of the target')")
    if args.max_iter < 1:
        raise InputError(f"--max-iter: must be positive, got {args.max_iter}")
    if (args.target is None) == (args.poisons is None):
        raise InputError("--target/--poisons: give exactly one of them")
    induced = None
    if args.poisons is not None:
        target, subpop, induced = _induced_target(args.poisons, data, D)
        if args.target_gap == 0:
            args.target_gap = induced["target_gap"]
    else:
        target, subpop = load_target(args.target, data)
    if target.w.shape != (data.d,):
        raise InputError(f"--target: model has {target.w.shape} weights; {data.name} has d={data.d}")
    target_reg = float(getattr(target, "reg", float("nan")))
    # (under scikit-learn's C on the sum a target's C_R = 1/(C W) moves with its data's W)
    if (np.isfinite(target_reg) and D.convention == "average"
            and not np.isclose(target_reg, reg, rtol=1e-12, atol=0)):
        progress(f"convexpoison: warning: the target was trained with C_R = {target_reg:g}; "
                 f"certifying for the defender's C_R = {reg:g} (set --reg to change)")
    feasible = feasible_for(args.feasible, data)
    names = args.feasible if "domain" in args.feasible else "domain," + args.feasible
    say = None if args.no_progress else progress
    t0 = time.perf_counter()
    clean = D.train(data.X_train, data.y_train)
    out = {"dataset": data.name, "reg": reg, **source_fields(data, D), "feasible": names,
           "target_test_error": target.error(data.X_test, data.y_test),
           "clean_test_error": clean.error(data.X_test, data.y_test),
           "target_gap": args.target_gap, "target_reg": target_reg,
           "bias_regularized": D.penalize_intercept}
    if induced is not None:
        out.update({k: v for k, v in induced.items() if k != "target_gap"})
    integer_note, where = "", f"{names} of {data.name}"
    if args.method == "intermediate":
        from ..attacks.mtp import ModelTargetedPoisoning

        attack = ModelTargetedPoisoning(target, feasible, R, **kw, eps_close=args.eps_close,
                                        budget=args.budget, progress_bar=None if say else False,
                                        integer="relax" if args.integer == "relax" else "exact")
        res = attack.fit(data, subpop=subpop).result_
        best = max(res.history, key=lambda r: (r.lower_bound, r.bound_value)) if res.history else None
        lb = res.lower_bound
        cert = Certificate(
            method="intermediate", statement="", lower_bound=lb,
            value=None if best is None else best.bound_value,
            # MTP raises on any max-loss solve that is not optimal (or a closed form)
            status="optimal" if res.history else "not solved",
            details={"mtp_n_poisons": res.n_poisons,
                     "mtp_n_poisons_meaning": "poison points MTP used to reach the target within "
                                              f"max-loss difference {args.eps_close:g} (an "
                                              "attack, not a proof)",
                     "iterations": len(res.history), "stop_reason": res.stop_reason,
                     "max_loss_difference": (res.history[-1].max_loss_difference
                                             if res.history else None)})
        if induced is None:
            out["n_poisons"] = res.n_poisons
            out["ratio"] = (res.n_poisons / lb) if lb and lb != float("inf") else None
    elif args.method == "lp":
        # the minimum-poison KKT linear program (docs/minpoison.md): its proven optimum
        # bounds the number of poisons from below and equals the optimal Theorem 4.2 bound
        # a target only gap-optimal on Dc u Dp (--target-gap, or --poisons' trainer gap) is
        # within sqrt(2 gap / C_R) of the exact optimum (C_R-strong convexity): K(delta)
        delta = args.neighbourhood + (float(np.sqrt(2.0 * args.target_gap / _strong(D, induced, data)))
                                      if args.target_gap else 0.0)
        r = lp_lower_bound(target, feasible, data.X_train, data.y_train, R, **kw,
                           integer="exact" if args.integer == "exact" else "relax",
                           solver=args.solver, delta=delta)
        cert = lp_certificate(r, lp_statement(r, where, data.n_train, reg))
        lb = cert.lower_bound
    else:
        est = DinkelbachLowerBound(feasible, R, **kw, integer=args.integer, max_iter=args.max_iter,
                                   target_gap=args.target_gap, solver=args.solver, progress=say,
                                   delta=args.neighbourhood)
        r = est.fit(data.X_train, data.y_train, target).result_
        cert = r.certificate()
        lb = cert.lower_bound
        if r.exact is not None:
            integer_note = (f"  Integer coordinates: relaxed denominator certifies "
                            f"{r.relaxed.lower_bound}, exact MILP denominator {r.exact.lower_bound}.")
        cert.details.update({
            "upper_estimate_meaning": "the Dinkelbach estimate of sup c (not a proof)",
            "iterations": len(r.iterations),
            "iteration_log": [{"t": s.t, "F": s.value, "c": s.bound_value, "ray_c": s.ray_value,
                               "bound": s.lower_bound} for s in r.iterations],
            "initial_bound": None if r.initial is None else r.initial.lower_bound,
            "lower_bound_relaxed": None if r.relaxed is None else r.relaxed.lower_bound,
            "lower_bound_exact": None if r.exact is None else r.exact.lower_bound,
        })
    # Remark 2: the bound at theta_c, for comparison
    from ..programs.maxloss import MaxLossDifference

    ml = MaxLossDifference(feasible, integer="relax").solve(clean, target)
    rc = certify_at(clean, target, data.X_train, data.y_train, R, ml.upper_bound,
                    target_gap=args.target_gap, **kw)
    out["theta_c_bound"] = rc.lower_bound
    if induced is not None:
        n = induced["n_poisons"]
        out["ratio"] = n / lb if lb and lb != float("inf") else None
        if lb != float("inf") and lb > n:          # impossible for a sound certificate
            raise RuntimeError(f"certificate {lb} exceeds the size {n} of a poison set that "
                               "induces the target: a soundness bug, please report it")
    cert.seconds = time.perf_counter() - t0
    if args.method != "lp":
        cert.statement = lower_bound_statement(
            lb, where, data.n_train, reg, args.target_gap, integer_note, delta=args.neighbourhood)
    return {**cert.to_dict(), **out}


def show(res):
    from ._common import show_source

    show_source(res)
    lb = res["lower_bound"] if res["lower_bound"] is not None else res["lower_bound_reason"]
    print(f"certified lower bound ({res['method']}): {lb}")
    if res.get("value") is not None:
        print(f"  c(theta) = {res['value']:.6g}; at theta_c (Remark 2): {res['theta_c_bound']}")
    if res.get("lower_bound_exact") is not None:
        print(f"  relaxed denominator: {res['lower_bound_relaxed']}, exact MILP: "
              f"{res['lower_bound_exact']}")
    if res.get("stop_reason") is not None:
        print(f"  MTP used {res['mtp_n_poisons']} poisons ({res['stop_reason']})")
    if res.get("poisons") is not None:
        print(f"  the poison set has {res['n_poisons']:g} points; n_poisons / lower_bound = "
              f"{res['ratio']:.3f}" if res.get("ratio") else "")
    print(f"  {res['seconds']:.1f} s")
    print(res["statement"])
