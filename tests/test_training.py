"""The training layer: two independent exact methods agree; weights are copies."""
import numpy as np
import pytest

from convexpoison import InputError, LinearModel, objective, train
from conftest import make_blobs

MODELS = ["svm", "logreg"]


@pytest.mark.parametrize("model", MODELS)
def test_fast_matches_conic_solve(rng, model):
    X, y = make_blobs(rng, n=150, d=6)
    fast = train(X, y, model, reg=0.01)
    conic = train(X, y, model, reg=0.01, method="cvxpy")
    # both report the objective of their own iterate; the fast one is certified by its gap
    assert fast.objective_ == pytest.approx(conic.objective_, rel=1e-6)
    assert objective(fast, X, y) == pytest.approx(fast.objective_, rel=1e-12)
    assert 0 <= fast.gap_ <= 1e-8 * fast.objective_
    # strong convexity: |theta - theta*|^2 <= 2 gap / C_R, so parameters agree too
    assert np.linalg.norm(fast.theta - conic.theta) < 1e-3


def test_multiclass_matches_conic_solve(rng):
    n, d, k = 120, 4, 3
    y = rng.integers(0, k, n)
    X = rng.random((n, d)) + 0.8 * np.eye(k, d)[y]
    fast = train(X, y, "multisvm", reg=0.02)
    conic = train(X, y, "multisvm", reg=0.02, method="cvxpy")
    assert fast.w.shape == (k, d) and fast.b.shape == (k,)
    assert fast.objective_ == pytest.approx(conic.objective_, rel=1e-6)
    assert fast.error(X, y) < 0.2


@pytest.mark.parametrize("model", MODELS)
def test_weights_equal_duplicated_rows(rng, model):
    X, y = make_blobs(rng, n=80, d=4)
    k = rng.integers(1, 5, size=len(y))
    weighted = train(X, y, model, reg=0.05, sample_weight=k)
    repeated = train(np.repeat(X, k, axis=0), np.repeat(y, k), model, reg=0.05)
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-8)
    assert np.allclose(weighted.theta, repeated.theta, atol=1e-4)


def test_warm_start_reaches_same_optimum_with_fewer_epochs(rng):
    X, y = make_blobs(rng, n=300, d=8)
    base = train(X, y, "svm", reg=0.01)
    Xp = np.vstack([X, [[1.0] * 8]])
    yp = np.append(y, -1)
    w = np.append(np.ones(len(y)), 7.0)            # one poison row of weight 7
    cold = train(Xp, yp, "svm", reg=0.01, sample_weight=w)
    warm = train(Xp, yp, "svm", reg=0.01, sample_weight=w, warm_start=base)
    assert warm.objective_ == pytest.approx(cold.objective_, rel=1e-9)
    assert warm.n_iter_ <= cold.n_iter_


def test_bias_is_regularised(rng):
    # with the bias regularised, a huge C_R shrinks b toward 0 as well as w
    X, y = make_blobs(rng, n=60, d=3)
    y[:] = 1
    m = train(X, y, "svm", reg=100.0)
    assert m.bias_regularized
    assert abs(m.b) < 0.02 and np.linalg.norm(m.w) < 0.02
    assert m.regularizer() == pytest.approx(0.5 * (m.w @ m.w + m.b ** 2))


def test_model_file_roundtrip(tmp_path, rng):
    X, y = make_blobs(rng, n=50, d=3)
    m = train(X, y, "svm", reg=0.1)
    m.save(tmp_path / "m.npz")
    back = LinearModel.load(tmp_path / "m.npz")
    assert np.array_equal(back.w, m.w) and back.b == m.b and back.model == "svm"
    f = np.load(tmp_path / "m.npz")
    assert f["w"].shape == (3,) and f["b"].shape == ()


@pytest.mark.parametrize("bad, msg", [
    (dict(X=np.array([[np.nan, 1.0], [0, 1]]), y=[1, -1]), "NaN"),
    (dict(X=np.zeros((3, 2)), y=[1, -1]), "expected 3 labels"),
    (dict(X=np.zeros((2, 2)), y=[1, 3]), "outside {-1, +1}"),
    (dict(X=np.zeros((0, 2)), y=[]), "empty"),
    (dict(X=np.zeros((2, 2)), y=[1, -1], reg=-1.0), "reg"),
    (dict(X=np.zeros((2, 2)), y=[1, -1], model="tree"), "unknown model"),
    (dict(X=np.zeros((2, 2)), y=[1, -1], sample_weight=[1.0, -2.0]), "non-negative"),
])
def test_bad_input_is_named(bad, msg):
    kw = dict(model="svm", reg=0.1)
    kw.update(bad)
    with pytest.raises(InputError, match=msg.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        train(**kw)


def test_integer_domain_variable_gives_exact_milp():
    import cvxpy as cp

    from convexpoison import Domain
    from convexpoison.solvers import solve

    dom = Domain(np.zeros(4), np.array([3.0, 3, 1, 1]), integer=[True, False, True, True],
                 onehot_groups=[[2, 3]])
    x = dom.variable(integer=True)
    prob = cp.Problem(cp.Maximize(0.7 * x[0] + x[1] + 2 * x[2] - x[3]),
                      dom.constraints(x) + [x[0] + x[1] <= 2.5])
    info = solve(prob, "MILP")
    # x1 continuous takes what x0 (integer, worth less) leaves; one-hot picks coordinate 2
    assert info.value == pytest.approx(2.5 + 2.0)
    assert x.value[2] == pytest.approx(1) and x.value[3] == pytest.approx(0)


def random_weighted_problem(rng):
    """A random binary problem with rows of weight 10, 100 and 1000 (MTP's copies), or
    None when the draw has one class only (also used by test_defender)."""
    n, d = int(rng.integers(30, 200)), int(rng.integers(2, 25))
    X = rng.random((n, d))
    y = np.where(X @ rng.normal(size=d) + rng.normal(scale=0.5, size=n)
                 > np.median(X @ rng.normal(size=d)), 1, -1)
    if len(set(y)) < 2:
        return None
    s = np.ones(n)
    s[rng.choice(n, size=3, replace=False)] = [10.0, 100.0, 1000.0]
    return X, y, s


def test_shrinking_and_polish_are_exact_on_ill_conditioned_weighted_problems():
    """Tiny C_R and rows weighted up to 1000 (MTP's poison copies) make the dual box huge
    and coordinate descent slow; the shrinking rounds, the polish and the full-epoch
    fallback must still reach the optimum (an independent conic solve), warm or cold."""
    rng = np.random.default_rng(0)
    for case in range(12):
        problem = random_weighted_problem(rng)
        if problem is None:
            continue
        X, y, s = problem
        d = X.shape[1]
        reg = 10 ** rng.uniform(-4, -1)
        prev = train(X, y, "svm", reg, sample_weight=s)
        for _ in range(3):                      # MTP-like appends, warm-started
            X = np.vstack([X, rng.random((1, d))])
            y, s = np.append(y, rng.choice([-1, 1])), np.append(s, rng.choice([1.0, 50.0]))
            prev = train(X, y, "svm", reg, sample_weight=s, warm_start=prev)
        conic = train(X, y, "svm", reg, sample_weight=s, method="cvxpy")
        f_fast, f_conic = objective(prev, X, y, s, reg), objective(conic, X, y, s, reg)
        assert f_fast == pytest.approx(f_conic, rel=1e-6), case
        assert 0 <= prev.gap_ <= 1e-10 * f_fast * 1.0001


def test_choose_reg_reproduces_the_bundled_default():
    # the cross-validation that chose data/reg.json, now in the package: the same CV
    # errors (stored in data/reg.json when it was written) and the same choice
    import json
    from pathlib import Path

    from convexpoison.datasets import load_dataset
    from convexpoison.training import REG_GRID, choose_reg

    stored = json.loads((Path(__file__).resolve().parent.parent / "data" / "reg.json")
                        .read_text())["breast-cancer"]
    ds = load_dataset("breast-cancer")
    chosen, cv = choose_reg(ds.X_train, ds.y_train, "svm")
    assert chosen == stored["reg"] == ds.reg
    for c in REG_GRID:
        assert cv[c] == pytest.approx(stored["cv"][repr(c)], abs=1e-12)


def test_choose_reg_needs_two_rows_per_class(rng):
    X, y = make_blobs(rng, n=20, d=2)
    y[:] = 1
    y[0] = -1
    with pytest.raises(InputError, match="two rows of every class"):
        from convexpoison.training import choose_reg

        choose_reg(X, y)
