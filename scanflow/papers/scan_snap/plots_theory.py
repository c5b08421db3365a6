"""Figures of the theory-only checks (S2, S8, S9): views of the numbers a check measured, never a computation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def reduced_ode_figure(m: dict):
    """S8 / Fig 9: each Fig-9 panel (closed form as lines, the integrated ODE as crosses, B(t0) as dots) and the
    ODE's distance from the corrected and the printed closed forms on the Fig-3 base setting. `m` is
    `checks.theory_checks.reduced_ode_vs_closed_form`'s dict."""
    n = m["n"]
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4))
    for a, (name, p) in zip(ax[:2], m["panels"].items()):
        for i, r in enumerate(p["rows"]):
            col = f"C{i}"
            a.plot(r["t"], r["Bc"], color=col, label=f"eta_Z={r['eZ']:g}, eta_Y={r['eY']:g}")
            a.plot(r["t"][:: max(1, n // 20)], r["Bo"][:: max(1, n // 20)], "x", color=col, ms=4)
            a.axvline(r["T0"], color=col, ls=":", lw=1)
            a.plot([r["T0"]], [r["Bt0"]], "o", color=col)
        a.set(xlabel="t", ylabel="B_n(t)",
              title=f"Fig 9 {name}: M={p['M']:g}, K={p['K']}, C0={p['C0']:g}\nline: closed form, x: ODE, dot: B(t0)")
        a.legend(fontsize=7)
    for c in m["curves"]:
        ax[2].semilogy(c["t"][1:], c["err"][1:] + 1e-17, label=f"|ODE - corrected|, C0={c['C0']:g}")
        if c["printed"] is not None:
            ax[2].semilogy(c["t"][1:], c["printed"][1:], "--", label=f"|ODE - printed 1/4 ln(C0+4Gamma)|, C0={c['C0']:g}")
    ax[2].axhline(1e-6, color="k", ls=":", lw=1, label="tolerance 1e-6")
    ax[2].set(xlabel="t", ylabel="abs error of B", title="ODE vs closed forms\nM=1000, K=10, eta_Y=1, eta_Z=0.5")
    ax[2].legend(fontsize=7)
    return fig


def lr_effects_figure(m: dict):
    """S9: chi = e^{2B} against t for each eta_Y (closed form as lines, ODE as crosses, t0 dotted), and B(700) at
    fixed nu against the rates' scale. `m` is `checks.theory_checks.learning_rate_effects`'s dict."""
    n, t = m["n"], m["t"]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, e in enumerate(m["etas"]):
        ax[0].plot(t, np.exp(2 * m["Bc"][i]), color=f"C{i}", label=f"eta_Y={e:g} (t0={m['T0'][i]:.0f})")
        ax[0].plot(t[:: max(1, n // 20)], np.exp(2 * m["Bo"][i][:: max(1, n // 20)]), "x", color=f"C{i}", ms=4)
        ax[0].axvline(m["T0"][i], color=f"C{i}", ls=":", lw=1)
    ax[0].set(xlabel="t", ylabel="chi = e^{2B}", title="Fig 3 analogue: K=10, M=1000, eta_Z=0.5, C0=1 (x: ODE)")
    ax[0].legend(fontsize=8)
    scales = m["scales"]
    for nu, ls in ((1.0, "-"), (10.0, "--")):
        ax[1].plot(scales, m["fixed_nu"][nu][:, 0], ls, marker="o", label=f"nu={nu:g}, t=700")
    ax[1].set(xscale="log", xlabel="eta_Z (eta_Y = nu eta_Z)", ylabel="B(700) (ODE)",
              title="Fixed nu: B grows with the rates")
    ax[1].set_xticks(scales, [f"{v:g}" for v in scales])
    ax[1].minorticks_off()
    ax[1].legend(fontsize=8)
    return fig


def h_gap_figure(m: dict, fig8):
    """S2: the Lemma-7 gap over its bound on each Fig-8 setting (to 100x its horizon), and gamma's stage-1 and
    stage-2 ratios for each M. `m` is `checks.theory_checks.decoder_gap_and_gamma_stages`'s dict; `fig8` the
    settings (shades follow each setting's rate)."""
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4))
    for M, eta_, S, s_ext, gap, bound, k in m["gaps"]:
        s = np.arange(1, s_ext + 1)
        shade = 0.4 + 0.12 * fig8[0 if M == 50 else 1][1].index(eta_)
        ax[0].loglog(s, gap[1:] / bound, color="C0" if M == 50 else "C3", alpha=shade, label=f"M={M}, eta={eta_:g}")
    ax[0].axhline(1.0, color="k", ls="--", lw=1, label="Lemma 7 bound")
    ax[0].set(xlabel="updates s", ylabel="(h* - h) / (2 eta / M)", title="Lemma 7 gap (Fig-8 settings, 100x horizon)")
    ax[0].set_ylim(top=300.0)
    ax[0].legend(fontsize=6, ncol=3, loc="upper right")
    for M, (x1, r1, mult, r2) in m["curves"].items():
        ax[1].plot(x1, r1, label=f"M={M:g}")
        ax[2].semilogx(mult, r2, label=f"M={M:g}")
    ax[1].axhspan(0.94, 1.0, color="g", alpha=0.1, label="[0.94, 1]")
    ax[1].set(xlabel="t / t'0", ylabel="gamma / (eta_Y t / K)", title="Stage 1 (t <= 0.3 t'0)")
    ax[1].legend(fontsize=8)
    ax[2].axhspan(0.98, 1.02, color="g", alpha=0.1, label="1 +- 0.02")
    ax[2].axvline(100, color="k", ls=":", lw=1)
    ax[2].set(xlabel="t / t0", ylabel="gamma eta_Y t / (K ln(M eta_Y t/K))", title="Stage 2 ratio (t >= 3 t0)")
    ax[2].legend(fontsize=8)
    return fig
