"""Integer inputs (Koh et al. section 3.3): the rounding's expected squared distance equals
the LP expression exactly (by enumeration of all roundings) and a Monte-Carlo estimate; the
linear constraints encode f exactly; rounded points are integers inside the domain; the
repeated-points heuristic keeps the copy counts."""
import itertools

import cvxpy as cp
import numpy as np
import pytest

from convexpoison import solvers
from convexpoison.domain import Domain
from convexpoison.errors import InputError, SolverFailure
from convexpoison.feasible import L2Sphere, make_feasible_set
from convexpoison.integer import (
    ExpectedL2Sphere, expected_sq_distance, expected_square, expected_square_constraints,
    integerize, randomized_round, relax_for_rounding, square_pieces,
)
from convexpoison.poisons import PoisonSet


def exact_expectation(x, mu, integer):
    """E||x^ - mu||^2 by enumerating every rounding outcome with its probability."""
    cols = np.flatnonzero(integer & (np.floor(x) != x))
    total = 0.0
    for bits in itertools.product((0, 1), repeat=cols.size):
        z = x.copy()
        prob = 1.0
        for c, up in zip(cols, bits):
            frac = x[c] - np.floor(x[c])
            z[c] = np.ceil(x[c]) if up else np.floor(x[c])
            prob *= frac if up else 1 - frac
        total += prob * np.sum((z - mu) ** 2)
    return total


def test_f_is_the_rounding_second_moment_and_the_max_of_lines(rng):
    x = np.concatenate([rng.uniform(0, 16, 500), np.arange(17.0)])
    k = np.floor(x)
    direct = (x - k) * (k + 1) ** 2 + (1 - (x - k)) * k ** 2     # E[x^^2] by definition
    assert np.allclose(expected_square(x), direct, atol=1e-12)
    # equation (7): the max over the lines (2k+1)x - k(k+1), k = 0..15, is f on [0, 16]
    ks = np.arange(16.0)
    lines = (2 * ks[None, :] + 1) * x[:, None] - ks * (ks + 1)
    assert np.allclose(lines.max(axis=1), direct, atol=1e-9)
    # integers: f(x) = x^2, so the relaxation is exact on integer points
    assert np.array_equal(expected_square(np.arange(17.0)), np.arange(17.0) ** 2)


def test_expected_distance_equals_enumeration(rng):
    for _ in range(20):
        d = 6
        integer = rng.random(d) < 0.7
        x = rng.uniform(0, 5, d)
        x[rng.random(d) < 0.2] = 2.0                 # some already integral
        mu = rng.uniform(0, 5, d)
        assert expected_sq_distance(x, mu, integer) == pytest.approx(
            exact_expectation(x, mu, integer), rel=1e-12, abs=1e-12)


def test_monte_carlo_matches_formula_and_mean(rng):
    dom = Domain.box(8, 0, 16, integer=np.ones(8, bool))
    x = rng.uniform(0, 16, 8)
    mu = rng.uniform(0, 16, 8)
    draws = randomized_round(np.repeat(x[None], 40000, axis=0), dom, random_state=1)
    sq = np.sum((draws - mu) ** 2, axis=1)
    se = sq.std() / np.sqrt(sq.size)
    assert abs(sq.mean() - expected_sq_distance(x, mu)) < 4 * se
    assert np.all(np.abs(draws.mean(axis=0) - x) < 4 * draws.std(axis=0) / np.sqrt(40000) + 1e-12)


def test_rounded_points_are_integers_in_the_domain(rng):
    lo = np.array([0, 0, 2, -3, 0, 0.0])
    hi = np.array([16, 1, 5, 3, 1, 1.0])
    integer = np.array([True, True, True, True, False, False])
    dom = Domain(lo, hi, integer=integer)
    X = rng.uniform(lo - 0.5, hi + 0.5, (300, 6))   # some outside: clipped first
    X[:5, 0] = 16.0 - 1e-12                          # solver round-off at a bound
    R = randomized_round(X, dom, random_state=3)
    assert dom.contains(R, tol=0).all()
    assert np.array_equal(R[:, 4:], np.clip(X[:, 4:], 0, 1))   # continuous untouched
    assert np.all(R[:5, 0] == 16)
    # seeded: same seed, same points
    assert np.array_equal(R, randomized_round(X, dom, random_state=3))


def test_onehot_groups_round_to_valid_categories(rng):
    dom = Domain.box(5, integer=np.ones(5, bool), onehot_groups=[np.array([1, 2, 3])])
    x = np.array([0.4, 0.2, 0.5, 0.3, 0.9])
    R = randomized_round(np.repeat(x[None], 20000, axis=0), dom, random_state=0)
    assert dom.contains(R, tol=0).all()
    assert np.allclose(R.mean(axis=0), x, atol=0.02)          # E[x^] = x, groups included


def test_square_pieces_cover_each_range():
    lo = np.array([0, 2, 3, 0.0])
    hi = np.array([3, 4, 3, 1.0])
    rows, k = square_pieces(lo, hi, np.array([True, True, True, False]))
    assert rows.tolist() == [0, 0, 0, 1, 1, 2]
    assert k.tolist() == [0, 1, 2, 2, 3, 3]


def test_linear_constraints_give_f_exactly(rng):
    """min sum t s.t. t >= lines at a fixed x is sum f(x_i) (the LP encodes (6)/(7))."""
    d = 10
    lo, hi = np.zeros(d), rng.integers(1, 17, d).astype(float)
    integer = np.ones(d, bool)
    xp = cp.Parameter(d)
    t = cp.Variable(d)
    prob = cp.Problem(cp.Minimize(cp.sum(t)),
                      expected_square_constraints(xp, t, lo, hi, integer))
    assert prob.is_dcp(dpp=True)
    for _ in range(5):
        x = rng.uniform(lo, hi)
        xp.value = x
        info = solvers.solve(prob, "LP")
        assert info.value == pytest.approx(expected_square(x).sum(), rel=1e-7, abs=1e-7)


def _fitted_sphere(rng, d=6, M=16, n=80):
    X = rng.integers(0, M + 1, (n, d)).astype(float)
    y = np.where(rng.random(n) < 0.5, -1, 1)
    dom = Domain.box(d, 0, M, integer=np.ones(d, bool))
    return dom, X, y


def test_relaxed_sphere_feasibility_matches_the_formula(rng):
    """x (fixed) satisfies the LP constraints iff E||x^ - mu||^2 <= tau^2."""
    dom, X, y = _fitted_sphere(rng)
    sph = ExpectedL2Sphere(dom, quantile=0.9).fit(X, y)
    xp = cp.Parameter(dom.d)
    xv = cp.Variable(dom.d)          # pinned to the parameter (x must be parameter-free)
    prob = cp.Problem(cp.Minimize(0), sph.constraints(xv, 1) + [xv == xp])
    assert prob.is_dcp(dpp=True) and prob.is_lp()
    mu, tau = sph.centroids_[1], sph.thresholds_[1]
    seen = set()
    for _ in range(60):
        x = mu + rng.standard_normal(dom.d) * tau / np.sqrt(dom.d) * rng.uniform(0.3, 1.6)
        x = np.clip(x, 0, 16)
        e = expected_sq_distance(x, mu)
        if abs(e - tau ** 2) < 1e-3 * tau ** 2:
            continue
        xp.value = x
        try:
            solvers.solve(prob, "LP", solver="CLARABEL", fallback=False)
            ok = True
        except SolverFailure as exc:
            assert exc.status == "infeasible"
            ok = False
        assert ok == (e <= tau ** 2)
        seen.add(ok)
    assert seen == {True, False}
    # on integer points the relaxed set is exactly the sphere
    Z = np.clip(np.rint(mu + rng.standard_normal((50, dom.d)) * 4), 0, 16)
    assert np.array_equal(sph.expected_sq_distance(Z, 1) <= tau ** 2 + 1e-9,
                          np.linalg.norm(Z - mu, axis=1) <= tau + 1e-9)


def test_lp_relaxed_maximiser_two_solvers_and_rounding(rng):
    """max g.x over the relaxed sphere: Clarabel == ECOS, the expected squared distance of
    its maximiser is within tau^2, and the relaxed set is inside the plain sphere."""
    dom, X, y = _fitted_sphere(rng)
    fs = relax_for_rounding(make_feasible_set("domain,l2", dom, X, y, quantile=0.9))
    assert isinstance(fs["l2"], ExpectedL2Sphere)
    x = fs.variable()
    g = cp.Parameter(dom.d)
    prob = cp.Problem(cp.Maximize(g @ x), fs.constraints(x, -1))
    g.value = rng.standard_normal(dom.d)
    a = solvers.solve(prob, "LP", solver="CLARABEL")
    xa = x.value.copy()
    b = solvers.solve(prob, "LP", solver="ECOS")
    assert a.value == pytest.approx(b.value, rel=1e-6, abs=1e-6)
    sph = fs["l2"]
    mu, tau = sph.centroids_[-1], sph.thresholds_[-1]
    assert expected_sq_distance(xa, mu) <= tau ** 2 * (1 + 1e-6)
    assert np.linalg.norm(xa - mu) <= tau * (1 + 1e-6)
    # the plain sphere allows at least as much
    plain = make_feasible_set("domain,l2", dom, X, y, quantile=0.9)
    z = plain.variable()
    p2 = cp.Problem(cp.Maximize(g.value @ z), plain.constraints(z, -1))
    assert solvers.solve(p2, "SOCP").value >= a.value - 1e-6


def test_relaxed_sphere_perspective_and_refit(rng):
    dom, X, y = _fitted_sphere(rng)
    sph = ExpectedL2Sphere(dom, quantile=0.9).fit(X, y)
    x = cp.Variable(dom.d, bounds=[dom.lo, 2 * dom.hi])
    gam = cp.Variable()
    g = rng.standard_normal(dom.d)
    scaled = cp.Problem(cp.Maximize(g @ x), sph.constraints(x, 1, scale=gam) + [gam == 2])
    assert scaled.is_dcp(dpp=True)
    z = cp.Variable(dom.d, bounds=[dom.lo, dom.hi])
    plain = cp.Problem(cp.Maximize(g @ z), sph.constraints(z, 1))
    v2 = solvers.solve(scaled, "LP").value
    assert v2 == pytest.approx(2 * solvers.solve(plain, "LP").value, rel=1e-6)
    # refit on other data: parameters change in place; re-solve == fresh build
    X2 = np.clip(X + rng.integers(-2, 3, X.shape), 0, 16)
    sph.fit(X2, y)
    resolved = solvers.solve(plain, "LP").value
    fresh_sph = ExpectedL2Sphere(dom, quantile=0.9).fit(X2, y)
    z2 = cp.Variable(dom.d, bounds=[dom.lo, dom.hi])
    fresh = cp.Problem(cp.Maximize(g @ z2), fresh_sph.constraints(z2, 1))
    assert resolved == pytest.approx(solvers.solve(fresh, "LP").value, rel=1e-7, abs=1e-7)


def test_relax_leaves_continuous_domains_alone(rng):
    X = rng.random((40, 3))
    y = np.where(rng.random(40) < 0.5, -1, 1)
    fs = make_feasible_set("domain,l2", Domain.box(3), X, y)
    assert relax_for_rounding(fs) is fs
    assert type(fs["l2"]) is L2Sphere


def test_integerize_repeats_and_keeps_counts(rng):
    dom = Domain.box(4, 0, 16, integer=np.ones(4, bool))
    X = rng.uniform(0, 16, (3, 4))
    ps = PoisonSet(X, np.array([1, -1, 1]), np.array([5.0, 4.0, 1.0]))
    out = integerize(ps, dom, repeat=2, random_state=0)
    assert dom.contains(out.X, tol=0).all()
    assert out.n_poisons == 10
    assert out.weight[out.y == -1].sum() == 4 and out.weight[out.y == 1].sum() == 6
    assert out.weight.max() <= 4          # at most two identical draws merged for row 1
    assert out.meta["rounded"] and out.meta["repeat"] == 2
    again = integerize(ps, dom, repeat=2, random_state=0)
    assert np.array_equal(out.X, again.X) and np.array_equal(out.weight, again.weight)
    with pytest.raises(InputError, match="whole copy counts"):
        integerize(PoisonSet(X, np.array([1, -1, 1]), np.array([1.5, 1, 1])), dom)
    with pytest.raises(InputError, match="repeat"):
        integerize(ps, dom, repeat=0)
