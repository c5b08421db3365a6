"""Figures of the word co-occurrence paper (Yang et al. 2024). Views of a results Dataset (`scanflow.load_run`,
`scanflow.run`, a check's `Context.run`): they never simulate. One function per figure, used by the checks, by
``scanflow plot`` (`all_figures`), by the sims/ scripts and in notebooks:

* `fig1`: Figure 1 (a) score correlations mu_i^T W_K^T W_Q mu_j against time with a vertical line at T1,
  (b) the overall and per-type training losses;
* `t1_scaling`: T1 * sigma1^2 m m1 against m with the fitted log-log slope (an m-sweep: one Dataset per m);
* `balancing`: S2/S3 and R(t) with the band (1, 2) of Lemma F.6;
* `inverse_loss`: 1/L_hat against t (or tau), linear in Phase 2 (Thm F.8);
* `loss_rate`: check 12's pair of `inverse_loss` panels (an m-sweep against t and against tau);
* `all_figures`: the figures of a run of the cooccurrence workload (``{name: Figure}``).

A figure shows run (`point`, `seed`) of its Dataset; without a `T1` it marks the first recorded time at which every
sample is classified correctly (`measure.T1_time`), and without a `title` it names the config, point and seed.
"""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt

NAMES = ("mu1", "mu2", "mu3")
# (key, query) pairs of Fig. 1(a), in the paper's convention nu^T W_K^T W_Q mu = <key(nu), query(mu)>
PAIRS = [(1, 0), (0, 1), (2, 0), (2, 1), (0, 0), (1, 1), (2, 2), (0, 2), (1, 2)]


def _name(ds) -> str:
    from scanflow.engine.dataset import config_of

    return config_of(ds).get("name", "cooccurrence")


def _T1_first(x_T, margins_TxN) -> float:
    from scanflow.papers.cooccurrence.measure import T1_time

    return T1_time(x_T, margins_TxN)


def fig1(ds, title: str | None = None, *, point: int = 0, seed: int = 0, T1: float | None = None, x=None,
         xlabel: str = r"$\tau=\sigma_1^2 m m_1 t$"):
    """Figure 1 (a) and (b) of run (`point`, `seed`) of `ds` against tau, or against `x` (one value per record, e.g.
    GD epochs) with `xlabel`; `T1` (the red line) in the units of the x axis. Returns the matplotlib figure."""
    x_T = ds["tau"].values[point] if x is None else np.asarray(x)
    score_TxKxQ, loss_T, loss_type_Tx4 = (ds[k].values[point, seed] for k in ("score", "loss", "loss_type"))
    T1 = _T1_first(x_T, ds["margins"].values[point, seed]) if T1 is None else T1
    title = f"{_name(ds)}: point {point}, seed {seed}" if title is None else title
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


def t1_scaling(runs: dict, slope: float, slope_se: float, title: str = "", point: int = 0):
    """T1 sigma1^2 m m1 (every seed of `point` and the median) against m, log-log, with the fitted slope; `runs` is an
    m-sweep ``{m: Dataset}``, T1 interpolated (`measure.T1_tau_S`)."""
    from scanflow.papers.cooccurrence.measure import T1_tau_S

    T1tau_MxS = np.stack([T1_tau_S(ds, point) for ds in runs.values()])
    fig, ax = plt.subplots(figsize=(5, 3.6))
    m_M = np.asarray(list(runs), np.float64)
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


def balancing(ds, title: str | None = None, *, point: int = 0, seed: int = 0, T1: float | None = None):
    """Run (`point`, `seed`) of `ds` against tau: (left) S2/S3 - 1; (right) R(t) = (S2+S3+S4-S1)/(S1-S2) from T1 on,
    with the band (1, 2) of Lemma F.6; `T1` (the red line) in tau units."""
    x_T, S_Tx4 = ds["tau"].values[point], ds["S"].values[point, seed]
    T1 = _T1_first(x_T, ds["margins"].values[point, seed]) if T1 is None else T1
    title = f"{_name(ds)}: point {point}, seed {seed}" if title is None else title
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
        ax.set_xlabel(r"$\tau$")
    fig.suptitle(title, fontsize=9)
    return fig


XLABELS = {"t": "t", "tau": r"$\tau$"}


def inverse_loss(runs, title: str | None = None, *, T1=None, time: str = "t", point: int = 0, ax=None):
    """1/L_hat against `time` (``t`` or ``tau``) with a dot at T1 on each curve. `runs`: a Dataset (one curve per seed
    of `point`) or ``{label: Dataset}`` (seed 0 of `point` of each, e.g. an m-sweep); `T1`: one per curve, in the
    units of `time`. Draws into `ax` if given (returns its figure)."""
    if isinstance(runs, dict):
        items = [(label, ds, 0) for label, ds in runs.items()]
    else:
        items = [(f"seed {s}", runs, s) for s in range(runs.sizes["seed"])]
    if title is None:
        title = f"{_name(items[0][1])}: 1/L against {time} (dots: T1; Thm F.8 predicts linear in Phase 2)"
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for j, (label, ds, seed) in enumerate(items):
        x_T, loss_T = ds[time].values[point], ds["loss"].values[point, seed]
        T1_j = _T1_first(x_T, ds["margins"].values[point, seed]) if T1 is None else T1[j]
        ax.plot(x_T, 1.0 / loss_T, color=f"C{j}", label=label)
        if np.isfinite(T1_j):
            ax.plot([T1_j], [1.0 / np.interp(T1_j, x_T, loss_T)], "o", color=f"C{j}", ms=5)
    ax.set_xlabel(XLABELS[time])
    ax.set_ylabel(r"$1/\hat L$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def loss_rate(runs: dict, T1_t, T1_tau):
    """Check 12: 1/L_hat of seed 0 of each m of an m-sweep ``{m: Dataset}`` against t (left) and against
    tau = sigma1^2 m m1 t (right: one line when kappa is independent of m), with a dot at T1 on each curve; `T1_t`,
    `T1_tau`: T1 of seed 0 per m, in t and in tau."""
    by_m = {f"m={m}": ds for m, ds in runs.items()}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    inverse_loss(by_m, "HOME, seed 0: 1/L against t (dots: T1); Phase-2 slope ~ sigma1^2 m m1", T1=T1_t, ax=ax1)
    inverse_loss(by_m, "the same against tau = sigma1^2 m m1 t: one line (kappa independent of m)", T1=T1_tau,
                 time="tau", ax=ax2)
    return fig


def all_figures(ds) -> dict:
    """The figures of a cooccurrence run (`Workload.plots`): Fig. 1 and balancing for point 0, seed 0,
    and 1/L_hat for every seed of point 0."""
    return {"fig1": fig1(ds), "balancing": balancing(ds), "inverse_loss": inverse_loss(ds)}
