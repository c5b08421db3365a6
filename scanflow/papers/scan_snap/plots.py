"""Scan and Snap figures: Fig-4-style attention heatmaps, loss and entropy curves.

Every function takes a results Dataset (`scanflow.load_run`) and returns a matplotlib Figure; none
saves or simulates (`scanflow.engine.figures.plot_run` saves them)::

    ds = scanflow.load_run("runs/scan_snap_small-...")
    loss_curves(ds)                        # loss and distinct-token entropy against the step
    attention_heatmap(ds)                  # c_n at iterations 0, 2, ..., 10 and final, points 0-5
    attention_heatmap(ds, points=[6, 7])   # other grid points
    all_figures(ds)                        # {"loss": ..., "fig6": ... (a Fig-6 grid), "attention": ... (small sweeps)}
"""

from __future__ import annotations

import numpy as np

from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.figures import plt, record_values

FIG4_ITERS = (0, 2, 4, 6, 8, 10)
MAX_POINTS = 6  # heatmap columns per figure; more grid points go on further pages
MAX_PAGES = 4  # heatmap pages `all_figures` draws; points beyond MAX_POINTS * MAX_PAGES are named as omitted


def lr_label(ds, p: int) -> str:
    return rf"$\eta_Y$={ds['lr_Y'].values[p]:g}, $\eta_Z$={ds['lr_Z'].values[p]:g}"


def _ok(ds) -> np.ndarray:
    return ~np.asarray(ds["diverged"].values, bool)


def loss_curves(ds):
    """Population loss and distinct-token entropy: seed median, band = min..max over seeds."""
    steps = record_values(ds)
    loss_all, ent_all = ds["loss"].values, ds["entropy"].values
    P = loss_all.shape[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, P))
    ok = _ok(ds)
    for p in range(P):
        good = ok[p]
        if not good.any():
            continue
        loss = loss_all[p][good]  # (seeds, records)
        ent = ent_all[p][good].mean(-1)  # mean over classes
        for ax, y in ((ax1, loss), (ax2, ent)):
            ax.plot(steps, np.median(y, 0), color=colors[p], label=lr_label(ds, p))
            ax.fill_between(steps, y.min(0), y.max(0), color=colors[p], alpha=0.25, lw=0)
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("population loss (exact, T→∞)")
    ax1.set_title("loss: seed median, band = min..max")
    ax2.set_xlabel("step")
    ax2.set_ylabel("entropy of c_n on distinct tokens (nats)")
    ax2.set_title("attention entropy (mean over classes)")
    if P <= MAX_POINTS:
        ax1.legend(fontsize=8)
    else:  # a larger grid's legend goes beside the panels, clear of the curves
        fig.legend(*ax1.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
                   frameon=False)
    n_seeds = int(ok.sum(1).max()) if ok.any() else 0
    n_bad = int((~ok).sum())
    note = f"{n_seeds} seeds" + (f"; {n_bad} diverged run(s) excluded" if n_bad else "")
    fig.suptitle(f"{config_of(ds).get('name', '')}: {note}", fontsize=10)
    return fig


def _iteration_rows(steps: np.ndarray) -> list[int]:
    """Record indices for iterations 0, 2, ..., 10 (those recorded) and the final step."""
    idx = [int(np.nonzero(steps == it)[0][0]) for it in FIG4_ITERS if it in steps and it < steps[-1]]
    return idx + [len(steps) - 1]


def _ranges(points) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'."""
    out, pts = [], sorted(int(p) for p in points)
    i = 0
    while i < len(pts):
        j = i
        while j + 1 < len(pts) and pts[j + 1] == pts[j] + 1:
            j += 1
        out.append(str(pts[i]) if i == j else f"{pts[i]}-{pts[j]}")
        i = j + 1
    return ", ".join(out)


def attention_heatmap(ds, points=None, note: str = ""):
    """Fig 4 analogue: seed-mean c_n over contextual tokens; rows = iterations, one panel per class x
    grid point. `points`: the grid points (positions along ``point``) to draw, default the first
    `MAX_POINTS`; the title names the points shown and how many of the grid's are not."""
    steps = record_values(ds)
    attn = ds["attn"].values  # (P, S, R, K, M)
    if ds.attrs.get("record_label", "step") not in ds["attn"].dims:  # kept at the last record only (final_metrics)
        attn, steps = attn[:, :, None], steps[-1:]
    n_points, K = attn.shape[0], attn.shape[3]
    points = list(range(min(n_points, MAX_POINTS))) if points is None else [int(p) for p in points]
    if not points or min(points) < 0 or max(points) >= n_points:
        raise ValueError(f"points: expected grid points in 0..{n_points - 1}, got {points}")
    P = len(points)
    info = manifest_of(ds)["workload_info"]
    probs = np.asarray(info["probs_KxM"])
    tokens = np.nonzero((probs > 0).any(0))[0]  # contextual tokens only
    rows = _iteration_rows(steps)
    fig, axes = plt.subplots(K, P, figsize=(4.2 * P + 1.0, 2.0 * K + 0.8), squeeze=False)
    fig.subplots_adjust(wspace=0.35, hspace=0.45)
    ok = _ok(ds)
    mean = np.stack([attn[p][ok[p]].mean(0) if ok[p].any() else np.full(attn.shape[2:], np.nan) for p in points])
    vmax = np.nanmax(mean[:, rows][..., tokens])
    for col, p in enumerate(points):
        for k in range(K):
            ax = axes[k, col]
            img = mean[col, rows][:, k][:, tokens]
            im = ax.imshow(img, aspect="auto", cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([str(steps[i]) if i < len(steps) - 1 else f"final ({steps[i]})" for i in rows], fontsize=7)
            for name, (lo, hi) in info["groups"].items():
                if name in ("query", "next"):
                    continue
                pos = np.searchsorted(tokens, hi) - 0.5
                if pos < len(tokens) - 1:
                    ax.axvline(pos, color="white", lw=0.6)
            ax.set_title(f"class {k + 1}; point {p}: {lr_label(ds, p)}", fontsize=8)
            if k == K - 1:
                ax.set_xlabel("contextual token (common | distinct per class)", fontsize=7)
            ax.tick_params(labelsize=6)
            if col == 0:
                ax.set_ylabel("iteration", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="attention c_n (seed mean)")
    n_seeds = int(ok.sum(1).max()) if ok.any() else 0
    title = f"Attention c_n per class (Eq. 5, from Z), mean over {n_seeds} seeds"
    if P < n_points:
        title += f"\ngrid points {_ranges(points)} of {n_points} shown" + (f"; {note}" if note else "")
    height = fig.get_figheight()  # keep a two-line title clear of the panel titles below it
    fig.suptitle(title, fontsize=10, y=0.98 + 0.18 * title.count("\n") / height)
    return fig


def attention_pages(ds, per_page: int = MAX_POINTS, max_pages: int = MAX_PAGES) -> dict:
    """The attention heatmaps of every grid point, `per_page` points a figure: ``{"attention": ...,
    "attention_2": ...}``. Past `max_pages` pages the last page's title names the omitted points."""
    n_points = ds.sizes["point"]
    pages = [list(range(i, min(i + per_page, n_points))) for i in range(0, n_points, per_page)]
    shown, omitted = pages[:max_pages], [p for page in pages[max_pages:] for p in page]
    out = {}
    for i, page in enumerate(shown):
        note = f"page {i + 1} of {len(shown)}"
        if omitted and i == len(shown) - 1:
            note += (f"; points {_ranges(omitted)} ({len(omitted)} of {n_points}) omitted: draw them with "
                     "scan_snap.plots.attention_heatmap(ds, points=[...])")
        out["attention" if i == 0 else f"attention_{i + 1}"] = attention_heatmap(ds, page, note=note)
    return out


MAX_PANELS = 60  # `all_figures` draws attention panels (points x classes) for sweeps up to this size ...


def all_figures(ds) -> dict:
    """The figures of a scan_snap run (`Workload.plots`), sized to what a reader looks at:

    * ``loss``: loss and attention entropy against the step, seed median with a min..max band per point;
    * ``fig6``: for a sweep over the (eta_Z, eta_Y/eta_Z) grid, the paper's Fig-6 panel (final distinct-token
      entropy against eta_Y/eta_Z, one line per eta_Z, mean ± std over seeds);
    * ``attention`` (and pages ``attention_2``, ...): c_n per class and grid point, when c_n was recorded and
      the sweep is small (one page: points <= `MAX_POINTS`, points x classes <= `MAX_PANELS`). A larger sweep's
      panels (measured: 0.5 s of drawing and saving per page) are one call away in a
      notebook, ``attention_heatmap(ds, points=[...])``, which is what the loss figure's title says."""
    from scanflow.papers.scan_snap.tables import is_fig6_grid

    figs = {"loss": loss_curves(ds)}
    if is_fig6_grid(ds):
        from scanflow.papers.scan_snap.plots_sweeps import fig6_entropy

        figs["fig6"] = fig6_entropy([ds])
    if "attn" in ds.data_vars:
        panels = ds.sizes["point"] * ds.sizes["cls"]
        if ds.sizes["point"] <= MAX_POINTS and panels <= MAX_PANELS:
            figs.update(attention_pages(ds))
        else:
            fig = figs["loss"]
            fig.suptitle(f"{fig.get_suptitle()}; attention panels ({panels}) not drawn: "
                         "scan_snap.plots.attention_heatmap(ds, points=[...])", fontsize=10)
    return figs


__all__ = ["MAX_PANELS", "all_figures", "attention_heatmap", "attention_pages", "loss_curves"]
