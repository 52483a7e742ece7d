"""The reachable-target attack's search (docs/reachable.md): the price gradient read from
the minimum-poison program's duals against finite differences of fresh solves, the
dual climb's candidates and the cap on screening solves -- each with the issue's
property checked on the accepted target (tests/test_reachable.py's checks)."""
import numpy as np
import pytest

from convexpoison import load_dataset
from convexpoison.attacks.reachable import ReachableTargetAttack, _Pricer, _theta_model
from convexpoison.defender import resolve_defender
from convexpoison.feasible import make_feasible_set

from test_reachable import SMALL, _check_property


@pytest.fixture(scope="module")
def breast():
    return load_dataset("breast-cancer")


def test_price_gradient_from_the_duals_matches_finite_differences(breast):
    """The envelope-theorem gradient of the program's optimum in theta (KKT row's and
    margin conditions' duals) against central differences of two more solves, along
    random directions, at a target whose price is positive (a blend toward a label-flip
    decoy), with a step that moves no clean point across the target's margin."""
    from convexpoison.decoys import DecoyGenerator

    Xc, yc = breast.X_train, breast.y_train
    D = resolve_defender(None, breast, "svm", breast.reg)
    clean = D.train(Xc, yc)
    gen = DecoyGenerator(None, repeats=(2,), quantiles=(0.1,), prune=False,
                         defender=D).fit(Xc, yc, breast.X_test, breast.y_test, clean_model=clean)
    # a blended target moved off the points on both models' margins (support vectors
    # of both lie on every blend's margin): the margin partition, which the gradient
    # leaves out, then stays put for a small enough move
    from convexpoison.attacks.reachable import _blend

    rng = np.random.default_rng(0)
    theta = _blend(clean, gen.candidates_[0].model, 1.5).theta
    target = _theta_model(clean, theta + 0.01 * rng.normal(size=theta.shape))
    feas = make_feasible_set(["domain", "l2", "slab"], breast.domain, Xc, yc, quantile=0.95)
    pricer = _Pricer(feas, Xc, yc, D, None)
    p0 = pricer.screen(target)
    g = pricer.grad
    assert np.isfinite(p0) and p0 > 0 and g is not None and g.shape == (Xc.shape[1] + 1,)
    tol = pricer.program.tol
    gap = np.abs(yc * target.decision_function(Xc) - 1.0)
    assert np.all(np.abs(gap - tol) > 1e-9)
    for _ in range(3):
        d = rng.normal(size=g.shape)
        d /= np.linalg.norm(d)
        # the largest move keeping every clean point on its side of the band |ys - 1| <= tol
        rate = np.abs(np.c_[Xc, np.ones(len(Xc))] @ d) + 1e-300
        h = 0.5 * np.min(np.abs(gap - tol) / rate)
        assert h > 1e-6
        up = pricer.screen(_theta_model(clean, target.theta + h * d))
        down = pricer.screen(_theta_model(clean, target.theta - h * d))
        fd = (up - down) / (2 * h)
        assert fd == pytest.approx(g @ d, rel=2e-2, abs=1e-3 * np.linalg.norm(g))


def test_dual_climb_and_the_cap_keep_the_property(breast):
    """The dual climb prices its points (named ``dual<round>>``) and the search stops
    at max_priced screening solves; the accepted target still is induced with at most
    its certified minimum + 2 points."""
    # (without the polish: its rounds search again past the first search's cap)
    att = ReachableTargetAttack(epsilon=0.03, dual_rounds=1, n_climb=1, climb_rounds=1,
                                polish_rounds=0, **SMALL).fit(breast)
    names = [c.source for c in att.candidates_]
    assert any(n.startswith("dual1>") for n in names)
    _check_property(breast, att)
    # priced after the search: snapped targets and the seed poisons' models (step 5b)
    def after(c):
        return c.source.endswith(("snapped", "poison's model"))
    n = len([c for c in att.candidates_ if not after(c)])
    capped = ReachableTargetAttack(epsilon=0.03, max_priced=n // 2, dual_rounds=1, n_climb=1,
                                   polish_rounds=0, climb_rounds=1, **SMALL).fit(breast)
    assert capped.search_exhausted_ and not att.search_exhausted_
    searched = [c for c in capped.candidates_ if not after(c)]
    assert len(searched) == n // 2
    # the capped search is a prefix of the full one (same order of solves)
    assert [c.source for c in searched] == names[:n // 2]
    if capped.result_.status == "eps_close":
        _check_property(breast, capped)


def test_solves_without_explicit_zeros_match_the_plain_solve(breast):
    """solvers.solve(drop_zeros=True), the pricer's screening path: the matrix the DPP
    program hands the solver holds explicit zeros (the clean multipliers of points off the
    target's margin), and dropping them leaves the optimum, the points and the KKT row's
    duals unchanged -- against the plain Clarabel solve and an SCS solve."""
    from convexpoison import solvers
    from convexpoison.attacks.reachable import _blend
    from convexpoison.decoys import DecoyGenerator
    from convexpoison.programs.minpoison import MinimumPoisonProgram

    Xc, yc = breast.X_train, breast.y_train
    D = resolve_defender(None, breast, "svm", breast.reg)
    clean = D.train(Xc, yc)
    gen = DecoyGenerator(None, repeats=(2,), quantiles=(0.1,), prune=False,
                         defender=D).fit(Xc, yc, breast.X_test, breast.y_test, clean_model=clean)
    target = _blend(clean, gen.candidates_[0].model, 1.5)
    feas = make_feasible_set(["domain", "l2", "slab"], breast.domain, Xc, yc, quantile=0.95)
    prog = MinimumPoisonProgram(feas, None, integer="relax", defender=D).fit(Xc, yc)
    prog.set_target(target)
    data, _, _ = prog.problem.get_problem_data("CLARABEL")
    assert np.sum(data["A"].data == 0) > 0          # the zeros the option drops
    plain = solvers.solve(prog.problem, prog.kind_, solver="CLARABEL")
    z_plain = prog._vars["z"][1].value.copy()
    lam_plain = np.asarray(prog._kkt.dual_value, float).copy()
    sparse = solvers.solve(prog.problem, prog.kind_, solver="CLARABEL", drop_zeros=True)
    assert plain.value > 0
    assert sparse.value == pytest.approx(plain.value, rel=1e-7)
    assert np.allclose(prog._vars["z"][1].value, z_plain, atol=1e-5 * (1 + np.abs(z_plain).max()))
    assert np.allclose(prog._kkt.dual_value, lam_plain, rtol=1e-4,
                       atol=1e-6 * (1 + np.abs(lam_plain).max()))
    scs = solvers.solve(prog.problem, prog.kind_, solver="SCS", drop_zeros=True)
    assert scs.value == pytest.approx(plain.value, rel=1e-5)
