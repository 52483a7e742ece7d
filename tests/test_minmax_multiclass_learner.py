"""The learner constraint of the multi-class min-max (``learner_loss_quantile``): every poison's
loss under the current iterate at most its class's clean-loss quantile, with or without a
decoy (docs/minmax-multiclass.md).  Independent checks: per-pair cvxpy programs (Clarabel)
of the same inner maximum with the thresholds recomputed from the losses, the constraint
evaluated on the returned points, InputError on misuse."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from convexpoison.attacks.minmax import MinMaxAttack, MulticlassDecoyInner
from convexpoison.datasets import from_arrays
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import L2Sphere, make_feasible_set
from convexpoison.losses import multiclass_hinge
from convexpoison.programs.inner import InnerMaximizer
from convexpoison.training import train
from test_minmax_multiclass import REG, data3  # noqa: F401 (the shared fixture)

Q = 0.9


def reference(fs, X, y, W, b, decoy, tau):
    """max over pairs (y, k) of the constrained loss, by cvxpy: box, sphere, decoy loss <= tau,
    loss under (W, b) <= the Q-quantile of class y's clean losses (all rows: 50 per class
    here, below LEARNER_ROWS, so the subsample is the class)."""
    sph = [c for c in fs.components if isinstance(c, L2Sphere)]
    best = -np.inf
    taus = {}
    for lab in range(3):
        tau_y = np.quantile(multiclass_hinge(W, b, X[y == lab], y[y == lab]), Q)
        taus[lab] = tau_y
        x = cp.Variable(X.shape[1])
        cons = [x >= 0, x <= 1]
        if sph:
            cons.append(cp.norm(x - sph[0].centroids_[lab]) <= sph[0].thresholds_[lab])
        for j in range(3):
            if j != lab:
                cons.append(1 + (W[j] - W[lab]) @ x + b[j] - b[lab] <= tau_y)
                if decoy is not None:
                    cons.append(1 + (decoy.w[j] - decoy.w[lab]) @ x + decoy.b[j] - decoy.b[lab]
                                <= tau)
        for k in range(3):
            if k != lab:
                prob = cp.Problem(cp.Maximize(1 + (W[k] - W[lab]) @ x + b[k] - b[lab]), cons)
                prob.solve(solver="CLARABEL")
                if prob.status == "optimal":
                    best = max(best, prob.value)
    return max(best, 0.0), taus


@pytest.mark.parametrize("sphere,with_decoy", [(True, True), (True, False), (False, True)])
def test_learner_inner_equals_the_conic_programs_and_is_feasible(data3, sphere, with_decoy):
    rng = np.random.default_rng(5)
    X, y = data3.X_train, data3.y_train
    fs = make_feasible_set("domain,l2" if sphere else "domain", data3.domain, X, y, quantile=0.9)
    flip = np.where(rng.random(len(y)) < 0.2, (y + 1) % 3, y)
    decoy = train(X, flip, "multisvm", REG) if with_decoy else None
    clean = train(X, y, "multisvm", REG)
    prog = InnerMaximizer(fs, range(3), model="multisvm", decoy=decoy, tau=0.25, method="cvxpy")
    fast = MulticlassDecoyInner(fs, range(3), decoy, 0.25, X, y, fallback=prog,
                                learner_quantile=Q)
    plain = MulticlassDecoyInner(fs, range(3), decoy, 0.25, X, y, fallback=prog) if decoy else None
    capped = 0
    for _ in range(6):
        # iterates near the clean model, as the learner's are
        W = clean.w + 0.5 * rng.standard_normal(clean.w.shape)
        b = clean.b + 0.2 * rng.standard_normal(3)
        a = fast.maximize(W, b)
        ref, taus = reference(fs, X, y, W, b, decoy, 0.25)
        assert a.loss == pytest.approx(ref, abs=1e-5)
        assert all(fast.thresholds[k] == pytest.approx(taus[k], abs=1e-12) for k in range(3))
        # the point is feasible: box, sphere, decoy, and its learner loss <= tau_y
        assert np.all((a.x >= -1e-12) & (a.x <= 1 + 1e-12))
        assert fs.contains(a.x[None], a.y, tol=1e-9)[0]
        own = multiclass_hinge(W, b, a.x[None], np.array([a.y]))[0]
        assert own <= taus[a.y] + 1e-9 and own == pytest.approx(a.loss, abs=1e-9)
        if decoy is not None:
            assert multiclass_hinge(decoy.w, decoy.b, a.x[None], np.array([a.y]))[0] <= 0.25 + 1e-9
            # the constraint binds: without it the maximum is higher
            capped += plain.maximize(W, b).loss > a.loss + 1e-6
    assert fast.n_fallback == 0
    if decoy is not None:
        assert capped > 0


def test_attack_with_the_learner_constraint(data3):
    kw = dict(defenses="l2,loss", feasible="l2", decoy="none", burn_in=10, progress_bar=False)
    att = MinMaxAttack(0.04, learner_loss_quantile=Q, **kw).fit(data3)
    d = att.result_.to_dict()
    assert d["learner_loss_quantile"] == Q and 0 <= d["learner_capped_steps"] <= d["n_iterations"]
    assert att.poisons_.n_poisons == 6
    base = MinMaxAttack(0.04, **kw).fit(data3).result_.to_dict()
    assert "learner_loss_quantile" not in base and "learner_capped_steps" not in base
    # the cap lowers the inner maxima (the basic attack's points exceed the quantiles)
    assert max(d["max_loss_iterates"]) < max(base["max_loss_iterates"])
    with pytest.raises(InputError, match="learner_loss_quantile"):
        MinMaxAttack(0.04, learner_loss_quantile=1.5, **kw).fit(data3)
    with pytest.raises(InputError, match="learner_loss_quantile"):
        MinMaxAttack(0.04, learner_loss_quantile=Q, method="cvxpy", **kw).fit(data3)
    with pytest.raises(InputError, match="learner_rank"):
        MinMaxAttack(0.04, learner_loss_quantile=Q, learner_rank="best", **kw).fit(data3)
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    yb = np.where(X[:, 0] > 0.5, 1, -1)
    binary = from_arrays(X, yb, X, yb, domain=Domain.box(3), reg=REG)
    with pytest.raises(InputError, match="learner_loss_quantile"):
        MinMaxAttack(0.05, learner_loss_quantile=Q, **kw).fit(binary)


def test_push_rank_takes_the_min_max_choice_then_caps_it(data3):
    """learner_rank='push': the pair with the highest loss under every constraint but its own
    cap (cvxpy per pair), and the point's loss is that value capped at tau_y."""
    rng = np.random.default_rng(7)
    X, y = data3.X_train, data3.y_train
    fs = make_feasible_set("domain,l2", data3.domain, X, y, quantile=0.9)
    sph = fs.components[[isinstance(c, L2Sphere) for c in fs.components].index(True)]
    clean = train(X, y, "multisvm", REG)
    prog = InnerMaximizer(fs, range(3), model="multisvm", method="cvxpy")
    fast = MulticlassDecoyInner(fs, range(3), None, 0.25, X, y, fallback=prog,
                                learner_quantile=0.6, learner_rank="push")
    for _ in range(4):
        W = clean.w + 0.5 * rng.standard_normal(clean.w.shape)
        b = clean.b + 0.2 * rng.standard_normal(3)
        a = fast.maximize(W, b)
        u, tau = {}, {}
        for lab in range(3):
            tau[lab] = np.quantile(multiclass_hinge(W, b, X[y == lab], y[y == lab]), 0.6)
            for k in range(3):
                if k == lab:
                    continue
                x = cp.Variable(5)
                cons = [x >= 0, x <= 1,
                        cp.norm(x - sph.centroids_[lab]) <= sph.thresholds_[lab]]
                cons += [1 + (W[j] - W[lab]) @ x + b[j] - b[lab] <= tau[lab]
                         for j in range(3) if j not in (lab, k)]
                prob = cp.Problem(cp.Maximize(1 + (W[k] - W[lab]) @ x + b[k] - b[lab]), cons)
                prob.solve(solver="CLARABEL")
                u[lab, k] = prob.value
        top = max(u, key=u.get)
        assert u[a.y, a.competitor] == pytest.approx(u[top], abs=1e-5)
        assert a.loss == pytest.approx(max(0.0, min(u[top], tau[a.y])), abs=1e-5)
        assert multiclass_hinge(W, b, a.x[None], np.array([a.y]))[0] <= tau[a.y] + 1e-9
        assert fs.contains(a.x[None], a.y, tol=1e-9)[0]
    assert fast.n_capped > 0


def _norm(model):
    return float(np.sqrt(np.sum(np.square(model.w)) + np.sum(np.square(model.b))))


def test_learner_radius_projects_the_iterates_onto_the_ball(data3):
    """learner_radius=r: every learner iterate lies in ||(W, b)|| <= r ||theta_c||; a radius
    the learner never reaches changes nothing (bit for bit); a binding one changes the run."""
    kw = dict(defenses="l2,loss", feasible="l2", decoy="none", burn_in=10, progress_bar=False)
    free = MinMaxAttack(0.04, **kw).fit(data3)
    ball = 0.3 * _norm(free.clean_model_)
    assert _norm(free.result_.best.model) > ball          # the free learner leaves the ball
    tight = MinMaxAttack(0.04, learner_radius=0.3, **kw).fit(data3)
    d = tight.result_.to_dict()
    assert d["learner_radius"] == 0.3 and d["learner_ball"] == pytest.approx(ball, rel=1e-12)
    assert _norm(tight.result_.best.model) <= ball * (1 + 1e-12)
    assert not np.array_equal(tight.poisons_.X, free.poisons_.X)
    loose = MinMaxAttack(0.04, learner_radius=1e6, **kw).fit(data3)
    assert np.array_equal(loose.poisons_.X, free.poisons_.X)
    assert loose.result_.to_dict()["max_loss_iterates"] == free.result_.to_dict()["max_loss_iterates"]
    for bad in (0, -1.0):
        with pytest.raises(InputError, match="learner_radius"):
            MinMaxAttack(0.04, learner_radius=bad, **kw).fit(data3)
    # binary data: b is a float; the projection applies the same way
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    yb = np.where(X[:, 0] + 0.2 * rng.standard_normal(60) > 0.5, 1, -1)
    binary = from_arrays(X, yb, X, yb, domain=Domain.box(3), reg=REG)
    att = MinMaxAttack(0.05, learner_radius=0.5, **kw).fit(binary)
    assert _norm(att.result_.best.model) <= 0.5 * _norm(att.clean_model_) * (1 + 1e-12)
