"""Certificates (docs/lower-bound.md, docs/upper-bound.md): the optimal Theorem 4.2 bound, exact integer
denominators, Steinhardt et al.'s upper bound, and a soundness harness.

What would be false if the code were wrong:

* support functions: the infimal-convolution form equals a direct maximisation over F;
* the Dinkelbach optimum equals the minimum-poison program's optimum (an independent LP,
  docs/minpoison.md) and dominates c at thousands of random models; c is non-increasing along
  rays leaving theta_p (the theorem behind the line search);
* it is never below MTP's best intermediate bound;
* soundness (hypothesis): targets made by training on Dc u D* -- the certificate never
  exceeds |D*|, for random and adversarial D*, box and integer domains, relaxed and exact
  denominators; looser tolerances only lower the bound; a failed solve gives no number;
* the upper bound: U(eps = 0) is the clean SVM optimum (an independent trainer), U grows
  with eps, the matching fractional attack attains U, and every concrete attack inside F
  (random feasible points, the maximisers, MTP restricted to F) stays below it.
"""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convexpoison import solvers
from convexpoison.certificates.optimal import optimal_lower_bound
from convexpoison.certificates.theorem42 import certify_at, domain_sup_bound, theorem42
from convexpoison.certificates.upper_bound import (
    CertifiedUpperBound, max_hinge, poisoned_training_loss,
)
from convexpoison.domain import Domain
from convexpoison.errors import SolverFailure
from convexpoison.feasible import FeasibleSet, LossBound, as_feasible, make_feasible_set
from convexpoison.programs.maxloss import MaxLossDifference
from convexpoison.training import LinearModel, train

REG = 0.09


# ------------------------------------------------------------------------ helpers
def clean_data(rng, n=20, d=2, integer_hi=None):
    if integer_hi is None:
        X = rng.random((n, d))
    else:
        X = rng.integers(0, integer_hi + 1, (n, d)).astype(float)
    hi = 1.0 if integer_hi is None else float(integer_hi)
    y = np.where(X[:, 0] + 0.25 * hi * rng.standard_normal(n) > 0.5 * hi, 1, -1)
    y[0], y[1] = 1, -1                                  # both classes present
    return X, y


def induced_target(X, y, P, py, pw, reg=REG):
    """The model training returns on Dc u D*, and a proven bound on its optimality gap."""
    Xa, ya = np.vstack([X, P]), np.concatenate([y, py])
    sa = np.concatenate([np.ones(len(y)), pw])
    t = train(Xa, ya, "svm", reg, sample_weight=sa, tol=1e-12)
    gap = max(float(t.gap_), 0.0) + 1e-12 * max(1.0, abs(t.objective_))
    return t, gap


def small_instance(seed=1):
    rng = np.random.default_rng(seed)
    X, y = clean_data(rng)
    P = np.array([[0.9, 0.9], [0.1, 0.2]])
    py, pw = np.array([-1, 1]), np.array([3.0, 2.0])
    tgt, gap = induced_target(X, y, P, py, pw)
    return X, y, tgt, gap, Domain.box(2)


def model_at(theta):
    return LinearModel(np.array(theta[:-1], float), float(theta[-1]), "svm", REG)


# -------------------------------------------------------------- support functions
def test_support_function_equals_direct_maximum(rng):
    import cvxpy as cp

    X, y = clean_data(rng, n=40, d=3)
    dom = Domain(np.zeros(3), np.ones(3))
    decoy = train(X, y, "svm", REG)
    fs = make_feasible_set(["domain", "l2", "slab"], dom, X, y)
    fs_loss = FeasibleSet(fs.components + [LossBound(decoy, tau=0.8)])
    for feas in (fs, fs_loss):
        for lab in (-1, 1):
            for _ in range(3):
                g = rng.standard_normal(3)
                expr, cons = feas.support_function(lab, cp.Constant(g))
                dual = solvers.solve(cp.Problem(cp.Minimize(expr), cons), "SOCP").value
                x = feas.variable()
                primal = solvers.solve(cp.Problem(cp.Maximize(g @ x), feas.constraints(x, lab)),
                                       "SOCP").value
                assert dual == pytest.approx(primal, abs=1e-6)


def test_support_function_of_one_hot_domain_is_exact():
    import cvxpy as cp

    dom = Domain(np.zeros(5), np.ones(5), integer=[0, 0, 1, 1, 1], onehot_groups=[[2, 3, 4]])
    g = np.array([0.3, -0.7, 0.2, -0.1, 0.9])
    expr, cons = as_feasible(dom).support_function(1, cp.Constant(g))
    val = solvers.solve(cp.Problem(cp.Minimize(expr), cons), "LP").value
    assert val == pytest.approx(0.3 + 0.0 + 0.9, abs=1e-8)   # x = (1, 0, 0, 0, 1)


def test_domain_closed_form_bounds_the_max_loss_programs_tightly(rng):
    """The numpy weak-duality bound is >= the value attained by the max-loss LP (sound)
    and within 1e-8 of it (tight), on boxes and on one-hot domains."""
    box = Domain.box(6, -1.0, 2.0)
    onehot = Domain(np.zeros(8), np.ones(8), integer=[0, 0, 1, 1, 1, 1, 1, 1],
                    onehot_groups=[[2, 3, 4], [5, 6, 7]])
    for dom in (box, onehot):
        ml = MaxLossDifference(dom, integer="relax", method="lp")
        for _ in range(15):
            m1 = model_at(np.r_[rng.standard_normal(dom.d), rng.standard_normal()])
            m2 = model_at(np.r_[rng.standard_normal(dom.d) * rng.choice([0.1, 1, 3]),
                                rng.standard_normal()])
            bound = domain_sup_bound(dom, m1, m2)
            r = ml.solve(m1, m2)
            assert r.value <= bound <= r.upper_bound + 1e-12
            assert bound - r.value <= 1e-8


# ------------------------------------------------------------ the optimal bound
def test_dinkelbach_agrees_with_the_min_poison_program():
    from convexpoison.programs.minpoison import MinimumPoisonProgram

    X, y, tgt, gap, dom = small_instance()
    r = optimal_lower_bound(tgt, dom, X, y, REG)
    mp = MinimumPoisonProgram(dom, REG).fit(X, y).solve(tgt)
    # Theorem 4.2 holds for fractional poison sets, and the LP's optimum is attained by one
    assert r.value <= mp.value * (1 + 1e-6) + 1e-9
    assert r.value == pytest.approx(mp.value, rel=1e-4)
    assert r.lower_bound <= 5                              # |D*| = 3 + 2
    assert r.status == "ok" and r.iterations and r.gap >= 0


def test_c_is_nonincreasing_along_rays_and_dinkelbach_dominates_random_models():
    X, y, tgt, gap, dom = small_instance()
    r = optimal_lower_bound(tgt, dom, X, y, REG)
    ml = MaxLossDifference(dom)
    rng = np.random.default_rng(5)
    tp = tgt.theta
    best = -np.inf
    for _ in range(150):
        delta = rng.standard_normal(3)
        vals = []
        for e in (1.0, 0.1, 1e-2, 1e-3):
            m = model_at(tp + e * delta)
            c = certify_at(m, tgt, X, y, REG, ml.solve(m, tgt).upper_bound)
            vals.append(c.value if c.status == "ok" else np.nan)
        vals = np.array(vals)
        ok = np.isfinite(vals)
        if ok.sum() >= 2:
            v = vals[ok]
            assert np.all(np.diff(v) >= -1e-7 * np.abs(v[:-1]).max())
        if ok.any():
            best = max(best, np.nanmax(vals))
    assert best <= r.value * (1 + 1e-7)
    assert best >= 0.9 * r.value                          # the random search gets close


def test_optimal_bound_is_at_least_the_best_mtp_intermediate_bound():
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    rng = np.random.default_rng(3)
    X, y = clean_data(rng, n=20, d=3)
    dom = Domain.box(3)
    # a Koh-style target: flip the labels of the highest-loss points, add copies, retrain
    c = train(X, y, "svm", REG)
    idx = np.argsort(y * (X @ c.w + c.b))[:4]
    tgt, _ = induced_target(X, y, X[idx], -y[idx], np.full(4, 2.0))
    res = ModelTargetedPoisoning(tgt, dom, REG, eps_close=0.01, progress_bar=False).fit(X, y).result_
    best_inter = max(rec.bound_value for rec in res.history if np.isfinite(rec.bound_value))
    r = optimal_lower_bound(tgt, dom, X, y, REG)
    assert r.value >= best_inter * (1 - 1e-9)
    assert r.lower_bound >= res.lower_bound
    # and it is the optimum: the independent minimum-poison LP reaches the same value
    from convexpoison.programs.minpoison import MinimumPoisonProgram

    mp = MinimumPoisonProgram(dom, REG).fit(X, y).solve(tgt)
    assert r.value == pytest.approx(mp.value, rel=1e-4)


def test_default_solver_agrees_with_a_second_solver():
    X, y, tgt, gap, dom = small_instance(seed=2)
    a = optimal_lower_bound(tgt, dom, X, y, REG)
    b = optimal_lower_bound(tgt, dom, X, y, REG, solver="ECOS")
    assert a.solver == "CLARABEL" and b.solver == "ECOS"
    assert b.value == pytest.approx(a.value, rel=1e-5)


def test_exact_integer_denominator_is_reported_and_at_most_the_relaxed_one():
    rng = np.random.default_rng(7)
    n = 16
    # 2 continuous coordinates and a one-hot group of 3 (adult-like)
    cont = rng.random((n, 2))
    cat = np.eye(3)[rng.integers(0, 3, n)]
    X = np.hstack([cont, cat])
    y = np.where(cont[:, 0] + 0.3 * cat[:, 0] + 0.2 * rng.standard_normal(n) > 0.6, 1, -1)
    y[0], y[1] = 1, -1
    dom = Domain(np.zeros(5), np.ones(5), integer=[0, 0, 1, 1, 1], onehot_groups=[[2, 3, 4]])
    P = np.array([[0.95, 0.9, 0, 0, 1], [0.05, 0.1, 1, 0, 0]], float)
    tgt, gap = induced_target(X, y, P, np.array([-1, 1]), np.array([3.0, 3.0]))
    r = optimal_lower_bound(tgt, dom, X, y, REG, target_gap=gap)
    assert r.denominator_method == "exact"
    assert r.exact is not None and r.relaxed is not None
    assert r.lower_bound == max(r.exact.lower_bound, r.relaxed.lower_bound) <= 6
    # at one model, the MILP's proven sup is at most the relaxation's (up to its 1e-7 slack
    # and the allowance for the solver's feasibility tolerance) and at least what its
    # integer maximiser attains
    for m in (train(X, y, "svm", REG), r.model):
        ml = MaxLossDifference(dom, integer="exact")
        milp = ml.solve(m, tgt)
        allow = ml._milp_allowance(m.w, m.b, tgt.w, tgt.b)
        assert dom.contains(milp.x[None, :])[0]
        assert milp.value <= milp.upper_bound <= domain_sup_bound(dom, m, tgt) + 3e-7 + allow


# ------------------------------------------------------------ the soundness harness
def _poison_set(kind, rng, X, y, dom, k, integer_hi):
    """A poison set D*: random points, a box corner with the label the clean model likes
    least, or k copies of the clean model's worst-case (max-hinge) point."""
    d = X.shape[1]
    if kind == "random":
        m = int(rng.integers(1, 4))
        P = (rng.integers(0, integer_hi + 1, (m, d)).astype(float) if integer_hi
             else rng.random((m, d)))
        return P, rng.choice([-1, 1], m), rng.integers(1, k + 1, m).astype(float)
    c = train(X, y, "svm", REG)
    lab = int(rng.choice([-1, 1]))
    if kind == "corner":
        x = np.where(-lab * c.w > 0, dom.hi, dom.lo)
    else:                                   # the point of largest loss, then a random shift
        x = max_hinge(dom, c)[1][lab]
        x = np.clip(x + (rng.integers(-1, 2, d) if integer_hi else 0.2 * rng.standard_normal(d)),
                    dom.lo, dom.hi)
    return x[None, :], np.array([lab]), np.array([float(k)])


def _harness_case(seed, d, n, integer, kind, k):
    rng = np.random.default_rng(seed)
    hi = 3 if integer else None
    X, y = clean_data(rng, n=n, d=d, integer_hi=hi)
    dom = Domain.box(d, 0.0, 3.0, integer=np.ones(d, bool)) if integer else Domain.box(d)
    P, py, pw = _poison_set(kind, rng, X, y, dom, k, hi)
    m = float(pw.sum())
    tgt, gap = induced_target(X, y, P, py, pw)
    # Remark 2: theta_c, with the lead's theorem42 and with the sound evaluation
    c = train(X, y, "svm", REG)
    sup = MaxLossDifference(dom, integer="relax").solve(c, tgt).upper_bound
    plain = theorem42(c, tgt, X, y, REG, sup)
    scale = len(y) * (1.0 + REG * (c.regularizer() + tgt.regularizer()))
    # above rounding level only: theorem42 has no floating-point allowance and once
    # certified 2 for a 1-point D* (num = 3.1e-14, den = 3.1e-14: target = theta_c up to
    # rounding); certify_at, checked strictly below, subtracts the allowances
    if plain.status == "ok" and plain.numerator > 1e-9 * scale:
        assert plain.value <= m + 1e-6 * max(1.0, m)
    assert certify_at(c, tgt, X, y, REG, sup, target_gap=gap).lower_bound <= m
    # the optimal bound (relaxed and, for integer domains, exact denominators)
    r = optimal_lower_bound(tgt, dom, X, y, REG, target_gap=gap, max_iter=12)
    assert r.lower_bound <= m, (r, m)
    if r.status == "ok":
        assert r.value <= m * (1 + 1e-9)
    for part in (r.relaxed, r.exact):
        if part is not None:
            assert part.lower_bound <= m
    return r, m


harness_args = dict(
    seed=st.integers(0, 10 ** 6), d=st.integers(1, 3), n=st.integers(6, 20),
    integer=st.booleans(), kind=st.sampled_from(["random", "corner", "worst"]),
    k=st.integers(1, 8))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**harness_args)
def test_soundness_harness(seed, d, n, integer, kind, k):
    r, m = _harness_case(seed, d, n, integer, kind, k)   # asserts soundness inside
    assert r.lower_bound <= m


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**harness_args)
def test_soundness_harness_extended(seed, d, n, integer, kind, k):
    r, m = _harness_case(seed, d, n, integer, kind, k)   # asserts soundness inside
    assert r.lower_bound <= m


def test_adversarial_single_point_attack_is_certified_tightly():
    """k copies of the worst point: the certificate is at most k and close to it."""
    r, m = _harness_case(11, 2, 20, False, "corner", 6)
    assert r.lower_bound >= 0.5 * m


# --------------------------------------------------------- tolerances and failures
def test_larger_certificate_slack_only_lowers_the_bound(monkeypatch):
    rng = np.random.default_rng(4)
    X, y = clean_data(rng, n=30, d=2)
    fs = make_feasible_set(["domain", "l2"], Domain.box(2), X, y)
    P = np.array([[0.8, 0.7]])
    tgt, gap = induced_target(X, y, P, np.array([-1]), np.array([4.0]))
    r = optimal_lower_bound(tgt, fs, X, y, REG, target_gap=gap)
    m = r.model
    before = certify_at(m, tgt, X, y, REG, MaxLossDifference(fs).solve(m, tgt).upper_bound,
                        target_gap=gap)
    monkeypatch.setattr(solvers, "CERTIFICATE_SLACK", (1e-4, 1e-4))
    after = certify_at(m, tgt, X, y, REG, MaxLossDifference(fs).solve(m, tgt).upper_bound,
                       target_gap=gap)
    assert after.value < before.value and after.lower_bound <= before.lower_bound
    r2 = optimal_lower_bound(tgt, fs, X, y, REG, target_gap=gap)
    assert r2.value <= r.value * (1 + 1e-9) and r2.lower_bound <= r.lower_bound <= 4


def test_looser_solver_tolerances_only_lower_the_bound():
    X, y, tgt, gap, dom = small_instance(seed=6)
    tight = optimal_lower_bound(tgt, dom, X, y, REG, target_gap=gap, solver="CLARABEL")
    loose = optimal_lower_bound(tgt, dom, X, y, REG, target_gap=gap, solver="CLARABEL",
                                solver_options={"tol_gap_abs": 1e-4, "tol_gap_rel": 1e-4,
                                                "tol_feas": 1e-4})
    assert loose.lower_bound <= tight.lower_bound <= 5
    assert loose.value <= tight.value * (1 + 1e-6)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_a_non_optimal_solve_yields_no_certificate():
    X, y, tgt, gap, dom = small_instance()
    with pytest.raises(SolverFailure) as exc:
        optimal_lower_bound(tgt, dom, X, y, REG, solver="CLARABEL",
                            solver_options={"max_iter": 1})
    assert exc.value.status != "optimal"
    with pytest.raises(SolverFailure):
        CertifiedUpperBound(dom, REG, 0.05, solver="CLARABEL",
                            solver_options={"max_iter": 1}).fit(X, y)


def test_unattainable_target_certifies_infinity():
    """theta_p = 3 theta_c with poison points confined to a tiny box where theta_c's score
    is about 0: every such point lowers the objective of theta_c relative to theta_p by
    more than it could raise it (the regulariser of theta_p is 9 times larger), so no
    number of points induces theta_p -- the denominator is negative at theta_c."""
    rng = np.random.default_rng(8)
    X, y = clean_data(rng, n=20, d=2)
    c = train(X, y, "svm", REG)
    tgt = LinearModel(3 * c.w, 3 * c.b, "svm", REG)
    x0 = np.array([0.5, (-c.b - 0.5 * c.w[0]) / c.w[1]])       # s_c(x0) = 0
    dom = Domain(x0 - 1e-3, x0 + 1e-3)
    r = optimal_lower_bound(tgt, dom, X, y, REG)
    assert r.status == "unattainable" and r.lower_bound == float("inf")
    assert r.initial.status == "unattainable" and r.denominator < 0
    # in JSON: no number of points (null, with the reason); no subproblem was solved
    out = r.certificate().to_dict()
    assert out["lower_bound"] is None and out["lower_bound_reason"].startswith("unattainable")
    assert out["upper_bound"] is None and out["status"] == "not solved"


# ------------------------------------------------------------- the upper bound
def upper_instance(seed=0, n=60, d=3):
    rng = np.random.default_rng(seed)
    X, y = clean_data(rng, n=n, d=d)
    fs = make_feasible_set(["domain", "l2", "slab"], Domain.box(d), X, y)
    return X, y, fs, rng


def test_upper_bound_at_zero_epsilon_is_the_clean_optimum_and_grows_with_epsilon():
    X, y, fs, _ = upper_instance()
    ub = CertifiedUpperBound(fs, REG, 0.0)
    u0 = ub.fit(X, y).upper_bound_
    clean = train(X, y, "svm", REG, tol=1e-12)
    assert u0 == pytest.approx(clean.objective_, rel=1e-6)
    assert u0 >= clean.objective_ - clean.gap_ - 1e-12
    us = [ub.set_params(epsilon=e).fit(X, y).upper_bound_ for e in (0.01, 0.05, 0.2)]
    assert u0 <= us[0] <= us[1] <= us[2]


def test_upper_bound_program_agrees_with_a_second_solver():
    X, y, fs, _ = upper_instance(seed=1)
    a = CertifiedUpperBound(fs, REG, 0.05).fit(X, y).result_
    b = CertifiedUpperBound(fs, REG, 0.05, solver="ECOS").fit(X, y).result_
    assert a.solver != b.solver
    assert a.upper_bound == pytest.approx(b.upper_bound, rel=1e-6)
    # U is G(theta_hat) with closed-form (split) inner maxima: it can sit a rounding's width
    # below the solver's primal value, never below the solver's proven lower bound
    assert a.extra["inner_verified"]
    assert a.program_lower_bound <= a.upper_bound
    assert a.program_value <= a.upper_bound + 1e-9 * abs(a.upper_bound)


def test_matching_attack_attains_u_and_concrete_attacks_stay_below():
    X, y, fs, rng = upper_instance(seed=2)
    eps, N = 0.05, len(y)
    ub = CertifiedUpperBound(fs, REG, eps).fit(X, y)
    U = ub.upper_bound_
    # the maximisers lie in F, and the fractional saddle attack reaches U (tightness)
    Xp, yp, wp = ub.matching_attack(integer=False)
    assert np.all(fs.contains(Xp, yp))
    assert wp.sum() == pytest.approx(eps * N, rel=1e-6)
    val, gap, _ = poisoned_training_loss(X, y, Xp, yp, wp, REG)
    # U (closed-form inner maxima) is tight at the saddle point; the recovered points are
    # in F only to contains()'s 1e-6, so they may reach U plus that much (observed 1e-12)
    assert val - gap <= U + 1e-9 * U
    assert val >= U * (1 - 1e-5)
    # integer copies of the maximisers
    Xp, yp, wp = ub.matching_attack()
    assert wp.sum() <= eps * N
    val, gap, _ = poisoned_training_loss(X, y, Xp, yp, wp, REG)
    assert val - gap <= U + 1e-9 * U          # the same points (in F to 1e-6)
    # random poison sets inside F: random points projected onto F_y, random labels
    for _ in range(5):
        m = int(rng.integers(1, 4))
        labs = rng.choice([-1, 1], m)
        pts = np.vstack([fs.project(rng.random((1, X.shape[1])), lab) for lab in labs])
        keep = fs.contains(pts, labs)
        w = rng.dirichlet(np.ones(m)) * eps * N
        val, gap, _ = poisoned_training_loss(X, y, pts[keep], labs[keep], w[keep], REG)
        assert val - gap <= U
    # every max-hinge maximiser attains the proven bound it reports
    bounds, pts = max_hinge(fs, ub.model_)
    for lab in (-1, 1):
        h = max(0.0, 1 - lab * (pts[lab] @ ub.model_.w + ub.model_.b))
        assert h <= bounds[lab] and h >= bounds[lab] - 1e-6


def test_mtp_poisons_inside_f_stay_below_the_upper_bound():
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    X, y, fs, _ = upper_instance(seed=3, n=40)
    eps = 0.1
    c = train(X, y, "svm", REG)
    tgt = LinearModel(c.w * 0.2, -c.b, "svm", REG)
    res = ModelTargetedPoisoning(tgt, fs, REG, eps_close=0.0, budget=eps * len(y),
                                 integer="relax", progress_bar=False).fit(X, y).result_
    assert 0 < res.poisons.weight.sum() <= eps * len(y)
    U = CertifiedUpperBound(fs, REG, eps).fit(X, y).upper_bound_
    val, gap, _ = poisoned_training_loss(X, y, res.poisons.X, res.poisons.y,
                                         res.poisons.weight, REG)
    assert val - gap <= U


# ------------------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    from convexpoison.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def bc_files(tmp_path_factory):
    """A target (high-loss test points flipped) and an MTP poison set on breast-cancer."""
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.datasets import load_dataset

    ds = load_dataset("breast-cancer")
    c = train(ds.X_train, ds.y_train, "svm", ds.reg)
    idx = np.argsort(ds.y_test * (ds.X_test @ c.w + c.b))[:20]
    t = train(np.vstack([ds.X_train, ds.X_test[idx]]), np.r_[ds.y_train, -ds.y_test[idx]],
              "svm", ds.reg, sample_weight=np.r_[np.ones(len(ds.y_train)), 2 * np.ones(20)])
    d = tmp_path_factory.mktemp("cert")
    t.save(d / "target.npz")
    r = ModelTargetedPoisoning(t, ds.domain, ds.reg, eps_close=0.1, progress_bar=False).fit(
        ds.X_train, ds.y_train).result_
    r.poisons.save(d / "poisons.npz")
    return d, r


def _check_bound_fields(res, kind):
    """One meaning per JSON field, in every certify command: ``lower_bound`` is a certified
    number of poison points (an integer) or null with a reason; ``upper_bound`` a certified
    damage value (a number, with the quantity it bounds) or null with a reason."""
    lb, ub = res["lower_bound"], res["upper_bound"]
    if kind == "lower":
        assert isinstance(lb, int) and not isinstance(lb, bool) and lb >= 0
        assert "lower_bound_reason" not in res
        assert ub is None and "damage" in res["upper_bound_reason"]
    else:
        assert lb is None and "number of poison points" in res["lower_bound_reason"]
        assert isinstance(ub, float) and res["upper_bound_quantity"]
        assert "upper_bound_reason" not in res
    # no other field claims to be a bound under a near-identical name
    assert not {"lower_bound_meaning", "upper_bound_meaning"} & set(res)


def test_cli_lower_bound_methods_agree_and_report_their_solver(capsys, bc_files):
    from convexpoison.certificates.base import sound_ceil

    d, mtp = bc_files
    runs = {}
    for method in ("optimal", "lp", "intermediate"):
        code, out, _ = _cli(capsys, "certify", "lower-bound", "--dataset", "breast-cancer",
                            "--target", str(d / "target.npz"), "--method", method, "--json",
                            "--no-progress")
        assert code == 0
        runs[method] = res = json.loads(out)
        _check_bound_fields(res, "lower")
        for key in ("seconds", "status", "statement", "value", "solver"):
            assert key in res
        assert res["method"] == method and str(res["lower_bound"]) in res["statement"]
    opt, lp, inter = runs["optimal"], runs["lp"], runs["intermediate"]
    # the solver and status are the Dinkelbach subproblem's own (the default QP solver)
    assert opt["solver"] == solvers.default_solver("QP") and opt["status"] == "optimal"
    assert opt["lower_bound"] == sound_ceil(opt["value"]) >= opt["theta_c_bound"]
    # two independent programs for one number: the optimal Theorem 4.2 bound and the LP
    assert opt["value"] == pytest.approx(lp["value"], rel=1e-3)
    assert abs(opt["lower_bound"] - lp["lower_bound"]) <= 1
    # the intermediate bound is MTP's own, and never above the optimum
    assert inter["lower_bound"] == mtp.lower_bound
    assert inter["mtp_n_poisons"] == mtp.n_poisons
    assert opt["lower_bound"] >= inter["lower_bound"]


def test_cli_lower_bound_of_an_induced_model_is_at_most_the_poison_count(capsys, bc_files):
    d, mtp = bc_files
    code, out, _ = _cli(capsys, "certify", "lower-bound", "--dataset", "breast-cancer",
                        "--poisons", str(d / "poisons.npz"), "--json", "--no-progress")
    assert code == 0
    res = json.loads(out)
    assert 0 < res["lower_bound"] <= res["n_poisons"] == mtp.n_poisons
    assert res["ratio"] == pytest.approx(res["n_poisons"] / res["lower_bound"])


def test_cli_upper_bound(capsys, tmp_path):
    out_file = tmp_path / "attack.npz"
    code, out, _ = _cli(capsys, "certify", "upper-bound", "--dataset", "breast-cancer",
                        "--epsilon", "0.03", "--defense", "l2,slab", "--json",
                        "--no-progress", "--out", str(out_file))
    assert code == 0
    res = json.loads(out)
    _check_bound_fields(res, "upper")
    for key in ("seconds", "status", "statement", "solver"):
        assert key in res
    assert res["attack_value"] <= res["upper_bound"]
    assert res["n_poisons"] <= 0.03 * 398
    f = np.load(out_file)
    assert f["weight"].sum() == res["n_poisons"]
    # the matching attack's value, recomputed by training on Dc u Dp independently
    from convexpoison.datasets import load_dataset

    ds = load_dataset("breast-cancer")
    val, gap, _ = poisoned_training_loss(ds.X_train, ds.y_train, f["X"], f["y"], f["weight"],
                                         ds.reg)
    assert val == pytest.approx(res["attack_value"], rel=1e-9)
    assert val - gap <= res["upper_bound"]


def test_cli_bad_input_exits_2(capsys, bc_files):
    d, _ = bc_files
    code, _, err = _cli(capsys, "certify", "upper-bound", "--dataset", "breast-cancer",
                        "--epsilon", "0.03", "--defense", "knn", "--json")
    assert code == 2 and "--defense" in err
    code, _, err = _cli(capsys, "certify", "lower-bound", "--dataset", "breast-cancer", "--json")
    assert code == 2 and "--target" in err
    code, _, err = _cli(capsys, "certify", "upper-bound", "--dataset", "breast-cancer",
                        "--epsilon", "2", "--json")
    assert code == 2 and "--epsilon" in err


# ------------------------------------------------------------------------ slow
@pytest.mark.slow
def test_mnist17_upper_bound_dominates_the_matching_attack():
    from convexpoison.datasets import load_dataset

    ds = load_dataset("mnist17")
    fs = make_feasible_set(["domain", "l2", "slab"], ds.domain, ds.X_train, ds.y_train)
    ub = CertifiedUpperBound(fs, ds.reg, 0.03).fit(ds.X_train, ds.y_train)
    for integer in (False, True):
        Xp, yp, wp = ub.matching_attack(integer=integer)
        val, gap, _ = poisoned_training_loss(ds.X_train, ds.y_train, Xp, yp, wp, ds.reg)
        assert val - gap <= ub.upper_bound_


@pytest.mark.slow
def test_digits17_integer_lower_bound_is_sound_for_an_induced_model():
    from convexpoison.datasets import load_dataset

    ds = load_dataset("digits17")
    c = train(ds.X_train, ds.y_train, "svm", ds.reg)
    lab = 1
    x = np.where(-lab * c.w > 0, ds.domain.hi, ds.domain.lo)
    tgt, gap = induced_target(ds.X_train, ds.y_train, x[None, :], np.array([lab]),
                              np.array([7.0]), ds.reg)
    r = optimal_lower_bound(tgt, ds.domain, ds.X_train, ds.y_train, ds.reg, target_gap=gap)
    assert r.relaxed.lower_bound <= r.lower_bound <= 7


def test_every_certificate_reports_one_result_type_with_one_meaning_per_field():
    """Theorem 4.2 at a model, the optimal bound, the LP bound and the upper bound all
    become a Certificate whose lower_bound counts poison points and whose upper_bound
    bounds damage -- and the numbers are the ones their own results hold."""
    from convexpoison.certificates.base import Certificate
    from convexpoison.certificates.lp import lp_certificate, lp_lower_bound

    X, y, tgt, gap, dom = small_instance()
    clean = train(X, y, "svm", REG)
    at_clean = certify_at(clean, tgt, X, y, REG, domain_sup_bound(dom, clean, tgt))
    opt = optimal_lower_bound(tgt, dom, X, y, REG)
    lp = lp_lower_bound(tgt, dom, X, y, REG)
    Xu, yu, fs, _ = upper_instance()
    up = CertifiedUpperBound(fs, REG, 0.05).fit(Xu, yu).result_
    certs = {"theorem42": at_clean.certificate(), "optimal": opt.certificate(),
             "lp": lp_certificate(lp), "upper_bound": up.certificate()}
    for method, cert in certs.items():
        assert isinstance(cert, Certificate) and cert.method == method
        _check_bound_fields(cert.to_dict(), "upper" if method == "upper_bound" else "lower")
    assert certs["theorem42"].lower_bound == at_clean.lower_bound
    assert certs["optimal"].lower_bound == opt.lower_bound
    assert certs["lp"].lower_bound == lp.certified
    assert certs["upper_bound"].upper_bound == up.upper_bound
    assert certs["optimal"].status == "optimal" == certs["lp"].status
    assert certs["upper_bound"].status == "optimal"
