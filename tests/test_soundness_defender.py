"""Soundness harness of the certificates for every defender variant (issue 17's acceptance).

{C_R on the average loss, scikit-learn's C on the sum} x {intercept penalised, free}, on
seeded random small instances (2-5 features, 20-60 clean points, box domain):

* lower bounds (Theorem 4.2 at the clean model and Dinkelbach-optimal, the minimum-poison
  program) never exceed the size of a poison set D* that provably induces the target:
  the target is trained exactly (``D.train``, proven duality gap) on ``Dc u D*``, and the
  Theorem 4.2 certificates are given that gap (``target_gap``); D* satisfies the
  defender's stationarity condition at the target (``kkt_residual`` with the defender);
* the program's fractional realisation, retrained with ``D.train``, lands on the target;
  the minimum-poison attack's integer set, retrained, is never smaller than the bound
  certified for the model it induces;
* the upper bound is never below the objective (hence the clean loss) actually reached by
  training on clean data plus real poison sets inside the feasible set;
* independent computations: the program's value against the Dinkelbach optimum (two
  programs for one number), Theorem 4.2's ratio against a brute-force supremum on 1-D
  instances written out here per convention, the upper bound's program against a second
  formulation (vertex enumeration of the box, another solver);
* what is not handled raises InputError naming ``defender``.
"""
import itertools

import numpy as np
import pytest

from convexpoison.certificates.lp import induced_distance
from convexpoison.certificates.optimal import DinkelbachLowerBound
from convexpoison.certificates.theorem42 import certify_at, domain_sup_bound, theorem42
from convexpoison.certificates.upper_bound import CertifiedUpperBound, poisoned_training_loss
from convexpoison.defender import Defender
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.poisons import PoisonSet
from convexpoison.programs.kkt import KKTProgram, kkt_residual
from convexpoison.programs.minpoison import MinimumPoisonProgram

VARIANTS = {
    "reg-penalized": Defender("hinge", reg=0.09, penalize_intercept=True),
    "reg-free": Defender("hinge", reg=0.09, penalize_intercept=False),
    "C-penalized": Defender("hinge", C=0.5, penalize_intercept=True),
    "C-free": Defender("hinge", C=0.5, penalize_intercept=False),
}
SEEDS = range(4)
#: the trainer's duality gap, widened for its own rounding (as certificates.lp does)
GAP_ALLOWANCE = 1e-12


def instance(seed, D, d=None, N=None):
    """Clean data, a poison set D* (integer copies, in the box) and the target D trains on
    ``Dc u D*``."""
    rng = np.random.default_rng(1000 + seed)
    d = 2 + seed % 4 if d is None else d
    N = 20 + 10 * (seed % 5) if N is None else N
    dom = Domain.box(d)
    y = np.where(np.arange(N) % 2 == 0, 1, -1)
    X = np.clip(0.5 + 0.2 * rng.standard_normal((N, d)) + 0.15 * y[:, None], 0, 1)
    m = 1 + seed % 4
    Xp = rng.uniform(0, 1, (m, d))
    yp = rng.choice([-1, 1], m)
    wp = rng.integers(1, 4, m).astype(float)
    Xa, ya, wa = np.vstack([X, Xp]), np.concatenate([y, yp]), np.concatenate([np.ones(N), wp])
    target = D.train(Xa, ya, wa, tol=1e-12)
    return dom, X, y, PoisonSet(Xp, yp, wp), target


def gap_of(model):
    return max(float(model.gap_), 0.0) + GAP_ALLOWANCE * abs(float(model.objective_))


def retrain(D, X, y, ps):
    Xa, ya, wa, _ = ps.with_clean(X, y)
    return D.train(Xa, ya, wa, tol=1e-12), (Xa, ya, wa)


# --------------------------------------------------------------------- lower bounds
@pytest.mark.parametrize("name", VARIANTS)
def test_lower_bounds_never_exceed_a_poison_set_that_induces_the_target(name):
    D = VARIANTS[name]
    for seed in SEEDS:
        dom, X, y, ps, target = instance(seed, D)
        n_star = ps.weight.sum()
        assert target.bias_regularized == D.penalize_intercept
        # D* satisfies the defender's stationarity condition at the target
        r = kkt_residual(target, X, y, None, ps, tol=1e-7, defender=D)
        assert np.linalg.norm(r) < 1e-6, (name, seed, r)
        # Theorem 4.2 at the clean model, with the target's proven gap
        clean = D.train(X, y, tol=1e-12)
        lb = certify_at(clean, target, X, y, None, domain_sup_bound(dom, clean, target),
                        target_gap=gap_of(target), defender=D)
        assert lb.lower_bound <= n_star, (name, seed, lb)
        # the Dinkelbach-optimal Theorem 4.2 bound
        opt = DinkelbachLowerBound(dom, None, defender=D, target_gap=gap_of(target)).fit(
            X, y, target).result_
        assert opt.lower_bound <= n_star, (name, seed, opt.lower_bound, n_star)
        assert opt.lower_bound >= lb.lower_bound
        # the minimum-poison program
        prog = MinimumPoisonProgram(dom, None, defender=D).fit(X, y)
        res = prog.solve(target)
        assert res.status == "optimal"
        assert res.value <= n_star * (1 + 1e-7) + 1e-7, (name, seed, res.value, n_star)
        assert res.lower_bound <= res.value + 1e-9 and res.certified <= n_star
        if D.penalize_intercept:
            # rigorous: the exact optimum D* induces lies within the proven distance of the
            # trained target (strong convexity), so K(delta) covers it
            delta = induced_distance(target, target, None, defender=D)
            assert 0 < delta < 1e-3
            assert prog.solve(target, delta=delta).certified <= n_star, (name, seed)
        else:   # no strong convexity in b: no distance is claimed
            assert np.isnan(induced_distance(target, target, None, defender=D))
        # the same LP written out independently (scipy HiGHS, explicit rows)
        ref = _linprog_min_poison(D, X, y, target)
        assert res.value == pytest.approx(ref, rel=1e-6, abs=1e-6), (name, seed, res.value, ref)
        # two programs for one number: sup_theta c(theta) = the program's optimum
        opt0 = DinkelbachLowerBound(dom, None, defender=D).fit(X, y, target).result_
        assert opt0.value <= res.value * (1 + 1e-6) + 1e-6, (name, seed, opt0.value, res.value)
        assert opt0.value >= res.value * (1 - 1e-3) - 1e-3, (name, seed, opt0.value, res.value)
        if D.convention == "sum":
            # under C zero-gradient poison changes nothing: the optimum uses none
            assert sum(res.eta.values()) <= 1e-6 * (1 + n_star), res.eta
        # the fractional realisation, retrained by the defender, is a minimiser at the target
        real = res.poison_set()
        if res.value > 1e-6:
            model, (Xa, ya, wa) = retrain(D, X, y, real)
            assert np.linalg.norm(model.w - target.w) < 1e-4, (name, seed)
            # with a free intercept b may be flat: the target must be *a* minimiser
            assert (D.objective(target, Xa, ya, wa)
                    <= D.objective(model, Xa, ya, wa) * (1 + 1e-7) + 1e-9), (name, seed)


@pytest.mark.parametrize("name", VARIANTS)
def test_minimum_poison_attack_retrains_under_the_defender(name):
    """The attack's integer set, retrained exactly with D.train, induces a model; no bound
    certified for that model (Theorem 4.2 with its gap) exceeds the set's size."""
    from convexpoison.attacks.minpoison import MinimumPoisoning

    D = VARIANTS[name]
    for seed in (0, 2):
        dom, X, y, ps, target = instance(seed, D)
        att = MinimumPoisoning(target, dom, defender=D, eps_close=0.05, max_extra=3,
                               bound_at_achieved=False).fit(X, y)
        out = att.result_
        assert out.model is not None and out.status == "eps_close", (name, seed, out.status)
        model, _ = retrain(D, X, y, att.poisons_)
        assert np.allclose(model.w, out.model.w, atol=1e-6)
        assert out.model.bias_regularized == D.penalize_intercept
        W = len(y) + att.poisons_.weight.sum()
        assert out.model.reg == pytest.approx(D.reg_for(W), rel=1e-12)
        n = att.poisons_.weight.sum()
        assert out.lower_bound <= ps.weight.sum()
        bound = certify_at(D.train(X, y, tol=1e-12), out.model, X, y, None, domain_sup_bound(
            dom, D.train(X, y, tol=1e-12), out.model), target_gap=gap_of(out.model),
            defender=D)
        assert bound.lower_bound <= n, (name, seed, bound, n)


def _linprog_min_poison(D, X, y, target, tol=1e-6):
    """The minimum-poison LP over the box [0, 1]^d written out here with scipy's HiGHS,
    from the defender's stationarity condition in the sum form: clean gradients (free
    multipliers on the margin), gradient-carrying poison (z_y, gamma_y) in gamma_y * box on
    the active side, zero-gradient poison (u_y, eta_y) on the other side, and the
    regulariser row (N + sum gamma + sum eta) C_R grad R  (reg)  or  grad R / C  (C)."""
    from scipy.optimize import linprog

    N, d = X.shape
    w, b = target.w, float(target.b)
    m = y * (X @ w + b)
    inside, on = m < 1 - tol, np.abs(m - 1) <= tol
    G = -(y[:, None] * np.hstack([X, np.ones((N, 1))]))           # rows -y (x, 1)
    gR = np.append(w, b if D.penalize_intercept else 0.0)
    k = int(on.sum())
    # variables: beta (k) | per label y in (+1, -1): z (d), gamma, u (d), eta
    nv = k + 2 * (2 * d + 2)
    off = {lab: k + i * (2 * d + 2) for i, lab in enumerate((1, -1))}
    A_eq = np.zeros((d + 1, nv))
    b_eq = -G[inside].sum(axis=0)
    A_eq[:, :k] = G[on].T
    const = N * D.reg * gR if D.convention == "average" else gR / D.C
    b_eq = b_eq - const
    A_ub, b_ub, c = [], [], np.zeros(nv)
    for lab in (1, -1):
        o = off[lab]
        z, g, u, e = slice(o, o + d), o + d, slice(o + d + 1, o + 2 * d + 1), o + 2 * d + 1
        c[g] = c[e] = 1.0
        A_eq[:d, z] -= lab * np.eye(d)
        A_eq[d, g] -= lab
        if D.convention == "average":
            A_eq[:, g] += D.reg * gR
            A_eq[:, e] += D.reg * gR
        for var, wt, sign in ((z, g, 1.0), (u, e, -1.0)):
            for j in range(d):                    # 0 <= z_j <= weight
                row = np.zeros(nv); row[var.start + j] = 1.0; row[wt] = -1.0
                A_ub.append(row); b_ub.append(0.0)
                row = np.zeros(nv); row[var.start + j] = -1.0
                A_ub.append(row); b_ub.append(0.0)
            # sign * (lab (w.z + b wt) - wt) <= 0: active side (grad) or the other (idle)
            row = np.zeros(nv); row[var] = sign * lab * w; row[wt] = sign * (lab * b - 1.0)
            A_ub.append(row); b_ub.append(0.0)
    bounds = [(0, 1)] * k + [(None, None)] * (nv - k)
    for lab in (1, -1):
        o = off[lab]
        bounds[o + d] = bounds[o + 2 * d + 1] = (0, None)
    r = linprog(c, A_ub=np.array(A_ub), b_ub=np.array(b_ub), A_eq=A_eq, b_eq=b_eq,
                bounds=bounds, method="highs")
    assert r.status == 0, r.message
    return r.fun


def _brute_sup(w, b, wp, bp, lo=0.0, hi=1.0):
    """``sup_{y, x in [lo, hi]} hinge(theta) - hinge(theta_p)`` in 1-D: the difference is
    piecewise linear in ``x``, so its maximum is at an end or a kink."""
    best = -np.inf
    for lab in (-1, 1):
        xs = [lo, hi]
        for ww, bb in ((w, b), (wp, bp)):
            if ww != 0:
                k = (lab - bb) / ww           # lab (w x + b) = 1
                if lo <= k <= hi:
                    xs.append(k)
        for x in xs:
            val = max(0, 1 - lab * (w * x + b)) - max(0, 1 - lab * (wp * x + bp))
            best = max(best, val)
    return best


@pytest.mark.parametrize("name", VARIANTS)
def test_theorem42_matches_the_formula_written_out_on_1d(name):
    """c(theta) of theorem42 against the convention's formula computed here: average
    ``[dL + N C_R dR] / [sup + C_R (R - Rp)]``, sum ``[dL + dR / C] / sup``, ``R`` with
    or without ``b^2``."""
    D = VARIANTS[name]
    rng = np.random.default_rng(7)
    checked = 0
    for seed in range(6):
        _, X, y, _, target = instance(seed, D, d=1, N=24)
        for _ in range(5):
            model = D.train(X, y, tol=1e-12)
            model.w = model.w + 0.3 * rng.standard_normal(1)
            model.b = float(model.b + 0.3 * rng.standard_normal())
            sup = _brute_sup(model.w[0], model.b, target.w[0], target.b)
            def R(m):
                return 0.5 * (m.w[0] ** 2 + (m.b ** 2 if D.penalize_intercept else 0.0))
            dL = target.losses(X, y).sum() - model.losses(X, y).sum()
            if D.convention == "average":
                num = dL + len(y) * D.reg * (R(target) - R(model))
                den = sup + D.reg * (R(model) - R(target))
            else:
                num = dL + (R(target) - R(model)) / D.C
                den = sup
            got = theorem42(model, target, X, y, None, sup, defender=D)
            if num > 0 and den > 0:
                assert got.status == "ok"
                assert got.value == pytest.approx(num / den, rel=1e-9)
                checked += 1
            elif num > 0:
                assert got.status == "unattainable"
            # the closed-form supremum bound is an upper bound on the brute-force one
            assert domain_sup_bound(Domain.box(1), model, target) >= sup - 1e-12
    assert checked >= 5


@pytest.mark.parametrize("name", VARIANTS)
def test_unattainable_target_by_theorem42_and_by_the_program(name):
    """theta_p = (0, b=5) on [0, 1]: theta = (0, b=3) has no larger loss than theta_p at any
    point of either label (sup = 0; under C the denominator is that sup alone) and a
    smaller clean loss, so no poison set of any size induces theta_p: Theorem 4.2 says
    'unattainable' and the minimum-poison program is infeasible."""
    from convexpoison.training import LinearModel

    D = VARIANTS[name]
    _, X, y, _, _ = instance(0, D, d=1, N=24)
    target, model = LinearModel(np.zeros(1), 5.0), LinearModel(np.zeros(1), 3.0)
    sup = domain_sup_bound(Domain.box(1), model, target)
    assert sup == pytest.approx(0.0, abs=1e-12)
    got = theorem42(model, target, X, y, None, 0.0, defender=D)
    assert got.status == "unattainable" and got.lower_bound == float("inf")
    res = MinimumPoisonProgram(Domain.box(1), None, defender=D).fit(X, y).solve(target)
    assert res.certified == float("inf")


# ---------------------------------------------------------------------- upper bound
def _box_vertices(d):
    return np.array(list(itertools.product((0.0, 1.0), repeat=d)))


@pytest.mark.parametrize("name", VARIANTS)
def test_upper_bound_covers_real_poison_sets_and_a_second_formulation(name):
    import cvxpy as cp

    D = VARIANTS[name]
    eps = 0.1
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        dom, X, y, _, _ = instance(seed, D)
        N, d = len(y), X.shape[1]
        cub = CertifiedUpperBound(dom, None, eps, defender=D).fit(X, y)
        U = cub.result_.upper_bound
        # a second formulation: max hinge over the box by its vertices, another solver
        w, b = cp.Variable(d), cp.Variable()
        V = _box_vertices(d)
        worst = cp.maximum(0, *[1 - lab * (V @ w + b) for lab in (-1, 1)])
        R = 0.5 * (cp.sum_squares(w) + (cp.square(b) if D.penalize_intercept else 0))
        coef = D.reg * (1 + eps) if D.convention == "average" else 1.0 / (D.C * N)
        clean = cp.sum(cp.pos(1 - cp.multiply(y, X @ w + b))) / N
        prob = cp.Problem(cp.Minimize(clean + eps * cp.max(worst) + coef * R))
        prob.solve(solver="SCS", eps=1e-9, max_iters=200000)
        assert abs(prob.value - U) <= 1e-4 * max(1.0, abs(U)), (name, seed, prob.value, U)
        assert U >= cub.result_.program_lower_bound - 1e-9
        # real poison sets of at most eps N points inside the box: random, corners, the
        # matching attack
        k = int(np.floor(eps * N))
        sets = [(cub.matching_attack())]
        for _ in range(3):
            m = rng.integers(1, k + 1)
            sets.append((rng.uniform(0, 1, (m, d)), rng.choice([-1, 1], m), np.ones(m)))
        c = V[rng.integers(len(V))]
        sets.append((c[None, :], np.array([rng.choice([-1, 1])]), np.array([float(k)])))
        for Xp, yp, wp in sets:
            assert wp.sum() <= eps * N + 1e-9
            val, gap, model = poisoned_training_loss(X, y, Xp, yp, wp, None, defender=D)
            assert model.bias_regularized == D.penalize_intercept
            assert val - gap <= U, (name, seed, val, gap, U)
            assert model.losses(X, y).sum() / N <= U + 1e-12


# --------------------------------------------------------------------- the KKT program
@pytest.mark.parametrize("name", VARIANTS)
def test_kkt_program_rows_are_the_defenders_stationarity(name):
    """A decoy trained by D on Dc plus two points (copies) has a zero subgradient
    (``kkt_residual`` with the defender, margin multipliers free); the KKT program's
    residual (17) at those points is the same rows with equation (17)'s choice of
    subgradient, divided by N -- and the program finds a residual at most that."""
    D = VARIANTS[name]
    from convexpoison.feasible import as_feasible

    rng = np.random.default_rng(3)
    dom, X, y, _, _ = instance(1, D)
    N = len(y)
    xp, xm = rng.uniform(0, 1, X.shape[1]), rng.uniform(0, 1, X.shape[1])
    ps = PoisonSet(np.vstack([xp, xm]), np.array([1, -1]), np.array([3.0, 2.0]))
    Xa, ya, wa, _ = ps.with_clean(X, y)
    decoy = D.train(Xa, ya, wa, tol=1e-12)
    assert decoy.w @ xp + decoy.b < 1 and -(decoy.w @ xm + decoy.b) < 1
    assert np.linalg.norm(kkt_residual(decoy, X, y, None, ps, tol=1e-7, defender=D)) < 1e-6
    r17 = kkt_residual(decoy, X, y, None, ps, subgradient="equation17", defender=D)
    # equation (17) is the sum form divided by N (its regulariser term W C_R grad R / N,
    # or grad R / (C N) under C)
    prog = KKTProgram(as_feasible(dom), None, defender=D)
    prog.set_decoy(decoy, X, y)
    assert prog.residual_of(xp, xm, 3 / N, 2 / N, N=N) == pytest.approx(
        np.linalg.norm(r17) / N, rel=1e-9, abs=1e-12)
    _, _, res, _ = prog.solve(3, 2, N)
    assert res <= np.linalg.norm(r17) / N + 1e-7


# --------------------------------------------------------------------- statements
@pytest.mark.parametrize("name", VARIANTS)
def test_statements_and_certificates_name_the_defender(name):
    from convexpoison.certificates.lp import lp_certificate, lp_statement
    from convexpoison.certificates.theorem42 import lower_bound_statement
    from convexpoison.certificates.upper_bound import upper_bound_statement

    D = VARIANTS[name]
    dom, X, y, _, target = instance(0, D)
    res = MinimumPoisonProgram(dom, None, defender=D).fit(X, y).solve(target)
    texts = [lp_statement(res, "the box", len(y), None, defender=D),
             lower_bound_statement(3, "the box", len(y), None, defender=D),
             upper_bound_statement(0.5, 0.1, len(y), "the box", None, defender=D)]
    for text in texts:
        assert D.spec() in text
        assert ("b^2" in text) == D.penalize_intercept
        assert ("C = 0.5" in text) == (D.convention == "sum")
    assert lp_certificate(res).details["defender"] == D.spec()
    ub = CertifiedUpperBound(dom, None, 0.1, defender=D).fit(X, y).result_
    assert ub.certificate().details["defender"] == D.spec()
    opt = DinkelbachLowerBound(dom, None, defender=D, max_iter=2).fit(X, y, target).result_
    assert opt.certificate().details["defender"] == D.spec()


# --------------------------------------------------------------------- unhandled input
def test_variants_not_covered_raise_naming_defender():
    dom, X, y, ps, target = instance(0, VARIANTS["reg-penalized"])
    for spec in ("logreg:reg=0.1", "logisticregression:C=1", "multisvm:reg=0.02"):
        for make in (lambda: MinimumPoisonProgram(dom, None, defender=spec),
                     lambda: CertifiedUpperBound(dom, None, 0.1, defender=spec),
                     lambda: DinkelbachLowerBound(dom, None, defender=spec),
                     lambda: theorem42(target, target, X, y, None, 0.0, defender=spec)):
            with pytest.raises(InputError, match="^defender"):
                make()
    binary = Domain(np.zeros(2), np.ones(2), integer=np.ones(2, bool))
    with pytest.raises(InputError, match="^defender"):
        MinimumPoisonProgram(binary, None, integer="exact", defender="svc:C=1")
