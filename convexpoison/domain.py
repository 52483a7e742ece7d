"""Input domains: where a (poison) point may lie before any defense is considered.

A :class:`Domain` is the input set ``X`` (Suya et al. 2021 section 2; Koh et al. 2021
section 3.3 for integer data): per-coordinate bounds ``lo <= x <= hi``,
optionally with integer coordinates (pixel intensities, word counts) and one-hot groups
of binary coordinates (categorical features of tabular data).  It is the first
component of every feasible set (see :mod:`convexpoison.feasible`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError


@dataclass
class Domain:
    """Box ``lo <= x <= hi`` with optional integer coordinates and one-hot groups.

    Parameters
    ----------
    lo, hi : array of shape (d,)
        Per-coordinate bounds (finite; ``lo <= hi``).
    integer : bool array of shape (d,), optional
        Coordinates that must take integer values.  A binary coordinate is an integer
        coordinate with bounds [0, 1].
    onehot_groups : list of int arrays, optional
        Groups of binary coordinates of which exactly one is 1 (a categorical feature).
    feature_names : list of str, optional
    """

    lo: np.ndarray
    hi: np.ndarray
    integer: np.ndarray | None = None
    onehot_groups: list = field(default_factory=list)
    feature_names: list | None = None

    def __post_init__(self):
        self.lo = np.asarray(self.lo, dtype=float).ravel()
        self.hi = np.asarray(self.hi, dtype=float).ravel()
        d = self.lo.size
        if self.hi.size != d:
            raise InputError(f"domain: lo has {d} coordinates but hi has {self.hi.size}")
        if not (np.all(np.isfinite(self.lo)) and np.all(np.isfinite(self.hi))):
            raise InputError("domain: bounds must be finite numbers")
        if np.any(self.lo > self.hi):
            j = int(np.argmax(self.lo > self.hi))
            raise InputError(f"domain: lo > hi at coordinate {j} ({self.lo[j]} > {self.hi[j]})")
        self.integer = (np.zeros(d, bool) if self.integer is None
                        else np.asarray(self.integer, dtype=bool).ravel())
        if self.integer.size != d:
            raise InputError(f"domain: integer mask has {self.integer.size} entries, expected {d}")
        groups = []
        for g in self.onehot_groups:
            g = np.asarray(g, dtype=int).ravel()
            if g.size == 0 or g.min() < 0 or g.max() >= d:
                raise InputError("domain: a one-hot group has indices outside the domain")
            if not (np.all(self.integer[g]) and np.all(self.lo[g] == 0) and np.all(self.hi[g] == 1)):
                raise InputError("domain: one-hot group coordinates must be binary (integer in [0, 1])")
            groups.append(g)
        self.onehot_groups = groups

    # ------------------------------------------------------------------ queries
    @property
    def d(self) -> int:
        return self.lo.size

    @property
    def binary(self) -> np.ndarray:
        """Mask of binary coordinates (integer with bounds [0, 1])."""
        return self.integer & (self.lo == 0) & (self.hi == 1)

    @property
    def has_integers(self) -> bool:
        return bool(self.integer.any())

    @property
    def kind(self) -> str:
        """'box', 'integer' (integer coordinates beyond binary), 'binary', or 'mixed'."""
        if not self.has_integers:
            return "box"
        if np.all(self.binary[self.integer]):
            return "binary" if self.integer.all() else "mixed-binary"
        return "integer" if self.integer.all() else "mixed-integer"

    @classmethod
    def box(cls, d, lo=0.0, hi=1.0, **kw) -> "Domain":
        return cls(np.full(d, lo, float), np.full(d, hi, float), **kw)

    @classmethod
    def from_data(cls, X, integer=None, onehot_groups=(), **kw) -> "Domain":
        """Smallest box holding the rows of ``X`` (used for the user's own data)."""
        X = np.asarray(X, float)
        return cls(X.min(axis=0), X.max(axis=0), integer=integer,
                   onehot_groups=list(onehot_groups), **kw)

    def contains(self, X, tol=1e-9) -> np.ndarray:
        """Boolean per row: inside the bounds, integral where required, one-hot valid.
        ``X`` may be a scipy.sparse matrix (checked on its stored entries, never densified)."""
        import scipy.sparse as sp

        if sp.issparse(X):
            return self._contains_sparse(sp.csr_matrix(X, dtype=float), tol)
        X = np.atleast_2d(np.asarray(X, float))
        ok = np.all((X >= self.lo - tol) & (X <= self.hi + tol), axis=1)
        if self.has_integers:
            Xi = X[:, self.integer]
            ok &= np.all(np.abs(Xi - np.round(Xi)) <= tol, axis=1)
        for g in self.onehot_groups:
            ok &= np.abs(X[:, g].sum(axis=1) - 1) <= tol
        return ok

    def _contains_sparse(self, X, tol) -> np.ndarray:
        n = X.shape[0]
        row = np.repeat(np.arange(n), np.diff(X.indptr))
        j, v = X.indices, X.data
        bad = (v < self.lo[j] - tol) | (v > self.hi[j] + tol)
        if self.has_integers:
            bad |= self.integer[j] & (np.abs(v - np.round(v)) > tol)
        ok = np.bincount(row[bad], minlength=n) == 0
        # the implicit zeros: a row leaves out some column, so 0 must lie in that column's
        # bounds (tested on the columns a row does not store)
        zero_bad = np.flatnonzero((self.lo > tol) | (self.hi < -tol))
        if zero_bad.size:
            stored = (X[:, zero_bad] != 0).sum(axis=1).A.ravel()
            ok &= stored == zero_bad.size
        for g in self.onehot_groups:
            ok &= np.abs(X[:, g].sum(axis=1).A.ravel() - 1) <= tol
        return ok

    def clip(self, X) -> np.ndarray:
        """Project onto the box (not onto the integers)."""
        return np.clip(X, self.lo, self.hi)

    # ------------------------------------------------------------ cvxpy forms
    def constraints(self, x, scale=None, onehot=True) -> list:
        """cvxpy constraints ``x in conv(X)`` for an expression ``x`` of shape (d,).

        With ``scale`` (a non-negative scalar expression, e.g. a weight ``gamma``) the
        constraints describe the cone ``x in scale * conv(X)`` used by perspective
        formulations (the minimum-poison LP, docs/minpoison.md).  One-hot groups give
        ``sum(x[g]) == scale`` when ``onehot`` is true.  Integrality is not expressed
        here: it belongs to the variable (see :meth:`variable`).
        """
        s = 1.0 if scale is None else scale
        cons = [x >= s * self.lo, x <= s * self.hi]
        if onehot:
            for g in self.onehot_groups:
                cons.append(_sum_idx(x, g) == s)
        return cons

    def variable(self, name="x", integer=False):
        """A cvxpy variable of shape (d,) with the box as declared bounds.

        Declaring bounds on the variable matters: cvxpy 1.9's bound propagation
        otherwise mis-handles ``pos(affine)`` on some LP/MILP solvers (docs/interactive.md,
        "Solver facts").
        With ``integer=True`` the integer coordinates become integer (binary ones
        boolean) variables, giving the exact mixed-integer program.
        """
        import cvxpy as cp

        kw = {"bounds": [self.lo.copy(), self.hi.copy()], "name": name}
        if integer and self.has_integers:
            # cvxpy takes one index tuple (numpy-style, one entry per axis)
            kw["integer"] = [tuple(int(j) for j in np.flatnonzero(self.integer))]
        return cp.Variable(self.d, **kw)

    def summary(self) -> dict:
        """Short description used by ``convexpoison datasets``."""
        return {"kind": self.kind,
                "lo": float(self.lo.min()), "hi": float(self.hi.max()),
                "n_integer": int(self.integer.sum()),
                "n_binary": int(self.binary.sum()),
                "onehot_groups": [int(g.size) for g in self.onehot_groups]}


def _sum_idx(x, g):
    import cvxpy as cp

    return cp.sum(x[np.asarray(g, int)])
