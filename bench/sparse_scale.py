"""Scale benchmark: an IMDB-shaped synthetic bag-of-words set, sparse end to end.

Koh, Steinhardt & Liang (2021) run their attacks on IMDB (25 000 training reviews x
89 527 words, non-negative integer counts); its dense form would need 17 GB.  This script
makes a synthetic set of that shape and measures, with ``X`` kept as a
``scipy.sparse.csr_matrix`` throughout:

1. exact training of the linear SVM (hinge, C_R penalises the bias; duality gap reported);
2. the five defenses of Koh et al. section 2.2 (``defenses.evaluate``: each defense fits
   its detector on the data, removes 5% of each class and retrains exactly);
3. one min-max attack at eps = 3% (min-max-basic, Koh et al. Algorithm 5) on the integer
   domain ``0 <= x <= max training count`` per word: the inner maximiser's exact integer
   fast path (LP relaxation of the sphere and the slab, docs/minmax.md), randomised
   rounding, then every defense's exact retraining on ``Dc ∪ Dp`` (``--no-minmax`` skips);

with wall time (``time.perf_counter``) and peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after each stage.  Figures in
bench/README.md.

The data (:func:`generate`): word ranks follow a Zipf-Mandelbrot law (``p_j`` proportional
to ``1 / (j + 2.7)``) over ``d`` words; a review draws ``Poisson(tokens)`` tokens, 7% of
them "sentiment" tokens from 1 000 mid-frequency words (500 per class, Zipf within the
set), 70% of those from its own class's set -- a planted signal that a linear SVM learns
to about IMDB's 12% test error.  About 150 distinct words per review.

Usage::

    python bench/sparse_scale.py                       # 25 000 x 90 000 (the full run)
    python bench/sparse_scale.py --n 3000 --d 20000    # a quick run while developing
    python bench/sparse_scale.py --skip-defenses       # training and the min-max attack only

The SVD defense's rank rule (normalised squared Frobenius error below ``rel_error``) needs a
rank of about 0.7 n at Koh et al.'s 0.05 on such a flat text spectrum (measured at
n = 2 000 and 4 000: 1 488 and 2 769), i.e. dense singular vectors of d x 17 500 (12 GB):
``--svd-rel-error`` (default 0.5) sets the rule used here; see bench/README.md.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402,F401  (single BLAS thread)
from _common import Timer, say, table, write_result  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def peak_mb() -> float:
    """Peak resident set of this process so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(n, d, tokens=175, frac=0.07, purity=0.7, n_sent=1000, seed=0):
    """``(X, y)``: ``n`` synthetic reviews as a CSR matrix of word counts, labels +-1."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(d) + 2.7)
    cdf = np.cumsum(p / p.sum())
    y = np.where(rng.random(n) < 0.5, 1, -1)
    words = rng.permutation(np.arange(200, min(d, 20000)))[:n_sent]
    pos, neg = words[: n_sent // 2], words[n_sent // 2:]
    ps = 1.0 / (np.arange(n_sent // 2) + 1.0)
    cdf_s = np.cumsum(ps / ps.sum())
    L = rng.poisson(tokens, n)
    K = rng.binomial(L, frac)                           # sentiment tokens per review
    rows = np.repeat(np.arange(n), L - K)
    cols = np.minimum(np.searchsorted(cdf, rng.random(rows.size), side="right"), d - 1)
    srows = np.repeat(np.arange(n), K)
    own = rng.random(srows.size) < purity
    pick = np.minimum(np.searchsorted(cdf_s, rng.random(srows.size), side="right"), ps.size - 1)
    scols = np.where((y[srows] > 0) == own, pos[pick], neg[pick])
    X = sp.csr_matrix((np.ones(rows.size + srows.size),
                       (np.concatenate([rows, srows]), np.concatenate([cols, scols]))),
                      shape=(n, d))
    X.sum_duplicates()
    return X, y


class Synthetic:
    """A dataset-like holder (what ``defenses.evaluate`` reads)."""

    def __init__(self, X_train, y_train, X_test, y_test, reg):
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self.reg = reg
        self.domain = None
        self.name = "imdb-shaped synthetic"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=25000, help="training reviews (25 000)")
    ap.add_argument("--n-test", type=int, default=5000, help="test reviews (5 000)")
    ap.add_argument("--d", type=int, default=90000, help="vocabulary size (90 000)")
    ap.add_argument("--reg", type=float, default=0.01, help="C_R (Koh et al.'s IMDB: 0.01)")
    ap.add_argument("--svd-rel-error", type=float, default=0.5)
    ap.add_argument("--defenses", default="l2,slab,loss,svd,knn")
    ap.add_argument("--no-minmax", action="store_true", help="skip the min-max attack")
    ap.add_argument("--skip-defenses", action="store_true",
                    help="skip stage 2 (the defenses on clean data); the attack still "
                         "judges its poison under them")
    ap.add_argument("--epsilon", type=float, default=0.03, help="the attack's budget (3%%)")
    ap.add_argument("--copies", type=int, default=10,
                    help="copies of every kept point of the attack (10: 75 kept steps and "
                         "175 burn-in steps at 750 poison points, instead of 1 250 steps "
                         "with the default 2)")
    args = ap.parse_args(argv)

    from convexpoison import defenses
    from convexpoison.training import train

    stages = []

    def record(stage, seconds, **extra):
        stages.append({"stage": stage, "seconds": seconds, "peak_mb": peak_mb(), **extra})
        say(f"{stage}: {seconds:.1f} s, peak {peak_mb():.0f} MB {extra}")

    train(sp.csr_matrix(np.eye(4)), [1, -1, 1, -1], reg=0.1)        # load the kernels
    record("imports", 0.0)
    with Timer() as t:
        X, y = generate(args.n + args.n_test, args.d)
    Xtr, ytr, Xte, yte = X[: args.n], y[: args.n], X[args.n:], y[args.n:]
    del X
    dense_gb = args.n * args.d * 8 / 1e9
    record("generate", t.s, nnz_per_row=Xtr.nnz / args.n, max_count=float(Xtr.max()),
           dense_would_need_gb=dense_gb,
           csr_mb=(Xtr.data.nbytes + Xtr.indices.nbytes + Xtr.indptr.nbytes) / 1e6)

    with Timer() as t:
        clean = train(Xtr, ytr, "svm", reg=args.reg)
    record("train (exact SVM)", t.s, gap=clean.gap_, objective=clean.objective_,
           test_error=clean.error(Xte, yte), train_error=clean.error(Xtr, ytr))

    data = Synthetic(Xtr, ytr, Xte, yte, args.reg)
    per = {}
    for name in ([] if args.skip_defenses else defenses.parse_defenses(args.defenses)):
        with Timer() as t:
            ev = defenses.evaluate(data, None, defenses=[name], clean_model=clean,
                                   rel_error=args.svd_rel_error)
        m = ev.models[name]
        per[name] = ev.per_defense[name]
        extra = {"test_error": ev.per_defense[name], "gap": m.gap_,
                 "removed": ev.removed[name]["clean"]}
        record(f"defense {name} (fit, remove 5%, retrain)", t.s, **extra)

    attack = None
    if not args.no_minmax:
        from convexpoison.attacks.minmax import MinMaxAttack
        from convexpoison.datasets import Dataset
        from convexpoison.domain import Domain

        # word counts: non-negative integers up to each word's largest training count
        hi = np.asarray(Xtr.max(axis=0).todense()).ravel()
        data.domain = Domain(np.zeros(args.d), hi, integer=np.ones(args.d, bool))
        dset = Dataset("imdb-shaped synthetic", Xtr, ytr, Xte, yte, data.domain, reg=args.reg,
                       classes=["-1", "+1"])
        names = defenses.parse_defenses(args.defenses)
        with Timer() as t:
            # the attack judges its poison under every defense but SVD, whose rank rule
            # needs --svd-rel-error at this size (evaluated just below, same poison)
            att = MinMaxAttack(epsilon=args.epsilon, decoy="none", reg=args.reg,
                               copies=args.copies,
                               defenses=[n for n in names if n != "svd"] or ["l2"],
                               progress_bar=False, progress=say).fit(dset)
        res = att.result_.to_dict()
        P = att.poisons_
        per_def, removed = dict(res["per_defense"]), dict(res["removed"])
        with Timer() as t_svd:
            if "svd" in names:
                ev = defenses.evaluate(data, P, defenses=["svd"], clean_model=clean,
                                       rel_error=args.svd_rel_error)
                per_def["svd"], removed["svd"] = ev.per_defense["svd"], ev.removed["svd"]
        attack = {"min_over_defenses": min(per_def.values()), "per_defense": per_def,
                  "removed": removed, "no_defense": res["no_defense_test_error"],
                  "n_poisons": res["n_poisons"], "n_distinct": res["n_distinct"],
                  "loop_seconds": att.result_.best.seconds,
                  "integer_in_domain": bool(np.all(P.X == np.round(P.X)) and P.X.min() >= 0
                                            and np.all(P.X <= hi))}
        record("min-max attack (eps %g: loop, rounding, exact retraining per defense)"
               % args.epsilon, t.s + t_svd.s, test_error=attack["min_over_defenses"],
               **{k: v for k, v in attack.items() if k != "min_over_defenses"})

    rows = [(s["stage"], s["seconds"], s["peak_mb"],
             s.get("test_error", ""), s.get("gap", "")) for s in stages]
    table(["stage", "seconds", "peak MB", "test error", "gap"], rows,
          title=f"sparse scale benchmark: {args.n} x {args.d}, "
                f"{stages[1]['nnz_per_row']:.1f} stored counts per review")
    write_result("sparse_scale", {"settings": vars(args), "stages": stages,
                                  "per_defense_test_error": per, "minmax": attack,
                                  "peak_mb": peak_mb(), "date": time.strftime("%Y-%m-%d")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
