"""Theory figures of Scan and Snap (Figs 3, 8, 9 of the paper), from closed forms only (no simulation).

    python sims/scan_snap_theory_figs.py [--figures figures]

Writes (each also as .pdf)
  scan_snap_fig3_chi.png    chi = e^{2 B_n(t)}, K=10, M=1000, eta_Z=0.5, eta_Y in {0.5,1,2,5}, t in [0,700];
  scan_snap_fig8_hstar.png  staircase h*(s) (Lemma 5) against the smooth h(s) (Lemma 6), M=50 and M=1000;
  scan_snap_fig9_B.png      B_n(t) at fixed nu = eta_Y/eta_Z (left nu=10, M=100; right nu=1, M=1e4), K=1, C0=1.
B_n = 1/4 ln(1 + 4 Gamma/C0) (the corrected Theorem-4 form; equal to the printed 1/4 ln(C0 + 4 Gamma) at
C0 = 1). t0 is the exact-x0 form K(2(M-1)x0 - 1)/(M eta_Y), which reproduces the Fig-9 dots.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def fig3(out: Path) -> list[Path]:
    from scanflow.engine.figures import plt, save_all
    from scanflow.papers.scan_snap import theory as th

    K, M, eZ, C0 = 10, 1000, 0.5, 1.0
    t = np.linspace(0.0, 700.0, 1401)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, eY in enumerate((0.5, 1.0, 2.0, 5.0)):
        T0, T0a = float(th.t0(K, M, eY)), float(th.t0_asymptotic(K, M, eY))
        chi = np.exp(2.0 * th.B(t, K, M, eY, eZ, C0))
        ax.plot(t, chi, color=f"C{i}", label=rf"$\eta_Y$={eY:g}: $t_0$={T0:.0f} (2K lnM/$\eta_Y$={T0a:.0f})")
        ax.axvline(T0, color=f"C{i}", ls=":", lw=1.2)
        ax.axvline(T0a, color=f"C{i}", ls="-.", lw=0.6, alpha=0.5)
    ax.set(xlabel="t (steps)", ylabel=r"$\chi(t) = e^{2B_n(t)}$", xlim=(0, 700), ylim=(0, None))
    ax.set_title(
        "Fig 3 (theory): growth factor $\\chi=e^{2B_n}$, K=10, M=1000, $\\eta_Z$=0.5\n"
        "$B_n=\\frac{1}{4}\\ln(1+4\\Gamma/C_0)$ with $C_0=1$ (the paper's y-axis, ~600, is not reproduced)\n"
        "dotted: $t_0$ with exact $x_0$; dash-dot: $2K\\ln M/\\eta_Y$",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")
    return save_all(fig, out / "scan_snap_fig3_chi")


def fig8(out: Path) -> list[Path]:
    from scanflow.engine.figures import plt, save_all
    from scanflow.papers.scan_snap import theory as th

    panels = ((50, (0.1, 0.2, 0.5, 1.0, 2.0), 80), (1000, (0.2, 0.5, 1.0, 2.0, 4.0), 70))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, (M, etas, S) in zip(axes, panels):
        s = np.arange(S + 1)
        sf = np.linspace(0.0, S, 20 * S + 1)
        for i, eta in enumerate(etas):
            ax.step(s, th.h_star(S, M, eta), where="post", color=f"C{i}", lw=1.0, label=rf"$h^*$, $\eta_Y$={eta:g}")
            ax.plot(sf, th.h_closed(sf, M, eta), color=f"C{i}", ls="--", lw=1.2)
        ax.set(xlabel="s (updates of the class)", ylabel="h", xlim=(0, S), ylim=(0, None),
               title=f"M={M}: staircase $h^*(s)$ (Lemma 5, solid) vs smooth $h(s)$ (Lemma 6, dashed)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Fig 8 (theory): discrete decoder coefficient $h^*$ and its continuous limit $h$; "
                 r"$0 \leq h^*-h \leq 2\eta_Y/M$ (Lemma 7)", fontsize=10)
    return save_all(fig, out / "scan_snap_fig8_hstar")


def fig9(out: Path) -> list[Path]:
    from scanflow.engine.figures import plt, save_all
    from scanflow.papers.scan_snap import theory as th

    panels = (
        (r"$\nu$=10, M=100", 100, [(0.5, 5.0), (1.0, 10.0), (2.0, 20.0), (4.0, 40.0), (8.0, 80.0)], 5.0),
        (r"$\nu$=1, M=$10^4$", 1e4, [(e, e) for e in (0.5, 1.0, 2.0, 4.0, 8.0)], 50.0),
    )
    K, C0 = 1, 1.0
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, (name, M, pairs, tmax) in zip(axes, panels):
        t = np.linspace(0.0, tmax, 1001)
        for i, (eZ, eY) in enumerate(pairs):
            T0 = float(th.t0(K, M, eY))
            ax.plot(t, th.B(t, K, M, eY, eZ, C0), color=f"C{i}", label=rf"$\eta_Z$={eZ:g}, $\eta_Y$={eY:g}")
            ax.axvline(T0, color=f"C{i}", ls=":", lw=1.2)
            ax.plot([T0], [float(th.B(T0, K, M, eY, eZ, C0))], "o", color=f"C{i}")
        ax.set(xlabel="t", ylabel=r"$B_n(t)$", xlim=(0, tmax), ylim=(0, None), title=f"{name}, K=1, $C_0$=1")
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(r"Fig 9 (theory): $B_n(t)=\frac{1}{4}\ln(1+4\Gamma(t)/C_0)$ at fixed $\nu=\eta_Y/\eta_Z$; "
                 r"dotted: $t_0$ (exact $x_0$), dots: $B_n(t_0)$, the same for every $\eta_Z$", fontsize=10)
    return save_all(fig, out / "scan_snap_fig9_B")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default=str(ROOT / "figures"), help="output directory (default: figures/)")
    args = ap.parse_args(argv)
    out = Path(args.figures)
    out.mkdir(parents=True, exist_ok=True)
    for f in (*fig3(out), *fig8(out), *fig9(out)):
        print(f"figure {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
