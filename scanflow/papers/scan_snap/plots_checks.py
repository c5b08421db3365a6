"""Figures of the simulating Scan and Snap checks (S10, S12, S13): views of the numbers a check measured, never a
computation."""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt


def fig4_loss_figure(m: dict):
    """S12: the training-batch loss (as logged, solid) and the population loss (dotted) against the iteration, seed
    median per eta_Y; and the final common mass against the top distinct weight of c_n, one dot per seed. `m` is
    `checks.sim_checks.fig4_run`'s dict."""
    batch, pop, t = m["batch"], m["pop"], m["t"]
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.5))
    ax = axs[0]
    for p, eta in enumerate(m["lr_Y"]):
        ax.semilogy(np.arange(batch.shape[-1]), np.median(batch[p], 0), "-", color=f"C{p}",
                    label=f"eta_Y={eta:g}: training batch (as logged)")
        ax.semilogy(t, np.median(pop[p], 0), ":", color=f"C{p}", label=f"eta_Y={eta:g}: population")
    ax.axvline(10, color="gray", ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (seed median)")
    ax.legend(fontsize=7)
    ax.set_title("S12: Syn-Small, SGD momentum 0.9")
    ax = axs[1]
    for p, eta in enumerate(m["lr_Y"]):
        ax.plot(m["common"][p], m["top"][p], "o", color=f"C{p}", label=f"eta_Y={eta:g} (one dot per seed)")
    ax.set_xlabel("final common-token mass of c_n")
    ax.set_ylabel("final top distinct weight")
    ax.legend(fontsize=7)
    ax.set_title("final attention (class mean)")
    return fig


def finite_T_figure(m: dict):
    """S13: the (C) -> (P) gradient error against T, per sequence (RMS) and for the batch mean, with a T^-1/2 line
    through the first point. `m` is `checks.sim_checks.finite_T_gradients`'s dict."""
    Ts, seq_err = m["Ts"], m["seq_err"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(Ts, seq_err, "o-", label="per sequence (RMS)")
    ax.loglog(Ts, m["batch_err"], "s-", label=f"batch mean (B={m['B']})")
    ax.loglog(Ts, seq_err[0] * (np.array(Ts) / Ts[0]) ** -0.5, "k--", label="T^-1/2")
    ax.set_xlabel("T")
    ax.set_ylabel("||grad_Z (C) - grad_Z (P)||")
    ax.legend()
    ax.set_title("S13: one class")
    return fig


def lnln_law_figure(m: dict):
    """S10: the common logit z_c against the step (log x) on the spec setting and the home setting, with the fitted
    a (-1/2 ln ln t) + b after t0 (when there are more than two records after it) and t0 dotted. `m` is
    `checks.sim_checks.lnln_law_runs`'s dict."""
    r, home = m["run"], m["home"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogx(r["t"][1:], r["zc"][1:], "-", label=f"measured z_c (K={m['K']}, M={m['M']})")
    ax.semilogx(home["t"][1:], home["zc"][1:], "-", label=f"home: K={home['K']}, M={home['spec'].M}")
    if "a" in m:
        ax.semilogx(m["tt"], m["a"] * m["lawc"] + m["b"], "r--", label=f"a(-1/2 ln ln t) + b, fitted a = {m['a']:.2f}")
    ax.axvline(m["t0"], color="gray", ls=":", label="t0")
    ax.set_xlabel("step")
    ax.set_ylabel("common-token logit z_c")
    ax.legend(fontsize=8)
    ax.set_title("S10: the common logit")
    return fig
