"""Scan and Snap figures: Fig-4-style attention heatmaps, loss and entropy curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scanflow.engine.figures import plt, save


def lr_label(r, p: int) -> str:
    return rf"$\eta_Y$={r['lr_Y'][p]:g}, $\eta_Z$={r['lr_Z'][p]:g}"

FIG4_ITERS = (0, 2, 4, 6, 8, 10)
MAX_POINTS = 6  # heatmap columns; larger sweeps show the first points only


def plot_all(r, out: Path, prefix: str = "") -> list[Path]:
    paths = [plot_loss(r, out / f"{prefix}loss.png")]
    if "attn" in r.arrays:
        paths.append(plot_attention(r, out / f"{prefix}attention.png"))
    return paths


def _steps(r) -> np.ndarray:
    return r.coords["record"]


def plot_loss(r, path: Path) -> Path:
    """Population loss and distinct-token entropy: seed median, band = min..max over seeds."""
    steps = _steps(r)
    P = r["loss"].shape[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, P))
    ok = ~r["diverged"]
    for p in range(P):
        good = ok[p]
        if not good.any():
            continue
        loss = r["loss"][p][good]  # (seeds, records)
        ent = r["entropy"][p][good].mean(-1)  # mean over classes
        for ax, y in ((ax1, loss), (ax2, ent)):
            ax.plot(steps, np.median(y, 0), color=colors[p], label=lr_label(r, p))
            ax.fill_between(steps, y.min(0), y.max(0), color=colors[p], alpha=0.25, lw=0)
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("population loss (exact, T→∞)")
    ax1.set_title("loss: seed median, band = min..max")
    ax2.set_xlabel("step")
    ax2.set_ylabel("entropy of c_n on distinct tokens (nats)")
    ax2.set_title("attention entropy (mean over classes)")
    ax1.legend(fontsize=8)
    n_seeds = int(ok.sum(1).max()) if ok.any() else 0
    n_bad = int((~ok).sum())
    note = f"{n_seeds} seeds" + (f"; {n_bad} diverged run(s) excluded" if n_bad else "")
    fig.suptitle(f"{r.config.get('name', '')}: {note}", fontsize=10)
    return save(fig, path)


def _iteration_rows(steps: np.ndarray) -> list[int]:
    """Record indices for iterations 0, 2, ..., 10 (those recorded) and the final step."""
    idx = [int(np.nonzero(steps == it)[0][0]) for it in FIG4_ITERS if it in steps and it < steps[-1]]
    return idx + [len(steps) - 1]


def plot_attention(r, path: Path) -> Path:
    """Fig 4 analogue: seed-mean c_n over contextual tokens; rows = iterations, one panel per class x point."""
    steps = _steps(r)
    attn = r["attn"]  # (P, S, R, K, M)
    P, K = min(attn.shape[0], MAX_POINTS), attn.shape[3]
    info = r.manifest["workload_info"]
    probs = np.asarray(info["probs_KxM"])
    tokens = np.nonzero((probs > 0).any(0))[0]  # contextual tokens only
    rows = _iteration_rows(steps)
    fig, axes = plt.subplots(K, P, figsize=(4.2 * P + 1.0, 2.0 * K + 0.8), squeeze=False)
    fig.subplots_adjust(wspace=0.35, hspace=0.45)
    ok = ~r["diverged"]
    mean = np.stack([attn[p][ok[p]].mean(0) if ok[p].any() else np.full(attn.shape[2:], np.nan) for p in range(P)])
    vmax = np.nanmax(mean[:, rows][..., tokens])
    for p in range(P):
        for k in range(K):
            ax = axes[k, p]
            img = mean[p, rows][:, k][:, tokens]
            im = ax.imshow(img, aspect="auto", cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([str(steps[i]) if i < len(steps) - 1 else f"final ({steps[i]})" for i in rows], fontsize=7)
            for name, (lo, hi) in info["groups"].items():
                if name in ("query", "next"):
                    continue
                pos = np.searchsorted(tokens, hi) - 0.5
                if pos < len(tokens) - 1:
                    ax.axvline(pos, color="white", lw=0.6)
            ax.set_title(f"class {k + 1}; {lr_label(r, p)}", fontsize=8)
            if k == K - 1:
                ax.set_xlabel("contextual token (common | distinct per class)", fontsize=7)
            ax.tick_params(labelsize=6)
            if p == 0:
                ax.set_ylabel("iteration", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="attention c_n (seed mean)")
    n_seeds = int(ok.sum(1).max()) if ok.any() else 0
    fig.suptitle(f"Attention c_n per class (Eq. 5, from Z), mean over {n_seeds} seeds", fontsize=10)
    return save(fig, path)
