"""Views of an online-SGD run (never simulate, never save): the seed mean of ||w_t - w*||^2 against the
exact prediction. One function for the checks (`Context.save_figure`), ``scanflow plot`` (the workload's
``plots``) and a notebook (``err2_figure(scanflow.run(...))``)."""

from __future__ import annotations

import numpy as np

from scanflow_online_sgd import theory as th


def err2_figure(ds, flow: bool = False, title: str = ""):
    """Seed mean of ``err2`` (band: 2 standard errors) per learning rate, the exact prediction (dashed) and
    its noise floor (dotted); with `flow`, the gradient-flow prediction exp(-2 eta t) ||w*||^2 too."""
    from scanflow.engine.dataset import config_of
    from scanflow.engine.figures import plt

    data = config_of(ds)["data"]
    w2 = float(np.sum(th.teacher(data["d"], data["seed"]) ** 2))
    t = ds.step.values.astype(np.float64)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, eta in enumerate(ds.lr_w.values):
        e = ds.err2.sel(lr_w=eta)
        mean, se = e.mean("seed").values, e.std("seed", ddof=1).values / np.sqrt(e.sizes["seed"])
        ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=f"C{k}", alpha=0.25, lw=0)
        ax.plot(t, mean, color=f"C{k}", lw=2, label=f"eta = {eta:g}: mean of {e.sizes['seed']} seeds")
        ax.plot(t, th.mean_err2(t, eta, data["d"], data["sigma"], w2), color="k", ls="--", lw=1)
        if th.rate(eta, data["d"]) < 1:
            ax.axhline(th.noise_floor(eta, data["d"], data["sigma"]), color=f"C{k}", ls=":", lw=1)
        if flow:
            ax.plot(t, th.flow_err2(t, eta, w2), color=f"C{k}", ls="-.", lw=1, label="gradient flow exp(-2 eta t)")
    ax.plot([], [], color="k", ls="--", lw=1, label="exact: r^t ||w*||^2 + noise (theory.mean_err2)")
    ax.set_yscale("log")
    ax.set(xlabel="t (steps, one sample each)", ylabel="||w_t - w*||^2",
           title=title or f"online SGD, d = {data['d']}, sigma = {data['sigma']:g}")
    ax.legend(fontsize=7)
    return fig


def all_figures(ds) -> dict:
    """The workload's `Workload.plots`: ``{"err2": Figure}``."""
    return {"err2": err2_figure(ds)}
