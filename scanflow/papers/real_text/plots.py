"""Views of the real-text arrays (Scan and Snap Figs 7 and 10). Each function returns a figure; the
caller saves it (`scanflow.engine.figures.save`, or a check's figure directory). No simulation here.

`entropy_vs_lr`, `attention_maps` and `change_vs_step` take arrays; `entropy_vs_lr_run`,
`attention_maps_run` and `attention_change_run` draw them from a results Dataset (`scanflow.load_run`),
and `all_figures` is the workload's `Workload.plots`."""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt


def attention_maps(rows: list[tuple[str, np.ndarray]], steps: list[int], title: str = ""):
    """Rows of causal attention maps. rows: (label, maps_IxTxT) with one map per chosen step."""
    n_rows, n_cols = len(rows), len(steps)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols + 0.8, 2.6 * n_rows), squeeze=False)
    for i, (label, maps) in enumerate(rows):
        for j, s in enumerate(steps):
            ax = axes[i, j]
            im = ax.imshow(maps[j], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"iteration {s}")
            if j == 0:
                ax.set_ylabel(f"{label}\nquery position")
            if i == n_rows - 1:
                ax.set_xlabel("key position")
    fig.subplots_adjust(right=0.9, wspace=0.05, hspace=0.08)
    fig.colorbar(im, cax=fig.add_axes([0.92, 0.2, 0.012, 0.6]), label="attention")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def entropy_vs_lr(curves: list[tuple[str, np.ndarray, np.ndarray]], lrs: np.ndarray, ref: float | None = None,
                  title: str = ""):
    """Mean validation attention entropy against eta, mean +- seed std. curves: (label, final_PxS, init_PxS)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for label, final, _ in curves:
        ax.errorbar(lrs, final.mean(1), yerr=final.std(1, ddof=1) if final.shape[1] > 1 else None, marker="o",
                    capsize=3, label=f"{label}, after training")
    for label, _, init in curves:
        ax.axhline(float(init.mean()), ls=":", color="gray")
    if curves:
        ax.text(lrs[0], float(curves[0][2].mean()), " at init", va="bottom", fontsize=8, color="gray")
    if ref is not None:
        ax.axhline(ref, ls="--", color="k", lw=0.8, label="uniform causal attention")
    ax.set_xlabel(r"learning rate $\eta$ (SGD)")
    ax.set_ylabel("mean attention entropy (nats)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def change_vs_step(steps_N: np.ndarray, change_PxSxN: np.ndarray, lrs: np.ndarray, freeze_PxS: np.ndarray,
                   eps_PxS: np.ndarray, title: str = "", ax=None):
    """Attention change per 100 steps against the step, one colour per eta, a line per seed; the
    detected freeze steps are marked with dots (on the eps level of that run). Draws into `ax` if given."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6)) if ax is None else (ax.figure, ax)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(lrs)))
    for p, lr in enumerate(lrs):
        for s in range(change_PxSxN.shape[1]):
            ax.plot(steps_N, change_PxSxN[p, s], color=colors[p], lw=1, alpha=0.8,
                    label=rf"$\eta$={lr:g}" if s == 0 else None)
            f = freeze_PxS[p, s]
            if np.isfinite(f):
                ax.plot([f], [eps_PxS[p, s]], "o", color=colors[p], ms=5, mec="k")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("attention change per 100 steps\n(mean row total variation)")
    ax.legend(fontsize=6, ncol=2, title="dots: freeze step (change < peak/10 from there on)", title_fontsize=6)
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def _variant(ds) -> str:
    from scanflow.engine.dataset import config_of

    return config_of(ds)["model"]["variant"]


def entropy_vs_lr_run(ds):
    """`entropy_vs_lr` of a run: the lowest layer's final mean validation entropy against eta."""
    from pathlib import Path

    from scanflow.engine.dataset import manifest_of

    info = manifest_of(ds)["workload_info"]
    H = ds["entropy"].values[..., 0]  # lowest layer: point, seed, record
    corpus = Path(info["train_path"]).name
    return entropy_vs_lr([(_variant(ds), H[..., -1], H[..., 0])], ds["eta"].values, ref=info["uniform_entropy"],
                         title=f"{_variant(ds)} model, lowest layer; train {corpus}")


def attention_maps_run(ds):
    """`attention_maps` of a run (None without recorded probe maps): the lowest layer, seed 0, probe
    sequence 0, at 4 records, for the smallest and largest eta."""
    from scanflow.engine.figures import record_values

    if "attn" not in ds.data_vars:
        return None
    steps, eta, attn = record_values(ds), ds["eta"].values, ds["attn"].values
    pick = [int(i) for i in np.linspace(0, len(steps) - 1, min(4, len(steps))).round()]
    rows = [(rf"$\eta$={eta[p]:g}", attn[p, 0, pick, 0]) for p in sorted({0, len(eta) - 1})]
    return attention_maps(rows, [int(steps[i]) for i in pick],
                          title=f"{_variant(ds)} model, lowest layer, seed 0, probe sequence 0")


def attention_change_run(ds):
    """`change_vs_step` of a run: the lowest layer's attention change per 100 steps with the freeze
    steps; None without probe maps or when the records are not a divisor of 100 steps apart."""
    from scanflow.engine.figures import record_values
    from scanflow.papers.real_text.measure import freeze_analysis

    steps = record_values(ds)
    if "attn" not in ds.data_vars:
        return None
    every = int(steps[1] - steps[0]) if len(steps) > 1 else 0
    if not (every and 100 % every == 0 and 100 // every < len(steps)):
        return None
    fa = freeze_analysis(ds["attn"].values, steps)
    return change_vs_step(fa["steps"], fa["change"], ds["eta"].values, fa["freeze"], fa["eps"],
                          title=f"{_variant(ds)} model: lowest-layer attention change")


def all_figures(ds) -> dict:
    """The figures of a real_text run (`Workload.plots`): ``entropy_vs_lr``, and with recorded probe maps
    ``attention_maps`` and ``attention_change``."""
    figs = {"entropy_vs_lr": entropy_vs_lr_run(ds), "attention_maps": attention_maps_run(ds),
            "attention_change": attention_change_run(ds)}
    return {k: v for k, v in figs.items() if v is not None}
