"""Views of real-text runs (Scan and Snap Figs 7 and 10). Each function takes results Datasets (`Context.run`,
`scanflow.load_run`) and the few things a caller adds (a title, the rows to show, an axis to draw into) and
returns a figure; the caller saves it (`scanflow.engine.figures.save`, or a check's figure directory). No
simulation here. `all_figures` is the workload's `Workload.plots` (what ``scanflow plot`` draws); the checks and
``sims/real_text_figs.py`` call the same functions."""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt


def _variant(ds) -> str:
    from scanflow.engine.dataset import config_of

    return config_of(ds)["model"]["variant"]


def attention_maps(runs, title: str | None = None):
    """Rows of causal attention maps of the lowest layer, seed 0, probe sequence 0, at 4 records spread over the
    run (None without recorded probe maps). `runs` is a results Dataset (rows: its smallest and largest eta) or
    a list of rows ``(label, Dataset, point)``: the records are picked on the first row's Dataset and every row
    is shown at those steps. `title` defaults to the variant's."""
    from scanflow.engine.figures import record_values

    if not isinstance(runs, (list, tuple)):
        ds = runs
        if title is None:
            title = f"{_variant(ds)} model, lowest layer, seed 0, probe sequence 0"
        if "attn" not in ds.data_vars:
            return None
        eta = ds["eta"].values
        runs = [(rf"$\eta$={eta[p]:g}", ds, p) for p in sorted({0, len(eta) - 1})]
    if any("attn" not in ds.data_vars for _, ds, _ in runs):
        return None
    steps = record_values(runs[0][1])
    shown = steps[[int(i) for i in np.linspace(0, len(steps) - 1, min(4, len(steps))).round()]]
    rows = [(label, ds["attn"].values[p, 0, np.searchsorted(record_values(ds), shown), 0]) for label, ds, p in runs]
    n_rows, n_cols = len(rows), len(shown)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols + 0.8, 2.6 * n_rows), squeeze=False)
    for i, (label, maps) in enumerate(rows):
        for j, s in enumerate(shown):
            ax = axes[i, j]
            im = ax.imshow(maps[j], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"iteration {int(s)}")
            if j == 0:
                ax.set_ylabel(f"{label}\nquery position")
            if i == n_rows - 1:
                ax.set_xlabel("key position")
    fig.subplots_adjust(right=0.9, wspace=0.05, hspace=0.08)
    fig.colorbar(im, cax=fig.add_axes([0.92, 0.2, 0.012, 0.6]), label="attention")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def entropy_vs_lr(runs, title: str | None = None):
    """The lowest layer's mean validation attention entropy against eta after training (mean +- seed std), its
    value at init (dotted) and uniform causal attention (dashed). `runs` is a results Dataset or ``{label:
    Dataset}`` (one curve each; the etas and the uniform reference are the first's). `title` defaults to the
    variant's and the training corpus."""
    from pathlib import Path

    from scanflow.engine.dataset import manifest_of

    if not isinstance(runs, dict):
        ds = runs
        if title is None:
            title = (f"{_variant(ds)} model, lowest layer; train "
                     f"{Path(manifest_of(ds)['workload_info']['train_path']).name}")
        runs = {_variant(ds): ds}
    first = next(iter(runs.values()))
    lrs, ref = first["eta"].values, manifest_of(first)["workload_info"]["uniform_entropy"]
    curves = [(label, ds["entropy"].values[:, :, -1, 0], ds["entropy"].values[:, :, 0, 0])  # point, seed
              for label, ds in runs.items()]
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


def change_vs_step(ds, title: str | None = None, ax=None, window: int = 100, drop: float = 10.0):
    """The lowest layer's attention change per `window` steps (`measure.freeze_analysis`) against the step, one
    colour per eta, a line per seed; the detected freeze steps (the change below peak / `drop` from there on) are
    marked with dots on the eps level of that run. None without probe maps or when the records are not a divisor
    of `window` steps apart. Draws into `ax` if given; `title` defaults to the variant's."""
    from scanflow.engine.figures import record_values
    from scanflow.papers.real_text.measure import freeze_analysis

    steps = record_values(ds)
    if "attn" not in ds.data_vars:
        return None
    every = int(steps[1] - steps[0]) if len(steps) > 1 else 0
    if not (every and window % every == 0 and window // every < len(steps)):
        return None
    fa = freeze_analysis(ds["attn"].values, steps, window, drop)
    lrs, change_PxSxN = ds["eta"].values, fa["change"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6)) if ax is None else (ax.figure, ax)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(lrs)))
    for p, lr in enumerate(lrs):
        for s in range(change_PxSxN.shape[1]):
            ax.plot(fa["steps"], change_PxSxN[p, s], color=colors[p], lw=1, alpha=0.8,
                    label=rf"$\eta$={lr:g}" if s == 0 else None)
            f = fa["freeze"][p, s]
            if np.isfinite(f):
                ax.plot([f], [fa["eps"][p, s]], "o", color=colors[p], ms=5, mec="k")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("attention change per 100 steps\n(mean row total variation)")
    ax.legend(fontsize=6, ncol=2, title="dots: freeze step (change < peak/10 from there on)", title_fontsize=6)
    title = f"{_variant(ds)} model: lowest-layer attention change" if title is None else title
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def all_figures(ds) -> dict:
    """The figures of a real_text run (`Workload.plots`): ``entropy_vs_lr``, and with recorded probe maps
    ``attention_maps`` and ``attention_change``."""
    figs = {"entropy_vs_lr": entropy_vs_lr(ds), "attention_maps": attention_maps(ds),
            "attention_change": change_vs_step(ds)}
    return {k: v for k, v in figs.items() if v is not None}
