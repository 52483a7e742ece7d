"""The attack contract (tests/conformance.py) for the neural-network attacks: TGDA, pGAN
and both label-flip rules, on tiny data and a few training steps (seconds on one CPU)."""
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convexpoison import Domain  # noqa: E402
from convexpoison.datasets import from_arrays  # noqa: E402
from convexpoison.nn import PGAN, LabelFlipAttack, TGDAAttack, make_defender  # noqa: E402

from conformance import check_attack  # noqa: E402

torch.set_num_threads(1)
N, D, K = 90, 16, 3


@pytest.fixture
def data(rng):
    """Three classes in the unit box (4x4 "images"); epsilon 0.1 of 90 or 63 rows is not an
    integer, so a rounding budget would differ from the floored one."""
    y = rng.integers(0, K, N)
    X = np.clip(0.5 + 0.2 * rng.standard_normal((N, D)) + 0.2 * np.eye(K, D)[y], 0, 1)
    return replace(from_arrays(X, y, domain=Domain.box(D, 0, 1)), image_shape=(4, 4))


def test_tgda_contract(data):
    att = TGDAAttack(epsilon=0.11, rounds=1, pretrain_epochs=1, autoencoder_epochs=1,
                     attacker_hidden=(8,), cg_iters=2, batch_size=50, device="cpu")
    n_tr = N - round(0.3 * N)                     # D_tr after the 30% validation split
    check_attack(att, data, n_clean=n_tr)
    assert att.poisons_.n_poisons == 6            # floor(0.11 x 63) = 6 (rounding: 7)
    assert att.result_.to_dict()["status"] == "done"


def test_pgan_contract(data):
    att = PGAN(alpha=0.5, epsilon=0.11, iterations=2, batch_size=16, noise_dim=4, generator_hidden=(8,),
               discriminator_hidden=(8,), classifier_hidden=(8,), device="cpu")
    check_attack(att, data)
    assert att.poisons_.n_poisons == 9            # floor(0.11 x 90) = 9 (rounding: 10)
    assert np.all(att.poisons_.y == K - 1)        # the poisoning class (default: the last)


@pytest.mark.parametrize("rule", ["reverse", "max-loss"])
def test_label_flip_contract(data, rule):
    model = make_defender("lr", D, K, seed=0).double()
    att = LabelFlipAttack(rule, epsilon=0.1, model=model)
    check_attack(att, data)
    # the poisons are copies of the rows it names, with labels that are not their own
    # (the reverse rule y -> 2 - y keeps class 1 of three classes)
    src = data.y_train[att.index_]
    np.testing.assert_array_equal(att.poisons_.X, data.X_train[att.index_])
    moved = att.poisons_.y != src
    assert np.all(moved | ((rule == "reverse") & (src == 1)))
    assert att.result_.to_dict()["changed"] == int(moved.sum())
