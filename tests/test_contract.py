"""Every convex attack follows the one contract of :mod:`convexpoison.attacks.base`
(tests/conformance.py's :func:`check_attack`) on a real dataset with small settings, and
the audit builds each of them through it with no per-attack adapter."""
from types import SimpleNamespace

import numpy as np
import pytest

from convexpoison import load_dataset, train
from convexpoison.attacks.base import n_poisons

from conformance import check_attack

REG = 0.05


@pytest.fixture(scope="module")
def data():
    return load_dataset("breast-cancer")


@pytest.fixture(scope="module")
def target(data):
    """An attainable target: Dc plus 3 copies of the 30% highest-loss flipped test points."""
    clean = train(data.X_train, data.y_train, "svm", REG)
    idx = np.argsort(clean.decision_function(data.X_test) * data.y_test)[: int(0.3 * data.n_test)]
    X = np.vstack([data.X_train, data.X_test[idx]])
    y = np.append(data.y_train, -data.y_test[idx])
    w = np.append(np.ones(data.n_train), np.full(len(idx), 3.0))
    return train(X, y, "svm", REG, sample_weight=w)


def _attacks(target):
    """name -> (unfitted attack with small settings, budget set by epsilon)."""
    from convexpoison.attacks.influence import InfluenceAttack
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.labelflip import AlfaLabelFlip, CompetingLabelFlip, RandomLabelFlip
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.attacks.minpoison import MinimumPoisoning
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    return {
        "mtp": (ModelTargetedPoisoning(target, reg=REG, epsilon=0.02, eps_close=0.0,
                                       progress_bar=False), True),
        "min-poison": (MinimumPoisoning(target, reg=REG, eps_close=0.05), False),
        "kkt": (KKTAttack(0.03, reg=REG, grid=2, max_decoys=2, repeats=(1, 2),
                          quantiles=(0.1, 0.3), progress_bar=False), True),
        "minmax": (MinMaxAttack(0.03, reg=REG, decoy=None, progress_bar=False), True),
        "influence": (InfluenceAttack(0.03, reg=REG, max_iter=3, n_steps=2,
                                      progress_bar=False), True),
        "labelflip-random": (RandomLabelFlip(0.03, random_state=0), True),
        "labelflip-alfa": (AlfaLabelFlip(0.03, reg=REG, max_iter=3), True),
        "labelflip-highest-loss": (CompetingLabelFlip(0.03, reg=REG, select="loss"), True),
    }


NAMES = ["mtp", "min-poison", "kkt", "minmax", "influence", "labelflip-random",
         "labelflip-alfa", "labelflip-highest-loss"]


@pytest.mark.parametrize("name", NAMES)
def test_attack_follows_the_contract(name, data, target):
    attack, budget_exact = _attacks(target)[name]
    fitted = check_attack(attack, data, budget_exact=budget_exact)
    status = fitted.result_.to_dict()["status"]
    assert isinstance(status, str) and status


def test_every_attack_is_constructible_without_arguments():
    from sklearn.base import clone

    for attack, _ in _attacks(None).values():
        blank = type(attack)()
        assert clone(blank).get_params() == blank.get_params()


def test_defaults_are_the_datasets_domain_and_reg(data, target):
    """``feasible=None``/``reg=None`` mean the dataset's domain and C_R: the same poisons
    as when they are given explicitly."""
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    ds = load_dataset("breast-cancer")
    kw = dict(budget=4, eps_close=0.0, progress_bar=False)
    a = ModelTargetedPoisoning(target, **kw).fit(ds)
    b = ModelTargetedPoisoning(target, ds.domain, ds.reg, **kw).fit(ds)
    np.testing.assert_array_equal(a.poisons_.X, b.poisons_.X)
    assert a.reg_ == ds.reg and a.poisons_.n_poisons == 4


def test_audit_builds_every_attack_through_the_contract(tmp_path, data, target):
    """The audit's table gives each attack its settings (filtered by its parameters) and
    the budget is n_poisons for MTP too (it was floor(eps n) without the guard: 28 at
    eps 0.29, n 100, where the other attacks had 29)."""
    from convexpoison.attacks.base import PoisoningAttack
    from convexpoison.audit import ATTACKS, AuditSettings, build_attack

    assert n_poisons(0.29, 100) == 29
    s = AuditSettings(dataset="breast-cancer", epsilon=0.29)
    ctx = {"settings": s, "reg": REG, "say": None, "bars": False, "out": tmp_path,
           "target": SimpleNamespace(model=target)}
    for name in ATTACKS:
        att = build_attack(name, ctx)
        assert isinstance(att, PoisoningAttack)
        params = att.get_params()
        assert params["epsilon"] == 0.29
        if "reg" in params:
            assert params["reg"] == REG
    mtp = build_attack("mtp", ctx).set_params(eps_close=1e9)    # stop at once
    idx = np.arange(100)
    mtp.fit(data.X_train[idx], data.y_train[idx], domain=data.domain)
    assert mtp.budget_ == 29 and mtp.result_.status == "eps_close"


def test_audit_keeps_each_attacks_own_status_as_strict_json():
    from convexpoison.audit import _scalars

    result = {"status": "budget", "n_poisons": 7, "subpop_accuracy": float("nan"),
              "history": [1, 2], "per_defense": {"l2": 0.1}, "min_over_defenses": 0.2}
    out = _scalars(result, {"min_over_defenses": 0.3, "per_defense": {}})
    assert out == {"status": "budget", "n_poisons": 7, "subpop_accuracy": None}


def test_audit_gives_the_reachable_attack_the_poisons_found_before(tmp_path):
    """The reachable-target attack of an audit starts from the poisons of the attacks that
    ran before it (given_poisons): those that finished with a poison, no other."""
    from convexpoison.audit import AttackOutcome, AuditSettings, build_attack
    from convexpoison.poisons import PoisonSet

    P = PoisonSet(np.zeros((2, 3)), np.array([1, -1]), np.array([3.0, 4.0]))
    ctx = {"settings": AuditSettings(dataset="breast-cancer"), "reg": REG, "say": None,
           "bars": False, "out": tmp_path}
    assert build_attack("reachable", ctx).given_poisons is None
    ctx["outcomes"] = {"kkt": AttackOutcome("kkt", "ok", poisons=P),
                       "minmax": AttackOutcome("minmax", "failed: x"),
                       "influence": AttackOutcome("influence", "ok", poisons=PoisonSet.empty(3))}
    assert build_attack("reachable", ctx).given_poisons == {"kkt": P}
    assert "given_poisons" not in build_attack("kkt", ctx).get_params()
