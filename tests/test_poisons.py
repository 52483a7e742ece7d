"""PoisonSet directly: validation, copy counts, expansion, the union with the clean data
(a row of weight k trains like k copies), and the file round trip."""
import numpy as np
import pytest

from convexpoison.errors import InputError
from convexpoison.poisons import PoisonSet
from convexpoison.training import train

from conftest import make_blobs


def test_counts_and_expansion():
    X = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    ps = PoisonSet(X, [1, -1, 1], [2, 0, 3])
    assert ps.n_poisons == 5 and ps.n_distinct == 2 and len(ps) == 3 and ps.d == 2
    Xe, ye = ps.expanded()
    np.testing.assert_array_equal(Xe, X[[0, 0, 2, 2, 2]])
    np.testing.assert_array_equal(ye, [1, 1, 1, 1, 1])
    c = ps.compact()
    assert len(c) == 2 and c.n_poisons == 5
    np.testing.assert_array_equal(c.X, X[[0, 2]])
    assert PoisonSet(X, [1, 1, 1]).n_poisons == 3              # default: one copy per row
    with pytest.raises(InputError, match="integer"):
        PoisonSet(X, [1, 1, 1], [1.5, 1, 1]).expanded()


def test_validation_names_the_argument():
    X = np.zeros((2, 3))
    with pytest.raises(InputError, match="weight"):
        PoisonSet(X, [1, -1], [1.0])
    with pytest.raises(InputError, match="weight"):
        PoisonSet(X, [1, -1], [1.0, -1.0])
    with pytest.raises(InputError, match="weight"):
        PoisonSet(X, [1, -1], [1.0, np.nan])
    with pytest.raises(InputError, match="X"):
        PoisonSet(np.zeros(3), [1, 1, 1])
    with pytest.raises(InputError, match="poisons"):
        PoisonSet(X, [1, -1]).check_dimension(4)
    PoisonSet.empty(4).check_dimension(7)                      # an empty set fits any data
    e = PoisonSet.empty(4)
    assert e.n_poisons == 0 and len(e) == 0 and e.d == 4


def test_weighted_rows_train_like_copies(rng):
    """The union with the clean data keeps the clean rows first; a row of weight k gives
    the model of k duplicated rows (checked by training both)."""
    Xc, yc = make_blobs(rng, n=60, d=3)
    ps = PoisonSet(np.array([[0.2, 0.8, 0.5], [0.7, 0.1, 0.4]]), [1, -1], [3, 2])
    X, y, w, is_poison = ps.with_clean(Xc, yc)
    np.testing.assert_array_equal(X[:60], Xc)
    np.testing.assert_array_equal(is_poison, np.r_[np.zeros(60, bool), np.ones(2, bool)])
    np.testing.assert_array_equal(w, np.r_[np.ones(60), 3, 2])
    weighted = train(X, y, "svm", 0.05, sample_weight=w, tol=1e-12)
    Xe, ye = ps.expanded()
    copies = train(np.vstack([Xc, Xe]), np.r_[yc, ye], "svm", 0.05, tol=1e-12)
    np.testing.assert_allclose(weighted.theta, copies.theta, atol=1e-6)
    X0, y0, w0, p0 = PoisonSet.empty(3).with_clean(Xc, yc)
    assert X0 is not None and len(y0) == 60 and not p0.any()
    with pytest.raises(InputError, match="features"):
        ps.with_clean(Xc[:, :2], yc)


def test_file_round_trip(tmp_path):
    ps = PoisonSet(np.array([[0.1, 0.9]]), [-1], [4], {"attack": "kkt", "epsilon": np.float64(0.03)})
    ps.save(tmp_path / "p.npz")
    back = PoisonSet.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.X, ps.X)
    np.testing.assert_array_equal(back.y, ps.y)
    np.testing.assert_array_equal(back.weight, ps.weight)
    assert back.meta == {"attack": "kkt", "epsilon": 0.03}
    np.savez(tmp_path / "bad.npz", X=np.zeros((1, 2)))
    with pytest.raises(InputError, match="'y'"):
        PoisonSet.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="cannot read"):
        PoisonSet.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "noweight.npz", X=np.zeros((2, 2)), y=[1, -1])
    assert PoisonSet.load(tmp_path / "noweight.npz").n_poisons == 2
