"""Scan and Snap theory-only checks S2, S8, S9 (spec §6): no simulation of the transformer.

S2 compares the exact decoder recursion (Lemma 5) with the continuous closed form (Lemma 6) and the
stage asymptotics of gamma (Lemma 9). S8 integrates the reduced attention ODE of Theorem 4 with
diffrax and compares it with the closed form B = 1/4 ln(1 + 4 Gamma / C0). S9 checks the learning-rate
orderings of Sec. 6 (a)-(c) on the same model. Predictions come from `scanflow.papers.scan_snap.theory`;
the spec's [calib] numbers are quoted only as reference values in the notes. The three have mode "T": they
test the theory module against itself, and the report lists them under "Theory self-consistency".
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.scan_snap import theory as th
from scanflow.verify import Context, Result, all_of, at_most, check, holds_that, meter

PAPER = "Tian et al. 2023"
SELF = ("Theory self-consistency (mode T): this check evaluates the theory module against itself (closed forms "
        "against exact recursions or the numerically integrated reduced ODE); no transformer is simulated, so it "
        "verifies our reading and algebra of the paper, not the training dynamics. ")

# Fig 8 of the paper: (M, eta_Y values, horizon in updates s)
FIG8 = ((50, (0.1, 0.2, 0.5, 1.0, 2.0), 80), (1000, (0.2, 0.5, 1.0, 2.0, 4.0), 70))
# Fig 9 of the paper: (panel, K, M, C0, [(eta_Z, eta_Y)], t_max)
FIG9 = (
    ("left", 1, 100, 1.0, [(0.5, 5.0), (1.0, 10.0), (2.0, 20.0), (4.0, 40.0), (8.0, 80.0)], 5.0),
    ("right", 1, 1e4, 1.0, [(e, e) for e in (0.5, 1.0, 2.0, 4.0, 8.0)], 50.0),
)
# Fig 3 / S9 setting
FIG3_K, FIG3_M, FIG3_ETA_Z, FIG3_ETA_Y, FIG3_T = 10, 1000, 0.5, (0.5, 1.0, 2.0, 5.0), 700.0


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _r(x, d=6):
    return [round(float(v), d) for v in np.ravel(x)]


# ----------------------------------------------------------------------------- S2


@check(
    paper="scan-snap",
    name="S2",
    claim="Discrete vs continuous decoder coefficient: 0 <= h*(s) - h(s) <= 2 eta/M with the gap shrinking "
    "(Lemmas 5-7); gamma ~ eta_Y t/K in stage 1 and gamma ~ K ln(M eta_Y t/K)/(eta_Y t) in stage 2 (Lemma 9)",
    mode="T",
    home="the theory module: Fig-8 settings (M = 50, 1000) and K = 10, eta_Y = 1, M in {1000, 1e4}",
)
def s2(ctx: Context) -> Result:
    ext = 100  # extended horizon factor for "the gap shrinks / -> 0" (cheap: a scalar recursion)
    gap_rows, ok_h = [], True
    pred, meas = {}, {}
    for M, etas, S in FIG8:
        for eta in etas:
            s_ext = ext * S
            hs = th.h_star(s_ext, M, eta)
            hc = th.h_closed(np.arange(s_ext + 1), M, eta)
            gap = hs - hc
            k = int(np.argmax(gap))
            bound = 2.0 * eta / M
            nonneg = gap.min() >= -1e-15 * max(hs.max(), 1.0)
            below = gap.max() <= bound
            after_peak = np.diff(gap[k:])
            shrinking = bool(np.all(after_peak <= 1e-15) and k < S and gap[-1] < gap[S])
            ok_h &= bool(nonneg and below and shrinking)
            gap_rows.append((M, eta, S, s_ext, gap, bound, k))
            key = f"M={M},eta={eta:g}"
            pred[f"gap_bound_2eta/M[{key}]"] = bound
            meas[f"max_gap[{key}]"] = float(gap.max())
            meas[f"gap(s={S})/gap(s={s_ext})[{key}]"] = f"{gap[S]:.3e} / {gap[-1]:.3e} (peak s={k})"

    # gamma asymptotics. The ratios depend on M and eta_Y t / K only; K = 10, eta_Y = 1.
    K, eta = 10, 1.0
    n = ctx.pick(400, 80)
    gate_M, info_M = (1000, 1e4), (50, 100)
    ok_g = True
    curves = {}
    for M in gate_M + info_M:
        tp, T0 = th.t0_prime(K, M, eta), th.t0(K, M, eta)
        t1 = np.linspace(0.3 * tp / n, 0.3 * tp, n)
        r1 = th.gamma(t1, K, M, eta) / (eta * t1 / K)
        mult = np.logspace(np.log10(3.0), ctx.pick(6.0, 4.0), n)
        r2 = th.gamma_stage2_ratio(mult * T0, K, M, eta)
        curves[M] = (t1 / tp, r1, mult, r2)
        fixed = th.gamma_stage2_ratio(np.array([3.0, 10.0, 100.0, 1e3, 1e4]) * T0, K, M, eta)
        late = r2[mult >= 100.0]
        stage1_ok = bool(r1.min() >= 0.94 and r1.max() <= 1.0)
        mono = bool(np.all(np.diff(r2) <= 1e-12))
        asym_ok = bool(np.all(np.abs(late - 1.0) <= 0.02))
        tag = "" if M in gate_M else " (info, not gated)"
        pred[f"gamma ratio limit ((M-1)/M)^2 [M={M:g}]"] = float(th.gamma_ratio_limit(M))
        meas[f"stage1 gamma/(eta t/K) range, t<=0.3t'0 [M={M:g}]{tag}"] = f"[{r1.min():.4f}, {r1.max():.4f}]"
        meas[f"stage2 ratio at 3,10,100,1e3,1e4 t0 [M={M:g}]{tag}"] = _r(fixed, 4)
        meas[f"stage2 monotone decreasing [M={M:g}]{tag}"] = mono
        if M in gate_M:
            ok_g &= stage1_ok and mono and asym_ok

    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4))
    for M, eta_, S, s_ext, gap, bound, k in gap_rows:
        s = np.arange(1, s_ext + 1)
        shade = 0.4 + 0.12 * FIG8[0 if M == 50 else 1][1].index(eta_)
        ax[0].loglog(s, gap[1:] / bound, color="C0" if M == 50 else "C3", alpha=shade, label=f"M={M}, eta={eta_:g}")
    ax[0].axhline(1.0, color="k", ls="--", lw=1, label="Lemma 7 bound")
    ax[0].set(xlabel="updates s", ylabel="(h* - h) / (2 eta / M)", title="Lemma 7 gap (Fig-8 settings, 100x horizon)")
    ax[0].set_ylim(top=300.0)
    ax[0].legend(fontsize=6, ncol=3, loc="upper right")
    for M, (x1, r1, mult, r2) in curves.items():
        ax[1].plot(x1, r1, label=f"M={M:g}")
        ax[2].semilogx(mult, r2, label=f"M={M:g}")
    ax[1].axhspan(0.94, 1.0, color="g", alpha=0.1, label="[0.94, 1]")
    ax[1].set(xlabel="t / t'0", ylabel="gamma / (eta_Y t / K)", title="Stage 1 (t <= 0.3 t'0)")
    ax[1].legend(fontsize=8)
    ax[2].axhspan(0.98, 1.02, color="g", alpha=0.1, label="1 +- 0.02")
    ax[2].axvline(100, color="k", ls=":", lw=1)
    ax[2].set(xlabel="t / t0", ylabel="gamma eta_Y t / (K ln(M eta_Y t/K))", title="Stage 2 ratio (t >= 3 t0)")
    ax[2].legend(fontsize=8)
    figure = ctx.save_figure(fig, "S2_h_gap_gamma_stages.png")

    r3, r10 = th.gamma_stage2_ratio(np.array([3.0, 10.0]) * th.t0(K, 1000, eta), K, 1000, eta)
    notes = SELF + (
        f"Lemma 7 holds in all 10 Fig-8 settings; e.g. M=50, eta=2: max gap {gap_rows[4][4].max():.3e} <= 0.08 "
        "(spec: 8.5e-3). The gap is unimodal: it peaks early (s = 2..61) and then decreases strictly, towards 0 "
        "(checked to 100x the Fig-8 horizon; the peak lies inside the Fig-8 horizon in every setting). "
        f"Stage ratios at M=1000 (K=10): 3t0 -> {r3:.4f}, 10t0 -> {r10:.4f} (spec [calib] 1.19, 1.06). "
        "Finding: both stage ratios tend to ((M-1)/M)^2, not 1 (t->0: h ~ eta s/M; t->inf: e^{Mh} ~ M eta s). "
        f"So the spec's bands need large M: at M=50 the stage-1 ratio falls to {curves[50][1].min():.3f} < 0.94 and "
        f"the stage-2 ratio tends to {th.gamma_ratio_limit(50):.3f} (outside 1 +- 0.02); at M=100 to "
        f"{curves[100][1].min():.4f} and {th.gamma_ratio_limit(100):.4f}. "
        "Those two M are reported but not gated; the gated settings are M = 1000 (the Fig-3 setting) and 1e4."
    )
    worst = max(float(gap.max() / bound) for _, _, _, _, gap, bound, _ in gap_rows)
    gate = all_of(
        holds_that("Lemma 7 gap, 10 Fig-8 settings", ok_h, worst,
                   "0 <= h*-h (to -1e-15 relative rounding) and <= 2 eta/M exactly; non-increasing after its peak and "
                   "gap(100 x horizon) < gap(horizon) (measured: the largest gap / bound)"),
        holds_that("gamma stages, M = 1000 and 1e4", ok_g, min(float(curves[M][1].min()) for M in gate_M),
                   "stage-1 ratio in [0.94, 1] for t <= 0.3 t'0; stage-2 ratio decreasing from 3 t0 and within 1 +- 0.02 "
                   "for t >= 100 t0 (spec S2 bands; the exact limit ((M-1)/M)^2 is 0.998 / 0.9998 here; measured: the "
                   "smallest stage-1 ratio)"),
    )
    return Result(
        predicted=pred,
        measured=meas,
        **gate.result_fields(),
        setting="Fig 8: M=50, eta in {0.1,0.2,0.5,1,2}, s<=80; M=1000, eta in {0.2,0.5,1,2,4}, s<=70 (extended "
        f"100x). gamma: K=10, eta_Y=1, M in {{1000, 1e4}} gated, {{50, 100}} reported; {n} points per curve.",
        notes=notes,
        figure=figure,
        assumptions=[
            meter("h*(0), h(0): the recursion and the closed form start from Y(0) = 0 (max |.| over Fig-8 settings)",
                  max(max(abs(float(th.h_star(1, M, e)[0])), abs(float(th.h_closed(np.zeros(1), M, e)[0])))
                      for M, etas, _ in FIG8 for e in etas), "==", 0, ref=f"{PAPER}, Lemmas 5-7 (Y(0) = 0)",
                  note="one class, f frozen: the recursion and the closed form are the lemmas' own"),
            meter("Lemma 9 stage ratios' exact limit: 1 - ((M-1)/M)^2 at the smallest gated M",
                  1.0 - float(th.gamma_ratio_limit(min(gate_M))), "<", 0.02,
                  ref=f"{PAPER}, Lemma 9 (the stage approximations assume M >> 1)",
                  note="inside the +-0.02 band of the stage-2 gate (theory.gamma_ratio_limit)"),
            meter("Thm 1: M (smallest gated)", min(gate_M), ">>", 100, ref=f"{PAPER}, Theorem 1 (M >> 100)"),
        ],
        sources={"gap_bound_2eta/M": "Lemma 7: 0 <= h* - h <= 2 eta/M (paper text); h* from theory.h_star (Lemma 5), "
                 "h from theory.h_closed (Lemma 6)",
                 "gamma ratio limit ((M-1)/M)^2": "theory.gamma_ratio_limit (derived from Lemma 6)",
                 "stage bands [0.94, 1] and 1 +- 0.02": "Lemma 9 stage forms gamma ~ eta_Y t/K, "
                 "gamma ~ K ln(M eta_Y t/K)/(eta_Y t) (paper text); theory.gamma, theory.gamma_stage2_ratio"},
    )


# ----------------------------------------------------------------------------- S8


def _ode_vs_closed(t, K, M, eY, eZ, C0):
    z, Bo = th.reduced_ode(t, K, M, eY, eZ, C0)
    Bc = th.B(t, K, M, eY, eZ, C0)
    return z, Bo, Bc, max(np.abs(Bo - Bc).max(), np.abs(z + Bc).max())


@check(
    paper="scan-snap",
    name="S8",
    claim="Reduced attention ODE z' = -C0^-1 eta_Z gamma e^{4z} integrates to B = -z = 1/4 ln(1 + 4 Gamma/C0), "
    "Gamma = eta_Z K (M-1)^2 h(t/K)^2/(2 eta_Y); B(t0) depends on K, M, nu only (Theorem 4, Eqs 124-131, Fig 9)",
    mode="T",
    home="the theory module: K = 10, M = 1000, eta_Y = 1, eta_Z = 0.5, C0 in {1, 0.05, 20}; the Fig-9 panels",
)
def s8(ctx: Context) -> Result:
    n = ctx.pick(201, 41)
    pred, meas = {}, {}
    errs = {}
    z0s = []

    # (a) Fig-3 base setting at several C0 (C0 != 1 separates the corrected and printed forms)
    K, M, eY, eZ = FIG3_K, FIG3_M, 1.0, 0.5
    t = np.union1d(np.linspace(0.0, FIG3_T, n), [100.0])
    i100 = int(np.searchsorted(t, 100.0))
    paper_gap = {}
    for C0 in ctx.pick((1.0, 0.05, 20.0), (1.0, 0.05)):
        z, Bo, Bc, e = _ode_vs_closed(t, K, M, eY, eZ, C0)
        z0s.append(abs(float(z[0])))
        errs[f"base C0={C0:g}"] = e
        paper_gap[C0] = float(np.abs(Bo - th.B_paper(t, K, M, eY, eZ, C0))[1:].max())
        if C0 == 1.0:
            pred["B(100) closed form [M=1000,K=10,eta_Y=1,eta_Z=.5,C0=1]"] = float(Bc[i100])
            meas["B(100) reduced ODE"] = float(Bo[i100])
            meas["-z(100) reduced ODE"] = float(-z[i100])

    # (b) Fig 9 panels: ODE on a grid that contains t0 (exact-x0 form)
    panels, alt = {}, {}
    ok_indep = True
    for name, K9, M9, C0, pairs, tmax in FIG9:
        rows = []
        for eZ9, eY9 in pairs:
            T0 = float(th.t0(K9, M9, eY9))
            tg = np.union1d(np.linspace(0.0, tmax, n), [T0])
            z, Bo, Bc, e = _ode_vs_closed(tg, K9, M9, eY9, eZ9, C0)
            z0s.append(abs(float(z[0])))
            errs[f"fig9 {name} eta_Z={eZ9:g}"] = e
            j = int(np.searchsorted(tg, T0))
            rows.append(dict(eZ=eZ9, eY=eY9, t=tg, Bo=Bo, Bc=Bc, T0=T0, Bt0_ode=Bo[j], Bt0=Bc[j],
                             Bend=Bo[-1], Bend_c=Bc[-1]))
        panels[name] = rows
        bt0_ode = np.array([r["Bt0_ode"] for r in rows])
        bt0 = np.array([r["Bt0"] for r in rows])
        ok_indep &= bool(np.ptp(bt0_ode) <= 1e-6 and np.ptp(bt0) <= 1e-12)
        nu = pairs[0][1] / pairs[0][0]
        pred[f"Fig9 {name}: B(t_max={tmax:g}) closed form"] = _r([r["Bend_c"] for r in rows], 4)
        meas[f"Fig9 {name}: B(t_max={tmax:g}) ODE"] = _r([r["Bend"] for r in rows], 4)
        pred[f"Fig9 {name}: B(t0) closed form, t0 exact x0 (nu={nu:g})"] = float(bt0[0])
        meas[f"Fig9 {name}: B(t0) ODE, spread over eta_Z"] = f"{bt0_ode.mean():.6f} (spread {np.ptp(bt0_ode):.1e})"
        # which t0 reproduces the figure's dots
        eZ0, eY0 = pairs[0]
        alt[name] = (float(th.B(th.t0_asymptotic(K9, M9, eY0), K9, M9, eY0, eZ0, C0)),
                     float(th.B_at_t0_paper_formula(K9, M9, nu, C0)))
        meas[f"Fig9 {name}: B at t0=2K lnM/eta_Y | printed Thm-4 B(t0)"] = f"{alt[name][0]:.4f} | {alt[name][1]:.4f}"

    max_err = max(errs.values())
    z0_max = max(z0s)
    meas["max |B_ode - B_closed|, |z_ode + B_closed| (all settings)"] = max_err
    meas["max |B_ode - B_paper| at C0=0.05 (printed form, t>0)"] = paper_gap[0.05]
    pred["1/4 |ln C0| at C0=0.05 (printed-form offset)"] = 0.25 * abs(np.log(0.05))

    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4))
    for a, (name, K9, M9, C0, pairs, tmax) in zip(ax[:2], FIG9):
        for i, r in enumerate(panels[name]):
            col = f"C{i}"
            a.plot(r["t"], r["Bc"], color=col, label=f"eta_Z={r['eZ']:g}, eta_Y={r['eY']:g}")
            a.plot(r["t"][:: max(1, n // 20)], r["Bo"][:: max(1, n // 20)], "x", color=col, ms=4)
            a.axvline(r["T0"], color=col, ls=":", lw=1)
            a.plot([r["T0"]], [r["Bt0"]], "o", color=col)
        a.set(xlabel="t", ylabel="B_n(t)",
              title=f"Fig 9 {name}: M={M9:g}, K={K9}, C0={C0:g}\nline: closed form, x: ODE, dot: B(t0)")
        a.legend(fontsize=7)
    base_t = np.linspace(0.0, FIG3_T, n)
    for C0 in (1.0, 0.05):
        z, Bo, Bc, _ = _ode_vs_closed(base_t, FIG3_K, FIG3_M, 1.0, 0.5, C0)
        ax[2].semilogy(base_t[1:], np.abs(Bo - Bc)[1:] + 1e-17, label=f"|ODE - corrected|, C0={C0:g}")
        if C0 != 1.0:
            ax[2].semilogy(base_t[1:], np.abs(Bo - th.B_paper(base_t, FIG3_K, FIG3_M, 1.0, 0.5, C0))[1:], "--",
                           label=f"|ODE - printed 1/4 ln(C0+4Gamma)|, C0={C0:g}")
    ax[2].axhline(1e-6, color="k", ls=":", lw=1, label="tolerance 1e-6")
    ax[2].set(xlabel="t", ylabel="abs error of B", title="ODE vs closed forms\nM=1000, K=10, eta_Y=1, eta_Z=0.5")
    ax[2].legend(fontsize=7)
    figure = ctx.save_figure(fig, "S8_reduced_ode_fig9.png")

    Lb = panels["left"][0]
    # spec [calib] reference values, used only to word the notes (never in the pass criterion)
    ref = [(pred["B(100) closed form [M=1000,K=10,eta_Y=1,eta_Z=.5,C0=1]"], 1.598181, 5e-7)]
    ref += [(r["Bend_c"], v, 5e-4) for r, v in zip(panels["left"], (0.620, 0.671, 0.713, 0.749, 0.783))]
    ref += [(Lb["Bt0"], 0.5543, 5e-5), (panels["right"][0]["Bt0"], 1.4025, 5e-5)]
    ref += [(panels["right"][0]["Bend_c"], 1.408, 5e-4), (panels["right"][-1]["Bend_c"], 1.533, 5e-4)]
    agree = all(abs(a - b) <= tol for a, b, tol in ref)
    notes = SELF + (
        "The ODE is integrated with diffrax Tsit5 + PIDController(rtol 1e-10, atol 1e-12) in float64, gamma from "
        "the Lemma-6 h solved by Newton inside JAX; the closed form is evaluated independently in NumPy. "
        "Spec [calib] reference values: B(100) = 1.598181; Fig 9 left B(5) = 0.620, 0.671, 0.713, 0.749, 0.783, "
        "B(t0) = 0.5543; right B(50) = 1.408 ... 1.533, B(t0) = 1.4025 - "
        f"{'all reproduced to the printed digits' if agree else 'NOT all reproduced to the printed digits'} "
        f"(B(100) = {pred['B(100) closed form [M=1000,K=10,eta_Y=1,eta_Z=.5,C0=1]']:.6f}). "
        f"t0 definition: the Fig-9 dots are reproduced by the exact-x0 form t0 = K(2(M-1)x0 - 1)/(M eta_Y) "
        f"(left / right B(t0) = {Lb['Bt0']:.4f} / {panels['right'][0]['Bt0']:.4f}); t0 = 2K ln M/eta_Y gives "
        f"{alt['left'][0]:.4f} / {alt['right'][0]:.4f} and the printed Theorem-4 formula for B(t0) (stage-2 h at t0) "
        f"gives {alt['left'][1]:.4f} / {alt['right'][1]:.4f}, so neither matches the figure. "
        "The paper's printed B = 1/4 ln(C0 + 4 Gamma) differs from the ODE by 1/4 |ln C0| when C0 != 1 "
        f"({paper_gap[0.05]:.4f} at C0=0.05), confirming the corrected form."
    )
    gate = all_of(
        at_most("max |B_ode - B_closed| (all settings)", max_err, 1e-6,
                why="spec S8; the integrator's own error at rtol 1e-10 is ~1e-9, so a wrong closed form (e.g. a "
                    "missing 1/4 ln C0, 0.75 at C0 = 0.05) cannot pass"),
        holds_that("B(t0) independent of eta_Z at fixed nu", ok_indep,
                   max(float(np.ptp([r["Bt0_ode"] for r in rows])) for rows in panels.values()),
                   "spread over eta_Z <= 1e-6 (ODE) and <= 1e-12 (closed form, an exact identity) in each Fig-9 panel "
                   "(measured: the largest ODE spread)"),
    )
    return Result(
        predicted=pred,
        measured=meas,
        **gate.result_fields(),
        setting=f"(a) K=10, M=1000, eta_Y=1, eta_Z=0.5, t in [0,700], C0 in {ctx.pick('{1, 0.05, 20}', '{1, 0.05}')}; "
        "(b) Fig 9: K=1, C0=1, left nu=10, M=100, (eta_Z, eta_Y) = (0.5,5)...(8,80), t<=5; right nu=1, M=1e4, "
        f"eta_Z=eta_Y in {{0.5..8}}, t<=50; {n} grid points plus t0.",
        notes=notes,
        figure=figure,
        assumptions=[
            meter("z(0) of the integrated reduced ODE (max |.| over every setting)", z0_max, "==", 0,
                  ref=f"{PAPER}, Theorem 4 (zero init)",
                  note="the ODE is the Sec. 6 heuristic (normalisers frozen at rho0, beta ~ f^T f'); S10-prop tests "
                  "that heuristic in the full model"),
            meter("integrator rtol / gate tolerance", 1e-10 / 1e-6, "<<", 1,
                  note="the ODE's own error must sit far below the 1e-6 gate (a property of this check)"),
        ],
        sources={"B closed form": "theory.B (Thm 4, Eqs 124-129 integrated exactly: 1/4 ln(1 + 4 Gamma/C0); "
                 "Gamma from theory.Gamma)", "B(t0)": "theory.B at theory.t0 (exact x0; Lemmas 8-9)",
                 "printed-form offset 1/4 |ln C0|": "theory.B_paper (Thm 4 as printed) minus theory.B",
                 "Fig 9 dots": "paper Fig 9 (read off the figure); theory.B_at_t0_paper_formula (Thm 4 as printed)"},
    )


# ----------------------------------------------------------------------------- S9


@check(
    paper="scan-snap",
    name="S9",
    claim="Learning-rate effects (Sec. 6 (a)-(c)): t0 ~ 1/eta_Y (larger eta_Y snaps earlier); at fixed eta_Z a "
    "larger eta_Y gives a smaller B after t0 (denser attention); at fixed nu, larger rates give a larger B",
    mode="T",
    home="the theory module: K = 10, M = 1000, eta_Z = 0.5, eta_Y in {0.5, 1, 2, 5}; fixed nu in {1, 10}",
)
def s9(ctx: Context) -> Result:
    n = ctx.pick(141, 36)
    K, M, eZ, T = FIG3_K, FIG3_M, FIG3_ETA_Z, FIG3_T
    etas = np.array(FIG3_ETA_Y)
    t = np.linspace(0.0, T, n)
    pred, meas = {}, {}

    # (a) t0 and t'0 are proportional to 1/eta_Y (no dependence on eta_Z)
    T0 = np.array([float(th.t0(K, M, e)) for e in etas])
    T0a = np.array([float(th.t0_asymptotic(K, M, e)) for e in etas])
    prod = T0 * etas
    ok_a = bool(np.all(np.diff(T0) < 0) and np.ptp(prod) <= 1e-12 * prod.mean())
    pred["t0 (exact x0)"] = _r(T0, 2)
    pred["t0 = 2K lnM/eta_Y"] = _r(T0a, 2)
    meas["t0 * eta_Y spread (relative)"] = float(np.ptp(prod) / prod.mean())

    # (c) fixed eta_Z: B(t) after t0 decreases with eta_Y (ODE)
    Bo, Bc = [], []
    for e in etas:
        z, b = th.reduced_ode(t, K, M, e, eZ, 1.0)
        Bo.append(b)
        Bc.append(th.B(t, K, M, e, eZ, 1.0))
    Bo, Bc = np.array(Bo), np.array(Bc)
    err = float(np.abs(Bo - Bc).max())
    after = t >= T0.max()
    ok_c = bool(np.all(np.diff(Bo[:, -1]) < 0) and np.all(np.diff(Bo[:, after], axis=0) < 0))
    min_sep = [float(-np.diff(Bo[:, after], axis=0).max())]
    pred["e^{2B(700)} closed form, eta_Y = .5, 1, 2, 5"] = _r(np.exp(2 * Bc[:, -1]), 2)
    meas["e^{2B(700)} reduced ODE"] = _r(np.exp(2 * Bo[:, -1]), 2)
    meas["B(t) decreasing in eta_Y for all t >= max t0"] = ok_c
    # where the ordering sets in (adjacent curves cross in stage 1: Gamma ~ eta_Y t^2 early, ~ ln^2 / eta_Y late)
    tf = np.linspace(1e-3, T, 4001)
    Bf = np.array([th.B(tf, K, M, e, eZ) for e in etas])
    ahead = Bf[:-1] - Bf[1:] > 0  # smaller eta_Y ahead
    icross = [int(np.argmax(a)) for a in ahead]
    cross = [float(tf[i]) for i in icross]
    persists = bool(all(a[i:].all() for a, i in zip(ahead, icross)))
    meas["crossing time of B(eta_Y) and B(next eta_Y)"] = _r(cross, 1)
    meas["ordering persists after each crossing (closed form, 4001 points)"] = persists

    # (b) fixed nu: B increases with the common scale of the rates
    ok_b = True
    late_over_t0 = np.inf
    scales = (0.25, 0.5, 1.0, 2.0)
    fixed_nu = {}
    for nu in (1.0, 10.0):
        t_late = max(10.0 * float(th.t0(K, M, nu * scales[0])), 2.0 * T)
        late_over_t0 = min(late_over_t0, round(t_late / float(th.t0(K, M, nu * scales[0])), 9))
        tb = np.array([0.0, T, t_late])
        vals = []
        for s in scales:
            _, b = th.reduced_ode(tb, K, M, nu * s, s, 1.0)
            vals.append(b[1:])
        vals = np.array(vals)
        ok_b &= bool(np.all(np.diff(vals, axis=0) > 0))
        min_sep.append(float(np.diff(vals, axis=0).min()))
        fixed_nu[nu] = vals
        meas[f"nu={nu:g}: B(700) ODE for eta_Z = {scales}"] = _r(vals[:, 0], 4)
        meas[f"nu={nu:g}: B(t={tb[-1]:.0f}) ODE (>= 10 t0 of the slowest)"] = _r(vals[:, -1], 4)
        pred[f"nu={nu:g}: B(700) closed form"] = _r([th.B(T, K, M, nu * s, s) for s in scales], 4)
    # and on the Fig 9 panels at their t_max (all beyond every t0)
    for name, K9, M9, C0, pairs, tmax in FIG9:
        b = [th.reduced_ode(np.array([0.0, tmax]), K9, M9, eY9, eZ9, C0)[1][-1] for eZ9, eY9 in pairs]
        ok_b &= bool(np.all(np.diff(b) > 0))
        min_sep.append(float(np.diff(b).min()))
        meas[f"Fig9 {name}: B(t={tmax:g}) ODE increasing in eta_Z"] = bool(np.all(np.diff(b) > 0))

    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, e in enumerate(etas):
        ax[0].plot(t, np.exp(2 * Bc[i]), color=f"C{i}", label=f"eta_Y={e:g} (t0={T0[i]:.0f})")
        ax[0].plot(t[:: max(1, n // 20)], np.exp(2 * Bo[i][:: max(1, n // 20)]), "x", color=f"C{i}", ms=4)
        ax[0].axvline(T0[i], color=f"C{i}", ls=":", lw=1)
    ax[0].set(xlabel="t", ylabel="chi = e^{2B}", title="Fig 3 analogue: K=10, M=1000, eta_Z=0.5, C0=1 (x: ODE)")
    ax[0].legend(fontsize=8)
    for nu, ls in ((1.0, "-"), (10.0, "--")):
        ax[1].plot(scales, fixed_nu[nu][:, 0], ls, marker="o", label=f"nu={nu:g}, t=700")
    ax[1].set(xscale="log", xlabel="eta_Z (eta_Y = nu eta_Z)", ylabel="B(700) (ODE)",
              title="Fixed nu: B grows with the rates")
    ax[1].set_xticks(scales, [f"{v:g}" for v in scales])
    ax[1].minorticks_off()
    ax[1].legend(fontsize=8)
    figure = ctx.save_figure(fig, "S9_lr_effects.png")

    notes = SELF + (
        f"t0 (exact x0) = {', '.join(f'{v:.0f}' for v in T0)} and 2K ln M/eta_Y = "
        f"{', '.join(f'{v:.0f}' for v in T0a)} (spec Fig 3: 364, 182, 91, 36 and 276, 138, 69, 28). "
        f"e^{{2B(700)}} = {', '.join(f'{v:.1f}' for v in np.exp(2 * Bo[:, -1]))} (spec [calib] 45.2, 34.7, 26.3, 18.0 "
        "at C0 = 1; the paper's Fig-3 axis reaching ~600 is not reproduced by e^{2B} with C0 = 1). "
        "The eta_Y ordering of B is reversed early on (in stage 1 Gamma ~ eta_Y eta_Z t^2, so a larger eta_Y is "
        f"ahead first); adjacent curves cross once, at t = {', '.join(f'{c:.0f}' for c in cross)}, before either "
        f"curve's t0, and the ordering then persists ({persists}): effect (c) holds for every t >= t0."
    )
    gate = all_of(
        at_most("ODE error vs closed form", err, 1e-6, why="the orderings below rest on the ODE values"),
        holds_that("effects (a), (b), (c): strict orderings", ok_a and ok_b and ok_c, min(min_sep),
                   "strict inequalities on the reduced-ODE values, t0 * eta_Y constant to 1e-12 relative (exact "
                   "scaling); measured: the smallest separation between adjacent curves, to compare with the ODE "
                   "error (so the orderings are not integration noise)"),
    )
    return Result(
        predicted=pred,
        measured=meas,
        **gate.result_fields(),
        setting=f"K=10, M=1000, eta_Z=0.5, eta_Y in {{0.5,1,2,5}}, C0=1, t in [0,700] ({n} points); fixed nu in "
        "{1, 10} with eta_Z in {0.25, 0.5, 1, 2}; Fig-9 panels at t = 5 / 50.",
        notes=notes,
        figure=figure,
        assumptions=[
            meter("horizon / largest t0 (effect (c) is read after t0)", T / float(T0.max()), ">", 1,
                  ref=f"{PAPER}, Sec. 6 (c): 'a smaller eta_Y gives a larger B after t0'"),
            meter("late time / t0 of the slowest rate pair (effect (b), 't -> inf')", late_over_t0, ">=", 10,
                  ref=f"{PAPER}, Sec. 6 (b): larger rates at fixed nu give a larger B as t -> inf"),
        ],
        sources={"t0 (exact x0)": "theory.t0 (Lemmas 8-9 / Thm 4)", "t0 = 2K lnM/eta_Y": "theory.t0_asymptotic "
                 "(Thm 4, leading order)", "e^{2B(700)}, B(700)": "theory.B (Thm 4, corrected closed form; "
                 "the orderings are gated on theory.reduced_ode)"},
    )
