"""Arguments and steps that several commands share."""
from __future__ import annotations

import json

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
    from ..training import MODELS

    if model not in MODELS:
        raise InputError(f"--model: unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if data.is_binary and model == "multisvm":
        raise InputError(f"--model: {data.name} is binary; use svm or logreg")
    if not data.is_binary and model != "multisvm":
        raise InputError(f"--model: {data.name} has {data.n_classes} classes; use multisvm")


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
