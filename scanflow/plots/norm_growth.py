"""Views of norm-growth measurements (spec §4): every function takes arrays and returns a figure.
Nothing here simulates."""

from __future__ import annotations

import numpy as np

from scanflow.plots.common import plt


def norm_vs_t(t_R, rho_SxR, fit=None, fit_label: str = "", title: str = "", group_norms: dict | None = None):
    """||theta_t|| against t on log-log axes, one line per seed, with an optional fitted law
    ``fit = (t_fit, rho_fit)`` and per-group norms (seed 0) as thin lines."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    t = np.asarray(t_R, float)
    keep = t > 0
    for s, rho in enumerate(np.atleast_2d(rho_SxR)):
        ax.loglog(t[keep], rho[keep], "-", lw=1.8, color="C0", alpha=0.8, label="||theta_t|| (seeds)" if s == 0 else None)
    for i, (g, rho_g) in enumerate((group_norms or {}).items()):
        ax.loglog(t[keep], np.asarray(rho_g)[keep], ":", lw=1, color=f"C{i + 2}", label=f"group {g} (seed 0)")
    if fit is not None:
        ax.loglog(fit[0], fit[1], "r--", lw=1.5, label=fit_label or "fit")
    ax.set_xlabel("step t")
    ax.set_ylabel("parameter norm")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def direction_cosines(t_next, c_next, t_2x, c_2x, t_final=None, c_final=None, title: str = ""):
    """C_next, C_2x = cos(theta_t, theta_2t) and C_final against t, with the random-walk null 1/sqrt 2."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.semilogx(t_next, c_next, "-", label="C_next (consecutive records)")
    ax.semilogx(t_2x, c_2x, "o-", ms=3, label="C_2x = cos(theta_t, theta_2t)")
    if t_final is not None:
        ax.semilogx(t_final, c_final, "-", alpha=0.7, label="C_final = cos(theta_t, theta_T)")
    ax.axhline(1 / np.sqrt(2), color="k", ls="--", label="1/sqrt 2 (random-walk null)")
    ax.set_xlabel("step t")
    ax.set_ylabel("cosine")
    ax.set_ylim(min(0.5, np.nanmin(c_2x) - 0.05), 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def sat_curves(cs, curves: dict, paper: dict | None = None, title: str = ""):
    """sat / scale curves: ``curves = {label: values over cs}``; optional paper reference points
    ``paper = {label: (c_values, cos_values)}`` drawn as markers."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (lab, v) in enumerate(curves.items()):
        ax.plot(cs, v, "-", color=f"C{i}", label=lab)
    for i, (lab, (pc, pv)) in enumerate((paper or {}).items()):
        ax.plot(pc, pv, "x", ms=7, color=f"C{i}", label=lab)
    ax.set_xlabel("c")
    ax.set_ylabel("cos(h(c theta), h(1000 theta))")
    ax.set_ylim(min(0.0, min(np.min(v) for v in curves.values()) - 0.05), 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def support_histogram(counts: dict, refs: dict | None = None, title: str = ""):
    """Histogram of the saturated support size m_i per (head, query) pair, one bar series per head
    (``counts = {label: m array}``); ``refs = {label: predicted mean m}`` drawn as vertical lines."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    hi = int(max(np.max(m) for m in counts.values()))
    bins = np.arange(0.5, hi + 1.5)
    ax.hist(list(counts.values()), bins=bins, label=list(counts.keys()), density=True)
    for i, (lab, v) in enumerate((refs or {}).items()):
        ax.axvline(v, color=f"C{i}", ls="--", lw=1, label=lab)
    ax.set_xlabel("number of positions attended (saturated weight > 1e-5)")
    ax.set_ylabel("fraction of (head, query) pairs")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig
