"""The defender against scikit-learn (docs/defender.md): for SVC(kernel="linear", C=1),
LinearSVC(loss="hinge", C=1) and LogisticRegression(C=1) on mnist17 and spambase, the
package's exact training under ``Defender.from_estimator`` and scikit-learn's own fit,
side by side: the defender's objective (scikit-learn's scale, ``C sum loss + R``) of each,
libsvm's dual value for SVC, test-prediction disagreements, seconds; then MTP-like warm
starts (one poison row of weight 10 appended, five times) against cold retraining.

    python bench/defender_sklearn.py
"""
from __future__ import annotations

import time
import warnings

from _common import say, table, warm_up, write_result  # first: it pins BLAS to one thread

import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.svm import SVC, LinearSVC  # noqa: E402

from convexpoison.datasets import load_dataset  # noqa: E402
from convexpoison.defender import Defender, fit_estimator  # noqa: E402

ESTIMATORS = {
    "SVC": SVC(kernel="linear", C=1, tol=1e-10),
    "LinearSVC": LinearSVC(C=1, loss="hinge", tol=1e-8, max_iter=1_000_000, random_state=0),
    "LogisticRegression": LogisticRegression(C=1, tol=1e-12, max_iter=100_000),
}


def one(name, est, data):
    X, y = data.X_train, data.y_train
    D = Defender.from_estimator(est)
    t = time.perf_counter()
    m = D.train(X, y)
    t_ours = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        sk = fit_estimator(est, X, y)
        t_sk = time.perf_counter() - t
    ours, theirs = D.objective(m, X, y), D.objective(sk, X, y)
    row = {"dataset": data.name, "estimator": name, "defender": D.spec(),
           "objective_ours": ours, "objective_sklearn": theirs,
           "rel_sklearn_minus_ours": (theirs - ours) / ours,
           "proven_rel_gap": m.gap_ / m.objective_, "seconds_ours": t_ours,
           "seconds_sklearn": t_sk}
    if name == "SVC":
        f = clone(est).fit(X, y)
        dual = np.abs(f.dual_coef_).sum() - 0.5 * float(f.coef_.ravel() @ f.coef_.ravel())
        row["rel_ours_minus_libsvm_dual"] = (ours - dual) / ours
    s1, s2 = m.decision_function(data.X_test), sk.decision_function(data.X_test)
    row["test_disagreements"] = int(np.sum(np.sign(s1) != np.sign(s2)))
    row["min_abs_test_score"] = float(np.abs(s1).min())
    return row


def warm(spec, data, k=5):
    D = Defender.from_spec(spec)
    X, y = data.X_train, data.y_train
    rng = np.random.default_rng(0)
    base = D.train(X, y)
    t_w = t_c = 0.0
    m = base
    for _ in range(k):
        X = np.vstack([X, rng.random((1, data.d)) * data.domain.hi])
        y = np.append(y, -1)
        s = np.append(np.ones(data.n_train), np.full(len(y) - data.n_train, 10.0))
        t = time.perf_counter()
        m = D.train(X, y, s, warm_start=m)
        t_w += time.perf_counter() - t
        t = time.perf_counter()
        c = D.train(X, y, s)
        t_c += time.perf_counter() - t
        assert abs(m.objective_ - c.objective_) <= 1e-9 * c.objective_
    return {"dataset": data.name, "defender": spec, "retrainings": k,
            "seconds_warm": t_w, "seconds_cold": t_c}


def main():
    warm_up()
    # and the free-intercept kernels (SMO, the exact intercept), outside the timed sections
    rng = np.random.default_rng(0)
    Defender.from_spec("svc:C=1").train(rng.random((20, 3)), np.repeat([-1, 1], 10))
    rows, warms = [], []
    for ds in ("mnist17", "spambase"):
        data = load_dataset(ds)
        for name, est in ESTIMATORS.items():
            say(f"{ds} {name}")
            rows.append(one(name, est, data))
        for spec in ("svc:C=1", "logreg:C=1", "svm:reg=0.09"):
            warms.append(warm(spec, data))
    cols = ["dataset", "estimator", "rel_sklearn_minus_ours", "proven_rel_gap",
            "test_disagreements", "seconds_ours", "seconds_sklearn"]
    table(cols + ["rel_ours_minus_libsvm_dual"],
          [[r[c] for c in cols] + [r.get("rel_ours_minus_libsvm_dual", "")] for r in rows],
          "the defender's objective, ours vs scikit-learn's fit")
    cols = ["dataset", "defender", "seconds_warm", "seconds_cold"]
    table(cols, [[w[c] for c in cols] for w in warms],
          "5 MTP-like retrainings (one row of weight 10 appended each), warm vs cold")
    write_result("defender_sklearn", {"fits": rows, "warm_starts": warms})


if __name__ == "__main__":
    main()
