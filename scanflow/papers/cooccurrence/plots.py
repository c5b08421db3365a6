"""Figures of the word co-occurrence paper (Yang et al. 2024). Views of recorded arrays: they never simulate.

* `fig1`: Figure 1 (a) score correlations mu_i^T W_K^T W_Q mu_j against time with a vertical line at T1,
  (b) the overall and per-type training losses;
* `t1_scaling`: T1 * sigma1^2 m m1 against m with the fitted log-log slope;
* `balancing`: S2/S3 and R(t) with the band (1, 2) of Lemma F.6;
* `inverse_loss`: 1/L_hat against t, linear in Phase 2 (Thm F.8);
* `fig1_run`, `balancing_run`, `inverse_loss_run`: the same from a results Dataset (`scanflow.load_run`);
* `all_figures`: the figures of a run of the cooccurrence workload (``{name: Figure}``).
"""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt

NAMES = ("mu1", "mu2", "mu3")
# (key, query) pairs of Fig. 1(a), in the paper's convention nu^T W_K^T W_Q mu = <key(nu), query(mu)>
PAIRS = [(1, 0), (0, 1), (2, 0), (2, 1), (0, 0), (1, 1), (2, 2), (0, 2), (1, 2)]


def fig1(x_T, score_TxKxQ, loss_T, loss_type_Tx4, T1: float, title: str, xlabel: str = r"$\tau=\sigma_1^2 m m_1 t$"):
    """Figure 1 (a) and (b) of one run; returns the matplotlib figure."""
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, q in PAIRS:
        y = score_TxKxQ[:, k, q] - score_TxKxQ[0, k, q]
        style = "-" if (k, q) in PAIRS[:4] else ":"
        ax_a.plot(x_T, y, style, lw=1.4 if style == "-" else 0.9, label=f"key {NAMES[k]} / query {NAMES[q]}")
    ax_a.set_ylabel(r"$\mu_k^\top W_K^\top W_Q\,\mu_q$ − value at t=0")
    ax_a.set_title("(a) attention score correlations")
    ax_a.legend(fontsize=6, ncol=2)
    ax_b.plot(x_T, loss_T, color="C0", lw=2, label="loss (mean)")
    for j, lab in enumerate(["type 1 (mu1, mu2)", "type 2 (mu1 only)", "type 3 (mu2 only)", "type 4 (neither)"]):
        ax_b.plot(x_T, loss_type_Tx4[:, j], color=f"C{j + 1}", label=lab)
    ax_b.axhline(np.log(2), color="gray", lw=0.6, ls="--")
    ax_b.set_ylabel("training loss")
    ax_b.set_title("(b) per-type losses")
    ax_b.legend(fontsize=7)
    for ax in (ax_a, ax_b):
        if np.isfinite(T1):
            ax.axvline(T1, color="red", lw=1.2)
        ax.set_xlabel(xlabel)
    fig.suptitle(title + ("  (red: T1, all samples classified correctly)" if np.isfinite(T1) else "  (T1 not reached)"),
                 fontsize=9)
    return fig


def t1_scaling(m_M, T1tau_MxS, slope: float, slope_se: float, title: str = ""):
    """T1 sigma1^2 m m1 (every seed and the median) against m, log-log, with the fitted slope."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    m_M = np.asarray(m_M, np.float64)
    for i, m in enumerate(m_M):
        ax.plot(np.full(T1tau_MxS.shape[1], m), T1tau_MxS[i], "o", color="C0", alpha=0.4, ms=4)
    med = np.median(T1tau_MxS, axis=1)
    ax.plot(m_M, med, "s-", color="C1", label=f"median over seeds; fitted slope {slope:+.3f} ± {slope_se:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    lo, hi = np.min(T1tau_MxS), np.max(T1tau_MxS)
    ax.set_ylim(lo / 2, hi * 2)
    ax.set_xlabel("m")
    ax.set_ylabel(r"$T_1\,\sigma_1^2 m m_1$")
    ax.set_title(title or "Phase-1 time in the natural clock (Thm 3.1: constant in m)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def balancing(x_T, S_Tx4, T1: float, title: str, xlabel: str = r"$\tau$"):
    """(left) S2/S3 - 1; (right) R(t) = (S2+S3+S4-S1)/(S1-S2) with the band (1, 2) of Lemma F.6."""
    S1, S2, S3, S4 = (S_Tx4[:, k] for k in range(4))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(x_T, S2 / S3 - 1.0)
    ax1.axhline(0.0, color="gray", lw=0.6)
    ax1.set_ylabel(r"$S_2/S_3 - 1$")
    ax1.set_title("automatic balancing (Lemma F.5)")
    R = (S2 + S3 + S4 - S1) / (S1 - S2)
    ok = x_T >= T1 if np.isfinite(T1) else np.ones_like(x_T, bool)
    ax2.plot(x_T[ok], R[ok], color="C1", label="R(t), Phase 2")
    ax2.axhspan(1.0, 2.0, color="C2", alpha=0.15, label="band (1, 2)")
    ax2.set_ylim(0.5, 3.0)
    ax2.set_ylabel("R(t)")
    ax2.set_title(r"$R=(S_2+S_3+S_4-S_1)/(S_1-S_2)$ (Lemma F.6)")
    ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        if np.isfinite(T1):
            ax.axvline(T1, color="red", lw=1.0)
        ax.set_xlabel(xlabel)
    fig.suptitle(title, fontsize=9)
    return fig


def inverse_loss(curves: list[tuple[str, np.ndarray, np.ndarray, float]], title: str, xlabel: str = "t", ax=None):
    """1/L_hat against t for several runs [(label, t_T, loss_T, T1)]; a dot marks T1 on each curve.
    Draws into `ax` if given (returns its figure)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for j, (label, t_T, loss_T, T1) in enumerate(curves):
        ax.plot(t_T, 1.0 / loss_T, color=f"C{j}", label=label)
        if np.isfinite(T1):
            ax.plot([T1], [1.0 / np.interp(T1, t_T, loss_T)], "o", color=f"C{j}", ms=5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$1/\hat L$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _run_arrays(ds, point: int):
    """tau, t (record,) and the name of a cooccurrence run's grid point `point`."""
    from scanflow.engine.dataset import config_of

    return (ds["tau"].values[point], ds["t"].values[point], config_of(ds).get("name", "cooccurrence"))


def fig1_run(ds, point: int = 0, seed: int = 0):
    """`fig1` of one run of a results Dataset (`scanflow.load_run`): score correlations and per-type losses."""
    from scanflow.papers.cooccurrence.measure import T1_time

    tau, _, name = _run_arrays(ds, point)
    T1 = T1_time(tau, ds["margins"].values[point, seed])
    return fig1(tau, ds["score"].values[point, seed], ds["loss"].values[point, seed],
                ds["loss_type"].values[point, seed], T1, f"{name}: point {point}, seed {seed}")


def balancing_run(ds, point: int = 0, seed: int = 0):
    """`balancing` (S2/S3 and R(t)) of one run of a results Dataset."""
    from scanflow.papers.cooccurrence.measure import T1_time

    tau, _, name = _run_arrays(ds, point)
    T1 = T1_time(tau, ds["margins"].values[point, seed])
    return balancing(tau, ds["S"].values[point, seed], T1, f"{name}: point {point}, seed {seed}")


def inverse_loss_run(ds, point: int = 0):
    """`inverse_loss`: 1/L against t for every seed of grid point `point` of a results Dataset."""
    from scanflow.papers.cooccurrence.measure import T1_time

    _, t, name = _run_arrays(ds, point)
    loss, margins = ds["loss"].values[point], ds["margins"].values[point]
    return inverse_loss([(f"seed {s}", t, loss[s], T1_time(t, margins[s])) for s in range(loss.shape[0])],
                        f"{name}: 1/L against t (dots: T1; Thm F.8 predicts linear in Phase 2)")


def all_figures(ds) -> dict:
    """The figures of a cooccurrence run (`Workload.plots`): Fig. 1 and balancing for point 0, seed 0,
    and 1/L_hat for every seed of point 0."""
    return {"fig1": fig1_run(ds), "balancing": balancing_run(ds), "inverse_loss": inverse_loss_run(ds)}
