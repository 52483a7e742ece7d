"""Feasible-set components: where a poison point can sit without being sanitised away.

A feasible set ``F_y`` (Koh et al. 2021 §2.2; docs/defenses.md) is the input domain
intersected with the sets of points that survive each data-sanitisation defense.  Each
defense gives a point ``(x, y)`` a *score*; it removes the points whose score exceeds a
per-class *threshold*, the ``quantile`` (= 1 - p, p the fraction removed, 5% by default)
of the scores of that class on the data the defense is fitted on.

Components (scikit-learn conventions: settings in the constructor, ``fit(X, y)`` returns
``self`` and sets attributes ending in ``_``):

================  ======================================  ==================================
component         score ``s(x, y)``                       convex constraint ``x in F_y``
================  ======================================  ==================================
``DomainSet``     bound / integrality / one-hot violation  ``lo <= x <= hi``, one-hot sums
``L2Sphere``      ``||x - mu_y||_2``                       ``||x - mu_y|| <= tau_y``     (SOC)
``L2Secant``      ``||x - mu_y||_2``                       ``a_y . x <= r_y`` (inside the sphere
                                                          on the box; exact at its corners)
``Slab``          ``|v_y . (x - mu_y)|``                   ``|v_y . x - v_y . mu_y| <= s_y``
``SVDResidual``   ``||(I - V_k V_k^T) x||_2``              ``||x - V_k u|| <= t_y``, u free (SOC)
``LossBound``     hinge loss of a decoy model ``theta_d``  ``1 - y (w_d . x + b_d) <= tau``
================  ======================================  ==================================

and :class:`FeasibleSet`, their intersection.  Every component offers

* ``score(X, y)`` -- vectorised scores (the defenses module uses them directly);
* ``thresholds_`` -- dict label -> threshold after ``fit``;
* ``contains(X, y, tol=1e-7)`` -- boolean per row, ``score <= threshold + tol*max(1, |threshold|)``
  (``contains(X, y, tol=0)`` is exactly the defense's keep-mask);
* ``constraints(x, y, scale=None)`` -- cvxpy constraints for an affine expression ``x`` of
  shape ``(d,)`` and an int label ``y``.  Fitted quantities (centroids, directions,
  subspaces, thresholds, decoy parameters) enter as ``cp.Parameter`` objects created once
  per component and label; a later ``fit`` only updates their values, so a program built
  once stays valid and is re-solved without recompilation (DPP).
* With ``scale`` (a non-negative scalar cvxpy expression ``gamma``, typically a
  Variable) the constraints describe the cone ``x in gamma * F_y`` (perspective; used by
  the minimum-poison LP, docs/minpoison.md).  Every fitted quantity enters as a *single*
  Parameter multiplied by ``gamma`` or ``x`` (parameter x parameter-free is DPP); products
  of fitted quantities (``v . mu``) are stored as Parameters of their own.  ``scale`` must
  therefore be parameter-free (a Variable or a constant).  ``x in gamma * F`` implies
  ``gamma >= 0`` only for some components, so :meth:`FeasibleSet.constraints` adds
  ``gamma >= 0``.
* ``check_dpp(x, y, scale=None)`` -- asserts every constraint is DCP under DPP rules
  (``constraints`` runs it too unless ``check=False``).
* ``support(y, g=None, onehot=True)`` -- the support function ``sigma_{K_y}(g) = sup_{x in
  K_y} g.x`` of the component's set as a convex cvxpy expression (each component writes its
  own; :meth:`FeasibleSet.support_function` combines them for the intersection).

Thresholds (:func:`quantile_thresholds`): the threshold of class ``y`` is the smallest
score ``s`` with at least a ``quantile`` fraction of the class's weight at scores ``<= s``
(the inverted-CDF quantile, ``np.quantile(..., method="inverted_cdf")`` for unit weights;
integer weights act as copies).  So a defense removes at most a fraction ``p`` of each
class -- exactly ``n_y - ceil(quantile * n_y)`` points when scores are distinct.

Integrality: :meth:`DomainSet.contains` checks integer coordinates, but constraints
describe the convex relaxation; integrality belongs to the variable
(:meth:`Domain.variable`).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import solvers
from .domain import Domain
from .errors import InputError, SolverFailure
from .losses import Hinge
from .validation import (check_binary_model, check_fraction, check_positive, check_weights,
                         check_X, check_y, is_sparse)

__all__ = [
    "Component", "DomainSet", "L2Sphere", "L2OnDomain", "L2Secant", "Slab", "SVDResidual", "LossBound",
    "FeasibleSet", "polyhedral_l2", "make_feasible_set", "quantile_thresholds", "svd_rank", "COMPONENTS", "FEASIBLE_FROM_DEFENSE",
    "feasible_names", "as_feasible",
]


# ---------------------------------------------------------------------------- helpers
def _cp():
    import cvxpy as cp

    return cp


def _fmt_label(y) -> str:
    y = int(y)
    return f"{y:+d}" if y in (-1, 1) else str(y)


def _int_label(y) -> int:
    """One label as an int (a float with an integer value is accepted)."""
    try:
        yi = int(y)
    except (TypeError, ValueError):
        raise InputError(f"y: expected an integer label, got {y!r}") from None
    if yi != y:
        raise InputError(f"y: expected an integer label, got {y!r}")
    return yi


def _check_labels(y, n, name="y") -> np.ndarray:
    """Integer labels: {-1, +1} (binary) or {0..k-1} (multi-class)."""
    return check_y(y, n, name=name, binary=_is_pm1(y))


def _is_pm1(y) -> bool:
    try:
        vals = np.unique(np.asarray(y, dtype=float).ravel())
    except (TypeError, ValueError):
        return False
    return vals.size > 0 and set(vals.tolist()) <= {-1.0, 1.0}


def _check_quantile(quantile) -> float:
    q = check_fraction(quantile, "quantile")
    if q == 0:
        raise InputError("quantile: must be in (0, 1] (the fraction of each class a defense keeps)")
    return q


def _check_points(X, d=None):
    if np.ndim(X) == 1:  # a single point
        X = [X]
    # sparse rows (bag-of-words text) are scored without densifying them (L2, slab, SVD)
    return check_X(X, "X", d=d, accept_sparse=True)


def _row_sq(X) -> np.ndarray:
    """``|x_i|^2`` of every row of a sparse matrix."""
    return np.asarray(X.multiply(X).sum(axis=1), float).ravel()


def _sparse_norm_from(X, sq_minus) -> np.ndarray:
    """``sqrt(|x_i|^2 - sq_minus_i)``, clipped at 0: a residual's norm on sparse rows from
    the expansion of the square (the dense form ``x - c`` would be dense)."""
    return np.sqrt(np.maximum(_row_sq(X) - sq_minus, 0.0))


#: The SVD defense takes the exact spectrum from the smaller Gram matrix (X X^T or X^T X,
#: by eigh) when that side has at most this many rows.  Sparse rows: on fine-foods (4000 x
#: 6660, rank 770 at the 5% rule) 15 s, where ``scipy.sparse.linalg.svds`` needs 56 s.
#: Dense rows: on mnist17 (721 x 784) 0.06 s, where LAPACK's SVD needs 0.14 s -- the
#: defense is refitted at every evaluation and every anticipated retraining.
SVD_GRAM_MAX = 6000


#: ... and otherwise computes truncated SVDs of rank 64, 128, ... up to this rank (its
#: ``d x k`` singular vectors are dense: 1.4 GB at d = 90 000) on sparse rows, the full SVD
#: on dense rows.
SVD_SPARSE_MAX_RANK = 1024


def _top_svd(Xw, rel, squared):
    """``(s, Vt_k, k)``: the leading singular values ``s`` (at least ``k`` of them) and the
    top-``k`` right singular vectors of a dense or sparse matrix, ``k`` chosen by
    :func:`svd_rank`'s rule with the total ``||X||_F^2`` computed from the entries.
    The smaller Gram matrix by ``eigh`` when it is small (:data:`SVD_GRAM_MAX`); else the
    full SVD (dense) or truncated SVDs (``scipy.sparse.linalg.svds``) of doubling rank
    until the rule is met (sparse).  The Gram matrix squares the condition number, which
    costs accuracy only in the trailing singular values: the kept directions carry at
    least ``1 - rel`` of ``||X||_F^2``."""
    from scipy.sparse.linalg import svds

    sparse = is_sparse(Xw)
    n, d = Xw.shape
    total = float(Xw.multiply(Xw).sum()) if sparse else float(np.einsum("ij,ij->", Xw, Xw))
    small = min(n, d)
    if total <= 0:
        return np.zeros(0), np.zeros((0, d)), 0

    def rank(s):
        return _rank_rule(s, total, rel, squared)

    if small <= SVD_GRAM_MAX:
        G = Xw @ Xw.T if n <= d else Xw.T @ Xw
        ev, U = np.linalg.eigh(G.toarray() if sparse else G)
        ev, U = ev[::-1], U[:, ::-1]
        s = np.sqrt(np.maximum(ev, 0.0))
        k = rank(s)
        k = s.size if k is None else k
        if n <= d:      # v_i = X^T u_i / s_i (s_i > 0 for the leading ones kept)
            Vt = np.asarray(Xw.T @ U[:, :k]).T / s[:k, None]
        else:
            Vt = U[:, :k].T.copy()
        return s, Vt, k
    if not sparse:
        _, s, Vt = np.linalg.svd(Xw, full_matrices=False)
        k = rank(s)
        return s, Vt[:k].copy(), s.size if k is None else k
    k = 64
    while True:
        k = min(k, small - 1, SVD_SPARSE_MAX_RANK)
        # a fixed start vector: deterministic on every scipy version
        _, s, vt = svds(Xw, k=k, v0=np.full(small, small ** -0.5))
        order = np.argsort(-s)
        s, vt = s[order], vt[order]
        r = rank(s)
        if r is not None or k >= small - 1:
            r = k if r is None else r
            return s, vt[:r].copy(), r
        if k >= SVD_SPARSE_MAX_RANK:
            raise InputError(
                f"rel_error: the SVD defense's rule (error < {rel:g}) needs a rank above "
                f"{SVD_SPARSE_MAX_RANK} on this {n} x {d} sparse matrix (the top "
                f"{SVD_SPARSE_MAX_RANK} directions leave {1 - np.sum(s ** 2) / total:.0%} of "
                "||X||_F^2; a flat text spectrum); give a larger rel_error")
        k *= 2


def _check_Xy(X, y, d=None):
    X = _check_points(X, d)
    y = np.atleast_1d(np.asarray(y))
    if y.size == 1 and X.shape[0] > 1:
        y = np.full(X.shape[0], y.item())
    return X, _check_labels(y, X.shape[0])


def quantile_thresholds(scores, y, quantile=0.95, sample_weight=None) -> dict:
    """Per-class thresholds: the weighted inverted-CDF ``quantile`` of each class's scores.

    Returns a dict ``label -> threshold`` such that for each class at least a ``quantile``
    fraction of its weight has ``score <= threshold`` and the threshold is the smallest such
    score.  With unit weights this equals ``np.quantile(s_y, quantile, method="inverted_cdf")``.
    """
    q = _check_quantile(quantile)
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(y).ravel()
    w = check_weights(sample_weight, s.size)
    if y.size != s.size:
        raise InputError(f"y: expected {s.size} labels, got {y.size}")
    out = {}
    for label in np.unique(y):
        m = y == label
        sw, ww = s[m], w[m]
        keep = ww > 0
        if not np.any(keep):
            raise InputError(f"sample_weight: class {_fmt_label(label)} has zero total weight")
        sw, ww = sw[keep], ww[keep]
        order = np.argsort(sw, kind="stable")
        sw, cw = sw[order], np.cumsum(ww[order])
        target = q * cw[-1] * (1.0 - 1e-12)  # guard against 0.95 * 20 = 19.000000000000004
        i = min(int(np.searchsorted(cw, target, side="left")), sw.size - 1)
        out[int(label)] = float(sw[i])
    return out


def svd_rank(singular_values, rel_error=0.05, squared=True) -> int:
    """Smallest ``k`` whose rank-``k`` approximation has normalised error ``< rel_error``.

    ``squared=True`` (the paper's definition, Koh et al. §2.2, "the normalized sum of the
    squared singular values", and their code): ``||X - X_k||_F^2 / ||X||_F^2 < rel_error``.
    ``squared=False``: ``||X - X_k||_F / ||X||_F < rel_error``.
    """
    s = np.sort(np.asarray(singular_values, dtype=float).ravel())[::-1]
    total = float(np.sum(s ** 2))
    return 0 if total <= 0 else _rank_rule(s, total, rel_error, squared)


def _rank_rule(s, total, rel, squared):
    """:func:`svd_rank`'s rule for the leading singular values ``s`` (descending) of a
    matrix with ``||X||_F^2 = total`` (which ``s`` may not exhaust: a truncated SVD); None
    when the values given do not reach it."""
    # err[k] = error of the rank-k approximation, k = 0..len(s)
    tail = np.maximum(total - np.cumsum(np.concatenate([[0.0], s ** 2])), 0.0) / total
    err = tail if squared else np.sqrt(tail)
    ok = np.flatnonzero(err < rel)
    return int(ok[0]) if ok.size else None


# ---------------------------------------------------------------------------- base class
class Component:
    """Base class of the feasible-set components (see the module docstring)."""

    name = "component"
    #: the component's set in a certificate's statement (None: its name)
    words = None
    #: the constraints are second-order cones (an L2 norm), not linear
    conic = False
    #: ``sigma(g)`` is finite for every ``g``: the component can take the remainder of a
    #: split ``g = sum_i g_i`` in :meth:`FeasibleSet.support_function`
    full_support = False
    #: the constraints are half-spaces (:meth:`halfspaces`), which the minimum-poison
    #: program's verified bound can dualise
    polyhedral = False

    def __init__(self):
        self._params = {}
        self._generation = 0  # bumped whenever parameters are re-created (shape change)

    # -- parameters ----------------------------------------------------------
    def _param(self, key, shape=(), **kw):
        """The Parameter stored under ``key``, created on first use (then reused)."""
        cp = _cp()
        p = self._params.get(key)
        if p is None or p.shape != tuple(shape):
            label = "_".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            p = cp.Parameter(shape, name=f"{self.name}_{label}".replace("-", "m"), **kw)
            self._params[key] = p
        return p

    def _reset_params(self):
        self._params = {}
        self._generation += 1

    def __setstate__(self, state):
        # cvxpy numbers Parameters from a per-process counter and an unpickled Parameter keeps
        # its number: in another process (a worker, a Dask task) it would share it with
        # Parameters made there, and a program holding both mistakes one for the other.
        # Fresh Parameters with the same shape, attributes and value avoid that.
        self.__dict__.update(state)
        self._params = {k: _fresh_param(p) for k, p in state.get("_params", {}).items()}

    # -- fitted state ----------------------------------------------------------
    @property
    def labels(self):
        return sorted(getattr(self, "thresholds_", {}) or {})

    def _check_label(self, y) -> int:
        if not hasattr(self, "thresholds_"):
            raise InputError(f"{self.name}: call fit(X, y) before using the component")
        yi = _int_label(y)
        if yi not in self.thresholds_:
            known = ", ".join(_fmt_label(v) for v in self.labels)
            raise InputError(f"y: label {_fmt_label(yi)} was not seen when fitting {self.name} (labels: {known})")
        return yi

    @property
    def d(self) -> int:
        d = getattr(self, "d_", None)
        if d is None:
            raise InputError(f"{self.name}: call fit(X, y) before using the component")
        return d

    # -- numpy side ----------------------------------------------------------
    def score(self, X, y) -> np.ndarray:
        raise NotImplementedError

    def threshold_of(self, y) -> np.ndarray:
        """Per-row thresholds for labels ``y``."""
        y = np.atleast_1d(np.asarray(y))
        for v in np.unique(y):
            self._check_label(v)
        return np.array([self.thresholds_[int(v)] for v in y], dtype=float)

    def contains(self, X, y, tol=1e-7) -> np.ndarray:
        """Boolean per row: ``score <= threshold + tol * max(1, |threshold|)``."""
        X, y = _check_Xy(X, y, d=self.d)
        s = self.score(X, y)
        t = self.threshold_of(y)
        return s <= t + tol * np.maximum(1.0, np.abs(t))

    # -- cvxpy side ----------------------------------------------------------
    def constraints(self, x, y, scale=None, check=True) -> list:
        """cvxpy constraints ``x in F_y`` (or ``x in scale * F_y``); see the module docstring."""
        x = _as_point(x, self.d)
        y = self._check_label(y)
        scale = _as_scale(scale)
        cons = self._constraints(x, y, scale)
        if check:
            _assert_dpp(cons, self.name)
        return cons

    def _constraints(self, x, y, scale):
        raise NotImplementedError

    def halfspaces(self, y) -> list:
        """The set as half-spaces ``[(a, r), ...]``: ``x`` is in it exactly when ``a.x <= r``
        for each (within the domain's box), one pair per constraint of :meth:`constraints`,
        in their order -- for the verified bound of the minimum-poison program, which gives
        each constraint's dual multiplier to its pair.  ``r`` may be rounded *up* (a larger
        set: a lower bound over it bounds the set's too).  Only for ``polyhedral``
        components."""
        raise InputError(f"feasible: the {self.name} component is not a set of half-spaces")

    def _fitted(self, key):
        """The Parameter under ``key``, which must hold a value (the component is fitted)."""
        p = self._params.get(key)
        if p is None or p.value is None:
            raise InputError(f"feasible: the {self.name} component is not fitted for {key!r}")
        return p

    def support(self, y, g=None, onehot=True, name=None):
        """The support function ``sigma_{K_y}(g) = sup_{x in K_y} g.x`` of this component.

        Returns ``(g, expr, constraints)``: ``expr`` is convex in ``g`` (and in auxiliary
        variables bound by ``constraints``).  With ``g=None`` the component makes its own
        ``g`` (a Variable called ``name``, or the parametrisation of the subspace where its
        ``sigma`` is finite), the form :meth:`FeasibleSet.support_function` splits a
        vector with.  The fitted quantities enter as the component's Parameters (DPP), so a
        program built with this stays valid after a refit.
        """
        raise InputError(f"feasible: no support function for component {self.name!r}")

    def check_dpp(self, x=None, y=None, scale=None) -> bool:
        """Assert that the constraints for ``x`` (default a fresh Variable) are DPP."""
        cp = _cp()
        x = cp.Variable(self.d) if x is None else x
        labels = self.labels if y is None else [y]
        for lab in labels:
            _assert_dpp(self.constraints(x, lab, scale=scale, check=False), self.name)
        return True

    def __repr__(self):
        keys = [k for k in ("quantile", "rel_error", "tau") if hasattr(self, k)]
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"


def _fresh_param(p):
    """A new Parameter like ``p`` (shape, name, sign attributes, value)."""
    flags = {k: True for k, v in p.attributes.items() if v is True}
    return _cp().Parameter(p.shape, name=p.name(), value=p.value, **flags)


def _as_point(x, d):
    cp = _cp()
    if not isinstance(x, cp.Expression):
        x = cp.Constant(np.asarray(x, dtype=float))
    if x.shape != (d,):
        raise InputError(f"x: expected a cvxpy expression of shape ({d},), got shape {x.shape}")
    if not x.is_affine():
        raise InputError("x: must be an affine expression")
    return x


def _as_scale(scale):
    if scale is None:
        return None
    cp = _cp()
    if not isinstance(scale, cp.Expression):
        v = check_positive(scale, "scale", allow_zero=True)
        return cp.Constant(v)
    if scale.size != 1:
        raise InputError(f"scale: expected a scalar expression, got shape {scale.shape}")
    if not scale.is_affine():
        raise InputError("scale: must be an affine (typically a Variable) scalar expression")
    return scale


def _assert_dpp(cons, what):
    solvers.assert_dpp(cons, f"x/scale: the constraint set of the {what} component",
                       hint="do x or scale contain cvxpy Parameters? multiply parameters only "
                            "by parameter-free expressions")


def _split_variable(g, d, name):
    import cvxpy as cp

    return cp.Variable(d, name=name) if g is None else g


def _sum_up(a, b) -> float:
    """A float ``>= a + b`` (``a`` itself possibly rounded once: two roundings, each at
    most one unit in the last place of the result or of ``a``)."""
    s = a + b
    return float(np.nextafter(np.nextafter(s, np.inf) + 2 * np.finfo(float).eps * abs(a),
                              np.inf))


def _mul(scale, p):
    """``p`` or ``scale * p`` (parameter times a parameter-free scale is DPP)."""
    return p if scale is None else scale * p


# ---------------------------------------------------------------------------- components
class DomainSet(Component):
    """The input domain (box and one-hot groups) as a component.

    Label-independent; ``fit`` is a no-op apart from recording the labels.  The score is the
    largest violation of a bound, an integrality requirement or a one-hot sum (0 inside),
    and every label's threshold is 0.
    """

    name = "domain"

    def __init__(self, domain: Domain):
        super().__init__()
        if not isinstance(domain, Domain):
            raise InputError(f"domain: expected a convexpoison Domain, got {type(domain).__name__}")
        self.domain = domain
        self.d_ = domain.d
        self.thresholds_ = {}

    def fit(self, X, y, sample_weight=None):
        X, y = _check_Xy(X, y, d=self.d_)
        self.thresholds_ = {**self.thresholds_, **{int(v): 0.0 for v in np.unique(y)}}
        return self

    def _check_label(self, y) -> int:
        # the domain does not depend on the label: any integer label is accepted, fitted or not
        return _int_label(y)

    def threshold_of(self, y) -> np.ndarray:
        return np.zeros(np.atleast_1d(np.asarray(y)).shape[0])

    def score(self, X, y=None) -> np.ndarray:
        X = _check_points(X, self.d_)
        dom = self.domain
        v = np.maximum(np.maximum(dom.lo - X, X - dom.hi), 0.0).max(axis=1)
        if dom.has_integers:
            Xi = X[:, dom.integer]
            v = np.maximum(v, np.abs(Xi - np.round(Xi)).max(axis=1))
        for g in dom.onehot_groups:
            v = np.maximum(v, np.abs(X[:, g].sum(axis=1) - 1.0))
        return v

    def contains(self, X, y=None, tol=1e-7) -> np.ndarray:
        X = _check_points(X, self.d_)
        return self.domain.contains(X, tol=tol)

    def _constraints(self, x, y, scale):
        return self.domain.constraints(x, scale=scale)

    full_support = True

    def support(self, y, g=None, onehot=True, name=None):
        """``sum_{j not in groups} max(lo_j g_j, hi_j g_j) + sum_G max_{j in G} g_j`` --
        exact: the box is a product of intervals and each one-hot group a simplex (with
        ``onehot=False`` the groups are plain box coordinates, a relaxation)."""
        import cvxpy as cp

        g = _split_variable(g, self.d_, name)
        dom = self.domain
        grouped = np.zeros(dom.d, bool)
        out = 0
        if onehot:
            for grp in dom.onehot_groups:
                grouped[grp] = True
                out = out + cp.max(g[np.asarray(grp, int)])
        free = np.flatnonzero(~grouped)
        if free.size:
            lo, hi = dom.lo[free], dom.hi[free]
            gf = g[free] if free.size < dom.d else g
            out = out + (lo + hi) / 2 @ gf + (hi - lo) / 2 @ cp.abs(gf)
        return g, out, []

    def support_value(self, k, onehot=True):
        """numpy ``sigma(k)`` of the relaxed domain (box and simplices), with the sum of the
        absolute values of its terms (for a floating-point allowance)."""
        dom = self.domain
        grouped = np.zeros(dom.d, bool)
        total, mag = 0.0, 0.0
        if onehot:
            for grp in dom.onehot_groups:
                grouped[grp] = True
                v = float(np.max(k[grp]))
                total += v
                mag += abs(v)
        free = ~grouped
        terms = np.maximum(dom.lo[free] * k[free], dom.hi[free] * k[free])
        return total + float(terms.sum()), mag + float(np.abs(terms).sum())


class _CentroidComponent(Component):
    """Shared fitting of per-class centroids (L2 sphere and slab)."""

    def __init__(self, quantile=0.95):
        super().__init__()
        self.quantile = quantile

    def _start(self, X, y, sample_weight):
        """Checked ``(X, y, weights)`` at the start of ``fit``."""
        _check_quantile(self.quantile)
        X, y = _check_Xy(X, y)
        return X, y, check_weights(sample_weight, X.shape[0])

    def _by_class(self, X, y, score):
        """Scores of the rows of ``X``: ``score(X_y, y)`` on the rows of each label ``y``."""
        X, y = _check_Xy(X, y, d=self.d)
        out = np.empty(X.shape[0])
        for v in np.unique(y):
            self._check_centroid(v)
            m = y == v
            out[m] = score(X[m], int(v))
        return out

    def _fit_centroids(self, X, y, w):
        if getattr(self, "d_", None) not in (None, X.shape[1]):
            self._reset_params()  # a different dimension: programs must be rebuilt
        self.d_ = X.shape[1]
        if is_sparse(X):
            self.centroids_ = {int(v): np.asarray(w[y == v] @ X[y == v]).ravel() / w[y == v].sum()
                               for v in np.unique(y)}
            return
        self.centroids_ = {int(v): np.average(X[y == v], axis=0, weights=w[y == v])
                           for v in np.unique(y)}

    def _check_centroid(self, v):
        if not hasattr(self, "centroids_"):
            raise InputError(f"{self.name}: call fit(X, y) before using the component")
        if int(v) not in self.centroids_:
            known = ", ".join(_fmt_label(k) for k in sorted(self.centroids_))
            raise InputError(f"y: label {_fmt_label(v)} was not seen when fitting {self.name} (labels: {known})")

    def _finish(self, X, y, w):
        self.thresholds_ = quantile_thresholds(self.score(X, y), y, self.quantile, w)
        for lab, t in self.thresholds_.items():
            self._param((lab, "tau"), nonneg=True).value = max(t, 0.0)
        return self


class _L2Defense(_CentroidComponent):
    """The L2 defense's score ``||x - mu_y||_2`` and quantile thresholds ``tau_y``, shared by
    its two constraint forms: the sphere (:class:`L2Sphere`) and the polyhedral secant
    half-space inside it (:class:`L2Secant`)."""

    name = "l2"

    def fit(self, X, y, sample_weight=None):
        X, y, w = self._start(X, y, sample_weight)
        self._fit_centroids(X, y, w)
        self._finish(X, y, w)
        self._set_constraint_params()
        return self

    def _set_constraint_params(self):
        raise NotImplementedError

    def score(self, X, y) -> np.ndarray:
        if is_sparse(X):    # |x - mu|^2 = |x|^2 - (2 x - mu).mu
            return self._by_class(X, y, lambda Xv, v: _sparse_norm_from(
                Xv, 2 * (Xv @ self.centroids_[v]) - self.centroids_[v] @ self.centroids_[v]))
        return self._by_class(X, y, lambda Xv, v: np.linalg.norm(Xv - self.centroids_[v], axis=1))


class L2Sphere(_L2Defense):
    """L2 defense: score ``||x - mu_y||_2`` (``mu_y`` the class centroid); constraint the
    sphere ``||x - mu_y|| <= tau_y`` (a second-order cone)."""

    def _set_constraint_params(self):
        for lab, mu in self.centroids_.items():
            self._param((lab, "mu"), (self.d_,)).value = mu

    def _constraints(self, x, y, scale):
        cp = _cp()
        mu, tau = self._params[(y, "mu")], self._params[(y, "tau")]
        return [cp.norm(x - _mul(scale, mu), 2) <= _mul(scale, tau)]

    conic = True
    full_support = True

    def support(self, y, g=None, onehot=True, name=None):
        """``g.mu_y + tau_y |g|`` (the ball ``|x - mu_y| <= tau_y``)."""
        cp = _cp()
        g = _split_variable(g, self.d, name)
        return g, self._fitted((y, "mu")) @ g + self._fitted((y, "tau")) * cp.norm(g, 2), []


class L2OnDomain:
    """Mixin of the L2 defense's constraint forms that need the domain (its box, its integer
    coordinates): :class:`L2Secant` here, :class:`~convexpoison.integer.ExpectedL2Sphere`.
    Built with the domain, or from an already fitted :class:`L2Sphere` by
    :meth:`from_sphere` (same centroids and thresholds, only the constraint differs)."""

    def __init__(self, domain: Domain, quantile=0.95):
        super().__init__(quantile)
        if not isinstance(domain, Domain):
            raise InputError(f"domain: expected a convexpoison Domain, got {type(domain).__name__}")
        self.domain = domain

    @classmethod
    def from_sphere(cls, sphere: L2Sphere, domain: Domain):
        """This form of an already fitted sphere (same centroids and thresholds)."""
        if not hasattr(sphere, "thresholds_"):
            raise InputError("sphere: fit the L2 sphere before taking another form of it")
        new = cls(domain, sphere.quantile)
        new.d_ = sphere.d_
        new.centroids_ = {k: v.copy() for k, v in sphere.centroids_.items()}
        new.thresholds_ = dict(sphere.thresholds_)
        new._set_constraint_params()
        return new

    def _domain_of_fit(self) -> Domain:
        """The domain, checked against the fitted dimension."""
        if self.d_ != self.domain.d:
            raise InputError(f"X: {self.d_} features but the domain has {self.domain.d}")
        return self.domain


class L2Secant(L2OnDomain, _L2Defense):
    """The L2 defense with a polyhedral constraint: one half-space inside its sphere on the
    domain's box, equal to the sphere at every point whose coordinates sit at their bounds.

    Same score, centroids and thresholds as :class:`L2Sphere` (it *is* the L2 defense, so
    its name is ``"l2"`` and :meth:`contains` is the defense's keep-mask); only the cvxpy
    constraint differs.  On ``[lo_j, hi_j]`` the convex ``x^2`` lies below its secant,
    ``x^2 <= (lo_j + hi_j) x - lo_j hi_j``, with equality at both ends, so for ``x`` in the
    box

        ||x - mu_y||^2 <= sum_j (lo_j + hi_j - 2 mu_y,j) x_j - sum_j (lo_j hi_j - mu_y,j^2),

    and the half-space ``a_y . x <= r_y`` with ``a_y = lo + hi - 2 mu_y`` and ``r_y =
    tau_y^2 + sum_j (lo_j hi_j - mu_y,j^2)``

    * is **sound** for the defense: within the box every point of it lies inside the sphere
      ``||x - mu_y|| <= tau_y`` (an inner approximation; the certificates over it cover
      *fewer* poison points than the defense allows, docs/reachable.md);
    * is **exact** at every point whose coordinates are at ``lo_j`` or ``hi_j`` -- every
      binary point, so on a one-hot domain such as adult only the continuous coordinates
      are approximated (a point with those strictly inside their range and inside the
      sphere can be cut off).

    Why: with integer points the programs are MILPs (CBC), which the sphere's cone would
    make mixed-integer SOCPs.  (On a domain whose coordinates are *all* integer the
    minimum-poison program linearises the sphere exactly instead, docs/integer.md.)  The
    half-space needs the box: use it with the ``domain`` component.  Scaled form
    ``a_y . x <= gamma r_y`` (``a_y``, ``r_y`` Parameters of their own: DPP).
    """

    words = ("l2 secant half-space (inside the L2 defense's sphere, equal to it at binary "
             "points: a subset of the points the L2 defense keeps)")

    def _set_constraint_params(self):
        dom = self._domain_of_fit()
        for lab, mu in self.centroids_.items():
            tau = max(float(self.thresholds_[lab]), 0.0)
            self._param((lab, "a"), (self.d_,)).value = dom.lo + dom.hi - 2 * mu
            self._param((lab, "r")).value = tau ** 2 + float(dom.lo @ dom.hi - mu @ mu)

    def _constraints(self, x, y, scale):
        a, r = self._params[(y, "a")], self._params[(y, "r")]
        return [a @ x <= _mul(scale, r)]

    polyhedral = True

    def halfspaces(self, y) -> list:
        """``[(a_y, r_y)]``, the program's own floats."""
        y = self._check_label(y)
        return [(np.asarray(self._fitted((y, "a")).value, float),
                 float(self._fitted((y, "r")).value))]

    def support(self, y, g=None, onehot=True, name=None):
        """Finite on ``g = eta a_y``, ``eta >= 0``: ``eta r_y`` (the half-space ``a_y . x
        <= r_y``); ``eta`` a new Variable."""
        cp = _cp()
        if g is not None:
            raise InputError("feasible: the l2 secant's support function is finite only "
                             "along a_y")
        eta = cp.Variable(nonneg=True, name=name)
        return eta * self._fitted((y, "a")), eta * self._fitted((y, "r")), []


def polyhedral_l2(feasible: "FeasibleSet") -> "FeasibleSet":
    """``feasible`` with its L2 sphere replaced by the secant half-space (:class:`L2Secant`,
    same centroids and thresholds) for programs that must stay linear over integer points;
    the other components are shared, not copied.  Needs the domain component (the secant
    bounds ``x^2`` on its box)."""
    dom = feasible.domain
    if dom is None:
        raise InputError("feasible: the l2 secant half-space needs the domain component")
    return FeasibleSet([L2Secant.from_sphere(c, dom) if type(c) is L2Sphere else c
                        for c in feasible.components])


class Slab(_CentroidComponent):
    """Slab defense: score ``|v_y . (x - mu_y)|``.

    Binary labels {-1, +1}: ``v = mu_{+1} - mu_{-1}`` for both classes (Koh et al. §2.2).
    Multi-class (labels 0..k-1): ``v_y = mu_y - mean_{y' != y} mu_{y'}``, the direction from
    the mean of the other centroids to the class's own (for two classes this is
    ``+-(mu_1 - mu_0)``, the same slab as the binary rule).  The constraint stores
    ``c_y = v_y . mu_y`` as its own Parameter so the scaled form stays DPP.
    """

    name = "slab"

    def fit(self, X, y, sample_weight=None):
        X, y, w = self._start(X, y, sample_weight)
        labels = np.unique(y)
        if labels.size < 2:
            raise InputError("y: the slab defense needs at least two classes")
        self._fit_centroids(X, y, w)
        mus = self.centroids_
        if set(labels.tolist()) == {-1, 1}:
            v = mus[1] - mus[-1]
            self.directions_ = {1: v, -1: v.copy()}
        else:
            self.directions_ = {
                lab: mus[lab] - np.mean([mus[o] for o in mus if o != lab], axis=0) for lab in mus}
        for lab in mus:
            v = self.directions_[lab]
            self._param((lab, "v"), (self.d_,)).value = v
            self._param((lab, "c")).value = float(v @ mus[lab])
        return self._finish(X, y, w)

    def score(self, X, y) -> np.ndarray:
        if is_sparse(X):
            return self._by_class(X, y, lambda Xv, v: np.abs(
                Xv @ self.directions_[v] - self.centroids_[v] @ self.directions_[v]))
        return self._by_class(
            X, y, lambda Xv, v: np.abs((Xv - self.centroids_[v]) @ self.directions_[v]))

    def _constraints(self, x, y, scale):
        v, c, s = (self._params[(y, k)] for k in ("v", "c", "tau"))
        # |v.x - c| <= s as two half-spaces: the same set, and cvxpy 1.9 cannot
        # canonicalise abs() here inside a mixed-integer program (its bound propagation
        # raises "cannot broadcast a non-scalar to a scalar array"; seen on adult)
        dev = v @ x - _mul(scale, c)
        return [dev <= _mul(scale, s), -dev <= _mul(scale, s)]

    polyhedral = True

    def halfspaces(self, y) -> list:
        """``v.x <= c + s`` and ``-v.x <= s - c`` (each right side rounded up)."""
        y = self._check_label(y)
        v, c, s = (self._fitted((y, k)).value for k in ("v", "c", "tau"))
        v, c, s = np.asarray(v, float), float(c), float(s)
        return [(v, _sum_up(c, s)), (-v, _sum_up(-c, s))]

    def support(self, y, g=None, onehot=True, name=None):
        """Finite only on ``g = alpha v_y``: ``alpha c_y + s_y |alpha|``, ``alpha`` a new
        Variable (the slab has no support function for a general ``g``)."""
        cp = _cp()
        if g is not None:
            raise InputError("feasible: the slab's support function is finite only along v_y")
        alpha = cp.Variable(name=name)
        g = alpha * self._fitted((y, "v"))
        return g, self._fitted((y, "c")) * alpha + self._fitted((y, "tau")) * cp.abs(alpha), []


class SVDResidual(Component):
    """SVD defense: score ``||(I - V_k V_k^T) x||_2``, ``V_k`` the top-``k`` right singular
    vectors of the (uncentred) fitted data matrix.

    ``k`` is the smallest rank whose normalised approximation error is below ``rel_error``
    (:func:`svd_rank`; ``squared=True`` follows the paper and its code:
    ``||X - X_k||_F^2 / ||X||_F^2 < rel_error``; ``squared=False`` uses the unsquared ratio).

    The constraint is written ``||x - V u||_2 <= t_y`` with an auxiliary free variable
    ``u`` (``min_u ||x - V u|| = ||(I - V V^T) x||`` for orthonormal ``V``) and ``V`` a
    ``(d, capacity_)`` Parameter holding ``V_k`` padded with zero columns.  This keeps the
    parameter at ``d * capacity_`` entries instead of the ``d^2`` of a projector (at
    d = 784 compiling is ~15x and re-solving ~100x faster).  ``capacity_`` is fixed at the
    first fit (``max_rank``, or ``k`` plus 50% headroom); a refit needing a larger rank
    re-creates the parameters with a warning, and programs built before must be rebuilt.
    """

    name = "svd"

    def __init__(self, quantile=0.95, rel_error=0.05, squared=True, max_rank=None):
        super().__init__()
        self.quantile = quantile
        self.rel_error = rel_error
        self.squared = squared
        self.max_rank = max_rank

    def fit(self, X, y, sample_weight=None):
        _check_quantile(self.quantile)
        rel = check_fraction(self.rel_error, "rel_error")
        if rel == 0:
            raise InputError("rel_error: must be in (0, 1]")
        X, y = _check_Xy(X, y)
        w = check_weights(sample_weight, X.shape[0])
        n, d = X.shape
        # integer weights act as copies of rows; singular_values_ may hold the leading
        # values only (a truncated SVD of a large sparse matrix)
        if is_sparse(X):
            import scipy.sparse as sp

            Xw = (sp.diags(np.sqrt(w)) @ X).tocsr()
        else:
            Xw = X * np.sqrt(w)[:, None]
        s, Vt, k = _top_svd(Xw, rel, bool(self.squared))
        self.singular_values_ = s
        self.rank_ = k
        self.components_ = Vt[:k].copy()  # (k, d), orthonormal rows
        if getattr(self, "d_", None) != d:
            if getattr(self, "d_", None) is not None:
                self._reset_params()
            self.d_ = d
            self.capacity_ = None
        cap = getattr(self, "capacity_", None)
        if cap is None:
            want = k + max(8, k // 2) if self.max_rank is None else int(check_positive(self.max_rank, "max_rank"))
            self.capacity_ = max(1, min(d, max(want, k)))
        elif k > cap:
            warnings.warn(f"svd: the refitted rank {k} exceeds the parameter capacity {cap}; "
                          "parameters re-created -- rebuild programs built before this fit "
                          "(a larger max_rank avoids this)", RuntimeWarning, stacklevel=2)
            self._reset_params()
            self.capacity_ = max(1, min(d, k + max(8, k // 2)))
        V = np.zeros((d, self.capacity_))
        V[:, :k] = self.components_.T
        self._param("V", (d, self.capacity_)).value = V
        self.thresholds_ = quantile_thresholds(self.score(X, y), y, self.quantile, w)
        for lab, t in self.thresholds_.items():
            self._param((lab, "tau"), nonneg=True).value = max(t, 0.0)
        return self

    def score(self, X, y=None) -> np.ndarray:
        X = _check_points(X, self.d)
        Vk = self.components_
        if is_sparse(X):    # |(I - V V^T) x|^2 = |x|^2 - |V^T x|^2 (orthonormal V)
            P = np.asarray(X @ Vk.T)
            return _sparse_norm_from(X, np.einsum("ij,ij->i", P, P))
        return np.linalg.norm(X - (X @ Vk.T) @ Vk, axis=1)

    def _constraints(self, x, y, scale):
        cp = _cp()
        V, t = self._params["V"], self._params[(y, "tau")]
        u = cp.Variable(self.capacity_, name=f"svd_u_{_fmt_label(y)}")
        return [cp.norm(x - V @ u, 2) <= _mul(scale, t)]

    conic = True
    full_support = True

    def support(self, y, g=None, onehot=True, name=None):
        """``t_y |g|`` on ``V^T g = 0`` (``+inf`` off it: ``u`` is free)."""
        cp = _cp()
        g = _split_variable(g, self.d, name)
        return (g, self._fitted((y, "tau")) * cp.norm(g, 2),
                [self._fitted("V").T @ g == 0])


class LossBound(Component):
    """Loss defense through a decoy model ``theta_d = (w_d, b_d)`` (binary, hinge).

    Constraint ``hinge(theta_d; x, y) <= tau_y``, written as the linear constraint
    ``1 - y (w_d . x + b_d) <= tau_y`` (equivalent because ``tau_y >= 0``); scaled:
    ``gamma - y (w_d . x + b_d gamma) <= gamma tau_y``.  The score is the decoy's hinge
    loss.  With ``tau`` given it is every label's threshold and ``fit`` is optional; with
    ``tau=None``, ``fit`` sets per-class thresholds from the ``quantile`` of the scores.
    :meth:`set_model` swaps the decoy in place (programs built before stay valid).
    """

    name = "loss"

    def __init__(self, model, tau=None, quantile=0.95):
        super().__init__()
        self.quantile = quantile
        self.tau = None if tau is None else check_positive(tau, "tau", allow_zero=True)
        self.set_model(model)
        if self.tau is not None:
            self._set_thresholds({-1: self.tau, 1: self.tau})

    def set_model(self, model):
        w, b = check_binary_model(model, "model")
        if getattr(self, "d_", None) not in (None, w.size):
            self._reset_params()  # a different dimension: programs must be rebuilt
            self.d_ = w.size
            if hasattr(self, "thresholds_"):
                self._set_thresholds(self.thresholds_)
        self.model = model
        self.w_, self.b_, self.d_ = w, b, w.size
        self._param("w", (w.size,)).value = w
        self._param("b").value = b
        return self

    def _check_label(self, y) -> int:
        if y not in (-1, 1):
            raise InputError(f"y: the loss component is binary (labels -1, +1); got label {y!r}")
        return super()._check_label(y)

    def _set_thresholds(self, th):
        self.thresholds_ = {int(k): float(v) for k, v in th.items()}
        for lab, t in self.thresholds_.items():
            self._param((lab, "tau"), nonneg=True).value = max(t, 0.0)

    def fit(self, X, y, sample_weight=None):
        X, y = _check_Xy(X, y, d=self.d_)
        y = check_y(y, X.shape[0])  # binary
        if self.tau is not None:
            self._set_thresholds({-1: self.tau, 1: self.tau})
            return self
        w = check_weights(sample_weight, X.shape[0])
        _check_quantile(self.quantile)
        th = quantile_thresholds(self.score(X, y), y, self.quantile, w)
        # a label absent from the data keeps its old threshold (or none)
        self._set_thresholds({**getattr(self, "thresholds_", {}), **th})
        return self

    def score(self, X, y) -> np.ndarray:
        X, y = _check_Xy(X, y, d=self.d)
        y = check_y(y, X.shape[0])
        return Hinge().losses(self.w_, self.b_, X, y)

    def _constraints(self, x, y, scale):
        w, b, t = self._params["w"], self._params["b"], self._params[(y, "tau")]
        one = 1.0 if scale is None else scale
        return [one - y * (w @ x + _mul(scale, b)) <= _mul(scale, t)]

    polyhedral = True

    def halfspaces(self, y) -> list:
        """``-y w_d.x <= tau_y - 1 + y b_d`` (the right side rounded up)."""
        y = self._check_label(y)
        w, b, t = (self._fitted(k).value for k in ("w", "b", (y, "tau")))
        return [(-y * np.asarray(w, float), _sum_up(float(t) - 1.0, y * float(b)))]

    def support(self, y, g=None, onehot=True, name=None):
        """Finite on ``g = -eta y w_d``, ``eta >= 0``: ``eta (tau_y - 1 + y b_d)`` (the
        half-space ``1 - y (w_d.x + b_d) <= tau_y``); ``eta`` a new Variable."""
        cp = _cp()
        if g is not None:
            raise InputError("feasible: the loss component's support function is finite only "
                             "along -y w_d")
        if y not in (-1, 1):
            raise InputError(f"label: the loss component is binary; got {y}")
        eta = cp.Variable(nonneg=True, name=name)
        g = (-y) * eta * self._fitted("w")
        return g, eta * (self._fitted((y, "tau")) - 1 + y * self._fitted("b")), []


#: Component constructors by name (the names used by ``--defense`` lists).
COMPONENTS = {"domain": DomainSet, "l2": L2Sphere, "slab": Slab, "svd": SVDResidual, "loss": LossBound}

#: Feasible-set components that stand in for each defense by default ('knn' and 'svd' are
#: evaded by concentrating the attack, Koh et al. section 3.1; 'svd' can be named).
FEASIBLE_FROM_DEFENSE = {"l2": "l2", "slab": "slab", "loss": "loss"}


def feasible_names(feasible, defenses, domain, exclude=(), note="") -> list:
    """The component names an attack constrains its poison points with.

    ``feasible``: None (the components of ``defenses`` in :data:`FEASIBLE_FROM_DEFENSE`),
    a comma-separated string or a list of names.  Names in ``exclude`` are refused like
    unknown ones (an attack that handles that defense otherwise; ``note`` says how, in the
    message).  ``domain`` (when not None) is always included, first; duplicates dropped.
    """
    if feasible is None:
        names = [FEASIBLE_FROM_DEFENSE[d] for d in defenses
                 if d in FEASIBLE_FROM_DEFENSE and d not in exclude]
    elif isinstance(feasible, str):
        names = [n.strip().lower() for n in feasible.split(",") if n.strip()]
    else:
        names = [str(n).strip().lower() for n in feasible]
    for n in names:
        if n not in COMPONENTS or n in exclude:
            allowed = ", ".join(c for c in COMPONENTS if c not in exclude)
            raise InputError(f"feasible: unknown component {n!r}; choose from {allowed}"
                             + (f" ({note})" if note else ""))
    if domain is not None and "domain" not in names:
        names = ["domain"] + names
    if not names:
        raise InputError("feasible: the poison points need at least one constraint (a domain)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------- intersection
class FeasibleSet:
    """Intersection of components: ``F_y = domain ∩ l2 ∩ slab ∩ ...``."""

    def __init__(self, components):
        components = list(components)
        if not components:
            raise InputError("components: a feasible set needs at least one component")
        for c in components:
            if not isinstance(c, Component):
                raise InputError(f"components: {c!r} is not a feasible-set component")
        self.components = components

    @property
    def names(self) -> list:
        return [c.name for c in self.components]

    def describe(self) -> str:
        """The intersection in words, for a certificate's statement: ``domain ∩ l2 ∩ ...``
        with a component's own ``words`` where its set is not simply the defense's."""
        return " ∩ ".join(c.words or c.name for c in self.components)

    def __getitem__(self, name):
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def __repr__(self):
        return f"FeasibleSet([{', '.join(map(repr, self.components))}])"

    def __getstate__(self):
        # the projection programs are a cache over the components' Parameters, which are
        # re-created on unpickling (Component.__setstate__): rebuilt on first use
        state = dict(self.__dict__)
        state.pop("_projectors", None)
        return state

    @property
    def d(self) -> int:
        ds = {c.d for c in self.components if getattr(c, "d_", None) is not None}
        if not ds:
            raise InputError("feasible set: call fit(X, y) before using it")
        if len(ds) > 1:
            raise InputError(f"feasible set: components disagree on the dimension ({sorted(ds)})")
        return ds.pop()

    @property
    def domain(self):
        for c in self.components:
            if isinstance(c, DomainSet):
                return c.domain
        return None

    @property
    def thresholds_(self) -> dict:
        return {c.name: dict(c.thresholds_) for c in self.components if hasattr(c, "thresholds_")}

    @property
    def conic(self) -> bool:
        """Some component is a second-order cone (L2, SVD): programs over ``F`` are SOCPs."""
        return any(c.conic for c in self.components)

    def hull_constraints(self, x, label, onehot=True) -> list:
        """The constraints of ``conv(F_y)`` for ``x`` (a Variable that carries the domain's
        box as bounds): the domain's relaxed constraints (its one-hot sums with ``onehot``)
        and every other component's."""
        cons = []
        for comp in self.components:
            if isinstance(comp, DomainSet):
                cons += comp.domain.constraints(x, onehot=onehot)
            else:
                cons += comp.constraints(x, label)
        return cons

    def hull_variable(self, name="x"):
        """A continuous Variable of shape (d,) with the domain's box as bounds (integer
        coordinates relaxed), for programs over ``conv(F_y)``."""
        cp = _cp()
        dom = self.domain
        return (cp.Variable(self.d, bounds=[dom.lo.copy(), dom.hi.copy()], name=name)
                if dom is not None else cp.Variable(self.d, name=name))

    def support_function(self, label, g, onehot=True):
        """A convex upper bound on ``sigma_{F_y}(g) = sup_{x in F_y} g.x`` for an affine ``g``.

        Returns ``(expr, constraints)``: ``expr`` is convex in the variables of ``g`` (plus
        auxiliary variables constrained by ``constraints``) and, minimised over the auxiliary
        variables, equals the infimal convolution ``min { sum_i sigma_{K_i}(g_i) : sum_i g_i
        = g }`` of the components' support functions (:meth:`Component.support`).  By weak
        duality this is ``>= sigma_{F_y}(g)`` for every split (so it is always safe in a
        bound), with equality when the components share a relative-interior point (Slater;
        Rockafellar, Convex Analysis, Corollary 16.4.1; docs/lower-bound.md).  The domain
        (else an L2 sphere or SVD component) takes the remainder ``g - sum_i g_i``.
        """
        y = int(label)
        comps = list(self.components)
        owner = next((c for c in comps if isinstance(c, DomainSet)), None)
        if owner is None:
            owner = next((c for c in comps if c.full_support), None)
        terms, cons, pieces = [], [], []
        tag = f"{'p' if y > 0 else 'm'}{abs(y)}"
        names = {"domain": "g_dom{k}_{tag}", "l2": "g_l2_{tag}", "slab": "alpha_slab_{tag}",
                 "loss": "eta_loss_{tag}", "svd": "g_svd_{tag}"}
        for k, comp in enumerate(comps):
            if comp is owner:
                continue
            name = names.get(comp.name, "g_{name}{k}_{tag}").format(k=k, tag=tag, name=comp.name)
            gi, term, extra = comp.support(y, None, onehot=onehot, name=name)
            cons += extra
            terms.append(term)
            pieces.append(gi)
        residual = g - sum(pieces) if pieces else g
        if owner is None:
            # no component takes the remainder: it must vanish (sum of splits = g)
            cons.append(residual == 0)
        else:
            _, term, extra = owner.support(y, residual, onehot=onehot)
            cons += extra
            terms.append(term)
        return sum(terms), cons

    @property
    def labels(self) -> list:
        labs = set()
        for c in self.components:
            if not isinstance(c, DomainSet):
                labs |= set(c.labels)
        return sorted(labs) if labs else sorted(self.components[0].labels)

    def fit(self, X, y, sample_weight=None):
        X, y = _check_Xy(X, y)
        for c in self.components:
            c.fit(X, y, sample_weight=sample_weight)
        return self

    def score(self, X, y) -> dict:
        """Scores of every component: dict name -> array."""
        return {c.name: c.score(X, y) for c in self.components}

    def contains(self, X, y, tol=1e-7) -> np.ndarray:
        ok = None
        for c in self.components:
            m = c.contains(X, y, tol=tol)
            ok = m if ok is None else ok & m
        return ok

    def satisfies(self, X, y, tol=1e-7) -> np.ndarray:
        """Boolean per row: inside the set the programs over ``F`` constrain to, which a
        certificate over ``F`` covers -- :meth:`contains`, and for each polyhedral
        component its half-spaces too (``a.x <= r + tol max(1, |r|)``).  The two differ
        only for the l2 secant, whose ``contains`` is the L2 defense's keep-mask (the
        sphere) while its constraint is a half-space inside it."""
        X = np.atleast_2d(np.asarray(X, float))
        y = np.atleast_1d(np.asarray(y))
        ok = self.contains(X, y, tol=tol)
        for c in self.components:
            if not c.polyhedral:
                continue
            for lab in np.unique(y):
                rows = np.flatnonzero(y == lab)
                for a, r in c.halfspaces(int(lab)):
                    ok[rows] &= X[rows] @ a <= r + tol * max(1.0, abs(r))
        return ok

    def constraints(self, x, y, scale=None, check=True) -> list:
        """Constraints of every component; with ``scale`` also ``scale >= 0``."""
        scale = _as_scale(scale)
        cons = []
        if scale is not None and not scale.is_constant():
            cons.append(scale >= 0)
        for c in self.components:
            cons += c.constraints(x, y, scale=scale, check=check)
        return cons

    def check_dpp(self, x=None, y=None, scale=None) -> bool:
        for c in self.components:
            c.check_dpp(x, y, scale=scale)
        return True

    def variable(self, name="x"):
        """A cvxpy Variable of shape (d,), with the domain's box as bounds when there is one."""
        cp = _cp()
        dom = self.domain
        return dom.variable(name) if dom is not None else cp.Variable(self.d, name=name)

    def check_nonempty(self, labels=None) -> dict:
        """Solve a feasibility SOCP per label; raise InputError naming the components if empty.

        Returns a dict label -> a feasible point.  A label is declared empty only when a
        solver *proves* infeasibility (status ``infeasible``; the preferred solvers are tried
        in turn otherwise); other failures propagate as :class:`SolverFailure`.  Integer
        coordinates are relaxed (the convex constraints are checked).
        """
        cp = _cp()
        labels = self.labels if labels is None else [int(v) for v in np.atleast_1d(labels)]
        if not labels:
            raise InputError("labels: no labels to check (fit the feasible set or name the labels)")
        out = {}
        for lab in labels:
            x = self.variable()
            prob = cp.Problem(cp.Minimize(0), self.constraints(x, lab))
            try:
                solvers.solve(prob, "SOCP", stop_if_infeasible=True)
            except SolverFailure as exc:
                if exc.status == "infeasible":
                    raise InputError(f"feasible set for label {_fmt_label(lab)} is empty: "
                                     + " ∩ ".join(self.names)) from None
                raise
            out[lab] = np.asarray(x.value, dtype=float).copy()
        return out

    # -- projection (a DPP QP per label, built once) ---------------------------
    def project(self, X, y, solver=None) -> np.ndarray:
        """Euclidean projection of rows of ``X`` onto the convex constraints of ``F_y``.

        One DPP program per label is built on first use and re-solved for every row and
        after refits.  Integrality is not enforced (round afterwards, docs/integer.md).
        """
        cp = _cp()
        X = _check_points(X, self.d)
        lab = int(y)
        key = (lab, tuple(c._generation for c in self.components), tuple(map(id, self.components)))
        cache = self.__dict__.setdefault("_projectors", {})
        if key not in cache:
            x = self.variable("x_proj")
            x0 = cp.Parameter(self.d, name="x0")
            prob = cp.Problem(cp.Minimize(cp.sum_squares(x - x0)), self.constraints(x, lab))
            cache[key] = (prob, x, x0)
        prob, x, x0 = cache[key]
        out = np.empty_like(X)
        for i, row in enumerate(X):
            x0.value = row
            solvers.solve(prob, "SOCP", solver=solver)
            out[i] = x.value
        return out


def as_feasible(feasible) -> FeasibleSet:
    """A :class:`FeasibleSet` from a Domain (the pure box component), a DomainSet or a
    FeasibleSet (returned as it is)."""
    if isinstance(feasible, Domain):
        return FeasibleSet([DomainSet(feasible)])
    if isinstance(feasible, DomainSet):
        return FeasibleSet([feasible])
    if isinstance(feasible, FeasibleSet):
        return feasible
    raise InputError(f"feasible: expected a Domain or a FeasibleSet, got {type(feasible).__name__}")


def make_feasible_set(names, domain, X, y, quantile=0.95, decoy=None, tau=None,
                      rel_error=0.05, sample_weight=None) -> FeasibleSet:
    """A fitted :class:`FeasibleSet` from component names.

    ``names``: list (or comma-separated string) among 'domain', 'l2', 'slab', 'svd',
    'loss'.  'loss' needs ``decoy`` (a binary linear model); its threshold is ``tau`` when
    given, else the ``quantile`` of the decoy's hinge losses per class.  Duplicates are
    ignored.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(str(n).strip().lower() for n in names))
    if not names:
        raise InputError("names: give at least one feasible-set component")
    for n in names:
        if n == "knn":
            raise InputError("names: 'knn' has no convex feasible set (attacks evade it by "
                             f"concentrating points); choose from {', '.join(COMPONENTS)}")
        if n not in COMPONENTS:
            raise InputError(f"names: unknown feasible-set component {n!r}; choose from {', '.join(COMPONENTS)}")
    _check_quantile(quantile)
    comps = []
    for n in names:
        if n == "domain":
            if domain is None:
                raise InputError("domain: the 'domain' component needs a Domain")
            comps.append(DomainSet(domain))
        elif n == "l2":
            comps.append(L2Sphere(quantile))
        elif n == "slab":
            comps.append(Slab(quantile))
        elif n == "svd":
            comps.append(SVDResidual(quantile, rel_error=rel_error))
        elif n == "loss":
            if decoy is None:
                raise InputError("decoy: the 'loss' component needs a decoy model with .w and .b")
            comps.append(LossBound(decoy, tau=tau, quantile=quantile))
    return FeasibleSet(comps).fit(X, y, sample_weight=sample_weight)
