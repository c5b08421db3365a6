"""Learning-rate sweep figures for Scan and Snap: Fig 6 (entropy), Figs 11-12 (recall), a phase diagram.

Every function here reads run directories or already-loaded results Datasets (`scanflow.load_run`);
none simulates, and the figure functions return a matplotlib Figure without saving it.

* `fig6_table(run)`: mean and across-seed std of the final, class-averaged distinct-token entropy
  on the (eta_Z, eta_Y/eta_Z) grid of one Syn-Medium run;
* `fig6_entropy(runs)`: the four-panel Fig-6 analogue;
* `recall_figure(runs, vary=...)`: Fig 11 (lines = eta_Y/eta_Z at fixed eta_Z) or Fig 12
  (lines = eta_Z at fixed ratio), recall against a threshold near 1/M;
* `phase_grid(run)` / `phase_figure(run, predicted_snap)`: snap time (peak of ||dL/dZ||_F)
  and final entropy over an (eta_Y, eta_Z) product grid.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import xarray as xr

from scanflow.engine.dataset import at_last_record, config_of
from scanflow.engine.figures import plt, record_values
from scanflow.papers.scan_snap.recall import recall_curve
from scanflow.papers.scan_snap.tables import (  # noqa: F401 -- the table lives there, without matplotlib
    H0,
    THRESHOLD_RANGES,
    _load,
    _where,
    threshold_range,
    distinct_mask,
    vocab,
    _ok,
    final_entropy,
    ratio_grid,
    _grid_index,
    fig6_table,
    format_fig6_table,
)


def _setting(r: xr.Dataset) -> str:
    """'sampled T=128 B=128, sgd_momentum 0.9, 100 steps' from the stored config."""
    config = config_of(r)
    d, t = config.get("data", {}), config.get("train", {})
    data = (f"sampled T={d.get('seq_len')} B={d.get('batch_size')}" if d.get("mode") == "sampled"
            else "population T→∞")
    opt = t.get("optimizer", "")
    opt = f"SGD momentum {t.get('momentum')}" if opt == "sgd_momentum" else opt
    return f"{data}, {opt}, {t.get('steps')} steps, init {config.get('model', {}).get('init')}"


def _by_M(runs: Iterable) -> list[xr.Dataset]:
    rs = [_load(x) for x in runs]
    return sorted(rs, key=lambda r: vocab(r)["M"])


def _panel_grid(n: int, size=(4.2, 3.6)):
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def fig6_entropy(runs: Iterable):
    """Fig 6: final distinct-token entropy against eta_Y/eta_Z (log x), one line per eta_Z,
    mean over seeds ± across-seed std; one panel per vocabulary size."""
    loaded = _by_M(runs)
    fig, axes = _panel_grid(len(loaded))
    for ax, r in zip(axes, loaded):
        t = fig6_table(r)
        colors = plt.cm.plasma(np.linspace(0.0, 0.8, len(t["eta_Z"])))
        for i, z in enumerate(t["eta_Z"]):
            ax.errorbar(t["ratio"], t["mean"][i], yerr=t["std"][i], color=colors[i], marker="o", ms=4,
                        capsize=3, lw=1.5, label=rf"$\eta_Z$ = {z:g}")
        ax.axhline(H0, color="k", ls=":", lw=1, label=f"initial {H0:.4f}")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, max(hi, H0 + 0.01))
        ax.set_xscale("log")
        ax.set_xticks(t["ratio"])
        ax.set_xticklabels([f"{x:g}" for x in t["ratio"]])
        ax.minorticks_off()
        ax.set_xlabel(r"$\eta_Y / \eta_Z$")
        ax.set_title(f"#last/next = {t['L']}/{t['K']}  (M = {t['M']})")
        ax.grid(alpha=0.3)
        ax.text(0.02, 0.02, f"seeds: {int(t['n'].min())}" + ("" if t["n"].min() == t["n"].max() else f"-{int(t['n'].max())}"),
                transform=ax.transAxes, fontsize=7, color="0.4")
    axes[0].set_ylabel("entropy of $c_n$ on distinct tokens (nats)")
    handles, labels = axes[0].get_legend_handles_labels()
    sep = "\n" if len(loaded) == 1 else " "  # one panel: a two-line title as wide as the panel and its legend
    fig.suptitle(f"Fig 6 analogue ({_setting(loaded[0])}):{sep}final distinct-token entropy, mean ± std over seeds",
                 fontsize=11 if len(loaded) > 1 else 9)
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False)
    return fig


RECALL_MEASURES = {
    "c": "$c_{l|n}$ (Eq. 5, spec)",
    "softmax_z": "softmax$_M(z_m)_l$ (≈1/M at init)",
}


def final_attention(r: xr.Dataset, measure: str = "c") -> np.ndarray:
    """(point, seed, K, M) attention at the last record.

    measure="c": c_n of Eq. 5, c_l ∝ P(l|n) e^{z_ml} (the official `get_c`; the spec's recall reading);
    measure="softmax_z": e^{z_ml} / sum_{l'=1..M} e^{z_ml'}, the query row's softmax over the whole
    vocabulary, which is ≈ 1/M at the uniform init -- the scale of the paper's threshold ranges.
    """
    if measure == "c":
        if "attn" not in r.data_vars:
            raise ValueError(f"{_where(r)}: no 'attn' record (run with train.record_attention=true and attn in "
                             "train.metrics)")
        return at_last_record(r, "attn").values.astype(np.float64)
    if measure == "softmax_z":
        if "z" not in r.data_vars:
            raise ValueError(f"{_where(r)}: no 'z' record (run with train.record_attention=true and z in train.metrics)")
        z = at_last_record(r, "z").values.astype(np.float64)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    raise ValueError(f"measure: expected one of {sorted(RECALL_MEASURES)}, got {measure!r}")


def recall_table(run, thresholds: np.ndarray, measure: str = "c") -> np.ndarray:
    """(point, n_thresholds): recall of the final attention, averaged over classes, then over non-diverged seeds."""
    r = _load(run)
    rec = recall_curve(final_attention(r, measure), distinct_mask(r), thresholds)  # (P, S, n_thr)
    rec = np.where(_ok(r)[..., None], rec, np.nan)
    return np.nanmean(rec, axis=1)


def _nearest(values: np.ndarray, x: float) -> int:
    return int(np.argmin(np.abs(np.log(values) - np.log(x))))


def recall_figure(runs: Iterable, vary: str = "ratio", fixed: float = 1.0, n_thr: int = 41,
                  measures: tuple[str, ...] = ("c", "softmax_z")):
    """Figs 11/12: recall of distinct tokens against the threshold; one column per M, one row per
    attention measure (see `final_attention`).

    vary="ratio": one line per eta_Y/eta_Z at eta_Z = `fixed` (Fig 11);
    vary="eta_Z": one line per eta_Z at eta_Y/eta_Z = `fixed` (Fig 12).
    """
    if vary not in ("ratio", "eta_Z"):
        raise ValueError(f"vary: expected 'ratio' or 'eta_Z', got {vary!r}")
    loaded = _by_M(runs)
    n = len(loaded)
    fig, axes = plt.subplots(len(measures), n, figsize=(4.3 * n, 3.5 * len(measures)), squeeze=False)
    for row, measure in enumerate(measures):
        for col, r in enumerate(loaded):
            ax = axes[row, col]
            v = vocab(r)
            lo, hi = threshold_range(v["M"])
            thr = np.linspace(lo, hi, n_thr)
            rec = recall_table(r, thr, measure)
            zs, rs, idx = ratio_grid(r)
            if vary == "ratio":
                i = _nearest(zs, fixed)
                lines = [(idx[i, j], rf"$\eta_Y/\eta_Z$ = {x:g}") for j, x in enumerate(rs)]
                what = rf"$\eta_Z$ = {zs[i]:g}"
            else:
                j = _nearest(rs, fixed)
                lines = [(idx[i, j], rf"$\eta_Z$ = {z:g}") for i, z in enumerate(zs)]
                what = rf"$\eta_Y/\eta_Z$ = {rs[j]:g}"
            colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(lines)))
            for (p, label), color in zip(lines, colors):
                ax.plot(thr, rec[p], color=color, lw=1.8, label=label)
            ax.axvline(1.0 / v["M"], color="k", ls=":", lw=1, label="1/M")
            ax.set_xlim(lo, hi)
            ax.set_ylim(min(np.nanmin(rec[[p for p, _ in lines]]) - 0.02, 0.98), 1.01)
            ax.set_xlabel("threshold")
            ax.tick_params(labelsize=8)
            ax.set_title(f"#last/next = {v['L']}/{v['K']} (M = {v['M']}), {what}", fontsize=9.5)
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel(f"recall; attention =\n{RECALL_MEASURES[measure]}", fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    name = ("Fig 11 analogue: recall of distinct tokens vs threshold for several $\\eta_Y/\\eta_Z$" if vary == "ratio"
            else "Fig 12 analogue: recall of distinct tokens vs threshold for several $\\eta_Z$")
    fig.suptitle(name + f"\n({_setting(loaded[0])}; final attention, mean over classes and seeds; "
                 "flatter descent = sparser)", fontsize=10.5)
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False)
    return fig


# ----------------------------------------------------------------------------- phase diagram


def snap_time(r: xr.Dataset) -> np.ndarray:
    """(point, seed): the step of the peak of ||dL/dZ||_F over the records (spec check S7's definition)."""
    g = np.asarray(r["grad_norm_Z"].values, np.float64)
    g = np.where(np.isfinite(g), g, -np.inf)
    return record_values(r)[np.argmax(g, axis=-1)]


def phase_grid(run) -> dict:
    """Snap time and final entropy on the (eta_Y, eta_Z) product grid of one run.

    Returns eta_Y (nY,), eta_Z (nZ,), snap (nY, nZ, S), entropy (nY, nZ, S), peak_at_end (nY, nZ, S):
    True where the gradient peak is the last record (the snap is not inside the horizon).
    """
    r = _load(run)
    ly, lz = np.asarray(r["lr_Y"].values, np.float64), np.asarray(r["lr_Z"].values, np.float64)
    ys, zs, idx = _grid_index(ly, lz, _where(r), "eta_Y x eta_Z")
    snap = snap_time(r).astype(np.float64)
    snap = np.where(_ok(r), snap, np.nan)
    last = record_values(r)[-1]
    ent0 = np.where(_ok(r), r["entropy"].values[:, :, 0, :].mean(-1).astype(np.float64), np.nan)
    fin = final_entropy(r)
    return {**vocab(r), "eta_Y": ys, "eta_Z": zs, "snap": snap[idx], "entropy": fin[idx],
            "entropy_drop": (ent0 - fin)[idx], "peak_at_end": (snap == last)[idx], "steps": int(last),
            "path": _where(r)}


def _edges(v: np.ndarray) -> np.ndarray:
    lv = np.log10(v)
    mid = (lv[1:] + lv[:-1]) / 2
    return 10 ** np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]])


def phase_figure(run, predicted_snap: Callable[[np.ndarray], np.ndarray], title: str = "", entropy_note: str = "",
                 predicted_B: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None):
    """Three panels over (eta_Y, eta_Z): measured snap time (log colour) with the predicted gamma-peak
    time as contour lines; measured vs predicted snap time; and the drop of the distinct-token
    entropy H(0) - H(end) (log colour), with iso-nu diagonals.

    predicted_snap(eta_Y array) -> predicted snap time (the prediction does not depend on eta_Z).
    predicted_B(eta_Y, eta_Z) -> a predicted attention-sharpening B at the end (optional): drawn as
    contour lines on the entropy panel.
    """
    from matplotlib.colors import LogNorm

    g = phase_grid(run)
    ys, zs = g["eta_Y"], g["eta_Z"]
    snap = np.nanmedian(g["snap"], -1)  # (nY, nZ)
    drop = np.nanmean(g["entropy_drop"], -1)
    pred_y = np.asarray(predicted_snap(ys), np.float64)
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(19, 5.6), gridspec_kw={"width_ratios": [1.1, 0.9, 1.1]})
    ye, ze = _edges(ys), _edges(zs)

    # (1) measured snap-time heatmap; x = eta_Y, y = eta_Z; predicted iso-time contours.
    pos = snap[np.isfinite(snap) & (snap > 0)]
    vmin, vmax = (pos.min(), pos.max()) if pos.size else (1.0, 10.0)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("0.75")
    m = a1.pcolormesh(ye, ze, np.where(snap > 0, snap, vmin / 2).T, norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.01)),
                      cmap=cmap, shading="flat")
    fig.colorbar(m, ax=a1, label="measured snap time (argmax$_t\\,\\|\\partial L/\\partial Z\\|_F$, steps)")
    yy, zz = np.meshgrid(np.logspace(np.log10(ye[0]), np.log10(ye[-1]), 200),
                         np.logspace(np.log10(ze[0]), np.log10(ze[-1]), 50))
    for i in range(len(ys)):
        for j in range(len(zs)):
            if np.isfinite(snap[i, j]):
                col = "w" if 0 < snap[i, j] < np.sqrt(vmin * vmax) else "k"
                a1.text(ys[i], zs[j], f"{snap[i, j]:.0f}", ha="center", va="center", fontsize=7, color=col)
    notes = ["grey: peak at step 0 (no snap)"] if (snap == 0).any() else []
    if g["peak_at_end"].any():
        notes.append("x: peak at the last step (snap beyond the horizon)")
        for i, j in zip(*np.nonzero(g["peak_at_end"].any(-1))):
            a1.plot(ys[i], zs[j], "rx", ms=5)
    if notes:
        a1.text(0.01, 0.01, "; ".join(notes), transform=a1.transAxes, fontsize=7, color="r")
    for a in (a1, a3):
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel(r"$\eta_Y$")
        a.set_ylabel(r"$\eta_Z$")
        a.set_xlim(ye[0], ye[-1])
        a.set_ylim(ze[0], ze[-1])
    # The prediction depends on eta_Y only: show it on a top axis, one tick per column.
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    top = a1.secondary_xaxis("top")
    top.xaxis.set_major_locator(FixedLocator(ys))
    top.xaxis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in pred_y]))
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(labelsize=7, colors="tab:red")
    top.set_xlabel("predicted $\\gamma$-peak time (steps)", fontsize=8, color="tab:red")
    a1.set_title("measured snap time (seed median); top axis: predicted", fontsize=10)

    # (2) measured vs predicted, one line per eta_Z (cells with no peak are left out).
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(zs)))
    for j, z in enumerate(zs):
        v = np.where(snap[:, j] > 0, snap[:, j], np.nan)
        a2.plot(pred_y, v, "o-", color=colors[j], ms=4, lw=1, label=rf"$\eta_Z$={z:.3g}")
    both = np.concatenate([pred_y[pred_y > 0], pos])
    lim = [both.min() * 0.7, both.max() * 1.4]
    a2.plot(lim, lim, "k--", lw=1, label="measured = predicted")
    a2.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.8", alpha=0.5, label="±10%")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlim(lim)
    a2.set_ylim(lim)
    a2.set_xlabel("predicted $\\gamma$-peak time $K(e^{x^*}+(M-1)x^*-1)/(M\\eta_Y)$")
    a2.set_ylabel("measured snap time (steps)")
    a2.set_title("measured vs predicted (one line per $\\eta_Z$)", fontsize=10)
    a2.legend(fontsize=6.5, ncol=2, loc="upper left")
    a2.grid(alpha=0.3, which="both")

    # (3) entropy drop with iso-nu diagonals (and optional predicted-B contours).
    dpos = drop[np.isfinite(drop) & (drop > 0)]
    dn = LogNorm(vmin=dpos.min(), vmax=dpos.max()) if dpos.size > 1 and dpos.max() > dpos.min() else None
    cmap3 = plt.get_cmap("magma").copy()
    cmap3.set_under("0.75")
    m3 = a3.pcolormesh(ye, ze, np.where(drop > 0, drop, np.nan).T, norm=dn, cmap=cmap3, shading="flat")
    fig.colorbar(m3, ax=a3, label="entropy drop $H(0)-H(\\mathrm{end})$ on distinct tokens (nats)")
    mid = np.sqrt(dpos.min() * dpos.max()) if dpos.size else 0.0
    for i in range(len(ys)):
        for j in range(len(zs)):
            if np.isfinite(drop[i, j]):
                a3.text(ys[i], zs[j], f"{drop[i, j]:.1e}".replace("e-0", "e-"), ha="center", va="center",
                        fontsize=5.5, color="w" if drop[i, j] < mid else "k")
    for nu in (0.1, 1, 10, 100):
        xs = np.array([ye[0], ye[-1]])
        a3.plot(xs, xs / nu, color="c", lw=0.8, ls=":")
        zlab = ye[-1] / nu
        if ze[0] < zlab < ze[-1]:
            a3.text(ye[-1], zlab, rf"$\nu$={nu:g} ", color="c", fontsize=7, va="bottom", ha="right")
    if predicted_B is not None:
        bb = np.asarray(predicted_B(yy, zz), np.float64)
        lv = [v for v in (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0) if np.nanmin(bb) < v < np.nanmax(bb)]
        if lv:
            cs3 = a3.contour(yy, zz, bb, levels=lv, colors="lime", linewidths=0.9, linestyles="-")
            a3.clabel(cs3, fmt=lambda v: f"B={v:g}", fontsize=6.5)
    a3.set_title("entropy drop H(0)−H(end), mean over seeds\n(dotted: iso-$\\nu=\\eta_Y/\\eta_Z$"
                 + ("; green: predicted $B(t_{end})$)" if predicted_B is not None else ")"), fontsize=9.5)
    if entropy_note:
        a3.text(0.0, -0.2, entropy_note, transform=a3.transAxes, fontsize=8, va="top", ha="left")
    fig.suptitle(title or f"Phase diagram (M = {g['M']}, K = {g['K']}, {g['steps']} steps)", fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["H0", "RECALL_MEASURES", "THRESHOLD_RANGES", "distinct_mask", "fig6_entropy", "fig6_table",
           "final_attention", "final_entropy", "format_fig6_table", "phase_figure", "phase_grid", "ratio_grid",
           "recall_figure", "recall_table", "snap_time", "threshold_range", "vocab"]
