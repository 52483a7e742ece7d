"""Compiled inner loops of the exact training methods (numba).

These are the only loops in the package that Python would make too slow: MTP retrains
the defender's model thousands of times (docs/training.md), so each retraining is a dual
coordinate descent resumed from the previous dual variables.  Both solvers stop on the
*duality gap*, a proven bound on the distance to the optimum of the objective.

Bias regularisation: the bias is appended to ``w`` as a feature of constant value 1 and
regularised with it, ``R(theta) = 1/2 (|w|^2 + b^2)`` -- the convention of liblinear and
of Suya et al.'s code (docs/training.md).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def _svm_primal_dual(X, y, U, alpha, theta):
    """Primal ``1/2|theta|^2 + sum U_i hinge_i`` and dual ``sum alpha - 1/2|theta|^2``."""
    n, d = X.shape
    sq = 0.0
    for j in range(d + 1):
        sq += theta[j] * theta[j]
    loss = 0.0
    asum = 0.0
    for i in range(n):
        s = theta[d]
        for j in range(d):
            s += theta[j] * X[i, j]
        m = 1.0 - y[i] * s
        if m > 0.0:
            loss += U[i] * m
        asum += alpha[i]
    return 0.5 * sq + loss, asum - 0.5 * sq


@njit(cache=True)
def _qdiag(X):
    """``|(x_i, 1)|^2`` for every row: the diagonal of the dual's Hessian (bias included)."""
    n, d = X.shape
    qdiag = np.empty(n)
    for i in range(n):
        q = 1.0
        for j in range(d):
            q += X[i, j] * X[i, j]
        qdiag[i] = q
    return qdiag


@njit(cache=True)
def _dcd_update(g, a_old, u, q):
    """The scalar part of a coordinate step: the projected gradient at ``a_old`` (gradient
    ``g``, box ``[0, u]``) and the new value ``a_old - g / q`` clipped to the box."""
    if a_old <= 0.0:
        pg = min(g, 0.0)
    elif a_old >= u:
        pg = max(g, 0.0)
    else:
        pg = g
    if pg == 0.0:
        return 0.0, a_old
    a_new = a_old - g / q
    if a_new < 0.0:
        a_new = 0.0
    elif a_new > u:
        a_new = u
    return pg, a_new


@njit(cache=True)
def _coordinate_step(X, y, U, alpha, theta, qdiag, i):
    """One exact coordinate step on ``alpha_i`` (Hsieh et al. 2008, Algorithm 1): minimise
    the dual in ``alpha_i`` over ``[0, U_i]`` and update ``theta``.  Returns the magnitude of
    the projected gradient before the step (0 when ``alpha_i`` is already optimal)."""
    d = X.shape[1]
    s = theta[d]
    for j in range(d):
        s += theta[j] * X[i, j]
    g = y[i] * s - 1.0
    pg, a_new = _dcd_update(g, alpha[i], U[i], qdiag[i])
    if pg == 0.0:
        return 0.0
    delta = (a_new - alpha[i]) * y[i]
    if delta != 0.0:
        alpha[i] = a_new
        for j in range(d):
            theta[j] += delta * X[i, j]
        theta[d] += delta
    return abs(pg)


@njit(cache=True)
def svm_dcd(X, y, U, alpha, theta, tol, max_epochs, seed):
    """Dual coordinate descent for ``min 1/2|theta|^2 + sum_i U_i max(0, 1 - y_i theta.(x_i,1))``.

    The dual is ``max sum alpha_i - 1/2 |sum alpha_i y_i (x_i, 1)|^2`` over
    ``0 <= alpha_i <= U_i`` (Hsieh et al. 2008).  ``alpha`` and ``theta`` are updated in
    place and must be consistent on entry (``theta = sum alpha_i y_i (x_i, 1)``).
    Stops when ``primal - dual <= tol * max(primal, 1e-12)``.  Returns
    ``(epochs, primal, dual)``.
    """
    n = X.shape[0]
    qdiag = _qdiag(X)
    order = np.arange(n)
    np.random.seed(seed)
    primal, dual = _svm_primal_dual(X, y, U, alpha, theta)
    epoch = 0
    while epoch < max_epochs and primal - dual > tol * max(primal, 1e-12):
        np.random.shuffle(order)
        for k in range(n):
            i = order[k]
            if U[i] == 0.0 and alpha[i] == 0.0:
                continue
            _coordinate_step(X, y, U, alpha, theta, qdiag, i)
        epoch += 1
        primal, dual = _svm_primal_dual(X, y, U, alpha, theta)
    return epoch, primal, dual


@njit(cache=True)
def svm_dcd_active(X, y, U, alpha, theta, qdiag, active, pg_tol, max_sweeps, seed):
    """Dual coordinate descent restricted to the rows ``active`` (shrinking).

    The same coordinate steps as :func:`svm_dcd`, but only over the rows that are free
    (``0 < alpha_i < U_i``) or violate optimality -- liblinear's shrinking (Hsieh et al.
    2008, section 3.2).  After a warm start (MTP appends one poison row) that set holds a
    few hundred of the ``n`` rows, so a sweep costs a fraction of an epoch.  Stops when
    the largest projected-gradient violation met during a sweep is at most ``pg_tol``.
    Returns ``(sweeps, max violation of the last sweep)``.  The caller checks optimality
    on *all* rows (the duality gap) afterwards.
    """
    order = active.copy()
    np.random.seed(seed)
    sweeps = 0
    pgmax = np.inf
    while sweeps < max_sweeps:
        np.random.shuffle(order)
        pgmax = 0.0
        for k in range(order.shape[0]):
            i = order[k]
            if U[i] == 0.0:
                continue
            pg = _coordinate_step(X, y, U, alpha, theta, qdiag, i)
            if pg > pgmax:
                pgmax = pg
        sweeps += 1
        if pgmax <= pg_tol:
            break
    return sweeps, pgmax


@njit(cache=True)
def _cs_loss_row(s, yi, alpha, i, lin):
    """Row ``i``'s Crammer--Singer loss from its scores ``s``, and the running sum ``lin``
    of the dual's linear term with this row's ``alpha_i^m`` (m != y_i) added."""
    best = 0.0
    for m in range(s.shape[0]):
        if m != yi:
            v = 1.0 + s[m] - s[yi]
            if v > best:
                best = v
            lin += alpha[i, m]
    return best, lin


@njit(cache=True)
def _cs_primal_dual(X, y, U, alpha, W):
    """Crammer--Singer primal ``1/2|W|^2 + sum U_i loss_i`` and dual value.

    ``W`` has shape (k, d+1) (last column: bias).  The dual (liblinear's
    Solver_MCSVM_CS) minimises ``f = 1/2|W|^2 + sum_i sum_{m != y_i} alpha_i^m``;
    its optimum is ``-P*``, so the dual bound on the primal is ``-f``.
    """
    n, d = X.shape
    k = W.shape[0]
    sq = 0.0
    for m in range(k):
        for j in range(d + 1):
            sq += W[m, j] * W[m, j]
    loss = 0.0
    lin = 0.0
    s = np.empty(k)
    for i in range(n):
        for m in range(k):
            v = W[m, d]
            for j in range(d):
                v += W[m, j] * X[i, j]
            s[m] = v
        best, lin = _cs_loss_row(s, y[i], alpha, i, lin)
        loss += U[i] * best
    return 0.5 * sq + loss, -(0.5 * sq + lin)


@njit(cache=True)
def _cs_example(B, D, A, Ui, yi, a):
    """The per-example subproblem of Crammer--Singer coordinate descent:
    ``min 1/2 A|a|^2 + B.a`` subject to ``sum a = 0``, ``a <= Ui e_yi``; the solution is
    written to ``a`` (``D``: workspace)."""
    k = B.shape[0]
    for m in range(k):
        D[m] = B[m]
    D[yi] += A * Ui
    Ds = np.sort(D)[::-1]
    beta = Ds[0] - A * Ui
    r = 1
    while r < k and beta < r * Ds[r]:
        beta += Ds[r]
        r += 1
    beta /= r
    for m in range(k):
        cap = Ui if m == yi else 0.0
        a_new = (beta - B[m]) / A
        if a_new > cap:
            a_new = cap
        a[m] = a_new


@njit(cache=True)
def cs_dcd(X, y, U, alpha, W, tol, max_epochs, seed):
    """Dual coordinate descent for the Crammer--Singer multi-class SVM (Keerthi et al. 2008).

    Dual: ``min 1/2 |W|^2 + sum_i sum_{m != y_i} alpha_i^m`` with ``W_m = sum_i alpha_i^m (x_i,1)``,
    ``sum_m alpha_i^m = 0``, ``alpha_i^m <= U_i [m == y_i]``.  ``alpha`` (n, k) and ``W``
    (k, d+1) are updated in place.  Stops on the relative duality gap.
    """
    n, d = X.shape
    k = W.shape[0]
    qdiag = _qdiag(X)
    order = np.arange(n)
    np.random.seed(seed)
    B = np.empty(k)
    D = np.empty(k)
    a = np.empty(k)
    primal, dual = _cs_primal_dual(X, y, U, alpha, W)
    epoch = 0
    while epoch < max_epochs and primal - dual > tol * max(primal, 1e-12):
        np.random.shuffle(order)
        for t in range(n):
            i = order[t]
            yi = y[i]
            if U[i] == 0.0:
                continue
            A = qdiag[i]
            for m in range(k):
                v = W[m, d]
                for j in range(d):
                    v += W[m, j] * X[i, j]
                e = 0.0 if m == yi else 1.0
                B[m] = v + e - A * alpha[i, m]
            _cs_example(B, D, A, U[i], yi, a)
            for m in range(k):
                diff = a[m] - alpha[i, m]
                if diff != 0.0:
                    alpha[i, m] = a[m]
                    for j in range(d):
                        W[m, j] += diff * X[i, j]
                    W[m, d] += diff
        epoch += 1
        primal, dual = _cs_primal_dual(X, y, U, alpha, W)
    return epoch, primal, dual


@njit(cache=True)
def svm_smo(X, y, U, alpha, G, w, K, kdiag, eps, max_iter):
    """SMO for the linear SVM with a FREE (unregularised) intercept.

    Minimises ``f(alpha) = 1/2 |sum_i alpha_i y_i x_i|^2 - sum_i alpha_i`` over
    ``0 <= alpha_i <= U_i`` and ``sum_i alpha_i y_i = 0`` (the equality is the free
    intercept's stationarity condition).  Each step moves one pair ``(i, j)`` along
    ``alpha_i += y_i t, alpha_j -= y_j t`` -- which keeps the equality -- with the
    second-order working-set selection of Fan, Chen & Lin (2005, WSS 2; libsvm).
    ``G_k = y_k w.x_k - 1`` (the gradient) and ``w = sum alpha_i y_i x_i`` are kept up to
    date in place.  ``K`` is the Gram matrix ``X X^T``, ``kdiag`` its diagonal (the
    caller restricts large problems to working sets whose Gram matrix fits).  Stops when
    the maximal violation ``m(alpha) - M(alpha) <= eps`` (libsvm's criterion) or after
    ``max_iter`` steps.
    Returns ``(steps, violation)``.
    """
    n, d = X.shape
    Ki = np.empty(n)
    Kj = np.empty(n)
    it = 0
    viol = np.inf
    while it < max_iter:
        # i: the most violating index in I_up
        gmax = -np.inf
        i = -1
        for t in range(n):
            if y[t] > 0:
                if alpha[t] < U[t]:
                    v = -G[t]
                    if v >= gmax:
                        gmax, i = v, t
            else:
                if alpha[t] > 0.0:
                    v = G[t]
                    if v >= gmax:
                        gmax, i = v, t
        if i < 0:
            viol = 0.0
            break
        for t in range(n):
            Ki[t] = K[t, i]
        # j: in I_low, the largest second-order decrease b^2 / a
        gmin = np.inf
        best = np.inf
        j = -1
        for t in range(n):
            if y[t] > 0:
                ok = alpha[t] > 0.0
            else:
                ok = alpha[t] < U[t]
            if not ok:
                continue
            v = -y[t] * G[t]
            if v < gmin:
                gmin = v
            bdiff = gmax - v
            if bdiff > 0.0:
                a = kdiag[i] + kdiag[t] - 2.0 * Ki[t]
                if a <= 0.0:
                    a = 1e-12
                score = -(bdiff * bdiff) / a
                if score <= best:
                    best, j = score, t
        viol = gmax - gmin
        if viol <= eps or j < 0:
            break
        for t in range(n):
            Kj[t] = K[t, j]
        a = kdiag[i] + kdiag[j] - 2.0 * Ki[j]
        if a <= 0.0:
            a = 1e-12
        b = gmax + y[j] * G[j]
        tstep = b / a
        # the box: alpha_i + y_i t and alpha_j - y_j t stay in [0, U]
        lim_i = U[i] - alpha[i] if y[i] > 0 else alpha[i]
        lim_j = alpha[j] if y[j] > 0 else U[j] - alpha[j]
        tstep = min(tstep, lim_i, lim_j)
        hit_i = tstep == lim_i
        hit_j = tstep == lim_j
        if tstep <= 0.0:
            it += 1
            continue
        # land exactly on a bound that is reached (no drift below 0 or above U)
        if hit_i:
            alpha[i] = U[i] if y[i] > 0 else 0.0
        else:
            alpha[i] += y[i] * tstep
        if hit_j:
            alpha[j] = 0.0 if y[j] > 0 else U[j]
        else:
            alpha[j] -= y[j] * tstep
        for t in range(n):
            G[t] += tstep * y[t] * (Ki[t] - Kj[t])
        for c in range(d):
            w[c] += tstep * (X[i, c] - X[j, c])
        it += 1
    return it, viol


@njit(cache=True)
def hinge_best_intercept(f, y, U):
    """The exact minimiser over ``b`` of ``sum_i U_i max(0, 1 - y_i (f_i + b))``.

    The sum is convex and piecewise linear in ``b`` with a kink at ``b_i = y_i - f_i``;
    its slope rises from ``-sum_{y=+1} U`` to ``sum_{y=-1} U``, by ``U_i`` at each kink.
    The minimiser is the kink where the slope turns non-negative.  Returns
    ``(b, value)``; both classes must carry positive weight.
    """
    n = f.shape[0]
    kinks = np.empty(n)
    slope = 0.0
    for i in range(n):
        kinks[i] = y[i] - f[i]
        if y[i] > 0:
            slope -= U[i]
    order = np.argsort(kinks)
    b = kinks[order[0]] if n else 0.0
    for k in range(n):
        i = order[k]
        slope += U[i]
        if slope >= 0.0:
            b = kinks[i]
            break
    val = 0.0
    for i in range(n):
        m = 1.0 - y[i] * (f[i] + b)
        if m > 0.0:
            val += U[i] * m
    return b, val


# ---------------------------------------------------------------- sparse (CSR) versions
# The same solvers over a CSR matrix (``data``, ``indices``, ``indptr``; ``d`` columns):
# a row's inner product and update touch its stored entries only, so a bag-of-words
# matrix is never densified (an IMDB-shaped 25 000 x 90 000 set would need 17 GB dense).
# The arithmetic is the dense kernels' step by step; only the order of the sums differs.


@njit(cache=True)
def _csr_row_dot(data, indices, indptr, i, theta, d):
    """``theta[:d] . x_i + theta[d]`` (the bias is the constant feature)."""
    s = theta[d]
    for p in range(indptr[i], indptr[i + 1]):
        s += theta[indices[p]] * data[p]
    return s


@njit(cache=True)
def qdiag_csr(data, indptr, n):
    """``|(x_i, 1)|^2`` for every row (see :func:`_qdiag`)."""
    qdiag = np.empty(n)
    for i in range(n):
        q = 1.0
        for p in range(indptr[i], indptr[i + 1]):
            q += data[p] * data[p]
        qdiag[i] = q
    return qdiag


@njit(cache=True)
def _svm_primal_dual_csr(data, indices, indptr, d, y, U, alpha, theta):
    n = y.shape[0]
    sq = 0.0
    for j in range(d + 1):
        sq += theta[j] * theta[j]
    loss = 0.0
    asum = 0.0
    for i in range(n):
        m = 1.0 - y[i] * _csr_row_dot(data, indices, indptr, i, theta, d)
        if m > 0.0:
            loss += U[i] * m
        asum += alpha[i]
    return 0.5 * sq + loss, asum - 0.5 * sq


@njit(cache=True)
def _coordinate_step_csr(data, indices, indptr, d, y, U, alpha, theta, qdiag, i):
    """:func:`_coordinate_step` on row ``i`` of a CSR matrix."""
    g = y[i] * _csr_row_dot(data, indices, indptr, i, theta, d) - 1.0
    pg, a_new = _dcd_update(g, alpha[i], U[i], qdiag[i])
    if pg == 0.0:
        return 0.0
    delta = (a_new - alpha[i]) * y[i]
    if delta != 0.0:
        alpha[i] = a_new
        for p in range(indptr[i], indptr[i + 1]):
            theta[indices[p]] += delta * data[p]
        theta[d] += delta
    return abs(pg)


@njit(cache=True)
def svm_dcd_csr(data, indices, indptr, d, y, U, alpha, theta, tol, max_epochs, seed):
    """:func:`svm_dcd` over a CSR matrix with ``d`` columns."""
    n = y.shape[0]
    qdiag = qdiag_csr(data, indptr, n)
    order = np.arange(n)
    np.random.seed(seed)
    primal, dual = _svm_primal_dual_csr(data, indices, indptr, d, y, U, alpha, theta)
    epoch = 0
    while epoch < max_epochs and primal - dual > tol * max(primal, 1e-12):
        np.random.shuffle(order)
        for k in range(n):
            i = order[k]
            if U[i] == 0.0 and alpha[i] == 0.0:
                continue
            _coordinate_step_csr(data, indices, indptr, d, y, U, alpha, theta, qdiag, i)
        epoch += 1
        primal, dual = _svm_primal_dual_csr(data, indices, indptr, d, y, U, alpha, theta)
    return epoch, primal, dual


@njit(cache=True)
def svm_dcd_active_csr(data, indices, indptr, d, y, U, alpha, theta, qdiag, active, pg_tol,
                       max_sweeps, seed):
    """:func:`svm_dcd_active` over a CSR matrix with ``d`` columns."""
    order = active.copy()
    np.random.seed(seed)
    sweeps = 0
    pgmax = np.inf
    while sweeps < max_sweeps:
        np.random.shuffle(order)
        pgmax = 0.0
        for k in range(order.shape[0]):
            i = order[k]
            if U[i] == 0.0:
                continue
            pg = _coordinate_step_csr(data, indices, indptr, d, y, U, alpha, theta, qdiag, i)
            if pg > pgmax:
                pgmax = pg
        sweeps += 1
        if pgmax <= pg_tol:
            break
    return sweeps, pgmax


@njit(cache=True)
def _cs_scores_csr(data, indices, indptr, d, W, i, s):
    k = W.shape[0]
    for m in range(k):
        s[m] = W[m, d]
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        v = data[p]
        for m in range(k):
            s[m] += W[m, j] * v


@njit(cache=True)
def _cs_primal_dual_csr(data, indices, indptr, d, y, U, alpha, W):
    """:func:`_cs_primal_dual` over a CSR matrix."""
    n = y.shape[0]
    k = W.shape[0]
    sq = 0.0
    for m in range(k):
        for j in range(d + 1):
            sq += W[m, j] * W[m, j]
    loss = 0.0
    lin = 0.0
    s = np.empty(k)
    for i in range(n):
        _cs_scores_csr(data, indices, indptr, d, W, i, s)
        best, lin = _cs_loss_row(s, y[i], alpha, i, lin)
        loss += U[i] * best
    return 0.5 * sq + loss, -(0.5 * sq + lin)


@njit(cache=True)
def cs_dcd_csr(data, indices, indptr, d, y, U, alpha, W, tol, max_epochs, seed):
    """:func:`cs_dcd` (Crammer--Singer dual coordinate descent) over a CSR matrix."""
    n = y.shape[0]
    k = W.shape[0]
    qdiag = qdiag_csr(data, indptr, n)
    order = np.arange(n)
    np.random.seed(seed)
    B = np.empty(k)
    D = np.empty(k)
    a = np.empty(k)
    s = np.empty(k)
    primal, dual = _cs_primal_dual_csr(data, indices, indptr, d, y, U, alpha, W)
    epoch = 0
    while epoch < max_epochs and primal - dual > tol * max(primal, 1e-12):
        np.random.shuffle(order)
        for t in range(n):
            i = order[t]
            yi = y[i]
            if U[i] == 0.0:
                continue
            A = qdiag[i]
            _cs_scores_csr(data, indices, indptr, d, W, i, s)
            for m in range(k):
                e = 0.0 if m == yi else 1.0
                B[m] = s[m] + e - A * alpha[i, m]
            _cs_example(B, D, A, U[i], yi, a)
            for m in range(k):
                diff = a[m] - alpha[i, m]
                if diff != 0.0:
                    alpha[i, m] = a[m]
                    for p in range(indptr[i], indptr[i + 1]):
                        W[m, indices[p]] += diff * data[p]
                    W[m, d] += diff
        epoch += 1
        primal, dual = _cs_primal_dual_csr(data, indices, indptr, d, y, U, alpha, W)
    return epoch, primal, dual
