"""Data-sanitisation defenses: each removes exactly the intended fraction per class,
weights act as copies, the k-NN score agrees with brute force, the evaluation table is
consistent with training by hand; poison-set files; the random label-flip baseline; the
evaluate command."""
import json
import math

import numpy as np
import pytest

from convexpoison.attacks.labelflip import RandomLabelFlip
from convexpoison.datasets import from_arrays
from convexpoison.defenses import (
    DEFENSES, CleanNeighbours, KNNDefense, evaluate, knn_scores, make_defense, parse_defenses,
)
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.poisons import PoisonSet
from convexpoison.training import train


def blobs(rng, n=150, d=6, shift=0.12):
    y = np.where(rng.random(n) < 0.45, -1, 1)
    X = 0.5 + 0.15 * rng.standard_normal((n, d)) + shift * y[:, None]
    return np.clip(X, 0, 1), y


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    Xtr, ytr = blobs(rng)
    Xte, yte = blobs(rng, n=80)
    return from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(6), reg=0.05)


def _kw(name, X, y, w=None):
    if name == "loss":
        return {"base_model": train(X, y, reg=0.05, sample_weight=w)}
    return {}


@pytest.mark.parametrize("name", DEFENSES)
@pytest.mark.parametrize("p", [0.05, 0.1, 0.2])
def test_each_defense_removes_exactly_p_per_class(data, name, p):
    X, y = data.X_train, data.y_train
    d = make_defense(name, p=p, **_kw(name, X, y)).fit(X, y)
    for label in (-1, 1):
        cls = y == label
        n_y = int(cls.sum())
        removed = d.removed_weight_[cls]
        assert set(np.unique(removed)) <= {0.0, 1.0}          # unit weights: whole points
        assert removed.sum() == math.floor(p * n_y + 1e-9)   # exactly floor(p n_y) points
        # ... and they are the highest-scoring points of the class
        s = d.scores_[cls]
        assert s[removed == 1].min() >= s[removed == 0].max()


def test_heavy_rows_are_partly_removed(data):
    """Copies are points: piling more copies at the top than the defender removes does not
    make them all survive; exactly floor(p W_y) copies go, the rest stay."""
    X, y = data.X_train, data.y_train
    far = np.full((1, X.shape[1]), 1.0)                    # far from both centroids
    ps = PoisonSet(far, [1], [30.0])
    Xa, ya, wa, is_p = ps.with_clean(X, y)
    d = make_defense("l2", p=0.05).fit(Xa, ya, wa)
    W = wa[ya == 1].sum()
    budget = math.floor(0.05 * W)
    above = int(np.sum(d.scores_[~is_p & (ya == 1)] > d.scores_[is_p][0]))
    assert above < budget < 30                             # the cut falls inside the poison row
    assert d.removed_weight_[is_p][0] == budget - above    # partly removed ...
    assert d.kept_weight_[is_p][0] == 30 - (budget - above)
    assert d.removed_weight_[ya == 1].sum() == budget      # ... and the count is exact
    assert d.removed_weight_[ya == -1].sum() == math.floor(0.05 * np.sum(y == -1))


@pytest.mark.parametrize("name", DEFENSES)
def test_weights_act_as_copies(data, name):
    """A row of weight k is treated exactly like k identical rows."""
    rng = np.random.default_rng(0)
    X, y = data.X_train[:90], data.y_train[:90]
    w = rng.integers(1, 4, size=90).astype(float)
    w[:3] = [9, 7, 12]                                 # a few heavy (concentrated) rows
    Xe, ye = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    kw = _kw(name, X, y, w)
    dw = make_defense(name, p=0.1, **kw).fit(X, y, sample_weight=w)
    de = make_defense(name, p=0.1, **kw).fit(Xe, ye)
    np.testing.assert_allclose(np.repeat(dw.scores_, w.astype(int)), de.scores_, rtol=1e-7, atol=1e-9)
    # the copies kept of each row = the expanded rows kept among its copies
    row = np.repeat(np.arange(90), w.astype(int))
    np.testing.assert_array_equal(dw.kept_weight_, np.bincount(row, weights=de.kept_weight_))


def test_knn_scores_match_brute_force():
    rng = np.random.default_rng(5)
    X = rng.random((60, 4))
    X[10] = X[11]                                       # an exact duplicate
    y = np.where(np.arange(60) < 25, -1, 1)
    w = rng.integers(1, 3, size=60).astype(float)
    w[[3, 40]] = [6, 0]                                 # a heavy row and a removed one
    for k in (1, 3, 5):
        want = np.empty(60)
        for i in range(60):
            same = np.flatnonzero(y == y[i])
            # expanded multiset of the class, minus one copy of the point itself
            counts = w[same].copy()
            counts[same == i] = max(w[i] - 1, 0)
            dist = np.linalg.norm(X[same] - X[i], axis=1)
            order = np.argsort(dist, kind="stable")
            cum = np.cumsum(counts[order])
            want[i] = dist[order][np.argmax(cum >= k)]
        got = knn_scores(X, y, k=k, sample_weight=w)
        np.testing.assert_allclose(got, want, atol=1e-7)
    # fewer than k other points in a class: the farthest one
    s = knn_scores(X[:4], np.array([1, 1, 1, -1]), k=5)
    assert s[3] == 0.0 and np.isclose(s[0], np.linalg.norm(X[:3] - X[0], axis=1).max())


def test_clean_neighbours_give_the_same_knn_scores():
    rng = np.random.default_rng(8)
    X = rng.random((80, 3))
    X[5] = X[6]                                         # duplicates among the clean points
    y = np.where(np.arange(80) < 35, -1, 1)
    cache = CleanNeighbours(X, y, k=5)
    for Xp, yp, wp in [(rng.random((2, 3)), [1, -1], [7.0, 3.0]),
                       (X[[0, 1, 2]] + 1e-3, [-1, -1, 1], [1.0, 2.0, 40.0]),
                       (np.zeros((0, 3)), [], [])]:
        ps = PoisonSet(Xp, yp, wp) if len(yp) else PoisonSet.empty(3)
        Xa, ya, wa, _ = ps.with_clean(X, y)
        np.testing.assert_allclose(cache.scores(ps.X, ps.y, ps.weight),
                                   knn_scores(Xa, ya, k=5, sample_weight=wa), atol=1e-7)
        fast = KNNDefense(p=0.1, clean=cache).fit(Xa, ya, wa)
        slow = KNNDefense(p=0.1).fit(Xa, ya, wa)
        np.testing.assert_array_equal(fast.kept_weight_, slow.kept_weight_)


def test_knn_is_vectorised_on_thousands_of_points():
    rng = np.random.default_rng(0)
    X = rng.random((4000, 20))
    y = np.where(rng.random(4000) < 0.5, -1, 1)
    s = knn_scores(X, y)
    assert s.shape == (4000,) and np.all(s > 0)


def test_evaluate_table_matches_training_by_hand(data):
    ps = PoisonSet(data.X_test[:2], -data.y_test[:2], [5.0, 4.0])
    ev = evaluate(data, ps, p=0.05)
    X, y, w, is_p = ps.with_clean(data.X_train, data.y_train)
    base = train(X, y, reg=data.reg, sample_weight=w)
    assert ev.no_defense_test_error == base.error(data.X_test, data.y_test)
    assert ev.clean_test_error == train(data.X_train, data.y_train, reg=data.reg).error(
        data.X_test, data.y_test)
    for name in DEFENSES:
        kw = {"base_model": base} if name == "loss" else {}
        kept = make_defense(name, p=0.05, **kw).sanitize(X, y, w)
        keep = kept > 0
        m = train(X[keep], y[keep], reg=data.reg, sample_weight=kept[keep])
        assert ev.per_defense[name] == m.error(data.X_test, data.y_test)
        assert ev.removed[name]["poison"] == (w - kept)[is_p].sum()
        assert ev.removed[name]["clean"] == (w - kept)[~is_p].sum()
        # per class, exactly floor(p W_y) points are removed
        for label in (-1, 1):
            cls = y == label
            assert (w - kept)[cls].sum() == math.floor(0.05 * w[cls].sum() + 1e-9)
    assert ev.min_over_defenses == min(ev.per_defense.values())
    assert ev.per_defense[ev.best_defense] == ev.min_over_defenses
    assert ev.n_poisons == 9.0 and ev.n_outside_domain == 0.0


def test_evaluate_without_poison_and_subset_of_defenses(data):
    ev = evaluate(data, None, defenses="l2,knn")
    assert list(ev.per_defense) == ["l2", "knn"]
    assert ev.no_defense_test_error == ev.clean_test_error
    assert all(r["poison"] == 0 for r in ev.removed.values())
    with pytest.raises(InputError, match="defense"):
        parse_defenses("l2,foo")


def test_poison_set_roundtrip_and_validation(tmp_path):
    ps = PoisonSet(np.array([[0.1, 0.2], [0.3, 0.4]]), [1, -1], [3, 2], {"attack": "x"})
    path = tmp_path / "p.npz"
    ps.save(path)
    f = np.load(path)
    assert set(f.files) >= {"X", "y", "weight"}
    back = PoisonSet.load(path)
    np.testing.assert_array_equal(back.X, ps.X)
    np.testing.assert_array_equal(back.y, ps.y)
    np.testing.assert_array_equal(back.weight, ps.weight)
    assert back.n_poisons == 5 and back.meta == {"attack": "x"}
    Xe, ye = back.expanded()
    assert Xe.shape == (5, 2) and list(ye) == [1, 1, 1, -1, -1]
    with pytest.raises(InputError, match="weight"):
        PoisonSet(ps.X, ps.y, [1, -1])
    with pytest.raises(InputError, match="weight"):
        PoisonSet(ps.X, ps.y, [1])
    with pytest.raises(InputError, match="X"):
        PoisonSet([[np.nan, 0]], [1])
    with pytest.raises(InputError, match="features"):
        ps.check_dimension(3)
    assert PoisonSet.empty(4).n_poisons == 0


def test_random_label_flip():
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 3)), np.where(rng.random(50) < 0.5, -1, 1)
    Xc, yc = rng.random((200, 3)), np.where(rng.random(200) < 0.5, -1, 1)   # n = 200
    att = RandomLabelFlip(0.1, random_state=7).fit(Xc, yc, X_test=X, y_test=y)   # pool: X
    Xp, yp = att.poison(Xc, yc)
    drawn = np.sort(att.indices_)                       # poisons_ rows by pool index
    assert Xp.shape == (20, 3)                          # floor(0.1 * 200) points
    np.testing.assert_array_equal(yp, -y[drawn])
    np.testing.assert_array_equal(Xp, X[drawn])
    assert len(set(att.indices_.tolist())) == 20        # without replacement while possible
    assert att.poisons_.n_poisons == 20
    Xp2, _ = RandomLabelFlip(0.1, random_state=7).fit(Xc, yc, X_test=X, y_test=y).poison(Xc, yc)
    np.testing.assert_array_equal(Xp, Xp2)              # seeded
    # more flips than pool points: drawn with replacement, copies become weights
    big = RandomLabelFlip(0.5, random_state=1).fit(Xc, yc, X_test=X, y_test=y)
    assert big.poisons_.n_poisons == 100 and len(big.poisons_) <= 50
    # multi-class: a flipped label is another class
    yk = rng.integers(0, 4, 50)
    att = RandomLabelFlip(0.2, use="train", random_state=0).fit(X, yk)
    _, ykp = att.poison(X, yk)
    assert np.all(ykp != yk[att.indices_]) and ykp.max() < 4


def test_evaluate_command(tmp_path, capsys):
    from convexpoison.cli import main
    from convexpoison.datasets import load_dataset

    data = load_dataset("breast-cancer")
    ps = PoisonSet(data.X_test[:2], -data.y_test[:2], [6.0, 5.0])
    path = tmp_path / "p.npz"
    ps.save(path)
    assert main(["evaluate", "--dataset", "breast-cancer", "--poisons", str(path),
                 "--defense", "l2,slab,knn", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["per_defense"]) == {"l2", "slab", "knn"}
    assert res["n_poisons"] == 11 and res["poisoned_test_error"] == min(res["per_defense"].values())
    ev = evaluate(data, ps, defenses="l2,slab,knn")
    assert res["per_defense"] == pytest.approx(ev.per_defense)
    assert main(["evaluate", "--dataset", "breast-cancer", "--poisons", str(path),
                 "--defense", "l2,bogus"]) == 2
    assert "--defense" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", "breast-cancer", "--poisons", str(tmp_path / "no.npz")]) == 2
