"""The solver layer: defaults agree with a second solver; failures carry the status."""
import cvxpy as cp
import numpy as np
import pytest

from convexpoison import solvers
from convexpoison.errors import InputError, SolverFailure


def _max_loss_lp(rng, d=30):
    """A max-loss-difference-shaped LP: maximise a(x) - t with t >= c(x), t >= 0, x in a box."""
    w1, w2 = rng.standard_normal(d), rng.standard_normal(d)
    x = cp.Variable(d, bounds=[np.zeros(d), np.ones(d)])
    t = cp.Variable()
    a = 1 - (w1 @ x + 0.3)
    c = 1 - (w2 @ x - 0.2)
    return cp.Problem(cp.Maximize(a - cp.pos(c))), (w1, w2)


def test_default_lp_solver_agrees_with_a_second_solver(rng):
    for _ in range(5):
        prob, _ = _max_loss_lp(rng)
        first = solvers.solve(prob, "LP")
        values = [first.value]
        for other in ("ECOS", "SCS"):
            if other != first.solver:
                values.append(solvers.solve(prob, "LP", solver=other).value)
        assert np.allclose(values, values[0], rtol=1e-5, atol=1e-6)


def test_default_solver_is_not_a_route_known_to_be_wrong():
    # docs/interactive.md, Solver facts: cvxpy 1.9 + HiGHS/SciPy/CBC return wrong LP optima with pos(affine)
    for kind in ("LP", "QP", "SOCP"):
        assert solvers.default_solver(kind) not in ("HIGHS", "SCIPY", "CBC", "OSQP", "ECOS_BB")


def test_milp_solver_is_exact_on_a_tiny_knapsack():
    values = np.array([6.0, 5.0, 8.0, 9.0, 6.0, 7.0, 3.0])
    weights = np.array([2.0, 3.0, 6.0, 7.0, 5.0, 9.0, 4.0])
    z = cp.Variable(7, boolean=True)
    prob = cp.Problem(cp.Maximize(values @ z), [weights @ z <= 9])
    info = solvers.solve(prob, "MILP")
    brute = max(values @ np.array(bits) for bits in np.ndindex(*(2,) * 7)
                if weights @ np.array(bits) <= 9)
    assert info.value == pytest.approx(brute)
    assert info.upper_bound() >= brute


def test_infeasible_problem_raises_with_status():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])
    with pytest.raises(SolverFailure) as err:
        solvers.solve(prob, "LP")
    assert "infeasible" in err.value.status


def _small_qp():
    """A lasso-like QP over a box: 10 variables, 30 residuals."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((30, 10)), rng.standard_normal(30)
    x = cp.Variable(10)
    return cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x)), [cp.abs(x) <= 1])


def test_an_inaccurate_answer_is_refused_unless_asked_for():
    """SCS stopped after 20 iterations reports optimal_inaccurate: a failure that carries
    the status, unless inaccurate_ok (placements that exact retraining judges), which
    returns it with that status and a value near the optimum."""
    prob = _small_qp()
    with pytest.raises(SolverFailure) as err:
        solvers.solve(prob, "QP", solver="SCS", max_iters=20)
    assert err.value.status == "optimal_inaccurate"
    info = solvers.solve(prob, "QP", solver="SCS", max_iters=20, inaccurate_ok=True)
    assert info.status == "optimal_inaccurate"
    exact = solvers.solve(prob, "QP", solver="CLARABEL")
    assert exact.value <= info.value <= exact.value * 1.05


def test_certificate_slack_moves_bounds_outward():
    info = solvers.SolveInfo("CLARABEL", "optimal", 10.0, 0.0)
    assert info.upper_bound() > 10.0 > info.lower_bound()


def test_unknown_or_inaccurate_solver_is_refused():
    with pytest.raises(InputError, match="not installed"):
        solvers.candidates("LP", "GUROBI")
    with pytest.raises(InputError, match="inaccurate"):
        solvers.candidates("QP", "OSQP")
    with pytest.raises(InputError, match="problem class"):
        solvers.candidates("SDP")


def test_unlicensed_mosek_is_detected_once():
    # without a licence (the CI machine has none) MOSEK must never be picked
    if not solvers.mosek_licensed():
        assert "MOSEK" not in solvers.installed()
        assert solvers.default_solver("LP") != "MOSEK"
    else:  # pragma: no cover - only with a licence
        assert solvers.default_solver("LP") == "MOSEK"


def _parametrised_socp(A):
    """A DPP program with a Parameter ``c`` (no value yet): min c.x + |A x|^2, |x| <= 1.
    Returns ``(problem, c)``."""
    c = cp.Parameter(A.shape[1], name="c")
    x = cp.Variable(A.shape[1])
    return cp.Problem(cp.Minimize(c @ x + cp.sum_squares(A @ x)), [cp.norm(x) <= 1]), c


@pytest.mark.parametrize("drop_zeros", [False, True])
def test_a_program_compiled_ahead_is_not_compiled_again(drop_zeros):
    """solvers.compile_ahead keeps the compiled DPP form under the key solve uses: the
    solve that follows compiles nothing (the same form) and gives a fresh program's
    optimum; unset Parameters are the caller's error; ignore_dpp keeps nothing."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 4))

    def program():
        return _parametrised_socp(A)

    prob, c = program()
    with pytest.raises(InputError, match="c have no value"):
        solvers.compile_ahead(prob, "SOCP", solver="CLARABEL")
    c.value = rng.standard_normal(4)
    assert solvers.compile_ahead(prob, "SOCP", solver="CLARABEL",
                                 drop_zeros=drop_zeros) == "CLARABEL"
    form = prob._cache.param_prog
    assert form is not None
    c.value = rng.standard_normal(4)
    value = solvers.solve(prob, "SOCP", solver="CLARABEL", drop_zeros=drop_zeros).value
    assert prob._cache.param_prog is form
    fresh, c2 = program()
    c2.value = c.value
    assert value == pytest.approx(solvers.solve(fresh, "SOCP", solver="CLARABEL").value,
                                  rel=1e-7, abs=1e-9)
    other, c3 = program()
    c3.value = c.value
    solvers.compile_ahead(other, "SOCP", solver="CLARABEL", ignore_dpp=True)
    assert other._cache.param_prog is None


@pytest.mark.parametrize("drop_zeros", [False, True])
def test_a_fallback_solver_does_not_evict_the_first_solvers_compiled_form(drop_zeros):
    """cvxpy keeps one compiled form per Problem; solve keeps one per solver beside it, so a
    solve with another solver (a fallback) leaves the first solver's form to its next solve
    -- the same object -- and every solve still gives a fresh program's optimum."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((6, 4))

    def program():
        return _parametrised_socp(A)

    prob, c = program()
    values = []
    for solver in ("CLARABEL", "ECOS", "CLARABEL", "ECOS", "CLARABEL"):
        c.value = rng.standard_normal(4)
        values.append(solvers.solve(prob, "SOCP", solver=solver, drop_zeros=drop_zeros).value)
        assert prob._cache.key[0] == solver
        form = prob._cache.param_prog
        assert form is not None
        if solver == "CLARABEL" and len(values) > 1:
            assert form is clarabel_form       # not compiled again after ECOS's solve
        if solver == "CLARABEL":
            clarabel_form = form
        fresh, c2 = program()
        c2.value = c.value
        assert values[-1] == pytest.approx(
            solvers.solve(fresh, "SOCP", solver="SCS").value, rel=1e-5, abs=1e-6)


def test_clarabel_is_tried_again_refined_before_the_next_solver():
    """Clarabel stopped short (max_iter 5: optimal_inaccurate) is tried once more with its
    linear solves refined (CLARABEL_REFINED), then regularised (CLARABEL_REGULARISED),
    before the fall-back moves on; the failure lists the three tries.  Without a fall-back (fallback=False, the screening solves) and
    with inaccurate_ok there is no second try."""
    prob = _small_qp()
    with pytest.raises(SolverFailure) as err:
        solvers.solve(prob, "QP", solver="CLARABEL", max_iter=5)
    assert ("CLARABEL=optimal_inaccurate, CLARABEL refined=optimal_inaccurate, "
            "CLARABEL regularised=optimal_inaccurate") in str(err.value)
    with pytest.raises(SolverFailure) as once:
        solvers.solve(prob, "QP", solver="CLARABEL", max_iter=5, fallback=False)
    assert "refined" not in str(once.value)
    info = solvers.solve(prob, "QP", solver="CLARABEL", max_iter=5, inaccurate_ok=True)
    assert info.status == "optimal_inaccurate"
    # refined or not, the optimum is the one a second solver finds
    exact = solvers.solve(prob, "QP", solver="CLARABEL", **solvers.CLARABEL_REFINED)
    assert exact.value == pytest.approx(solvers.solve(prob, "QP", solver="SCS").value,
                                        rel=1e-6)


def test_stacked_norm_cones_keep_the_optimum_and_compile_as_one_cone():
    """stack_norm_cones: the norm constraints of one length become one SOC constraint
    (a norm of another length stays as it was, other constraints pass), the program stays
    DPP, the solver sees the same cones, and the optimum is the unstacked program's -- and
    SCS's on it -- for several Parameter values; the stacked solution meets every original
    norm constraint."""
    rng = np.random.default_rng(8)
    c, r = cp.Parameter(14, name="c"), cp.Parameter(nonneg=True, name="r")
    xs, y, s = [cp.Variable(4) for _ in range(3)], cp.Variable(2), cp.Variable(nonneg=True)
    norms = [cp.norm(xs[0] - 1, 2) <= r, cp.norm(xs[1], 2) <= 2 * r,
             cp.norm(xs[2] + 0.5, 2) <= s, cp.norm(y, 2) <= 1]
    cons = norms + [s <= 3, cp.sum(xs[2]) >= -1]
    objective = cp.Minimize(c @ cp.hstack(xs + [y]) + s)
    plain, stacked = (cp.Problem(objective, cons),
                      cp.Problem(objective, solvers.stack_norm_cones(cons)))
    socs = [k for k in stacked.constraints if isinstance(k, cp.constraints.SOC)]
    assert len(socs) == 1 and socs[0].num_cones() == 3
    assert any(k is norms[3] for k in stacked.constraints)        # alone of its length
    assert stacked.is_dcp(dpp=True)
    dims = [p.get_problem_data("CLARABEL")[0]["dims"].soc for p in (plain, stacked)]
    assert sorted(dims[0]) == sorted(dims[1]) == [3, 5, 5, 5]
    for _ in range(3):
        c.value, r.value = rng.standard_normal(14), float(rng.uniform(0.2, 1.5))
        value = solvers.solve(stacked, "SOCP", solver="CLARABEL").value
        assert value == pytest.approx(solvers.solve(plain, "SOCP", solver="CLARABEL").value,
                                      rel=1e-7, abs=1e-9)
        assert value == pytest.approx(solvers.solve(plain, "SOCP", solver="SCS").value,
                                      rel=1e-5, abs=1e-6)
        solvers.solve(stacked, "SOCP", solver="CLARABEL")
        assert all(k.violation() <= 1e-7 for k in norms)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_ctrl_c_a_solver_turned_into_an_error_is_raised_again(ctrl_c, name):
    """Clarabel's update (Rust) turns a KeyboardInterrupt raised while it reads the data into
    Exception('Invalid A update data'), which a solve takes for a failure (and tries the
    next solver): the Ctrl-C must still stop the run.  A real SIGINT -- or a SIGTERM, which
    the command line handles as a Ctrl-C -- delivered inside the block and converted there
    as Clarabel does, is raised again when the block ends, and the handler in place before
    is back."""
    import contextlib
    import os
    import signal
    import threading
    import time

    from convexpoison.cli import _Stop

    sig = getattr(signal, name)
    with contextlib.ExitStack() as stack:
        stop = _Stop()
        if name == "SIGTERM":
            stack.enter_context(stop.sigterm_as_interrupt())
        before = signal.getsignal(sig)
        with pytest.raises(KeyboardInterrupt):
            with solvers.ctrl_c_kept():
                try:
                    try:
                        os.kill(os.getpid(), sig)                # the user's Ctrl-C ...
                        time.sleep(5)                            # ... delivered here
                    except KeyboardInterrupt:
                        raise Exception("Invalid A update data") from None   # clarabel's
                except Exception as exc:                         # solvers._status_of
                    assert str(exc) == "Invalid A update data"
        assert signal.getsignal(sig) is before
        assert stop.term == (name == "SIGTERM")
    # no Ctrl-C: nothing raised; outside the main thread (a Dask worker's): not touched
    with solvers.ctrl_c_kept():
        pass
    before = signal.getsignal(signal.SIGINT)
    seen = []
    t = threading.Thread(target=lambda: seen.append(solvers.ctrl_c_kept().__enter__()))
    t.start()
    t.join()
    assert seen == [None] and signal.getsignal(signal.SIGINT) is before
