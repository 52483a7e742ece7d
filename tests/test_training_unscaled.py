"""Exact training on a user's unscaled features (two-class wine: proline ~1000, hue ~1).

Coordinate descent and SMO crawl on such data (the dual is badly conditioned against the
intercept's constant 1); training.py then starts its exact active-set polish from an
interior-point solve of the dual.  The result must still be the optimum: compared here
with an independent conic solve (Clarabel through cvxpy, ``method="cvxpy"``) and with
scikit-learn's libsvm.
"""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.svm import SVC

from convexpoison.defender import Defender
from convexpoison.training import train


@pytest.fixture(scope="module")
def wine01():
    X, y = load_wine(return_X_y=True)
    keep = y < 2
    return X[keep], np.where(y[keep] == 1, 1, -1)


@pytest.mark.parametrize("reg, free", [(1e-3, False), (0.09, False), (1e-3, True)])
def test_unscaled_features_train_to_the_conic_optimum(wine01, reg, free):
    X, y = wine01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the scale's floor, if reached
        m = train(X, y, "svm", reg, penalize_intercept=not free)
    ref = train(X, y, "svm", reg, method="cvxpy", penalize_intercept=not free)
    # the proven gap bounds the distance to the optimum; Clarabel's value is within 1e-7
    assert m.gap_ <= 1e-6 * m.objective_
    assert m.objective_ <= ref.objective_ * (1 + 1e-7) + 1e-12
    assert m.objective_ >= ref.objective_ * (1 - 1e-6)


def test_unscaled_svc_reaches_the_optimum_libsvm_misses(wine01):
    X, y = wine01
    D = Defender.from_estimator(SVC(kernel="linear", C=10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = D.train(X, y)
    ref = train(X, y, "svm", D.reg_for(len(y)), method="cvxpy", penalize_intercept=False)
    assert m.objective_ <= ref.objective_ * (1 + 1e-7) + 1e-12
    assert m.objective_ >= ref.objective_ * (1 - 1e-6)
    # libsvm (tol 1e-10) stops far above the optimum on these features (measured 7.48
    # against 3.33): the package's proven optimum is never worse than its fit
    est = SVC(kernel="linear", C=10, tol=1e-10).fit(X, y)
    w = est.coef_.ravel()
    theirs = 0.5 * w @ w + 10 * np.maximum(0, 1 - y * (X @ w + est.intercept_[0])).sum()
    assert D.objective(m, X, y) <= theirs * (1 + 1e-9)
