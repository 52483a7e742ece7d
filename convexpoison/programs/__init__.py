"""The convex (and mixed-integer) programs of DESIGN §3, one module per program.

* :mod:`.maxloss` -- max-loss-difference search and the loss-based distance
  (Suya et al. Algorithm 1 line 4, Definition 1; DESIGN §3.1).
"""
from .maxloss import (
    LogisticMaxLoss, MaxLossDifference, MaxLossResult, box_max_loss_difference,
    loss_distance, max_loss_difference,
)

__all__ = ["MaxLossResult", "MaxLossDifference", "LogisticMaxLoss", "max_loss_difference",
           "loss_distance", "box_max_loss_difference"]
