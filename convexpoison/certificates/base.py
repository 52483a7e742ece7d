"""The one result type of every certificate, and the sound integer ceiling.

The quantities a certificate is made of must themselves be proven bounds (closed forms,
exact integer optima, tolerance-accounted solver bounds from
:class:`convexpoison.solvers.SolveInfo`); the modules of this package combine them only in
the direction that keeps the result sound and report it as a :class:`Certificate`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Certificate", "sound_ceil", "CEIL_SLACK"]

#: Relative slack removed from a ratio before taking its ceiling, so that floating-point
#: round-off (1e-16 relative) can never push ``ceil`` one integer too high.
CEIL_SLACK = 1e-9


def sound_ceil(value: float) -> int:
    """``ceil(value)`` after shaving a tiny relative slack: 124.0000000001 certifies 124."""
    if not np.isfinite(value):
        return value
    return int(math.ceil(value - CEIL_SLACK * max(1.0, abs(value))))


#: Why ``lower_bound`` is null in a certificate that is about damage, not poison counts.
NOT_A_COUNT = "this certificate bounds damage, not the number of poison points"
#: Why ``upper_bound`` is null in a certificate about the number of poison points.
NOT_DAMAGE = "this certificate bounds the number of poison points, not damage"
#: Why ``lower_bound`` is null when no finite poison set can induce the target.
UNATTAINABLE = "unattainable: no poison set of any size induces the target"


@dataclass
class Certificate:
    """One proven bound: its value, exactly what it covers, and how it was obtained.

    Each field has one meaning in every certificate of the package (and in the JSON of
    every ``certify`` command, :meth:`to_dict`):

    lower_bound : the certified *minimum number of poison points* that achieves the stated
        goal (inducing a target model): an integer, ``0`` when nothing is certified,
        ``inf`` when no finite poison set achieves it, ``None`` when the certificate is
        not about the number of points.
    upper_bound : the certified *maximum of the damage quantity* named in ``quantity`` that
        any admissible attack can force; ``None`` when the certificate bounds no damage.
    value : the real number the bound comes from (the ratio ``c(theta)`` of Theorem 4.2,
        the program's optimum, ...), for information.
    statement : one paragraph saying exactly what is proven, under which assumptions.
    method : which certificate (``theorem42``, ``optimal``, ``lp``, ``upper_bound``).
    solver, status : the solver that produced the bound's proven ingredients and its
        status (``optimal``; a non-optimal solve raises instead of certifying).
    details : method-specific numbers (all JSON-serialisable).
    """

    method: str
    statement: str
    lower_bound: float | None = None
    upper_bound: float | None = None
    value: float | None = None
    quantity: str = ""
    solver: str = ""
    status: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON form: ``lower_bound`` an integer or null (then ``lower_bound_reason``
        says why), ``upper_bound`` a number or null (then ``upper_bound_reason``)."""
        out = {"method": self.method}
        lb = self.lower_bound
        if lb is None:
            out["lower_bound"], out["lower_bound_reason"] = None, NOT_A_COUNT
        elif not np.isfinite(lb):
            out["lower_bound"], out["lower_bound_reason"] = None, UNATTAINABLE
        else:
            out["lower_bound"] = int(lb)
        if self.upper_bound is None:
            out["upper_bound"], out["upper_bound_reason"] = None, NOT_DAMAGE
        else:
            out["upper_bound"] = float(self.upper_bound)
            out["upper_bound_quantity"] = self.quantity
        out.update({"value": self.value, "statement": self.statement, "solver": self.solver,
                    "status": self.status, "seconds": self.seconds})
        out.update(self.details)
        return out
