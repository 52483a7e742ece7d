#!/usr/bin/env python
"""Choose the default regularisation C_R of each bundled dataset and write ``data/reg.json``.

Usage::

    python data/choose_reg.py [--datasets NAME ...] [--out data/reg.json] [--folds 5]

For each dataset: 5-fold stratified cross-validation on the TRAINING split (folds shuffled
with seed 0) of ``convexpoison.training.train(X, y, model=..., reg=C)`` over the grid
``GRID``; the error of a fold is the fraction of misclassified held-out rows.  The chosen
C_R follows the one-standard-error rule: the LARGEST C whose mean CV error is at most the
minimum mean error plus the standard error (std over folds, ddof=1, / sqrt(folds)) of that
minimum.  Larger C_R means a more regularised (simpler) model, so the rule prefers it.
Binary sets use ``model="svm"``; ``mnist10`` uses ``model="multisvm"``.

Writes ``{name: {"reg": C, "model": model, "cv": {str(C): [mean, se]}}}`` (existing entries
for datasets not re-run are kept) and prints a markdown table for ``data/README.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from convexpoison.datasets import DATASETS, load_dataset  # noqa: E402

# Values below 1e-3 make exact training much slower (dual coordinate descent needs
# thousands of epochs) and changed the CV error by under one point on every set.
GRID = [1e-3, 3e-3, 0.01, 0.03, 0.09]
SEED = 0


def predict(model, X):
    """Labels from a trained model: sign for binary (w of shape (d,)), argmax for (k, d)."""
    w = np.asarray(model.w, float)
    b = np.asarray(model.b, float)
    if w.ndim == 1:
        return np.where(X @ w + b >= 0, 1, -1)
    return np.argmax(X @ w.T + b, axis=1)


def cv_errors(X, y, model, reg, folds=5, train=None):
    """Per-fold held-out error of ``train(..., model=model, reg=reg)``."""
    if train is None:
        from convexpoison.training import train
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    errs = []
    for tr, va in skf.split(X, y):
        m = train(X[tr], y[tr], model=model, reg=reg)
        errs.append(float(np.mean(predict(m, X[va]) != y[va])))
    return np.array(errs)


#: Differences in CV error below half a percentage point are not resolved by these test
#: sets; the rule treats them as ties (and prefers the more regularised, faster model).
RESOLUTION = 0.005


def one_se_choice(cv: dict) -> float:
    """Largest C with mean error <= min mean + max(SE of the minimiser, RESOLUTION).

    ``cv``: C -> (mean, se)."""
    best = min(cv, key=lambda c: (cv[c][0], c))
    limit = cv[best][0] + max(cv[best][1], RESOLUTION)
    return max(c for c in cv if cv[c][0] <= limit + 1e-12)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--out", default=str(HERE / "reg.json"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--rechoose", action="store_true",
                    help="only re-apply the rule to the CV errors stored in --out")
    args = ap.parse_args(argv)
    if args.rechoose:
        out = Path(args.out)
        result = json.loads(out.read_text())
        rows = []
        for name, entry in result.items():
            cv = {float(c): tuple(v) for c, v in entry["cv"].items()}
            entry["reg"] = one_se_choice(cv)
            rows.append((name, entry["model"], entry["reg"], cv, entry.get("folds", 5)))
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        _table(rows)
        return 0

    from convexpoison.training import train   # written by the lead; fails loudly if absent

    out = Path(args.out)
    result = json.loads(out.read_text()) if out.is_file() else {}
    rows = []
    for name in args.datasets:
        ds = load_dataset(name)
        model = "svm" if ds.is_binary else "multisvm"
        cv = {}
        for c in GRID:
            t0 = time.perf_counter()
            e = cv_errors(ds.X_train, ds.y_train, model, c, args.folds, train=train)
            cv[c] = (float(e.mean()), float(e.std(ddof=1) / np.sqrt(len(e))))
            print(f"{name} C_R={c:g}: error {cv[c][0]:.4f} ± {cv[c][1]:.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        chosen = one_se_choice(cv)
        result[name] = {"reg": chosen, "model": model, "folds": args.folds,
                        "cv": {repr(c): list(v) for c, v in cv.items()}}
        rows.append((name, model, chosen, cv, args.folds))
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")

    _table(rows)
    return 0


def _table(rows):
    print("| dataset | model | folds | " + " | ".join(f"{c:g}" for c in GRID) + " | chosen C_R |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in GRID) + " | --- |")
    for name, model, chosen, cv, folds in rows:
        cells = [f"{100 * cv[c][0]:.2f} ± {100 * cv[c][1]:.2f}" if c in cv else "—" for c in GRID]
        print(f"| {name} | {model} | {folds} | " + " | ".join(cells) + f" | **{chosen:g}** |")
    print("\n(CV error in %, mean ± standard error over stratified folds of the training "
          f"split; the largest C_R within max(1 SE, {100 * RESOLUTION:g} points) of the best.)")


if __name__ == "__main__":
    sys.exit(main())
