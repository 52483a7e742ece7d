"""The TGDA attack: total gradient descent ascent on a Stackelberg poisoning game (Lu et al. 2022).

The attacker ``L_theta`` (the *leader*) turns ``εN`` training points ``D_p^0`` into poisons
``D_p = L_theta(D_p^0)``; the defender ``F_w`` (the *follower*) minimises its training
loss on ``D_tr ∪ D_p``:

    f(theta, w) = L(D_tr ∪ L_theta(D_p^0); w)                         (eq. 5)
    ell(w)      = L(D_v; w)   -- maximised by the attacker             (eq. 6)

Because ``ell`` depends on ``theta`` only through the defender's response ``w*(theta)``,
the attacker ascends the *total* derivative (eqs. 15 and 17)

    D_theta ell = grad_theta ell - grad2_{theta w} f . (grad2_{ww} f)^{-1} . grad_w ell,

with ``(grad2_{ww} f)^{-1} grad_w ell`` from conjugate gradient on Hessian-vector
products (double backward through autograd), as the paper does following Zhang et al.
(2021).  Algorithm 1 alternates ``m`` such ascent steps on ``theta`` with ``n`` gradient
descent steps on ``w``; section 4.2 gives the three-stage protocol implemented by
:class:`TGDAAttack`: (1) pretrain ``L`` as an autoencoder and ``F`` to convergence on
``D_tr``; (2) attack; (3) retrain ``F`` from scratch on ``D_tr ∪ D_p`` with the
pretraining schedule and report ``acc1 - acc2`` (:meth:`TGDAAttack.evaluate`).

Settings the paper compares (section 5.3): ``formulation="zero-sum"`` (``ell = f``,
Table 5), ``leader="defender"`` (Table 4), ``cold_start=True`` (Table 8), and the step
counts ``m``, ``n`` (Table 7).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks.base import PoisoningAttack, check_epsilon, n_poisons
from ..errors import InputError
from ..poisons import PoisonSet
from ..progress import bar
from ..validation import check_X
from .checkpoint import fingerprint, generator_state, load_checkpoint, restore_generator, save_checkpoint
from .device import as_tensor, generator, resolve_device, resolve_dtype
from .models import (ATTACKERS, DefenderSpec, decode_labels, encode_labels, error_rate,
                     make_attacker, pretrain_autoencoder, to_index)
from .result import NNAttackResult

FORMULATIONS = ("nonzero-sum", "zero-sum")
LEADERS = ("attacker", "defender")


# --------------------------------------------------------------------------- losses
def defender_loss(defender, X_tr, y_tr, X_p, y_p, weight_decay=0.0, tr_scale=1.0):
    """``f``: mean cross-entropy over ``D_tr ∪ D_p`` (+ ``weight_decay/2 ‖w‖²``).

    When ``X_tr`` is a minibatch of the clean set its rows count ``tr_scale = N/|B|`` times,
    so that the poisons keep their true share ``εN / (N + εN)`` of the objective.
    """
    n_tr, n_p = X_tr.shape[0], X_p.shape[0]
    out = defender(torch.cat([X_tr, X_p]))
    ce_tr = F.cross_entropy(out[:n_tr], y_tr, reduction="sum")
    ce_p = F.cross_entropy(out[n_tr:], y_p, reduction="sum") if n_p else out.new_zeros(())
    f = (tr_scale * ce_tr + ce_p) / (tr_scale * n_tr + n_p)
    if weight_decay:
        f = f + 0.5 * weight_decay * sum((p * p).sum() for p in defender.parameters())
    return f


def validation_loss(defender, X_v, y_v):
    """``ell``: the attacker's objective in the non-zero-sum game, mean cross-entropy on ``D_v``."""
    return F.cross_entropy(defender(X_v), y_v)


# --------------------------------------------------------------------------- linear algebra
def _flatten(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflatten(vec, like):
    out, i = [], 0
    for p in like:
        out.append(vec[i:i + p.numel()].view_as(p))
        i += p.numel()
    return out


def conjugate_gradient(matvec, b, max_iter=16, tol=1e-10, damping=0.0, normal=False):
    """Approximately solve ``(H + damping·I) x = b`` given only products ``v -> H v``.

    ``normal=False``: plain conjugate gradient, for a positive definite ``H`` (a convex
    defender, or ``damping`` large enough); it stops at a direction of non-positive
    curvature.  ``normal=True``: conjugate gradient on the normal equations
    ``A² x = A b`` with ``A = H + damping·I`` -- two products per iteration, but valid for
    the indefinite Hessians of neural networks (the choice of the TGDA authors' code,
    after Zhang et al. 2021).  Starts from ``x = 0``; stops after ``max_iter`` iterations
    or when the residual falls below ``tol·‖rhs‖``.

    Returns ``(x, info)`` with ``info = {"iterations", "residual" (relative),
    "negative_curvature"}``.
    """
    def A(v):
        Hv = matvec(v)
        return Hv + damping * v if damping else Hv

    if normal:
        rhs, op = A(b), (lambda v: A(A(v)))
    else:
        rhs, op = b, A
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rs = torch.dot(r, r)
    bnorm = math.sqrt(float(rs))
    info = {"iterations": 0, "residual": 0.0, "negative_curvature": False}
    if bnorm == 0.0:
        return x, info
    for it in range(int(max_iter)):
        Ap = op(p)
        pAp = torch.dot(p, Ap)
        if not float(pAp) > 0:
            info["negative_curvature"] = True
            break
        alpha = rs / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = torch.dot(r, r)
        info["iterations"] = it + 1
        if math.sqrt(float(rs_new)) <= tol * bnorm:
            rs = rs_new
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    info["residual"] = math.sqrt(float(rs)) / bnorm
    return x, info


# --------------------------------------------------------------------------- total gradient
def total_gradient(attacker, defender, X_tr, y_tr, X_p0, y_p0, X_v=None, y_v=None,
                   formulation="nonzero-sum", weight_decay=0.0, tr_scale=1.0, cg_iters=16,
                   cg_tol=1e-10, cg_damping=0.0, cg_normal=True):
    """The total derivative ``D_theta ell`` of the attacker's objective (Lu et al. eq. 17).

    ``D_theta ell = grad_theta ell - grad2_{theta w} f · v`` with ``v`` the conjugate-gradient
    solution of ``grad2_{ww} f · v = grad_w ell`` at the defender's current ``w``.  In the
    non-zero-sum game ``ell`` is the validation loss (no direct ``theta`` term); in the
    zero-sum game ``ell = f``.  The result is exact when ``w`` minimises ``f`` and CG
    converges; it is the derivative of ``ell(w*(theta))`` by the implicit function theorem.

    Returns ``(grads, info)``: ``grads`` a list shaped like ``attacker.parameters()`` (the
    *ascent* direction) and ``info`` with the losses and CG statistics.
    """
    if formulation not in FORMULATIONS:
        raise InputError(f"formulation: expected one of {', '.join(FORMULATIONS)}, got {formulation!r}")
    w = [p for p in defender.parameters() if p.requires_grad]
    th = [p for p in attacker.parameters() if p.requires_grad]
    X_p = attacker(X_p0, y_p0)
    f = defender_loss(defender, X_tr, y_tr, X_p, y_p0, weight_decay, tr_scale)
    g_f = torch.autograd.grad(f, w, create_graph=True)
    if formulation == "zero-sum":
        ell = f
        g_l_w = [g.detach() for g in g_f]
        g_l_th = torch.autograd.grad(f, th, retain_graph=True, allow_unused=True)
    else:
        if X_v is None:
            raise InputError("X_v: the non-zero-sum game needs a validation set")
        ell = validation_loss(defender, X_v, y_v)
        g_l_w = torch.autograd.grad(ell, w)
        g_l_th = [None] * len(th)

    def hvp(v):
        hv = torch.autograd.grad(g_f, w, grad_outputs=_unflatten(v, w), retain_graph=True)
        return _flatten(hv).detach()

    b = _flatten(g_l_w).detach()
    v, info = conjugate_gradient(hvp, b, max_iter=cg_iters, tol=cg_tol, damping=cg_damping,
                                 normal=cg_normal)
    mixed = torch.autograd.grad(g_f, th, grad_outputs=_unflatten(v, w), allow_unused=True)
    grads = []
    for p, gl, m in zip(th, g_l_th, mixed):
        g = torch.zeros_like(p) if gl is None else gl.detach().clone()
        if m is not None:
            g = g - m.detach()
        grads.append(g)
    info.update(attacker_loss=float(ell.detach()), defender_loss=float(f.detach()),
                grad_norm=float(torch.sqrt(sum((g * g).sum() for g in grads))))
    return grads, info


# --------------------------------------------------------------------------- the attack
class TGDAAttack(PoisoningAttack):
    """TGDA poisoning attack with Lu et al.'s three-stage protocol (Algorithm 1, section 4.2).

    An attack of the package's contract (:mod:`convexpoison.attacks.base`):
    ``TGDAAttack(...).fit(data)`` runs stages (1) and (2) on a
    :class:`~convexpoison.datasets.Dataset` (the poisons' box is its domain, ``cnn`` and
    ``conv`` networks read its ``image_shape``, the number of classes is its
    ``n_classes``); ``poisons_`` holds the poisons and :meth:`evaluate` runs stage (3).

    Parameters
    ----------
    defender : {"lr", "mlp", "cnn"}
        The defender network ``F`` (section 5.1).
    attacker : {"mlp", "conv"}
        The attacker network ``L`` (fully connected for MNIST-like data, a convolutional
        autoencoder for images).
    epsilon : float
        Poison fraction of ``D_tr`` (the clean rows left after holding out ``D_v``):
        ``|D_p| = n_poisons(ε, |D_tr|)``, i.e. ``floor(ε·|D_tr|)``
        (:func:`convexpoison.attacks.base.n_poisons`).
    rounds : int
        ``T``, rounds of Algorithm 1 (the paper: 200 epochs of its minibatches).
    attacker_steps, defender_steps : int
        ``m`` total-gradient ascent steps and ``n`` gradient descent steps per round
        (paper defaults m = 1, n = 20).
    attacker_lr, defender_lr : float
        Step sizes ``α`` and ``β`` (paper: α = 0.01 in the text, 1 in the authors' MNIST
        script; β = 0.1).
    attacker_optimizer : {"adam", "sgd"}
        ``sgd`` is Algorithm 1's plain ascent ``theta += α D_theta ell``; ``adam`` (default)
        feeds the same total gradient to Adam (step ``α`` per coordinate).  Measured on
        mnist10 with 40 rounds (docs/nn.md): plain ascent either barely moved the poisons
        (α <= 30) or collapsed the attacker onto one output image for every input (α >=
        100), after which the total gradient vanished; Adam moves them steadily, but at
        α >= 1e-4 it too collapses the MLP attacker within a few rounds (Adam moves every
        weight of its 784-wide layers by about α per step whatever the gradient's size),
        and the collapsed poisons hurt the full-size MLP defender less than a label flip.
        The default α = 3e-5 keeps the poisons recognisably derived from their sources
        and beat both label flips with both the LR and the MLP defender.  (The authors
        run 12 000 ascent steps; a CPU run affords tens.)
    pretrain_epochs, pretrain_lr, batch_size : the defender's schedule for pretraining
        and for the final retraining (paper: 100 epochs, 0.1, batch 1000).
    attack_batch_size : int or None
        Clean rows per round in the attack stage (``None``: all of ``D_tr`` and ``D_v``);
        the poisons always enter in full, re-weighted to their true share.
    autoencoder_epochs, autoencoder_lr : pretraining of ``L`` (Adam on the reconstruction
        error).
    hidden, attacker_hidden : hidden widths of the MLP defender / attacker.
    cg_iters, cg_tol, cg_damping, cg_normal : see :func:`conjugate_gradient` (paper code:
        16 iterations on the normal equations, no damping).
    formulation : {"nonzero-sum", "zero-sum"}
    leader : {"attacker", "defender"}
        Who moves first in each round.  In the non-zero-sum game the attacker's own
        gradient vanishes (``ell`` does not depend on ``theta`` directly), so a
        follower-attacker has nothing to respond to; "defender as leader" is therefore the
        reversed order of moves -- the defender's ``n`` steps come before the attacker's
        ``m`` total-gradient steps, which see the defender's latest move.
    cold_start : bool
        Restart the defender from ``w_pre`` before its steps each round (Table 8).
    val_fraction : float
        Share of the training data held out as ``D_v`` (paper: 30%).
    weight_decay : float
        L2 term in ``f`` (0 in the paper; > 0 makes ``grad2_{ww} f`` positive definite).
    device : "auto", "cpu", "cuda"
    dtype : "float32" or "float64"
    random_state : int
    checkpoint : path or None
        Save the attacker, the defender and the RNG state after every round; a run given
        an existing checkpoint of the same data and settings resumes from it.
    progress : callable or None
        Called with one line of text per round.
    progress_bar : None, True or False
        A bar of the rounds on standard error: None (when it is a terminal), True
        (always), False (never); :mod:`convexpoison.progress`.

    Ctrl-C during the rounds stops cleanly: the poison is generated by the attacker as it
    stands (``interrupted_`` is True, ``result_.status`` is ``"interrupted"``); the
    checkpoint holds the last completed round.

    Attributes (after :meth:`fit`)
    -------------------------------
    poisons_ : :class:`~convexpoison.poisons.PoisonSet` of the poisons ``L_theta(D_p^0)``
        (one copy each; labels those of their sources, in the data's convention).
    result_ : :class:`~convexpoison.nn.result.NNAttackResult`; ``status`` is ``"done"`` or
        ``"interrupted"``.
    attacker_, defender_, defender_pre_ : the trained networks (``defender_pre_`` is
        ``F`` with ``w_pre``, trained on ``D_tr`` only).
    train_index_, val_index_, poison_index_ : rows of the input forming ``D_tr``, ``D_v``, ``D_p^0``.
    history_ : list of per-round dicts.
    device_ : torch.device.
    """

    _name = "TGDA"
    _needs = "the clean training data, its domain and a validation split"

    def __init__(self, defender="lr", attacker="mlp", epsilon=0.03, rounds=40, attacker_steps=1,
                 defender_steps=20, attacker_lr=3e-5, defender_lr=0.1, pretrain_epochs=100,
                 pretrain_lr=0.1, batch_size=1000, attack_batch_size=None, autoencoder_epochs=100,
                 autoencoder_lr=1e-3, hidden=None, attacker_hidden=None, cg_iters=16, cg_tol=1e-10,
                 cg_damping=0.0, cg_normal=True, formulation="nonzero-sum", leader="attacker",
                 cold_start=False, val_fraction=0.3, weight_decay=0.0, attacker_optimizer="adam",
                 device="auto", dtype="float32", random_state=0, checkpoint=None, progress=None,
                 progress_bar=None):
        self.defender = defender
        self.attacker = attacker
        self.epsilon = epsilon
        self.rounds = rounds
        self.attacker_steps = attacker_steps
        self.defender_steps = defender_steps
        self.attacker_lr = attacker_lr
        self.defender_lr = defender_lr
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.attack_batch_size = attack_batch_size
        self.autoencoder_epochs = autoencoder_epochs
        self.autoencoder_lr = autoencoder_lr
        self.hidden = hidden
        self.attacker_hidden = attacker_hidden
        self.cg_iters = cg_iters
        self.cg_tol = cg_tol
        self.cg_damping = cg_damping
        self.cg_normal = cg_normal
        self.formulation = formulation
        self.leader = leader
        self.cold_start = cold_start
        self.val_fraction = val_fraction
        self.weight_decay = weight_decay
        self.attacker_optimizer = attacker_optimizer
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.progress = progress
        self.progress_bar = progress_bar

    # ------------------------------------------------------------------ checks
    def _check(self):
        if self.formulation not in FORMULATIONS:
            raise InputError(f"--formulation: expected one of {', '.join(FORMULATIONS)}, "
                             f"got {self.formulation!r}")
        if self.leader not in LEADERS:
            raise InputError(f"--leader: expected one of {', '.join(LEADERS)}, got {self.leader!r}")
        if self.attacker_optimizer not in ("sgd", "adam"):
            raise InputError(f"--attacker-optimizer: expected sgd or adam, got {self.attacker_optimizer!r}")
        if self.attacker not in ATTACKERS:
            raise InputError(f"--attacker: expected one of {', '.join(ATTACKERS)}, got {self.attacker!r}")
        check_epsilon(self.epsilon)
        if not (0 < float(self.val_fraction) < 1):
            raise InputError(f"val_fraction: must be in (0, 1), got {self.val_fraction!r}")
        for name in ("rounds", "attacker_steps", "defender_steps", "pretrain_epochs",
                     "autoencoder_epochs", "cg_iters"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise InputError(f"--{name.replace('_', '-')}: must be a non-negative integer, got {v!r}")
        for name in ("attacker_lr", "defender_lr", "pretrain_lr", "autoencoder_lr"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise InputError(f"--{name.replace('_', '-')}: must be a non-negative number, got {v!r}")

    def settings(self) -> dict:
        """The settings that determine the run (what a checkpoint must match)."""
        skip = {"checkpoint", "progress", "progress_bar", "rounds", "device"}
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and k not in skip}

    # ------------------------------------------------------------------ fit
    def _fit(self, data):
        """Stages (1) and (2) on ``data`` (a resolved :class:`~convexpoison.datasets.Dataset`:
        labels {-1, +1} or 0..k-1; the poisons' box is ``data.domain``)."""
        self._check()
        X, y = data.X_train, data.y_train
        y_idx, self.binary_ = encode_labels(y)
        n, d = X.shape
        k = max(2, int(data.n_classes))
        image_shape = data.image_shape
        lo, hi = data.domain.lo, data.domain.hi
        dev = self.device_ = resolve_device(self.device)
        dt = resolve_dtype(self.dtype)
        seed = int(self.random_state)
        self.n_classes_ = k

        # D_tr / D_v split (70/30 in the paper) and D_p^0 = D_tr[0 : εN] (section 4.2)
        perm = np.random.default_rng(seed).permutation(n)
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 2:
            raise InputError(f"X: {n} rows are too few for a {self.val_fraction:.0%} validation split")
        self.val_index_, self.train_index_ = perm[:n_val], perm[n_val:]
        n_tr = len(self.train_index_)
        n_p = n_poisons(self.epsilon, n_tr)
        self.poison_index_ = self.train_index_[:n_p]
        Xt = as_tensor(X, dev, dt)
        yt = torch.as_tensor(y_idx, device=dev)
        tr = torch.as_tensor(self.train_index_, device=dev)
        va = torch.as_tensor(self.val_index_, device=dev)
        self.X_tr_, self.y_tr_ = Xt[tr], yt[tr]
        self.X_v_, self.y_v_ = Xt[va], yt[va]
        self.X_p0_, self.y_p0_ = self.X_tr_[:n_p], self.y_tr_[:n_p]

        self.spec_ = DefenderSpec(self.defender, d, k, image_shape, self.hidden, self.pretrain_epochs,
                                  self.pretrain_lr, self.batch_size, weight_decay=self.weight_decay)
        self.attacker_ = make_attacker(self.attacker, d, k, lo, hi, image_shape, self.attacker_hidden,
                                       seed=seed + 1).to(device=dev, dtype=dt)
        self.defender_pre_ = self.spec_.build(seed, dev, dt)
        self.defender_ = self.spec_.build(seed, dev, dt)
        self.opt_attacker_ = torch.optim.Adam(self.attacker_.parameters(), lr=float(self.attacker_lr))
        self.history_ = []
        self.seconds_ = {"pretrain": 0.0, "attack": 0.0}
        gen = generator(seed + 2, dev)

        fp = fingerprint([X, y_idx, lo, hi], self.settings())
        state = (load_checkpoint(self.checkpoint, dev, fp) if self.checkpoint else None)
        if state is not None:
            self.attacker_.load_state_dict(state["attacker"])
            self.defender_.load_state_dict(state["defender"])
            self.defender_pre_.load_state_dict(state["defender_pre"])
            self.opt_attacker_.load_state_dict(state["opt_attacker"])
            self.history_ = list(state["history"])
            self.seconds_ = dict(state["seconds"])
            self.autoencoder_mse_ = state["autoencoder_mse"]
            restore_generator(gen, state["generator"])
            start = int(state["round"])
            self._say(f"tgda: resumed from {self.checkpoint} after round {start}")
        else:
            # stage (1): pretrain F on D_tr to w_pre and L as an autoencoder on D_tr
            t0 = time.perf_counter()
            self.defender_pre_ = self.spec_.fit(self.X_tr_, self.y_tr_, seed)
            self.defender_.load_state_dict(self.defender_pre_.state_dict())
            self.autoencoder_mse_ = pretrain_autoencoder(
                self.attacker_, self.X_tr_, self.y_tr_, self.autoencoder_epochs, self.autoencoder_lr,
                self.batch_size, generator(seed + 3, dev))
            self.seconds_["pretrain"] = time.perf_counter() - t0
            self._say(f"tgda: pretrained in {self.seconds_['pretrain']:.1f}s; autoencoder mse "
                      f"{self.autoencoder_mse_:.4f}; validation error of w_pre "
                      f"{error_rate(self.defender_pre_, self.X_v_, self.y_v_):.4f}")
            start = 0
            self._save(0, fp, gen)

        # stage (2): Algorithm 1
        self.interrupted_ = False
        try:
            with bar(int(self.rounds), "tgda", self.progress_bar, unit="round", initial=start) as pbar:
                for t in range(start + 1, int(self.rounds) + 1):
                    t0 = time.perf_counter()
                    rec = self._round(t, gen)
                    self.seconds_["attack"] += time.perf_counter() - t0
                    rec["seconds"] = time.perf_counter() - t0
                    self.history_.append(rec)
                    self._say(f"tgda: round {t}/{self.rounds}: validation loss {rec['validation_loss']:.4f}, "
                              f"error {rec['validation_error']:.4f}; |D theta| {rec['grad_norm']:.3g}; "
                              f"CG {rec['cg_iterations']} it, residual {rec['cg_residual']:.2g}; "
                              f"{rec['seconds']:.1f}s")
                    self._save(t, fp, gen)
                    pbar.set_postfix(val_loss=f"{rec['validation_loss']:.4f}", refresh=False)
                    pbar.update(1)
        except KeyboardInterrupt:
            # the user's stop: the attacker as it stands generates the poison
            self.interrupted_ = True
            self._say(f"tgda: interrupted after {len(self.history_)} round(s)")

        with torch.no_grad():
            self.attacker_.eval()
            Xp = self.attacker_(self.X_p0_, self.y_p0_)
        # the sigmoid box output lies in [lo, hi] up to float32 rounding of lo and width;
        # the clip removes that rounding (it changes no float32 value the defender sees)
        Xp = np.clip(Xp.detach().cpu().numpy().astype(np.float64), lo, hi)
        yp = decode_labels(self.y_p0_.cpu().numpy(), self.binary_)
        self.poisons_ = PoisonSet(Xp, yp, meta={"attack": "tgda", "epsilon": float(self.epsilon),
                                                "n_clean": int(n_tr)})
        last = self.history_[-1] if self.history_ else {}
        self.result_ = NNAttackResult("TGDA", "interrupted" if self.interrupted_ else "done", {
            "rounds": len(self.history_), "n_train": int(n_tr), "n_validation": int(n_val),
            "n_poisons": int(n_p), "final_validation_loss": last.get("validation_loss"),
            "autoencoder_mse": float(self.autoencoder_mse_),
            "seconds_pretrain": self.seconds_["pretrain"], "seconds_attack": self.seconds_["attack"]})

    def _save(self, t, fp, gen):
        if not self.checkpoint:
            return
        save_checkpoint(self.checkpoint, {
            "fingerprint": fp, "round": t, "attacker": self.attacker_.state_dict(),
            "defender": self.defender_.state_dict(), "defender_pre": self.defender_pre_.state_dict(),
            "opt_attacker": self.opt_attacker_.state_dict(),
            "history": self.history_, "seconds": self.seconds_, "generator": generator_state(gen),
            "autoencoder_mse": float(self.autoencoder_mse_)})

    def _batch(self, gen):
        """This round's clean rows (all of them unless ``attack_batch_size`` is set)."""
        n_tr, n_v = self.X_tr_.shape[0], self.X_v_.shape[0]
        b = self.attack_batch_size
        if not b or b >= n_tr:
            return self.X_tr_, self.y_tr_, self.X_v_, self.y_v_, 1.0
        b_v = max(1, int(math.ceil(b * n_v / n_tr)))
        i = torch.randperm(n_tr, generator=gen, device=gen.device)[:b].to(self.device_)
        j = torch.randperm(n_v, generator=gen, device=gen.device)[:b_v].to(self.device_)
        return self.X_tr_[i], self.y_tr_[i], self.X_v_[j], self.y_v_[j], n_tr / b

    def _attacker_steps(self, X_tr, y_tr, X_v, y_v, scale):
        info = {}
        for _ in range(int(self.attacker_steps)):
            grads, info = total_gradient(
                self.attacker_, self.defender_, X_tr, y_tr, self.X_p0_, self.y_p0_, X_v, y_v,
                self.formulation, self.weight_decay, scale, self.cg_iters, self.cg_tol,
                self.cg_damping, self.cg_normal)
            if self.attacker_optimizer == "adam":
                # Adam *ascent*: hand it the negated total gradient
                self.opt_attacker_.zero_grad(set_to_none=True)
                for p, g in zip(self.attacker_.parameters(), grads):
                    p.grad = -g
                self.opt_attacker_.step()
            else:
                with torch.no_grad():                   # line 4: theta <- theta + α D_theta ell
                    for p, g in zip(self.attacker_.parameters(), grads):
                        p.add_(g, alpha=float(self.attacker_lr))
        return info

    def _defender_steps(self, X_tr, y_tr, scale):
        if self.cold_start:
            self.defender_.load_state_dict(self.defender_pre_.state_dict())
        with torch.no_grad():
            Xp = self.attacker_(self.X_p0_, self.y_p0_)
        params = list(self.defender_.parameters())
        for _ in range(int(self.defender_steps)):      # line 6: w <- w - β grad_w f
            f = defender_loss(self.defender_, X_tr, y_tr, Xp, self.y_p0_, self.weight_decay, scale)
            grads = torch.autograd.grad(f, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(g, alpha=float(self.defender_lr))

    def _round(self, t, gen):
        X_tr, y_tr, X_v, y_v, scale = self._batch(gen)
        if self.leader == "attacker":
            info = self._attacker_steps(X_tr, y_tr, X_v, y_v, scale)
            self._defender_steps(X_tr, y_tr, scale)
        else:
            self._defender_steps(X_tr, y_tr, scale)
            info = self._attacker_steps(X_tr, y_tr, X_v, y_v, scale)
        with torch.no_grad():
            vl = float(validation_loss(self.defender_, self.X_v_, self.y_v_))
        return {"round": t, "validation_loss": vl,
                "validation_error": error_rate(self.defender_, self.X_v_, self.y_v_),
                "attacker_loss": info.get("attacker_loss", float("nan")),
                "defender_loss": info.get("defender_loss", float("nan")),
                "grad_norm": info.get("grad_norm", 0.0), "cg_iterations": info.get("iterations", 0),
                "cg_residual": info.get("residual", 0.0)}

    # ------------------------------------------------------------------ stage (3)
    def evaluate(self, X_test, y_test, n_eval=1, X_poison=None, y_poison=None, cache=None):
        """Retrain ``F`` from scratch on ``D_tr`` and on ``D_tr ∪ D_p``; test errors.

        Both trainings use the pretraining schedule and the same seeds (initialisation
        and batch order), averaged over ``n_eval`` seeds; the first clean model is
        ``w_pre`` itself.  ``X_poison``/``y_poison`` evaluate another poison set (e.g. a
        label-flip baseline) under the identical protocol; pass the same ``cache`` dict
        to such calls so that they share the clean retrainings instead of repeating them.
        """
        if not hasattr(self, "poisons_"):
            raise InputError("evaluate: call fit first")
        return evaluate_poisons(self.spec_, self.X_tr_, self.y_tr_,
                                self.poisons_.X if X_poison is None else X_poison,
                                self.poisons_.y if y_poison is None else y_poison,
                                X_test, y_test, self.binary_, n_eval=n_eval, seed=int(self.random_state),
                                clean_model=self.defender_pre_, cache=cache)


def evaluate_poisons(spec, X_tr, y_tr, X_poison, y_poison, X_test, y_test, binary=False, n_eval=1,
                     seed=0, clean_model=None, cache=None):
    """Lu et al. section 4.2 (3): ``acc1 - acc2`` from two from-scratch trainings per seed.

    ``X_tr``/``y_tr`` are tensors (class indices), the poisons and the test set numpy
    arrays in the caller's label convention ({-1, +1} when ``binary``, else 0..k-1).  ``cache`` (a dict) keeps the clean errors
    per seed so several poison sets share them.  Returns a dict of errors (fractions).
    """
    dev, dt = X_tr.device, X_tr.dtype
    Xte = as_tensor(check_X(X_test, "X_test"), dev, dt)
    yte = torch.as_tensor(to_index(y_test, binary), device=dev)
    Xp = as_tensor(check_X(X_poison, "X_poison", d=X_tr.shape[1]), dev, dt)
    yp = torch.as_tensor(to_index(y_poison, binary), device=dev)
    Xall, yall = torch.cat([X_tr, Xp]), torch.cat([y_tr, yp])
    cache = {} if cache is None else cache
    clean, poisoned = [], []
    for i in range(int(n_eval)):
        s = seed + 1000 * i
        if s not in cache:
            model = clean_model if (i == 0 and clean_model is not None) else spec.fit(X_tr, y_tr, s)
            cache[s] = error_rate(model, Xte, yte)
        clean.append(cache[s])
        poisoned.append(error_rate(spec.fit(Xall, yall, s), Xte, yte))
    c, p = float(np.mean(clean)), float(np.mean(poisoned))
    return {"clean_test_error": c, "poisoned_test_error": p, "accuracy_drop": p - c,
            "clean_errors": clean, "poisoned_errors": poisoned, "n_eval": int(n_eval),
            "n_poisons": int(Xp.shape[0]), "n_train": int(X_tr.shape[0])}
