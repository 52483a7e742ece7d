"""Label-flip baselines for multi-class networks (Lu et al. 2022, section 5.2 and Appendix A.4).

A label-flip poison set copies ``εN`` training points and changes only their labels
(eq. 36).  Two rules:

* ``reverse`` -- Lu et al.'s MNIST baseline "``y <- 10 - y``", read on the labels 1..10 as
  the reversal of the class order; on labels 0..k-1 that is ``y <- (k - 1) - y``, which
  changes every label when ``k`` is even (0<->9, 1<->8, ...).  (Taken literally on 0..9,
  ``10 - y`` would leave 0 and 5 unflipped and send 0 to a label that does not exist.)
* ``max-loss`` -- "choosing the class with the biggest training loss" (Appendix A.4):
  the label ``j != y`` with the largest cross-entropy under a given (clean) model, i.e.
  the smallest logit among the other classes.

For binary data both rules are the ordinary flip ``y <- -y``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..validation import check_X
from .device import as_tensor
from .models import encode_labels, decode_labels

FLIP_RULES = ("reverse", "max-loss")


def reverse_labels(y, n_classes):
    """``y <- (k - 1) - y`` on class indices 0..k-1."""
    y = np.asarray(y, np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise InputError(f"y: labels must be in 0..{n_classes - 1}")
    return (n_classes - 1) - y


@torch.no_grad()
def max_loss_labels(model, X, y, batch_size=4096):
    """For every row the label ``j != y`` maximising the cross-entropy of ``model``.

    ``CE(x, j) = logsumexp(z) - z_j`` so the maximiser is the smallest logit ``z_j``
    among ``j != y``.  ``X``/``y`` are tensors on the model's device (class indices).
    """
    model.eval()
    out = []
    for i in range(0, X.shape[0], batch_size):
        z = model(X[i:i + batch_size]).clone()
        z.scatter_(1, y[i:i + batch_size, None], float("inf"))     # exclude the true label
        out.append(z.argmin(1))
    return torch.cat(out) if out else y.clone()


class LabelFlipAttack:
    """ART-style label-flip attack: ``poison(X, y) -> (X_poison, y_poison)``.

    Parameters
    ----------
    rule : {"reverse", "max-loss"}
    epsilon : float
        ``|D_p| = round(ε·N)`` points are copied with flipped labels.
    model : torch module, optional
        The clean model whose losses drive ``max-loss``.
    n_classes : int, optional
        Number of classes (default: inferred from the labels).
    random_state : int
        Which rows are flipped when ``index`` is not given to :meth:`poison`.
    device : torch.device, optional (default: the model's device, else CPU)
    """

    def __init__(self, rule="reverse", epsilon=0.03, model=None, n_classes=None, random_state=0,
                 device=None):
        self.rule = rule
        self.epsilon = epsilon
        self.model = model
        self.n_classes = n_classes
        self.random_state = random_state
        self.device = device

    def poison(self, X, y, index=None):
        """Copies of ``X[index]`` with flipped labels (labels in the caller's convention)."""
        if self.rule not in FLIP_RULES:
            raise InputError(f"--flip: expected one of {', '.join(FLIP_RULES)}, got {self.rule!r}")
        X = check_X(X, "X")
        y_idx, binary = encode_labels(y)
        n = X.shape[0]
        k = int(self.n_classes) if self.n_classes else max(2, int(y_idx.max()) + 1)
        if index is None:
            n_p = max(1, int(round(float(self.epsilon) * n)))
            index = np.random.default_rng(self.random_state).choice(n, size=min(n_p, n), replace=False)
        index = np.asarray(index, np.int64)
        if self.rule == "reverse" or k == 2:
            flipped = reverse_labels(y_idx[index], k)
        else:
            if self.model is None:
                raise InputError("model: the max-loss flip needs the clean model")
            dev = self.device or next(self.model.parameters()).device
            dt = next(self.model.parameters()).dtype
            flipped = max_loss_labels(self.model, as_tensor(X[index], dev, dt),
                                      torch.as_tensor(y_idx[index], device=dev)).cpu().numpy()
        self.index_ = index
        return X[index].copy(), decode_labels(flipped, binary)
