"""convexpoison attack labelflip: label-flip baselines (Koh et al. Appendix D)."""
from __future__ import annotations

import time

from ._common import (add_dataset, add_defense, add_epsilon, add_out, add_p, add_quantile, add_reg,
                      add_use, check_at_least, check_epsilon, check_quantile, load)
from ._common import defender_for, defender_kw, source_fields

HELP = "label-flip baseline: add flipped copies of eps*n points of the attacker's pool"

METHODS = ("random", "alfa", "competing")


def add_arguments(p):
    add_dataset(p)
    add_epsilon(p)
    p.add_argument("--method", default="random",
                   help="random (uniformly chosen pool points), alfa (Koh et al. Appendix D: flips "
                        "maximising the loss gap, inside the feasible set) or competing "
                        "(multi-class: the highest-scoring other class, Lu et al. Appendix A.4)")
    add_defense(p)
    add_use(p, "flip points of the test set (default)", "flip points of the training set")
    add_reg(p)
    add_p(p)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--feasible", default=None,
                   help="alfa: feasible-set components the flipped points must lie in, among "
                        "domain,l2,slab,svd (default: domain plus the --defense ones among l2,slab)")
    add_quantile(p, 0.9, "alfa: feasible-set thresholds, this quantile of the clean scores "
                         "(default 0.9)")
    p.add_argument("--copies", type=int, default=1,
                   help="alfa: most copies of one pool point (default 1)")
    p.add_argument("--max-iter", type=int, default=10,
                   help="alfa: rounds of the alternating optimisation (default 10)")
    p.add_argument("--select", default="random",
                   help="competing: which pool points, random or loss (highest flipped loss)")
    add_out(p, "poison set (.npz with X, y, weight)")


def run(args):
    from ..defenses import evaluate, parse_defenses
    from ..errors import InputError
    from ._common import check_budget, check_p

    data, reg = load(args)
    model = "svm" if data.is_binary else "multisvm"
    D = defender_for(args, data, reg, model)
    kw = defender_kw(args, D, reg)
    if args.method not in METHODS:
        raise InputError(f"--method: unknown method {args.method!r}; choose from {','.join(METHODS)}")
    check_epsilon(args.epsilon)
    check_budget(args.epsilon, data)
    try:
        defenses = parse_defenses(args.defense)
    except InputError as exc:
        raise InputError(f"--defense: {str(exc).split(': ', 1)[-1]}") from None
    check_p(args.p)
    t0 = time.perf_counter()
    attack = _attack(args, data, kw, defenses).fit(data)
    ps = attack.poisons_
    ps.meta.update({"use": args.use, "seed": args.seed})
    extra = {k: v for k, v in attack.result_.to_dict().items()
             if k not in ("method", "use", "n_poisons", "n_distinct")}
    if args.out:
        ps.save(args.out)
    ev = evaluate(data, ps, defenses=defenses, p=args.p, model=D.model, **kw)
    return {"dataset": data.name, "attack": "labelflip", "method": args.method,
            "epsilon": args.epsilon, "reg": reg, **source_fields(data, D), "use": args.use,
            **ev.to_dict(), **extra,
            "seconds": time.perf_counter() - t0, "out": args.out}


def _attack(args, data, kw, defenses):
    """The label-flip attack of ``--method`` configured from the arguments (unfitted);
    ``kw``: the defender (:func:`~convexpoison.commands._common.defender_kw`)."""
    from ..attacks.labelflip import AlfaLabelFlip, CompetingLabelFlip, RandomLabelFlip
    from ..errors import InputError
    from ._common import parse_feasible, progress

    if args.method == "random":
        return RandomLabelFlip(args.epsilon, use=args.use,
                               n_classes=None if data.is_binary else data.n_classes,
                               random_state=args.seed)
    if args.method == "competing":
        if args.select not in ("random", "loss"):
            raise InputError(f"--select: expected random or loss, got {args.select!r}")
        return CompetingLabelFlip(args.epsilon, **kw, use=args.use, select=args.select,
                                  random_state=args.seed)
    check_quantile(args.quantile)
    check_at_least(args, "copies", "max_iter")
    names = parse_feasible(args)
    if names is None:
        names = [d for d in defenses if d in ("l2", "slab")]
    if data.domain is not None and "domain" not in names:
        names = ["domain"] + names
    return AlfaLabelFlip(args.epsilon, **kw, model="svm", feasible=names or None,
                         quantile=args.quantile, use=args.use, copies=args.copies,
                         max_iter=args.max_iter, random_state=args.seed, progress=progress)


def show(res):
    from ._common import show_evaluation as show_eval

    print(f"{res['method']} label flips on {res['dataset']}: epsilon {res['epsilon']:g}, "
          f"pool = {res['use']} set")
    show_eval(res)
