"""Figures written next to results (matplotlib, non-interactive backend).

* :func:`mtp_convergence` -- max loss difference and |theta_t - theta_p| against the
  number of poisons (Suya et al. Figures 1 and 3);
* :func:`lower_bound_curve` -- the Theorem 4.2 bound at each intermediate model
  (Suya et al. Figure 5) beside the number of poisons used and the bounds certified over
  all models;
* :func:`error_vs_epsilon` -- MTP's undefended test error along its path, each attack's
  at the budget;
* :func:`pgan_curves` -- pGAN's test error and detector removal rates against the
  poison fraction (Muñoz-González et al. Figures 2 and 4);
* :func:`tgda_drops` -- accuracy drops of TGDA and the label flips (Lu et al. Table 2);
* :func:`tgda_poisons` -- TGDA's poisons under the training points they were made from
  (Lu et al. Figure 3).
"""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path):
    """Lay out, write the PNG and free the figure (every plot ends this way)."""
    fig.tight_layout()
    from pathlib import Path

    from .fileio import atomic_path

    with atomic_path(path) as tmp:                    # never a truncated file
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)


def mtp_convergence(history, path, title="MTP convergence"):
    """Two panels: max loss difference and Euclidean distance to the target vs poisons."""
    plt = _plt()
    n = np.array([r.n_poisons for r in history])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(n, [r.max_loss_difference for r in history], lw=1.5)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("max loss difference to target")
    axes[1].plot(n, [r.distance_to_target for r in history], lw=1.5, color="C1")
    axes[1].set_ylabel(r"$\|\theta_t - \theta_p\|_2$")
    for ax in axes:
        ax.set_xlabel("number of poison points")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    _save(plt, fig, path)
    return path


def lower_bound_curve(history, path, bounds=None, title="Certified lower bound (Theorem 4.2)"):
    """The Theorem 4.2 bound c(theta_t) at each MTP iterate and the running best, against
    the poisons used; ``bounds`` (name -> K) adds each bound certified over *all* models
    (the minimum-poison program, the optimal Theorem 4.2 bound) as a labelled horizontal
    line, so the figure reaches the number a report's headline states."""
    plt = _plt()
    n = np.array([r.n_poisons for r in history])
    lb = np.array([r.lower_bound if np.isfinite(r.lower_bound) else np.nan for r in history], float)
    best = np.fmax.accumulate(np.nan_to_num(lb, nan=0.0))
    fig, ax = plt.subplots(figsize=(6, 3.9))
    ax.plot(n, lb, ".", ms=3, label=r"Theorem 4.2 at MTP's iterate $\theta_t$")
    ax.plot(n, best, lw=1.5, label="best over MTP's iterates so far")
    ax.plot(n, n, "--", lw=1, color="gray", label="poisons MTP used")
    for i, (name, k) in enumerate((bounds or {}).items()):
        ax.axhline(k, lw=1.2, ls=":", color=f"C{i + 2}", label=f"{name}: {k:g}")
    ax.set_xlabel("number of poison points MTP used")
    ax.set_ylabel("certified minimum number of poisons")
    ax.legend(loc="best", fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    _save(plt, fig, path)
    return path


def error_vs_epsilon(eps, errors, path, epsilon=None, clean_error=None, at_budget=None,
                     title="Test error against the poison fraction (MTP's iterates, no defense)"):
    """Test error of MTP's induced models (trained without a defense) against the poison
    fraction; ``clean_error`` as a horizontal line; ``at_budget`` (attack -> error) as one
    marker per attack at the budget ``epsilon``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.9))
    ax.plot(100 * np.asarray(eps), 100 * np.asarray(errors), lw=1.5, label="MTP's iterates")
    if clean_error is not None:
        ax.axhline(100 * clean_error, ls="-", color="black", lw=0.8, label="clean model")
    if epsilon is not None:
        ax.axvline(100 * epsilon, ls="--", color="gray", lw=1, label=f"audit budget {100 * epsilon:g}%")
        for i, (name, err) in enumerate((at_budget or {}).items()):
            ax.plot([100 * epsilon], [100 * err], "os^vD<>"[i % 7], color=f"C{i + 1}", ms=6,
                    label=f"{name} at the budget")
    ax.legend(fontsize=7)
    ax.set_xlabel("poison points (% of the training set)")
    ax.set_ylabel("test error without a defense (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    _save(plt, fig, path)
    return path


def poison_images(poisons, image_shape, path, title="poison points", max_images=16):
    """The distinct poison points as images, labelled with their class and copies."""
    plt = _plt()
    X, y, w = poisons.X, poisons.y, poisons.weight
    order = np.argsort(-w)[:max_images]
    cols = min(8, len(order))
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), order):
        ax.imshow(X[i].reshape(image_shape), cmap="gray", vmin=0, vmax=max(1.0, X.max()))
        ax.set_title(f"y={int(y[i]):+d} x{w[i]:g}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(plt, fig, path)
    return path


def pgan_curves(per_alpha, path, title="pGAN against the outlier detector"):
    """Muñoz-González et al. Figures 2 and 4 (centre) from ``attack pgan``'s ``per_alpha``.

    Left: test error against the poison fraction, one line per α (Figure 2).  Right: the
    share of poisons the distance-based detector removes, per α, beside the share of
    genuine points it removes (Figure 4, centre; the paper plots it against α at one
    fraction -- here against the fraction, so the 5% genuine rate of a 0.95 percentile
    is visible as the reference).  ``per_alpha`` maps ``"α"`` to a dict with a ``curve``
    of ``{"fraction": {"test_error", "poisons_removed", "genuine_removed"}}``.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    genuine = None
    for i, (a, r) in enumerate(sorted(per_alpha.items(), key=lambda kv: float(kv[0]))):
        pts = sorted((float(f), row) for f, row in r["curve"].items())
        f = np.array([p for p, _ in pts])
        axes[0].plot(100 * f, [100 * row["test_error"] for _, row in pts], "o-", ms=4, lw=1.5,
                     color=f"C{i}", label=f"α = {a}")
        rem = [(p, row["poisons_removed"]) for p, row in pts if row["poisons_removed"] is not None]
        if rem:
            axes[1].plot([100 * p for p, _ in rem], [100 * v for _, v in rem], "o-", ms=4, lw=1.5,
                         color=f"C{i}", label=f"poisons, α = {a}")
        genuine = genuine or [(p, row["genuine_removed"]) for p, row in pts]
    if genuine:
        axes[1].plot([100 * p for p, _ in genuine], [100 * v for _, v in genuine], "s--", ms=3, lw=1,
                     color="gray", label="genuine points")
    axes[0].set_ylabel("test error (%)")
    axes[1].set_ylabel("removed by the detector (%)")
    axes[1].set_ylim(-3, 103)
    for ax in axes:
        ax.set_xlabel("poisoning points (% of the training set)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    _save(plt, fig, path)
    return path


def tgda_drops(rows, path, title="Accuracy drop on mnist10, ε = 0.03"):
    """Grouped bars of accuracy drops (percentage points): ``rows`` maps a defender name
    to ``{"TGDA": drop, "label flip (reverse)": drop, ...}`` (fractions, as in the JSON)."""
    plt = _plt()
    names = list(rows)
    attacks = list(dict.fromkeys(k for r in rows.values() for k in r))
    width = 0.8 / max(1, len(attacks))
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for j, att in enumerate(attacks):
        xs = np.arange(len(names)) + (j - (len(attacks) - 1) / 2) * width
        ax.bar(xs, [100 * rows[n].get(att, np.nan) for n in names], width, label=att, color=f"C{j}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("accuracy drop (points)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title, fontsize=10)
    _save(plt, fig, path)
    return path


def tgda_poisons(sources, poisons, labels, image_shape, path, title="TGDA poisons", max_images=12):
    """The first poisons under the training points ``D_p^0`` the attacker made them from,
    with their (kept) labels: whether they still look like training data (Lu et al.
    Figure 3) or the attacker collapsed onto one image (docs/nn.md)."""
    plt = _plt()
    n = min(int(max_images), len(labels))
    hi = max(1.0, float(np.max(sources[:n])), float(np.max(poisons[:n])))
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.7), squeeze=False)
    for j in range(n):
        for i, X in enumerate((sources, poisons)):
            ax = axes[i, j]
            ax.imshow(np.asarray(X[j]).reshape(image_shape), cmap="gray", vmin=0, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, j].set_title(f"y={labels[j]}", fontsize=7)
    axes[0, 0].set_ylabel("source", fontsize=8)
    axes[1, 0].set_ylabel("poison", fontsize=8)
    fig.suptitle(title, fontsize=9)
    _save(plt, fig, path)
    return path
