"""convexpoison certify upper-bound: Steinhardt et al.'s bound on an eps-fraction attack.

One convex program (:mod:`convexpoison.upper_bound`) gives ``U``, an upper bound on the
training loss any attacker adding ``eps N`` points inside the defended feasible set can
force; its maximisers form the matching attack, whose achieved loss is reported as
``lower_bound`` (what an actual attack reaches), so the worst case lies in between.
"""
from __future__ import annotations

import time

from ._common import add_dataset, add_reg, load, parse_list, progress

HELP = "certified upper bound on the training loss an eps-fraction attack can force (Steinhardt et al.)"

ALLOWED = ["l2", "slab", "svd"]


def add_arguments(p):
    add_dataset(p)
    add_reg(p)
    p.add_argument("--epsilon", type=float, required=True, help="poison fraction |Dp| / N")
    p.add_argument("--defense", default="l2,slab",
                   help="defenses whose feasible sets confine the attacker: comma-separated "
                        "among l2,slab,svd (default l2,slab; the domain is always imposed)")
    p.add_argument("--quantile", type=float, default=0.95,
                   help="fraction of each class a defense keeps (thresholds from clean data)")
    p.add_argument("--solver", default=None, help="solver of the convex program")
    p.add_argument("--out", default=None,
                   help="write the matching attack (.npz poison set with X, y, weight)")
    p.add_argument("--no-progress", action="store_true")


def run(args):
    from ..errors import InputError
    from ..feasible import make_feasible_set
    from ..poisons import PoisonSet
    from ..training import train
    from ..upper_bound import CertifiedUpperBound, poisoned_training_loss

    data, reg = load(args)
    if not data.is_binary:
        raise InputError(f"--dataset: the certificate is implemented for binary SVMs; "
                         f"{data.name} has {data.n_classes} classes")
    if not 0 <= args.epsilon <= 1:
        raise InputError(f"--epsilon: must be in [0, 1], got {args.epsilon}")
    if not 0 < args.quantile <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {args.quantile}")
    names = [] if args.defense.strip().lower() in ("", "none") else parse_list(
        args.defense, ALLOWED, "--defense")
    say = (lambda m: None) if args.no_progress else progress
    t0 = time.perf_counter()
    X, y = data.X_train, data.y_train
    feasible = make_feasible_set(["domain"] + names, data.domain, X, y, quantile=args.quantile)
    say(f"solving the certificate program ({data.name}, eps={args.epsilon:g}, "
        f"F = domain{''.join(',' + n for n in names)})")
    ub = CertifiedUpperBound(feasible, reg, args.epsilon, solver=args.solver).fit(X, y)
    r = ub.result_
    Xp, yp, wp = ub.poison_weights()
    say(f"U = {r.upper_bound:.6g}; evaluating the matching attack ({int(wp.sum())} points)")
    achieved, gap, model = poisoned_training_loss(X, y, Xp, yp, wp, reg)
    clean = train(X, y, "svm", reg)
    if args.out:
        PoisonSet(Xp, yp, wp, meta={"attack": "certified upper bound maximisers",
                                    "epsilon": args.epsilon}).save(args.out)
        say(f"poison set written to {args.out}")
    n_max = int(round(args.epsilon * data.n_train, 9) // 1)
    statement = (
        f"For every poison set of at most eps*N = {args.epsilon * data.n_train:g} points "
        f"(eps = {args.epsilon:g}, N = {data.n_train}) lying inside F = domain"
        f"{''.join(' ∩ ' + n for n in names)} (thresholds: {args.quantile:g} quantile of the "
        f"clean data, held fixed), the defender's exactly trained hinge-loss SVM "
        f"(C_R = {reg:g}, bias regularised) satisfies L(theta;Dc)/N + L(theta;Dp)/N + "
        f"C_R (1+eps)/2 (|w|^2+b^2) <= {r.upper_bound:.6g}; in particular its clean training "
        f"loss (1/N) sum hinge <= {r.upper_bound:.6g}.  Steinhardt et al. (2017) bound, one "
        f"convex program, evaluated at the returned model with proven inner maxima "
        f"(solver bound + 1e-7 slack).  The matching attack ({int(wp.sum())} points) reaches "
        f"{achieved:.6g}.")
    return {
        "dataset": data.name, "reg": reg, "epsilon": args.epsilon, "defense": names,
        "quantile": args.quantile, "upper_bound": r.upper_bound,
        "lower_bound": achieved,
        "lower_bound_meaning": "training loss reached by the matching attack (an attack, "
                               "not a proof of worst case)",
        "program_value": r.program_value, "program_lower_bound": r.program_lower_bound,
        "clean_loss_at_minimiser": r.clean_loss,
        "clean_objective": clean.objective_ * 1.0,
        "worst_case_loss": {str(k): v for k, v in r.worst_loss.items()},
        "label_fraction": {str(k): v for k, v in r.label_fraction.items()},
        "n_poisons": int(wp.sum()), "max_poisons": n_max,
        "poisoned_test_error": model.error(data.X_test, data.y_test),
        "clean_test_error": clean.error(data.X_test, data.y_test),
        "status": r.status, "solver": r.solver, "seconds": time.perf_counter() - t0,
        "statement": statement, "out": args.out,
    }


def show(res):
    print(f"certified upper bound U = {res['upper_bound']:.6g}  (eps = {res['epsilon']:g}, "
          f"defense: {','.join(res['defense']) or 'none'})")
    print(f"  matching attack ({res['n_poisons']} points) reaches {res['lower_bound']:.6g}; "
          f"test error {res['poisoned_test_error']:.4f} (clean {res['clean_test_error']:.4f})")
    print(f"  {res['seconds']:.1f} s, {res['solver']} {res['status']}")
    print(res["statement"])
