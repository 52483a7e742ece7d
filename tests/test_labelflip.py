"""Label-flip baselines: the competing-class rule against a brute-force argmax, the adapted
alfa's objective recomputed by independent retraining, its feasibility constraint, its
budget accounting, and that it beats random selections of the same pool; plus the CLI."""
import json
import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest

from convexpoison.attacks.labelflip import (
    AlfaLabelFlip, CompetingLabelFlip, RandomLabelFlip, competing_labels,
)
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import make_feasible_set
from convexpoison.training import train

REG = 0.05


def blobs(rng, n, d=4, shift=0.1):
    y = np.where(rng.random(n) < 0.5, -1, 1)
    X = 0.5 + 0.15 * rng.standard_normal((n, d)) + shift * y[:, None]
    return np.clip(X, 0, 1), y


def three_classes(rng, n, d=4):
    y = rng.integers(0, 3, n)
    centres = np.array([[0.3] * d, [0.5] * d, [0.7] * d])
    return np.clip(centres[y] + 0.12 * rng.standard_normal((n, d)), 0, 1), y


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(2)
    Xc, yc = blobs(rng, 100)
    Xp, yp = blobs(rng, 40)
    return Xc, yc, Xp, yp


def loss_gap(Xc, yc, Xs, ys, q, clean, model="svm"):
    """L(theta*; Dp) - L(theta^; Dp), theta^ retrained exactly on Dc ∪ Dp."""
    keep = q > 0
    m = train(np.vstack([Xc, Xs[keep]]), np.concatenate([yc, ys[keep]]), model=model, reg=REG,
              sample_weight=np.concatenate([np.ones(len(yc)), q[keep]]))
    return float(q[keep] @ (clean.losses(Xs[keep], ys[keep]) - m.losses(Xs[keep], ys[keep])))


def test_competing_labels_are_the_best_other_class():
    rng = np.random.default_rng(0)
    X, y = three_classes(rng, 90)
    model = train(X, y, model="multisvm", reg=REG)
    lab = competing_labels(model, X, y)
    S = model.decision_function(X)
    for i in range(len(y)):                                # brute force over j != y_i
        others = [j for j in range(3) if j != y[i]]
        assert lab[i] == max(others, key=lambda j: S[i, j])
    assert np.all(lab != y)
    bmodel = train(*blobs(rng, 40), reg=REG)
    yb = np.array([1, -1, -1])
    assert np.array_equal(competing_labels(bmodel, np.zeros((3, 4)), yb), -yb)


def test_competing_flip_budget_and_selection():
    rng = np.random.default_rng(1)
    X, y = three_classes(rng, 120)
    Xp, yp = three_classes(rng, 30)
    att = CompetingLabelFlip(0.1, reg=REG, select="loss").fit(X, y, X_test=Xp, y_test=yp)
    Xo, yo = att.poison(X, y)
    assert len(yo) == 12 == att.poisons_.n_poisons
    flipped = competing_labels(att.model_, Xp, yp)
    assert np.array_equal(yo, flipped[att.indices_])
    # 'loss' takes the flips with the highest clean loss
    losses = att.model_.losses(Xp, flipped)
    assert losses[att.indices_].min() >= np.sort(losses)[-12] - 1e-12
    rnd = CompetingLabelFlip(0.1, reg=REG, random_state=0).fit(X, y, X_test=Xp, y_test=yp)
    Xr, yr = rnd.poison(X, y)
    assert len(set(rnd.indices_.tolist())) == 12           # without replacement
    with pytest.raises(InputError, match="select"):
        CompetingLabelFlip(0.1, select="worst").fit(X, y, X_test=Xp, y_test=yp)


def test_alfa_objective_is_the_loss_gap_of_the_retrained_model(binary):
    Xc, yc, Xp, yp = binary
    att = AlfaLabelFlip(0.08, reg=REG, tol=1e-10).fit(Xc, yc, X_test=Xp, y_test=yp)
    Xo, yo = att.poison(Xc, yc)
    ps = att.poisons_
    assert ps.n_poisons == 8 == len(yo) and np.all(ps.weight == 1)
    assert np.array_equal(ps.y, -yp[att.indices_])          # flipped pool points
    assert np.allclose(ps.X, Xp[att.indices_])
    gap = loss_gap(Xc, yc, ps.X, ps.y, ps.weight, att.clean_model_)
    assert gap == pytest.approx(att.objective_, rel=1e-6, abs=1e-8)
    # the best round is kept
    assert att.objective_ == pytest.approx(max(h["objective"] for h in att.history_))


def test_alfa_beats_random_selections_and_brute_force_bounds_it(binary):
    """On a tiny pool the exhaustive optimum bounds alfa from above, and alfa beats random
    selections of the same pool (a sign error in the gap would pick the worst ones)."""
    Xc, yc, Xp, yp = binary
    pool_X, pool_y = Xp[:8], yp[:8]
    att = AlfaLabelFlip(0.03, reg=REG, tol=1e-10).fit(Xc, yc, X_test=pool_X,   # 3 points
                                                      y_test=pool_y)
    clean = att.clean_model_
    values = []
    for sel in combinations(range(8), 3):
        q = np.zeros(8)
        q[list(sel)] = 1
        values.append(loss_gap(Xc, yc, pool_X, -pool_y, q, clean))
    values = np.array(values)
    assert att.objective_ <= values.max() + 1e-7
    assert att.objective_ >= np.median(values)
    assert att.objective_ >= 0.8 * values.max()


def test_alfa_respects_the_feasible_set_and_copies(binary):
    Xc, yc, Xp, yp = binary
    feas = make_feasible_set(["domain", "l2", "slab"], Domain.box(4), Xc, yc, quantile=0.9)
    att = AlfaLabelFlip(0.2, reg=REG, feasible=feas, copies=2).fit(Xc, yc, X_test=Xp, y_test=yp)
    ps = att.poisons_
    assert feas.contains(ps.X, ps.y).all()
    outside = ~feas.contains(Xp, -yp)
    assert outside.any() and not np.isin(np.flatnonzero(outside), att.indices_).any()
    n_ok = int((~outside).sum())
    assert ps.n_poisons == 20 and ps.weight.max() <= max(2, int(np.ceil(20 / n_ok)))
    # a pool smaller than the budget: copies are raised to fit it
    small = AlfaLabelFlip(0.2, reg=REG).fit(Xc, yc, X_test=Xp[:4], y_test=yp[:4])
    assert small.poisons_.n_poisons == 20 and small.poisons_.weight.max() == 5


def test_alfa_multiclass_uses_competing_labels():
    rng = np.random.default_rng(4)
    X, y = three_classes(rng, 90)
    Xp, yp = three_classes(rng, 30)
    att = AlfaLabelFlip(0.1, reg=REG, max_iter=3, tol=1e-10).fit(X, y, X_test=Xp, y_test=yp)
    ps = att.poisons_
    assert att.clean_model_.model == "multisvm" and ps.n_poisons == 9
    assert np.array_equal(ps.y, competing_labels(att.clean_model_, Xp, yp)[att.indices_])
    gap = loss_gap(X, y, ps.X, ps.y, ps.weight, att.clean_model_, model="multisvm")
    assert gap == pytest.approx(att.objective_, rel=1e-4, abs=1e-6)


def test_alfa_input_errors(binary):
    Xc, yc, Xp, yp = binary
    with pytest.raises(InputError, match="fit"):
        AlfaLabelFlip(0.1).poison(Xp, yp)
    with pytest.raises(InputError, match="epsilon"):
        AlfaLabelFlip(1.5, reg=REG).fit(Xc, yc, X_test=Xp, y_test=yp)
    with pytest.raises(InputError, match="model"):
        AlfaLabelFlip(0.1, reg=REG, model="tree").fit(Xc, yc, X_test=Xp, y_test=yp)
    # names are fitted on Dc: the same flips as the fitted set of the same names
    feas = make_feasible_set(["domain", "l2", "slab"], Domain.box(4), Xc, yc, quantile=0.9)
    a = AlfaLabelFlip(0.2, reg=REG, feasible=feas).fit(Xc, yc, X_test=Xp, y_test=yp)
    b = AlfaLabelFlip(0.2, reg=REG, feasible=["domain", "l2", "slab"]).fit(
        Xc, yc, X_test=Xp, y_test=yp, domain=Domain.box(4))
    np.testing.assert_array_equal(a.indices_, b.indices_)


def test_random_flip_still_works(binary):
    Xc, yc, Xp, yp = binary
    att = RandomLabelFlip(0.1, random_state=0).fit(Xc, yc, X_test=Xp, y_test=yp)
    Xo, yo = att.poison(Xc, yc)
    assert len(yo) == 10 and len(set(att.indices_.tolist())) == 10
    drawn = np.sort(att.indices_)                       # poisons_ rows: by pool index
    np.testing.assert_array_equal(yo, -yp[drawn])       # flipped pool (test) points
    np.testing.assert_array_equal(Xo, Xp[drawn])
    # the training set as the pool
    tr = RandomLabelFlip(0.1, use="train", random_state=0).fit(Xc, yc, X_test=Xp, y_test=yp)
    np.testing.assert_array_equal(tr.poisons_.expanded()[1], -yc[np.sort(tr.indices_)])


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "convexpoison", *args], capture_output=True,
                          text=True)


def test_cli_labelflip_alfa_json(tmp_path):
    out = tmp_path / "flip.npz"
    r = run_cli("attack", "labelflip", "--dataset", "breast-cancer", "--epsilon", "0.03",
                "--method", "alfa", "--defense", "l2,slab", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["method"] == "alfa" and res["n_poisons"] == 11
    assert set(res["per_defense"]) == {"l2", "slab"} and res["feasible"] == ["domain", "l2", "slab"]
    f = np.load(out)
    assert f["weight"].sum() == 11
    r = run_cli("attack", "labelflip", "--dataset", "breast-cancer", "--epsilon", "0.03",
                "--method", "nope", "--json")
    assert r.returncode == 2 and "--method" in r.stderr
