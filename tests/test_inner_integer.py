"""The inner maximiser's integer fast path (programs/inner.py, IntegerSphereSteps): the LP
relaxation of the L2 sphere on an integer box (Koh et al. eq. (7)-(8)) with the slab and a
binary decoy half-space (eq. (22)), against the cvxpy programs of the same relaxation
(a conic/LP solver), against brute force over the integer points of tiny boxes, and the
auto-selection rules (dense continuous sets keep their old paths)."""
import itertools
import types

import numpy as np
import pytest

from convexpoison.domain import Domain
from convexpoison.feasible import L2Sphere, make_feasible_set
from convexpoison.integer import ExpectedL2Sphere, relax_for_rounding
from convexpoison.programs.inner import (InnerMaximizer, IntegerSphereSteps, _one_halfspace,
                                         integer_sphere_argmax)


def instance(seed, comps=("l2", "slab"), d=10, n=40, hi_max=5, rate=0.8):
    rng = np.random.default_rng(seed)
    hi = rng.integers(1, hi_max, d).astype(float)
    X = np.minimum(rng.poisson(rate, (n, d)), hi).astype(float)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    dom = Domain(np.zeros(d), hi, integer=np.ones(d, bool))
    fs = relax_for_rounding(make_feasible_set(["domain", *comps], dom, X, y, quantile=0.9), dom)
    return rng, fs, X, y


def halfspaces(fs, lab, decoy=None, tau=0.25):
    """``(A, c)`` of the slab and the decoy constraint, written independently of inner.py."""
    rows, rhs = [], []
    if "slab" in fs.names:
        sl = fs["slab"]
        v, s, mu = sl.directions_[lab], sl.thresholds_[lab], sl.centroids_[lab]
        rows += [v, -v]
        rhs += [s + v @ mu, s - v @ mu]
    if decoy is not None:
        rows.append(-lab * decoy.w)
        rhs.append(tau - 1 + lab * decoy.b)
    return (np.array(rows), np.array(rhs)) if rows else (None, None)


def check_feasible(fs, x, lab, A=None, c=None, tol=1e-7):
    dom = fs.domain
    assert np.all(x >= dom.lo - tol) and np.all(x <= dom.hi + tol)
    if "l2" in fs.names:
        sph = fs["l2"]
        assert sph.expected_sq_distance(x[None, :], lab)[0] <= sph.thresholds_[lab] ** 2 + tol
    if A is not None:
        assert np.all(A @ x <= c + tol * (1 + np.abs(c)))


@pytest.mark.parametrize("comps", [("l2",), ("l2", "slab"), ("slab",)])
@pytest.mark.parametrize("with_decoy", [False, True])
def test_fast_integer_path_matches_the_cvxpy_program(comps, with_decoy):
    agreed = empty = 0
    for seed in range(8):
        rng, fs, X, y = instance(seed, comps)
        decoy = (types.SimpleNamespace(w=0.3 * rng.standard_normal(fs.d), b=0.2)
                 if with_decoy else None)
        fast = InnerMaximizer(fs, decoy=decoy, method="auto")
        ref = InnerMaximizer(fs, decoy=decoy, method="cvxpy")
        assert fast.integer_fast and not ref.integer_fast
        for lab in (-1, 1):
            g = rng.standard_normal(fs.d)
            x, v = fast.argmax_linear(lab, g)
            xr, vr = ref.argmax_linear(lab, g)
            assert (x is None) == (xr is None)
            if x is None:
                empty += 1
                continue
            assert v == pytest.approx(vr, rel=1e-6, abs=1e-6)
            assert v == pytest.approx(g @ x, rel=1e-12, abs=1e-12)
            check_feasible(fs, x, lab, *halfspaces(fs, lab, decoy))
            agreed += 1
    assert agreed >= 8
    if not with_decoy:
        assert empty == 0


def test_one_halfspace_dual_and_the_step_lp_match_cvxpy():
    """Both constrained solvers (the 1-D dual and the LP over the steps) on instances where
    the half-space cuts the knapsack's optimum."""
    import cvxpy as cp

    hits = 0
    for seed in range(40):
        rng, fs, X, y = instance(seed, ("l2",), d=8)
        lab = int(rng.choice([-1, 1]))
        sph = fs["l2"]
        mu, tau = sph.centroids_[lab], sph.thresholds_[lab]
        st = IntegerSphereSteps(fs.domain.lo, fs.domain.hi, mu, tau)
        g = rng.standard_normal(fs.d)
        x0 = st.knapsack(g)
        a = rng.standard_normal(fs.d)
        c = float(a @ x0) - rng.uniform(0.1, 2.0)               # cut x0 off
        z = cp.Variable(fs.d)
        prob = cp.Problem(cp.Maximize(g @ z), fs.constraints(z, lab) + [a @ z <= c])
        prob.solve()
        x1 = _one_halfspace(st, g, a, c, x0)
        x2 = st.linprog(g, a[None, :], np.array([c]))
        if prob.status == "infeasible":
            assert x1 is None and x2 is None
            continue
        hits += 1
        for x in (x1, x2):
            assert g @ x == pytest.approx(prob.value, rel=1e-6, abs=1e-6)
            check_feasible(fs, x, lab, a[None, :], np.array([c]))
    assert hits >= 20


def test_knapsack_is_the_lp_relaxation_optimum_and_bounds_brute_force():
    """On tiny boxes: the relaxation's value is >= every integer point of the sphere
    (``f = x^2`` on integers), and equals a brute-force LP over all chords."""
    rng = np.random.default_rng(5)
    for trial in range(25):
        d = 4
        hi = rng.integers(1, 4, d).astype(float)
        lo = np.zeros(d)
        mu = rng.uniform(0, hi)
        tau = rng.uniform(0.6, 2.5)
        g = rng.standard_normal(d)
        a = rng.standard_normal(d)
        pts = np.array(list(itertools.product(*[np.arange(h + 1) for h in hi])), float)
        inside = np.sum((pts - mu) ** 2, axis=1) <= tau ** 2
        st = IntegerSphereSteps(lo, hi, mu, tau)
        x = integer_sphere_argmax(g, lo, hi, mu, tau)
        if not inside.any() and x is None:
            continue
        assert x is not None
        assert g @ x >= (pts[inside] @ g).max() - 1e-12 if inside.any() else True
        # with a half-space through the middle of the integer points
        c = float(np.median(pts @ a))
        ok = inside & (pts @ a <= c)
        xc = integer_sphere_argmax(g, lo, hi, mu, tau, a[None, :], np.array([c]))
        if ok.any():
            assert xc is not None and g @ xc >= (pts[ok] @ g).max() - 1e-9
        # the relaxed point is inside E|x^ - mu|^2 <= tau^2 and integral but for one step
        sph = ExpectedL2Sphere(Domain(lo, hi, integer=np.ones(d, bool)))
        from convexpoison.integer import expected_sq_distance

        assert expected_sq_distance(x, mu) <= tau ** 2 + 1e-9
        assert np.sum(np.abs(x - np.rint(x)) > 1e-12) <= 1
        assert sph.domain.d == d and st.budget >= 0


def test_auto_selects_the_integer_path_only_for_integer_relaxations():
    rng, fs, X, y = instance(0, ("l2", "slab"))
    assert InnerMaximizer(fs).integer_fast
    # the plain (unrelaxed) sphere on the same integer box keeps the continuous fast path
    plain = make_feasible_set(["domain", "l2"], fs.domain, X, y, quantile=0.9)
    assert type(plain["l2"]) is L2Sphere
    m = InnerMaximizer(plain)
    assert m.fast and not m.integer_fast
    # continuous domains never use it (dense continuous runs are unchanged)
    cont = make_feasible_set(["domain", "l2", "slab"], Domain.box(fs.d, 0, 5), X, y, quantile=0.9)
    m = InnerMaximizer(cont)
    assert not m.integer_fast and not m.fast
    # SVD residual: not a supported component
    svd = relax_for_rounding(make_feasible_set(["domain", "l2", "svd"], fs.domain, X, y,
                                               quantile=0.9), fs.domain)
    assert not InnerMaximizer(svd).integer_fast
    # method='cvxpy' always solves the programs
    assert not InnerMaximizer(fs, method="cvxpy").integer_fast


def test_set_decoy_on_the_integer_path_matches_a_fresh_cvxpy_build():
    rng, fs, X, y = instance(3, ("l2", "slab"))
    d1 = types.SimpleNamespace(w=0.2 * rng.standard_normal(fs.d), b=0.1)
    d2 = types.SimpleNamespace(w=0.2 * rng.standard_normal(fs.d), b=-0.1)
    m = InnerMaximizer(fs, decoy=d1)
    w, b = rng.standard_normal(fs.d), 0.3
    m.maximize(w, b)
    m.set_decoy(d2)
    r = m.maximize(w, b)
    ref = InnerMaximizer(fs, decoy=d2, method="cvxpy").maximize(w, b)
    assert r.y == ref.y and r.loss == pytest.approx(ref.loss, rel=1e-6, abs=1e-6)


def test_knapsack_selection_equals_a_full_sort():
    """The weighted selection inside the knapsack (no full sort) against a plain greedy by
    sorted ratio, on instances with thousands of steps and many tied ratios."""
    rng = np.random.default_rng(11)
    for trial in range(20):
        d = 300
        lo, hi = np.zeros(d), rng.integers(1, 12, d).astype(float)
        mu = np.round(rng.uniform(0, 1.5, d), 1) if trial % 2 else rng.uniform(0, 1.5, d)
        g = rng.integers(-3, 4, d).astype(float) if trial % 2 else rng.standard_normal(d)
        st = IntegerSphereSteps(lo, hi, mu, tau=rng.uniform(3, 30))
        x = st.expand(st.knapsack(g[st.free]))
        # reference: every unit step with its gain and cost, greedy by sorted ratio
        gain, cost, j = [], [], []
        for i in range(d):
            x0 = st.x0[i]
            ks = np.arange(x0, hi[i]) if g[i] > 0 else np.arange(x0 - 1, lo[i] - 1, -1)
            for k in ks:
                j.append(i)
                gain.append(abs(g[i]))
                cost.append(max(2 * k + 1 - 2 * mu[i] if g[i] > 0 else 2 * mu[i] - 2 * k - 1, 0.0))
        gain, cost = np.array(gain), np.array(cost)
        ratio = np.where(cost > 0, gain / np.where(cost > 0, cost, 1), np.inf)
        order = np.argsort(-ratio, kind="stable")
        left, value = st.budget, g @ st.x0
        for s in order:
            take = 1.0 if cost[s] <= left else left / cost[s]
            value += take * gain[s]
            left -= take * cost[s]
            if take < 1:
                break
        assert g @ x == pytest.approx(value, rel=1e-12, abs=1e-9)
        assert st.budget > 0
