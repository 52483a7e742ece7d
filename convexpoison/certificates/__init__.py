"""Certificates: proven bounds on what any poisoning attacker can achieve.

Every certificate reports one :class:`~.base.Certificate` (``lower_bound`` = the certified
minimum number of poison points, ``upper_bound`` = the certified maximum of a stated
damage quantity, a ``statement`` of exactly what is covered):

* :mod:`.theorem42` -- Suya et al. (2021) Theorem 4.2 at one model (the clean model,
  Remark 2; MTP's intermediate models, section 4.3), evaluated soundly (:func:`certify_at`);
* :mod:`.optimal` -- Theorem 4.2 maximised over the model by Dinkelbach iterations;
* :mod:`.lp` -- the minimum-poison LP's proven optimum, and its neighbourhood form
  ``K(delta)`` (every model within parameter l2 distance ``delta`` of the target;
  :func:`lower_bound_at_achieved` for an attack's induced model);
* :mod:`.safe` -- floating-point-safe bounds from dual multipliers (Neumaier &
  Shcherbina 2004);
* :mod:`.upper_bound` -- Steinhardt et al. (2017)'s bound on the damage of an
  ``eps``-fraction attack.

The cvxpy programs they solve live in :mod:`convexpoison.programs`.
"""
from .base import CEIL_SLACK, Certificate, sound_ceil
# (the function theorem42 is not re-exported: it would shadow the module of that name)
from .theorem42 import LowerBound, certify_at, domain_sup_bound, lower_bound_statement
from .optimal import DinkelbachLowerBound, DinkelbachStep, OptimalLowerBound, optimal_lower_bound
from .upper_bound import (
    CertifiedUpperBound, UpperBoundResult, certified_upper_bound, max_hinge,
    poisoned_training_loss, upper_bound_statement,
)
from .lp import induced_distance, lower_bound_at_achieved, lp_certificate, lp_lower_bound, lp_statement

__all__ = ["Certificate", "sound_ceil", "CEIL_SLACK", "LowerBound", "certify_at",
           "domain_sup_bound", "lower_bound_statement", "DinkelbachLowerBound", "DinkelbachStep",
           "OptimalLowerBound", "optimal_lower_bound", "CertifiedUpperBound", "UpperBoundResult",
           "certified_upper_bound", "max_hinge", "poisoned_training_loss",
           "upper_bound_statement", "lp_lower_bound", "lp_certificate", "lp_statement",
           "induced_distance", "lower_bound_at_achieved"]
