"""convexpoison evaluate: a poison set against each data-sanitisation defense."""
from __future__ import annotations

import time

from ._common import (add_dataset, add_defense, add_reg, check_p, load, progress, read_poisons,
                      show_evaluation)
from ._common import defender_for, defender_kw, source_fields

HELP = "train on clean + poison data under each defense and report the test errors"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--poisons", required=True, help="poison set file (.npz with X, y, weight)")
    add_defense(p)
    add_reg(p)
    p.add_argument("--p", type=float, default=0.05,
                   help="fraction of each class every defense removes (default 0.05)")
    p.add_argument("--k", type=int, default=5, help="neighbours of the k-NN defense (default 5)")


def run(args):
    from ..defenses import evaluate, parse_defenses
    from ..errors import InputError

    data, reg = load(args)
    try:
        defenses = parse_defenses(args.defense)
    except InputError as exc:
        raise InputError(f"--defense: {str(exc).split(': ', 1)[-1]}") from None
    check_p(args.p)
    if args.k < 1:
        raise InputError(f"--k: must be at least 1, got {args.k}")
    ps = read_poisons(args.poisons, data)
    model = "svm" if data.is_binary else "multisvm"
    D = defender_for(args, data, reg, model)
    if "loss" in defenses and not data.is_binary:
        progress("evaluate: the loss defense uses the multi-class hinge loss")
    t0 = time.perf_counter()
    ev = evaluate(data, ps, defenses=defenses, p=args.p, model=D.model, k=args.k,
                  **defender_kw(args, D, reg))
    res = {"dataset": data.name, "reg": reg, "model": D.model, **source_fields(data, D),
           **ev.to_dict(),
           "seconds": time.perf_counter() - t0, "poisons": str(args.poisons)}
    return res


show = show_evaluation
