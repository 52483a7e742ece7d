"""The ``convexpoison`` command line (DESIGN §7).

Every command accepts ``--json`` and then prints exactly one JSON object on standard
output; progress and warnings go to standard error.  Exit status: 0 on success, 2 on
bad input (one line naming the offending argument), 1 on solver or internal failure
(with the solver's status).

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its flags
and ``_run_<name>(args)`` returns the result dictionary; :func:`main` does the
printing and the error handling once for all of them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from .errors import InputError, SolverFailure


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2."""

    def error(self, message):
        print(f"convexpoison: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common(p):
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _reg_arg(p):
    p.add_argument("--reg", type=float, default=None,
                   help="regularisation C_R (default: the dataset's validated value)")


# ------------------------------------------------------------------- datasets
def _add_datasets(sub):
    p = sub.add_parser("datasets", help="list the bundled datasets")
    _common(p)
    return p


def _run_datasets(args):
    from .datasets import list_datasets, load_dataset

    rows = [load_dataset(name).summary() for name in list_datasets()]
    return {"datasets": rows}


def _show_datasets(res):
    print(f"{'name':22s} {'n_train':>8s} {'n_test':>7s} {'d':>5s} {'classes':>7s} {'C_R':>8s}  domain")
    for r in res["datasets"]:
        dom = r["domain"]
        print(f"{r['name']:22s} {r['n_train']:8d} {r['n_test']:7d} {r['d']:5d} {r['classes']:7d} "
              f"{r['reg']:8.4g}  {dom['kind']} [{dom['lo']:g}, {dom['hi']:g}]")


# ---------------------------------------------------------------------- train
def _add_train(sub):
    p = sub.add_parser("train", help="train the defender's model on a dataset")
    _common(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", default="svm", help="svm, logreg or multisvm")
    _reg_arg(p)
    p.add_argument("--method", default="fast", choices=["fast", "cvxpy"],
                   help="fast: exact dual coordinate descent / Newton; cvxpy: conic solve")
    p.add_argument("--solver", default=None, help="solver for --method cvxpy")
    p.add_argument("--out", default=None, help="write the model (.npz with w, b)")
    return p


def _load(args):
    from .datasets import load_dataset

    data = load_dataset(args.dataset)
    reg = data.reg if getattr(args, "reg", None) is None else args.reg
    if reg is not None and not reg > 0:
        raise InputError(f"--reg: must be a positive number, got {reg}")
    return data, reg


def _check_model_for(data, model):
    from .training import MODELS

    if model not in MODELS:
        raise InputError(f"--model: unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if data.is_binary and model == "multisvm":
        raise InputError(f"--model: {data.name} is binary; use svm or logreg")
    if not data.is_binary and model != "multisvm":
        raise InputError(f"--model: {data.name} has {data.n_classes} classes; use multisvm")


def _run_train(args):
    from .training import train

    data, reg = _load(args)
    _check_model_for(data, args.model)
    t0 = time.perf_counter()
    model = train(data.X_train, data.y_train, model=args.model, reg=reg, method=args.method,
                  solver=args.solver)
    seconds = time.perf_counter() - t0
    if args.out:
        model.save(args.out)
    return {"dataset": data.name, "model": args.model, "reg": reg,
            "bias_regularized": model.bias_regularized, "objective": model.objective_,
            "duality_gap": model.gap_, "train_error": model.error(data.X_train, data.y_train),
            "clean_test_error": model.error(data.X_test, data.y_test),
            "solver": model.method_, "status": "optimal", "seconds": seconds,
            "n_train": data.n_train, "d": data.d, "out": args.out}


COMMANDS = {"datasets": (_add_datasets, _run_datasets, _show_datasets),
            "train": (_add_train, _run_train, None)}


def build_parser():
    parser = _Parser(prog="convexpoison",
                     description="Data-poisoning attacks and certificates for convex models.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"convexpoison {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (add, _, _) in COMMANDS.items():
        add(sub)
    return parser


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _show(res):
    for key, value in res.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k:24s} {v:.4g}" if isinstance(v, float) else f"  {k:24s} {v}")
        elif isinstance(value, float):
            print(f"{key:26s} {value:.6g}")
        else:
            print(f"{key:26s} {value}")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    _, run, show = COMMANDS[args.command]
    try:
        res = run(args)
    except InputError as exc:
        print(f"convexpoison: error: {exc}", file=sys.stderr)
        return 2
    except SolverFailure as exc:
        print(f"convexpoison: solver failure ({exc.solver}: {exc.status}): {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convexpoison: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(res, default=_default))
    else:
        (show or _show)(res)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
