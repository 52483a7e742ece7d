"""The L2 defense's polyhedral inner form (:class:`convexpoison.feasible.L2Secant`,
docs/reachable.md): inside the sphere on the box, equal to it at binary points, DPP, and
used by the reachable-target attack on a domain with binary and continuous coordinates
(the realisation's programs over integer points stay MILPs)."""
import cvxpy as cp
import numpy as np
import pytest

from convexpoison.datasets import Dataset
from convexpoison.domain import Domain
from convexpoison.feasible import DomainSet, FeasibleSet, L2Secant, L2Sphere, polyhedral_l2


def _mixed(seed=0, n=240, n_test=160):
    """Two continuous coordinates in [0, 1], a one-hot group of three and three free
    binary coordinates, with a planted linear signal and label noise."""
    rng = np.random.default_rng(seed)
    m = n + n_test
    cont = rng.random((m, 2))
    group = np.eye(3)[rng.integers(0, 3, m)]
    free = (rng.random((m, 3)) < 0.4).astype(float)
    X = np.hstack([cont, group, free])
    s = X @ np.array([2.0, -1.5, 1.0, 0.0, -1.0, 1.0, -0.5, 0.8]) + 0.6 * rng.normal(size=m)
    y = np.where(s > np.median(s), 1, -1)
    integer = np.r_[False, False, np.ones(6, bool)]
    dom = Domain(np.zeros(8), np.ones(8), integer=integer, onehot_groups=[np.arange(2, 5)])
    return Dataset("mixed", X[:n], y[:n], X[n:], y[n:], dom, reg=0.05, classes=["-1", "+1"])


@pytest.fixture(scope="module")
def mixed():
    return _mixed()


def _sets(data):
    sphere = L2Sphere(0.9).fit(data.X_train, data.y_train)
    return sphere, L2Secant.from_sphere(sphere, data.domain)


def _in_halfspace(sec, X, label):
    a, r = sec._params[(label, "a")].value, sec._params[(label, "r")].value
    return X @ a <= r


def test_halfspace_is_inside_the_sphere_on_the_box_and_equal_at_binary_points(mixed):
    sphere, sec = _sets(mixed)
    rng = np.random.default_rng(1)
    for label in (-1, 1):
        tau = sphere.thresholds_[label]
        mu = sphere.centroids_[label]
        # random box points: every one in the half-space is inside the sphere
        X = rng.random((20000, 8))
        inside = _in_halfspace(sec, X, label)
        assert inside.any()
        assert np.all(np.linalg.norm(X[inside] - mu, axis=1) <= tau + 1e-12)
        # every binary point: half-space <=> sphere, exactly (up to rounding)
        B = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(float)
        dist = np.linalg.norm(B - mu, axis=1)
        far = np.abs(dist - tau) > 1e-9
        assert np.array_equal(_in_halfspace(sec, B, label)[far], (dist <= tau)[far])
    # same score and thresholds: the defense's keep-mask
    assert sec.thresholds_ == sphere.thresholds_
    np.testing.assert_array_equal(sec.score(mixed.X_test, mixed.y_test),
                                  sphere.score(mixed.X_test, mixed.y_test))
    # fitted directly, the same component
    direct = L2Secant(mixed.domain, 0.9).fit(mixed.X_train, mixed.y_train)
    np.testing.assert_allclose(direct._params[(1, "a")].value, sec._params[(1, "a")].value)
    assert direct._params[(1, "r")].value == pytest.approx(sec._params[(1, "r")].value)


def test_constraint_is_linear_and_dpp_plain_and_scaled(mixed):
    _, sec = _sets(mixed)
    x, g = cp.Variable(8), cp.Variable(nonneg=True)
    for scale in (None, g):
        cons = sec.constraints(x, 1, scale=scale)
        prob = cp.Problem(cp.Maximize(cp.sum(x)), cons + [x >= 0, x <= 1, g <= 1])
        assert prob.is_dcp(dpp=True) and prob.is_lp()
    assert not sec.conic
    # a refit updates the Parameters a built program reads
    before = sec._params[(1, "r")].value
    sec.fit(mixed.X_train[:120], mixed.y_train[:120])
    assert sec._params[(1, "r")].value != before


def test_polyhedral_l2_swaps_the_sphere_only(mixed):
    sphere, _ = _sets(mixed)
    fs = FeasibleSet([DomainSet(mixed.domain), sphere])
    poly = polyhedral_l2(fs)
    assert poly.names == ["domain", "l2"] and isinstance(poly["l2"], L2Secant)
    assert poly["domain"] is fs["domain"] and not poly.conic
    assert "secant" in poly.describe() and "subset" in poly.describe()


def test_reachable_with_l2_on_a_mixed_domain_keeps_every_poison_inside_the_l2_defense(mixed):
    from convexpoison.attacks.reachable import ReachableTargetAttack

    att = ReachableTargetAttack(epsilon=0.05, defenses=("l2", "slab", "loss"),
                                feasible="domain,l2,slab,loss", seeds=("decoys",),
                                decoy_quantiles=(0.2,), decoy_repeats=(3,), n_search=1,
                                steps=2, n_mix=0, climb_rounds=0, n_screen=1, n_realise=1,
                                snap=False, search_seconds=None).fit(mixed)
    feas = att.feasible_
    assert isinstance(feas["l2"], L2Secant) and not feas.conic     # LPs / MILPs throughout
    ps = att.poisons_
    assert ps.n_poisons > 0
    X = np.asarray(ps.X)
    assert mixed.domain.contains(X, tol=1e-6).all()
    for label in (-1, 1):
        rows = X[ps.y == label]
        if len(rows):
            # inside the L2 defense's sphere: distance to the class centroid <= tau
            dist = np.linalg.norm(rows - feas["l2"].centroids_[label], axis=1)
            assert np.all(dist <= feas["l2"].thresholds_[label] + 1e-6)
    res = att.result_.to_dict()
    assert "secant" in res["target_lower_bound_statement"]
    assert res["n_poisons"] >= res["target_lower_bound"] or res["status"] != "eps_close"


def test_reachable_still_refuses_svd_on_a_mixed_domain(mixed):
    from convexpoison.attacks.reachable import ReachableTargetAttack
    from convexpoison.errors import InputError

    with pytest.raises(InputError, match="feasible: .*drop svd"):
        ReachableTargetAttack(feasible="domain,l2,svd").fit(mixed)


def test_halfspaces_are_the_polyhedral_components_sets(mixed):
    """``halfspaces(y)`` (the verified bound's view of a component) describes the same set
    as the component's score and threshold: exactly for the slab and the loss bound, and
    for the secant the half-space itself (the L2 sphere at binary points); the cones have
    none."""
    from convexpoison.errors import InputError
    from convexpoison.feasible import LossBound, Slab, SVDResidual
    from convexpoison.training import train

    X, y = mixed.X_train, mixed.y_train
    rng = np.random.default_rng(3)
    box = rng.random((4000, 8))
    B = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(float)
    Z = np.vstack([box, B])
    model = train(X, y, "svm", mixed.reg)
    sphere, sec = _sets(mixed)
    for comp in (Slab(0.9).fit(X, y), LossBound(model, quantile=0.9).fit(X, y), sec):
        assert comp.polyhedral
        for label in (-1, 1):
            pairs = comp.halfspaces(label)
            assert len(pairs) == len(comp.constraints(cp.Variable(8), label))
            inside = np.all([Z @ a <= r for a, r in pairs], axis=0)
            labels = np.full(len(Z), label)
            ref = sphere if comp is sec else comp
            score, tau = ref.score(Z, labels), ref.thresholds_[label]
            clear = np.abs(score - tau) > 1e-9          # away from the boundary
            if comp is sec:
                assert np.all(score[inside] <= tau + 1e-12)            # inside the sphere
                at_b = clear & (np.arange(len(Z)) >= len(box))
                assert np.array_equal(inside[at_b], (score <= tau)[at_b])
            else:
                assert np.array_equal(inside[clear], (score <= tau)[clear])
                assert inside.any() and not inside.all()
    for cone in (sphere, SVDResidual(0.9).fit(X, y)):
        assert not cone.polyhedral
        with pytest.raises(InputError, match="not a set of half-spaces"):
            cone.halfspaces(1)


def test_satisfies_is_the_constraint_set(mixed):
    """``FeasibleSet.satisfies``: the set the programs constrain to.  With the l2 secant,
    points between the half-space and the sphere are contained (the defense keeps them)
    but do not satisfy it; at binary points the two agree; without polyhedral components
    it is ``contains``."""
    sphere, sec = _sets(mixed)
    dom = DomainSet(mixed.domain).fit(mixed.X_train, mixed.y_train)
    poly, conic = FeasibleSet([dom, sec]), FeasibleSet([dom, sphere])
    rng = np.random.default_rng(5)
    Z = mixed.domain.clip(rng.random((3000, 8)))
    Z[:, 2:5] = np.eye(3)[rng.integers(0, 3, len(Z))]          # the one-hot group
    Z[:, 5:] = (Z[:, 5:] < 0.4)                               # binary coordinates
    for label in (-1, 1):
        labels = np.full(len(Z), label)
        kept, sat = poly.contains(Z, labels), poly.satisfies(Z, labels)
        a, r = sec.halfspaces(label)[0]
        np.testing.assert_array_equal(sat, kept & (Z @ a <= r + 1e-7 * max(1.0, abs(r))))
        assert (kept & ~sat).any() and not (sat & ~kept).any()
        B = Z.copy()
        B[:, :2] = np.round(B[:, :2])                          # every coordinate binary
        np.testing.assert_array_equal(poly.satisfies(B, labels), poly.contains(B, labels))
        np.testing.assert_array_equal(conic.satisfies(Z, labels), conic.contains(Z, labels))
