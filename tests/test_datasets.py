"""Tests of the bundled datasets and the loaders in convexpoison.datasets."""
from __future__ import annotations

import gzip
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from convexpoison import datasets as D
from convexpoison.domain import Domain
from convexpoison.errors import InputError

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"

# name -> (n_train, n_test, d, labels, stored X dtype, image_shape)
EXPECTED = {
    "mnist17": (700, 300, 784, {-1, 1}, np.uint8, (28, 28)),
    "mnist10": (4000, 1000, 784, set(range(10)), np.uint8, (28, 28)),
    "fmnist-sneaker-boot": (12000, 2000, 784, {-1, 1}, np.uint8, (28, 28)),
    "spambase": (3680, 921, 57, {-1, 1}, np.float64, None),
    "adult": (10500, 4500, 61, {-1, 1}, np.float64, None),
    "digits17": (252, 109, 64, {-1, 1}, np.uint8, (8, 8)),
    "breast-cancer": (398, 171, 30, {-1, 1}, np.float64, None),
}


def _build_module():
    spec = importlib.util.spec_from_file_location("build_datasets", REPO / "data" / "build_datasets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_registry_matches_expected():
    # fine-foods is sparse (tests/test_sparse_data.py)
    assert set(D.list_datasets()) == set(EXPECTED) | {"fine-foods"}
    assert "fmnist" in D.list_datasets(include_optional=True)
    assert all(isinstance(v, str) and v for v in D.DATASETS.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dataset_loads_with_specified_shapes(name):
    n_tr, n_te, d, labels, stored_dtype, image_shape = EXPECTED[name]
    ds = D.load_dataset(name)
    assert ds.name == name
    assert ds.X_train.shape == (n_tr, d) and ds.X_test.shape == (n_te, d)
    assert ds.y_train.shape == (n_tr,) and ds.y_test.shape == (n_te,)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype.kind == "i"
    assert set(np.unique(ds.y_train)) == labels and set(np.unique(ds.y_test)) == labels
    assert ds.is_binary == (labels == {-1, 1})
    assert ds.n_classes == len(labels) == len(ds.classes)
    assert ds.image_shape == image_shape
    assert len(ds.feature_names) == d and len(set(ds.feature_names)) == d
    assert isinstance(ds.domain, Domain) and ds.domain.d == d
    assert ds.reg > 0
    # every row lies in the domain, exactly (no tolerance)
    assert ds.domain.contains(ds.X_train, tol=0).all()
    assert ds.domain.contains(ds.X_test, tol=0).all()
    with np.load(REPO / "data" / f"{name}.npz") as z:
        assert z["X_train"].dtype == stored_dtype
        assert z["lo"].dtype == np.float64 and z["integer"].dtype == bool
    s = ds.summary()
    assert (s["name"], s["n_train"], s["n_test"], s["d"], s["classes"]) == (name, n_tr, n_te, d,
                                                                            len(labels))
    assert s["domain"] == ds.domain.summary() and s["reg"] == ds.reg and s["description"]
    stored = json.loads((REPO / "data" / "reg.json").read_text())
    assert s["reg_source"] == ("data/reg.json (cross-validation)" if name in stored
                               else "fallback")
    json.dumps(s)   # the CLI prints it as JSON


def test_binary_splits_are_stratified_with_the_documented_class_counts():
    ds = D.load_dataset("mnist17")
    assert (ds.y_train == 1).sum() == 350 and (ds.y_test == 1).sum() == 150
    ad = D.load_dataset("adult")
    n_pos = (ad.y_train == 1).sum() + (ad.y_test == 1).sum()
    # natural class balance (24.9% >50K among the 30162 complete rows), 15000 kept
    assert ad.n_train + ad.n_test == 15000 and abs(n_pos / 15000 - 7508 / 30162) < 1e-3
    bc = D.load_dataset("breast-cancer")
    assert (bc.y_train == 1).sum() + (bc.y_test == 1).sum() == 212    # malignant -> +1
    assert bc.classes == ["benign", "malignant"]
    sp = D.load_dataset("spambase")
    assert (sp.y_train == 1).sum() + (sp.y_test == 1).sum() == 1813   # spam -> +1
    assert D.load_dataset("fmnist-sneaker-boot").classes == ["Sneaker", "Ankle boot"]


def test_pixel_and_box_ranges():
    for name in ("mnist17", "mnist10", "fmnist-sneaker-boot"):
        ds = D.load_dataset(name)
        X = np.vstack([ds.X_train, ds.X_test])
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.allclose(np.round(X * 255), X * 255)          # k/255 values
        assert ds.domain.kind == "box"
    dg = D.load_dataset("digits17")
    assert dg.domain.kind == "integer" and np.all(dg.domain.hi == 16) and np.all(dg.domain.lo == 0)
    X = np.vstack([dg.X_train, dg.X_test])
    assert np.array_equal(X, np.round(X)) and X.max() == 16
    for name in ("spambase", "breast-cancer"):
        ds = D.load_dataset(name)
        X = np.vstack([ds.X_train, ds.X_test])
        # scaled over all rows: each feature reaches 1 somewhere (train or test)
        assert np.allclose(X.max(axis=0), 1.0) and X.min() >= 0


def test_adult_onehot_groups():
    ds = D.load_dataset("adult")
    dom = ds.domain
    sizes = [g.size for g in dom.onehot_groups]
    assert sizes == [7, 16, 7, 14, 6, 5, 2]
    cols = np.concatenate(dom.onehot_groups)
    assert np.array_equal(cols, np.arange(4, 61))                # consecutive after 4 continuous
    assert not dom.integer[:4].any() and dom.integer[4:].all()
    assert ds.feature_names[:4] == ["age", "capital_gain", "capital_loss", "hours_per_week"]
    assert ds.feature_names[4].startswith("workclass=") and ds.feature_names[-1] == "sex=Male"
    for X in (ds.X_train, ds.X_test):
        assert set(np.unique(X[:, 4:])) == {0.0, 1.0}
        for g in dom.onehot_groups:
            assert np.all(X[:, g].sum(axis=1) == 1)
        assert X[:, :4].min() >= 0 and X[:, :4].max() <= 1
    # a row with two categories of one group is outside the domain
    bad = ds.X_train[:1].copy()
    g = dom.onehot_groups[0]
    bad[0, g] = 0
    bad[0, g[:2]] = 1
    assert not dom.contains(bad)[0]


def test_loader_returns_fresh_copies():
    a = D.load_dataset("digits17")
    a.X_train[:] = -5
    a.y_train[:] = 99
    a.domain.lo[:] = -3
    b = D.load_dataset("digits17")
    assert b.X_train.min() >= 0 and set(np.unique(b.y_train)) == {-1, 1}
    assert np.all(b.domain.lo == 0)
    assert b.X_train.flags.writeable


def test_unknown_dataset():
    with pytest.raises(InputError) as exc:
        D.load_dataset("foo")
    msg = str(exc.value)
    assert "'foo'" in msg and "mnist17" in msg and "\n" not in msg


def test_data_dir_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEXPOISON_DATA", str(tmp_path))
    assert D.data_dir() == tmp_path
    with pytest.raises(InputError, match="not found"):
        D.load_dataset("mnist17")
    # a copy of a bundled file with a reg.json is found there, with its C_R
    (tmp_path / "digits17.npz").write_bytes((REPO / "data" / "digits17.npz").read_bytes())
    (tmp_path / "reg.json").write_text(json.dumps({"digits17": {"reg": 0.003, "cv": {}}}))
    ds = D.load_dataset("digits17")
    assert ds.reg == 0.003 and ds.n_train == 252


def _rebuild_and_compare(name):
    mod = _build_module()
    arrays = mod.BUILDERS[name](SHARED)
    with np.load(REPO / "data" / f"{name}.npz") as z:
        assert set(z.files) == set(arrays)
        for k, v in arrays.items():
            assert z[k].dtype == v.dtype, k
            if v.dtype.kind == "f":
                # the same split and rows; a numpy release may round a transform's last
                # bit differently (seen: 2.2e-16 on spambase's log features with numpy 2.4)
                np.testing.assert_allclose(z[k], v, rtol=0, atol=1e-12,
                                           err_msg=f"{name}: {k} differs from a fresh build")
            else:
                assert np.array_equal(z[k], v), f"{name}: {k} differs from a fresh build"


@pytest.mark.parametrize("name", ["digits17", "breast-cancer"])
def test_split_is_deterministic_sklearn_sets(name):
    _rebuild_and_compare(name)          # asserts every array equals a fresh build
    assert D.load_dataset(name).n_train > 0


@pytest.mark.skipif(not SHARED.is_dir(), reason="raw files in ../shared/data not present")
@pytest.mark.parametrize("name", ["mnist17", "spambase", "adult"])
def test_split_is_deterministic_shared_sets(name):
    _rebuild_and_compare(name)          # asserts every array equals a fresh build
    assert D.load_dataset(name).n_train > 0


# ---------------------------------------------------------------------- from_arrays
def _toy(n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(np.arange(n) % 2 == 0, 1, -1)
    return X, y


def test_from_arrays_binary_and_multiclass():
    X, y = _toy()
    ds = D.from_arrays(X[:14], y[:14], X[14:], y[14:])
    assert ds.is_binary and ds.n_classes == 2 and ds.n_train == 14 and ds.n_test == 6
    assert np.allclose(ds.domain.lo, X.min(axis=0)) and np.allclose(ds.domain.hi, X.max(axis=0))
    assert ds.domain.contains(ds.X_test).all() and ds.reg == D.FALLBACK_REG
    ym = np.arange(20) % 3
    dm = D.from_arrays(X, ym)
    assert not dm.is_binary and dm.n_classes == 3 and dm.n_test == 0


def test_from_arrays_rejects_nan():
    X, y = _toy()
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        D.from_arrays(X, y)


def test_from_arrays_rejects_shape_mismatch():
    X, y = _toy()
    with pytest.raises(InputError, match="y_train"):
        D.from_arrays(X, y[:-1])
    with pytest.raises(InputError, match="X_test"):
        D.from_arrays(X, y, X[:5, :2], y[:5])
    with pytest.raises(InputError, match="2-D"):
        D.from_arrays(X[0], y[:1])


def test_from_arrays_rejects_bad_labels():
    X, y = _toy()
    y = y.copy()
    y[5] = 3
    with pytest.raises(InputError, match=r"\[-1, 1, 3\]"):
        D.from_arrays(X, y)
    with pytest.raises(InputError, match="outside"):
        D.from_arrays(X, y, binary=True)
    with pytest.raises(InputError, match="integers"):
        D.from_arrays(X, np.full(20, 0.5))


def test_from_arrays_rejects_empty():
    with pytest.raises(InputError, match="empty"):
        D.from_arrays(np.empty((0, 3)), np.empty(0))


def test_from_arrays_domain_checks():
    X, y = _toy()
    with pytest.raises(InputError, match="outside the domain"):
        D.from_arrays(X, y, domain=Domain.box(3, 0, 1))
    with pytest.raises(InputError, match="coordinates"):
        D.from_arrays(X, y, domain=Domain.box(4, -10, 10))


# ---------------------------------------------------------------------- from_csv
def test_from_csv(tmp_path):
    X, _ = _toy(40, 2)
    lab = np.where(np.arange(40) % 4 == 0, "spam", "ham")
    p = tmp_path / "toy.csv"
    p.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, lab)))
    with pytest.warns(D.DomainWarning, match="inferred from the data"):
        ds = D.from_csv(p, "label", reg=0.05)
    assert ds.reg == 0.05 and ds.reg_source == "given"
    assert ds.n_train == 28 and ds.n_test == 12 and ds.d == 2
    assert ds.classes == ["ham", "spam"] and ds.is_binary
    assert (ds.y_test == 1).sum() == 3                       # stratified: 10 spam * 0.3
    assert ds.feature_names == ["a", "b"] and ds.name == "toy"
    dom = Domain.box(2, -10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # a given domain: no warning
        again = D.from_csv(p, "label", domain=dom, reg=0.05)
    assert np.array_equal(again.X_train, ds.X_train)          # seeded
    assert not np.array_equal(D.from_csv(p, "label", random_state=1, domain=dom,
                                         reg=0.05).X_train, ds.X_train)
    with pytest.raises(InputError, match="nope"):
        D.from_csv(p, "nope")


def _write_csv(path, X, labels, names=None):
    names = names or [f"f{j}" for j in range(X.shape[1])]
    rows = "".join(",".join(map(str, x)) + f",{lab}\n" for x, lab in zip(X, labels))
    path.write_text(",".join(names) + ",label\n" + rows)
    return path


@pytest.mark.parametrize("values, classes", [
    ((0, 1), ["0", "1"]),                 # the commonest binary encoding
    ((2, 4), ["2", "4"]),                 # any two values: the larger is +1
    ((-1, 1), ["-1", "1"]),
    ((1.5, -3.0), ["-3", "1.5"]),         # integral floats are named as integers
])
def test_from_csv_two_valued_labels_make_a_binary_set(tmp_path, values, classes):
    X, _ = _toy(40, 2)
    lab = np.where(np.arange(40) % 3 == 0, values[0], values[1])
    p = _write_csv(tmp_path / "two.csv", X, lab)
    ds = D.from_csv(p, "label", domain=Domain.box(2, -10, 10), reg=0.1, test_fraction=0)
    assert ds.is_binary and ds.classes == classes
    big = max(values)
    assert np.array_equal(ds.y_train == 1, np.isin(np.arange(40), np.flatnonzero(lab == big)))
    # and it trains as a binary model (0/1 used to become a multi-class set that failed here)
    from convexpoison.training import train

    assert train(ds.X_train, ds.y_train, "svm", reg=ds.reg).is_binary


def test_from_csv_multivalued_numeric_labels_are_relabelled(tmp_path):
    X, _ = _toy(30, 2)
    lab = np.array([3, 5, 9] * 10)
    p = _write_csv(tmp_path / "multi.csv", X, lab)
    ds = D.from_csv(p, "label", domain=Domain.box(2, -10, 10), reg=0.1, test_fraction=0)
    assert not ds.is_binary and ds.classes == ["3", "5", "9"]
    assert np.array_equal(ds.y_train, np.searchsorted([3, 5, 9], lab))


def test_from_csv_positive_value(tmp_path):
    X, _ = _toy(30, 2)
    lab = np.array([3, 5, 9] * 10)
    p = _write_csv(tmp_path / "multi.csv", X, lab)
    ds = D.from_csv(p, "label", positive="9", domain=Domain.box(2, -10, 10), reg=0.1,
                    test_fraction=0)                          # "9": as the command line gives it
    assert ds.is_binary and ds.classes == ["other", "9"]
    assert np.array_equal(ds.y_train == 1, lab == 9)
    with pytest.raises(InputError, match="positive: no row has label 7"):
        D.from_csv(p, "label", positive=7, reg=0.1)


@pytest.mark.parametrize("labels, msg", [
    ([1] * 12, "every row has label 1; a classifier needs two classes"),
    ([0, 1], "2 data rows; at least 10"),
])
def test_from_csv_rejects_one_class_and_too_few_rows(tmp_path, labels, msg):
    X = np.random.default_rng(0).random((len(labels), 2))
    p = _write_csv(tmp_path / "few.csv", X, labels)
    with pytest.raises(InputError, match=msg) as e:
        D.from_csv(p, "label", reg=0.1)
    assert "\n" not in str(e.value)


def test_from_csv_reports_the_csv_row_and_column(tmp_path):
    X, _ = _toy(20, 3)
    lab = np.arange(20) % 2
    cells = X.astype(object)
    cells[5, 1] = ""                       # data row 5 = CSV row 7 (header = row 1)
    p = _write_csv(tmp_path / "nan.csv", cells, lab, ["a", "b", "c"])
    with pytest.raises(InputError, match=r"row 7 \(the header is row 1\), column 'b': missing"):
        D.from_csv(p, "label", reg=0.1)
    cells = X.astype(object)
    cells[2, 2] = "n/a?"
    cells[9, 0] = ""
    p = _write_csv(tmp_path / "text.csv", cells, lab, ["a", "b", "c"])
    with pytest.raises(InputError, match=r"row 4 .*column 'c': non-numeric value 'n/a\?'"):
        D.from_csv(p, "label", reg=0.1)
    lab = lab.astype(object)
    lab[11] = ""
    p = _write_csv(tmp_path / "nolabel.csv", X, lab, ["a", "b", "c"])
    with pytest.raises(InputError, match=r"row 13 .*column 'label': missing label"):
        D.from_csv(p, "label", reg=0.1)


def test_from_csv_chooses_reg_by_cross_validation(tmp_path):
    # wine, classes 0 and 1 with 0/1 labels (the example): no reg given, so C_R is
    # chosen on the training split; recompute the CV errors and the one-SE rule by hand
    from sklearn.datasets import load_wine
    from sklearn.model_selection import StratifiedKFold

    from convexpoison.training import train

    Xw, yw = load_wine(return_X_y=True)
    keep = yw < 2
    Xw = (Xw[keep] - Xw[keep].min(0)) / np.ptp(Xw[keep], axis=0)
    p = _write_csv(tmp_path / "wine01.csv", np.round(Xw, 6), yw[keep])
    with pytest.warns(D.DomainWarning):
        ds = D.from_csv(p, "label")
    assert ds.is_binary and ds.classes == ["0", "1"] and ds.reg_source == "cross-validation"
    assert ds.summary()["reg_source"] == "cross-validation"
    means, ses = {}, {}
    for c in (1e-3, 3e-3, 0.01, 0.03, 0.09):
        errs = []
        for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(ds.X_train,
                                                                            ds.y_train):
            m = train(ds.X_train[tr], ds.y_train[tr], "svm", reg=c)
            errs.append(np.mean(np.where(ds.X_train[va] @ m.w + m.b >= 0, 1, -1)
                                != ds.y_train[va]))
        means[c], ses[c] = np.mean(errs), np.std(errs, ddof=1) / np.sqrt(5)
    best = min(means, key=lambda c: (means[c], c))
    want = max(c for c in means if means[c] <= means[best] + max(ses[best], 0.005) + 1e-12)
    assert ds.reg == want


def test_from_csv_rejects_text_features(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,colour,y\n1,red,1\n2,blue,-1\n3,red,1\n4,blue,-1\n")
    with pytest.raises(InputError, match="colour"):
        D.from_csv(p, "y")


# ---------------------------------------------------------------------- Fashion-MNIST
def _write_idx(path, arr, magic):
    header = np.array([magic, *arr.shape], dtype=">u4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_load_fashion_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        imgs = rng.integers(0, 256, size=(n, 28, 28))
        imgs[0, 0, 0] = 255
        labels = np.arange(n) % 10
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", imgs, 0x803)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels, 0x801)
    full = D.load_fashion_mnist(path=tmp_path)
    assert full.X_train.shape == (30, 784) and full.n_test == 10 and full.n_classes == 10
    assert full.X_train.max() == 1.0 and full.X_train.min() >= 0
    assert full.image_shape == (28, 28) and full.domain.contains(full.X_train).all()
    two = D.load_fashion_mnist(classes=["Sneaker", 9], path=tmp_path)
    assert two.is_binary and two.n_train == 6 and two.classes == ["Sneaker", "Ankle boot"]
    assert np.array_equal(two.y_train, np.tile([-1, 1], 3))
    with pytest.raises(InputError, match="unknown Fashion-MNIST class"):
        D.load_fashion_mnist(classes=["Sneaker", "Hat"], path=tmp_path)


def test_load_fashion_mnist_missing_package(tmp_path):
    with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
        D.load_fashion_mnist(path=tmp_path / "absent")
