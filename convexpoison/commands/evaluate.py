"""convexpoison evaluate: a poison set against each data-sanitisation defense."""
from __future__ import annotations

import time
from pathlib import Path

from ._common import add_dataset, add_defense, add_reg, load, progress

HELP = "train on clean + poison data under each defense and report the test errors"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--poisons", required=True, help="poison set file (.npz with X, y, weight)")
    add_defense(p)
    add_reg(p)
    p.add_argument("--p", type=float, default=0.05,
                   help="fraction of each class every defense removes (default 0.05)")
    p.add_argument("--k", type=int, default=5, help="neighbours of the k-NN defense (default 5)")


def check_p(value):
    from ..errors import InputError

    if not 0 <= value < 1:
        raise InputError(f"--p: the fraction removed per class must be in [0, 1), got {value}")
    return value


def read_poisons(path, data):
    from ..errors import InputError
    from ..poisons import PoisonSet

    if not Path(path).is_file():
        raise InputError(f"--poisons: file not found: {path}")
    try:
        ps = PoisonSet.load(path)
    except InputError as exc:
        raise InputError(f"--poisons: {exc}") from None
    if len(ps) and ps.d != data.d:
        raise InputError(f"--poisons: poison points have {ps.d} features, {data.name} has {data.d}")
    if len(ps) and data.is_binary and not set(ps.y.tolist()) <= {-1, 1}:
        raise InputError(f"--poisons: {data.name} is binary; poison labels must be -1 or +1")
    return ps


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
    if "loss" in defenses and not data.is_binary:
        progress("evaluate: the loss defense uses the multi-class hinge loss")
    t0 = time.perf_counter()
    ev = evaluate(data, ps, defenses=defenses, p=args.p, reg=reg, model=model, k=args.k)
    res = {"dataset": data.name, "reg": reg, "model": model, **ev.to_dict(),
           "seconds": time.perf_counter() - t0, "poisons": str(args.poisons)}
    return res


def show(res):
    print(f"dataset {res['dataset']}  (C_R = {res['reg']:g}, p = {res['p']:g}, "
          f"{res['n_poisons']:g} poison points)")
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    print(f"{'defense':10s} {'test error':>10s} {'poison removed':>15s} {'clean removed':>14s}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f} {r['poison']:15g} {r['clean']:14g}")
    if res["min_over_defenses"] is not None:
        print(f"min over defenses       {res['min_over_defenses']:.4f}  ({res['best_defense']})")
