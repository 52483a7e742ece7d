"""pGAN: poisoning with a generator, a discriminator and the target classifier (Muñoz-González et al. 2019).

The generator ``G(z | Y_p)`` produces points labelled with the poisoning class ``y_p``;
the discriminator ``D`` tells them from genuine points of that class; the classifier
``C`` is trained on genuine data mixed with a fraction ``λ`` of generated points.  The
game (eq. 3) is

    min_G max_{D,C}  α V(D, G) + (1 - α) W(C, G)
    V(D, G) = E_z log(1 - D(G(z))) + E_x~p(x|Y_p) log D(x)                 (eq. 1)
    W(C, G) = -λ E_z L_C(G(z)) - (1 - λ) E_x~p(x) L_C(x)                   (eq. 2)

``α`` trades detectability (``α -> 1``: a plain conditional GAN) against damage
(``α = 0``: no detectability constraint); ``λ`` is the poison share in ``C``'s objective
(the paper uses ``λ = 0.9·Pr(Y_p)``).  Training follows Algorithm 1 of Appendix A:
``d_steps`` discriminator, ``c_steps`` classifier and ``g_steps`` generator updates per
iteration (4, 4, 1 in the paper), with the section 3.3 practices: one-sided label
smoothing for genuine points in ``D`` *and* in ``C``, dropout, and the non-saturating
generator loss ``-log D(G(z))`` in place of ``log(1 - D(G(z)))``.

The defense evaluated against (section 4) is :class:`DistanceOutlierDetector`, the
distance-based detector of Wu & Jermaine (2006) as used by Paudice et al. (2018): per
class, the score of a point is the distance to its ``k``-th nearest neighbour among
``s`` points drawn without replacement from trusted data of its label, and points above
the ``percentile`` of the trusted points' own scores are removed.  :func:`evaluate_pgan`
runs the paper's Figure 2/4 protocol: test error and detector removal rates as a
function of the poison fraction.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.base import PoisoningAttack, check_epsilon, n_poisons
from ..errors import InputError
from ..poisons import PoisonSet
from ..progress import bar
from ..validation import check_X
from .checkpoint import fingerprint, generator_state, load_checkpoint, restore_generator, save_checkpoint
from .device import as_tensor, generator, resolve_device, resolve_dtype, seeded_init
from .models import DefenderSpec, cross_entropy, encode_labels, error_rate, to_index
from .result import NNAttackResult


# --------------------------------------------------------------------------- networks
class Generator(nn.Module):
    """``G(z)``: noise -> leaky-ReLU layers with dropout -> tanh, mapped onto ``[lo, hi]``.

    Table 3: 100 x 784 x 1024 x 784, leaky ReLU (slope 0.1), tanh output, dropout 0.5.
    """

    def __init__(self, noise_dim, d, lo, hi, hidden=(784, 1024), negative_slope=0.1, dropout=0.5):
        super().__init__()
        sizes = [noise_dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], d)
        self.register_buffer("lo", torch.tensor(np.array(lo, np.float64), dtype=torch.float32))
        self.register_buffer("width", torch.tensor(np.array(hi, np.float64) - np.array(lo, np.float64),
                                                      dtype=torch.float32))
        self.negative_slope, self.dropout, self.noise_dim = negative_slope, dropout, noise_dim

    def forward(self, z):
        for layer in self.hidden:
            z = F.dropout(F.leaky_relu(layer(z), self.negative_slope), self.dropout, self.training)
        return self.lo + self.width * 0.5 * (torch.tanh(self.out(z)) + 1.0)


class Discriminator(nn.Module):
    """``D(x)`` as a logit (the sigmoid of Table 3 is folded into the loss for stability)."""

    def __init__(self, d, hidden=(1024, 512), negative_slope=0.1, dropout=0.5):
        super().__init__()
        sizes = [d, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        self.negative_slope, self.dropout = negative_slope, dropout

    def forward(self, x):
        for layer in self.hidden:
            x = F.dropout(F.leaky_relu(layer(x), self.negative_slope), self.dropout, self.training)
        return self.out(x).squeeze(1)


# --------------------------------------------------------------------------- the detector
class DistanceOutlierDetector:
    """Per-class distance-based outlier detector (Wu & Jermaine 2006; Paudice et al. 2018).

    Parameters
    ----------
    k : int
        The score is the distance to the ``k``-th nearest neighbour (paper: 5) ...
    s : int
        ... among ``s`` trusted points of the same label drawn without replacement for each
        scored point (paper: 20).
    percentile : float
        The threshold is this quantile of the trusted points' own scores (each computed
        without the point itself), so about ``1 - percentile`` of genuine data is removed
        (paper: 0.95).
    random_state : int
    """

    def __init__(self, k=5, s=20, percentile=0.95, random_state=0):
        self.k, self.s, self.percentile, self.random_state = k, s, percentile, random_state

    def fit(self, X, y):
        X = check_X(X, "X_trusted")
        y = np.asarray(y).ravel()
        if not (1 <= self.k <= self.s):
            raise InputError(f"k: need 1 <= k <= s, got k={self.k}, s={self.s}")
        if not (0 < self.percentile <= 1):
            raise InputError(f"--percentile: must be in (0, 1], got {self.percentile}")
        self.rng_ = np.random.default_rng(self.random_state)
        self.trusted_, self.threshold_ = {}, {}
        for c in np.unique(y):
            T = X[y == c]
            if T.shape[0] <= self.s:
                raise InputError(f"X_trusted: class {c} has {T.shape[0]} trusted points; need more than s={self.s}")
            self.trusted_[c] = T
            self.threshold_[c] = float(np.quantile(self._scores(T, T, exclude_self=True), self.percentile))
        return self

    def _scores(self, Q, T, exclude_self=False):
        d2 = (np.sum(Q * Q, 1)[:, None] + np.sum(T * T, 1)[None, :] - 2.0 * Q @ T.T)
        dist = np.sqrt(np.maximum(d2, 0.0))
        keys = self.rng_.random(dist.shape)
        if exclude_self:
            np.fill_diagonal(keys, np.inf)              # a trusted point never samples itself
        sample = np.argpartition(keys, self.s - 1, axis=1)[:, :self.s]
        ds = np.take_along_axis(dist, sample, axis=1)
        return np.partition(ds, self.k - 1, axis=1)[:, self.k - 1]

    def score(self, X, y):
        """Outlier score of every row (distance to the k-th neighbour in a sample of its class)."""
        X = check_X(X, "X")
        y = np.asarray(y).ravel()
        out = np.zeros(X.shape[0])
        for c in np.unique(y):
            if c not in self.trusted_:
                raise InputError(f"y: label {c} has no trusted data in the detector")
            m = y == c
            out[m] = self._scores(X[m], self.trusted_[c])
        return out

    def keep(self, X, y):
        """Boolean mask of the rows the defense keeps (score at most its class threshold)."""
        y = np.asarray(y).ravel()
        sc = self.score(X, y)
        thr = np.array([self.threshold_[c] for c in y]) if len(y) else np.zeros(0)
        return sc <= thr


# --------------------------------------------------------------------------- the attack
def _global_rng(dev):
    """torch's global RNG state(s), saved with a checkpoint so that dropout resumes exactly."""
    out = {"global_rng": torch.get_rng_state()}
    if dev.type == "cuda":
        out["cuda_rng"] = torch.cuda.get_rng_state(dev).cpu()
    return out


def _restore_global_rng(state, dev):
    torch.set_rng_state(state["global_rng"].cpu())
    if dev.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), dev)


class PGAN(PoisoningAttack):
    """pGAN poisoning attack (Muñoz-González et al. 2019, eq. 3, Algorithm 1 of Appendix A).

    An attack of the package's contract (:mod:`convexpoison.attacks.base`):
    ``PGAN(...).fit(data)`` trains ``G``, ``D`` and ``C`` on a
    :class:`~convexpoison.datasets.Dataset` (generated points lie in its domain's box; a
    ``cnn`` classifier reads its ``image_shape``; the number of classes is its
    ``n_classes``) and sets ``poisons_`` to ``n_poisons(epsilon, n_train)`` generated
    points (:meth:`generate` draws any number more).

    Parameters
    ----------
    alpha : float in [0, 1]
        Weight of detectability (``V``) against damage (``W``).
    lam : float or None
        Poison share ``λ`` in the classifier's objective (default ``0.9·Pr(Y_p)``).
    poison_class : label or None
        The class ``y_p`` of the generated points, in the caller's label convention
        (default: the last class -- +1 for binary data, Ankle boot in fmnist-sneaker-boot).
    classifier : {"lr", "mlp", "cnn"}
        The surrogate ``C`` (paper: 784 x 1024 x 512 MLP with dropout 0.5).
    iterations, batch_size, d_steps, c_steps, g_steps : training loop (paper: batch 200,
        4 / 4 / 1 steps; thousands of epochs -- reduce on a CPU).
    g_lr, d_lr, c_lr, momentum : Adam 1e-4 for ``G``; SGD 1e-3 with momentum 0.9 for ``D``, ``C``.
    smooth_to : float
        One-sided label smoothing target for genuine points (0.9).
    epsilon : float
        Poison fraction of the clean training set: ``fit`` generates
        ``n_poisons(ε, N) = floor(ε·N)`` points (:func:`convexpoison.attacks.base.n_poisons`).
    device, dtype, random_state, checkpoint, checkpoint_every, progress, progress_bar : as in
        :class:`~convexpoison.nn.tgda.TGDAAttack`.

    Ctrl-C during training stops cleanly: the networks are kept as they stand
    (``interrupted_`` is True, ``result_.status`` is ``"interrupted"``); the checkpoint
    holds the last saved iteration.
    """

    _name = "pGAN"
    _needs = "the clean training data and its domain"

    def __init__(self, alpha=0.1, lam=None, poison_class=None, classifier="mlp", noise_dim=100,
                 generator_hidden=(784, 1024), discriminator_hidden=(1024, 512),
                 classifier_hidden=(1024, 512), dropout=0.5, negative_slope=0.1, iterations=1000,
                 batch_size=200, d_steps=4, c_steps=4, g_steps=1, g_lr=1e-4, d_lr=1e-3, c_lr=1e-3,
                 momentum=0.9, smooth_to=0.9, epsilon=0.2, device="auto", dtype="float32",
                 random_state=0, checkpoint=None, checkpoint_every=100, progress=None, log_every=50,
                 progress_bar=None):
        self.alpha = alpha
        self.lam = lam
        self.poison_class = poison_class
        self.classifier = classifier
        self.noise_dim = noise_dim
        self.generator_hidden = generator_hidden
        self.discriminator_hidden = discriminator_hidden
        self.classifier_hidden = classifier_hidden
        self.dropout = dropout
        self.negative_slope = negative_slope
        self.iterations = iterations
        self.batch_size = batch_size
        self.d_steps = d_steps
        self.c_steps = c_steps
        self.g_steps = g_steps
        self.g_lr = g_lr
        self.d_lr = d_lr
        self.c_lr = c_lr
        self.momentum = momentum
        self.smooth_to = smooth_to
        self.epsilon = epsilon
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.log_every = log_every
        self.progress_bar = progress_bar

    def settings(self):
        skip = {"checkpoint", "checkpoint_every", "progress", "progress_bar", "iterations", "device",
                "log_every"}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()
                if not k.endswith("_") and k not in skip}

    def _check(self):
        if not (0 <= float(self.alpha) <= 1):
            raise InputError(f"--alpha: must be in [0, 1], got {self.alpha!r}")
        if self.lam is not None and not (0 <= float(self.lam) <= 1):
            raise InputError(f"--lam: must be in [0, 1], got {self.lam!r}")
        check_epsilon(self.epsilon)
        for name in ("iterations", "batch_size", "d_steps", "c_steps", "g_steps", "noise_dim"):
            v = getattr(self, name)
            if int(v) != v or v < 0 or (name in ("batch_size", "noise_dim") and v < 1):
                raise InputError(f"--{name.replace('_', '-')}: must be a non-negative integer, got {v!r}")

    # ------------------------------------------------------------------ fit
    def _fit(self, data):
        """Train ``G``, ``D`` and ``C`` on the genuine data of ``data`` (a resolved
        :class:`~convexpoison.datasets.Dataset`), then generate ``poisons_``."""
        self._check()
        X, y = data.X_train, data.y_train
        y_idx, self.binary_ = encode_labels(y)
        n, d = X.shape
        n_p = n_poisons(self.epsilon, n)
        k = max(2, int(data.n_classes))
        image_shape = data.image_shape
        self.n_classes_ = k
        yp = k - 1 if self.poison_class is None else int(to_index([self.poison_class], self.binary_)[0])
        if not 0 <= yp < k:
            raise InputError(f"--poison-class: {self.poison_class!r} is not a class of the data")
        self.poison_index_ = yp
        self.poison_label_ = int(2 * yp - 1) if self.binary_ else yp
        prior = float(np.mean(y_idx == yp))
        if prior == 0:
            raise InputError(f"--poison-class: no training point has label {self.poison_label_}")
        self.lam_ = 0.9 * prior if self.lam is None else float(self.lam)
        lo, hi = self.lo_, self.hi_ = data.domain.lo, data.domain.hi
        dev = self.device_ = resolve_device(self.device)
        dt = resolve_dtype(self.dtype)
        seed = int(self.random_state)

        with seeded_init(seed + 11):
            self.generator_ = Generator(self.noise_dim, d, lo, hi, tuple(self.generator_hidden),
                                        self.negative_slope, self.dropout).to(dev, dt)
            self.discriminator_ = Discriminator(d, tuple(self.discriminator_hidden), self.negative_slope,
                                                self.dropout).to(dev, dt)
        self.classifier_spec_ = DefenderSpec(self.classifier, d, k, image_shape, self.classifier_hidden,
                                             dropout=self.dropout if self.classifier == "mlp" else 0.0,
                                             negative_slope=self.negative_slope)
        self.classifier_ = self.classifier_spec_.build(seed + 12, dev, dt)
        opt_g = torch.optim.Adam(self.generator_.parameters(), lr=self.g_lr)
        opt_d = torch.optim.SGD(self.discriminator_.parameters(), lr=self.d_lr, momentum=self.momentum)
        opt_c = torch.optim.SGD(self.classifier_.parameters(), lr=self.c_lr, momentum=self.momentum)
        gen = generator(seed + 13, dev)
        self.history_ = []
        self.seconds_ = 0.0

        Xt = as_tensor(X, dev, dt)
        yt = torch.as_tensor(y_idx, device=dev)
        X_cls = Xt[yt == yp]                     # genuine points of the poisoning class
        fp = fingerprint([X, y_idx, lo, hi], self.settings())
        start = 0
        state = load_checkpoint(self.checkpoint, dev, fp) if self.checkpoint else None
        if state is not None:
            for mod, key in ((self.generator_, "generator"), (self.discriminator_, "discriminator"),
                             (self.classifier_, "classifier"), (opt_g, "opt_g"), (opt_d, "opt_d"),
                             (opt_c, "opt_c")):
                mod.load_state_dict(state[key])
            restore_generator(gen, state["rng"])
            self.history_ = list(state["history"])
            self.seconds_ = float(state["seconds"])
            start = int(state["iteration"])
            self._say(f"pgan: resumed from {self.checkpoint} after iteration {start}")

        m = int(self.batch_size)
        a, lam, s = float(self.alpha), self.lam_, float(self.smooth_to)
        y_pois = torch.full((m,), yp, device=dev, dtype=torch.long)
        ones = torch.full((m,), s, device=dev, dtype=dt)        # one-sided smoothing: genuine -> s
        zeros = torch.zeros(m, device=dev, dtype=dt)
        with seeded_init(seed + 14, dev):                  # dropout masks come from the global RNG
            if state is not None:
                _restore_global_rng(state, dev)
            t0 = time.perf_counter()
            self.interrupted_ = False
            done = start                               # iterations completed
            try:
                with bar(int(self.iterations), f"pgan α={a:g}", self.progress_bar, unit="it",
                         initial=start) as pbar:
                    for it in range(start + 1, int(self.iterations) + 1):
                        self.generator_.train(), self.discriminator_.train(), self.classifier_.train()
                        for _ in range(int(self.d_steps)):
                            z = torch.randn(m, self.noise_dim, generator=gen, device=dev, dtype=dt)
                            xr = X_cls[torch.randint(X_cls.shape[0], (m,), generator=gen, device=dev)]
                            with torch.no_grad():
                                xf = self.generator_(z)
                            loss_d = a * (F.binary_cross_entropy_with_logits(self.discriminator_(xr), ones)
                                          + F.binary_cross_entropy_with_logits(self.discriminator_(xf), zeros))
                            opt_d.zero_grad(set_to_none=True)
                            loss_d.backward()
                            opt_d.step()
                        for _ in range(int(self.c_steps)):
                            z = torch.randn(m, self.noise_dim, generator=gen, device=dev, dtype=dt)
                            idx = torch.randint(n, (m,), generator=gen, device=dev)
                            with torch.no_grad():
                                xf = self.generator_(z)
                            loss_c = (1 - a) * (lam * cross_entropy(self.classifier_(xf), y_pois)
                                                + (1 - lam) * cross_entropy(self.classifier_(Xt[idx]), yt[idx],
                                                                            smooth_to=s))
                            opt_c.zero_grad(set_to_none=True)
                            loss_c.backward()
                            opt_c.step()
                        for _ in range(int(self.g_steps)):
                            z = torch.randn(m, self.noise_dim, generator=gen, device=dev, dtype=dt)
                            xf = self.generator_(z)
                            # non-saturating form of α log(1 - D(G(z))): minimise -α log D(G(z))
                            loss_g = (a * F.binary_cross_entropy_with_logits(self.discriminator_(xf), torch.ones_like(zeros))
                                      - (1 - a) * cross_entropy(self.classifier_(xf), y_pois))
                            opt_g.zero_grad(set_to_none=True)
                            loss_g.backward()
                            opt_g.step()
                        done = it
                        if it % int(self.log_every) == 0 or it == int(self.iterations):
                            rec = {"iteration": it, "loss_d": loss_d.item() if self.d_steps else float("nan"),
                                   "loss_c": loss_c.item() if self.c_steps else float("nan"),
                                   "loss_g": loss_g.item() if self.g_steps else float("nan")}
                            self.history_.append(rec)
                            self._say(f"pgan α={a:g}: iteration {it}/{self.iterations}: D {rec['loss_d']:.4f}, "
                                      f"C {rec['loss_c']:.4f}, G {rec['loss_g']:.4f}")
                        if self.checkpoint and (it % int(self.checkpoint_every) == 0 or it == int(self.iterations)):
                            save_checkpoint(self.checkpoint, {
                                "fingerprint": fp, "iteration": it, "generator": self.generator_.state_dict(),
                                "discriminator": self.discriminator_.state_dict(),
                                "classifier": self.classifier_.state_dict(), "opt_g": opt_g.state_dict(),
                                "opt_d": opt_d.state_dict(), "opt_c": opt_c.state_dict(),
                                "rng": generator_state(gen), "history": self.history_, **_global_rng(dev),
                                "seconds": self.seconds_ + time.perf_counter() - t0})
                        pbar.update(1)
            except KeyboardInterrupt:
                # the user's stop: keep the networks as they stand
                self.interrupted_ = True
                self._say(f"pgan α={a:g}: interrupted; keeping the networks as they stand")
        self.seconds_ += time.perf_counter() - t0
        self.generator_.eval(), self.discriminator_.eval(), self.classifier_.eval()
        Xg, yg = self.generate(n_p)
        self.poisons_ = PoisonSet(Xg, yg, meta={"attack": "pgan", "epsilon": float(self.epsilon),
                                                "alpha": float(self.alpha)})
        last = self.history_[-1] if self.history_ else {}
        self.result_ = NNAttackResult("pGAN", "interrupted" if self.interrupted_ else "done", {
            "iterations": int(done), "lam": float(self.lam_),
            "poison_label": int(self.poison_label_), "n_poisons": int(n_p),
            "final_losses": {key: last[key] for key in ("loss_d", "loss_c", "loss_g") if key in last},
            "seconds": float(self.seconds_)})

    @torch.no_grad()
    def generate(self, n, seed=None):
        """``n`` poison points ``G(z)`` (numpy, in the domain box), all labelled ``poison_label_``."""
        if not hasattr(self, "generator_"):
            raise InputError("generate: call fit first")
        dev = self.device_
        dt = next(self.generator_.parameters()).dtype
        g = generator(int(self.random_state) + 17 if seed is None else seed, dev)
        self.generator_.eval()
        out = [self.generator_(torch.randn(min(4096, n - i), self.noise_dim, generator=g, device=dev, dtype=dt))
               for i in range(0, int(n), 4096)]
        X = torch.cat(out).cpu().numpy().astype(np.float64) if out else np.zeros((0, self.generator_.out.out_features))
        # the tanh box output lies in [lo, hi] up to the float32 rounding of lo and width;
        # the clip removes that rounding (no change on a [0, 1] box)
        X = np.clip(X, self.lo_, self.hi_)
        return X, np.full(X.shape[0], self.poison_label_, dtype=np.int64)


# --------------------------------------------------------------------------- evaluation
def evaluate_pgan(attack, X, y, X_test, y_test, fractions=(0.0, 0.1, 0.2, 0.3, 0.4), n_runs=1,
                  n_per_class=500, spec=None, detector=None, defense=True, random_state=0, progress=None):
    """The paper's evaluation (section 4, Figures 2 and 4) of a fitted :class:`PGAN`.

    Per run: draw ``n_per_class`` genuine points per class to fit the outlier detector
    and ``n_per_class`` others to train a fresh classifier; for each poison fraction
    ``p`` replace ``n_poisons(p, |S|) = floor(p·|S|)`` genuine points *of the poisoning class* by generated
    ones ("to preserve the ratio between classes we substitute genuine samples"), remove
    what the detector flags, train the classifier from scratch, and measure the test
    error.  Returns per fraction the mean test error, the fraction of poisons removed
    and the fraction of genuine points removed.
    """
    X = check_X(X, "X")
    y = np.asarray(y).ravel()
    dev = attack.device_
    dt = next(attack.generator_.parameters()).dtype
    classes = np.unique(y)
    spec = spec or DefenderSpec(attack.classifier, X.shape[1], attack.n_classes_,
                                attack.classifier_spec_.image_shape, (1024, 512),
                                epochs=100, lr=0.01, batch_size=200, momentum=0.9, dropout=0.5,
                                negative_slope=0.1)
    Xte = as_tensor(check_X(X_test, "X_test"), dev, dt)
    yte = torch.as_tensor(to_index(y_test, attack.binary_), device=dev)
    rng = np.random.default_rng(random_state)
    rows = {p: [] for p in fractions}
    for r in range(int(n_runs)):
        trusted, train = [], []
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            per = min(int(n_per_class), len(idx) // 2)
            trusted.append(idx[:per])
            train.append(idx[per:2 * per])
        trusted, train = np.concatenate(trusted), np.concatenate(train)
        det = None
        if defense:
            det = (detector or DistanceOutlierDetector(random_state=random_state + r))
            det = DistanceOutlierDetector(det.k, det.s, det.percentile, det.random_state + r).fit(
                X[trusted], y[trusted])
        cls_rows = np.flatnonzero(y[train] == attack.poison_label_)
        for p in fractions:
            n_poison = n_poisons(p, len(train)) if p > 0 else 0
            if n_poison > len(cls_rows):
                raise InputError(f"--fractions: {p} needs {n_poison} substitutions but the poisoning "
                                 f"class has {len(cls_rows)} training points")
            Xs, ys = X[train].copy(), y[train].copy()
            is_poison = np.zeros(len(train), bool)
            if n_poison:
                Xg, yg = attack.generate(n_poison, seed=int(random_state) * 7919 + 31 * r + n_poison)
                Xs[cls_rows[:n_poison]], ys[cls_rows[:n_poison]] = Xg, yg
                is_poison[cls_rows[:n_poison]] = True
            keep = det.keep(Xs, ys) if det is not None else np.ones(len(ys), bool)
            model = spec.fit(as_tensor(Xs[keep], dev, dt),
                             torch.as_tensor(to_index(ys[keep], attack.binary_), device=dev),
                             seed=int(random_state) + r)
            err = error_rate(model, Xte, yte)
            rows[p].append({
                "test_error": err,
                "poisons_removed": float(1 - keep[is_poison].mean()) if is_poison.any() else float("nan"),
                "genuine_removed": float(1 - keep[~is_poison].mean())})
            if progress:
                progress(f"pgan α={attack.alpha:g} run {r + 1}/{n_runs}: {p:.0%} poisons -> test error "
                         f"{err:.4f}; detector removed {rows[p][-1]['poisons_removed']:.2f} of poisons, "
                         f"{rows[p][-1]['genuine_removed']:.3f} of genuine")
    out = {}
    for p, rs in rows.items():
        out[f"{float(p):g}"] = {key: float(np.nanmean([x[key] for x in rs])) if not all(
            math.isnan(x[key]) for x in rs) else None for key in rs[0]}
    return out
