"""Target models (Koh et al. Algorithm 3, Suya et al. Appendix C.1): goals met, selection rule, exact retraining, files, errors."""
import json

import numpy as np
import pytest

from convexpoison import InputError, LinearModel, load_dataset, objective, train
from convexpoison.cli import main
from convexpoison.targets import (Target, find_subpopulations, flip_set, improved_target,
                                  koh_target, label_flip_sweep, subpopulation_targets)

SMALL_Q = (0.05, 0.10, 0.20, 0.40)
SMALL_R = (1, 2, 4, 8, 16)
SUB_GRID = {"quantiles": (0.5, 1.0), "repeats": (1, 2, 3, 5, 8)}


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # OpenBLAS / OpenMP threads spin-wait; on a loaded 2-core box they slow these small
    # solves and k-means ~10-100x.  threadpoolctl limits the libraries loaded when it is
    # entered, so load scikit-learn's OpenMP runtime first.
    try:
        import sklearn.cluster  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError:                                    # pragma: no cover
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def bc():
    data = load_dataset("breast-cancer")
    clean = train(data.X_train, data.y_train, reg=data.reg)
    return data, clean


def _goal(data, clean, extra=0.05):
    return round(clean.error(data.X_test, data.y_test) + extra, 4)


# ------------------------------------------------------------------- the flip set
def test_flip_set_is_the_lowest_margins_by_sorting(rng):
    m = np.round(rng.normal(size=97), 1)                 # many ties
    for q in (0.01, 0.05, 0.3, 0.5, 0.99, 1.0):
        k = int(np.ceil(q * m.size))                     # inverted-cdf quantile = k-th smallest
        kth = np.sort(m)[k - 1]
        assert np.array_equal(flip_set(m, q), np.flatnonzero(m <= kth))
    assert flip_set(m, 1.0).size == m.size


# ------------------------------------------------------------------- Koh's heuristic
def test_koh_target_meets_goal_with_lowest_clean_loss(bc):
    data, clean = bc
    goal = _goal(data, clean)
    t = koh_target(data, error=goal, quantiles=SMALL_Q, repeats=SMALL_R, clean_model=clean)
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    # the goal, recomputed from the model itself
    assert t.test_error == pytest.approx(np.mean(t.model.predict(Xt) != yt))
    assert t.test_error >= goal
    assert t.clean_loss == pytest.approx(objective(t.model, X, y, reg=data.reg), rel=1e-12)
    # the selection rule against the candidate list, each candidate re-judged independently
    meeting = []
    for c in t.candidates:
        err = np.mean(c.model.predict(Xt) != yt)
        assert c.meets == (err >= goal)
        if c.meets:
            meeting.append(objective(c.model, X, y, reg=data.reg))
    assert len(meeting) >= 2
    assert t.clean_loss == pytest.approx(min(meeting), rel=1e-12)
    assert t.clean_loss > objective(clean, X, y, reg=data.reg)       # theta_c is the optimum
    s = t.settings
    assert s["n_poison"] == s["n_flipped"] * s["repeats_chosen"]
    # the flipped points are the q-quantile of the clean margins on the test set
    m = yt * clean.decision_function(Xt)
    assert np.array_equal(s["flip_index"], flip_set(m, s["quantile"]))


def test_candidate_is_the_exact_minimiser_on_duplicated_rows(bc):
    # weights are copies: retrain the chosen candidate's poisoned set with the flipped rows
    # *repeated*, by the independent conic method, and compare
    data, clean = bc
    t = koh_target(data, error=_goal(data, clean), quantiles=SMALL_Q, repeats=SMALL_R,
                   clean_model=clean)
    idx = np.repeat(t.settings["flip_index"], np.asarray(t.settings["flip_weight"], int))
    Xd = np.vstack([data.X_train, data.X_test[idx]])
    yd = np.concatenate([data.y_train, -data.y_test[idx]])
    conic = train(Xd, yd, reg=data.reg, method="cvxpy")
    assert objective(t.model, Xd, yd, reg=data.reg) == pytest.approx(conic.objective_, rel=1e-6)
    assert np.linalg.norm(t.model.theta - conic.theta) < 1e-3


def test_early_stopping_is_exact_and_clean_loss_grows_with_repeats(bc):
    # Module docstring: for a fixed flip set the clean objective is nondecreasing in r, so
    # leaving a quantile once the goal is met cannot change the selected target.
    data, clean = bc
    goal = _goal(data, clean)
    reps = SMALL_R[:-1]
    full = koh_target(data, error=goal, quantiles=SMALL_Q, repeats=reps, clean_model=clean,
                      stop_at_goal=False)
    fast = koh_target(data, error=goal, quantiles=SMALL_Q, repeats=reps, clean_model=clean)
    assert len(full.candidates) == len(SMALL_Q) * len(reps) > len(fast.candidates)
    assert (fast.settings["quantile"], fast.settings["repeats_chosen"]) == \
        (full.settings["quantile"], full.settings["repeats_chosen"])
    assert fast.clean_loss == pytest.approx(full.clean_loss, rel=1e-9)
    for q in SMALL_Q:
        losses = [c.clean_loss for c in full.candidates if c.quantile == q]
        assert all(b >= a - 1e-8 * a for a, b in zip(losses, losses[1:])), (q, losses)


def test_improved_refinds_points_under_the_updated_model(bc):
    data, clean = bc
    goal = _goal(data, clean)
    t = improved_target(data, error=goal, quantiles=SMALL_Q, repeats=SMALL_R, clean_model=clean)
    Xt, yt = data.X_test, data.y_test
    prev = clean
    for c in t.candidates:
        assert np.array_equal(c.flip, flip_set(yt * prev.decision_function(Xt), c.quantile))
        prev = c.model
    assert t.test_error >= goal
    assert t.clean_loss == pytest.approx(min(c.clean_loss for c in t.candidates if c.meets))
    # not Koh's fixed sets: some candidate flips points theta_c does not rank worst
    assert any(not np.array_equal(c.flip, flip_set(yt * clean.decision_function(Xt), c.quantile))
               for c in t.candidates)


@pytest.mark.parametrize("error", [0.10, pytest.param(0.15, marks=pytest.mark.slow)])
def test_improved_target_has_lower_clean_loss_on_mnist17(error):
    # Suya et al. Appendix C.1 (Table 4): at the same error goal the adaptive process finds a
    # valid target with a lower clean loss than Koh et al.'s; their MNIST 1-7 targets at 15%
    # error have total clean losses 5428.4 (Koh) and 4641.6 (improved).  Every number the
    # test compares is recomputed here by hand, independently of the sweep's bookkeeping.
    data = load_dataset("mnist17")
    X, y, Xt, yt, reg = data.X_train, data.y_train, data.X_test, data.y_test, data.reg
    clean = train(X, y, reg=reg)
    koh = koh_target(data, error=error, clean_model=clean)
    imp = improved_target(data, error=error, clean_model=clean)

    def objective_by_hand(w, b, Xa, ya, s):
        hinge = np.maximum(0.0, 1.0 - ya * (Xa @ w + b))
        return s @ hinge / s.sum() + reg / 2 * (w @ w + b * b)

    for t in (koh, imp):
        w, b = np.asarray(t.model.w), float(t.model.b)
        # its clean loss (mean hinge on Dc + C_R R) and test error
        assert t.clean_loss == pytest.approx(objective_by_hand(w, b, X, y, np.ones(len(y))),
                                             rel=1e-12)
        assert t.test_error == np.mean(np.where(Xt @ w + b >= 0, 1, -1) != yt) >= error
        # attainable: the minimiser of the training objective on Dc plus its recorded flipped
        # test points, up to the proven duality gaps (a fresh training from a cold start)
        idx, wts = np.asarray(t.settings["flip_index"]), np.asarray(t.settings["flip_weight"])
        Xa, ya = np.vstack([X, Xt[idx]]), np.concatenate([y, -yt[idx]])
        s = np.concatenate([np.ones(len(y)), wts])
        fresh = train(Xa, ya, reg=reg, sample_weight=s)
        assert (objective_by_hand(w, b, Xa, ya, s) - objective_by_hand(
            np.asarray(fresh.w), float(fresh.b), Xa, ya, s)) <= t.model.gap_ + fresh.gap_ + 1e-12
    # at least the reduction Suya et al. report (4641.6 / 5428.4 = 0.855)
    assert imp.clean_loss < 4641.6 / 5428.4 * koh.clean_loss


# ------------------------------------------------------------------- subpopulations
def test_clustermatch_subpopulations_match_an_independent_kmeans(bc):
    from sklearn.cluster import KMeans

    data, clean = bc
    subs = find_subpopulations(data, clean, k=6, random_state=0, label=-1, n_targets=None,
                               min_test=5)
    km = KMeans(n_clusters=6, random_state=0, n_init=10).fit(data.X_train)
    tst = km.predict(data.X_test)
    assert subs
    for s in subs:
        assert np.array_equal(s.train, np.flatnonzero((km.labels_ == s.cluster) & (data.y_train == -1)))
        assert np.array_equal(s.test, np.flatnonzero((tst == s.cluster) & (data.y_test == -1)))
        assert s.clean_test_accuracy == pytest.approx(np.mean(clean.predict(data.X_test[s.test]) == -1))
    accs = [s.clean_test_accuracy for s in subs]
    assert accs == sorted(accs, reverse=True)


def test_subpopulation_target_misclassifies_its_subpopulation(bc):
    data, clean = bc
    (t,) = subpopulation_targets(data, k=6, n_targets=1, min_test=5, clean_model=clean, **SUB_GRID)
    sp = t.subpop
    assert sp.clean_test_accuracy == 1.0 and sp.label == -1
    acc = np.mean(t.model.predict(data.X_test[sp.test]) == sp.label)
    assert acc == pytest.approx(t.subpop_accuracy) and acc <= 0.01
    assert t.settings["goal_met"]
    # only the subpopulation's training points were flipped, and the rule is min clean loss
    assert set(t.settings["flip_index"]) <= set(sp.train.tolist())
    assert t.clean_loss == pytest.approx(min(c.clean_loss for c in t.candidates if c.meets))


@pytest.mark.slow
def test_adult_subpopulation_targets():
    # Suya et al. section 5: k = 20, label "<=50K", the three best clusters of the clean model
    data = load_dataset("adult")
    # a reduced grid: heavily weighted retrainings are slow for the coordinate descent
    ts = subpopulation_targets(data, k=20, n_targets=3, random_state=0, label=-1,
                               quantiles=(0.5, 0.8, 1.0), repeats=(1, 2, 3, 5, 8, 12, 20, 30))
    assert len(ts) == 3 and len({t.subpop.cluster for t in ts}) == 3
    for t in ts:
        assert t.subpop.clean_test_accuracy == 1.0
        assert np.mean(t.model.predict(data.X_test[t.subpop.test]) == -1) <= 0.01


# ------------------------------------------------------------------- files
def test_save_load_roundtrip(bc, tmp_path):
    data, clean = bc
    (t,) = subpopulation_targets(data, k=6, n_targets=1, min_test=5, clean_model=clean,
                                 quantiles=(1.0,), repeats=(1, 2, 4, 8))
    path = tmp_path / "target.npz"
    t.save(path)
    u = Target.load(path)
    assert u.kind == "subpop" and u.settings == json.loads(json.dumps(t.settings))
    assert np.array_equal(u.model.w, t.model.w) and u.model.b == t.model.b
    assert u.clean_loss == t.clean_loss and u.subpop_accuracy == t.subpop_accuracy
    assert np.array_equal(u.subpop.train, t.subpop.train)
    assert np.array_equal(u.subpop["test"], t.subpop.test) and np.array_equal(u.subpop[1], t.subpop.test)
    # a model file (docs/training.md): w and b, readable as a plain model
    m = LinearModel.load(path)
    assert np.array_equal(m.w, t.model.w) and m.b == t.model.b and m.reg == data.reg
    # and a plain model file reads as a Target without settings
    clean.save(tmp_path / "clean.npz")
    p = Target.load(tmp_path / "clean.npz")
    assert p.kind == "model" and p.subpop is None and np.array_equal(p.model.w, clean.w)


def test_indiscriminate_target_roundtrip_has_no_subpop(bc, tmp_path):
    data, clean = bc
    t = koh_target(data, error=_goal(data, clean), quantiles=SMALL_Q, repeats=SMALL_R,
                   clean_model=clean)
    t.save(tmp_path / "t.npz")
    u = Target.load(tmp_path / "t.npz")
    assert u.kind == "koh" and u.subpop is None and u.subpop_accuracy is None
    assert u.test_error == t.test_error and u.settings["quantile"] == t.settings["quantile"]


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("error", [0, 1, 1.5, -0.1, float("nan"), "x"])
def test_error_goal_outside_unit_interval(bc, error):
    data, clean = bc
    with pytest.raises(InputError, match="^error"):
        koh_target(data, error=error, clean_model=clean)


@pytest.mark.parametrize("kwargs, word", [
    ({"model": "multisvm"}, "model"),
    ({"use": "validation"}, "use"),
    ({"quantiles": (0.0, 0.1)}, "quantiles"),
    ({"quantiles": (1.5,)}, "quantiles"),
    ({"repeats": (0, 1)}, "repeats"),
    ({"repeats": (1.5,)}, "repeats"),
    ({"error": 0.95, "quantiles": (0.05,), "repeats": (1,)}, "error"),   # goal unreachable
])
def test_bad_arguments_raise_input_error(bc, kwargs, word):
    data, clean = bc
    kwargs = {"error": 0.2, **kwargs}
    with pytest.raises(InputError, match=f"^{word}"):
        koh_target(data, clean_model=clean, **kwargs)


def test_subpop_bad_arguments(bc):
    data, clean = bc
    with pytest.raises(InputError, match="^label"):
        subpopulation_targets(data, k=4, label=2, clean_model=clean)
    with pytest.raises(InputError, match="^k"):
        subpopulation_targets(data, k=0, clean_model=clean)
    with pytest.raises(InputError, match="^cluster"):
        subpopulation_targets(data, k=4, cluster=99, clean_model=clean)


def test_label_flip_sweep_needs_a_grid(bc):
    data, clean = bc
    with pytest.raises(InputError, match="^quantiles"):
        label_flip_sweep(data.X_train, data.y_train, data.X_test, data.y_test, data.reg,
                         lambda m: (0.0, False), quantiles=(), clean_model=clean)


# ------------------------------------------------------------------- command line
def _cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_koh_json_and_file(capsys, tmp_path):
    out_file = tmp_path / "t.npz"
    code, out, _ = _cli(capsys, "target", "--dataset", "breast-cancer", "--model", "svm",
                        "--method", "koh", "--error", "0.12", "--quantiles", "0.05,0.1,0.2",
                        "--repeats", "1,2,4,8", "--json", "--out", str(out_file))
    assert code == 0
    res = json.loads(out)
    for key in ("clean_test_error", "target_test_error", "clean_loss", "seconds"):
        assert isinstance(res[key], float)
    assert res["target_test_error"] >= 0.12 and res["clean_test_error"] < 0.12
    t = Target.load(out_file)
    assert t.kind == "koh" and t.clean_loss == pytest.approx(res["clean_loss"])


def test_cli_subpop_reports_subpop_accuracy(capsys, tmp_path):
    code, out, _ = _cli(capsys, "target", "--dataset", "breast-cancer", "--method", "subpop",
                        "--clusters", "6", "--min-test", "5", "--json", "--no-progress",
                        "--quantiles", "0.5,1", "--repeats", "1,2,3,5,8",
                        "--out", str(tmp_path / "s.npz"))
    assert code == 0
    res = json.loads(out)
    assert res["subpop_accuracy"] <= 0.01 and res["subpop"]["clean_test_accuracy"] == 1.0
    assert Target.load(tmp_path / "s.npz").subpop.cluster == res["subpop"]["cluster"]


@pytest.mark.parametrize("argv, word", [
    (["--method", "random"], "--method"),
    (["--error", "1.5"], "--error"),
    (["--error", "0"], "--error"),
    (["--model", "multisvm"], "--model"),
    (["--repeats", "1,x"], "--repeats"),
    (["--method", "subpop", "--clusters", "4", "--cluster", "77"], "--cluster"),
])
def test_cli_bad_input_exits_2_naming_the_flag(capsys, argv, word):
    code, out, err = _cli(capsys, "target", "--dataset", "breast-cancer", "--json", *argv)
    assert code == 2 and out == ""
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and word in lines[0]
