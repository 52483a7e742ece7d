"""The defender's regulariser in the algebra of the certificates and programs
(docs/defender.md, "What changes in the theory").

Every program and certificate of the package works with the optimality condition of
training *in the sum form* (the objective multiplied by the total weight ``W = N + |Dp|``).
Under the package's convention (``reg`` = ``C_R`` on the average loss) that condition
carries ``W C_R R(theta)`` -- the regulariser grows with every poison point; under
scikit-learn's ``C`` on the sum it carries ``R(theta) / C`` -- a constant.  With a free
intercept ``R = 1/2 |w|^2`` and its gradient has no bias component.  :class:`RegTerms`
gives these coefficients so that each formula is written once for every defender.
"""
from __future__ import annotations

import numpy as np

from ..defender import Defender, resolve_defender
from ..errors import InputError

__all__ = ["RegTerms", "hinge_defender", "defender_words"]


def hinge_defender(defender, reg, what="this certificate"):
    """The binary hinge-loss :class:`~convexpoison.defender.Defender` a certificate or
    program is about (``defender`` and ``reg`` resolved by
    :func:`~convexpoison.defender.resolve_defender`), or :class:`InputError` naming
    ``defender`` for a loss it does not cover.  A resolved Defender passed together with
    its own ``C_R`` as ``reg`` is accepted (callers that hold both need not drop one)."""
    if (isinstance(defender, Defender) and reg is not None and defender.reg is not None
            and float(reg) == defender.reg):
        reg = None
    D = resolve_defender(defender, None, "svm", reg)
    if D.loss != "hinge":
        raise InputError(f"defender: {what} covers the binary hinge-loss SVM only, not "
                         f"{D.spec()}")
    return D.require_exact(what)


class RegTerms:
    """The regulariser terms of defender ``D`` (a hinge-loss Defender with its
    regularisation set).

    * :meth:`R` / :meth:`grad`: ``R(theta)`` and ``grad R(theta)`` as ``D`` defines them
      (``b`` only when ``D.penalize_intercept``) -- never the model's own flag.
    * ``per_poison``: the weight of ``R`` per poison point in the sum-form optimality
      condition (``C_R`` under ``reg``; 0 under ``C``: the regulariser does not grow with
      the poison).
    * :meth:`clean_coef`: its weight for clean data of total weight ``N`` (``N C_R``, or
      ``1 / C``).
    """

    def __init__(self, D):
        self.D = D
        self.average = D.convention == "average"
        if D.convention == "unset":
            raise InputError("reg: the defender has no regularisation; give reg (C_R) or C")
        self.per_poison = D.reg if self.average else 0.0
        self.penalize_intercept = bool(D.penalize_intercept)

    def clean_coef(self, N) -> float:
        """``N C_R`` (average convention) or ``1 / C`` (scikit-learn's C on the sum)."""
        return N * self.D.reg if self.average else 1.0 / self.D.C

    def total_coef(self, W) -> float:
        """The regulariser's weight in ``W`` times the optimality condition: ``W C_R``
        (average) or ``1 / C`` (sum), the same as :meth:`clean_coef` of the total weight."""
        return self.clean_coef(W)

    def R(self, model) -> float:
        """``R(theta)``: ``1/2 (|w|^2 + b^2)``, or ``1/2 |w|^2`` with a free intercept."""
        w = np.asarray(model.w, float)
        if self.penalize_intercept:
            return 0.5 * float(np.sum(np.concatenate([np.ravel(w), np.ravel(model.b)]) ** 2))
        return 0.5 * float(np.sum(w ** 2))

    def grad(self, w, b) -> np.ndarray:
        """``grad R(theta) = (w, b)``, or ``(w, 0)`` with a free intercept."""
        return np.append(np.asarray(w, float), float(b) if self.penalize_intercept else 0.0)

    def grad_norm_bound(self, w, b) -> float:
        """``|grad R(theta)|_2``."""
        return float(np.linalg.norm(self.grad(w, b)))


def defender_words(D) -> str:
    """The defender's objective in words, for a certificate's statement (ends with its
    ``--defender`` spelling, :meth:`~convexpoison.defender.Defender.spec`)."""
    if D.convention == "average":
        if D.penalize_intercept:
            obj = (f"objective (1/W) sum loss + C_R/2 (|w|^2 + b^2), bias regularised, "
                   f"C_R = {D.reg:g}")
        else:
            obj = (f"objective (1/W) sum loss + C_R/2 |w|^2, intercept free (not regularised), "
                   f"C_R = {D.reg:g}")
    else:
        reg = "1/2 (|w|^2 + b^2), bias regularised" if D.penalize_intercept else \
            "1/2 |w|^2, intercept free (not regularised)"
        obj = (f"objective C sum loss + {reg}, C = {D.C:g} on the sum of losses "
               "(scikit-learn's convention: the effective C_R = 1/(C W) falls as poison is added)")
    return f"{obj}; defender {D.spec()}"
