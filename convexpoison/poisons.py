"""Poison sets: the rows an attacker adds to the training data, with copy counts.

A concentrated attack (Koh et al. 2021, section 3.1 and Theorem 1) places many copies of
a few distinct points, so a poison set is stored as distinct rows ``X`` (m, d), labels
``y`` (m,) and ``weight`` (m,): how many copies of each row are added.  The number of
poison points ``|Dp|`` is ``weight.sum()`` (:attr:`PoisonSet.n_poisons`).  Training
treats a row of weight ``k`` exactly as ``k`` copies (``sample_weight`` in
:func:`convexpoison.training.train`), and so do the defenses (:mod:`convexpoison.defenses`).

Files (docs/cli.md): an ``.npz`` with arrays ``X``, ``y`` and ``weight``; every command that
takes a poison set reads the same format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .validation import check_X, check_y

__all__ = ["PoisonSet"]


@dataclass
class PoisonSet:
    """Distinct poison rows ``X``, labels ``y`` and copies per row ``weight``.

    An empty poison set (0 rows) is allowed: it is the "no attack" baseline.  ``meta``
    holds optional JSON-friendly facts about how the set was made (attack, epsilon, ...).
    """

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        import scipy.sparse as sp

        # poison rows are few: rows taken from sparse text (label flips) are stored dense
        X = self.X.toarray().astype(float) if sp.issparse(self.X) else np.asarray(self.X, dtype=float)
        if X.ndim == 1 and X.size == 0:
            X = X.reshape(0, 0)
        if X.ndim != 2:
            raise InputError(f"X: poison points must be a 2-D array (m, d), got shape {X.shape}")
        m = X.shape[0]
        if m > 0:
            X = check_X(X, "X")
        y = np.asarray(self.y).ravel()
        if m == 0:
            y = np.zeros(0, dtype=int)
        else:
            y = check_y(y, m, name="y", binary=bool(np.all(np.isin(y, (-1, 1)))))
        w = np.ones(m) if self.weight is None else np.asarray(self.weight, dtype=float).ravel()
        if w.shape[0] != m:
            raise InputError(f"weight: expected {m} copy counts (one per poison row), got {w.shape[0]}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InputError("weight: copy counts must be finite and non-negative")
        self.X, self.y, self.weight = X, y, w

    # ----------------------------------------------------------------- basics
    @property
    def n_poisons(self) -> float:
        """``|Dp|``: the total number of poison points (sum of the copy counts)."""
        return float(self.weight.sum())

    @property
    def n_distinct(self) -> int:
        return int(np.count_nonzero(self.weight > 0))

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    def __len__(self):
        return int(self.X.shape[0])

    @classmethod
    def empty(cls, d) -> "PoisonSet":
        return cls(np.zeros((0, int(d))), np.zeros(0, int), np.zeros(0))

    def compact(self) -> "PoisonSet":
        """Drop rows with zero copies."""
        keep = self.weight > 0
        return PoisonSet(self.X[keep], self.y[keep], self.weight[keep], dict(self.meta))

    def check_dimension(self, d, name="poisons"):
        """Raise :class:`InputError` unless the rows have ``d`` features (empty sets pass)."""
        if len(self) and self.d != d:
            raise InputError(f"{name}: poison points have {self.d} features, the data has {d}")
        return self

    def expanded(self):
        """Rows repeated by their (integer) copy counts: ``(X, y)`` as plain arrays."""
        reps = np.rint(self.weight).astype(int)
        if not np.allclose(reps, self.weight):
            raise InputError("weight: expanding needs integer copy counts")
        return np.repeat(self.X, reps, axis=0), np.repeat(self.y, reps)

    def with_clean(self, X, y, sample_weight=None):
        """``Dc ∪ Dp`` as ``(X, y, weight, is_poison)`` with the clean rows first.

        Clean rows come first so that a model trained on ``Dc`` warm-starts training on
        the union (:func:`convexpoison.training.train`'s ``warm_start`` reads a prefix).
        """
        import scipy.sparse as sp

        # sparse clean data (text) stays sparse: the few poison rows join it as CSR rows
        X = sp.csr_matrix(X, dtype=float) if sp.issparse(X) else np.asarray(X, dtype=float)
        y = np.asarray(y)
        n = X.shape[0]
        self.check_dimension(X.shape[1])
        wc = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
        if len(self) == 0:
            return X, y, wc, np.zeros(n, bool)
        stacked = (sp.vstack([X, sp.csr_matrix(self.X)], format="csr") if sp.issparse(X)
                   else np.vstack([X, self.X]))
        return (stacked, np.concatenate([y, self.y]),
                np.concatenate([wc, self.weight]),
                np.concatenate([np.zeros(n, bool), np.ones(len(self), bool)]))

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the poison-set file (docs/cli.md): ``.npz`` with ``X``, ``y``, ``weight``."""
        extra = {}
        if self.meta:
            import json

            extra["meta"] = np.array(json.dumps(self.meta, default=_json_default))
        from .fileio import atomic_path, npz_path

        with atomic_path(npz_path(path)) as tmp:        # never a truncated file
            np.savez(tmp, X=self.X, y=self.y, weight=self.weight, **extra)

    @classmethod
    def load(cls, path) -> "PoisonSet":
        try:
            f = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"poison file {path}: cannot read ({exc})") from None
        missing = [k for k in ("X", "y") if k not in f]
        if missing:
            raise InputError(f"poison file {path}: needs arrays 'X', 'y' and 'weight' (missing {', '.join(missing)})")
        meta = {}
        if "meta" in f:
            import json

            try:
                meta = json.loads(str(f["meta"]))
            except ValueError:
                meta = {}
        weight = f["weight"] if "weight" in f else None
        return cls(f["X"], f["y"], weight, meta)

    def __repr__(self):
        return (f"PoisonSet(n_distinct={self.n_distinct}, n_poisons={self.n_poisons:g}, "
                f"d={self.d if len(self) else '?'})")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
