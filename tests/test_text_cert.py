"""Certificates on sparse integer text (scipy.sparse CSR word counts, docs/text.md): the
minimum-poison LP and the certified upper bound give what the dense form of the same data
gives, agree with independent computations (HiGHS on a hand-written LP, exact retraining
on real poison sets), and never densify the clean matrix."""

from _huge import run_limited
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from convexpoison.certificates.lp import induced_distance, lp_lower_bound
from convexpoison.certificates.upper_bound import (
    CertifiedUpperBound, poisoned_training_loss, split_hinge_bound,
)
from convexpoison.domain import Domain
from convexpoison.feasible import make_feasible_set
from convexpoison.training import train

REG = 0.05


def _counts(seed=0, n=150, d=30):
    """Small bag-of-words counts: Poisson (mostly 0) with a planted signal word per class,
    and the domain of fine-foods' kind: integers in [0, the largest training count]."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.3, (n, d)).astype(float)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    X[y > 0, 0] += rng.poisson(1.0, int(np.sum(y > 0)))
    X[y < 0, 1] += rng.poisson(1.0, int(np.sum(y < 0)))
    flip = rng.random(n) < 0.1                           # some noise: not separable
    y[flip] = -y[flip]
    hi = np.maximum(X.max(axis=0), 1.0)
    dom = Domain(np.zeros(d), hi, integer=np.ones(d, bool))
    return sp.csr_matrix(X), y, dom, rng


def _target(X, y, rng, k=12):
    """A label-flip target (the Koh heuristic's kind): flip the k lowest-margin points."""
    clean = train(X, y, "svm", REG, tol=1e-12)
    m = y * clean.decision_function(X)
    idx = np.argsort(m)[:k]
    y2 = y.copy()
    y2[idx] = -y2[idx]
    return train(X, y2, "svm", REG, tol=1e-12)


def _highs_minpoison(target, X, y, dom, reg, tol=1e-6):
    """The minimum-poison LP written out by hand for scipy's HiGHS (docs/minpoison.md):
    variables beta (margin points), then per label z, gamma, u, eta; box domain."""
    Xd = X.toarray()                                    # tiny: the independent check
    n, d = Xd.shape
    w, b = target.w, target.b
    m = y * (Xd @ w + b)
    inside = m < 1 - tol
    on = ~inside & (m <= 1 + tol)
    G = -(y[:, None]) * np.hstack([Xd, np.ones((n, 1))])     # rows -y (x, 1)
    fixed = G[inside].sum(axis=0)
    J = np.flatnonzero(on)
    ct = reg * np.append(w, b)
    nv = len(J) + 2 * 2 * (d + 1)
    off = {}
    k = len(J)
    for lab in (1, -1):
        for role in ("grad", "idle"):
            off[lab, role] = k
            k += d + 1
    c = np.zeros(nv)
    A_eq = np.zeros((d + 1, nv))
    A_eq[:, :len(J)] = G[J].T
    A_ub, b_ub = [], []
    for (lab, role), o in off.items():
        c[o + d] = 1.0                                  # gamma / eta
        A_eq[:, o + d] += ct                            # (N + alpha) C_R theta_p
        if role == "grad":
            A_eq[:d, o:o + d] += -lab * np.eye(d)
            A_eq[d, o + d] += -lab
        for j in range(d):                              # lo g <= z_j <= hi g
            r = np.zeros(nv); r[o + j] = 1; r[o + d] = -dom.hi[j]; A_ub.append(r); b_ub.append(0)
            r = np.zeros(nv); r[o + j] = -1; r[o + d] = dom.lo[j]; A_ub.append(r); b_ub.append(0)
        r = np.zeros(nv)                                # margin side of the point
        r[o:o + d] = lab * w
        r[o + d] = lab * b - 1
        A_ub.append(r if role == "grad" else -r)
        b_ub.append(0)
    b_eq = -fixed - n * ct
    bounds = [(0, 1)] * len(J) + [(None, None)] * (nv - len(J))
    for o in off.values():
        bounds[o + d] = (0, None)
    res = linprog(c, A_ub=np.array(A_ub), b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds,
                  method="highs")
    assert res.status == 0, res.message
    return res.fun


def test_minpoison_lp_on_sparse_counts_equals_dense_and_highs():
    X, y, dom, rng = _counts()
    tgt = _target(X, y, rng)
    r_sp = lp_lower_bound(tgt, dom, X, y, REG, integer="relax")
    r_de = lp_lower_bound(tgt, dom, X.toarray(), y, REG, integer="relax")
    highs = _highs_minpoison(tgt, X, y, dom, REG)
    assert r_sp.verified and r_de.verified
    assert r_sp.value == pytest.approx(highs, rel=1e-6, abs=1e-6)
    assert r_sp.value == pytest.approx(r_de.value, rel=1e-7)
    assert r_sp.certified == r_de.certified
    # the verified bound is below the independent optimum and close to it
    assert r_sp.lower_bound <= highs * (1 + 1e-9) + 1e-9
    assert r_sp.lower_bound >= highs - 1e-5 * (1 + highs)
    assert 1 <= r_sp.certified < np.inf


def test_lp_bound_never_exceeds_a_real_poison_set_that_induces_its_model():
    """Soundness against an independent computation: train exactly on Dc plus a real
    integer poison set P inside the domain; the neighbourhood bound K(delta) at the
    trained model's proven distance to the exact optimum is at most |P|."""
    X, y, dom, rng = _counts(seed=3)
    n, d = X.shape
    for trial in range(3):
        k = int(rng.integers(3, 9))
        Xp = rng.integers(0, dom.hi.astype(int) + 1, (k, d)).astype(float)
        Xp[:, 2:] *= rng.random((k, d - 2)) < 0.2          # sparse-looking poison rows
        yp = rng.choice([-1, 1], k)
        copies = rng.integers(1, 4, k).astype(float)
        Xa = sp.vstack([X, sp.csr_matrix(Xp)]).tocsr()
        model = train(Xa, np.concatenate([y, yp]), "svm", REG,
                      sample_weight=np.concatenate([np.ones(n), copies]), tol=1e-12)
        # the trained model's proven distance to the exact optimum: sqrt(2 gap / C_R)
        delta = induced_distance(model, model, REG)
        assert 0 < delta < 1e-3
        r = lp_lower_bound(model, dom, X, y, REG, integer="relax", delta=delta)
        assert r.certified <= copies.sum(), (trial, r.certified, copies.sum())
        assert r.certified >= 1                 # and it says something


def _ub_setup(seed=5):
    X, y, dom, rng = _counts(seed=seed, n=120, d=20)
    fs = make_feasible_set(["domain", "l2", "slab"], dom, X, y)
    fd = make_feasible_set(["domain", "l2", "slab"], dom, X.toarray(), y)
    return X, y, dom, fs, fd, rng


def test_upper_bound_on_sparse_counts_equals_dense_and_bounds_real_attacks():
    X, y, dom, fs, fd, rng = _ub_setup()
    eps, N = 0.05, X.shape[0]
    ub = CertifiedUpperBound(fs, REG, eps).fit(X, y)
    ud = CertifiedUpperBound(fd, REG, eps).fit(X.toarray(), y)
    assert ub.result_.extra["inner_verified"]
    assert ub.upper_bound_ == pytest.approx(ud.upper_bound_, rel=1e-6)
    U = ub.upper_bound_
    # the matching attack (points of F, integer copies) reaches at most U
    Xp, yp, wp = ub.matching_attack()
    val, gap, _ = poisoned_training_loss(X, y, Xp, yp, wp, REG)
    assert val - gap <= U + 1e-9 * U
    assert val >= 0.9 * U                                 # and it is nearly tight
    # integer poison rows inside F (rounded down into the box, kept only if inside F)
    for _ in range(6):
        m = int(rng.integers(1, 4))
        labs = rng.choice([-1, 1], m)
        pts = np.floor(np.vstack([fs.project(rng.random((1, X.shape[1])) * dom.hi, lab)
                                  for lab in labs]))
        keep = fs.contains(pts, labs)
        if not keep.any():
            continue
        w = rng.dirichlet(np.ones(m))[keep] * eps * N
        val, gap, _ = poisoned_training_loss(X, y, pts[keep], labs[keep], w, REG)
        assert val - gap <= U


def test_split_inner_bound_is_above_every_point_of_f():
    """The closed-form inner maximum (any split of g is an upper bound) against brute
    force: the hinge of many points of F_y never exceeds it, also for a poor split."""
    X, y, dom, fs, fd, rng = _ub_setup(seed=7)
    ub = CertifiedUpperBound(fs, REG, 0.05).fit(X, y)
    model = ub.model_
    splits = ub._splits()
    poor = {lab: {c: (0.3 * v if np.ndim(v) else 0.0) for c, v in parts.items()}
            for lab, parts in splits.items()}
    l2 = next(c for c in fs.components if c.name == "l2")
    Xm, ym, _ = ub.matching_attack(integer=False)       # the solver's maximisers, in F
    for sp_ in (splits, poor):
        bounds, _ = split_hinge_bound(fs, model, sp_)
        for lab in (-1, 1):
            # integer points of F_y: the centroid moved in random directions, rounded
            mu, tau = l2.centroids_[lab], l2.thresholds_[lab]
            dirs = rng.normal(size=(2000, X.shape[1]))
            dirs /= np.linalg.norm(dirs, axis=1)[:, None]
            pts = np.clip(np.round(mu + rng.random((2000, 1)) * tau * dirs), dom.lo, dom.hi)
            pts = pts[fs.contains(pts, np.full(len(pts), lab))]
            assert len(pts) > 100
            pts = np.vstack([pts, Xm[ym == lab]])
            h = np.maximum(0.0, 1 - lab * (pts @ model.w + model.b))
            assert h.max() <= bounds[lab]
    # the program's own split is tight: its bound is the solver's inner maximum to 1e-6
    tight, _ = split_hinge_bound(fs, model, splits)
    from convexpoison.certificates.upper_bound import max_hinge

    solver, _ = max_hinge(fs, model)
    for lab in (-1, 1):
        assert tight[lab] == pytest.approx(solver[lab], rel=1e-5, abs=1e-6)


_HUGE = """
    from convexpoison.domain import Domain
    from convexpoison.programs.minpoison import MinimumPoisonProgram
    from convexpoison.certificates.theorem42 import certify_at
    from convexpoison.certificates.upper_bound import poisoned_training_loss
    from convexpoison.training import train
    X, y, rng = planted_counts()
    n, d = X.shape
    dense_refused(n, d)
    dom = Domain(np.zeros(d), np.full(d, 5.0), integer=np.ones(d, bool))
    clean = train(X, y, "svm", reg=0.01)
    y2 = y.copy(); y2[:40] = -y2[:40]
    tgt = train(X, y2, "svm", reg=0.01)
    prog = MinimumPoisonProgram(dom, 0.01).fit(X, y)          # G stays CSR, program built
    w, b, lo, hi = prog.set_target(tgt)
    lam = rng.normal(size=d + 1)
    vb = prog.verified_bound(lam, w, b, lo, hi)                # safe sums over sparse G
    widths = prog.margin_widths(w, b, 1e-3)
    r = certify_at(clean, tgt, X, y, 0.01, 10.0)               # Theorem 4.2 numerator
    Xp = np.zeros((2, d)); Xp[:, :50] = 2.0                   # dense poison rows
    val, gap, _ = poisoned_training_loss(X, y, Xp, [1, -1], [3.0, 2.0], 0.01)
    print("ok", vb >= 0, widths.shape == (n,), np.isfinite(r.value), val > 0)
"""


def test_certificates_never_densify_a_matrix_too_large_to_densify():
    lines = run_limited(_HUGE)               # 3 GiB; the dense X needs 9.6 GB
    assert lines[0] == "ok True True True True"


def test_sorted_dual_values_equal_the_array_form():
    """The safe bound's pricing dual by sorted breakpoints (used at text sizes, where the
    (candidates x d) array is O(d^2)) against the array form, breakpoints included."""
    from convexpoison.programs.minpoison import _box_dual_values

    rng = np.random.default_rng(0)
    for _ in range(20):
        d = 50
        cw, a = rng.normal(size=d), rng.normal(size=d)
        a[:5] = 0.0
        lo, hi = np.zeros(d), rng.integers(1, 5, d).astype(float)
        mus = np.concatenate([np.abs(rng.normal(size=30)) * 3, -cw[5:10] / a[5:10]])
        C = cw[None, :] + mus[:, None] * a[None, :]
        ref = np.sum(np.minimum(C * lo, C * hi), axis=1) + 0.3 + mus * (0.7 - 1.1)
        assert np.allclose(_box_dual_values(cw, 0.3, a, 0.7, 1.1, mus, lo, hi), ref, atol=1e-9)
