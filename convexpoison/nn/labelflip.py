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

from ..attacks.base import PoisoningAttack, check_epsilon, n_poisons
from ..errors import InputError
from ..poisons import PoisonSet
from .device import as_tensor
from .models import decode_labels, encode_labels
from .result import NNAttackResult

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


class LabelFlipAttack(PoisoningAttack):
    """Label-flip poisoning of a multi-class network: copies of training points with flipped labels.

    An attack of the package's contract (:mod:`convexpoison.attacks.base`):
    ``LabelFlipAttack(rule, ...).fit(data)`` sets ``poisons_`` to copies of the chosen
    rows of ``data`` (a :class:`~convexpoison.datasets.Dataset`; its ``n_classes`` is the
    number of classes) with their labels flipped, and ``poison(X, y)`` returns them as
    ``(X_poison, y_poison)``.

    Parameters
    ----------
    rule : {"reverse", "max-loss"}
    epsilon : float
        Poison fraction: ``n_poisons(ε, N) = floor(ε·N)`` rows drawn at random are copied
        (:func:`convexpoison.attacks.base.n_poisons`).
    model : torch module, optional
        The clean model whose losses drive ``max-loss`` (needed for it on more than two
        classes).
    index : array of row numbers, optional
        Flip exactly these rows instead of a random draw (TGDA's label-flip baselines flip
        the rows TGDA's poisons are made from); ``epsilon`` then sets nothing.
    random_state : int
        Which rows are drawn when ``index`` is None.
    device : torch.device, optional (default: the model's device, else CPU)

    Attributes (after :meth:`fit`)
    -------------------------------
    poisons_ : :class:`~convexpoison.poisons.PoisonSet` (one copy of each flipped row).
    index_ : the rows of the training data that were copied.
    result_ : :class:`~convexpoison.nn.result.NNAttackResult` (status ``"done"``).
    """

    _name = "label-flip"
    _needs = "the clean training data"

    def __init__(self, rule="reverse", epsilon=0.03, model=None, index=None, random_state=0,
                 device=None):
        self.rule = rule
        self.epsilon = epsilon
        self.model = model
        self.index = index
        self.random_state = random_state
        self.device = device

    def _fit(self, data):
        if self.rule not in FLIP_RULES:
            raise InputError(f"--flip: expected one of {', '.join(FLIP_RULES)}, got {self.rule!r}")
        check_epsilon(self.epsilon)
        X = data.X_train
        y_idx, binary = encode_labels(data.y_train)
        n = X.shape[0]
        k = max(2, int(data.n_classes))
        if self.index is None:
            index = np.random.default_rng(self.random_state).choice(
                n, size=n_poisons(self.epsilon, n), replace=False)
        else:
            index = np.asarray(self.index, np.int64).ravel()
            if index.size == 0 or index.min() < 0 or index.max() >= n:
                raise InputError(f"index: expected row numbers in 0..{n - 1}")
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
        self.poisons_ = PoisonSet(X[index].copy(), decode_labels(flipped, binary),
                                  meta={"attack": f"nn-labelflip-{self.rule}",
                                        "epsilon": float(self.epsilon)})
        self.result_ = NNAttackResult("label-flip", "done", {
            "rule": self.rule, "n_poisons": int(len(index)),
            "changed": int(np.count_nonzero(flipped != y_idx[index]))})
