"""A defender trained to a reported relative duality gap (docs/defender.md, "Training to a
duality gap"): ``multisvm:reg=0.09,gap=1e-3``.  The gap is checked against an independent
computation (the objective evaluated from the data, and a tight solve by the same trainer
and by Clarabel through cvxpy); a defender with a gap is no exact optimum, so what needs
one refuses it in one line naming ``defender``."""
import numpy as np
import pytest

from convexpoison import InputError
from convexpoison.cli import main
from convexpoison.datasets import from_arrays, load_dataset
from convexpoison.defender import Defender
from convexpoison.training import LinearModel, train


@pytest.fixture(scope="module")
def mc():
    data = load_dataset("mnist10")
    return from_arrays(data.X_train[:400], data.y_train[:400], data.X_test[:300],
                       data.y_test[:300], domain=data.domain, reg=0.09)


@pytest.mark.parametrize("text, gap", [
    ("multisvm:reg=0.09,gap=1e-3", 1e-3),
    ("multisvm:gap=0.0001", 1e-4),
    ("svm:reg=0.09,gap=1e-5", 1e-5),
    ("svc:C=1,gap=1e-4", 1e-4),
    ("sgd:alpha=1e-3,gap=1e-2", 1e-2),
])
def test_gap_parses_and_round_trips(text, gap):
    D = Defender.from_spec(text)
    assert D.gap == gap and D.trainer == "exact" and not D.exact
    assert Defender.from_spec(D.spec()) == D
    assert D.with_default_reg(0.5).gap == gap


def test_no_gap_is_the_exact_default():
    D = Defender.from_spec("multisvm:reg=0.09")
    assert D.gap is None and D.exact and "gap" not in D.spec()
    assert D == Defender.from_model("multisvm", 0.09)
    # a gap makes another defender (a clean model of one is not the other's)
    assert Defender.from_spec("multisvm:reg=0.09,gap=1e-3") != D


@pytest.mark.parametrize("text, match", [
    ("multisvm:reg=0.09,gap=abc", r"^defender: gap='abc' in .* is not a number$"),
    ("multisvm:reg=0.09,gap=0", r"^defender: gap: must be a relative duality gap in \(0, 1\)"),
    ("multisvm:reg=0.09,gap=1", r"^defender: gap: must be"),
    ("svm:reg=0.09,gap=-1e-3", r"^defender: gap: must be"),
    ("svm:reg=0.09,gap=nan", r"^defender: gap: must be"),
    ("multisvm-adagrad:gap=1e-3", r"^defender: unknown key\(s\) gap"),
])
def test_bad_gap_is_a_one_line_input_error_naming_the_flag(text, match):
    with pytest.raises(InputError, match=match) as exc:
        Defender.from_spec(text)
    assert "\n" not in str(exc.value)


def test_bad_gap_in_the_constructor():
    with pytest.raises(InputError, match=r"^gap: must be a relative duality gap"):
        Defender("multiclass_hinge", reg=0.09, gap=2.0)
    with pytest.raises(InputError, match=r"^gap: the AdaGrad defender"):
        Defender("multiclass_hinge", trainer="adagrad", gap=1e-3)


def test_bad_gap_on_the_command_line_names_the_flag(capsys):
    assert main(["train", "--dataset", "mnist10", "--model", "multisvm", "--defender",
                 "multisvm:reg=0.09,gap=x"]) != 0
    err = capsys.readouterr().err.strip()
    assert err == ("convexpoison: error: --defender: gap='x' in 'multisvm:reg=0.09,gap=x' "
                   "is not a number")


def _cs_objective(model, X, y, reg, s=None):
    """The Crammer--Singer objective written out: weighted mean of
    max_k (1[k != y] + s_k - s_y) plus C_R/2 (|W|^2 + |b|^2)."""
    s = np.ones(len(y)) if s is None else s
    S = X @ model.w.T + model.b
    marg = 1.0 - (np.arange(S.shape[1])[None, :] == y[:, None]) + S - S[np.arange(len(y)), y][:, None]
    loss = marg.max(axis=1)
    return float(s @ loss / s.sum() + reg / 2 * (np.sum(model.w ** 2) + np.sum(model.b ** 2)))


def test_reached_gap_is_within_the_requested_one(mc):
    """The model of ``gap=1e-3`` is within 1e-3 (relative) of the optimum found by a
    tight solve, its reported gap bounds the distance, and it really stopped early."""
    X, y = mc.X_train, mc.y_train
    s = np.random.default_rng(0).integers(1, 4, size=len(y)).astype(float)
    loose = Defender.from_spec("multisvm:reg=0.09,gap=1e-3").train(X, y, sample_weight=s)
    tight = train(X, y, "multisvm", 0.09, s, tol=1e-10)
    F = _cs_objective(loose, X, y, 0.09, s)
    F_star = _cs_objective(tight, X, y, 0.09, s) - tight.gap_      # a lower bound on the optimum
    assert loose.objective_ == pytest.approx(F, rel=1e-10)
    assert loose.gap_ / loose.objective_ <= 1e-3
    assert F - F_star <= loose.gap_ + 1e-12                         # the reported gap is proven
    assert F - F_star <= 1e-3 * F
    assert loose.gap_ / loose.objective_ > 1e-7                     # it did stop early
    assert loose.n_iter_ < tight.n_iter_


def test_reached_gap_against_clarabel():
    """The same on a tiny set, the optimum from Clarabel (an interior-point solver)."""
    cp = pytest.importorskip("cvxpy")
    data = load_dataset("mnist10")
    X, y = data.X_train[:60, ::16], data.y_train[:60]
    k, reg = 10, 0.09
    W, b = cp.Variable((k, X.shape[1])), cp.Variable(k)
    S = X @ W.T + np.ones((len(y), 1)) @ cp.reshape(b, (1, k), order="C")
    onehot = np.eye(k)[y]
    Sy = cp.sum(cp.multiply(S, onehot), axis=1)
    loss = cp.max(1 - onehot + S - cp.reshape(Sy, (len(y), 1), order="C") @ np.ones((1, k)),
                  axis=1)
    prob = cp.Problem(cp.Minimize(cp.sum(loss) / len(y)
                                  + reg / 2 * (cp.sum_squares(W) + cp.sum_squares(b))))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    m = Defender.from_spec("multisvm:reg=0.09,gap=1e-2").train(X, y)
    F = _cs_objective(m, X, y, reg)
    assert m.gap_ / m.objective_ <= 1e-2
    assert F - prob.value <= 1e-2 * F + 1e-7
    assert F - prob.value <= m.gap_ + 1e-7


def test_evaluate_reports_and_keeps_the_gap(mc):
    """Every model of the evaluation (clean, undefended, each defense's) is trained to the
    defender's gap; the result reports the requested and reached gaps, and the errors
    are those of a retraining by hand."""
    from convexpoison.defenses import evaluate
    from convexpoison.poisons import PoisonSet

    D = Defender.from_spec("multisvm:reg=0.09,gap=1e-3")
    rng = np.random.default_rng(1)
    P = PoisonSet(rng.uniform(0, 1, (12, mc.d)), rng.integers(0, 10, 12), np.full(12, 2.0))
    ev = evaluate(mc, P, defenses=("l2", "loss"), defender=D)
    out = ev.to_dict()
    assert out["requested_gap"] == 1e-3
    assert set(out["reached_gap"]) == {"clean", "none", "l2", "loss"}
    assert all(0 <= g <= 1e-3 for g in out["reached_gap"].values())
    assert all(m.defender == D for m in ev.models.values())
    X = np.vstack([mc.X_train, P.X])
    y = np.concatenate([mc.y_train, P.y])
    s = np.concatenate([np.ones(mc.n_train), P.weight])
    ref = train(X, y, "multisvm", 0.09, s, tol=1e-10)
    # the undefended model is within the gap of the optimum on Dc ∪ Dp
    assert _cs_objective(ev.models["none"], X, y, 0.09, s) - (ref.objective_ - ref.gap_) \
        <= 1e-3 * ev.models["none"].objective_
    # the default defender reports no gap (its output is unchanged)
    assert "requested_gap" not in evaluate(mc, P, defenses=("l2",), defender=None,
                                           model="multisvm").to_dict()


def test_minmax_trains_clean_model_and_decoys_to_the_gap(mc):
    from convexpoison.attacks.minmax import MinMaxAttack

    D = Defender.from_spec("multisvm:reg=0.09,gap=1e-3")
    att = MinMaxAttack(0.01, defender=D, decoy="auto", decoy_quantiles=(0.2,),
                       decoy_repeats=(2,), max_decoys=1, defenses=("l2",), feasible="l2",
                       burn_in=4, progress_bar=False).fit(mc)
    assert att.clean_model_.defender == D
    assert att.clean_model_.gap_ / att.clean_model_.objective_ <= 1e-3
    assert att.result_.to_dict()["defender"] == D.spec()
    for d in att.decoys_:
        assert d.model.gap_ / d.model.objective_ <= 1e-3
    ev = att.result_.evaluation.to_dict()
    assert ev["requested_gap"] == 1e-3 and max(ev["reached_gap"].values()) <= 1e-3


def test_what_needs_an_exact_optimum_refuses_a_gap_in_one_line_naming_defender():
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.minpoison import MinimumPoisoning
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.attacks.reachable import ReachableTargetAttack
    from convexpoison.certificates import CertifiedUpperBound, DinkelbachLowerBound
    from convexpoison.programs.kkt import kkt_residual

    data = load_dataset("mnist17")
    D = Defender.from_spec("svm:reg=0.09,gap=1e-4")
    with pytest.raises(InputError, match=r"^defender: .*relative duality gap of 0\.0001"):
        D.require_exact("the lower-bound certificate")
    target = train(data.X_train, data.y_train, "svm", 0.09)
    dom = data.domain
    calls = [lambda: DinkelbachLowerBound(dom, None, defender=D),
             lambda: CertifiedUpperBound(dom, None, 0.03, defender=D),
             lambda: kkt_residual(target, data.X_train, data.y_train, None, defender=D),
             lambda: ModelTargetedPoisoning(target, dom, defender=D, epsilon=0.03).fit(data),
             lambda: MinimumPoisoning(target, dom, defender=D).fit(data),
             lambda: KKTAttack(0.03, defender=D).fit(data),
             lambda: ReachableTargetAttack(0.03, defender=D).fit(data)]
    for call in calls:
        with pytest.raises(InputError, match="^defender: .*gap") as exc:
            call()
        assert "\n" not in str(exc.value) and "gap=0.0001" in str(exc.value)
    # training-only uses take it: the same defender without the gap is accepted
    DinkelbachLowerBound(dom, None, defender="svm:reg=0.09")


def test_cli_trains_to_the_gap_and_says_so(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["train", "--dataset", "mnist10", "--model", "multisvm", "--defender",
                 "multisvm:reg=0.09,gap=1e-2", "--out", str(out)]) == 0
    m = LinearModel.load(out)
    assert m.defender == Defender.from_spec("multisvm:reg=0.09,gap=1e-2")
    assert m.gap_ / m.objective_ <= 1e-2
    assert "relative gap 0.01" in capsys.readouterr().out
