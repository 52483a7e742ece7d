"""Multi-class min-max with decoys (Koh et al. 2021 sections 4.3.2 and 5.7): the multi-class
decoy generator (Algorithm 3 for k classes), the decoy-constrained inner maximiser without a
conic solver, and the attack's decoy variant.  Independent checks: brute force over the
label flips, the cvxpy programs of :class:`InnerMaximizer` (Clarabel), exact retraining."""
from __future__ import annotations

import numpy as np
import pytest

from convexpoison.attacks.minmax import MinMaxAttack, MulticlassDecoyInner
from convexpoison.datasets import from_arrays
from convexpoison.decoys import MulticlassDecoyGenerator, multiclass_flips
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import make_feasible_set
from convexpoison.losses import multiclass_hinge
from convexpoison.programs.inner import InnerMaximizer
from convexpoison.training import train

REG = 0.05


def blobs(rng, n, centres):
    y = rng.integers(0, len(centres), n)
    return np.clip(centres[y] + 0.15 * rng.standard_normal((n, centres.shape[1])), 0, 1), y


@pytest.fixture(scope="module")
def data3():
    rng = np.random.default_rng(11)
    centres = 0.5 + 0.25 * rng.standard_normal((3, 5))
    Xtr, ytr = blobs(rng, 150, centres=centres)
    Xte, yte = blobs(rng, 90, centres=centres)
    return from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(5), reg=REG)


def test_multiclass_flips_brute_force():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((40, 4))
    y = rng.integers(0, 4, 40)
    m, runner = multiclass_flips(S, y)
    for i in range(40):
        others = [k for k in range(4) if k != y[i]]
        j = max(others, key=lambda k: S[i, k])
        assert runner[i] == j and m[i] == pytest.approx(S[i, y[i]] - S[i, j])


def test_decoy_generator_flips_and_retrains_exactly(data3):
    X, y, Xt, yt = data3.X_train, data3.y_train, data3.X_test, data3.y_test
    gen = MulticlassDecoyGenerator(REG, repeats=(1, 5), quantiles=(0.2,), tol=1e-10,
                                   prune=False).fit(X, y, Xt, yt)
    clean = gen.clean_model_
    assert len(gen.candidates_) == 2
    m, runner = multiclass_flips(clean.decision_function(Xt), yt)
    flip = np.flatnonzero(m <= np.quantile(m, 0.2, method="inverted_cdf"))
    for c in gen.candidates_:
        assert c.n_flipped == flip.size
        # an independent conic solve of the same weighted problem
        Xa = np.vstack([X, Xt[flip]])
        ya = np.concatenate([y, runner[flip]])
        s = np.concatenate([np.ones(len(y)), np.full(flip.size, float(c.repeats))])
        ref = train(Xa, ya, "multisvm", REG, s, method="cvxpy")
        assert np.allclose(c.model.theta, ref.theta, atol=1e-4)
        assert c.eval_error == pytest.approx(c.model.error(Xt, yt))
    # with enough copies the decoy fits the flipped labels: a higher test error
    assert gen.candidates_[-1].eval_error > clean.error(Xt, yt) + 0.05
    # more copies: a higher clean objective (Algorithm 3's bound is monotone in r)
    assert gen.candidates_[1].clean_objective >= gen.candidates_[0].clean_objective - 1e-9
    with pytest.raises(InputError, match="X_eval"):
        MulticlassDecoyGenerator(REG).fit(X, y)


@pytest.mark.parametrize("sphere", [True, False])
def test_decoy_inner_equals_the_conic_programs(data3, sphere):
    rng = np.random.default_rng(5)
    X, y = data3.X_train, data3.y_train
    fs = make_feasible_set("domain,l2" if sphere else "domain", data3.domain, X, y,
                           quantile=0.9)
    flip = np.where(rng.random(len(y)) < 0.2, (y + 1) % 3, y)
    decoy = train(X, flip, "multisvm", REG)
    prog = InnerMaximizer(fs, range(3), model="multisvm", decoy=decoy, tau=0.25,
                          method="cvxpy")
    fast = MulticlassDecoyInner(fs, range(3), decoy, 0.25, X, y, fallback=prog)
    for _ in range(5):
        W, b = 3 * rng.standard_normal((3, 5)), rng.standard_normal(3)
        a, p = fast.maximize(W, b), prog.maximize(W, b)
        assert a.loss == pytest.approx(p.loss, abs=1e-5)
        # the point is feasible: box, sphere, and the decoy loss at most tau
        assert np.all((a.x >= 0) & (a.x <= 1))
        assert fs.contains(a.x[None], a.y, tol=1e-9)[0]
        assert multiclass_hinge(decoy.w, decoy.b, a.x[None], np.array([a.y]))[0] <= 0.25 + 1e-9
        # its value is what it reports
        s = W @ a.x + b
        assert a.loss == pytest.approx(max(0, max(1 + s[k] - s[a.y] for k in range(3)
                                                  if k != a.y)), abs=1e-9)
    assert fast.n_fallback == 0


def test_attack_decoy_variant_keeps_poison_below_tau(data3):
    att = MinMaxAttack(0.04, defenses="l2,loss", feasible="l2", decoy="auto",
                       decoy_repeats=(2,), decoy_quantiles=(0.2,), max_decoys=1, burn_in=10,
                       progress_bar=False)
    att.fit(data3)
    res = att.result_
    assert len(att.decoys_) == 1 and res.best.decoy == 0
    dm = att.decoys_[0].model
    c = res.best.continuous
    assert np.all(multiclass_hinge(dm.w, dm.b, c.X, c.y) <= 0.25 + 1e-9)
    d = res.to_dict()
    assert d["variant"] == "minmax" and set(d["per_defense"]) == {"l2", "loss"}
    assert sum(d["poisons_per_label"].values()) == att.poisons_.n_poisons == 6
