"""The convex (and mixed-integer) programs of DESIGN §3, one module per program.

* :mod:`.maxloss` -- max-loss-difference search and the loss-based distance
  (Suya et al. Algorithm 1 line 4, Definition 1; DESIGN §3.1).
* :mod:`.inner` -- the min-max attack's inner maximiser (DESIGN §3.5).
* :mod:`.minpoison` -- the minimum-poison program (DESIGN §3.9).
* :mod:`.summary` -- :func:`describe`: a readable summary of any of these programs (or any
  cvxpy problem) for notebooks and the REPL.
"""
from .maxloss import (
    LogisticMaxLoss, MaxLossDifference, MaxLossResult, box_max_loss_difference,
    loss_distance, max_loss_difference,
)
from .summary import ProgramSummary, describe, problem_class

__all__ = ["MaxLossResult", "MaxLossDifference", "LogisticMaxLoss", "max_loss_difference",
           "loss_distance", "box_max_loss_difference", "describe", "ProgramSummary", "problem_class"]
