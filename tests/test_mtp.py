"""MTP (Suya et al. Algorithm 1): convergence, exactness, resume, Theorem 4.2 along the way."""
import json

import numpy as np
import pytest

from convexpoison import Domain, load_dataset, train
from convexpoison.attacks.mtp import ModelTargetedPoisoning
from convexpoison.certificates.base import sound_ceil
from convexpoison.certificates.theorem42 import theorem42
from convexpoison.errors import InputError
from convexpoison.programs.maxloss import max_loss_difference


def flip_target(X, y, Xa, ya, reg, frac=0.3, copies=3.0):
    """An attainable target: train on Dc plus copies of label-flipped high-loss points."""
    clean = train(X, y, "svm", reg)
    idx = np.argsort(clean.decision_function(Xa) * ya)[: int(frac * len(ya))]
    Xt = np.vstack([X, Xa[idx]])
    yt = np.append(y, -ya[idx])
    w = np.append(np.ones(len(y)), np.full(len(idx), copies))
    return train(Xt, yt, "svm", reg, sample_weight=w), int(copies * len(idx))


@pytest.fixture(scope="module")
def small():
    data = load_dataset("breast-cancer")
    reg = 0.05
    target, n_star = flip_target(data.X_train, data.y_train, data.X_test, data.y_test, reg)
    return data, reg, target, n_star


def test_mtp_converges_and_is_reproduced_by_independent_training(small, tmp_path):
    data, reg, target, n_star = small
    att = ModelTargetedPoisoning(target, data.domain, reg, eps_close=0.05, progress_bar=False,
                                 run_dir=tmp_path / "run", max_iter=3000)
    res = att.fit(data).result_
    h = res.history
    assert res.stop_reason == "eps_close"
    assert h[-1].max_loss_difference <= 0.05 < h[0].max_loss_difference
    assert h[-1].max_loss_difference < 0.1 * h[0].max_loss_difference
    # retrain from scratch with an independent (conic) solver: same model, still close
    Xa = np.vstack([data.X_train, res.poisons.X])
    ya = np.append(data.y_train, res.poisons.y)
    wa = np.append(np.ones(data.n_train), res.poisons.weight)
    ind = train(Xa, ya, "svm", reg, sample_weight=wa, method="cvxpy")
    assert max_loss_difference(ind, target, data.domain).upper_bound <= 0.05 + 1e-4
    # Theorem 4.2: no attack needs fewer points than certified -- MTP's own set works
    assert 0 < res.lower_bound <= res.n_poisons
    # and the target itself was induced by n_star flipped copies
    assert res.lower_bound <= n_star
    # every iteration was recorded on disk
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(h) and json.loads(lines[-1])["iteration"] == len(h) - 1


def test_resume_gives_the_same_poison_set(small, tmp_path):
    data, reg, target, _ = small
    kw = dict(eps_close=0.05, progress_bar=False, max_iter=3000)
    full = ModelTargetedPoisoning(target, data.domain, reg, run_dir=tmp_path / "a", **kw).fit(data).result_
    # stop a run midway (a budget), then resume it without the budget
    part = ModelTargetedPoisoning(target, data.domain, reg, run_dir=tmp_path / "b",
                                  budget=full.n_poisons // 2, **kw).fit(data).result_
    assert part.stop_reason == "budget" and part.n_poisons < full.n_poisons
    resumed = ModelTargetedPoisoning(target, data.domain, reg, run_dir=tmp_path / "b",
                                     resume=True, **kw).fit(data).result_
    assert resumed.n_poisons == full.n_poisons
    assert np.array_equal(resumed.poisons.X, full.poisons.X)
    assert np.array_equal(resumed.poisons.weight, full.poisons.weight)
    assert len(resumed.history) == len(full.history)
    # settings.json says which settings made which iterations
    settings = json.loads((tmp_path / "b" / "settings.json").read_text())
    assert settings["budget"] is None
    first, second = settings["segments"]
    assert first["from_iteration"] == 0 and first["budget"] == full.n_poisons // 2
    assert second["from_iteration"] == len(part.history) - 1 and second["budget"] is None


def test_the_last_iteration_adds_only_what_is_left_of_the_budget(small):
    """copies=2 with a budget of 5: two full iterations and one copy, never 6 points."""
    data, reg, target, _ = small
    res = ModelTargetedPoisoning(target, data.domain, reg, budget=5, copies=2, eps_close=0.0,
                                 progress_bar=False).fit(data).result_
    assert res.stop_reason == "budget" and res.poisons.n_poisons == 5
    assert [r.n_poisons for r in res.history] == [0, 2, 4, 5]


def test_refuses_to_overwrite_a_previous_run(small, tmp_path):
    data, reg, target, _ = small
    kw = dict(eps_close=0.05, progress_bar=False, budget=3, run_dir=tmp_path / "r")
    ModelTargetedPoisoning(target, data.domain, reg, **kw).fit(data).result_
    with pytest.raises(InputError, match="resume"):
        ModelTargetedPoisoning(target, data.domain, reg, **kw).fit(data).result_


def test_theorem42_on_a_tiny_instance_never_exceeds_a_working_poison_set():
    rng = np.random.default_rng(1)
    dom = Domain.box(2)
    for trial in range(15):
        X = rng.random((12, 2))
        y = np.where(X[:, 0] + 0.2 * rng.standard_normal(12) > 0.5, 1, -1)
        k = int(rng.integers(1, 6))
        Xp = rng.random((1, 2))
        yp = np.array([int(rng.choice([-1, 1]))])
        target = train(np.vstack([X, Xp]), np.append(y, yp), "svm", 0.1,
                       sample_weight=np.append(np.ones(12), k))
        clean = train(X, y, "svm", 0.1)
        sup = max_loss_difference(clean, target, dom).upper_bound
        b = theorem42(clean, target, X, y, 0.1, sup)
        assert b.lower_bound <= k


def test_sound_ceil_never_rounds_up_float_noise():
    assert sound_ceil(124.0 + 1e-12) == 124
    assert sound_ceil(124.01) == 125
    assert sound_ceil(0.3) == 1


def test_bad_settings_are_named(small):
    data, reg, target, _ = small
    with pytest.raises(InputError, match="goal_set"):
        ModelTargetedPoisoning(target, data.domain, reg, goal_set="train").fit(data)
    with pytest.raises(InputError, match="copies"):
        ModelTargetedPoisoning(target, data.domain, reg, copies=0).fit(data)
    with pytest.raises(InputError, match="budget"):
        ModelTargetedPoisoning(target, data.domain, reg, budget=5, epsilon=0.1).fit(data)
    with pytest.raises(InputError, match="target"):
        ModelTargetedPoisoning(None).fit(data)


def test_initial_poisons_start_the_run_where_they_leave_the_model(small):
    data, reg, target, _ = small
    kw = dict(eps_close=0.05, progress_bar=False, max_iter=3000)
    full = ModelTargetedPoisoning(target, data.domain, reg, **kw).fit(data).result_
    # starting from MTP's own final set: the induced model is already eps-close, nothing added
    again = ModelTargetedPoisoning(
        target, data.domain, reg,
        initial_poisons=(full.poisons.X, full.poisons.y, full.poisons.weight), **kw,
    ).fit(data).result_
    assert again.stop_reason == "eps_close" and len(again.history) == 1
    assert again.n_poisons == full.n_poisons
    np.testing.assert_array_equal(again.poisons.X, full.poisons.X)
    # starting from a prefix: the run keeps those points and adds to them
    head = ModelTargetedPoisoning(target, data.domain, reg, budget=10, **kw).fit(data).result_
    cont = ModelTargetedPoisoning(
        target, data.domain, reg, initial_poisons=(head.poisons.X, head.poisons.y,
                                                   head.poisons.weight), **kw,
    ).fit(data).result_
    assert cont.stop_reason == "eps_close"
    np.testing.assert_array_equal(cont.poisons.X[: len(head.poisons.X)], head.poisons.X)
    assert head.n_poisons < cont.n_poisons
    with pytest.raises(InputError, match="initial_poisons"):
        ModelTargetedPoisoning(target, data.domain, reg, initial_poisons=(np.zeros((2, 3)),
                               np.array([1, -1])), **kw).fit(data).result_
