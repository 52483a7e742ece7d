"""The convex (and mixed-integer) programs of convexpoison, one module per program.

Every cvxpy program the attacks and certificates solve lives here (built once with
Parameters, DPP, and re-solved):

* :mod:`.maxloss` -- max-loss-difference search and the loss-based distance
  (Suya et al. 2021, Algorithm 1 line 4, Definition 1; docs/maxloss.md).
* :mod:`.inner` -- the min-max attack's inner maximiser (Koh et al. 2021 section 4.3.1,
  Algorithm 5; docs/minmax.md).
* :mod:`.kkt` -- the KKT attack's equation (17) (Koh et al. 2021 section 4.2;
  docs/kkt.md) and the package's one KKT residual.
* :mod:`.minpoison` -- the minimum-poison program (docs/minpoison.md).
* :mod:`.dinkelbach` -- the Dinkelbach subproblem of the optimal Theorem 4.2 bound
  (docs/lower-bound.md).
* :mod:`.upper_bound` -- Steinhardt et al.'s certificate program (docs/upper-bound.md).
* :mod:`.summary` -- :func:`describe`: a readable summary of any of these programs (or any
  cvxpy problem) for notebooks and the REPL.

The certificates built on them are in :mod:`convexpoison.certificates`.
"""
from .maxloss import (
    LogisticMaxLoss, MaxLossDifference, MaxLossResult, box_max_loss_difference,
    loss_distance, max_loss_difference,
)
from .summary import ProgramSummary, describe, problem_class

__all__ = ["MaxLossResult", "MaxLossDifference", "LogisticMaxLoss", "max_loss_difference",
           "loss_distance", "box_max_loss_difference", "describe", "ProgramSummary", "problem_class"]
