"""Every convex attack takes ``defender=`` (docs/attacks.md, docs/defender.md): it is a
stored parameter (get_params / clone / set_params), the attacks still follow the contract
with scikit-learn's ``SVC(kernel="linear", C=1)`` as the defender, and what they report
about the model they induce is what that estimator, refit on train ∪ poison (copies
expanded), actually returns."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.svm import SVC

from convexpoison import InputError, load_dataset
from convexpoison.defender import Defender, fit_estimator
from convexpoison.training import objective

from conformance import check_attack

SPEC = "svc:C=1"
EST = SVC(kernel="linear", C=1, tol=1e-10)


@pytest.fixture(scope="module")
def data():
    return load_dataset("breast-cancer")


@pytest.fixture(scope="module")
def D():
    return Defender.from_spec(SPEC)


@pytest.fixture(scope="module")
def target(data, D):
    """An attainable target *for SVC(C=1)*: trained by that defender on Dc plus 3 copies of
    the 30% highest-loss flipped test points."""
    clean = D.train(data.X_train, data.y_train)
    idx = np.argsort(clean.decision_function(data.X_test) * data.y_test)[: int(0.3 * data.n_test)]
    X = np.vstack([data.X_train, data.X_test[idx]])
    y = np.append(data.y_train, -data.y_test[idx])
    w = np.append(np.ones(data.n_train), np.full(len(idx), 3.0))
    return D.train(X, y, sample_weight=w)


def _attack_classes():
    from convexpoison.attacks.influence import InfluenceAttack
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.labelflip import AlfaLabelFlip, CompetingLabelFlip, RandomLabelFlip
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.attacks.reachable import ReachableTargetAttack

    return [ModelTargetedPoisoning, KKTAttack, MinMaxAttack, InfluenceAttack, RandomLabelFlip,
            AlfaLabelFlip, CompetingLabelFlip, ReachableTargetAttack]


def _refit(X, y, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_estimator(EST, X, y, s)


# ------------------------------------------------------------------ the parameter
@pytest.mark.parametrize("cls", _attack_classes(), ids=lambda c: c.__name__)
def test_defender_is_a_parameter_that_clone_carries(cls):
    a = cls()
    assert a.get_params()["defender"] is None
    for d in (SPEC, EST, Defender.from_spec(SPEC)):
        b = clone(a.set_params(defender=d))
        assert b.get_params()["defender"] is not None
        assert repr(b.get_params()["defender"]) == repr(d)


@pytest.mark.parametrize("cls", _attack_classes(), ids=lambda c: c.__name__)
def test_a_bad_defender_is_one_input_error_naming_it(cls, data, target):
    kw = {"target": target} if "target" in cls().get_params() else {}
    with pytest.raises(InputError, match="^defender: ") as exc:
        cls(defender="svc:kernel=rbf", **kw).fit(data)
    assert "\n" not in str(exc.value)


def test_reg_and_a_defender_with_its_own_regularisation_is_an_input_error(data):
    from convexpoison.attacks.labelflip import AlfaLabelFlip

    with pytest.raises(InputError, match="^reg: "):
        AlfaLabelFlip(0.03, reg=0.01, defender=SPEC).fit(data)


def test_attacks_needing_a_model_the_defender_does_not_have_say_so(data, target):
    from convexpoison.attacks.influence import InfluenceAttack
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    for att in (ModelTargetedPoisoning(target, defender="logreg:C=1", budget=2),
                KKTAttack(defender="logreg:C=1"), InfluenceAttack(defender=SPEC)):
        with pytest.raises(InputError, match="^defender: "):
            att.fit(data)


# ------------------------------------------------------------------ the contract
def _contract_attacks(target):
    from convexpoison.attacks.influence import InfluenceAttack
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.labelflip import AlfaLabelFlip, CompetingLabelFlip, RandomLabelFlip
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    return {
        "mtp": ModelTargetedPoisoning(target, defender=SPEC, epsilon=0.02, eps_close=0.0,
                                      progress_bar=False, bound_at_achieved=False),
        "kkt": KKTAttack(0.03, defender=SPEC, grid=2, max_decoys=2, repeats=(1, 2),
                         quantiles=(0.1, 0.3), progress_bar=False),
        "minmax": MinMaxAttack(0.03, defender=SPEC, decoy=None, progress_bar=False),
        # the influence attack's smoothed model needs a penalised intercept: LinearSVC's
        "influence": InfluenceAttack(0.03, defender="linearsvc:C=1,loss=hinge", max_iter=3, n_steps=2,
                                     progress_bar=False),
        "labelflip-random": RandomLabelFlip(0.03, random_state=0, defender=SPEC),
        "labelflip-alfa": AlfaLabelFlip(0.03, defender=SPEC, max_iter=3),
        "labelflip-highest-loss": CompetingLabelFlip(0.03, defender=SPEC, select="loss"),
    }


@pytest.mark.parametrize("name", ["mtp", "kkt", "minmax", "influence", "labelflip-random",
                                  "labelflip-alfa", "labelflip-highest-loss"])
def test_attack_follows_the_contract_under_svc(name, data, target):
    attack = _contract_attacks(target)[name]
    fitted = check_attack(attack, data)
    assert fitted.result_.to_dict()["status"]
    if name in ("kkt", "minmax", "influence"):
        # judged under the defender: the clean model is the estimator's (C = 1)
        D = Defender.from_spec(attack.defender)
        assert fitted.clean_model_.reg == pytest.approx(D.reg_for(data.n_train))
        assert fitted.clean_model_.bias_regularized == D.penalize_intercept


# --------------------------------------------- what the attacks report = the refit
def test_mtp_under_svc_induces_what_svc_refit_returns(data, D, target):
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    att = ModelTargetedPoisoning(target, defender=SPEC, budget=12, copies=2, eps_close=0.0,
                                 progress_bar=False, bound_at_achieved=False).fit(data)
    ps, model = att.poisons_, att.result_.model
    assert att.result_.status == "budget" and ps.n_poisons == 12
    X, y, w, _ = ps.with_clean(data.X_train, data.y_train)
    # the effective C_R of SVC(C=1) on train ∪ poison, and its free intercept
    assert model.reg == pytest.approx(1 / (data.n_train + 12))
    assert not model.bias_regularized and model.defender == D
    exact = D.train(X, y, sample_weight=w)                  # cold, exact
    refit = _refit(X, y, w)                                 # scikit-learn, rows repeated
    last = att.result_.history[-1]
    for m in (exact, refit):
        assert np.array_equal(m.predict(data.X_test), model.predict(data.X_test))
        assert 1 - m.error(data.X_test, data.y_test) == last.test_accuracy
        assert np.linalg.norm(m.w - model.w) <= 1e-3 * np.linalg.norm(m.w)
        assert abs(m.b - model.b) <= 1e-3 * max(1.0, abs(m.b))
    assert last.distance_to_target == pytest.approx(
        np.linalg.norm(exact.theta - target.theta), rel=1e-3)
    # the defender's objective: ours is the optimum, the refit is no better
    assert D.objective(model, X, y, w) <= D.objective(refit, X, y, w) * (1 + 1e-9)


def test_mtp_default_defender_unchanged(data):
    """defender=None and the default's own spelling give bit-identical poisons."""
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.training import train

    clean = train(data.X_train, data.y_train, "svm", data.reg)
    tgt = train(data.X_train, -data.y_train, "svm", data.reg)
    tgt.w = 0.3 * tgt.w + 0.7 * clean.w
    kw = dict(budget=5, eps_close=0.0, progress_bar=False, bound_at_achieved=False)
    a = ModelTargetedPoisoning(tgt, **kw).fit(data)
    b = ModelTargetedPoisoning(tgt, defender=f"svm:reg={data.reg!r}", **kw).fit(data)
    np.testing.assert_array_equal(a.poisons_.X, b.poisons_.X)
    np.testing.assert_array_equal(a.result_.model.w, b.result_.model.w)
    assert a.result_.model.bias_regularized and a.result_.model.reg == data.reg
    assert [r.lower_bound for r in a.result_.history] == [r.lower_bound for r in b.result_.history]


def test_alfa_under_svc_reports_what_svc_refit_returns(data, D):
    from convexpoison.attacks.labelflip import AlfaLabelFlip

    att = AlfaLabelFlip(0.05, defender=SPEC, max_iter=4, tol=1e-10).fit(data)
    ps = att.poisons_
    X, y, w, _ = ps.with_clean(data.X_train, data.y_train)
    model = att.poisoned_model_
    assert model.reg == pytest.approx(1 / w.sum()) and not model.bias_regularized
    refit = _refit(X, y, w)
    assert np.array_equal(refit.predict(data.X_test), model.predict(data.X_test))
    assert np.linalg.norm(refit.w - model.w) <= 1e-3 * np.linalg.norm(refit.w)
    # alfa's objective: L(theta*; Dp) - L(theta^; Dp), theta* = SVC on Dc
    clean = _refit(data.X_train, data.y_train, None)
    gap = ps.weight @ (clean.losses(ps.X, ps.y) - refit.losses(ps.X, ps.y))
    assert att.objective_ == pytest.approx(gap, rel=1e-3, abs=1e-3)
    assert np.array_equal(att.clean_model_.predict(data.X_test), clean.predict(data.X_test))


def test_koh_target_under_svc_is_svc_refit_on_the_flips(data, D):
    from convexpoison.targets import koh_target

    t = koh_target(data, error=0.08, defender=EST, quantiles=(0.1, 0.2, 0.3),
                   repeats=(1, 2, 4, 8))
    assert t.settings["defender"] == D.spec() and t.settings["reg"] is None
    s = t.settings
    Xf = data.X_test[s["flip_index"]]
    X = np.vstack([data.X_train, Xf])
    y = np.append(data.y_train, -data.y_test[s["flip_index"]])
    w = np.append(np.ones(data.n_train), s["flip_weight"])
    refit = _refit(X, y, w)
    m = t.model
    assert not m.bias_regularized and m.reg == pytest.approx(1 / w.sum())
    assert np.array_equal(refit.predict(data.X_test), m.predict(data.X_test))
    assert t.test_error == refit.error(data.X_test, data.y_test) >= 0.08
    assert np.linalg.norm(refit.w - m.w) <= 1e-3 * np.linalg.norm(refit.w)
    # the clean loss is SVC(C=1)'s objective on Dc alone, divided by C N
    assert t.clean_loss == pytest.approx(D.objective(m, data.X_train, data.y_train)
                                         / data.n_train, rel=1e-12)
    assert t.clean_loss == pytest.approx(objective(m, data.X_train, data.y_train,
                                                   reg=1 / data.n_train), rel=1e-12)


def test_mtp_under_svc_resumes_exactly(data, D, target, tmp_path):
    """An interrupted run under C-on-the-sum resumes to the same poisons: the saved iterate
    is reloaded with the effective C_R of its own total weight and the free intercept."""
    from convexpoison.attacks.mtp import ModelTargetedPoisoning

    kw = dict(defender=SPEC, eps_close=0.0, progress_bar=False, bound_at_achieved=False)
    full = ModelTargetedPoisoning(target, budget=6, **kw).fit(data)
    ModelTargetedPoisoning(target, budget=3, run_dir=tmp_path / "r", **kw).fit(data)
    resumed = ModelTargetedPoisoning(target, budget=6, run_dir=tmp_path / "r", resume=True,
                                     **kw).fit(data)
    np.testing.assert_array_equal(resumed.poisons_.X, full.poisons_.X)
    np.testing.assert_array_equal(resumed.poisons_.weight, full.poisons_.weight)
    assert resumed.result_.model.reg == pytest.approx(1 / (data.n_train + 6))
    assert not resumed.result_.model.bias_regularized


def test_reachable_target_under_svc_realises_for_svc(data, D):
    """Priced, realised and judged for SVC(C=1): the poison set it returns induces, under
    scikit-learn's own refit, the model its evaluation reports."""
    from convexpoison.attacks.reachable import ReachableTargetAttack

    att = ReachableTargetAttack(0.03, defender=SPEC, defenses=("l2", "slab"),
                                seeds=("decoys",), decoy_quantiles=(0.1, 0.3),
                                decoy_repeats=(2, 5), n_search=1, steps=2,
                                n_realise=1).fit(data)
    assert att.clean_model_.reg == pytest.approx(1 / data.n_train)
    assert not att.target_.model.bias_regularized
    ps = att.poisons_
    assert 0 < ps.n_poisons <= n_poisons_of(data)
    X, y, w, _ = ps.with_clean(data.X_train, data.y_train)
    refit = _refit(X, y, w)
    undefended = att.result_.evaluation.models["none"]
    assert np.array_equal(refit.predict(data.X_test), undefended.predict(data.X_test))
    assert att.result_.evaluation.no_defense_test_error == refit.error(data.X_test, data.y_test)


def n_poisons_of(data, epsilon=0.03):
    from convexpoison.attacks.base import n_poisons

    return n_poisons(epsilon, data.n_train)
