"""Input checks shared by every public entry point.

Each check raises :class:`~convexpoison.errors.InputError` with a one-line message that
names the offending argument, so the command line can print it and exit with status 2.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError


def is_sparse(X) -> bool:
    """Whether ``X`` is a scipy.sparse matrix (bag-of-words text; docs/training.md)."""
    import scipy.sparse as sp

    return sp.issparse(X)


def check_X(X, name="X", d=None, accept_sparse=False) -> np.ndarray:
    """A finite, non-empty 2-D float array (with ``d`` columns when given).

    With ``accept_sparse`` a scipy.sparse matrix is returned as a float64
    ``scipy.sparse.csr_matrix`` with sorted, summed indices (checked on its stored
    entries, never densified); without it a sparse matrix raises :class:`InputError`
    (the function needs a dense array; densifying a text matrix could exhaust memory).
    """
    if is_sparse(X):
        if not accept_sparse:
            raise InputError(f"{name}: a scipy.sparse matrix is not supported here; this "
                             "function needs a dense array (X.toarray() if it fits in memory)")
        return _check_sparse(X, name, d)
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a numeric array ({exc})") from None
    if X.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array (n, d), got shape {X.shape}")
    if X.shape[0] == 0:
        raise InputError(f"{name}: empty data (0 rows)")
    if d is not None and X.shape[1] != d:
        raise InputError(f"{name}: expected {d} features, got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise InputError(f"{name}: contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return X


def _check_sparse(X, name, d):
    import scipy.sparse as sp

    try:
        X = sp.csr_matrix(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a numeric sparse matrix ({exc})") from None
    if X.shape[0] == 0:
        raise InputError(f"{name}: empty data (0 rows)")
    if d is not None and X.shape[1] != d:
        raise InputError(f"{name}: expected {d} features, got {X.shape[1]}")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()          # also sorts the indices
    if not np.all(np.isfinite(X.data)):
        k = int(np.argmax(~np.isfinite(X.data)))
        row = int(np.searchsorted(X.indptr, k, side="right") - 1)
        raise InputError(f"{name}: contains NaN or inf (first at row {row}, column "
                         f"{int(X.indices[k])})")
    return X


def stack_rows(A, B):
    """``A`` over ``B`` (clean rows, then poison or pool rows): a CSR matrix when either is
    sparse (sparse text stays sparse; the few dense rows are converted), else an array."""
    if is_sparse(A) or is_sparse(B):
        import scipy.sparse as sp

        return sp.vstack([sp.csr_matrix(A, dtype=float), sp.csr_matrix(B, dtype=float)],
                         format="csr")
    return np.vstack([A, B])


def check_y(y, n, name="y", binary=True, n_classes=None) -> np.ndarray:
    """Labels of length ``n``: {-1, +1} for binary models, {0..k-1} for multi-class."""
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"{name}: expected {n} labels (one per row of X), got shape {np.shape(y)}")
    if not np.all(np.isfinite(y.astype(float))):
        raise InputError(f"{name}: contains NaN or inf")
    if np.any(y != np.round(y)):
        raise InputError(f"{name}: labels must be integers")
    y = y.astype(int)
    if binary:
        bad = set(np.unique(y)) - {-1, 1}
        if bad:
            raise InputError(f"{name}: labels outside {{-1, +1}} for a binary model: {sorted(bad)[:5]}")
    else:
        if y.min() < 0:
            raise InputError(f"{name}: multi-class labels must be 0..k-1, found {y.min()}")
        if n_classes is not None and y.max() >= n_classes:
            raise InputError(f"{name}: label {y.max()} outside 0..{n_classes - 1}")
    return y


def check_weights(w, n, name="sample_weight") -> np.ndarray:
    """Non-negative finite weights (copies of each row), not all zero."""
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=float).ravel()
    if w.shape[0] != n:
        raise InputError(f"{name}: expected {n} weights, got {w.shape[0]}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(f"{name}: weights must be finite and non-negative")
    if w.sum() <= 0:
        raise InputError(f"{name}: all weights are zero")
    return w


def check_positive(value, name, allow_zero=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise InputError(f"{name}: must be a finite {kind} number, got {value!r}")
    return v


def check_fraction(value, name) -> float:
    v = check_positive(value, name, allow_zero=True)
    if v > 1:
        raise InputError(f"{name}: must be a fraction in [0, 1], got {value!r}")
    return v


def check_binary_model(model, name="model", d=None) -> tuple:
    """``(w, b)`` of a binary linear model: an object with ``.w`` of shape ``(d,)`` and a
    scalar ``.b``, both finite (a :class:`~convexpoison.training.LinearModel` or any
    model given by its parameters), as a float array and a float.

    The one check of a binary model argument (targets, decoys, the models compared by the
    max-loss-difference program, the loss-defense component).
    """
    try:
        w = np.asarray(model.w, dtype=float)
        b = np.asarray(model.b, dtype=float)
    except (AttributeError, TypeError, ValueError):
        raise InputError(f"{name}: expected a binary linear model with .w (d,) and scalar .b") from None
    if w.ndim != 1 or b.size != 1 or not getattr(model, "is_binary", True):
        raise InputError(f"{name}: expected a binary linear model, w of shape (d,) and a scalar b; "
                         f"got w {w.shape}, b {b.shape}")
    if d is not None and w.size != d:
        raise InputError(f"{name}: w has {w.size} coordinates but the data has {d}")
    b = float(b.reshape(()))
    if not (np.all(np.isfinite(w)) and np.isfinite(b)):
        raise InputError(f"{name}: w and b must be finite")
    return w, b
