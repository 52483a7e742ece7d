"""Suya et al. (2021) Theorem 4.2 at one model: the certified number of poison points.

For every model ``theta``, every poison set that makes exact training on ``Dc u Dp``
return the target ``theta_p`` has ``|Dp| >= c(theta)`` (:func:`theorem42`; the formula and
its cases in docs/lower-bound.md).  The paper evaluates ``c`` at the clean model
``theta_c`` (Remark 2) and at MTP's intermediate models (section 4.3, the
"intermediate" bound); :mod:`convexpoison.certificates.optimal` maximises it over
``theta``.  :func:`certify_at` is the sound evaluation every certificate goes through
(floating-point allowances, a ``gamma``-minimiser target, the sound ceiling);
:func:`domain_sup_bound` the closed-form bound on the supremum in the denominator for a
pure domain.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..domain import Domain
from ..feasible import DomainSet
from ..validation import check_positive
from ..programs.regularizer import RegTerms, defender_words, hinge_defender
from .base import Certificate, sound_ceil

__all__ = ["LowerBound", "theorem42", "certify_at", "domain_sup_bound", "lower_bound_statement"]

_EPS = np.finfo(float).eps


@dataclass
class LowerBound:
    """Theorem 4.2 evaluated at one model ``theta``.

    ``lower_bound`` is the certified integer: every poison set that makes training on
    ``Dc u Dp`` return the target has at least this many points (0 when nothing is
    certified; ``inf`` when the target cannot be induced by any number of points).
    """

    value: float          # c(theta), the real-valued ratio (nan when not defined)
    lower_bound: float    # sound integer bound (int, 0, or inf)
    numerator: float
    denominator: float
    status: str           # 'ok', 'non-positive numerator', 'unattainable'

    def to_dict(self):
        return asdict(self)

    def certificate(self, statement="") -> Certificate:
        """This bound as a :class:`~convexpoison.certificates.base.Certificate` (the
        theorem's case in ``details``; the solver is the supremum bound's, not known here)."""
        return Certificate(method="theorem42", statement=statement,
                           lower_bound=self.lower_bound, value=self.value,
                           details={"bound_status": self.status, "numerator": self.numerator,
                                    "denominator": self.denominator})

    @classmethod
    def from_ratio(cls, num, den) -> "LowerBound":
        """The bound ``num / den`` with the cases of Theorem 4.2: nothing certified when
        the numerator is not positive, unattainable when the denominator is not."""
        if not num > 0:
            return cls(float("nan"), 0, float(num), float(den), "non-positive numerator")
        if not den > 0:
            return cls(float("inf"), float("inf"), float(num), float(den), "unattainable")
        c = num / den
        return cls(float(c), sound_ceil(c), float(num), float(den), "ok")


def theorem42(model, target, X, y, reg, sup_upper_bound, sample_weight=None, *,
              defender=None) -> LowerBound:
    """Suya et al. Theorem 4.2 at ``theta = model`` for target ``theta_p = target``:

        c(theta) = [L(theta_p; Dc) - L(theta; Dc) + N C_R (R(theta_p) - R(theta))]
                   / [sup_{x,y} (l(theta; x, y) - l(theta_p; x, y)) + C_R (R(theta) - R(theta_p))]

    ``L`` are *sums* over the clean set (weights count as copies, N their total) and
    ``sup_upper_bound`` must be a proven upper bound on the supremum over the attacker's
    feasible set (a larger denominator only lowers ``c``, so the bound stays sound).

    ``defender`` (default: the package's SVM with ``C_R = reg``, bias regularised): under
    scikit-learn's ``C`` on the sum, ``N C_R`` becomes ``1/C`` and the regulariser term
    leaves the denominator (the regulariser does not grow with the poison); with a free
    intercept ``R = 1/2 |w|^2`` (docs/defender.md, "What changes in the theory").

    This is the plain formula; certificates go through :func:`certify_at`, which also
    removes the
    floating-point rounding of ``num`` and ``den`` (near the target both shrink to rounding
    level and their computed ratio is noise).

    Why a non-positive denominator means "unattainable": with numerator > 0 and
    denominator <= 0, every poison point raises the objective of ``theta`` by no more than
    that of ``theta_p`` while the clean data already favour ``theta``, so ``theta_p`` is
    never the minimiser, whatever the number of points.
    """
    T = RegTerms(hinge_defender(defender, reg, "Theorem 4.2"))
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    n_clean = s.sum()
    Rp, Rm = T.R(target), T.R(model)
    num = (s @ target.losses(X, y) - s @ model.losses(X, y)
           + T.clean_coef(n_clean) * (Rp - Rm))
    den = sup_upper_bound + T.per_poison * (Rm - Rp) if T.average else sup_upper_bound + 0.0
    return LowerBound.from_ratio(num, den)


def _row_norms_sq(X):
    """``|x_i|^2`` of every row (dense, or scipy.sparse text without densifying it)."""
    from ..training import _row_norms_sq as rows
    from ..validation import is_sparse

    return rows(X if is_sparse(X) else np.asarray(X, float))


def _numerator_allowance(model, target, X, y, s, T):
    """Floating-point allowance on the numpy numerator (sums of ``N`` losses and ``d``
    squares): a generous multiple of the textbook ``n eps sum|terms|`` bound."""
    n, d = X.shape
    mag = (s @ (np.abs(target.losses(X, y)) + np.abs(model.losses(X, y)))
           + T.clean_coef(s.sum()) * (T.R(target) + T.R(model)))
    # the losses themselves: each margin is a d-term dot product, |x_i|.|w| <= |x_i|_2 |w|_2
    # (Cauchy-Schwarz; looser than sum_j |x_ij w_j| but it needs no copy |X| of the data,
    # which MTP would otherwise allocate at every iteration)
    rows = np.sqrt(_row_norms_sq(X))
    margins = s @ (rows * (np.linalg.norm(model.w) + np.linalg.norm(target.w))
                   + abs(model.b) + abs(target.b) + 1)
    return 4.0 * (n + d + 4) * _EPS * (mag + margins)


def certify_at(model, target, X, y, reg, sup_upper_bound, sample_weight=None, target_gap=0.0,
               delta=0.0, radius=float("inf"), *, defender=None):
    """Theorem 4.2 at ``theta = model``, soundly.

    The proof obligations (docs/lower-bound.md, "Soundness"): the numerator is recomputed
    in numpy less a floating-point allowance, the denominator gets one too, and

    * ``target_gap = gamma``: the theorem assumes training returns the *exact* minimiser.
      When the target is only known to be a ``gamma``-minimiser of the training objective
      (a model trained to a duality gap ``gamma``, e.g. ``LinearModel.gap_``), multiplying
      the optimality inequality by ``W = N + |Dp|`` gives ``num(theta) - N gamma <= |Dp|
      (den(theta) + gamma)``, so ``|Dp| >= (num - N gamma) / (den + gamma)``.

    * ``delta``: the neighbourhood form (docs/lower-bound.md, "A neighbourhood of the
      target"): every model ``theta'`` with ``|theta' - theta_p|_2 <= delta`` has
      ``num'(theta) >= num(theta) - delta (sum_i s_i |(x_i, 1)| + N C_R |theta_p|)`` and
      ``den'(theta) <= den(theta) + delta (radius + C_R |theta_p|)`` (the hinge is
      1-Lipschitz in the margin; ``R(theta') >= R(theta_p) - delta |theta_p|``), so the
      ratio of the shifted terms bounds the poison set of any model in the ball;
      ``radius >= max |(x, 1)|`` over the feasible set.

    ``defender``: which training the target must come out of (:func:`theorem42`; default:
    the package's SVM with ``C_R = reg``).  Under scikit-learn's ``C`` the terms ``N C_R``
    above read ``1/C`` and the denominator has no regulariser term (so no ``C_R |theta_p|``
    in its shift); ``target_gap`` is in the package's normalisation ``F`` (``model.gap_``),
    which is the defender's own objective divided by ``C W``: the same inequality holds.

    ``sup_upper_bound`` must be a *proven* upper bound on
    ``sup_{y, x in F_y} l(model; x, y) - l(target; x, y)``.  Returns a
    :class:`LowerBound` whose ``numerator`` and
    ``denominator`` are the adjusted ``num - allowance - N gamma`` and
    ``den + allowance + gamma``.

    Why the floating-point allowances matter: when ``model`` is close to ``target`` both
    ``num`` and ``den`` shrink to the size of rounding errors and their computed ratio is
    noise -- :func:`theorem42` alone once certified 2 poison
    points for a target that one point induces (num = 3.1e-14, den = 3.1e-14, a target
    equal to ``theta_c`` up to rounding; found by the soundness harness).
    """
    gamma = check_positive(target_gap, "target_gap", allow_zero=True)
    T = RegTerms(hinge_defender(defender, reg, "Theorem 4.2"))
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    base = theorem42(model, target, X, y, None, sup_upper_bound, sample_weight=s,
                     defender=T.D)
    num = base.numerator - _numerator_allowance(model, target, X, y, s, T) - s.sum() * gamma
    # the regulariser difference in the denominator is rounded too (d + 1 squares each)
    d = np.size(model.theta)
    den_allow = 4.0 * (d + 4) * _EPS * T.per_poison * (T.R(model) + T.R(target))
    den = base.denominator + den_allow + gamma
    delta = check_positive(delta, "delta", allow_zero=True)
    if delta > 0:
        tnorm = float(np.linalg.norm(np.append(target.w, target.b)))
        A = float(s @ np.sqrt(1.0 + _row_norms_sq(X))) + T.clean_coef(s.sum()) * tnorm
        B = float(radius) + T.per_poison * tnorm
        # rounded up by a generous relative 1e-12 (the sums have at most ~1e7 terms)
        num = num - delta * A * (1 + 1e-12)
        den = den + delta * B * (1 + 1e-12)
        if not np.isfinite(den):
            return LowerBound(float("nan"), 0, float(num), float(den), "not finite")
    if not np.isfinite(num) or not np.isfinite(den):
        return LowerBound(float("nan"), 0, float(num), float(den), "not finite")
    return LowerBound.from_ratio(num, den)


def domain_sup_bound(dom: Domain, model, target, onehot=True, labels=(-1, 1)) -> float:
    """A proven upper bound on ``sup_{y, x in conv(domain)} hinge(model) - hinge(target)``.

    Weak duality in closed form (docs/lower-bound.md): for every ``mu in [0, 1]``,
    ``sup_x a - max(0, c) <= sup_x a - mu c = a_0 - mu c_0 + sigma(-y w + mu y w_p)``, with
    ``sigma`` the support function of the box and the one-hot simplices (exact, in numpy);
    ``g(mu)`` is convex, so a golden-section search finds a ``mu`` whose ``g`` is the
    supremum up to rounding -- and any ``mu`` gives a valid bound.  Piece B is
    ``-max(0, c_0 - sigma(y w_p))``.  Unlike a solver's bound it carries no absolute
    ``1e-7`` slack, only a floating-point allowance, which matters near ``theta_p`` where
    the supremum itself is ``1e-5`` or less.  For integer coordinates this is the bound of
    the convex hull (valid; the exact MILP is separate).
    """
    box = DomainSet(dom)
    w, b = np.asarray(model.w, float), float(model.b)
    wp, bp = np.asarray(target.w, float), float(target.b)
    best = -np.inf
    n = dom.d + 4
    for y in labels:
        p, q = -y * w, y * wp
        a0, c0 = 1.0 - y * b, 1.0 - y * bp

        def g(mu):
            sig, mag = box.support_value(p + mu * q, onehot)
            val = a0 - mu * c0 + sig
            return val + 4.0 * n * _EPS * (abs(a0) + abs(c0) + mag + 1.0)

        lo, hi = 0.0, 1.0
        phi = (np.sqrt(5.0) - 1.0) / 2.0
        m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
        g1, g2 = g(m1), g(m2)
        for _ in range(80):
            if g1 <= g2:
                hi, m2, g2 = m2, m1, g1
                m1 = hi - phi * (hi - lo)
                g1 = g(m1)
            else:
                lo, m1, g1 = m1, m2, g2
                m2 = lo + phi * (hi - lo)
                g2 = g(m2)
        piece_a = min(g(0.0), g(1.0), g1, g2)
        sig_q, mag_q = box.support_value(q, onehot)
        piece_b = -max(0.0, c0 - sig_q - 4.0 * n * _EPS * (abs(c0) + mag_q + 1.0))
        best = max(best, piece_a, piece_b)
    return float(best)


def lower_bound_statement(lower_bound, where, n_clean, reg, target_gap=0.0, note="",
                          method="Suya et al. Theorem 4.2", delta=0.0, *, defender=None):
    """What a lower bound on the number of poison points proves, in one paragraph.

    ``where``: the feasible set in words (e.g. ``"domain,l2 of breast-cancer"``);
    ``defender``: the training it covers (default: the package's SVM with ``C_R = reg``),
    named with its objective and ``--defender`` spelling.
    """
    D = hinge_defender(defender, reg, "Theorem 4.2")
    if lower_bound == float("inf"):
        head = "No poison set of any size"
    elif lower_bound <= 0:
        return ("Nothing is certified: Theorem 4.2 gives no positive bound for this target "
                "(its numerator is not positive at any model found).")
    else:
        head = f"No poison set of fewer than {int(lower_bound)} points"
    gap = ("" if target_gap == 0 else
           f" (or to within {target_gap:g} of its training objective's optimum)")
    which = ("the target model" if not delta else
             f"any model theta = (w, b) within parameter l2 distance {delta:.6g} of the target "
             f"(Theorem 4.2's terms shifted by their Lipschitz bounds, docs/lower-bound.md)")
    return (f"{head}, each point inside {where}, added to the "
            f"{n_clean} clean training points, makes exact training of the hinge-loss SVM "
            f"({defender_words(D)}) "
            f"return {which}{gap}.  {method}; the supremum over poison "
            f"points is an upper bound from a closed form evaluated with a rounding allowance "
            f"(verified), or from a solver (LP/SOCP/MILP) with a fixed relative+absolute slack "
            f"1e-7 (this assumes the solver met its tolerances: not verified in floating "
            f"point), the ratio rounded up after a 1e-9 relative shave.{note}")
