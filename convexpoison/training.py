"""The defender's training: structural ERM with exact minimisers (docs/training.md).

    theta(D) = argmin_theta  (1/W) sum_i s_i loss(theta; x_i, y_i) + C_R R(theta)

with per-point weights ``s_i`` (a poison point with k copies is *one* row of weight k),
``W = sum_i s_i`` (so the first term is the mean loss over the multiset), and
``R(theta) = 1/2 (|w|^2 + b^2)``: **the bias is regularised**, as in liblinear and
Suya et al.'s code.  Theorem 4.2 holds for either convention as long as training and
certificate use the same R, and every part of convexpoison uses this one.

Models: binary linear SVM (hinge), logistic regression, Crammer--Singer multi-class SVM.
Each can be trained two independent ways:

* ``method="fast"`` -- dual coordinate descent (SVMs, compiled) or Newton-CG
  (logistic), warm-startable, stopping on a *duality gap* / gradient bound, i.e. a
  proven bound on the objective's distance to the optimum;
* ``method="cvxpy"`` -- the conic program through :mod:`convexpoison.solvers`, for
  verification at small ``n``.

``X`` may be a scipy.sparse matrix (bag-of-words text): every method then works on its CSR
form without densifying it (compiled kernels over the stored entries; docs/training.md).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .errors import InputError, SolverFailure
from .losses import Hinge, Logistic, SquaredHinge, multiclass_hinge
from .validation import check_positive, check_weights, check_X, check_y, is_sparse

MODELS = ("svm", "logreg", "multisvm", "l2svm")
BIAS_REGULARIZED = True


@dataclass
class LinearModel:
    """A trained linear model ``s(x) = W x + b`` and how exactly it was trained.

    Attributes
    ----------
    w : (d,) for binary models, (k, d) for multi-class.
    b : float for binary models, (k,) for multi-class.
    model : 'svm', 'logreg' or 'multisvm'.
    reg : the regularisation ``C_R`` the model was trained with (NaN for a model given by
        its parameters only, e.g. a target read from a file without it).
    objective_ : the training objective at ``(w, b)``.
    gap_ : a proven bound on ``objective_ - optimum`` (duality gap, or
        ``|grad|^2 / (2 C_R)`` by strong convexity for logistic regression).
    dual_ : dual variables (SVMs), used to warm-start the next training.
    bias_regularized : whether ``R`` includes ``b^2`` (True: the package's default; False:
        a free intercept, as scikit-learn's SVC and LogisticRegression).
    defender : the :class:`~convexpoison.defender.Defender` the model was trained by
        (None for models trained by :func:`train` directly or read from an old file).
    """

    w: np.ndarray
    b: np.ndarray | float
    model: str = "svm"
    reg: float = float("nan")
    bias_regularized: bool = BIAS_REGULARIZED
    objective_: float = float("nan")
    gap_: float = float("nan")
    n_iter_: int = 0
    method_: str = ""
    dual_: np.ndarray | None = field(default=None, repr=False)
    defender: object = field(default=None, repr=False)

    # ---------------------------------------------------------------- basics
    @property
    def is_binary(self) -> bool:
        return self.model != "multisvm"

    @property
    def theta(self) -> np.ndarray:
        """All parameters as one vector ``(w, b)`` (flattened for multi-class)."""
        return np.concatenate([np.ravel(self.w), np.ravel(self.b)])

    def regularizer(self) -> float:
        """``R(theta) = 1/2 (|w|^2 + b^2)``, or ``1/2 |w|^2`` for a free intercept."""
        if not self.bias_regularized:
            return 0.5 * float(np.sum(np.asarray(self.w, float) ** 2))
        return 0.5 * float(np.sum(self.theta ** 2))

    def decision_function(self, X) -> np.ndarray:
        return _as_rows(X) @ np.asarray(self.w).T + self.b

    def predict(self, X) -> np.ndarray:
        s = self.decision_function(X)
        if self.is_binary:
            return np.where(s >= 0, 1, -1)
        return np.argmax(s, axis=1)

    def error(self, X, y) -> float:
        """Fraction of misclassified rows (0/1 error)."""
        return float(np.mean(self.predict(X) != np.asarray(y)))

    def losses(self, X, y) -> np.ndarray:
        """Per-point training loss of this model."""
        X = _as_rows(X)
        y = np.asarray(y)
        if self.model == "svm":
            return Hinge().losses(self.w, self.b, X, y)
        if self.model == "logreg":
            return Logistic().losses(self.w, self.b, X, y)
        if self.model == "l2svm":
            return SquaredHinge().losses(self.w, self.b, X, y)
        return multiclass_hinge(np.asarray(self.w), np.asarray(self.b), X, y.astype(int))

    def copy(self) -> "LinearModel":
        return LinearModel(np.array(self.w, copy=True), np.array(self.b, copy=True) if
                           np.ndim(self.b) else float(self.b), self.model, self.reg,
                           self.bias_regularized, self.objective_, self.gap_, self.n_iter_,
                           self.method_,
                           None if self.dual_ is None else (self.dual_[0].copy(), self.dual_[1]),
                           self.defender)

    # ----------------------------------------------------------------- files
    def save(self, path):
        """Write a model file (docs/training.md, "Model files"): an ``.npz`` with ``w`` and
        ``b`` (plus metadata)."""
        from .fileio import atomic_path, npz_path

        extra = {} if self.defender is None else {"defender": self.defender.spec()}
        with atomic_path(npz_path(path)) as tmp:        # never a truncated file
            np.savez(tmp, w=np.asarray(self.w), b=np.asarray(self.b), model=self.model,
                     reg=self.reg, bias_regularized=self.bias_regularized,
                     objective=self.objective_, gap=self.gap_, **extra)

    @classmethod
    def load(cls, path) -> "LinearModel":
        try:
            f = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"model file {path}: cannot read ({exc})") from None
        if "w" not in f or "b" not in f:
            raise InputError(f"model file {path}: needs arrays 'w' and 'b'")
        w = np.asarray(f["w"], float)
        b = np.asarray(f["b"], float)
        model = str(f["model"]) if "model" in f else ("svm" if w.ndim == 1 else "multisvm")
        reg = float(f["reg"]) if "reg" in f else float("nan")
        # files written before the free intercept existed lack the flag: they were penalised
        bias_reg = bool(f["bias_regularized"]) if "bias_regularized" in f else BIAS_REGULARIZED
        defender = None
        if "defender" in f:
            from .defender import Defender

            defender = Defender.from_spec(str(f["defender"]))
        return cls(w, float(b) if b.ndim == 0 else b, model, reg, bias_reg,
                   objective_=float(f["objective"]) if "objective" in f else float("nan"),
                   gap_=float(f["gap"]) if "gap" in f else float("nan"), defender=defender)


def _as_rows(X):
    """``X`` as float rows for a product with ``w``: a dense array, or a scipy.sparse
    matrix as a float CSR matrix (never densified)."""
    if is_sparse(X):
        return X.tocsr().astype(float, copy=False)
    return np.asarray(X, float)


def _kernel_rows(X):
    """``X`` as the compiled kernels take it: C-contiguous dense, or canonical CSR (the
    output of ``check_X(..., accept_sparse=True)``)."""
    return X if is_sparse(X) else np.ascontiguousarray(X)


def _row_norms_sq(X) -> np.ndarray:
    """``|x_i|^2`` for every row."""
    if is_sparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), float).ravel()
    return np.einsum("ij,ij->i", X, X)


def _dense(M) -> np.ndarray:
    """A product that is small by construction (a Gram matrix of a few rows) as an array."""
    return M.toarray() if is_sparse(M) else M


def _rows_gram(Xm) -> np.ndarray:
    """``Xm Xm^T`` as a dense array (``Xm``: the few rows of a working or free set)."""
    return _dense(Xm @ Xm.T)


def _svm_dcd(X, *args):
    from ._kernels import svm_dcd, svm_dcd_csr

    if is_sparse(X):
        return svm_dcd_csr(X.data, X.indices, X.indptr, X.shape[1], *args)
    return svm_dcd(X, *args)


def _svm_dcd_active(X, *args):
    from ._kernels import svm_dcd_active, svm_dcd_active_csr

    if is_sparse(X):
        return svm_dcd_active_csr(X.data, X.indices, X.indptr, X.shape[1], *args)
    return svm_dcd_active(X, *args)


def check_model_kind(model, name="model", data=None):
    """``model`` names one of :data:`MODELS` and, given a dataset, one that fits its labels
    (``svm``/``logreg`` for binary sets, ``multisvm`` for multi-class ones)."""
    if model not in MODELS:
        raise InputError(f"{name}: unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if data is None:
        return
    if data.is_binary and model == "multisvm":
        raise InputError(f"{name}: {data.name} is binary; use svm or logreg")
    if not data.is_binary and model != "multisvm":
        raise InputError(f"{name}: {data.name} has {data.n_classes} classes; use multisvm")


def objective(model: LinearModel, X, y, sample_weight=None, reg=None) -> float:
    """The training objective ``(1/W) sum s_i loss_i + C_R R(theta)`` of ``model`` on data
    (``reg``: ``C_R``, by default the one ``model`` was trained with)."""
    if reg is None:
        if not np.isfinite(model.reg):
            raise InputError("reg: the model does not record the C_R it was trained with; "
                             "give reg")
        reg = model.reg
    reg = check_positive(reg, "reg")
    s = check_weights(sample_weight, X.shape[0])
    return float(s @ model.losses(X, y) / s.sum() + reg * model.regularizer())


# ------------------------------------------------------------------- training
def train(X, y, model="svm", reg=None, sample_weight=None, *, warm_start=None,
          method="fast", tol=1e-10, max_epochs=100000, solver=None, random_state=0,
          penalize_intercept=True) -> LinearModel:
    """Train the defender's model exactly.

    Parameters
    ----------
    X : (n, d) array or scipy.sparse matrix (never densified); y : labels in {-1, +1} (binary models) or 0..k-1 (``multisvm``).
    model : 'svm' (hinge), 'logreg' (logistic), 'multisvm' (Crammer--Singer) or 'l2svm'
        (the squared hinge of LinearSVC's default; intercept penalised only).
    reg : ``C_R`` > 0, required (no default here: the dataset's default is resolved at the
        boundary, :func:`convexpoison.datasets.resolve_reg`).
    sample_weight : per-row copies ``s_i >= 0`` (default 1).
    warm_start : a previous :class:`LinearModel` trained on a prefix of these rows (the
        MTP loop appends poison rows): its dual variables seed the new solve.
    method : 'fast' (dual coordinate descent / Newton-CG) or 'cvxpy' (conic solve).
    tol : relative duality-gap tolerance of the fast method.
    penalize_intercept : True (default): ``R = 1/2 (|w|^2 + b^2)``; False: a free
        intercept, ``R = 1/2 |w|^2`` (scikit-learn's SVC/LogisticRegression), trained
        exactly (SMO on the dual with ``sum alpha_i y_i = 0`` for the SVM; Newton with an
        unpenalised bias for logistic regression; docs/defender.md).  Not available for
        ``multisvm``.  :class:`convexpoison.defender.Defender` chooses it for you.
    """
    check_model_kind(model)
    X = check_X(X, accept_sparse=True)
    n, d = X.shape
    binary = model != "multisvm"
    y = check_y(y, n, binary=binary)
    if reg is None:
        raise InputError("reg: give the regularisation C_R (e.g. the dataset's data.reg)")
    reg = check_positive(reg, "reg")
    s = check_weights(sample_weight, n)
    if not penalize_intercept:
        if model == "multisvm":
            raise InputError("penalize_intercept: a free intercept is not supported for the "
                             "multi-class SVM (multisvm); use penalize_intercept=True")
        if not (s[y == 1].sum() > 0 and s[y == -1].sum() > 0):
            raise InputError("y: a free intercept needs rows of both classes (with one class "
                             "the intercept grows without bound)")
    if model == "l2svm" and not penalize_intercept:
        raise InputError("penalize_intercept: the squared hinge (l2svm) is trained with a "
                         "penalised intercept only (LinearSVC's)")
    if method == "cvxpy":
        return _train_cvxpy(X, y, model, reg, s, solver, penalize_intercept)
    if method != "fast":
        raise InputError(f"method: unknown training method {method!r}; use 'fast' or 'cvxpy'")
    if not penalize_intercept:
        if model == "svm":
            return _train_svm_free(X, y, reg, s, warm_start, tol, max_epochs)
        return _train_logreg_free(X, y, reg, s, warm_start, tol)
    if model == "svm":
        return _train_svm(X, y, reg, s, warm_start, tol, max_epochs, random_state)
    if model == "multisvm":
        return _train_cs(X, y, reg, s, warm_start, tol, max_epochs, random_state)
    if model == "l2svm":
        return _train_logreg(X, y, reg, s, warm_start, tol, SquaredHinge())
    return _train_logreg(X, y, reg, s, warm_start, tol)


def _warm_dual(warm_start, n, W, shape, reg):
    """Previous dual variables rescaled to the new problem (the bounds ``U = s / (W C_R)``:
    by ``W_old / W`` at the same ``C_R``, :func:`_warm_scale` in general)."""
    if warm_start is None or warm_start.dual_ is None:
        return np.zeros(shape)
    old, W_old = warm_start.dual_
    alpha = np.zeros(shape)
    m = min(len(old), n)
    alpha[:m] = old[:m] * _warm_scale(warm_start, W, reg)
    return alpha


def _train_svm(X, y, reg, s, warm_start, tol, max_epochs, seed):
    n, d = X.shape
    W = s.sum()
    U = s / (W * reg)                       # dual box: F = C_R * (1/2|theta|^2 + sum U_i hinge_i)
    alpha = np.clip(_warm_dual(warm_start, n, W, n, reg), 0.0, U)
    yf = y.astype(float)
    Xe = _kernel_rows(X)
    theta = _theta_of(Xe, yf, alpha)
    qdiag = _row_norms_sq(Xe) + 1.0
    # Each round: (1) the margins of all rows (one matrix-vector product) give the duality
    # gap -- stop when it proves the tolerance; (2) the active-set polish solves exactly
    # for the optimum of the support-vector partition the dual suggests; (3) otherwise
    # coordinate descent over the free and violating rows only (shrinking, Hsieh et al.
    # 2008 section 3.2), to a violation an order of magnitude below the current one.
    # After a warm start (MTP adds one poison row) one or two rounds suffice and touch
    # a few hundred rows, not all n.  ``work`` counts epochs-equivalent coordinate steps.
    work, rounds, pg_tol = 0.0, 0, np.inf
    while True:
        g = yf * (Xe @ theta[:d] + theta[d]) - 1.0
        sq = theta @ theta
        primal, dual = 0.5 * sq + U @ np.maximum(-g, 0.0), alpha.sum() - 0.5 * sq
        if primal - dual <= tol * max(primal, 1e-12) or work >= max_epochs:
            break
        if rounds > 0:
            # not before the first round, even when warm-started: a 3-round try on the
            # previous problem's partition never succeeded when measured (MTP on mnist17,
            # fmnist and adult with 1 and 10 copies, min-max on spambase, defended
            # retraining in defenses.evaluate) and cost 10-20% of MTP's loop
            polished = _polish_svm(Xe, yf, U, alpha)
            if polished is not None and polished[2] - polished[3] <= tol * max(polished[2], 1e-12):
                alpha, theta, primal, dual = polished
                break
        if rounds >= 60:
            # shrinking is making slow progress (ill-conditioned: tiny C_R, heavy weights):
            # full epochs, 1, 2, 4, ... of them, with the polish tried in between
            alpha, theta, primal, dual, work = _epochs_then_polish(
                Xe, yf, U, alpha, theta, tol, max_epochs, work, seed + rounds)
            break
        pg = np.where(alpha <= 0.0, np.minimum(g, 0.0), np.where(alpha >= U, np.maximum(g, 0.0), g))
        pg[U == 0.0] = 0.0
        pg_tol = min(pg_tol, 0.1 * float(np.abs(pg).max()))
        active = np.flatnonzero((np.abs(pg) > pg_tol) | ((alpha > 0.0) & (alpha < U)))
        sweeps, _ = _svm_dcd_active(Xe, yf, U, alpha, theta, qdiag, active, pg_tol, 50,
                                    seed + rounds)
        work += sweeps * active.size / n
        rounds += 1
    gap = max(reg * (primal - dual), 0.0)       # < 0 only by rounding
    rel = (primal - dual) / max(primal, 1e-12)
    if rel > tol * 1.0001 and rel <= max(STALL_ACCEPT, tol) and work < max_epochs:
        warnings.warn(f"training: coordinate descent stalled at relative duality gap {rel:.1e} "
                      f"(asked {tol:.0e}); the model is returned with its proven gap_ = {gap:.2e}",
                      RuntimeWarning, stacklevel=3)
    elif not primal - dual <= tol * max(primal, 1e-12) * 1.0001:
        rescued = _interior_point_start(Xe, yf, U, free_intercept=False, tol=tol)
        if rescued is not None:
            alpha, theta, primal, dual = rescued
            return LinearModel(theta[:d].copy(), float(theta[d]), "svm", reg,
                               objective_=reg * primal, gap_=max(reg * (primal - dual), 0.0),
                               n_iter_=int(np.ceil(work)), method_="dcd+ipm",
                               dual_=(alpha, W))
        raise SolverFailure(f"dual coordinate descent stopped after {work:.0f} epochs with "
                            f"relative gap {(primal - dual) / primal:.2e} > {tol:.0e}",
                            solver="dcd", status="max_epochs")
    return LinearModel(theta[:d].copy(), float(theta[d]), "svm", reg, objective_=reg * primal,
                       gap_=gap, n_iter_=int(np.ceil(work)), method_="dcd", dual_=(alpha, W))


#: Relative duality gap accepted, with a warning, when coordinate descent stalls short of
#: ``tol`` (near-degenerate duals: many nearly collinear points on the margin, as the
#: min-max attack's poison trails produce).  The model's ``gap_`` stays the true, proven
#: gap, so certificates that use it remain sound.
STALL_ACCEPT = 1e-3
#: ... and only after this many epochs: DCD's gap has long plateaus on hard but regular
#: problems (tiny C_R, heavy weights) that it does leave.
STALL_MIN_EPOCHS = 30000


def _epochs_then_polish(X, y, U, alpha, theta, tol, max_epochs, work, seed):
    """Plain dual coordinate descent epochs over every row, 1, 2, 4, ... (at most 64) at a
    time, trying the exact polish after each batch.  Stops early (a stall) when, after
    ``STALL_MIN_EPOCHS``, 16 batches of 64 epochs in a row fail to lower the best gap by
    10% and the gap is within ``STALL_ACCEPT``.  Returns ``(alpha, theta,
    primal, dual, work)``."""
    chunk, best, flat, tried = 1, np.inf, 0, False
    while True:
        e, primal, dual = _svm_dcd(X, y, U, alpha, theta, tol,
                                  max(1, min(chunk, int(max_epochs - work))), seed + int(work))
        work += e
        if primal - dual <= tol * max(primal, 1e-12) or work >= max_epochs:
            return alpha, theta, primal, dual, work
        polished = _polish_svm(X, y, U, alpha)
        if polished is not None and polished[2] - polished[3] <= tol * max(polished[2], 1e-12):
            return (*polished, work)
        if not tried and work >= IPM_RESCUE_AFTER:
            tried = True
            rel = (primal - dual) / max(primal, 1e-12)
            rescued = _interior_point_start(X, y, U, False, tol, floor=1e-3 * rel)
            if rescued is not None:
                return (*rescued, work)
        rel = (primal - dual) / max(primal, 1e-12)
        if chunk == 64:
            flat = 0 if rel < 0.9 * best else flat + 1
            best = min(best, rel)
            # give up only where the result is acceptable; slow but real progress at a
            # larger gap goes on to max_epochs
            if flat >= 16 and rel <= STALL_ACCEPT and work >= STALL_MIN_EPOCHS:
                return alpha, theta, primal, dual, work
        chunk = min(2 * chunk, 64)


def _theta_of(X, y, alpha):
    """``theta = sum_i alpha_i y_i (x_i, 1)`` over the rows with ``alpha_i != 0`` only
    (the support vectors: usually a small part of the data)."""
    nz = np.flatnonzero(alpha)
    ay = alpha[nz] * y[nz]
    return np.append(X[nz].T @ ay, ay.sum())


def _svm_primal_dual(X, y, U, alpha, theta):
    m = 1.0 - y * (X @ theta[:-1] + theta[-1])
    sq = theta @ theta
    return 0.5 * sq + U @ np.maximum(m, 0.0), alpha.sum() - 0.5 * sq


#: The active-set polish gives up when more rows than this are free: its linear system is
#: dense in the free rows (on sparse text, d is large and the bound 2(d+1) alone would
#: allow a system of tens of thousands of rows).  Above every bundled dense set's 2(d+1)+16.
POLISH_MAX_FREE = 2500


def _solve_psd(gram, rhs):
    """The polish's system by Cholesky (about 10x faster than least squares: on sparse text
    thousands of rows can be free), least squares when the Gram matrix is singular or
    ill-conditioned (repeated points).  Either answer is accepted only on a proven duality gap."""
    try:
        with warnings.catch_warnings():
            # ill-conditioned (near-duplicate rows): least squares instead, as for dense X
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            return scipy.linalg.solve(gram, rhs, assume_a="pos", check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        return scipy.linalg.lstsq(gram, rhs, lapack_driver="gelsy", check_finite=False)[0]


def _polish_svm(X, y, U, alpha, rel=1e-9, rounds=12, add=16):
    """Exact optimum by an active-set method started from the partition ``alpha`` suggests.

    With L = {alpha_i = U_i} (inside the margin), R = {alpha_i = 0} and the free set M,
    optimality says ``y_i theta.(x_i,1) = 1`` on M where
    ``theta = sum_L U_i y_i (x_i,1) + sum_M alpha_i y_i (x_i,1)`` -- a linear system in
    ``alpha_M``.  Free points whose solution leaves ``[0, U_i]`` are moved to L or R, and
    the worst points on the wrong side of the margin join M; the system is solved again
    (a few rounds of this active-set method).  Returns ``(alpha, theta, primal, dual)``,
    or None when too many points are free for the partition to be settled; the caller
    accepts a result only when its duality gap proves it optimal.
    """
    d = X.shape[1]
    upper = alpha >= U * (1 - rel)
    free = (alpha > 0) & ~upper
    # theta of the rows at their upper bound, kept up to date as rows enter or leave L
    # (recomputing it every round would cost a pass over all support vectors)
    base = _theta_of(X, y, np.where(upper, U, 0.0))

    def shift(rows, sign):
        uy = sign * U[rows] * y[rows]
        base[:d] += X[rows].T @ uy
        base[d] += uy.sum()

    for _ in range(rounds):
        a = np.where(upper, U, 0.0)
        idx = np.flatnonzero(free)
        if idx.size > 2 * (d + 1) + add or idx.size > POLISH_MAX_FREE:
            # generically at most d+1 points sit exactly on the margin: the partition is
            # not settled yet, and a large dense solve would only waste time
            return None
        theta = base.copy()
        if idx.size:
            Xm, ym = X[idx], y[idx]
            gram = (_rows_gram(Xm) + 1.0) * np.outer(ym, ym)   # rows y_i (x_i, 1), with bias
            rhs = 1.0 - ym * (Xm @ base[:d] + base[d])
            # least squares, not solve: repeated poison points make the system singular
            sol = _solve_psd(gram, rhs) if is_sparse(X) else \
                scipy.linalg.lstsq(gram, rhs, lapack_driver="gelsy", check_finite=False)[0]
            low, high = sol < 0, sol > U[idx]
            a[idx] = np.clip(sol, 0.0, U[idx])
            if low.any() or high.any():
                free[idx[low | high]] = False
                upper[idx[high]] = True
                shift(idx[high], 1.0)
                continue
            ay = a[idx] * ym
            theta[:d] += Xm.T @ ay
            theta[d] += ay.sum()
        # the free set is consistent; bring in the points on the wrong side of the margin
        viol = 1.0 - y * (X @ theta[:d] + theta[d])       # > 0: inside the margin
        viol = np.where(upper, -viol, np.where(free | (U == 0), 0.0, viol))
        worst = np.argsort(-viol)[:add]
        worst = worst[viol[worst] > 1e-12]
        if worst.size == 0:
            break
        shift(worst[upper[worst]], -1.0)
        free[worst], upper[worst] = True, False
    theta = _theta_of(X, y, a)          # afresh: no drift from the incremental updates
    primal, dual = _svm_primal_dual(X, y, U, a, theta)
    return a, theta, primal, dual


def _train_cs(X, y, reg, s, warm_start, tol, max_epochs, seed):
    from ._kernels import cs_dcd, cs_dcd_csr

    n, d = X.shape
    k = int(y.max()) + 1
    if warm_start is not None and warm_start.dual_ is not None:
        k = max(k, warm_start.dual_[0].shape[1])
    W = s.sum()
    U = s / (W * reg)
    alpha = _warm_dual(warm_start, n, W, (n, k), reg)
    alpha[np.arange(n), y] = np.minimum(alpha[np.arange(n), y], U)
    Xe = _kernel_rows(X)
    Wt = np.zeros((k, d + 1))
    Wt[:, d] = alpha.sum(axis=0)
    if is_sparse(Xe):
        Wt[:, :d] = (Xe.T @ alpha).T
        epochs, primal, dual = cs_dcd_csr(Xe.data, Xe.indices, Xe.indptr, d, y.astype(np.int64),
                                          U, alpha, Wt, tol, max_epochs, seed)
    else:
        Wt[:, :d] = alpha.T @ Xe
        epochs, primal, dual = cs_dcd(Xe, y.astype(np.int64), U, alpha, Wt, tol, max_epochs,
                                      seed)
    if not primal - dual <= tol * max(primal, 1e-12) * 1.0001:
        raise SolverFailure(f"Crammer-Singer coordinate descent stopped after {epochs} epochs "
                            f"with relative gap {(primal - dual) / primal:.2e}",
                            solver="dcd", status="max_epochs")
    return LinearModel(Wt[:, :d].copy(), Wt[:, d].copy(), "multisvm", reg,
                       objective_=reg * primal, gap_=reg * (primal - dual), n_iter_=int(epochs),
                       method_="dcd", dual_=(alpha, W))


def _train_logreg(X, y, reg, s, warm_start, tol, loss=None):
    """Newton's method with conjugate-gradient steps and backtracking (strongly convex,
    smooth) for the logistic loss, or another smooth margin ``loss`` with a (generalised)
    second derivative: the squared hinge (``l2svm``), where the generalised Newton
    method on the piecewise quadratic objective ends on the exact active set."""
    n, d = X.shape
    W = s.sum()
    c = s / W
    yf = y.astype(float)
    theta = np.zeros(d + 1) if warm_start is None else np.append(warm_start.w, warm_start.b)
    name = "logreg" if loss is None else "l2svm"
    # the logistic curvature stays _newton_step's own expression (bit-identical results)
    curvature = None if loss is None else loss.second_derivative
    loss = Logistic() if loss is None else loss

    def fgrad(th):
        m = yf * (X @ th[:d] + th[d])
        f = c @ loss.value(m) + 0.5 * reg * th @ th
        g = c * yf * loss.derivative(m)
        grad = np.append(X.T @ g, g.sum()) + reg * th
        return f, grad, m

    f, grad, m = fgrad(theta)
    it = 0
    # |grad|^2 / (2 C_R) bounds f - f* by strong convexity; stop when it is below tol*f.
    while grad @ grad / (2 * reg) > tol * max(f, 1e-12) and it < 200:
        t, step, f_new, g_new, m_new = _newton_step(X, c, m, f, grad, theta, fgrad, reg,
                                                    curvature)
        theta, f, grad, m = theta + t * step, f_new, g_new, m_new
        it += 1
    bound = grad @ grad / (2 * reg)
    if bound > tol * max(f, 1e-12) * 10:
        raise SolverFailure(f"Newton's method stopped with gradient bound {bound:.2e}",
                            solver="newton", status="max_iter")
    return LinearModel(theta[:d].copy(), float(theta[d]), name, reg, objective_=float(f),
                       gap_=float(bound), n_iter_=it, method_="newton-cg")


# ------------------------------------------------------------ free intercept
#: The SMO solver keeps the Gram matrix X X^T when it has at most this many entries
#: (160 MB) ...
GRAM_MAX_ENTRIES = 20_000_000
#: ... and above that, solves subproblems on working sets of at most this many rows.
ACTIVE_MAX = 2000
#: Rounds of SMO (each one tighter, or on a new working set) before giving up.
MAX_SMO_ROUNDS = 500


#: The last Gram matrix of the free-intercept SMO and its rows: MTP retrains on the same
#: rows plus appended poison rows, so a warm-started training reuses it and computes only
#: the new rows (on mnist17 the full product was 3/4 of a warm retraining's time).  One
#: entry (at most GRAM_MAX_ENTRIES values), replaced on every use; never modified in place.
_GRAM_CACHE: dict = {}


def _gram(X, warm):
    """``X X^T``, reusing the cached one when ``X`` extends the cached rows (warm starts)."""
    n = X.shape[0]
    entry = _GRAM_CACHE.get("last") if warm else None
    K = None
    if entry is not None:
        Xc, Kc = entry
        m = Xc.shape[0]
        if m <= n and Xc.shape[1] == X.shape[1] and _same_rows(Xc, X[:m]):
            K = np.empty((n, n))
            K[:m, :m] = Kc
            if n > m:
                B = _dense(X[m:] @ X.T)
                K[m:, :] = B
                K[:m, m:] = B[:, :m].T
    if K is None:
        K = _rows_gram(X)
    _GRAM_CACHE["last"] = (X.copy(), K)
    return K


def _same_rows(A, B) -> bool:
    if is_sparse(A) or is_sparse(B):
        return (is_sparse(A) and is_sparse(B) and A.shape == B.shape
                and (A != B).nnz == 0)
    return np.array_equal(A, B)


def _working_set(f, b, y, U, alpha):
    """Rows of the next subproblem: every free row, then per class the rows that violate
    the optimality conditions most at ``(w, b)`` (``f = X w``, ``b`` the exact best
    intercept), then those nearest the margin -- both classes, so that pairs can move."""
    v = 1.0 - y * (f + b)                                     # > 0: inside the margin
    viol = np.where(alpha <= 0, np.maximum(v, 0.0),
                    np.where(alpha >= U, np.maximum(-v, 0.0), np.abs(v)))
    free = (alpha > 0) & (alpha < U)
    chosen = [np.flatnonzero(free)]
    room = max(ACTIVE_MAX - chosen[0].size, 200)
    for c in (1.0, -1.0):
        idx = np.flatnonzero((y == c) & ~free & (U > 0))
        order = np.lexsort((np.abs(v[idx]), -viol[idx]))     # worst first, then nearest
        chosen.append(idx[order[: room // 2]])
    return np.sort(np.concatenate(chosen))


def _warm_scale(warm_start, W, reg):
    """Factor turning the previous dual variables into the new problem's: the dual box is
    ``U_i = s_i / (W C_R)``, so the factor is ``(W_old C_R_old) / (W C_R)`` (``W_old / W``
    when ``C_R`` is unchanged; under scikit-learn's C-on-the-sum ``W C_R = 1/C`` and the
    factor is 1)."""
    old_alpha, W_old = warm_start.dual_
    reg_old = getattr(warm_start, "reg", reg)
    if not np.isfinite(reg_old) or reg_old == reg:
        return W_old / W
    return (W_old * reg_old) / (W * reg)


def _balance(alpha, y):
    """Restore ``sum alpha_i y_i = 0`` by scaling down the heavier class's variables
    (stays inside ``[0, U]``): a warm start from another problem may violate it."""
    pos, neg = alpha[y > 0].sum(), alpha[y < 0].sum()
    if pos > neg:
        alpha[y > 0] *= neg / pos
    elif neg > pos:
        alpha[y < 0] *= pos / neg
    return alpha


def _svm_free_primal_dual(X, y, U, alpha):
    """``(primal, dual, w, b)`` of the free-intercept SVM in the ``U`` scaling.

    primal: ``1/2|w|^2 + sum U_i hinge_i`` at ``w = w(alpha)`` and the EXACT best
    intercept for that ``w`` (a 1-D piecewise-linear minimisation); dual:
    ``sum alpha - 1/2|w|^2``, less ``|b| |sum alpha_i y_i|`` (the rounding residue of the
    equality constraint; weak duality then holds for this ``b``).
    """
    from ._kernels import hinge_best_intercept

    nz = np.flatnonzero(alpha)
    w = X[nz].T @ (alpha[nz] * y[nz])
    f = X @ w
    b, loss = hinge_best_intercept(f, y, U)
    sq = float(w @ w)
    resid = abs(float(alpha @ y))
    return 0.5 * sq + loss, float(alpha.sum()) - 0.5 * sq - abs(b) * resid, w, float(b)


def _train_svm_free(X, y, reg, s, warm_start, tol, max_epochs):
    """Binary hinge SVM with an unpenalised intercept, exactly.

    Primal (divided by ``C_R``): ``P(w, b) = 1/2|w|^2 + sum_i U_i max(0, 1 - y_i(w.x_i + b))``
    with ``U_i = s_i / (W C_R)``; dual: ``max sum alpha - 1/2|sum alpha_i y_i x_i|^2`` over
    ``0 <= alpha <= U`` AND ``sum alpha_i y_i = 0`` (the intercept's stationarity).  SMO
    (two coordinates at a time, which keeps the equality) in rounds of decreasing KKT
    tolerance; after each round the active-set polish (exact solve of the support-vector
    partition with the bordered system) is tried.  Stops when ``P - D <= tol * P``.
    """
    from ._kernels import svm_smo

    n, d = X.shape
    W = s.sum()
    U = s / (W * reg)
    yf = y.astype(float)
    Xe = _kernel_rows(X)
    sparse = is_sparse(Xe)
    alpha = _balance(np.clip(_warm_dual(warm_start, n, W, n, reg), 0.0, U), yf)
    # with the Gram matrix a step costs O(n) instead of O(n d): measured on mnist17
    # (n = 700, d = 784) it pays for itself even after a warm start (5 MTP-like retrainings:
    # 0.25 s with it, 1.5 s computing two columns per step; less now that warm starts
    # reuse it, _gram)
    use_gram = n * n <= GRAM_MAX_ENTRIES
    # larger sets: decomposition (Joachims 1999; libsvm's shrinking) -- each round solves the
    # subproblem on a working set of at most ACTIVE_MAX rows (the free ones and, per class,
    # the worst violators of the optimality conditions at the exact best intercept, then
    # the rows nearest the margin) with its own Gram matrix, the other variables fixed.
    # Two columns of the full X X^T per step would read all of X twice: measured on
    # fmnist-sneaker-boot (12000 x 784), a cold SVC fit did not finish in 300 s that way.
    K = _gram(Xe, warm_start is not None) if use_gram else None
    kdiag = _row_norms_sq(Xe)
    steps, rounds, eps = 0, 0, np.inf
    while True:
        primal, dual, w, b = _svm_free_primal_dual(Xe, yf, U, alpha)
        if primal - dual <= tol * max(primal, 1e-12):
            break
        if rounds > 0:
            polished = _polish_svm_free(Xe, yf, U, alpha)
            if polished is not None and polished[1] - polished[2] <= tol * max(polished[1], 1e-12):
                alpha, primal, dual, w, b = polished[0], *polished[1:]
                break
        if rounds == IPM_RESCUE_AFTER // 20:
            rescued = _interior_point_start(Xe, yf, U, True, tol,
                                            floor=1e-3 * (primal - dual) / max(primal, 1e-12))
            if rescued is not None:
                alpha, primal, dual, w, b = rescued
                break
        if steps >= max_epochs * max(n, 1) or rounds >= MAX_SMO_ROUNDS:
            rescued = _interior_point_start(Xe, yf, U, free_intercept=True, tol=tol)
            if rescued is not None:
                alpha, primal, dual, w, b = rescued
                return LinearModel(w.copy(), b, "svm", reg, False, objective_=reg * primal,
                                   gap_=max(reg * (primal - dual), 0.0), n_iter_=int(steps),
                                   method_="smo+ipm", dual_=(alpha, W))
            raise SolverFailure(f"SMO stopped after {steps} steps ({rounds} rounds) with "
                                f"relative gap {(primal - dual) / primal:.2e} > {tol:.0e}",
                                solver="smo", status="max_iter")
        f = Xe @ w                          # afresh each round: no drift
        rows = slice(None) if use_gram else _working_set(f, b, yf, U, alpha)
        Xa = Xe if use_gram else _kernel_rows(Xe[rows])
        Ka = K if use_gram else _rows_gram(Xa)
        a_rows = alpha[rows].copy()
        G = yf[rows] * f[rows] - 1.0
        m = a_rows.size
        # the kernel's own update of w is not used here (w is recomputed from alpha each
        # round); sparse rows pass no columns, so it costs nothing and densifies nothing
        Xk, wk = (np.empty((m, 0)), np.empty(0)) if sparse else (Xa, w.copy())
        it, viol = svm_smo(Xk, yf[rows], U[rows], a_rows, G, wk, Ka, kdiag[rows],
                           eps if np.isfinite(eps) else 1e-3, max(10 * m, 10000))
        alpha[rows] = np.clip(a_rows, 0.0, U[rows])
        steps += it
        # next round: ten times tighter than this one reached (at least)
        eps = 0.1 * min(viol, eps) if np.isfinite(eps) else 0.1 * viol
        eps = max(eps, 1e-15)
        rounds += 1
    gap = max(reg * (primal - dual), 0.0)
    return LinearModel(w.copy(), b, "svm", reg, False, objective_=reg * primal, gap_=gap,
                       n_iter_=int(steps), method_="smo", dual_=(alpha, W))


def _polish_svm_free(X, y, U, alpha, rel=1e-9, rounds=12, add=16):
    """The active-set step of :func:`_polish_svm` for a free intercept.

    On the free set M the optimality conditions are ``y_i (w.x_i + b) = 1`` with
    ``w = sum_L U_i y_i x_i + sum_M alpha_i y_i x_i`` and ``sum_M alpha_i y_i =
    -sum_L U_i y_i``: a bordered linear system in ``(alpha_M, b)``.  Returns
    ``(alpha, primal, dual, w, b)`` or None; the caller accepts it only on a proven gap.
    """
    upper = alpha >= U * (1 - rel)
    free = (alpha > 0) & ~upper
    for _ in range(rounds):
        a = np.where(upper, U, 0.0)
        idx = np.flatnonzero(free)
        if idx.size > 2 * (X.shape[1] + 1) + add:
            return None
        wl = X[upper].T @ (U[upper] * y[upper])
        eq = -float(U[upper] @ y[upper])
        if idx.size:
            Xm, ym = X[idx], y[idx]
            m = idx.size
            A = np.zeros((m + 1, m + 1))
            A[:m, :m] = _rows_gram(Xm) * np.outer(ym, ym)
            A[:m, m] = ym
            A[m, :m] = ym
            rhs = np.append(1.0 - ym * (Xm @ wl), eq)
            sol = scipy.linalg.lstsq(A, rhs, lapack_driver="gelsy", check_finite=False)[0]
            am = sol[:m]
            low, high = am < 0, am > U[idx]
            a[idx] = np.clip(am, 0.0, U[idx])
            if low.any() or high.any():
                free[idx[low | high]] = False
                upper[idx[high]] = True
                continue
        elif abs(eq) > 1e-12 * max(U.sum(), 1e-300):
            return None
        w = X.T @ (a * y)
        _, _, _, b = _svm_free_primal_dual(X, y, U, a)
        viol = 1.0 - y * (X @ w + b)
        viol = np.where(upper, -viol, np.where(free | (U == 0), 0.0, viol))
        worst = np.argsort(-viol)[:add]
        worst = worst[viol[worst] > 1e-12]
        if worst.size == 0:
            break
        free[worst], upper[worst] = True, False
    if abs(float(a @ y)) > 1e-9 * max(float(a.sum()), 1e-300):
        return None                     # the system was inconsistent: not dual feasible
    primal, dual, w, b = _svm_free_primal_dual(X, y, U, a)
    return a, primal, dual, w, b


#: The interior-point rescue of :func:`_interior_point_start` is tried on at most this
#: many rows (its dual QP holds the n x d data matrix once).
IPM_RESCUE_MAX_ROWS = 20000
#: ... first tried (accepting only a gap within ``tol``) after this many epochs of slow
#: coordinate descent, or SMO rounds: well-scaled data never got there when measured
#: (every bundled set, the MTP / KKT / min-max retrainings of the tests).
IPM_RESCUE_AFTER = 1000


def _interior_point_start(X, y, U, free_intercept, tol, floor=STALL_ACCEPT):
    """Rescue of the exact SVM trainers when coordinate descent / SMO cannot converge.

    Features on very different scales from the intercept's constant 1 (a user's raw CSV:
    wine's proline is ~1000, its other columns ~1) make the dual badly conditioned, and
    coordinate steps then crawl: on two-class wine both fast methods stopped at their
    iteration limits with relative gaps of 1e-1 to 1e-6.  An interior-point solve of the
    dual QP (through :func:`convexpoison.solvers.solve`) does not care about the scaling;
    its support-vector partition (bounds snapped within 1e-6 relative) starts the same
    exact active-set polish as the fast methods, and the result is accepted only on a
    duality gap proven from ``X`` itself: within ``tol``, or within ``floor`` -- the
    floating-point floor of such data, about 1e-9 relative on wine -- with a warning and
    the true gap in ``gap_``.  Tried after :data:`IPM_RESCUE_AFTER` epochs (``floor``: a
    thousandth of the gap coordinate descent has reached, so it is taken only where that
    is crawling) and at the iteration limit (``floor`` = :data:`STALL_ACCEPT`).  Returns
    the polish's tuple or None.
    """
    import cvxpy as cp

    from . import solvers

    n, d = X.shape
    if n > IPM_RESCUE_MAX_ROWS:
        return None
    a = cp.Variable(n)
    if free_intercept:
        Xe = X
    elif is_sparse(X):          # sparse text: the constant column joins the CSR matrix
        import scipy.sparse as sp

        Xe = sp.hstack([X, np.ones((n, 1))], format="csr")
    else:
        Xe = np.hstack([X, np.ones((n, 1))])
    cons = [a >= 0, a <= U] + ([y @ a == 0] if free_intercept else [])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Xe.T @ cp.multiply(y, a)) - cp.sum(a)),
                      cons)
    try:
        solvers.solve(prob, "QP")
    except SolverFailure:
        return None
    alpha = np.clip(np.asarray(a.value, float), 0.0, U)
    alpha = np.where(alpha >= U * (1 - 1e-6), U, np.where(alpha <= U * 1e-6, 0.0, alpha))
    if free_intercept:
        out = _polish_svm_free(X, y, U, _balance(alpha, y))
        primal, dual = (None, None) if out is None else out[1:3]
    else:
        out = _polish_svm(X, y, U, alpha)
        primal, dual = (None, None) if out is None else out[2:4]
    if out is None:
        return None
    rel = (primal - dual) / max(primal, 1e-12)
    if rel <= tol * 1.0001:
        return out
    if rel <= min(floor, STALL_ACCEPT):
        warnings.warn(f"training: the features' scale limits the proven relative duality gap "
                      f"to {rel:.1e} (asked {tol:.0e}); the model is returned with its proven "
                      "gap_ (scaling the features, e.g. to [0, 1], avoids this)",
                      RuntimeWarning, stacklevel=4)
        return out
    return None


def _logreg_free_dual(X, y, c, reg, p, b):
    """The Fenchel dual of logistic regression with a free intercept at the point
    ``a = p`` made feasible: ``D(a) = -sum c_i H(a_i) - |sum c_i a_i y_i x_i|^2 / (2 C_R)``
    over ``a in [0, 1]^n`` with ``sum c_i a_i y_i = 0`` (H: the negative binary entropy),
    a lower bound on the primal optimum (weak duality)."""
    from scipy.special import xlogy

    a = p.copy()
    _balance_weighted(a, y, c)
    v = X.T @ (c * a * y)
    ent = c @ (xlogy(a, a) + xlogy(1 - a, 1 - a))
    resid = abs(float((c * a) @ y))
    return float(-ent - v @ v / (2 * reg)) - abs(b) * resid


def _balance_weighted(a, y, c):
    pos, neg = (c * a)[y > 0].sum(), (c * a)[y < 0].sum()
    if pos > neg:
        a[y > 0] *= neg / pos
    elif neg > pos:
        a[y < 0] *= pos / neg


def _train_logreg_free(X, y, reg, s, warm_start, tol):
    """Logistic regression with an unpenalised intercept: Newton-CG with backtracking on
    ``(1/W) sum s_i log(1 + exp(-m_i)) + C_R/2 |w|^2``.  The objective is not strongly
    convex in ``b``, so the stopping bound is a duality gap (:func:`_logreg_free_dual`)."""
    from scipy.special import expit

    n, d = X.shape
    W = s.sum()
    c = s / W
    yf = y.astype(float)
    theta = np.zeros(d + 1) if warm_start is None else np.append(warm_start.w, warm_start.b)
    pen = np.append(np.full(d, reg), 0.0)

    def fgrad(th):
        m = yf * (X @ th[:d] + th[d])
        f = c @ np.logaddexp(0.0, -m) + 0.5 * reg * th[:d] @ th[:d]
        g = -c * yf * expit(-m)
        grad = np.append(X.T @ g, g.sum()) + pen * th
        return f, grad, m

    f, grad, m = fgrad(theta)
    it = 0
    while it < 200:
        p = expit(-m)
        gap = f - _logreg_free_dual(X, yf, c, reg, p, theta[d])
        if gap <= tol * max(f, 1e-12):
            break
        t, step, f_new, g_new, m_new = _newton_step(X, c, m, f, grad, theta, fgrad, pen)
        if f_new > f:                   # no descent left: rounding floor
            break
        theta, f, grad, m = theta + t * step, f_new, g_new, m_new
        it += 1
    gap = f - _logreg_free_dual(X, yf, c, reg, expit(-m), theta[d])
    if gap > tol * max(f, 1e-12) * 10:
        raise SolverFailure(f"Newton's method stopped with duality gap {gap:.2e}",
                            solver="newton", status="max_iter")
    return LinearModel(theta[:d].copy(), float(theta[d]), "logreg", reg, False,
                       objective_=float(f), gap_=float(max(gap, 0.0)), n_iter_=it,
                       method_="newton-cg")


def _newton_step(X, c, m, f, grad, theta, fgrad, pen, curvature=None):
    """One damped Newton step of logistic regression: the Newton direction by conjugate
    gradients on the Hessian ``X~^T diag(c p (1-p)) X~ + diag(pen)`` (``X~ = (X, 1)``;
    ``pen``: ``C_R``, or a vector with 0 for a free bias), then backtracking to Armijo's
    condition.  Returns ``(t, step, f, grad, margins)`` at ``theta + t step``."""
    from scipy.sparse.linalg import LinearOperator, cg
    from scipy.special import expit

    d = X.shape[1]
    if curvature is None:               # the logistic loss's p (1 - p)
        p = expit(-m)
        h = c * p * (1 - p)
    else:
        h = c * curvature(m)

    def hv(v):
        u = h * (X @ v[:d] + v[d])
        return np.append(X.T @ u, u.sum()) + pen * v

    H = LinearOperator((d + 1, d + 1), matvec=hv, dtype=float)
    step, _ = cg(H, -grad, rtol=1e-12, maxiter=500)
    t = 1.0
    while True:
        f_new, g_new, m_new = fgrad(theta + t * step)
        if f_new <= f + 1e-4 * t * (grad @ step) or t < 1e-12:
            return t, step, f_new, g_new, m_new
        t *= 0.5


def _train_cvxpy(X, y, model, reg, s, solver, penalize_intercept=True):
    """The same objective as a conic program (independent check of the fast methods)."""
    import cvxpy as cp

    from . import solvers

    n, d = X.shape
    c = s / s.sum()
    if model == "multisvm":
        k = int(y.max()) + 1
        Wv, bv = cp.Variable((k, d)), cp.Variable(k)
        # The scores get their own variable Z (one equality per score) and X enters as a
        # sparse matrix only once: writing X @ W.T inside both terms of the loss would
        # duplicate the k*nnz(X) coefficient block and makes mnist10 intractable.
        import scipy.sparse as sp

        Z = cp.Variable((n, k))
        scores = [Z == sp.csr_matrix(X) @ Wv.T + np.ones((n, 1)) @ cp.reshape(bv, (1, k), order="C")]
        delta = np.ones((n, k))
        delta[np.arange(n), y] = 0.0
        onehot = 1.0 - delta
        loss = cp.max(Z + delta, axis=1) - cp.sum(cp.multiply(Z, onehot), axis=1)
        obj = c @ loss + reg / 2 * (cp.sum_squares(Wv) + cp.sum_squares(bv))
        prob = cp.Problem(cp.Minimize(obj), scores)
        info = solvers.solve(prob, "QP", solver=solver)
        return LinearModel(Wv.value.copy(), bv.value.copy(), model, reg,
                           objective_=info.value, gap_=float("nan"), method_=info.solver)
    w, b = cp.Variable(d), cp.Variable()
    margin = cp.multiply(y.astype(float), X @ w + b)
    loss = {"svm": Hinge, "logreg": Logistic, "l2svm": SquaredHinge}[model]().cvx(margin)
    if penalize_intercept:
        obj = c @ loss + reg / 2 * (cp.sum_squares(w) + cp.square(b))
    else:
        obj = c @ loss + reg / 2 * cp.sum_squares(w)
    prob = cp.Problem(cp.Minimize(obj))
    info = solvers.solve(prob, "EXP" if model == "logreg" else "QP", solver=solver)
    return LinearModel(w.value.copy(), float(b.value), model, reg, bool(penalize_intercept),
                       objective_=info.value, gap_=float("nan"), method_=info.solver)


# ------------------------------------------------------ choosing C_R by cross-validation
#: The C_R grid of the cross-validation that chose the bundled datasets' defaults
#: (``data/choose_reg.py``, ``data/reg.json``) and chooses a CSV's (``datasets.from_csv``).
#: Values below 1e-3 make exact training much slower (dual coordinate descent needs
#: thousands of epochs) and changed the CV error by under one point on every bundled set.
REG_GRID = (1e-3, 3e-3, 0.01, 0.03, 0.09)
#: Seed of the (shuffled, stratified) folds.
CV_SEED = 0
#: Differences in CV error below half a percentage point are not resolved by the bundled
#: test sets; the rule treats them as ties (and prefers the more regularised, faster model).
CV_RESOLUTION = 0.005


def cv_errors(X, y, model, reg, folds=5, train_fn=None, **train_kw) -> np.ndarray:
    """Per-fold held-out 0/1 error of ``train(X[fold], y[fold], model, reg)`` over
    ``folds`` stratified, shuffled folds (seed :data:`CV_SEED`)."""
    from sklearn.model_selection import StratifiedKFold

    train_fn = train if train_fn is None else train_fn
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=CV_SEED)
    errs = []
    for tr, va in skf.split(X, y):
        m = train_fn(X[tr], y[tr], model=model, reg=reg, **train_kw)
        errs.append(float(np.mean(m.predict(X[va]) != y[va])))
    return np.array(errs)


def one_se_choice(cv: dict) -> float:
    """The one-standard-error rule: the LARGEST C_R whose mean CV error is at most the
    minimum mean error plus ``max(SE of the minimiser, CV_RESOLUTION)`` (larger C_R: a
    simpler model).  ``cv``: C_R -> (mean error, standard error)."""
    best = min(cv, key=lambda c: (cv[c][0], c))
    limit = cv[best][0] + max(cv[best][1], CV_RESOLUTION)
    return max(c for c in cv if cv[c][0] <= limit + 1e-12)


def choose_reg(X, y, model="svm", grid=REG_GRID, folds=5, train_fn=None, progress=None):
    """Choose ``C_R`` for ``(X, y)`` by cross-validation (the procedure that chose the
    bundled datasets' defaults, data/README.md): ``folds``-fold CV error of each C_R in
    ``grid``, then :func:`one_se_choice`.  Folds are reduced to the smallest class's size
    when that is below ``folds`` (at least 2).  Returns ``(chosen, {C_R: (mean, se)})``."""
    X = check_X(X, accept_sparse=True)
    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if counts.size < 2 or counts.min() < 2:
        raise InputError("y: cross-validation needs at least two rows of every class")
    folds = int(min(folds, counts.min()))
    cv = {}
    for c in grid:
        e = cv_errors(X, y, model, c, folds, train_fn)
        cv[float(c)] = (float(e.mean()), float(e.std(ddof=1) / np.sqrt(len(e))))
        if progress is not None:
            progress(c, cv[float(c)])
    return one_se_choice(cv), cv


# ------------------------------------------------- the paper's AdaGrad training
#: Koh et al. (2021), Table 1 caption and Appendix "Multi-class training": the 10-class
#: MNIST defender is Crammer--Singer trained by AdaGrad with batch 20, step 0.02, 3 passes
#: and no explicit regularisation.
ADAGRAD_ETA, ADAGRAD_BATCH, ADAGRAD_PASSES = 0.02, 20, 3
#: AdaGrad's ``delta`` (the denominator is ``sqrt(sum g^2) + delta``), the min-max
#: learner's own (attacks/minmax.py).
ADAGRAD_DELTA = 1e-12


def expand_copies(sample_weight, n) -> np.ndarray:
    """Row indices with row ``i`` repeated ``s_i`` times (integer copies only): what
    "train on ``Dc ∪ Dp``" means for a stochastic trainer, which sees each copy."""
    s = check_weights(sample_weight, n)
    if np.any(s != np.round(s)):
        raise InputError("sample_weight: the AdaGrad defender trains on copies; it needs "
                         "integer weights")
    return np.repeat(np.arange(n), s.astype(np.int64))


def train_adagrad_multisvm(X, y, sample_weight=None, *, eta=ADAGRAD_ETA, batch=ADAGRAD_BATCH,
                           passes=ADAGRAD_PASSES, seed=0, n_classes=None) -> LinearModel:
    """Crammer--Singer by minibatch AdaGrad with no explicit regulariser (Koh et al. 2021,
    section 5.7 and Table 1: batch 20, ``eta`` 0.02, 3 passes).

    From ``W = 0, b = 0``; each pass visits the rows (row ``i`` repeated ``s_i`` times,
    :func:`expand_copies`) in the order ``np.random.default_rng(seed).permutation`` (one
    permutation per pass from the same generator), in consecutive batches of ``batch``
    (the last one shorter); each step takes the batch's mean Crammer--Singer subgradient
    ``g`` (``+x`` on the row of ``k* = argmax_k 1[k != y] + s_k`` (first maximiser) and
    ``-x`` on row ``y`` when ``k* != y``; ``+-1`` on ``b``) and moves every coordinate by
    ``-eta g / (sqrt(G) + 1e-12)``, ``G`` the running sum of its squared gradients
    (Duchi et al.'s diagonal AdaGrad).  Deterministic given ``seed``.  Not the minimiser
    of any objective: ``gap_`` is NaN and ``reg`` 0 (no regulariser); ``objective_`` is the
    mean training loss of the result.
    """
    X = check_X(X, accept_sparse=True)
    n, d = X.shape
    y = check_y(y, n, binary=False).astype(np.int64)
    order = expand_copies(sample_weight, n)
    if order.size == 0:
        raise InputError("sample_weight: no row has a positive weight")
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    Xr = _as_rows(X)
    W = np.zeros((k, d))
    b = np.zeros(k)
    GW = np.zeros((k, d))
    Gb = np.zeros(k)
    rng = np.random.default_rng(seed)
    m = order.size
    steps = 0
    for _ in range(int(passes)):
        perm = order[rng.permutation(m)]
        for start in range(0, m, int(batch)):
            idx = perm[start:start + int(batch)]
            gW, gb = _cs_subgradient(W, b, Xr[idx], y[idx])
            GW += gW * gW
            Gb += gb * gb
            W -= eta * gW / (np.sqrt(GW) + ADAGRAD_DELTA)
            b -= eta * gb / (np.sqrt(Gb) + ADAGRAD_DELTA)
            steps += 1
    model = LinearModel(W, b, "multisvm", 0.0, bias_regularized=False, n_iter_=steps,
                        method_="adagrad")
    s = check_weights(sample_weight, n)
    model.objective_ = float(s @ model.losses(X, y) / s.sum())
    return model


def _cs_subgradient(W, b, Xb, yb):
    """The mean Crammer--Singer subgradient ``(gW, gb)`` of rows ``(Xb, yb)`` at ``(W, b)``."""
    nb = Xb.shape[0]
    rows = np.arange(nb)
    S = np.asarray(Xb @ W.T) + b
    S[rows, yb] -= 1.0                      # argmax_k 1[k != y] + s_k, shifted by -1
    kstar = np.argmax(S, axis=1)
    act = kstar != yb
    A = np.zeros_like(S)
    A[rows[act], kstar[act]] = 1.0
    A[rows[act], yb[act]] = -1.0
    gW = (np.asarray(Xb.T @ A).T if is_sparse(Xb) else A.T @ Xb) / nb
    return gW, A.sum(axis=0) / nb
