"""Views of a finished linear-net run (never simulate, never save): mode strengths against Saxe's
sigmoid, and the drift of the conserved balancedness matrix. `modes_figure` takes a results Dataset
(`ctx.run` in a check, `scanflow.load_run`, `scanflow.run`); `all_figures` is the workload's `Workload.plots`."""

from __future__ import annotations

import numpy as np

from scanflow_linear_net import theory as th


def _plt():
    from scanflow.engine.figures import plt  # selects no backend (headless: matplotlib falls back to Agg)

    return plt


def _drift(Q):
    """max over matrix entries of |Q(t) - Q(0)| in Frobenius norm, per record (last axes: h x h)."""
    return np.sqrt(np.sum((Q - Q[..., :1, :, :]) ** 2, axis=(-2, -1)))


def modes_figure(ds, point: int = 0, seed: int = 0, title: str = ""):
    """Mode strengths a_alpha(t) (solid) of run (`point`, `seed`) of a results Dataset, with the closed form
    (S) (dashed) when the init is decoupled and both layers share one rate; return the matplotlib figure."""
    from scanflow.engine.dataset import config_of
    from scanflow.engine.figures import record_values

    plt = _plt()
    config = config_of(ds)
    steps = np.asarray(record_values(ds), np.float64)  # the "time" axis under gradient flow
    s = np.asarray(config["data"]["singular_values"], np.float64)
    a0 = float(config["model"]["init_scale"])
    eta1, eta2 = float(ds.lr_W1.values[point]), float(ds.lr_W2.values[point])
    a = ds.mode_strength.values[point, seed]  # (record, mode)
    theory = config["model"]["init"] == "decoupled" and eta1 == eta2
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for k, sk in enumerate(s):
        ax[0].plot(steps, a[:, k], color=f"C{k}", lw=2, alpha=0.7, label=f"a_{k + 1} (scanflow), s = {sk:g}")
        if theory:
            ax[0].plot(steps, th.mode_strength(steps, sk, a0, eta1), color="k", ls="--", lw=1,
                       label="Saxe et al. closed form (S)" if k == 0 else None)
            ax[0].axvline(th.half_time(sk, a0, eta1), color=f"C{k}", ls=":", lw=1)
    ax[0].set(xlabel="t (steps: flow time in units of the learning rate)", ylabel="a_alpha = u^T W2 W1 v",
              title=title or f"mode strengths (eta1 = {eta1:g}, eta2 = {eta2:g}, a0 = {a0:g})")
    ax[0].legend(fontsize=7)
    for name, label in (("balance", "W1W1^T - W2^TW2"), ("balance_lr", "W1W1^T/eta1 - W2^TW2/eta2")):
        dr = _drift(ds[name].values[point, seed])
        ax[1].semilogy(steps[1:], np.maximum(dr[1:], 1e-300), label=label)
    ax[1].set(xlabel="t (steps)", ylabel="||Q(t) - Q(0)||_F", title="drift of the balancedness matrices")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def all_figures(ds) -> dict:
    """The figures of a linear_net run (`Workload.plots`): ``modes_point<p>`` for every grid point, seed 0."""
    return {f"modes_point{p}": modes_figure(ds, point=p) for p in range(ds.sizes["point"])}


__all__ = ["all_figures", "modes_figure"]
