"""Certified bounds on poisoning (DESIGN §3.3, §3.5).

This module holds the certificate arithmetic that several attacks and commands share.
The quantities fed to it must themselves be proven bounds (closed forms, exact integer
optima, tolerance-accounted dual bounds from :class:`convexpoison.solvers.SolveInfo`);
the functions here only combine them in the direction that keeps the result sound.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Relative slack removed from a ratio before taking its ceiling, so that floating-point
#: round-off (1e-16 relative) can never push ``ceil`` one integer too high.
CEIL_SLACK = 1e-9


def sound_ceil(value: float) -> int:
    """``ceil(value)`` after shaving a tiny relative slack: 124.0000000001 certifies 124."""
    if not np.isfinite(value):
        return value
    return int(math.ceil(value - CEIL_SLACK * max(1.0, abs(value))))


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


def theorem42(model, target, X, y, reg, sup_upper_bound, sample_weight=None) -> LowerBound:
    """Suya et al. Theorem 4.2 at ``theta = model`` for target ``theta_p = target``:

        c(theta) = [L(theta_p; Dc) - L(theta; Dc) + N C_R (R(theta_p) - R(theta))]
                   / [sup_{x,y} (l(theta; x, y) - l(theta_p; x, y)) + C_R (R(theta) - R(theta_p))]

    ``L`` are *sums* over the clean set (weights count as copies, N their total) and
    ``sup_upper_bound`` must be a proven upper bound on the supremum over the attacker's
    feasible set (a larger denominator only lowers ``c``, so the bound stays sound).

    This is the plain formula; certificates go through
    :func:`convexpoison.certificates_optimal.certify_at`, which also removes the
    floating-point rounding of ``num`` and ``den`` (near the target both shrink to rounding
    level and their computed ratio is noise).

    Why a non-positive denominator means "unattainable": with numerator > 0 and
    denominator <= 0, every poison point raises the objective of ``theta`` by no more than
    that of ``theta_p`` while the clean data already favour ``theta``, so ``theta_p`` is
    never the minimiser, whatever the number of points.
    """
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    n_clean = s.sum()
    num = (s @ target.losses(X, y) - s @ model.losses(X, y)
           + n_clean * reg * (target.regularizer() - model.regularizer()))
    den = sup_upper_bound + reg * (model.regularizer() - target.regularizer())
    return LowerBound.from_ratio(num, den)
