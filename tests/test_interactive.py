"""Interactive use (issue 9 part 3): every program as a cvxpy problem, with a summary.

* ``docs/interactive.md`` runs: every ```python block, in order, in one namespace (the
  page is a worked example, so it must work as printed), and its printed summary matches
  what :func:`describe` prints now.
* each program class's accessor returns its problem *without* solving it; ``describe``
  reports that problem's variable and parameter names and that it is DPP; solving the
  accessor's problem by hand gives the value the class computes itself -- and, where
  there is one, an independent closed form (F(0) of the Dinkelbach subproblem is the
  training-objective gap; the upper-bound program at eps = 0 is SVM training; the inner
  maximiser over box and ball has an exact O(d log d) solution).
* :func:`describe` on small hand-made programs: problem classes, integrality counts,
  DPP detection, unset parameters, the solver ``convexpoison.solvers`` would pick.
"""
from __future__ import annotations

import re
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

from convexpoison import load_dataset, solvers, train
from convexpoison.certificates.optimal import DinkelbachLowerBound
from convexpoison.errors import InputError
from convexpoison.feasible import make_feasible_set
from convexpoison.programs import ProgramSummary, describe, problem_class
from convexpoison.programs.inner import InnerMaximizer, box_ball_argmax
from convexpoison.programs.maxloss import MaxLossDifference
from convexpoison.programs.minpoison import FixedCountKKT, MinimumPoisonProgram
from convexpoison.targets import koh_target
from convexpoison.training import objective
from convexpoison.certificates.upper_bound import CertifiedUpperBound

DOC = Path(__file__).resolve().parent.parent / "docs" / "interactive.md"


def _close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


@pytest.fixture(scope="module")
def bc():
    data = load_dataset("breast-cancer")
    clean = train(data.X_train, data.y_train, reg=data.reg)
    target = koh_target(data, data.reg, error=0.10, clean_model=clean).model
    fs = make_feasible_set("domain,l2,slab", data.domain, data.X_train, data.y_train)
    return data, clean, target, fs


def _names(summary):
    return set(summary.variable_names), set(summary.parameter_names)


def _check_summary(summary, prob):
    """The summary describes ``prob``: the same names, DPP as cvxpy says."""
    assert isinstance(summary, ProgramSummary)
    assert set(summary.variable_names) == {v.name() for v in prob.variables()}
    assert set(summary.parameter_names) == {p.name() for p in prob.parameters()}
    assert summary.is_dpp is True and prob.is_dcp(dpp=True)
    assert summary.n_constraints == len(prob.constraints)
    assert sum(summary.constraint_counts.values()) == len(prob.constraints)
    assert summary.solver == solvers.candidates(summary.kind)[0]
    text = str(summary)
    for name in summary.variable_names + summary.parameter_names:
        assert name in text


# ------------------------------------------------------------------ the page runs
def test_interactive_page_runs_in_order():
    text = DOC.read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) >= 12, "the worked examples went missing"
    ns = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/interactive.md python block {i + 1}", "exec"), ns)
    # the page's "the same" claims hold
    assert _close(ns["loss_by_hand"], ns["inner"].maximize(ns["clean"].w, ns["clean"].b).values[1])
    assert _close(ns["F0"], ns["N"] * (objective(ns["target"], ns["data"].X_train, ns["data"].y_train,
                                                 reg=ns["data"].reg)
                                       - objective(ns["clean"], ns["data"].X_train, ns["data"].y_train,
                                                   reg=ns["data"].reg)), 1e-5)
    assert _close(ns["value_by_hand"], ns["ub"].result_.program_value)
    assert ns["res"].lower_bound >= 1 and ns["step"] is ns["res"].iterations[0]
    # the printed summary on the page is what describe prints (machine-specific solver
    # line aside)
    shown = re.search(r"^```text\n(max-loss difference, label -1.*?)^```", text, re.M | re.S)
    assert shown, "the page lost its example summary"
    now = str(ns["summary"]).splitlines()
    for line in shown.group(1).splitlines():
        if line.startswith("  solver:") or line.startswith("['") or line.startswith("True"):
            continue
        assert line in now, f"docs/interactive.md shows {line!r}, describe() no longer prints it"


# ------------------------------------------------------------------ each program
def test_maxloss_program_by_hand(bc):
    data, clean, target, fs = bc
    ml = MaxLossDifference(fs)
    s = ml.describe(-1, "A")
    prob, x = ml.program(-1, "A")
    _check_summary(s, prob)
    assert _names(s) == ({"x_A", "t_A"}, {"w1", "b1", "w2", "b2", "l2_m1_mu", "l2_m1_tau",
                                          "slab_m1_v", "slab_m1_c", "slab_m1_tau"})
    assert s.sense == "maximize" and s.kind == ml.kind_ == "SOCP"
    assert set(s.unset_parameters) == {"w1", "b1", "w2", "b2"}
    res = ml.solve(clean, target)                      # loads the parameters
    assert ml.describe(-1, "A").unset_parameters == []
    for y in (-1, 1):
        va = solvers.solve(ml.program(y, "A")[0], ml.kind_).value
        vb = solvers.solve(ml.program(y, "B")[0], ml.kind_).value
        # max(a - max(0,c)) over both pieces: A's maximum and -(B's minimum)
        assert _close(max(va, -vb), res.per_label[y][0])


def test_inner_program_by_hand(bc):
    data, clean, target, fs = bc
    inner = InnerMaximizer(fs)
    assert not inner.fast
    for lab in (-1, 1):
        prob, x = inner.program(lab)
        s = inner.describe(lab)
        _check_summary(s, prob)
        assert f"direction_{lab}" in s.parameter_names and s.variable_names == [f"x_{lab}"]
        prob.param_dict[f"direction_{lab}"].value = -lab * clean.w
        val = solvers.solve(prob, inner.kind(lab)).value
        by_hand = max(0.0, 1 - (lab * clean.b - val))          # hinge at the smallest margin
        assert _close(by_hand, inner.maximize(clean.w, clean.b).values[lab])
    with pytest.raises(InputError, match="label"):
        inner.program(0)


def test_inner_fast_path_builds_programs_on_request(bc):
    data, clean, target, _ = bc
    fs = make_feasible_set("domain,l2", data.domain, data.X_train, data.y_train)
    inner = InnerMaximizer(fs)
    assert inner.fast and not inner._programs
    sph = [c for c in fs.components if type(c).__name__ == "L2Sphere"][0]
    for lab in (-1, 1):
        prob, x = inner.program(lab)
        assert inner.describe(lab).is_dpp
        g = -lab * clean.w
        prob.param_dict[f"direction_{lab}"].value = g
        val = solvers.solve(prob, inner.kind(lab)).value
        # independent: the exact box-and-ball maximiser
        xe = box_ball_argmax(g, data.domain.lo, data.domain.hi, sph.centroids_[lab],
                             sph.thresholds_[lab])
        assert _close(val, float(g @ xe), 1e-6)
    assert inner.fast                                  # still uses the closed form


def test_minpoison_program_by_hand(bc):
    data, clean, target, fs = bc
    mp = MinimumPoisonProgram(fs, data.reg)
    with pytest.raises(InputError, match="fit"):
        mp.problem
    mp.fit(data.X_train, data.y_train)
    s = mp.describe(target)
    _check_summary(s, mp.problem)
    assert {"z_+1", "z_-1", "gamma_+1", "gamma_-1", "eta_+1", "eta_-1", "delta"} <= set(s.variable_names)
    assert {"w_p", "b_p", "reg_theta_p", "clean_grad_lo", "beta_free"} <= set(s.parameter_names)
    assert s.unset_parameters == [] and s.sense == "minimize"
    by_hand = solvers.solve(mp.problem, mp.kind_).value
    res = mp.solve(target)
    assert _close(by_hand, res.value)
    assert res.certified >= 1

    fck = FixedCountKKT(mp, [(+1, "grad"), (-1, "grad")])
    with pytest.raises(InputError, match="counts"):
        fck.set_counts([1, 2, 3])
    s = fck.describe(counts=[3, 3])
    _check_summary(s, fck.problem)
    # (the two slots' L2 cones are one constraint: stacked_norms bounds their norms)
    assert {"x_0", "x_1", "delta", "stacked_norms"} == set(s.variable_names)
    assert {"counts", "W_reg_theta_p"} <= set(s.parameter_names)
    val = solvers.solve(fck.problem, fck.kind_).value       # |r|^2
    _, residual, _ = fck.solve([3, 3])
    assert _close(np.sqrt(max(val, 0.0)), residual, 1e-5)


def test_dinkelbach_program_by_hand(bc):
    data, clean, target, fs = bc
    X, y = data.X_train, data.y_train
    dk = DinkelbachLowerBound(fs, data.reg)
    with pytest.raises(InputError, match="program"):
        dk.problem
    sub = dk.program(X, y, target)
    s = dk.describe()
    _check_summary(s, sub)
    assert {"w", "b", "sup", "mu_p", "mu_m"} <= set(s.variable_names)
    assert "t" in s.parameter_names and s.sense == "maximize"
    # F(0) = max_theta num(theta) = N (objective(theta_p) - objective(theta_c)): independent
    F0 = solvers.solve(sub, dk.kind_).value
    gap = len(y) * (objective(target, X, y, reg=data.reg) - objective(clean, X, y, reg=data.reg))
    assert _close(F0, gap, 1e-5)
    res = dk.fit(X, y, target).result_
    for step in res.iterations[:2]:
        dk.problem.param_dict["t"].value = step.t
        assert _close(solvers.solve(dk.problem, dk.kind_).value, step.value, 1e-6)


def test_upper_bound_program_by_hand(bc):
    data, clean, target, fs = bc
    X, y = data.X_train, data.y_train
    ub = CertifiedUpperBound(fs, data.reg, epsilon=0.03)
    with pytest.raises(InputError, match="program"):
        ub.problem
    prob = ub.program(X, y)
    s = ub.describe()
    _check_summary(s, prob)
    assert {"w", "b", "max_hinge", "g_p", "g_m"} <= set(s.variable_names)
    assert "epsilon" in s.parameter_names and s.sense == "minimize"
    by_hand = solvers.solve(prob, ub.kind_).value
    ub.fit(X, y)
    assert ub.problem is prob
    assert _close(by_hand, ub.result_.program_value)
    assert ub.upper_bound_ >= by_hand - 1e-6
    # at eps = 0 the program is the SVM training problem: its value is the clean objective
    prob.param_dict["epsilon"].value = 0.0
    assert _close(solvers.solve(prob, ub.kind_).value, objective(clean, X, y, reg=data.reg), 1e-6)


# ------------------------------------------------------------------ describe itself
def _bounded(n, **kw):
    return cp.Variable(n, bounds=[np.zeros(n), np.ones(n)], **kw)


def test_problem_classes_and_solver_choice():
    x = _bounded(3, name="x")
    p = cp.Parameter(3, name="c")
    lp = cp.Problem(cp.Minimize(p @ x), [cp.sum(x) == 1])
    qp = cp.Problem(cp.Minimize(cp.sum_squares(x - p)))
    socp = cp.Problem(cp.Minimize(cp.norm(x - p, 2)))
    exp = cp.Problem(cp.Minimize(cp.sum(cp.logistic(x))))
    z = cp.Variable(4, integer=[(0, 2)], bounds=[np.zeros(4), 3 * np.ones(4)], name="z")
    milp = cp.Problem(cp.Maximize(cp.sum(z)), [z[0] + z[1] <= 2.5])
    assert [problem_class(q) for q in (lp, qp, socp, exp, milp)] == ["LP", "QP", "SOCP", "EXP", "MILP"]
    s = describe(lp)
    assert s.kind == "LP" and s.unset_parameters == ["c"]
    assert s.solver == solvers.candidates("LP")[0] and s.fallbacks == solvers.candidates("LP")[1:]
    assert s.constraint_counts == {"Equality": 1}
    assert any("c" in n for n in s.notes)
    assert describe(lp, solver="ECOS").solver == "ECOS" and describe(lp, solver="ECOS").fallbacks == []
    sm = describe((milp, z))                                  # a program(...) tuple
    assert sm.kind == "MILP" and sm.variables[0].integer == 2 and sm.variables[0].size == 4
    assert sm.sense == "maximize" and "integer (2)" in str(sm)
    b = cp.Variable(5, boolean=True, name="b")
    sb = describe(cp.Problem(cp.Minimize(cp.sum(b))))
    assert sb.variables[0].boolean == 5 and "boolean" in str(sb)
    # kind given explicitly: solved as that class, the reading is reported beside it
    sq = describe(lp, kind="SOCP")
    assert sq.kind == "SOCP" and sq.inferred_kind == "LP" and "reads as LP" in str(sq)


def test_dpp_detection_and_rendering():
    x = _bounded(2, name="x")
    p = cp.Parameter(name="p", value=2.0)
    q = cp.Parameter(name="q", value=3.0)
    not_dpp = cp.Problem(cp.Minimize(p * q * cp.sum(x)))
    s = describe(not_dpp)
    assert s.is_dcp and not s.is_dpp and "not DPP" in str(s)
    assert [pi.value for pi in s.parameters] == [2.0, 3.0] and s.unset_parameters == []
    ok = cp.Problem(cp.Minimize(p * cp.sum(x)), [x[0] <= q])
    s = describe(ok, title="tiny <program>")
    assert s.is_dpp
    html = s._repr_html_()
    assert "tiny &lt;program&gt;" in html and "x[0] &lt;= q" in html and "<table>" in html
    md = s._repr_markdown_()
    assert "| `x` | 2 | bounds |" in md and "| `p` | scalar | 2 |" in md
    assert repr(s) == str(s) and s.to_dict()["parameters"][0]["name"] == "p"


def test_describe_rejects_bad_input():
    with pytest.raises(InputError, match="problem"):
        describe("not a problem")
    x = _bounded(2, name="x")
    with pytest.raises(InputError, match="kind"):
        describe(cp.Problem(cp.Minimize(cp.sum(x))), kind="SDP")
