"""Figures written next to results (matplotlib, non-interactive backend).

* :func:`mtp_convergence` -- max loss difference and |theta_t - theta_p| against the
  number of poisons (Suya et al. Figures 1 and 3);
* :func:`lower_bound_curve` -- the Theorem 4.2 bound at each intermediate model
  (Suya et al. Figure 5) beside the number of poisons used.
"""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lower_bound_curve(history, path, title="Certified lower bound (Theorem 4.2)"):
    """The bound c(theta_t) per iteration and the running best, against poisons used."""
    plt = _plt()
    n = np.array([r.n_poisons for r in history])
    lb = np.array([r.lower_bound if np.isfinite(r.lower_bound) else np.nan for r in history], float)
    best = np.fmax.accumulate(np.nan_to_num(lb, nan=0.0))
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(n, lb, ".", ms=3, label=r"bound at $\theta_t$")
    ax.plot(n, best, lw=1.5, label="best bound so far")
    ax.plot(n, n, "--", lw=1, color="gray", label="poisons used")
    ax.set_xlabel("number of poison points")
    ax.set_ylabel("certified minimum number of poisons")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
