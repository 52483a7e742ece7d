"""Networks of the neural-network attacks, and the training schedules that use them.

Defenders (Lu et al. 2022, section 5.1 "Attacker models and Defender models"):

* :class:`LogisticRegression` -- one linear layer, softmax cross-entropy.
* :class:`MLP` -- "a neural network with three layers": three fully connected layers
  with leaky-ReLU activations (784-784-784-10 in the authors' code).
* :class:`CNN` -- "two convolutional layers, maxpooling and one fully connected layer".

Attackers ``L_theta`` take the image *and its label* and return a poison image (the label
is kept: TGDA is a clean-label attack, Lu et al. section 4.2 "Label Information"):

* :class:`AttackerMLP` -- three fully connected layers with leaky ReLU (MNIST-like data);
* :class:`AttackerConvAE` -- a convolutional autoencoder, three convolutions and three
  transposed convolutions (images; the paper's CIFAR-10 attacker).

Every network reads flat rows ``(n, d)`` (the layout of :mod:`convexpoison.datasets`);
the convolutional ones reshape to ``(n, 1, H, W)`` with the dataset's ``image_shape``.
Attackers end in a sigmoid mapped onto the domain box ``[lo, hi]``, so every poison
lies in the input domain by construction.

Labels inside :mod:`convexpoison.nn` are class indices ``0..k-1``;
:func:`encode_labels` / :func:`decode_labels` convert the binary {-1, +1} convention.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .device import seeded_init

#: Defender architectures selectable by name (``--model``).
DEFENDERS = ("lr", "mlp", "cnn")
#: Attacker architectures selectable by name (``--attacker``).
ATTACKERS = ("mlp", "conv")


# --------------------------------------------------------------------------- labels
def encode_labels(y):
    """Labels as class indices: binary {-1, +1} -> {0, 1}; 0..k-1 unchanged.

    Returns ``(indices, binary)``; :func:`decode_labels` undoes it.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    values = set(np.unique(y).tolist())
    if values <= {-1, 1} and -1 in values:
        return ((y + 1) // 2).astype(np.int64), True
    if y.size and y.min() < 0:
        raise InputError(f"y: labels must be {{-1, +1}} or 0..k-1, found {int(y.min())}")
    return y, False


def to_index(y, binary):
    """Labels in the caller's convention as class indices (binary: -1 -> 0, +1 -> 1)."""
    y = np.asarray(y).astype(np.int64).ravel()
    if binary:
        if not np.all((y == -1) | (y == 1)):
            raise InputError("y: binary labels must be -1 or +1")
        return (y + 1) // 2
    if y.size and y.min() < 0:
        raise InputError(f"y: labels must be 0..k-1, found {int(y.min())}")
    return y


def decode_labels(idx, binary):
    """Inverse of :func:`encode_labels`."""
    idx = np.asarray(idx).astype(np.int64)
    return 2 * idx - 1 if binary else idx


# --------------------------------------------------------------------------- defenders
class LogisticRegression(nn.Module):
    """Multinomial logistic regression (binary data: two logits, i.e. logistic loss)."""

    def __init__(self, d, n_classes):
        super().__init__()
        self.linear = nn.Linear(d, n_classes)

    def forward(self, x):
        return self.linear(x)


class MLP(nn.Module):
    """Three fully connected layers with leaky-ReLU activations (optional dropout).

    ``hidden=(784, 784)`` and slope 0.2 follow the TGDA authors' MNIST defender; pGAN's
    classifier is ``hidden=(1024, 512)``, slope 0.1, dropout 0.5 (Muñoz-González et al.
    Table 3).  Dropout must stay 0 for TGDA: the total gradient needs a deterministic loss.
    """

    def __init__(self, d, n_classes, hidden=(784, 784), negative_slope=0.2, dropout=0.0):
        super().__init__()
        sizes = [d, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], n_classes)
        self.negative_slope = negative_slope
        self.dropout = dropout

    def forward(self, x):
        for layer in self.hidden:
            x = F.leaky_relu(layer(x), self.negative_slope)
            if self.dropout:
                x = F.dropout(x, self.dropout, self.training)
        return self.out(x)


class CNN(nn.Module):
    """Two 5x5 convolutions with ReLU and 2x2 max-pooling, then one linear layer."""

    def __init__(self, image_shape, n_classes, channels=(16, 32)):
        super().__init__()
        if image_shape is None or len(image_shape) != 2:
            raise InputError("--model: cnn needs image data (a dataset with an image_shape)")
        self.image_shape = tuple(int(s) for s in image_shape)
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        h, w = (s // 4 for s in self.image_shape)
        self.out = nn.Linear(c2 * h * w, n_classes)

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, *self.image_shape)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(x.flatten(1))


def make_defender(name, d, n_classes, image_shape=None, hidden=None, dropout=0.0,
                  negative_slope=0.2, seed=0):
    """A freshly initialised defender ``lr`` / ``mlp`` / ``cnn`` (weights seeded by ``seed``)."""
    if name not in DEFENDERS:
        raise InputError(f"--model: unknown network {name!r}; choose one of {', '.join(DEFENDERS)}")
    with seeded_init(seed):
        if name == "lr":
            return LogisticRegression(d, n_classes)
        if name == "mlp":
            return MLP(d, n_classes, hidden=tuple(hidden) if hidden else (784, 784),
                       negative_slope=negative_slope, dropout=dropout)
        if image_shape is None or int(np.prod(image_shape)) != d:
            raise InputError("--model: cnn needs image data (a dataset with an image_shape)")
        return CNN(image_shape, n_classes)


# --------------------------------------------------------------------------- attackers
class _BoxOutput(nn.Module):
    """Maps pre-activations onto the box ``[lo, hi]`` with a sigmoid."""

    def __init__(self, lo, hi):
        super().__init__()
        self.register_buffer("lo", torch.tensor(np.array(lo, np.float64), dtype=torch.float32))
        self.register_buffer("width", torch.tensor(np.array(hi, np.float64) - np.array(lo, np.float64),
                                                      dtype=torch.float32))

    def forward(self, z):
        return self.lo + self.width * torch.sigmoid(z)


class AttackerMLP(nn.Module):
    """``L_theta(x, y)``: three fully connected layers on ``[x, onehot(y)]`` (leaky ReLU 0.2).

    The authors' MNIST attacker is 785-784-784-784 with the label as one extra input;
    a one-hot label is used here so that no class is numerically "larger" than another.
    """

    def __init__(self, d, n_classes, lo, hi, hidden=None, negative_slope=0.2):
        super().__init__()
        hidden = tuple(hidden) if hidden else (d, d)
        sizes = [d + n_classes, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], d)
        self.box = _BoxOutput(lo, hi)
        self.n_classes = n_classes
        self.negative_slope = negative_slope

    def forward(self, x, y):
        h = torch.cat([x, F.one_hot(y, self.n_classes).to(x.dtype)], dim=1)
        for layer in self.hidden:
            h = F.leaky_relu(layer(h), self.negative_slope)
        return self.box(self.out(h))


class AttackerConvAE(nn.Module):
    """``L_theta(x, y)``: convolutional autoencoder (3 convolutions, 3 transposed ones).

    The label enters as ``k`` constant one-hot planes stacked on the image channel.
    For 28x28 images: 28 -> 14 -> 7 -> 4 -> 7 -> 14 -> 28.
    """

    def __init__(self, image_shape, n_classes, lo, hi, channels=(16, 32, 64)):
        super().__init__()
        if image_shape is None or len(image_shape) != 2:
            raise InputError("--attacker: conv needs image data (a dataset with an image_shape)")
        self.image_shape = tuple(int(s) for s in image_shape)
        H, W = self.image_shape
        if H % 4 or W % 4:
            raise InputError(f"--attacker: conv needs image sides divisible by 4, got {self.image_shape}")
        c1, c2, c3 = channels
        self.n_classes = n_classes
        self.encoder = nn.ModuleList([nn.Conv2d(1 + n_classes, c1, 4, 2, 1), nn.Conv2d(c1, c2, 4, 2, 1),
                                      nn.Conv2d(c2, c3, 3, 2, 1)])
        # output_padding makes the first transposed convolution undo the odd-size step exactly
        h3 = math.ceil(H / 8)
        op = (H // 4) - ((h3 - 1) * 2 - 2 + 3)
        self.decoder = nn.ModuleList([nn.ConvTranspose2d(c3, c2, 3, 2, 1, output_padding=op),
                                      nn.ConvTranspose2d(c2, c1, 4, 2, 1),
                                      nn.ConvTranspose2d(c1, 1, 4, 2, 1)])
        self.box = _BoxOutput(lo, hi)

    def forward(self, x, y):
        n = x.shape[0]
        img = x.reshape(n, 1, *self.image_shape)
        planes = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *self.image_shape)
        h = torch.cat([img, planes], dim=1)
        for conv in self.encoder:
            h = F.relu(conv(h))
        for i, deconv in enumerate(self.decoder):
            h = deconv(h)
            if i < len(self.decoder) - 1:
                h = F.relu(h)
        return self.box(h.reshape(n, -1))


def make_attacker(name, d, n_classes, lo, hi, image_shape=None, hidden=None, seed=0):
    """A freshly initialised attacker ``mlp`` / ``conv``."""
    if name not in ATTACKERS:
        raise InputError(f"--attacker: unknown network {name!r}; choose one of {', '.join(ATTACKERS)}")
    with seeded_init(seed):
        if name == "mlp":
            return AttackerMLP(d, n_classes, lo, hi, hidden=hidden)
        if image_shape is None or int(np.prod(image_shape)) != d:
            raise InputError("--attacker: conv needs image data (a dataset with an image_shape)")
        return AttackerConvAE(image_shape, n_classes, lo, hi)


# --------------------------------------------------------------------------- schedules
def _batches(n, batch_size, gen, device, shuffle=True):
    if shuffle and gen is not None:
        order = torch.randperm(n, generator=gen, device=gen.device).to(device)
    elif shuffle:
        order = torch.randperm(n, device=device)
    else:
        order = torch.arange(n, device=device)
    bs = n if not batch_size or batch_size >= n else int(batch_size)
    return [order[i:i + bs] for i in range(0, n, bs)]


def fit_classifier(model, X, y, epochs=100, lr=0.1, batch_size=1000, gen=None, momentum=0.0,
                   weight_decay=0.0, sample_weight=None, label_smoothing=None):
    """The defender's training schedule: minibatch (stochastic) gradient descent on cross-entropy.

    Lu et al. pretrain and test with the *same* schedule -- batch 1000, learning rate 0.1,
    100 epochs, plain gradient descent (section 5.1, "Hyperparameters") -- so that
    ``acc1 - acc2`` measures the poisons and not a change of training.  ``sample_weight``
    counts copies of each row; ``label_smoothing`` (a float such as 0.9) is the one-sided
    smoothing pGAN applies to genuine labels of a binary classifier.
    """
    n = X.shape[0]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    model.train()
    for _ in range(int(epochs)):
        for idx in _batches(n, batch_size, gen, X.device):
            opt.zero_grad(set_to_none=True)
            loss = cross_entropy(model(X[idx]), y[idx],
                                 None if sample_weight is None else sample_weight[idx],
                                 label_smoothing)
            loss.backward()
            opt.step()
    model.eval()
    return model


def cross_entropy(logits, y, weight=None, smooth_to=None):
    """Mean cross-entropy; ``weight`` = copies per row; ``smooth_to`` = one-sided smoothing.

    One-sided smoothing (Salimans et al. 2016, used by pGAN section 3.3) moves the target
    of the true class from 1 to ``smooth_to`` and spreads the rest over the other classes.
    """
    if smooth_to is None:
        losses = F.cross_entropy(logits, y, reduction="none")
    else:
        k = logits.shape[1]
        target = torch.full_like(logits, (1.0 - smooth_to) / max(k - 1, 1))
        target.scatter_(1, y[:, None], smooth_to)
        losses = -(target * F.log_softmax(logits, dim=1)).sum(1)
    if weight is None:
        return losses.mean()
    return (losses * weight).sum() / weight.sum()


@torch.no_grad()
def error_rate(model, X, y, batch_size=4096):
    """Fraction of rows of ``X`` misclassified by ``model``."""
    model.eval()
    wrong = 0
    for i in range(0, X.shape[0], batch_size):
        wrong += int((model(X[i:i + batch_size]).argmax(1) != y[i:i + batch_size]).sum())
    return wrong / max(1, X.shape[0])


def pretrain_autoencoder(attacker, X, y, epochs=100, lr=1e-3, batch_size=1000, gen=None):
    """Lu et al. section 4.2 (1): pretrain ``L`` to reconstruct ``D_tr`` from ``(x, y)``.

    "This process is identical to training an autoencoder."  Adam on the mean squared
    reconstruction error (the paper does not name the optimiser for ``L``; plain gradient
    descent with step 0.1 leaves a sigmoid-output autoencoder at the mean image within
    100 epochs, which would defeat the purpose: poisons that look like data).
    Returns the final mean squared error.
    """
    opt = torch.optim.Adam(attacker.parameters(), lr=lr)
    attacker.train()
    last = float("nan")
    for _ in range(int(epochs)):
        total, count = 0.0, 0
        for idx in _batches(X.shape[0], batch_size, gen, X.device):
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(attacker(X[idx], y[idx]), X[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        last = total / max(1, count)
    attacker.eval()
    return last


# --------------------------------------------------------------------------- defender spec
class DefenderSpec:
    """A defender architecture together with its training schedule.

    The attack evaluations retrain "from scratch on ``D_tr ∪ D_p`` with the pretraining
    schedule" (Lu et al. section 4.2 (3)); keeping architecture and schedule in one
    object makes the clean and poisoned trainings identical except for the data.
    """

    def __init__(self, name="lr", d=784, n_classes=10, image_shape=None, hidden=None, epochs=100,
                 lr=0.1, batch_size=1000, momentum=0.0, weight_decay=0.0, dropout=0.0,
                 negative_slope=0.2, label_smoothing=None):
        self.name = name
        self.d = int(d)
        self.n_classes = int(n_classes)
        self.image_shape = image_shape
        self.hidden = tuple(hidden) if hidden else None
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.batch_size = batch_size
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.dropout = float(dropout)
        self.negative_slope = float(negative_slope)
        self.label_smoothing = label_smoothing
        make_defender(name, self.d, self.n_classes, image_shape, self.hidden)   # validate early

    def build(self, seed, device, dtype=torch.float32):
        return make_defender(self.name, self.d, self.n_classes, self.image_shape, self.hidden,
                             dropout=self.dropout, negative_slope=self.negative_slope,
                             seed=seed).to(device=device, dtype=dtype)

    def fit(self, X, y, seed, sample_weight=None, epochs=None):
        """A new network trained on ``(X, y)`` from the initialisation and batch order of ``seed``."""
        from .device import generator

        model = self.build(seed, X.device, X.dtype)
        with seeded_init(seed + 104729, X.device):          # dropout masks, if any
            fit_classifier(model, X, y, epochs=self.epochs if epochs is None else epochs, lr=self.lr,
                           batch_size=self.batch_size, gen=generator(seed + 7919, X.device),
                           momentum=self.momentum, weight_decay=self.weight_decay,
                           sample_weight=sample_weight, label_smoothing=self.label_smoothing)
        return model

    def settings(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}
