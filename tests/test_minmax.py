"""The min-max attack: the inner maximiser against brute force over box vertices, a second
solver and the exact fast path; DPP re-solve == fresh build; the decoy constraint holds;
loss subgradients; every iterate value is above the certified program's optimum (weak
duality of the saddle problem (21)); binary, multi-class and the integer path on digits17;
the command line."""
import itertools
import json

import numpy as np
import pytest

from convexpoison.attacks.minmax import MinMaxAttack, loss_and_gradient
from convexpoison.datasets import from_arrays
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import make_feasible_set
from convexpoison.losses import multiclass_hinge
from convexpoison.programs.inner import InnerMaximizer, box_ball_argmax
from convexpoison.training import LinearModel, objective, train

REG = 0.05


def blobs(rng, n=120, d=4, k=2, shift=0.12):
    y = rng.integers(0, k, n)
    centres = 0.5 + shift * rng.standard_normal((k, d))
    X = np.clip(centres[y] + 0.15 * rng.standard_normal((n, d)), 0, 1)
    return X, (np.where(y == 1, 1, -1) if k == 2 else y)


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(3)
    Xtr, ytr = blobs(rng)
    Xte, yte = blobs(rng, n=80)
    return from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(4), reg=REG)


def vertices(d):
    return np.array(list(itertools.product((0.0, 1.0), repeat=d)))


# ----------------------------------------------------------------------- inner maximiser
def test_box_ball_argmax_matches_conic_solvers(rng):
    import cvxpy as cp

    for trial in range(30):
        d = int(rng.integers(1, 12))
        lo, hi = np.zeros(d), np.full(d, rng.uniform(0.5, 2))
        mu = rng.uniform(lo, hi)
        tau = rng.uniform(0.05, 1.2) * np.sqrt(d) / 2
        g = rng.standard_normal(d) * (rng.random(d) < 0.8)
        x = box_ball_argmax(g, lo, hi, mu, tau)
        assert np.all(x >= lo) and np.all(x <= hi)
        assert np.linalg.norm(x - mu) <= tau * (1 + 1e-9) + 1e-12
        z = cp.Variable(d)
        prob = cp.Problem(cp.Maximize(g @ z), [z >= lo, z <= hi, cp.norm(z - mu) <= tau])
        for solver in ("CLARABEL", "ECOS"):
            prob.solve(solver=solver)
            assert g @ x == pytest.approx(prob.value, rel=1e-6, abs=1e-6)


def test_binary_box_inner_max_equals_brute_force(rng, binary):
    fs = make_feasible_set("domain", binary.domain, binary.X_train, binary.y_train)
    V = vertices(4)
    for method in ("auto", "cvxpy"):
        inner = InnerMaximizer(fs, (-1, 1), model="svm", method=method)
        assert inner.fast == (method == "auto")
        for _ in range(4):
            w, b = rng.standard_normal(4), rng.standard_normal()
            res = inner.maximize(w, b)
            brute = max(np.maximum(0, 1 - lab * (V @ w + b)).max() for lab in (-1, 1))
            assert res.loss == pytest.approx(brute, rel=1e-7, abs=1e-7)
            assert max(0, 1 - res.y * (res.x @ w + b)) == pytest.approx(res.loss, abs=1e-7)


def test_multiclass_box_inner_max_equals_brute_force(rng):
    k, d = 3, 3
    X, y = blobs(rng, n=60, d=d, k=k)
    fs = make_feasible_set("domain", Domain.box(d), X, y)
    V = vertices(d)
    for method in ("auto", "cvxpy"):
        inner = InnerMaximizer(fs, range(k), model="multisvm", method=method)
        for _ in range(3):
            W, b = rng.standard_normal((k, d)), rng.standard_normal(k)
            res = inner.maximize(W, b)
            brute = max(multiclass_hinge(W, b, V, np.full(len(V), lab)).max() for lab in range(k))
            assert res.loss == pytest.approx(brute, rel=1e-7, abs=1e-7)
            at = multiclass_hinge(W, b, res.x[None], np.array([res.y]))[0]
            assert at == pytest.approx(res.loss, abs=1e-7)


def test_sphere_inner_max_fast_path_equals_programs_and_samples(rng, binary):
    Xc, yc = binary.X_train, binary.y_train
    fs = make_feasible_set("domain,l2", binary.domain, Xc, yc, quantile=0.9)
    fast = InnerMaximizer(fs, (-1, 1), method="auto")
    prog = InnerMaximizer(fs, (-1, 1), method="cvxpy")
    ecos = InnerMaximizer(fs, (-1, 1), method="cvxpy", solver="ECOS")
    assert fast.fast and not prog.fast
    for _ in range(4):
        w, b = 3 * rng.standard_normal(4), rng.standard_normal()
        a, p, e = fast.maximize(w, b), prog.maximize(w, b), ecos.maximize(w, b)
        assert a.loss == pytest.approx(p.loss, rel=1e-6, abs=1e-6)
        assert p.loss == pytest.approx(e.loss, rel=1e-6, abs=1e-6)
        # no feasible sample does better
        for lab in (-1, 1):
            S = rng.uniform(0, 1, (3000, 4))
            S = S[fs.contains(S, lab, tol=0)]
            assert np.maximum(0, 1 - lab * (S @ w + b)).max(initial=0) <= a.loss + 1e-9


def test_slab_and_decoy_constraints_hold_and_cost(rng, binary):
    Xc, yc = binary.X_train, binary.y_train
    fs = make_feasible_set("domain,l2,slab", binary.domain, Xc, yc, quantile=0.9)
    flip = np.where(rng.random(len(yc)) < 0.15, -yc, yc)
    decoy = train(Xc, flip, reg=REG)                # a decoy: some labels flipped
    basic = InnerMaximizer(fs, (-1, 1))
    withd = InnerMaximizer(fs, (-1, 1), decoy=decoy, tau=0.25)
    assert not basic.fast and not withd.fast
    w, b = rng.standard_normal(4), 0.1
    rb, rd = basic.maximize(w, b), withd.maximize(w, b)
    assert rd.loss <= rb.loss + 1e-7
    assert fs.contains(rd.x, rd.y, tol=1e-6)[0]
    assert max(0, 1 - rd.y * (rd.x @ decoy.w + decoy.b)) <= 0.25 + 1e-6
    # a decoy with loss 1 everywhere leaves no feasible point: a clear error, not a crash
    flat = LinearModel(np.zeros(4), 0.0)
    with pytest.raises(InputError, match="empty under the decoy"):
        InnerMaximizer(fs, (-1, 1), decoy=flat, tau=0.25).maximize(w, b)


def test_dpp_resolve_equals_fresh_build(rng, binary):
    Xc, yc = binary.X_train, binary.y_train
    fs = make_feasible_set("domain,l2,slab", binary.domain, Xc, yc, quantile=0.9)
    flip = np.where(rng.random(len(yc)) < 0.15, -yc, yc)
    d1, d2 = train(Xc, flip, reg=REG), train(Xc, flip, reg=3 * REG)
    inner = InnerMaximizer(fs, (-1, 1), decoy=d1)
    w1, w2 = rng.standard_normal(4), rng.standard_normal(4)
    inner.maximize(w1, 0.3)
    inner.set_decoy(d2)
    again = inner.maximize(w2, -0.2)
    fresh = InnerMaximizer(fs, (-1, 1), decoy=d2).maximize(w2, -0.2)
    assert again.loss == pytest.approx(fresh.loss, rel=1e-7, abs=1e-7)
    assert again.y == fresh.y


def test_multiclass_decoy_constraint(rng):
    k, d = 3, 4
    X, y = blobs(rng, n=90, d=d, k=k)
    fs = make_feasible_set("domain,l2", Domain.box(d), X, y, quantile=0.9)
    flip = np.where(rng.random(len(y)) < 0.15, (y + 1) % k, y)
    decoy = train(X, flip, model="multisvm", reg=REG)
    inner = InnerMaximizer(fs, range(k), model="multisvm", decoy=decoy, tau=0.25)
    res = inner.maximize(rng.standard_normal((k, d)), rng.standard_normal(k))
    assert multiclass_hinge(decoy.w, decoy.b, res.x[None], np.array([res.y]))[0] <= 0.25 + 1e-6
    with pytest.raises(InputError, match="decoy"):
        binary_decoy = train(X[y < 2], np.where(y[y < 2] == 1, 1, -1), reg=REG)
        InnerMaximizer(fs, range(k), model="multisvm", decoy=binary_decoy)


# ----------------------------------------------------------------------------- losses
@pytest.mark.parametrize("model", ["svm", "logreg", "multisvm"])
def test_loss_and_subgradient(rng, model):
    k = 3 if model == "multisvm" else 2
    X, y = blobs(rng, n=50, d=3, k=k)
    if model == "multisvm":
        W, b = rng.standard_normal((k, 3)), rng.standard_normal(k)
        loss = lambda W, b: multiclass_hinge(W, b, X, y).mean()    # noqa: E731
    else:
        W, b = rng.standard_normal(3), rng.standard_normal()
        lm = lambda W, b: LinearModel(W, b, model)                   # noqa: E731
        loss = lambda W, b: lm(W, b).losses(X, y).mean()             # noqa: E731
    L, gW, gb = loss_and_gradient(model, W, b, X, y)
    assert L == pytest.approx(loss(W, b), rel=1e-12)
    # subgradient inequality (convexity) at random other parameters
    for _ in range(20):
        dW, db = rng.standard_normal(np.shape(W)), rng.standard_normal(np.shape(b))
        assert loss(W + dW, b + db) >= L + np.sum(gW * dW) + np.sum(gb * db) - 1e-10
    if model == "logreg":      # smooth: finite differences
        h = 1e-6
        e = np.zeros(3)
        e[0] = h
        assert (loss(W + e, b) - loss(W - e, b)) / (2 * h) == pytest.approx(gW[0], rel=1e-5)


# ----------------------------------------------------------------------------- attack
def test_iterate_values_are_above_the_saddle_value(binary):
    """Every U_t = F(theta_t) >= min_theta F = the certified program's optimum (21), and
    >= the clean training objective at theta_t; the loop gets within reach of the optimum."""
    from convexpoison.certificates.upper_bound import CertifiedUpperBound

    att = MinMaxAttack(0.05, decoy=None, defenses="l2,slab", burn_in=60, progress=None)
    att.fit(binary)
    res = att.result_
    U = np.array(res.best.iterate_values)
    eps = res.settings["epsilon_used"]
    cert = CertifiedUpperBound(att.feasible_set_, REG, eps).fit(binary.X_train, binary.y_train)
    lower = cert.result_.program_lower_bound
    assert np.all(U >= lower - 1e-9)
    assert U.min() <= 1.02 * cert.result_.program_value        # the online loop approaches it
    clean = att.clean_model_
    assert np.all(U >= objective(clean, binary.X_train, binary.y_train) - clean.gap_ - 1e-12)
    d = res.to_dict()
    assert d["n_poisons"] == np.floor(0.05 * binary.n_train)
    assert d["variant"] == "minmax-basic" and len(d["upper_bound_iterates"]) == 60 + 6
    assert binary.domain.contains(res.poisons.X).all()
    assert att.feasible_set_.contains(res.best.continuous.X, res.best.continuous.y, tol=1e-6).all()
    Xp, yp = att.poison(binary.X_train, binary.y_train)
    assert Xp.shape == (6, 4) and set(yp) <= {-1, 1}


def test_decoy_run_points_satisfy_the_decoy_constraint(binary):
    att = MinMaxAttack(0.05, decoy="auto", defenses="l2,loss", max_decoys=2,
                       decoy_repeats=(2, 8), decoy_quantiles=(0.1, 0.3), burn_in=20)
    att.fit(binary)
    res = att.result_
    assert len(res.runs) == len(att.decoys_) >= 1
    for run in res.runs:
        dm = att.decoys_[run.decoy].model
        c = run.continuous
        assert np.all(np.maximum(0, 1 - c.y * (c.X @ dm.w + dm.b)) <= 0.25 + 1e-6)
    d = res.to_dict()
    assert d["variant"] == "minmax" and set(d["per_defense"]) == {"l2", "loss"}
    assert d["poisoned_test_error"] == min(d["per_defense"].values())


def test_multiclass_attack_runs_and_picks_labels(rng):
    Xtr, ytr = blobs(rng, n=150, d=4, k=3)
    Xte, yte = blobs(rng, n=60, d=4, k=3)
    data = from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(4), reg=REG)
    att = MinMaxAttack(0.04, defenses="l2", burn_in=10, decoy="none")
    att.fit(data)
    ps = att.poisons_
    assert ps.n_poisons == 6 and set(ps.y) <= {0, 1, 2}
    assert att.result_.settings["model"] == "multisvm"
    assert att.result_.best.decoy is None          # min-max-basic (multi-class decoys:
    #                                                tests/test_minmax_multiclass.py)
    assert np.all(np.array(att.result_.best.iterate_values) > 0)


def test_digits17_integer_path_gives_integer_points_in_the_domain():
    from convexpoison.datasets import load_dataset
    from convexpoison.integer import ExpectedL2Sphere

    data = load_dataset("digits17")
    att = MinMaxAttack(0.05, decoy=None, defenses="l2", burn_in=6, repeat_points=2,
                       random_state=1)
    att.fit(data)
    ps = att.poisons_
    assert isinstance(att.feasible_set_["l2"], ExpectedL2Sphere)
    assert data.domain.contains(ps.X, tol=0).all()
    assert np.array_equal(ps.X, np.rint(ps.X))
    assert ps.n_poisons == np.floor(0.05 * data.n_train)
    cont = att.result_.best.continuous
    assert att.result_.settings["copies"] == 2 and cont.n_poisons == ps.n_poisons
    assert not np.array_equal(cont.X, np.rint(cont.X))     # the relaxation was fractional
    assert att.result_.to_dict()["integer_path"] is True


def test_bad_inputs(binary):
    with pytest.raises(InputError, match="epsilon"):
        MinMaxAttack(0.001).fit(binary)
    with pytest.raises(InputError, match="feasible"):
        MinMaxAttack(0.05, feasible="loss", decoy=None).fit(binary)
    with pytest.raises(InputError, match="decoy"):
        MinMaxAttack(0.05, decoy="sometimes").fit(binary)


# ------------------------------------------------------------------------------- CLI
def test_cli_json_and_poison_file(tmp_path, capsys):
    from convexpoison.cli import main
    from convexpoison.poisons import PoisonSet

    out = tmp_path / "p.npz"
    rc = main(["attack", "minmax", "--dataset", "digits17", "--epsilon", "0.03", "--decoy", "none",
               "--defense", "l2", "--burn-in", "4", "--json", "--out", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("clean_test_error", "poisoned_test_error", "per_defense", "n_poisons", "seconds",
                "upper_bound_iterates", "best_iterate_value"):
        assert key in res
    ps = PoisonSet.load(out)
    assert ps.n_poisons == res["n_poisons"] == 7
    assert np.array_equal(ps.X, np.rint(ps.X))
    assert main(["attack", "minmax", "--dataset", "digits17", "--epsilon", "0.03", "--tau", "-1",
                 "--json"]) == 2
    assert "--tau" in capsys.readouterr().err
    assert main(["attack", "minmax", "--dataset", "digits17", "--epsilon", "0.03", "--decoy",
                 str(tmp_path / "missing.npz"), "--json"]) == 2


def test_ready_feasible_set_is_used_as_is(binary):
    """``feasible=`` a FeasibleSet from make_feasible_set: fitted on Dc with the attack's
    quantile it gives exactly the attack's own poison; fitted tighter (quantile 0.5) every
    point lies inside it (the attack's own looser set does not force that); a set with
    a loss component or of another dimension is refused."""
    X, y = binary.X_train, binary.y_train
    kw = dict(decoy=None, defenses="l2,slab", burn_in=20, progress_bar=False)
    own = MinMaxAttack(0.05, feasible="l2,slab", quantile=0.9, **kw).fit(binary)
    fs = make_feasible_set(["domain", "l2", "slab"], binary.domain, X, y, quantile=0.9)
    ready = MinMaxAttack(0.05, feasible=fs, **kw).fit(binary)
    for a, b in ((own.poisons_.X, ready.poisons_.X), (own.poisons_.y, ready.poisons_.y),
                 (own.poisons_.weight, ready.poisons_.weight)):
        np.testing.assert_array_equal(a, b)
    assert ready.result_.to_dict()["feasible"] == ["domain", "l2", "slab"]

    tight = make_feasible_set(["domain", "l2"], binary.domain, X, y, quantile=0.5)
    ps = MinMaxAttack(0.05, feasible=tight, **kw).fit(binary).poisons_
    assert tight.contains(ps.X, ps.y).all()
    loose = MinMaxAttack(0.05, feasible="l2", **kw).fit(binary).poisons_
    assert not tight.contains(loose.X, loose.y).all()
    with_loss = make_feasible_set(["l2", "loss"], None, X, y, decoy=train(X, y, reg=REG))
    with pytest.raises(InputError, match="'loss'"):
        MinMaxAttack(0.05, feasible=with_loss, **kw).fit(binary)


def test_near_degenerate_poison_trails_do_not_abort_the_attack(capsys):
    """Regression: with one decoy (repeats 1,3; quantiles 0.1,0.2) the min-max iterates on
    breast-cancer form a trail of nearly collinear points on the margin; coordinate
    descent then stalls at a relative duality gap ~1e-5 instead of 1e-10.  Training
    returns that model with a warning and its true (proven) gap instead of aborting."""
    import warnings

    from convexpoison.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = main(["attack", "minmax", "--dataset", "breast-cancer", "--epsilon", "0.03",
                     "--max-decoys", "1", "--decoy-repeats", "1,3",
                     "--decoy-quantiles", "0.1,0.2", "--json", "--no-progress"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["poisoned_test_error"] >= res["clean_test_error"]
