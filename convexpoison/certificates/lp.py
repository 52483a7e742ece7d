"""The minimum-poison LP lower bound on the number of poison points (docs/minpoison.md).

The minimum-poison program (:class:`convexpoison.programs.minpoison.MinimumPoisonProgram`)
minimises the total poison weight over every poison set, with fractional copies, that
satisfies the optimality condition of training at the target; every real poison set
inducing the target is feasible, so its tolerance-accounted optimum bounds the number of
poison points from below.  It equals the optimal Theorem 4.2 bound
(:mod:`convexpoison.certificates.optimal`) up to fractional copies -- two independent
programs for one number.
"""
from __future__ import annotations

from ..programs import minpoison as _minpoison
from .base import Certificate

__all__ = ["lp_lower_bound", "lp_certificate"]


def lp_lower_bound(target, feasible, X, y, reg, sample_weight=None, **kw):
    """One-shot :class:`~convexpoison.programs.minpoison.MinimumPoisonProgram` for
    ``target``; returns its :class:`~convexpoison.programs.minpoison.MinPoisonResult`
    (``.certified`` is the certified integer, ``.lower_bound`` / ``.value`` the real bound
    and the optimum; :func:`lp_certificate` makes it a
    :class:`~convexpoison.certificates.base.Certificate`).  Keyword arguments go to the
    program (``tol``, ``integer``, ``solver``)."""
    prog = _minpoison.MinimumPoisonProgram(feasible, reg, **kw)
    return prog.fit(X, y, sample_weight).solve(target)


def lp_certificate(result, statement="") -> Certificate:
    """A :class:`~convexpoison.programs.minpoison.MinPoisonResult` as a Certificate: the
    certified integer as ``lower_bound``, the program's numbers in ``details``."""
    return Certificate(
        method="lp", statement=statement, lower_bound=result.certified, value=result.value,
        solver=getattr(result, "solver", ""), status=result.status, seconds=result.seconds,
        details={"lp_lower_bound": result.lower_bound,
                 "relaxed_lower_bound": result.relaxed_lower_bound, "margin_tol": result.tol})
