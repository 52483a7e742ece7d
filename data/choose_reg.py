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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from convexpoison.datasets import DATASETS, load_dataset  # noqa: E402

# The grid, the folds and the rule live in the package (convexpoison.training), which
# also uses them to choose C_R for a user's CSV (datasets.from_csv): one implementation.
from convexpoison.training import CV_RESOLUTION as RESOLUTION  # noqa: E402
from convexpoison.training import REG_GRID  # noqa: E402
from convexpoison.training import choose_reg, one_se_choice  # noqa: E402

GRID = list(REG_GRID)


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

    out = Path(args.out)
    result = json.loads(out.read_text()) if out.is_file() else {}
    rows = []
    for name in args.datasets:
        ds = load_dataset(name)
        model = "svm" if ds.is_binary else "multisvm"
        clock = [time.perf_counter()]

        def progress(c, mean_se, name=name, clock=clock):
            print(f"{name} C_R={c:g}: error {mean_se[0]:.4f} ± {mean_se[1]:.4f} "
                  f"({time.perf_counter() - clock[0]:.1f} s)", file=sys.stderr)
            clock[0] = time.perf_counter()

        chosen, cv = choose_reg(ds.X_train, ds.y_train, model, GRID, args.folds,
                                progress=progress)
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
