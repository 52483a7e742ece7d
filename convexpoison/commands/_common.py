"""Arguments and steps that several commands share.

Commands never import each other: what two of them need lives here -- the flags and their
checks (:data:`FLAG_CHECKS`, applied by the parser to every command that has the flag), the
output-path check every command gets before any work (:func:`check_outputs`), reading the
target, poison and model files (:func:`load_target`, :func:`read_poisons`), the feasible set
(:func:`feasible_for`), MTP's run-directory record (:func:`run_record`) and the torch
helpers of the neural-network commands.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import InputError


def add_dataset(p, required=True, default=None, help=None):
    """``--dataset`` (a bundled set) or ``--data FILE`` (the user's own: ``--label``,
    ``--positive``), one of them required unless ``required`` is false, and ``--domain``."""
    source = p.add_mutually_exclusive_group(required=required)
    source.add_argument("--dataset", default=default,
                        help=help or "a bundled dataset (see 'convexpoison datasets')")
    source.add_argument("--data", metavar="FILE", default=None,
                        help="your own data instead of --dataset: a CSV file (label column "
                             "named by --label, every other column a numeric feature) or an "
                             ".npz with arrays X_train, y_train and optionally X_test, y_test; "
                             "0/1 or any two label values make a binary set (the larger value "
                             "+1); without a test set the rows are split 70:30")
    p.add_argument("--label", metavar="COL", default=None,
                   help="with a CSV --data: the label column (its name, or its 0-based position)")
    p.add_argument("--positive", metavar="V", default=None,
                   help="with --data: the label value of the +1 class, every other value -1 "
                        "(default: the larger of two label values)")
    p.add_argument("--domain", metavar="SPEC", default=None,
                   help="where a poison point may lie: box:LO:HI (every feature in [LO, HI]), "
                        "data (each feature's min..max over the data; a warning says so), or a "
                        ".json/.npz file of per-feature lower, upper and optionally integer "
                        "(default: the bundled set's domain; for --data, the data's bounding "
                        "box, with a warning)")


def add_reg(p):
    """``--reg`` (C_R) and ``--defender``: the defender's model, for every command that
    trains, attacks or certifies a convex model."""
    p.add_argument("--reg", type=float, default=None,
                   help="regularisation C_R on the average loss (default: the dataset's "
                        "validated value; for --data, chosen by cross-validation)")
    p.add_argument("--defender", metavar="SPEC", default=None,
                   help="the model the defender deploys (docs/defender.md): svm:reg=0.09, "
                        "svc:C=1 (SVC(kernel='linear')), linearsvc:C=0.5 "
                        "(LinearSVC(C=0.5), its squared hinge; add ,loss=hinge for the "
                        "hinge), logreg:C=1 (LogisticRegression), "
                        "sgd:loss=hinge,alpha=1e-4; or a joblib/pickle file of such a "
                        "scikit-learn estimator -- the file is UNPICKLED, which runs any code "
                        "in it: give only files you trust (default: the package's SVM with "
                        "--reg, intercept penalised)")


def add_model(p, default="svm"):
    p.add_argument("--model", default=default, help="svm, logreg or multisvm")


def add_out(p, what="results"):
    p.add_argument("--out", default=None, help=f"write the {what} to this file")


def add_defense(p, default="l2,slab,loss,svd,knn"):
    p.add_argument("--defense", default=default,
                   help=f"comma-separated defenses among l2,slab,loss,svd,knn (default {default})")


def load(args):
    """The data (``--dataset``, or ``--data`` with ``--label``/``--positive``; ``--domain``)
    and the regularisation ``C_R`` of the clean training set, all checked before any work.

    Without ``--reg`` the bundled set's validated value is used; for ``--data`` it is chosen
    by cross-validation (``data.reg_source`` says which) unless ``--defender`` brings its
    own regularisation (then ``C_R`` is that defender's on the clean set, e.g. 1/(C n))."""
    D = user_defender(args)
    reg = getattr(args, "reg", None)
    own = D is not None and D.convention != "unset"
    if own and reg is not None:
        raise InputError(f"--reg: the defender {D.spec()} has its own regularisation; give "
                         "--reg or the defender's, not both")
    data = load_source(args, cross_validate=reg is None and not own)
    if reg is not None:
        data = _replace(data, reg=float(reg), reg_source="given (--reg)")
    elif own and D.trainer == "exact":  # (AdaGrad's defender has no C_R: keep the data's)
        data = _replace(data, reg=D.reg_for(data.n_train),
                        reg_source=f"the defender's own ({D.spec()})")
    reg = data.reg
    if not reg > 0:
        raise InputError(f"--reg: must be a positive number, got {reg}")
    return data, reg


def _replace(data, **kw):
    from dataclasses import replace

    return replace(data, **kw)


#: What a scikit-learn estimator file may be called (``--defender FILE``).
ESTIMATOR_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")


def _defender_is_file(text) -> bool:
    from ..defender import SPEC_NAMES

    name = text.split(":", 1)[0].strip().lower()
    p = Path(text)
    return name not in SPEC_NAMES and (p.is_file() or p.suffix.lower() in ESTIMATOR_SUFFIXES
                                       or "/" in text or os.sep in text)


def defender_spec(value):
    """``--defender`` at parse time: a valid spelling, or an existing estimator file (it is
    unpickled only when the command runs, after every other check)."""
    from ..defender import Defender

    if _defender_is_file(value):
        if not Path(value).is_file():
            raise InputError(f"file not found: {value} (give a spelling such as svc:C=1, or a "
                             "joblib/pickle file of a scikit-learn estimator)")
        return value
    try:
        Defender.from_spec(value)
    except InputError as exc:
        raise InputError(_strip(str(exc), "defender")) from None
    return value


def _strip(message, name):
    return message[len(name) + 2:] if message.startswith(name + ": ") else message


def user_defender(args):
    """The ``--defender`` as a :class:`~convexpoison.defender.Defender` (its
    regularisation possibly still unset), or None when the flag is not given.  An
    estimator file is unpickled here (once; ``joblib.load``) and mapped by
    :meth:`Defender.from_estimator`; what cannot be mapped is a one-line error."""
    from ..defender import Defender

    text = getattr(args, "defender", None)
    if text is None:
        return None
    cached = getattr(args, "_defender", None)
    if cached is not None:
        return cached
    if _defender_is_file(text):
        if not Path(text).is_file():
            raise InputError(f"--defender: file not found: {text}")
        import joblib

        try:
            est = joblib.load(text)
        except Exception as exc:        # whatever a foreign or damaged file raises
            raise InputError(f"--defender: cannot unpickle {text} ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]})") from None
        try:
            D = Defender.from_estimator(est)
        except InputError as exc:
            raise InputError(f"--defender: {text}: {_strip(str(exc), 'defender')}") from None
        D = _replace(D, source=f"{D.source} from {text}")
    else:
        try:
            D = Defender.from_spec(text)
        except InputError as exc:
            raise InputError(f"--defender: {_strip(str(exc), 'defender')}") from None
    args._defender = D
    return D


def defender_for(args, data, reg, model="svm"):
    """The resolved defender of the command: ``--defender`` (checked against ``--model``
    and the data), else the package's ``model`` with ``C_R = reg`` (intercept penalised)."""
    from ..defender import Defender, resolve_defender

    D = user_defender(args)
    if D is None:
        return Defender.from_model(model, reg)
    given = getattr(args, "model", None)
    if given not in (None, "svm", D.model):
        raise InputError(f"--model: {given} conflicts with --defender {args.defender} (a "
                         f"{D.loss} loss); give one of them")
    D = resolve_defender(D, data, D.model, None if D.convention != "unset" else reg)
    from ..training import check_model_kind

    check_model_kind(D.model, "--defender", data)
    return D


def defender_kw(args, D, reg) -> dict:
    """How a command hands the defender to an attack, defence, target or certificate:
    ``reg=C_R`` for the package's default defender (today's code path, bit for bit), and
    ``defender=D`` (with ``reg=None``) when ``--defender`` names the user's model -- a
    function that does not take ``defender`` yet fails loudly instead of answering for
    another model."""
    if getattr(args, "defender", None) is None:
        return {"reg": reg}
    return {"reg": None, "defender": D}


def source_fields(data, D) -> dict:
    """The data and defender a result is about (JSON and human output)."""
    return {"data": {"name": data.name, "source": data.description,
                     "n_train": data.n_train, "n_test": data.n_test, "d": data.d,
                     "reg": float(data.reg), "reg_source": data.reg_source,
                     "domain": data.domain.kind},
            "defender": D.spec(), "defender_source": D.source or "the package's default"}


def parse_domain_spec(value):
    """``--domain`` parsed: ``('data',)``, ``('box', lo, hi)`` or ``('file', path)``;
    :class:`InputError` (without the flag) on a bad spelling."""
    import math

    text = str(value).strip()
    if text == "data":
        return ("data",)
    if text.startswith("box:"):
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"expected box:LO:HI, got {value!r}")
        try:
            lo, hi = float(parts[1]), float(parts[2])
        except ValueError:
            raise InputError(f"box:LO:HI needs two numbers, got {value!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError(f"box bounds must be finite numbers, got {value!r}")
        if lo > hi:
            raise InputError(f"infeasible box {value!r}: LO > HI")
        return ("box", lo, hi)
    if Path(text).suffix.lower() in (".json", ".npz"):
        if not Path(text).is_file():
            raise InputError(f"file not found: {text}")
        return ("file", text)
    raise InputError(f"expected box:LO:HI, data, or a .json/.npz file of per-feature bounds; "
                     f"got {value!r}")


def domain_spec(value):
    parse_domain_spec(value)
    return value


def data_file(value):
    """``--data`` at parse time: an existing file."""
    p = Path(value)
    if not p.exists():
        raise InputError(f"file not found: {value}")
    if not p.is_file():
        raise InputError(f"{value} is not a file")
    return value


def _is_npz(path) -> bool:
    if str(path).lower().endswith(".npz"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


#: Python argument names in the loaders' messages -> the flag that sets them.
_DATA_ARGS = {"label_column": "--label", "positive": "--positive", "domain": "--domain",
              "reg": "--reg"}


def _data_error(exc, label):
    """A loader's InputError as a one-line message naming the flag."""
    msg = str(exc)
    head = msg.split(": ", 1)[0]
    if head in _DATA_ARGS:
        return InputError(f"{_DATA_ARGS[head]}: {msg.split(': ', 1)[1]}")
    if label is not None and head == str(label):
        return InputError(f"--label: column {msg}")
    return InputError(f"--data: {msg}")


def load_source(args, cross_validate=True):
    """The dataset of ``--dataset`` or ``--data`` (with ``--label``, ``--positive``) and
    ``--domain`` applied; every error one line naming its flag, before any work.
    ``cross_validate``: choose ``C_R`` for user data by cross-validation (else a
    placeholder the caller replaces)."""
    import warnings

    from ..datasets import (FALLBACK_REG, DomainWarning, cross_validated_reg, from_csv,
                            from_npz, load_dataset)

    path = getattr(args, "data", None)
    for flag in ("label", "positive"):
        if getattr(args, flag, None) is not None and path is None:
            raise InputError(f"--{flag}: only with --data FILE (your own data)")
    spec = getattr(args, "domain", None)
    try:
        parsed = None if spec is None else parse_domain_spec(spec)
    except InputError as exc:
        raise InputError(f"--domain: {exc}") from None
    with warnings.catch_warnings():
        if parsed is not None:           # the domain is set (and warned about) below
            warnings.simplefilter("ignore", DomainWarning)
        if path is None:
            data = load_dataset(args.dataset)
        else:
            if not Path(path).is_file():
                raise InputError(f"--data: file not found: {path}")
            reg = FALLBACK_REG           # a placeholder: C_R is chosen once the domain is checked
            label = args.label
            try:
                if _is_npz(path):
                    if label is not None:
                        raise InputError("--label: an .npz --data file holds its labels in "
                                         "y_train (and y_test); drop --label")
                    data = from_npz(path, positive=args.positive, reg=reg)
                else:
                    if label is None:
                        raise InputError("--label: a CSV --data file needs --label COL (the "
                                         "label column)")
                    col = label
                    if label.lstrip("-").isdigit():
                        import pandas as pd

                        try:
                            header = pd.read_csv(path, nrows=0).columns
                        except Exception:
                            header = []
                        col = label if label in header else int(label)
                    data = from_csv(path, col, positive=args.positive, reg=reg)
            except InputError as exc:
                if str(exc).startswith("--"):
                    raise
                raise _data_error(exc, label) from None
    if parsed is not None:
        data = _with_domain(data, parsed)
    if path is not None and cross_validate:
        try:
            reg = cross_validated_reg(data.X_train, data.y_train, data.is_binary)
        except InputError as exc:
            raise InputError(f"--reg: {_strip(str(exc), 'reg')}") from None
        data = _replace(data, reg=reg, reg_source="cross-validation")
    elif path is not None:
        data = _replace(data, reg_source="")    # the caller fills in reg and its source
    return data


def _with_domain(data, parsed):
    """``data`` with the parsed ``--domain`` (checked: dimension, feasibility, every row)."""
    import warnings

    import numpy as np

    from ..datasets import DomainWarning, check_domain_fits, load_domain
    from ..domain import Domain

    if parsed[0] == "data":
        domain = Domain.from_data(np.vstack([data.X_train, data.X_test]))
        warnings.warn(f"--domain data: {data.name}'s domain is each feature's min..max over "
                      "its rows; an attacker may use values outside it", DomainWarning,
                      stacklevel=2)
    elif parsed[0] == "box":
        domain = Domain.box(data.d, parsed[1], parsed[2])
    else:
        try:
            domain = load_domain(parsed[1], data.d)
        except InputError as exc:
            raise InputError(f"--domain: {_strip(str(exc), 'domain')}") from None
    try:
        check_domain_fits(domain, data.X_train, data.X_test)
    except InputError as exc:
        raise InputError(f"--domain: {_strip(str(exc), 'domain')}") from None
    return _replace(data, domain=domain)


def check_model_for(data, model):
    from ..training import check_model_kind

    check_model_kind(model, "--model", data)


def parse_list(value, allowed, name):
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise InputError(f"{name}: unknown value {bad[0] if bad else value!r}; choose from {','.join(allowed)}")
    return items


def progress(msg):
    """A line of progress on standard error (standard output is kept for results), printed
    above any progress bar that is showing."""
    from ..progress import write

    write(msg)


def add_scheduler(p):
    """``--scheduler``: run the command's sweep on a Dask cluster (beside ``--workers``)."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the sweep on the Dask cluster at this scheduler address "
                        "(e.g. tcp://127.0.0.1:8786; needs the 'dask' extra) instead of "
                        "local worker processes; results equal the serial run's")


def add_no_progress(p):
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines or bars on standard error")


def bars(args):
    """The ``progress_bar`` setting for ``--no-progress``: off, or on when stderr is a terminal."""
    return False if getattr(args, "no_progress", False) else None


# ----------------------------------------------------------------- the attack commands
def add_epsilon(p):
    from ..attacks.base import EPSILON_RANGE

    p.add_argument("--epsilon", type=float, required=True, help=f"poison budget: {EPSILON_RANGE}")


def add_use(p, test_help, train_help):
    """``--test-known`` (the default) / ``--train-only``: what the attacker knows (``args.use``)."""
    known = p.add_mutually_exclusive_group()
    known.add_argument("--test-known", dest="use", action="store_const", const="test",
                       help=test_help)
    known.add_argument("--train-only", dest="use", action="store_const", const="train",
                       help=train_help)
    p.set_defaults(use="test")


def add_p(p):
    p.add_argument("--p", type=float, default=0.05, help="fraction each defense removes per class")


def add_quantile(p, default=0.9, help=None):
    p.add_argument("--quantile", type=float, default=default,
                   help=help or "feasible-set thresholds: this quantile of the clean scores "
                                f"(default {default})")


def check_epsilon(value):
    """``--epsilon`` in the one range every attack accepts (:data:`~convexpoison.attacks.base.EPSILON_RANGE`)."""
    from ..attacks.base import check_epsilon as check

    return check(value, "--epsilon")


def check_budget(epsilon, data):
    """At least one poison point: ``n_poisons(epsilon, n) >= 1``."""
    from ..attacks.base import n_poisons

    try:
        return n_poisons(epsilon, data.n_train)
    except InputError as exc:
        msg = str(exc)
        raise InputError("--" + msg if msg.startswith("epsilon:") else msg) from None


def check_attack_flags(args):
    """The flags the data-set attacks share, checked before any work: ``--epsilon``,
    ``--defense`` (returned as a list of names), ``--p`` and ``--quantile``."""
    from ..defenses import DEFENSES

    check_epsilon(args.epsilon)
    defenses = parse_list(args.defense, DEFENSES, "--defense")
    check_p(args.p)
    check_quantile(args.quantile)
    return defenses


def check_quantile(value):
    if value is not None and not 0 < value <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {value}")


def check_p(value):
    """``--p``: the fraction of each class a defense removes."""
    if not 0 <= value < 1:
        raise InputError(f"--p: the fraction removed per class must be in [0, 1), got {value}")
    return value


def check_at_least(args, *names, low=1):
    """``--name >= low`` for each attribute in ``names`` that is set (not None)."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < low:
            raise InputError(f"--{name.replace('_', '-')}: must be at least {low}, got {value}")


def numbers(value, name, cast=float):
    """Comma-separated numbers of option ``name`` (``cast=int``: whole numbers only)."""
    out = []
    for v in str(value).split(","):
        v = v.strip()
        if not v:
            continue
        try:
            f = float(v)
        except ValueError:
            raise InputError(f"{name}: not a number: {v!r}") from None
        if cast is int and f != int(f):
            raise InputError(f"{name}: give whole numbers, got {v!r}")
        out.append(cast(f))
    if not out:
        raise InputError(f"{name}: give at least one value")
    return out


def reporting(args):
    """The ``progress`` and ``progress_bar`` settings of an attack for ``--no-progress``."""
    return {"progress": None if args.no_progress else progress, "progress_bar": bars(args)}


def fit_attack(attack, data, args):
    """Run ``attack`` on ``data``, write its poison set to ``--out`` if given; its result."""
    attack.fit(data)
    res = attack.result_
    if args.out:
        res.poisons.save(args.out)
    return res


def show_source(res):
    """The data and the defender a result is about, one line (:func:`source_fields`)."""
    d = res.get("data")
    if d:
        print(f"data: {d['source']} ({d['n_train']} training, {d['n_test']} test points); "
              f"C_R {d['reg']:.4g} ({d['reg_source'] or 'given'}); defender {res['defender']} "
              f"({res['defender_source']})")


def show_evaluation(res):
    """The table of a poison set's test errors under each defense (``evaluate``'s output)."""
    show_source(res)
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


def solver_fields(args) -> dict:
    """The ``solver`` (the one named, else the default SOCP solver) and ``status`` fields."""
    from ..solvers import default_solver

    return {"solver": args.solver or default_solver("SOCP"), "status": "optimal"}


def check_binary(data, what):
    if not data.is_binary:
        raise InputError(f"--dataset: the {what} attack is for binary datasets; {data.name} has "
                         f"{data.n_classes} classes")


def parse_feasible(args, allowed=("domain", "l2", "slab", "svd")):
    """``--feasible`` as a list of component names among ``allowed`` (None when not given)."""
    return None if args.feasible is None else parse_list(args.feasible, list(allowed), "--feasible")


def show_errors(res):
    """The test errors of an attack's poison: clean, undefended, per defense, the minimum."""
    show_source(res)
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f}   (removed {r['poison']:g} poison, {r['clean']:g} clean)")
    print(f"min over defenses       {res['poisoned_test_error']:.4f}")


def show_out(res):
    if res.get("out"):
        print(f"poison set written to {res['out']}")


# ------------------------------------------------------------ flag values, at parse time
def _number_check(low=None, high=None, low_open=False, high_open=False, what=None):
    """A check that a (finite) number lies in a range; ``what`` words the range."""
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    words = what or (f"must be in {lo}, {hi}" if low is not None and high is not None else
                     f"must be {'>' if low_open else '>='} {low:g}" if low is not None else
                     f"must be {'<' if high_open else '<='} {high:g}")

    def check(value):
        bad = ((low is not None and (value < low or (low_open and value == low))) or
               (high is not None and (value > high or (high_open and value == high))))
        if bad:
            raise InputError(f"{words}, got {value:g}")
        return value
    return check


def _epsilon_value(value):
    from ..attacks.base import EPSILON_RANGE

    if not 0 < value <= 1:
        raise InputError(f"must satisfy {EPSILON_RANGE}; got {value:g}")
    return value


_POSITIVE = _number_check(0, low_open=True, what="must be positive")
_NON_NEGATIVE = _number_check(0, what="must be non-negative")
_AT_LEAST_1 = _number_check(1, what="must be at least 1")
_OPEN_UNIT = _number_check(0, 1, True, True)
_UNIT = _number_check(0, 1)
_HALF_OPEN_UNIT = _number_check(0, 1, True, False)      # (0, 1]

#: The value checks of the flags, by ``dest``: the parser applies them to every command that
#: has the flag (so ``convexpoison solve --check`` validates a problem file with exactly the
#: checks the command uses); every float flag must moreover be finite.  A command's own
#: checks that need the data (a binary dataset, at least one poison point) stay in its ``run``.
FLAG_CHECKS = {
    "epsilon": _epsilon_value, "reg": _POSITIVE, "budget": _POSITIVE,
    "eps_close": _NON_NEGATIVE, "p": _number_check(0, 1, False, True),
    "quantile": _HALF_OPEN_UNIT, "percentile": _HALF_OPEN_UNIT, "error": _OPEN_UNIT,
    "target_error": _OPEN_UNIT, "max_accuracy": _UNIT, "goal_accuracy": _UNIT,
    "val_fraction": _number_check(0, 1, False, True), "screen_tol": _OPEN_UNIT, "lam": _UNIT,
    "tol": _NON_NEGATIVE, "target_gap": _NON_NEGATIVE, "tau": _NON_NEGATIVE,
    "neighbourhood": _NON_NEGATIVE,
    "cg_damping": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE,
    **{name: _POSITIVE for name in ("delta", "eta", "step", "attacker_lr", "defender_lr",
                                    "pretrain_lr", "g_lr", "d_lr", "c_lr", "eval_lr")},
    **{name: _AT_LEAST_1 for name in (
        "copies", "max_iter", "grid", "iterations", "max_decoys", "repeat_points", "restarts",
        "n_steps", "patience", "workers", "k", "clusters", "min_test", "rounds",
        "attacker_steps", "defender_steps", "cg_iters", "batch_size", "attack_batch_size",
        "n_eval", "eval_epochs", "per_class", "runs", "sample", "neighbours", "d_steps",
        "c_steps", "g_steps", "threads")},
    **{name: _NON_NEGATIVE for name in ("burn_in", "max_extra", "seed", "random_state",
                                        "cluster", "autoencoder_epochs", "pretrain_epochs")},
}


#: The checks of text flags, by ``dest`` (applied at parse time like :data:`FLAG_CHECKS`):
#: what can be checked without the data (the file exists, the spelling parses).
TEXT_CHECKS = {"data": data_file, "domain": domain_spec, "defender": defender_spec}


def dataset_name(value):
    """``--dataset``: a bundled dataset's name (checked before any work)."""
    from ..datasets import list_datasets

    names = list_datasets(include_optional="available")
    if value not in names:
        raise InputError(f"unknown dataset {value!r}; choose one of {', '.join(names)}")
    return value


# ------------------------------------------------------------------------- output paths
#: Flags that name something a command writes, by ``dest``: ``file`` (its folder must exist
#: and be writable; the suffix of :data:`SUFFIXES` is completed), ``json`` (the same, the
#: name kept as given) or ``dir`` (created; its parent folder must exist and be writable).  A
#: command module overrides entries with its own ``OUTPUTS`` (``audit --out`` is a folder).
OUTPUT_FLAGS = {"out": "file", "run_dir": "dir", "figure": "file", "checkpoint": "file"}

#: The suffix a file flag's writer appends when it is missing (``numpy.savez`` appends
#: ``.npz``, a figure without one is a PNG): the path is completed before the run, so the
#: JSON ``out`` field names the file that is written.
SUFFIXES = {"out": ".npz", "figure": ".png"}


def _probe(folder: Path, flag: str):
    """Create and remove a temporary file in ``folder``: the one sure test of writability
    (``os.access`` answers yes for root on read-only and virtual file systems like /proc)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".convexpoison-probe-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InputError(f"{flag}: cannot write in {folder}/ ({exc.strerror or exc})") from None


def _check_parent(path: Path, flag: str, create_parents: bool):
    parent = path.parent if str(path.parent) else Path(".")
    if create_parents:                     # the default folder: the nearest existing one counts
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.exists():
        raise InputError(f"{flag}: folder {parent}/ does not exist (create it first)")
    if not parent.is_dir():
        raise InputError(f"{flag}: {parent} is not a folder")
    _probe(parent, flag)


def check_output(path, flag, kind="file", default=False) -> str:
    """Check, before any work, that ``path`` can be written as a ``kind`` ('file', 'json' or
    'dir'); nothing is created.  ``default``: the path is the command's default or lies
    under :data:`OUT_ROOT`, so its missing parent folders may be created.  Returns the path
    as written (suffix completed)."""
    dest = flag.lstrip("-").replace("-", "_")
    path = os.fspath(path)
    if not path.strip():
        raise InputError(f"{flag}: empty path")
    if kind == "json":
        kind = "file"
    elif kind == "file":
        suffix = SUFFIXES.get(dest)
        if suffix == ".npz":
            from ..fileio import npz_path

            path = npz_path(path)
        elif suffix and not Path(path).suffix:
            path += suffix
    p = Path(path)
    if kind == "file":
        if p.is_dir():
            raise InputError(f"{flag}: {path} is a folder; give a file name")
        _check_parent(p, flag, default)
    else:
        if p.exists() and not p.is_dir():
            raise InputError(f"{flag}: {path} exists and is not a folder")
        if p.is_dir():
            _probe(p, flag)
        else:
            _check_parent(p, flag, default)
    return path


#: The output root: output folders below it (``out/audit``, ``out/<problem>``) are created
#: with their parents; anywhere else an output's parent folder must exist (a typo such as
#: ``/nonexistent_dir/x`` is an error, not a new folder tree).
OUT_ROOT = "out"


def _under_out_root(path) -> bool:
    parts = Path(path).parts
    return (not Path(path).is_absolute() and len(parts) > 1 and parts[0] == OUT_ROOT
            and ".." not in parts)


def check_outputs(args, parser, outputs=None) -> list:
    """:func:`check_output` for every output flag of the command that is set (completing
    suffixes in ``args``); the folders among them that do not exist yet."""
    kinds = {**OUTPUT_FLAGS, **(outputs or {})}
    missing = []
    for action in parser._actions:
        kind = kinds.get(action.dest)
        value = getattr(args, action.dest, None)
        if kind is None or not action.option_strings or not isinstance(value, str):
            continue
        flag = action.option_strings[-1]
        path = check_output(value, flag, kind,
                            default=value == action.default or (kind == "dir" and
                                                                 _under_out_root(value)))
        setattr(args, action.dest, path)
        if kind == "dir" and not Path(path).exists():
            missing.append(path)
    return missing


# ---------------------------------------------------------------- reading the input files
def _check_npz(path, flag, what):
    """``path`` exists and is an ``.npz`` archive (a zip file); else a one-line error that
    says what the flag expects (never a suggestion to load pickles)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{flag}: file not found: {path}")
    if not p.is_file():
        raise InputError(f"{flag}: {path} is not a file")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(f"{flag}: cannot read {path} ({exc.strerror or exc})") from None
    if magic != b"PK\x03\x04":
        raise InputError(f"{flag}: {path} is not {what}")


#: What reading a damaged or foreign ``.npz`` may raise besides InputError: OSError,
#: ValueError, zipfile.BadZipFile, zlib.error, KeyError, EOFError, ... -- whatever numpy's
#: and zipfile's parsers meet in a file that is not what the flag expects.
_UNREADABLE = (Exception,)

MODEL_FILE = "a model file (an .npz with arrays w and b, as 'convexpoison train' or 'target' writes)"
POISON_FILE = "a poison-set file (an .npz with arrays X, y and weight)"


def _finite_model(model, flag):
    import numpy as np

    if not (np.all(np.isfinite(model.w)) and np.all(np.isfinite(model.b))):
        raise InputError(f"{flag}: the model's w and b must be finite numbers")
    return model


def load_model(path, flag, data=None):
    """A linear model file given as ``flag``, checked (finite; ``w`` of the data's shape)."""
    from ..training import LinearModel

    _check_npz(path, flag, MODEL_FILE)
    try:
        model = LinearModel.load(path)
    except InputError as exc:
        raise InputError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None
    except _UNREADABLE:                 # a damaged archive, arrays of text or Python objects
        raise InputError(f"{flag}: {path} is not {MODEL_FILE}") from None
    _finite_model(model, flag)
    if data is not None:
        want = (data.d,) if data.is_binary else (data.n_classes, data.d)
        if model.w.shape != want:
            raise InputError(f"{flag}: the model has w of shape {model.w.shape}; {data.name} "
                             f"needs {want}")
    return model


def load_target(path, data, flag="--target"):
    """A target file: the binary model (checked against ``data``), plus the subpopulation
    ``(X_sub, y_sub)`` of the test set when the file records one (else None)."""
    from ..targets import Target

    model = load_model(path, flag)
    subpop = None
    try:
        t = Target.load(path)
        if getattr(t, "subpop", None) is not None:
            idx = t.subpop.get("test") if isinstance(t.subpop, dict) else t.subpop[1]
            if idx is not None and len(idx):
                subpop = (data.X_test[idx], data.y_test[idx])
    except InputError:
        pass                                    # a plain model file: no subpopulation
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is a model file with a damaged target record "
                         f"(settings or subpopulation indices that do not fit {data.name})") from None
    if model.w.shape != (data.d,):
        raise InputError(f"{flag}: the model has w of shape {model.w.shape}; {data.name} "
                         f"needs a binary model with w of shape ({data.d},)")
    return model, subpop


def read_poisons(path, data, flag="--poisons"):
    """A poison-set file checked against ``data`` (features, labels, copy counts)."""
    import numpy as np

    from ..poisons import PoisonSet

    _check_npz(path, flag, POISON_FILE)
    try:
        with np.load(path, allow_pickle=False) as f:       # the labels first: they are
            y = np.asarray(f["y"]).ravel() if "y" in f else None   # checked against the data
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is not {POISON_FILE}") from None
    if y is not None and y.size:
        allowed = [-1, 1] if data.is_binary else list(range(data.n_classes))
        labels = sorted(set(y.tolist()))
        if not set(labels) <= set(allowed):
            kind = "binary" if data.is_binary else f"{data.n_classes}-class"
            raise InputError(f"{flag}: {data.name} is {kind}, so labels must be among "
                             f"{', '.join(map(str, allowed))}; found "
                             f"{', '.join(str(v) for v in labels)}")
    try:
        ps = PoisonSet.load(path)
    except InputError as exc:
        raise InputError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is not {POISON_FILE}") from None
    if len(ps) and ps.d != data.d:
        raise InputError(f"{flag}: poison points have {ps.d} features, {data.name} has {data.d}")
    return ps


def feasible_for(names, data, reg=None):
    """The feasible set of ``--feasible`` (comma-separated among domain,l2,slab,svd)."""
    from ..feasible import make_feasible_set

    names = parse_list(names, ["domain", "l2", "slab", "svd"], "--feasible")
    if names == ["domain"]:
        return data.domain                     # the pure domain: closed forms apply
    return make_feasible_set(names if "domain" in names else ["domain"] + names, data.domain,
                             data.X_train, data.y_train)


# --------------------------------------------------------- MTP's run-directory record
#: What defines an MTP problem, by the flag that sets it: a run directory continues only
#: the problem it was started for.
PROBLEM_FLAGS = {"dataset": "--dataset", "target": "--target", "reg": "--reg",
                 "defender": "--defender", "feasible": "--feasible", "integer": "--integer"}


def problem_fingerprint(data, target, reg, feasible, integer, defender="svm") -> dict:
    """The problem a run solves: the dataset's content hash, the target's hash, ``C_R``,
    the defender (``"svm"``: the package's default; or a Defender: its spelling), the
    feasible set's components and the integer mode."""
    import hashlib

    import numpy as np

    from ..attacks.base import data_fingerprint

    h = hashlib.sha256()
    for a in (np.asarray(target.w, float), np.asarray(target.b, float)):
        h.update(np.ascontiguousarray(a).tobytes())
    names = parse_list(feasible, ["domain", "l2", "slab", "svd"], "--feasible")
    return {"dataset": f"{data.name} sha256:{data_fingerprint(data.X_train, data.y_train)}",
            "target": f"sha256:{h.hexdigest()}", "reg": float(reg),
            # the package's default keeps the words older run directories recorded
            "defender": (f"{defender} (hinge loss, bias regularised)" if isinstance(defender, str)
                         else defender.spec()),
            "feasible": ",".join(sorted(set(names) | {"domain"})), "integer": str(integer)}


class run_record:
    """Guard MTP's run directory: ``record = run_record(...)`` checks, before any work;
    ``with record:`` around the run writes the record and cleans up after a failure.

    With ``resume``, the directory's ``problem.json`` must describe ``problem``: a resume
    toward another target, ``C_R``, dataset, feasible set or integer mode is refused (one
    line naming the flag).  Without a run to continue, ``resume`` says it starts fresh.
    A fresh run writes ``problem.json`` first; if the run then fails before completing an
    iteration (no ``state.npz``), the directory it created is removed (no leftover folder).
    """

    def __init__(self, run_dir, problem: dict, resume: bool, say=None):
        import json

        note = say or (lambda m: None)
        self.run_dir, self.problem = (None if run_dir is None else Path(run_dir)), problem
        self.continues = self.write = False
        if self.run_dir is None:
            if resume:
                note("convexpoison: note: --resume without --out or --run-dir: there is no "
                     "run to continue; starting a fresh run")
            return
        path = self.run_dir / "problem.json"
        has_run = (self.run_dir / "state.npz").exists()
        if resume and not has_run:
            note(f"convexpoison: note: --resume: no run in {self.run_dir}/ yet; starting a "
                 "fresh run")
        self.continues = resume and has_run and path.exists()
        # the record is written for a fresh run (or adopted by a resumed run that predates
        # it) -- never over another run's, which MTP itself refuses to overwrite
        self.write = not (has_run or (self.run_dir / "history.jsonl").exists()) or (
            resume and has_run and not path.exists())
        if not self.continues:
            return
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise InputError(f"--resume: {path} is not valid JSON") from None

        def short(v):                     # a hash is recognisable by its first digits
            return re.sub(r"(sha256:[0-9a-f]{12})[0-9a-f]+", r"\1...", repr(v))

        for key, flag in PROBLEM_FLAGS.items():
            if key in old and old[key] != problem[key]:
                raise InputError(f"{flag}: differs from the problem the run in {self.run_dir}/ "
                                 f"was started for ({key}: {short(old[key])}, now "
                                 f"{short(problem[key])}); resume with the same problem or "
                                 "choose another --run-dir/--out")

    def __enter__(self):
        from ..fileio import dumps, write_text

        self.created = self.run_dir is not None and not self.run_dir.exists()
        if self.write:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.run_dir / "problem.json", dumps(self.problem, indent=1))
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and self.created and not (self.run_dir / "state.npz").exists():
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)
        return False


# ---------------------------------------------------- the neural-network commands (torch)
def import_nn():
    """``convexpoison.nn``, or an InputError telling how to install torch."""
    try:
        from .. import nn
    except ImportError as exc:
        raise InputError(f"torch: the neural-network attacks need PyTorch ({exc}); "
                         "pip install 'convexpoison[torch]'") from None
    return nn


def load_data(args):
    """The ``--dataset`` (or ``--data``), its training set cut to the first ``--n-train`` rows when given."""
    from dataclasses import replace

    data = load_source(args, cross_validate=False)     # the networks do not use C_R
    if args.n_train is not None:
        if args.n_train < 10:
            raise InputError(f"--n-train: need at least 10 rows, got {args.n_train}")
        data = replace(data, X_train=data.X_train[:args.n_train], y_train=data.y_train[:args.n_train])
    return data


def hidden_widths(value):
    """``--hidden``: comma-separated positive layer widths (None: the default)."""
    if value is None:
        return None
    try:
        widths = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated widths, got {value!r}") from None
    if not widths or min(widths) < 1:
        raise InputError(f"--hidden: expected positive widths, got {value!r}")
    return widths
