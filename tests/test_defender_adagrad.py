"""Koh et al.'s (2021) multi-class training as a defender (docs/defender.md, "The AdaGrad
defender"): Crammer--Singer by minibatch AdaGrad, no explicit regulariser.  Checked
against a straightforward per-row implementation of the same loop, and for what must
refuse it (anything that needs an exact optimum)."""
import numpy as np
import pytest

from convexpoison import InputError
from convexpoison.cli import main
from convexpoison.datasets import load_dataset
from convexpoison.defender import Defender, resolve_defender
from convexpoison.training import LinearModel


def reference_adagrad(X, y, copies, k, eta, batch, passes, seed):
    """The AdaGrad loop written out row by row (no vectorised subgradient): rows repeated
    by their copies, one permutation per pass from one generator, batch-mean
    Crammer--Singer subgradient, per-coordinate step ``eta g / (sqrt(G) + 1e-12)``."""
    rows = []
    for i, c in enumerate(copies):
        rows += [i] * int(c)
    rows = np.array(rows)
    W = np.zeros((k, X.shape[1]))
    b = np.zeros(k)
    GW, Gb = np.zeros_like(W), np.zeros_like(b)
    rng = np.random.default_rng(seed)
    for _ in range(passes):
        order = rows[rng.permutation(len(rows))]
        for s in range(0, len(order), batch):
            gW, gb = np.zeros_like(W), np.zeros_like(b)
            chunk = order[s:s + batch]
            for i in chunk:
                score = W @ X[i] + b
                best, arg = -np.inf, None
                for j in range(k):                      # first maximiser of 1[j != y] + s_j
                    v = (0.0 if j == y[i] else 1.0) + score[j]
                    if v > best:
                        best, arg = v, j
                if arg != y[i]:
                    gW[arg] += X[i]
                    gW[y[i]] -= X[i]
                    gb[arg] += 1.0
                    gb[y[i]] -= 1.0
            gW /= len(chunk)
            gb /= len(chunk)
            GW += gW ** 2
            Gb += gb ** 2
            W -= eta * gW / (np.sqrt(GW) + 1e-12)
            b -= eta * gb / (np.sqrt(Gb) + 1e-12)
    return W, b


@pytest.fixture(scope="module")
def small():
    data = load_dataset("mnist10")
    X, y = data.X_train[:150], data.y_train[:150]
    copies = np.random.default_rng(3).integers(0, 3, size=len(y)).astype(float)
    return X, y, copies


def test_adagrad_defender_is_the_reference_loop(small):
    X, y, copies = small
    D = Defender("multiclass_hinge", trainer="adagrad", eta=0.05, batch=7, passes=2, seed=4)
    m = D.train(X, y, sample_weight=copies)
    W, b = reference_adagrad(X, y, copies, 10, 0.05, 7, 2, 4)
    assert np.max(np.abs(m.w - W)) <= 1e-12 and np.max(np.abs(m.b - b)) <= 1e-12
    assert m.n_iter_ == 2 * -(-int(copies.sum()) // 7)
    assert m.defender == D and m.method_ == "adagrad" and np.isnan(m.gap_)
    # the model really moved, and zero-copy rows are not trained on
    assert np.abs(m.w).max() > 0.01
    assert m.objective_ == pytest.approx(np.average(m.losses(X, y), weights=copies), rel=1e-12)


def test_adagrad_is_deterministic_by_seed_and_ignores_warm_start(small):
    X, y, _ = small
    D = Defender.from_spec("multisvm-adagrad:passes=1")
    a = D.train(X, y)
    b = D.train(X, y, warm_start=a, tol=1e-3)           # exact trainer's keywords: ignored
    assert np.array_equal(a.w, b.w) and np.array_equal(a.b, b.b)
    c = Defender.from_spec("multisvm-adagrad:passes=1,seed=1").train(X, y)
    assert not np.array_equal(a.w, c.w)


def test_adagrad_needs_integer_copies(small):
    X, y, _ = small
    with pytest.raises(InputError, match="^sample_weight: .*integer"):
        Defender.from_spec("multisvm-adagrad").train(X, y, sample_weight=np.full(len(y), 1.5))


@pytest.mark.parametrize("text, want", [
    ("multisvm-adagrad", dict(eta=0.02, batch=20, passes=3, seed=0)),
    ("multisvm-adagrad:eta=0.05,batch=10,passes=2,seed=7",
     dict(eta=0.05, batch=10, passes=2, seed=7)),
])
def test_spelling(text, want):
    D = Defender.from_spec(text)
    assert D.trainer == "adagrad" and D.loss == "multiclass_hinge" and not D.exact
    assert {k: getattr(D, k) for k in want} == want
    assert D.convention == "none" and D.reg_for(1000) == 0.0
    assert Defender.from_spec(D.spec()) == D
    assert resolve_defender(text, load_dataset("mnist10")) == D   # the data's C_R is not used


@pytest.mark.parametrize("text, msg", [
    ("multisvm-adagrad:reg=0.1", "^defender: unknown key"),
    ("multisvm-adagrad:batch=2.5", "^defender: batch="),
    ("multisvm-adagrad:passes=0", "^passes: "),
    ("multisvm-adagrad:eta=-1", "^eta: "),
])
def test_spelling_errors_are_one_line(text, msg):
    with pytest.raises(InputError, match=msg) as exc:
        Defender.from_spec(text)
    assert "\n" not in str(exc.value)


def test_only_the_multiclass_hinge_and_no_regulariser():
    with pytest.raises(InputError, match="^trainer: "):
        Defender("hinge", trainer="adagrad")
    with pytest.raises(InputError, match="^reg/C: "):
        Defender("multiclass_hinge", reg=0.1, trainer="adagrad")


def test_what_needs_an_exact_optimum_refuses_it_in_one_line_naming_defender():
    from convexpoison.certificates import CertifiedUpperBound, DinkelbachLowerBound

    D = Defender.from_spec("multisvm-adagrad")
    with pytest.raises(InputError, match="^defender: .*AdaGrad") as exc:
        D.require_exact("the lower-bound certificate")
    assert "\n" not in str(exc.value)
    dom = load_dataset("mnist17").domain
    for call in (lambda: DinkelbachLowerBound(dom, 0.09, defender=D),
                 lambda: CertifiedUpperBound(dom, 0.09, 0.03, defender=D),
                 lambda: CertifiedUpperBound(dom, None, 0.03, defender=D)):
        with pytest.raises(InputError, match="^defender: ") as exc:
            call()
        assert "\n" not in str(exc.value) and "multisvm-adagrad" in str(exc.value)


def test_cli_spelling_trains_it(tmp_path):
    out = tmp_path / "m.npz"
    assert main(["train", "--dataset", "mnist10", "--model", "multisvm", "--defender",
                 "multisvm-adagrad:passes=1", "--out", str(out)]) == 0
    m = LinearModel.load(out)
    assert m.defender == Defender.from_spec("multisvm-adagrad:passes=1")
    data = load_dataset("mnist10")
    ref = Defender.from_spec("multisvm-adagrad:passes=1").train(data.X_train, data.y_train)
    assert np.array_equal(m.w, ref.w)


def test_minmax_and_evaluate_retrain_the_adagrad_defender():
    """The min-max attack judged under the AdaGrad defender: the clean model and every
    defense's model are AdaGrad's (a retraining by hand gives the same errors)."""
    from convexpoison.attacks.minmax import MinMaxAttack
    from convexpoison.defenses import evaluate

    data = load_dataset("mnist10")
    D = Defender.from_spec("multisvm-adagrad:passes=1")
    att = MinMaxAttack(0.01, defender=D, decoy=None, defenses=("l2",), feasible="l2",
                       burn_in=10, progress_bar=False, clean_batch=500).fit(data)
    clean = D.train(data.X_train, data.y_train)
    assert att.clean_model_.defender == D and np.array_equal(att.clean_model_.w, clean.w)
    r = att.result_.to_dict()
    assert r["defender"] == D.spec() and r["clean_batch"] == 500
    p = att.poisons_
    X = np.vstack([data.X_train, p.X])
    y = np.concatenate([data.y_train, p.y])
    s = np.concatenate([np.ones(data.n_train), p.weight])
    m = D.train(X, y, sample_weight=s)
    ev = evaluate(data, p, defenses=(), defender=D)
    assert ev.no_defense_test_error == pytest.approx(m.error(data.X_test, data.y_test))
    with pytest.raises(InputError, match="^clean_batch: "):
        MinMaxAttack(0.01, clean_batch=0, decoy=None, progress_bar=False).fit(data)


def test_clean_batch_of_every_row_is_the_full_clean_gradient():
    """``clean_batch = N`` draws all N rows (in some order) every step: the learner then
    follows the full gradient up to the summation order, so the poisons are the same."""
    from convexpoison.attacks.minmax import MinMaxAttack

    data = load_dataset("mnist10")
    from convexpoison.datasets import from_arrays

    small = from_arrays(data.X_train[:300], data.y_train[:300], data.X_test[:200],
                        data.y_test[:200], domain=data.domain)
    kw = dict(decoy=None, defenses=("l2",), feasible="l2", burn_in=5, progress_bar=False,
              defender="multisvm-adagrad:passes=1")
    full = MinMaxAttack(0.03, **kw).fit(small)
    mb = MinMaxAttack(0.03, clean_batch=300, **kw).fit(small)
    assert full.poisons_.X.shape == mb.poisons_.X.shape
    assert np.array_equal(full.poisons_.y, mb.poisons_.y)
    # (AdaGrad divides by sqrt(G): rounding differences of ~1e-16 grow to ~1e-7)
    assert np.max(np.abs(full.poisons_.X - mb.poisons_.X)) < 1e-6
    # a real minibatch follows another path
    part = MinMaxAttack(0.03, clean_batch=30, **kw).fit(small)
    assert not np.allclose(part.result_.best.model.w, full.result_.best.model.w)
