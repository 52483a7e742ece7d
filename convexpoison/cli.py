"""The ``convexpoison`` command line (DESIGN §7).

Every command accepts ``--json`` and then prints exactly one JSON object on standard
output; progress and warnings go to standard error.  Exit status: 0 on success, 2 on
bad input (one line naming the offending argument), 1 on solver or internal failure
(with the solver's status).

Each command is a module of :mod:`convexpoison.commands` (see :data:`COMMANDS`);
:func:`main` does the printing and the error handling once for all of them, and
:mod:`convexpoison.commands._common` holds what several commands share.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .errors import InputError, SolverFailure


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2."""

    def error(self, message):
        print(f"convexpoison: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def common(p):
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


#: Command modules in ``convexpoison/commands/``.  Each defines ``add_arguments(parser)``,
#: ``run(args) -> dict`` and optionally ``show(result)`` (human-readable output) and
#: ``HELP`` (one line).  Grouped commands (``attack mtp``) live in ``attack_mtp.py``.
#: Modules are imported when the parser is built, so they import heavy libraries
#: (cvxpy, torch) inside ``run`` only.
COMMANDS = {
    "datasets": "datasets",
    "train": "train",
    "target": "target",
    "attack": {"mtp": "attack_mtp", "kkt": "attack_kkt", "minmax": "attack_minmax",
               "influence": "attack_influence", "labelflip": "attack_labelflip",
               "min-poison": "attack_min_poison", "tgda": "attack_tgda", "pgan": "attack_pgan",
               "reachable-target": "attack_reachable_target"},
    "certify": {"lower-bound": "certify_lower_bound", "upper-bound": "certify_upper_bound"},
    "evaluate": "evaluate",
    "audit": "audit",
    "solve": "solve",
}


def _module(name):
    import importlib

    try:
        return importlib.import_module(f"convexpoison.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"convexpoison.commands.{name}":
            return None                     # not implemented yet: the command is not offered
        raise


def _add(sub, cmd, modname):
    mod = _module(modname)
    if mod is None:
        return
    p = sub.add_parser(cmd, help=getattr(mod, "HELP", None), description=getattr(mod, "HELP", None))
    common(p)
    mod.add_arguments(p)
    p.set_defaults(_module=mod)


def build_parser():
    parser = _Parser(prog="convexpoison",
                     description="Data-poisoning attacks and certificates for convex models.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"convexpoison {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd, target in COMMANDS.items():
        if isinstance(target, dict):
            group = sub.add_parser(cmd, help=f"{cmd} commands: {', '.join(target)}")
            gsub = group.add_subparsers(dest="subcommand", metavar="NAME", parser_class=_Parser)
            for name, modname in target.items():
                _add(gsub, name, modname)
        else:
            _add(sub, cmd, target)
    return parser


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(obj):
    """JSON has no NaN or infinity: write them as null (and +/-inf as strings)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        if np.isnan(obj):
            return None
        if np.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return float(obj)
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def show_result(res):
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
    mod = getattr(args, "_module", None)
    if mod is None:
        print("convexpoison: error: missing command; see 'convexpoison --help'", file=sys.stderr)
        return 2
    try:
        res = mod.run(args)
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
        print(json.dumps(_finite(res), default=_default, allow_nan=False))
    else:
        getattr(mod, "show", show_result)(res)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
