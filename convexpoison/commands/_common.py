"""Arguments and steps that several commands share."""
from __future__ import annotations

from ..errors import InputError


def add_dataset(p, required=True):
    p.add_argument("--dataset", required=required, help="a bundled dataset (see 'convexpoison datasets')")


def add_reg(p):
    p.add_argument("--reg", type=float, default=None,
                   help="regularisation C_R (default: the dataset's validated value)")


def add_model(p, default="svm"):
    p.add_argument("--model", default=default, help="svm, logreg or multisvm")


def add_out(p, what="results"):
    p.add_argument("--out", default=None, help=f"write the {what} to this file")


def add_defense(p, default="l2,slab,loss,svd,knn"):
    p.add_argument("--defense", default=default,
                   help=f"comma-separated defenses among l2,slab,loss,svd,knn (default {default})")


def load(args):
    """The dataset named by ``--dataset`` and the regularisation to use."""
    from ..datasets import load_dataset

    data = load_dataset(args.dataset)
    reg = data.reg if getattr(args, "reg", None) is None else args.reg
    if not reg > 0:
        raise InputError(f"--reg: must be a positive number, got {reg}")
    return data, reg


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
    p.add_argument("--epsilon", type=float, required=True,
                   help="poison budget as a fraction of the clean training set")


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
    if not 0 < value <= 1:
        raise InputError(f"--epsilon: must be in (0, 1], got {value}")


def check_budget(epsilon, data):
    """At least one poison point: ``floor(epsilon n) >= 1``."""
    if int(epsilon * data.n_train + 1e-9) < 1:
        raise InputError(f"--epsilon: {epsilon} x {data.n_train} training points is less "
                         "than one poison point")


def check_quantile(value):
    if value is not None and not 0 < value <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {value}")


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
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f}   (removed {r['poison']:g} poison, {r['clean']:g} clean)")
    print(f"min over defenses       {res['poisoned_test_error']:.4f}")


def show_out(res):
    if res.get("out"):
        print(f"poison set written to {res['out']}")
