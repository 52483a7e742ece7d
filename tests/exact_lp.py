"""An exact LP solver in rational arithmetic (fractions.Fraction), for tiny test LPs.

Two-phase primal simplex with Bland's rule (no cycling) on the standard form
``min c.x, A x = b, x >= 0``; :func:`exact_lp_min` first brings a general LP (equalities,
``<=`` rows, bounds, free variables) to that form.  Every operation is exact, so the
optimum it returns is the LP's true optimum for the given (rational) data -- the
reference the floating-point-safe bounds are checked against.
"""
from __future__ import annotations

from fractions import Fraction as Fr

INF = float("inf")


def _simplex(T, basis, ncols):
    """Pivot tableau ``T`` (rows: constraints, last row: reduced costs; last column: rhs)
    to optimality with Bland's rule over the first ``ncols`` columns."""
    m = len(T) - 1
    while True:
        obj = T[-1]
        enter = next((j for j in range(ncols) if obj[j] < 0), None)
        if enter is None:
            return
        best, leave = None, None
        for i in range(m):
            a = T[i][enter]
            if a > 0:
                ratio = T[i][-1] / a
                if best is None or ratio < best or (ratio == best and basis[i] < basis[leave]):
                    best, leave = ratio, i
        if leave is None:
            raise ValueError("unbounded")
        piv = T[leave][enter]
        T[leave] = [v / piv for v in T[leave]]
        for i in range(m + 1):
            if i != leave and T[i][enter] != 0:
                f = T[i][enter]
                row = T[leave]
                T[i] = [a - f * r for a, r in zip(T[i], row)]
        basis[leave] = enter


def standard_min(c, A, b):
    """``min c.x, A x = b, x >= 0`` exactly; ``inf`` when infeasible."""
    m, n = len(A), len(c)
    A = [list(r) for r in A]
    b = list(b)
    for i in range(m):
        if b[i] < 0:
            A[i] = [-v for v in A[i]]
            b[i] = -b[i]
    # phase 1: artificials n..n+m-1
    T = [A[i] + [Fr(int(i == k)) for k in range(m)] + [b[i]] for i in range(m)]
    cost = [Fr(0)] * n + [Fr(1)] * m + [Fr(0)]
    for i in range(m):
        cost = [cv - tv for cv, tv in zip(cost, T[i])]
    T.append(cost)
    basis = list(range(n, n + m))
    _simplex(T, basis, n + m)
    if T[-1][-1] != 0:
        return INF
    # drive artificials out of the basis where possible
    for i in range(m):
        if basis[i] >= n:
            j = next((j for j in range(n) if T[i][j] != 0), None)
            if j is None:
                continue                        # a redundant row
            piv = T[i][j]
            T[i] = [v / piv for v in T[i]]
            for k in range(m + 1):
                if k != i and T[k][j] != 0:
                    f = T[k][j]
                    T[k] = [a - f * r for a, r in zip(T[k], T[i])]
            basis[i] = j
    keep = [i for i in range(m) if basis[i] < n]
    T2 = [T[i][:n] + [T[i][-1]] for i in keep]
    basis = [basis[i] for i in keep]
    obj = [Fr(v) for v in c] + [Fr(0)]
    for i, bi in enumerate(basis):
        if obj[bi] != 0:
            f = obj[bi]
            obj = [a - f * r for a, r in zip(obj, T2[i])]
    T2.append(obj)
    _simplex(T2, basis, n)
    return -T2[-1][-1]


def exact_lp_min(c, lb, ub, A_eq=(), b_eq=(), A_ub=(), b_ub=()):
    """``min c.x, A_eq x = b_eq, A_ub x <= b_ub, lb <= x <= ub`` exactly (entries are
    converted to Fractions; ``lb``/``ub`` entries may be +-inf)."""
    n = len(c)
    # x_j = lb_j + p_j (finite lb), ub_j - p_j (only ub), p_j - q_j (free)
    cols = []          # per original variable: list of (new column, coefficient), offset
    nnew = 0
    for j in range(n):
        if lb[j] != -INF:
            cols.append(([(nnew, Fr(1))], Fr(lb[j])))
            nnew += 1
        elif ub[j] != INF:
            cols.append(([(nnew, Fr(-1))], Fr(ub[j])))
            nnew += 1
        else:
            cols.append(([(nnew, Fr(1)), (nnew + 1, Fr(-1))], Fr(0)))
            nnew += 2
    rows, rhs = [], []

    def add_row(coef, r, slack):
        row = [Fr(0)] * nnew
        const = Fr(0)
        for j, a in enumerate(coef):
            a = Fr(a)
            if a == 0:
                continue
            for k, s in cols[j][0]:
                row[k] += a * s
            const += a * cols[j][1]
        rows.append((row, slack))
        rhs.append(Fr(r) - const)

    for coef, r in zip(A_eq, b_eq):
        add_row(coef, r, False)
    for coef, r in zip(A_ub, b_ub):
        add_row(coef, r, True)
    for j in range(n):                    # both bounds finite: p_j <= ub - lb
        if lb[j] != -INF and ub[j] != INF:
            e = [0] * n
            e[j] = 1
            add_row(e, ub[j], True)
    nslack = sum(1 for _, s in rows if s)
    A, k = [], 0
    for row, s in rows:
        extra = [Fr(0)] * nslack
        if s:
            extra[k] = Fr(1)
            k += 1
        A.append(row + extra)
    cn = [Fr(0)] * (nnew + nslack)
    const = Fr(0)
    for j in range(n):
        for kk, s in cols[j][0]:
            cn[kk] += Fr(c[j]) * s
        const += Fr(c[j]) * cols[j][1]
    v = standard_min(cn, A, rhs)
    return v if v == INF else v + const
