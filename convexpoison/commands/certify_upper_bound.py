"""convexpoison certify upper-bound: Steinhardt et al.'s bound on an eps-fraction attack.

One convex program (:mod:`convexpoison.certificates.upper_bound`) gives ``U``, an upper
bound on the training loss any attacker adding ``eps N`` points inside the defended feasible
set can force; its maximisers form the matching attack, whose achieved loss is reported as
``attack_value`` (what an actual attack reaches), so the worst case lies in between.

The JSON is a :class:`~convexpoison.certificates.base.Certificate`: ``upper_bound`` is ``U``
(the quantity in ``upper_bound_quantity``); ``lower_bound`` is null (this certificate does
not bound the number of poison points).
"""
from __future__ import annotations

import time

from ._common import add_dataset, add_reg, load, parse_list, progress
from ._common import defender_for, defender_kw, source_fields

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
    from ..certificates.upper_bound import (
        CertifiedUpperBound, poisoned_training_loss, upper_bound_statement,
    )

    data, reg = load(args)
    D = defender_for(args, data, reg)
    kw = defender_kw(args, D, reg)
    R = kw.pop("reg")            # None with --defender: the defender brings its own
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
    ub = CertifiedUpperBound(feasible, R, args.epsilon, solver=args.solver, **kw).fit(X, y)
    r = ub.result_
    Xp, yp, wp = ub.matching_attack()
    say(f"U = {r.upper_bound:.6g}; evaluating the matching attack ({int(wp.sum())} points)")
    achieved, gap, model = poisoned_training_loss(X, y, Xp, yp, wp, R, **kw)
    clean = D.train(X, y)
    if args.out:
        PoisonSet(Xp, yp, wp, meta={"attack": "certified upper bound maximisers",
                                    "epsilon": args.epsilon}).save(args.out)
        say(f"poison set written to {args.out}")
    n_max = int(round(args.epsilon * data.n_train, 9) // 1)
    where = (f"domain{''.join(' ∩ ' + n for n in names)} (thresholds: {args.quantile:g} "
             f"quantile of the clean data, held fixed)")
    dom = data.domain
    cert = r.certificate(upper_bound_statement(
        r.upper_bound, args.epsilon, data.n_train, where, reg, int(wp.sum()), achieved,
        inner_verified=bool(r.extra.get("inner_verified")),
        integer=dom is not None and dom.has_integers))
    cert.seconds = time.perf_counter() - t0
    return {
        **cert.to_dict(),
        "dataset": data.name, "reg": reg, **source_fields(data, D), "defense": names, "quantile": args.quantile,
        "attack_value": achieved,
        "attack_value_meaning": "the same quantity reached by the matching attack (an "
                                "attack, not a proof of worst case)",
        "clean_objective": clean.objective_ * 1.0,
        "worst_case_loss": {str(k): v for k, v in r.worst_loss.items()},
        "label_fraction": {str(k): v for k, v in r.label_fraction.items()},
        "n_poisons": int(wp.sum()), "max_poisons": n_max,
        "poisoned_test_error": model.error(data.X_test, data.y_test),
        "clean_test_error": clean.error(data.X_test, data.y_test),
        "out": args.out,
    }


def show(res):
    from ._common import show_source

    show_source(res)
    print(f"certified upper bound U = {res['upper_bound']:.6g}  (eps = {res['epsilon']:g}, "
          f"defense: {','.join(res['defense']) or 'none'})")
    print(f"  matching attack ({res['n_poisons']} points) reaches {res['attack_value']:.6g}; "
          f"test error {res['poisoned_test_error']:.4f} (clean {res['clean_test_error']:.4f})")
    print(f"  {res['seconds']:.1f} s, {res['solver']} {res['status']}")
    print(res["statement"])
