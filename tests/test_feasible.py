"""Feasible-set components: numpy membership agrees with the cvxpy constraints, thresholds
remove the right fraction, DPP programs survive refits, cone (scaled) forms, SVD rank rule,
emptiness detection and name handling."""
import math

import cvxpy as cp
import numpy as np
import pytest

from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import (
    DomainSet, FeasibleSet, L2Sphere, LossBound, SVDResidual, Slab, make_feasible_set,
    quantile_thresholds, svd_rank,
)
from convexpoison.solvers import solve


class Decoy:
    def __init__(self, w, b):
        self.w, self.b = np.asarray(w, float), float(b)


def blobs(rng, n=160, d=6, shift=0.1):
    y = np.where(rng.random(n) < 0.5, -1, 1)
    X = 0.5 + 0.15 * rng.standard_normal((n, d)) + shift * y[:, None]
    return np.clip(X, 0, 1), y


def decoy_for(X, y):
    v = X[y == 1].mean(0) - X[y == -1].mean(0)
    w = 4 * v / np.linalg.norm(v)
    return Decoy(w, -float(w @ X.mean(0)))


def components(X, y, quantile=0.95):
    """One fitted instance of every component (continuous domain)."""
    d = X.shape[1]
    return {
        "domain": DomainSet(Domain.box(d, 0.0, 1.0)),
        "l2": L2Sphere(quantile).fit(X, y),
        "slab": Slab(quantile).fit(X, y),
        "svd": SVDResidual(quantile, rel_error=0.05).fit(X, y),
        "loss": LossBound(decoy_for(X, y), quantile=quantile).fit(X, y),
    }


NAMES = ["domain", "l2", "slab", "svd", "loss"]


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X, y = blobs(rng)
    return X, y


def probe_points(rng, X, y, label, m=24):
    """Points near and far from the class: data rows, pushed-out rows, random box points."""
    Xl = X[y == label]
    base = Xl[rng.integers(0, len(Xl), m)]
    push = base + rng.normal(0, 0.25, base.shape)
    return np.vstack([base[: m // 3], push[: m // 3], rng.uniform(-0.2, 1.2, (m // 3, X.shape[1]))])


def _margin_ok(comp, P, label, rel=1e-3):
    """Rows with unambiguous membership: inside, or outside by more than ``rel``."""
    s = comp.score(P, np.full(len(P), label))
    t = comp.threshold_of(np.full(len(P), label))
    return (s <= t) | (s > t + rel * np.maximum(1, np.abs(t)))


# ---------------------------------------------------------------------------- thresholds
def test_quantile_thresholds_inverted_cdf_and_weights_as_copies():
    rng = np.random.default_rng(0)
    s = rng.random(57)
    y = np.where(rng.random(57) < 0.4, -1, 1)
    th = quantile_thresholds(s, y, 0.9)
    for lab in (-1, 1):
        assert th[lab] == np.quantile(s[y == lab], 0.9, method="inverted_cdf")
    w = rng.integers(1, 4, 57)
    thw = quantile_thresholds(s, y, 0.9, sample_weight=w)
    threp = quantile_thresholds(np.repeat(s, w), np.repeat(y, w), 0.9)
    assert thw == threp
    # 0.95 * 20 = 19.000000000000004 in floating point: still exactly one of 20 removed
    s20 = np.arange(20.0)
    assert quantile_thresholds(s20, np.ones(20), 0.95)[1] == 18.0


@pytest.mark.parametrize("name", ["l2", "slab", "svd", "loss"])
@pytest.mark.parametrize("quantile", [0.95, 0.9])
def test_fraction_outside_per_class(data, name, quantile):
    X, y = data
    comp = components(X, y, quantile)[name]
    out = comp.score(X, y) > comp.threshold_of(y)
    for lab in (-1, 1):
        n = int(np.sum(y == lab))
        expected = n - math.ceil(quantile * n - 1e-9)
        assert out[y == lab].sum() == expected
        assert expected >= 1 and abs(expected / n - (1 - quantile)) < 1.0 / n
    assert np.array_equal(comp.contains(X, y, tol=0.0), ~out)


def test_breast_cancer_all_components():
    import convexpoison

    data = convexpoison.load_dataset("breast-cancer")
    X, y = data.X_train, data.y_train
    decoy = convexpoison.train(X, y, model="svm", reg=data.reg)
    fs = make_feasible_set(["domain", "l2", "slab", "svd", "loss"], data.domain, X, y, decoy=decoy)
    for c in fs.components[1:]:
        out = c.score(X, y) > c.threshold_of(y)
        for lab in (-1, 1):
            n = int(np.sum(y == lab))
            assert out[y == lab].sum() == n - math.ceil(0.95 * n - 1e-9)
    assert fs.contains(X, y).mean() > 0.8
    pts = fs.check_nonempty([-1, 1])
    for lab, p in pts.items():
        assert fs.contains(p[None], lab, tol=1e-6)[0]


# ---------------------------------------------------------------------------- numpy vs cvxpy
@pytest.mark.parametrize("name", NAMES)
def test_contains_agrees_with_projection(data, name):
    X, y = data
    rng = np.random.default_rng(5)
    comp = components(X, y)[name]
    fs = FeasibleSet([comp])
    for lab in (-1, 1):
        P = probe_points(rng, X, y, lab)
        keep = _margin_ok(comp, P, lab)
        inside = comp.contains(P, lab)
        assert inside[keep].any() and (~inside[keep]).any()
        proj = fs.project(P, lab)
        dist = np.linalg.norm(proj - P, axis=1)
        # inside by numpy  <=>  the cvxpy projection does not move the point
        assert np.array_equal((dist < 1e-4)[keep], inside[keep])
        # and the projections are inside by numpy
        assert comp.contains(proj, lab, tol=1e-6).all()


@pytest.mark.parametrize("name", ["domain", "l2", "slab", "loss"])
def test_contains_agrees_with_constraint_values(data, name):
    """Components without auxiliary variables: evaluate the constraints at fixed x."""
    X, y = data
    rng = np.random.default_rng(6)
    comp = components(X, y)[name]
    x = cp.Variable(X.shape[1])
    for lab in (-1, 1):
        cons = comp.constraints(x, lab)
        P = probe_points(rng, X, y, lab)
        keep = _margin_ok(comp, P, lab)
        for p, k, inside in zip(P, keep, comp.contains(P, lab)):
            x.value = p
            if k:
                assert all(c.value(tolerance=1e-9) for c in cons) == inside
        # numeric constant x works too
        p0 = X[y == lab][0]
        cons0 = comp.constraints(p0, lab)
        assert all(c.value(tolerance=1e-9) for c in cons0) == comp.contains(p0[None], lab, tol=1e-9)[0]


def test_projection_second_solver(data):
    """The projection through Clarabel agrees with ECOS (compare solvers: docs/install.md)."""
    X, y = data
    fs = FeasibleSet(list(components(X, y).values()))
    P = probe_points(np.random.default_rng(7), X, y, 1, m=9)
    a = fs.project(P, 1, solver="CLARABEL")
    b = fs.project(P, 1, solver="ECOS")
    assert np.allclose(a, b, atol=1e-5)
    assert fs.contains(a, 1, tol=1e-6).all()


# ---------------------------------------------------------------------------- scaled (cone) form
@pytest.mark.parametrize("name", NAMES)
def test_scaled_cone_version(data, name):
    X, y = data
    rng = np.random.default_rng(8)
    comp = components(X, y)[name]
    d = X.shape[1]
    g = cp.Variable(name="gamma")
    z = cp.Variable(d)
    z0 = cp.Parameter(d)
    for lab in (-1, 1):
        P = probe_points(rng, X, y, lab, m=12)
        keep = _margin_ok(comp, P, lab)
        inside = comp.contains(P, lab)
        # (a) gamma a Variable fixed at 2 by a constraint; the program is DPP
        cons = FeasibleSet([comp]).constraints(z, lab, scale=g)
        prob = cp.Problem(cp.Minimize(cp.sum_squares(z - z0)), cons + [g == 2])
        assert prob.is_dcp(dpp=True)
        # (b) gamma the constant 2
        prob2 = cp.Problem(cp.Minimize(cp.sum_squares(z - z0)), comp.constraints(z, lab, scale=2.0))
        for p, k, ins in zip(P, keep, inside):
            if not k:
                continue
            z0.value = 2 * p
            for pr in (prob, prob2):
                solve(pr, "SOCP")
                moved = np.linalg.norm(z.value - 2 * p)
                assert (moved < 1e-4) == ins
                # z/2 is in the unscaled set
                assert comp.contains(z.value[None] / 2, lab, tol=1e-6)[0]


@pytest.mark.parametrize("name", ["domain", "l2", "slab", "loss"])
def test_scaled_constraint_values(data, name):
    X, y = data
    rng = np.random.default_rng(9)
    comp = components(X, y)[name]
    g, z = cp.Variable(), cp.Variable(X.shape[1])
    for lab in (-1, 1):
        cons = comp.constraints(z, lab, scale=g)
        P = probe_points(rng, X, y, lab)
        keep = _margin_ok(comp, P, lab)
        for p, k, ins in zip(P, keep, comp.contains(P, lab)):
            if k:
                g.value, z.value = 2.0, 2 * p
                assert all(c.value(tolerance=1e-9) for c in cons) == ins
                g.value, z.value = 0.5, 0.5 * p
                assert all(c.value(tolerance=1e-9) for c in cons) == ins


# ---------------------------------------------------------------------------- DPP
def _max_program(fs, lab, c, scaled=False):
    x = fs.variable()
    if scaled:
        g = cp.Variable()
        cons = fs.constraints(x, lab, scale=g) + [g <= 1.5]
        return cp.Problem(cp.Maximize(c @ x + 5 * g), cons)
    return cp.Problem(cp.Maximize(c @ x), fs.constraints(x, lab))


@pytest.mark.parametrize("scaled", [False, True])
def test_dpp_program_valid_after_refit(scaled):
    rng = np.random.default_rng(2)
    X1, y1 = blobs(rng, n=150, d=6, shift=0.1)
    X2, y2 = blobs(rng, n=170, d=6, shift=0.2)
    X2 = np.clip(X2 * 0.8 + 0.1, 0, 1)
    dom = Domain.box(6, 0.0, 1.0)
    names = ["domain", "l2", "slab", "svd", "loss"]
    c = rng.standard_normal(6)
    fs = make_feasible_set(names, dom, X1, y1, decoy=decoy_for(X1, y1), quantile=0.9)
    fs.check_dpp()
    progs = {lab: _max_program(fs, lab, c, scaled) for lab in (-1, 1)}
    before = {}
    for lab, pr in progs.items():
        assert pr.is_dcp(dpp=True)
        before[lab] = solve(pr, "SOCP").value
    # refit every component on other data (and swap the decoy in place)
    fs.fit(X2, y2)
    fs["loss"].set_model(decoy_for(X2, y2)).fit(X2, y2)
    fresh = make_feasible_set(names, dom, X2, y2, decoy=decoy_for(X2, y2), quantile=0.9)
    for lab, pr in progs.items():
        cache = getattr(pr, "_cache", None)
        prog0 = getattr(cache, "param_prog", None)
        after = solve(pr, "SOCP").value
        if prog0 is not None:  # no recompilation: the parametrised program is reused
            assert pr._cache.param_prog is prog0
        ref = solve(_max_program(fresh, lab, c, scaled), "SOCP").value
        assert after == pytest.approx(ref, abs=1e-6, rel=1e-6)
        assert abs(after - before[lab]) > 1e-3  # the refit mattered


def test_constraints_reject_non_dpp_and_bad_inputs(data):
    X, y = data
    comps = components(X, y)
    x = cp.Variable(X.shape[1])
    p = cp.Parameter(nonneg=True, value=1.0)
    with pytest.raises(InputError, match="DPP"):
        comps["l2"].constraints(x, 1, scale=p)  # parameter x parameter
    # the one DPP check (solvers.assert_dpp) raises the same error for a whole program
    from convexpoison import solvers

    with pytest.raises(InputError, match="DPP"):
        solvers.assert_dpp(cp.Problem(cp.Minimize(p * p * cp.sum(x)), [x >= 0]), "test program")
    with pytest.raises(InputError, match="shape"):
        comps["slab"].constraints(cp.Variable(3), 1)
    with pytest.raises(InputError, match="label 3"):
        comps["l2"].constraints(x, 3)
    with pytest.raises(InputError, match="scale"):
        comps["l2"].constraints(x, 1, scale=-1.0)
    with pytest.raises(InputError, match="fit"):
        L2Sphere().constraints(x, 1)
    with pytest.raises(InputError, match="binary"):
        LossBound(Decoy(np.ones(X.shape[1]), 0.0), tau=0.5).constraints(x, 2)


# ---------------------------------------------------------------------------- component specifics
def test_svd_rank_rule():
    rng = np.random.default_rng(3)
    n, d = 40, 8
    sv = np.array([10.0, 5.0, 2.0, 1.0, 0.6, 0.3, 0.1, 0.05])
    U = np.linalg.qr(rng.standard_normal((n, d)))[0]
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = U @ np.diag(sv) @ V.T
    y = np.where(np.arange(n) % 2 == 0, -1, 1)
    tot = np.sum(sv ** 2)
    err = lambda k: np.sum(sv[k:] ** 2) / tot  # squared normalised Frobenius error of X_k
    for rel, squared in [(0.05, True), (0.01, True), (0.05, False), (0.2, False)]:
        f = (lambda k: err(k)) if squared else (lambda k: np.sqrt(err(k)))
        k = SVDResidual(rel_error=rel, squared=squared).fit(X, y).rank_
        assert f(k) < rel and (k == 0 or f(k - 1) >= rel)
        assert k == svd_rank(sv, rel, squared)
    # the paper's rule at 0.05 gives k=2 here, the unsquared ratio k=5
    assert svd_rank(sv, 0.05, True) == 2 and svd_rank(sv, 0.05, False) == 5
    comp = SVDResidual(rel_error=0.05).fit(X, y)
    Vk = comp.components_
    assert np.allclose(Vk @ Vk.T, np.eye(comp.rank_))
    assert np.allclose(np.abs(Vk @ V[:, : comp.rank_]), np.eye(comp.rank_), atol=1e-8)
    x = rng.standard_normal((5, d))
    assert np.allclose(comp.score(x, np.ones(5)), np.linalg.norm(x - x @ Vk.T @ Vk, axis=1))
    # weights act as copies of rows
    w = rng.integers(1, 4, n)
    a = SVDResidual(rel_error=0.01).fit(X, y, sample_weight=w)
    b = SVDResidual(rel_error=0.01).fit(np.repeat(X, w, 0), np.repeat(y, w))
    assert a.rank_ == b.rank_ and a.thresholds_ == pytest.approx(b.thresholds_)


@pytest.mark.parametrize("n, d", [(30, 50), (60, 12)])
@pytest.mark.parametrize("gram", [True, False])
def test_svd_defense_matches_lapack_svd(monkeypatch, n, d, gram):
    """The SVD defense's spectrum by the smaller Gram matrix (X X^T when n <= d, X^T X
    otherwise) and by the full SVD (``SVD_GRAM_MAX = 0``) give LAPACK's rank, leading
    singular values, subspace and residual scores, weights acting as copies."""
    import convexpoison.feasible as F

    if not gram:
        monkeypatch.setattr(F, "SVD_GRAM_MAX", 0)
    rng = np.random.default_rng(n + d)
    k = min(n, d)
    sv = 3.0 * 0.7 ** np.arange(k)                    # a decaying spectrum
    U = np.linalg.qr(rng.standard_normal((n, k)))[0]
    V = np.linalg.qr(rng.standard_normal((d, k)))[0]
    X = U @ np.diag(sv) @ V.T
    y = np.where(np.arange(n) % 2 == 0, -1, 1)
    w = rng.integers(1, 4, n).astype(float)
    _, s, Vt = np.linalg.svd(X * np.sqrt(w)[:, None], full_matrices=False)
    for rel in (0.05, 0.01):
        comp = SVDResidual(0.9, rel_error=rel).fit(X, y, sample_weight=w)
        r = svd_rank(s, rel)
        assert comp.rank_ == r > 1
        np.testing.assert_allclose(comp.singular_values_[:r], s[:r], rtol=1e-9)
        Vk = comp.components_
        np.testing.assert_allclose(Vk @ Vk.T, np.eye(r), atol=1e-10)
        np.testing.assert_allclose(Vk.T @ Vk, Vt[:r].T @ Vt[:r], atol=1e-9)
        x = rng.standard_normal((7, d))
        np.testing.assert_allclose(comp.score(x), np.linalg.norm(x - x @ Vt[:r].T @ Vt[:r], axis=1),
                                   atol=1e-9)


def test_svd_refit_beyond_capacity_warns():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 6)) @ np.diag([5, 0.1, 0.1, 0.1, 0.1, 0.1])
    y = np.where(np.arange(30) % 2 == 0, -1, 1)
    comp = SVDResidual(rel_error=0.05, max_rank=1).fit(X, y)
    assert comp.rank_ == 1 and comp.capacity_ == 1
    with pytest.warns(RuntimeWarning, match="capacity"):
        comp.fit(rng.standard_normal((30, 6)), y)
    assert comp.capacity_ >= comp.rank_ > 1


def test_slab_directions_binary_and_multiclass():
    rng = np.random.default_rng(10)
    X, y = blobs(rng)
    s = Slab().fit(X, y)
    v = X[y == 1].mean(0) - X[y == -1].mean(0)
    assert np.allclose(s.directions_[1], v) and np.allclose(s.directions_[-1], v)
    x = rng.random((4, X.shape[1]))
    assert np.allclose(s.score(x, np.ones(4, int)), np.abs((x - X[y == 1].mean(0)) @ v))
    ym = rng.integers(0, 3, len(X))
    sm = Slab().fit(X, ym)
    mus = [X[ym == k].mean(0) for k in range(3)]
    assert np.allclose(sm.directions_[0], mus[0] - (mus[1] + mus[2]) / 2)
    # two classes labelled 0/1 give the same slab scores as -1/+1
    s01 = Slab().fit(X, (y + 1) // 2)
    assert np.allclose(s01.score(X, (y + 1) // 2), s.score(X, y))
    with pytest.raises(InputError, match="two classes"):
        Slab().fit(X, np.ones(len(X), int))


def test_l2_weights_as_copies_and_refit_keeps_parameters(data):
    X, y = data
    rng = np.random.default_rng(11)
    w = rng.integers(1, 4, len(X))
    a = L2Sphere(0.9).fit(X, y, sample_weight=w)
    b = L2Sphere(0.9).fit(np.repeat(X, w, 0), np.repeat(y, w))
    assert a.thresholds_ == pytest.approx(b.thresholds_)
    ids = {k: id(p) for k, p in a._params.items()}
    a.fit(X[::2], y[::2])
    assert {k: id(p) for k, p in a._params.items()} == ids
    assert np.allclose(a._params[(1, "mu")].value, X[::2][y[::2] == 1].mean(0))


def test_loss_bound_fixed_tau_and_scores(data):
    X, y = data
    dec = decoy_for(X, y)
    lb = LossBound(dec, tau=0.5)
    assert lb.thresholds_ == {-1: 0.5, 1: 0.5}
    hinge = np.maximum(0, 1 - y * (X @ dec.w + dec.b))
    assert np.allclose(lb.score(X, y), hinge)
    assert np.array_equal(lb.contains(X, y, tol=0), hinge <= 0.5)
    lb.fit(X, y)  # a fixed tau is kept
    assert lb.thresholds_ == {-1: 0.5, 1: 0.5}
    with pytest.raises(InputError, match="tau"):
        LossBound(dec, tau=-1)


# ---------------------------------------------------------------------------- emptiness, names
def test_infeasible_combination_names_components(data):
    X, y = data
    d = X.shape[1]
    l2 = L2Sphere().fit(X, y)
    mu, r = l2.centroids_[1], l2.thresholds_[1]
    # a decoy whose margin is at most -1 on the whole +1 sphere, so hinge <= 0 is impossible
    w = -np.ones(d) / np.sqrt(d)
    b = -(w @ mu) - np.linalg.norm(w) * r - 1.0
    fs = FeasibleSet([DomainSet(Domain.box(d)), l2, LossBound(Decoy(w, b), tau=0.0)])
    with pytest.raises(InputError) as exc:
        fs.check_nonempty([1])
    assert str(exc.value) == "feasible set for label +1 is empty: domain ∩ l2 ∩ loss"
    assert "\n" not in str(exc.value)
    pts = fs.check_nonempty([-1])  # the other class is fine
    assert fs.contains(pts[-1][None], -1, tol=1e-6)[0]
    # without the loss component the +1 set is not empty
    assert 1 in FeasibleSet(fs.components[:2]).check_nonempty([1])
    # the fall-back (solvers.solve) stops at the first solver that proves infeasibility,
    # and without stop_if_infeasible it tries every solver of the class in turn
    from convexpoison import solvers
    from convexpoison.errors import SolverFailure

    xv = fs.variable()
    prob = cp.Problem(cp.Minimize(0), fs.constraints(xv, 1))
    with pytest.raises(SolverFailure) as stop:
        solvers.solve(prob, "SOCP", stop_if_infeasible=True)
    with pytest.raises(SolverFailure) as every:
        solvers.solve(prob, "SOCP")
    assert stop.value.status == "infeasible" and str(stop.value).count("=") == 1
    assert str(every.value).count("=") == len(solvers.candidates("SOCP")) > 1
    # a tuple of solvers: those are tried, in order
    with pytest.raises(SolverFailure) as per_solver:
        solvers.solve(prob, "SOCP", solver=("ECOS", "SCS"))
    assert "ECOS=" in str(per_solver.value) and "SCS=" in str(per_solver.value)
    assert "CLARABEL" not in str(per_solver.value)


def test_make_feasible_set_names(data):
    X, y = data
    dom = Domain.box(X.shape[1])
    with pytest.raises(InputError, match="bogus"):
        make_feasible_set(["l2", "bogus"], dom, X, y)
    with pytest.raises(InputError, match="knn"):
        make_feasible_set("l2,knn", dom, X, y)
    with pytest.raises(InputError, match="decoy"):
        make_feasible_set(["loss"], dom, X, y)
    with pytest.raises(InputError, match="domain"):
        make_feasible_set(["domain", "l2"], None, X, y)
    fs = make_feasible_set("l2, slab,l2", dom, X, y, quantile=0.9)
    assert fs.names == ["l2", "slab"]
    assert fs["l2"].quantile == 0.9 and set(fs.thresholds_["slab"]) == {-1, 1}
    assert np.array_equal(fs.contains(X, y), fs["l2"].contains(X, y) & fs["slab"].contains(X, y))


def test_unpickled_feasible_set_has_fresh_parameters():
    """A pickled set (sent to a worker process) comes back with new cvxpy Parameters --
    an unpickled Parameter would otherwise keep its per-process id and collide with
    Parameters made in the receiving process -- holding the same values, so it projects
    exactly like the original."""
    import pickle

    rng = np.random.default_rng(5)
    y = np.where(rng.random(60) < 0.5, -1, 1)
    X = rng.random((60, 4)) + 0.2 * y[:, None]
    fs = make_feasible_set(["domain", "l2", "slab", "svd"], Domain.box(4, lo=-1, hi=2), X, y)
    fs.project(X[:1], 1)                                   # fills the projection cache
    copy = pickle.loads(pickle.dumps(fs))
    old = {k: p for c in fs.components for k, p in c._params.items()}
    new = {k: p for c in copy.components for k, p in c._params.items()}
    assert old.keys() == new.keys() and old
    assert not {p.id for p in old.values()} & {p.id for p in new.values()}
    for k in old:
        np.testing.assert_array_equal(old[k].value, new[k].value)
        assert old[k].attributes == new[k].attributes
    np.testing.assert_array_equal(copy.project(X[:3], -1), fs.project(X[:3], -1))
