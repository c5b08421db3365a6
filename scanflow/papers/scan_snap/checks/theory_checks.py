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
from scanflow.papers.scan_snap.plots_theory import h_gap_figure, lr_effects_figure, reduced_ode_figure
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


def _r(x, d=6):
    return [round(float(v), d) for v in np.ravel(x)]


# ----------------------------------------------------------------------------- S2


GATE_M, INFO_M = (1000, 1e4), (50, 100)  # S2: the stage bands are gated at large M, reported at small M


def decoder_gap_and_gamma_stages(n: int, decades: float, ext: int = 100) -> dict:
    """Everything S2 measures. (1) The Lemma-7 gap h*(s) - h(s) (theory.h_star: the exact recursion, Lemma 5;
    theory.h_closed: Lemma 6) on each Fig-8 setting, to `ext` times its horizon. (2) gamma's stage ratios (Lemma 9)
    at K = 10, eta_Y = 1: gamma / (eta_Y t / K) for t <= 0.3 t'0 and theory.gamma_stage2_ratio from 3 t0 to
    10^decades t0, for every M in GATE_M + INFO_M (the ratios depend on M and eta_Y t / K only)."""
    m = {"gaps": [], "curves": {}, "ok_h": True, "ok_g": True, "stage2_at": {}, "stage1": {}, "mono": {}}
    for M, etas, S in FIG8:
        for eta in etas:
            hs = th.h_star(ext * S, M, eta)
            gap = hs - th.h_closed(np.arange(ext * S + 1), M, eta)
            k, bound = int(np.argmax(gap)), 2.0 * eta / M
            nonneg, below = gap.min() >= -1e-15 * max(hs.max(), 1.0), gap.max() <= bound
            shrinking = bool(np.all(np.diff(gap[k:]) <= 1e-15) and k < S and gap[-1] < gap[S])
            m["ok_h"] &= bool(nonneg and below and shrinking)
            m["gaps"].append((M, eta, S, ext * S, gap, bound, k))
    K, eta = 10, 1.0
    for M in GATE_M + INFO_M:
        tp, T0 = th.t0_prime(K, M, eta), th.t0(K, M, eta)
        t1 = np.linspace(0.3 * tp / n, 0.3 * tp, n)
        r1 = th.gamma(t1, K, M, eta) / (eta * t1 / K)
        mult = np.logspace(np.log10(3.0), decades, n)
        r2 = th.gamma_stage2_ratio(mult * T0, K, M, eta)
        m["curves"][M] = (t1 / tp, r1, mult, r2)
        m["stage2_at"][M] = th.gamma_stage2_ratio(np.array([3.0, 10.0, 100.0, 1e3, 1e4]) * T0, K, M, eta)
        m["mono"][M] = bool(np.all(np.diff(r2) <= 1e-12))
        if M in GATE_M:
            m["ok_g"] &= bool(r1.min() >= 0.94 and r1.max() <= 1.0) and m["mono"][M] and bool(
                np.all(np.abs(r2[mult >= 100.0] - 1.0) <= 0.02))
    m["worst_gap"] = max(float(gap.max() / bound) for _, _, _, _, gap, bound, _ in m["gaps"])
    m["r3_r10"] = th.gamma_stage2_ratio(np.array([3.0, 10.0]) * th.t0(K, 1000, eta), K, 1000, eta)
    m["h0"] = max(max(abs(float(th.h_star(1, M, e)[0])), abs(float(th.h_closed(np.zeros(1), M, e)[0])))
                  for M, etas, _ in FIG8 for e in etas)
    return m


def _s2_notes(m: dict) -> str:
    """The spec's reference values (wording only) and the finding about the stage ratios' limit."""
    r3, r10 = m["r3_r10"]
    c = m["curves"]
    return SELF + (
        f"Lemma 7 holds in all 10 Fig-8 settings; e.g. M=50, eta=2: max gap {m['gaps'][4][4].max():.3e} <= 0.08 "
        "(spec: 8.5e-3). The gap is unimodal: it peaks early (s = 2..61) and then decreases strictly, towards 0 "
        "(checked to 100x the Fig-8 horizon; the peak lies inside the Fig-8 horizon in every setting). "
        f"Stage ratios at M=1000 (K=10): 3t0 -> {r3:.4f}, 10t0 -> {r10:.4f} (spec [calib] 1.19, 1.06). "
        "Finding: both stage ratios tend to ((M-1)/M)^2, not 1 (t->0: h ~ eta s/M; t->inf: e^{Mh} ~ M eta s). "
        f"So the spec's bands need large M: at M=50 the stage-1 ratio falls to {c[50][1].min():.3f} < 0.94 and "
        f"the stage-2 ratio tends to {th.gamma_ratio_limit(50):.3f} (outside 1 +- 0.02); at M=100 to "
        f"{c[100][1].min():.4f} and {th.gamma_ratio_limit(100):.4f}. "
        "Those two M are reported but not gated; the gated settings are M = 1000 (the Fig-3 setting) and 1e4.")


S2_SOURCES = {"gap_bound_2eta/M": "Lemma 7: 0 <= h* - h <= 2 eta/M (paper text); h* from theory.h_star (Lemma 5), "
              "h from theory.h_closed (Lemma 6)",
              "gamma ratio limit ((M-1)/M)^2": "theory.gamma_ratio_limit (derived from Lemma 6)",
              "stage bands [0.94, 1] and 1 +- 0.02": "Lemma 9 stage forms gamma ~ eta_Y t/K, "
              "gamma ~ K ln(M eta_Y t/K)/(eta_Y t) (paper text); theory.gamma, theory.gamma_stage2_ratio"}


@check(
    paper="scan-snap",
    name="S2",
    claim="Discrete vs continuous decoder coefficient: 0 <= h*(s) - h(s) <= 2 eta/M with the gap shrinking "
    "(Lemmas 5-7); gamma ~ eta_Y t/K in stage 1 and gamma ~ K ln(M eta_Y t/K)/(eta_Y t) in stage 2 (Lemma 9)",
    mode="T",
    home="the theory module: Fig-8 settings (M = 50, 1000) and K = 10, eta_Y = 1, M in {1000, 1e4}",
)
def s2(ctx: Context) -> Result:
    # measurement: the exact recursion against the closed form (prediction), and gamma's two stage ratios
    m = decoder_gap_and_gamma_stages(n=ctx.pick(400, 80), decades=ctx.pick(6.0, 4.0))
    # assumptions: both start from Y(0) = 0; the stage forms need M >> 1 (their exact limit is ((M-1)/M)^2)
    assumptions = [
        meter("h*(0), h(0): the recursion and the closed form start from Y(0) = 0 (max |.| over Fig-8 settings)",
              m["h0"], "==", 0, ref=f"{PAPER}, Lemmas 5-7 (Y(0) = 0)",
              note="one class, f frozen: the recursion and the closed form are the lemmas' own"),
        meter("Lemma 9 stage ratios' exact limit: 1 - ((M-1)/M)^2 at the smallest gated M",
              1.0 - float(th.gamma_ratio_limit(min(GATE_M))), "<", 0.02,
              ref=f"{PAPER}, Lemma 9 (the stage approximations assume M >> 1)",
              note="inside the +-0.02 band of the stage-2 gate (theory.gamma_ratio_limit)"),
        meter("Thm 1: M (smallest gated)", min(GATE_M), ">>", 100, ref=f"{PAPER}, Theorem 1 (M >> 100)")]
    # verdict: Lemma 7's bound and shrinking gap everywhere; the stage bands at large M
    gate = all_of(
        holds_that("Lemma 7 gap, 10 Fig-8 settings", m["ok_h"], m["worst_gap"],
                   "0 <= h*-h (to -1e-15 relative rounding) and <= 2 eta/M exactly; non-increasing after its peak and "
                   "gap(100 x horizon) < gap(horizon) (measured: the largest gap / bound)"),
        holds_that("gamma stages, M = 1000 and 1e4", m["ok_g"], min(float(m["curves"][M][1].min()) for M in GATE_M),
                   "stage-1 ratio in [0.94, 1] for t <= 0.3 t'0; stage-2 ratio decreasing from 3 t0 and within 1 +- 0.02 "
                   "for t >= 100 t0 (spec S2 bands; the exact limit ((M-1)/M)^2 is 0.998 / 0.9998 here; measured: the "
                   "smallest stage-1 ratio)"))
    pred, meas = {}, {}
    for M, eta, S, s_ext, gap, bound, k in m["gaps"]:
        pred[f"gap_bound_2eta/M[M={M},eta={eta:g}]"] = bound
        meas[f"max_gap[M={M},eta={eta:g}]"] = float(gap.max())
        meas[f"gap(s={S})/gap(s={s_ext})[M={M},eta={eta:g}]"] = f"{gap[S]:.3e} / {gap[-1]:.3e} (peak s={k})"
    for M, (_, r1, _, _) in m["curves"].items():
        tag = "" if M in GATE_M else " (info, not gated)"
        pred[f"gamma ratio limit ((M-1)/M)^2 [M={M:g}]"] = float(th.gamma_ratio_limit(M))
        meas[f"stage1 gamma/(eta t/K) range, t<=0.3t'0 [M={M:g}]{tag}"] = f"[{r1.min():.4f}, {r1.max():.4f}]"
        meas[f"stage2 ratio at 3,10,100,1e3,1e4 t0 [M={M:g}]{tag}"] = _r(m["stage2_at"][M], 4)
        meas[f"stage2 monotone decreasing [M={M:g}]{tag}"] = m["mono"][M]
    return Result(
        predicted=pred, measured=meas, **gate.result_fields(), assumptions=assumptions, sources=S2_SOURCES,
        setting="Fig 8: M=50, eta in {0.1,0.2,0.5,1,2}, s<=80; M=1000, eta in {0.2,0.5,1,2,4}, s<=70 (extended "
        f"100x). gamma: K=10, eta_Y=1, M in {{1000, 1e4}} gated, {{50, 100}} reported; {m['curves'][1000][0].size} "
        "points per curve.",
        notes=_s2_notes(m), figure=ctx.save_figure(h_gap_figure(m, FIG8), "S2_h_gap_gamma_stages.png"))


# ----------------------------------------------------------------------------- S8


def _ode_vs_closed(t, K, M, eY, eZ, C0):
    z, Bo = th.reduced_ode(t, K, M, eY, eZ, C0)
    Bc = th.B(t, K, M, eY, eZ, C0)
    return z, Bo, Bc, max(np.abs(Bo - Bc).max(), np.abs(z + Bc).max())


def reduced_ode_vs_closed_form(n: int, C0s) -> dict:
    """Everything S8 measures: the reduced ODE (theory.reduced_ode: diffrax Tsit5, rtol 1e-10, float64) against
    the closed form (theory.B, NumPy) on (a) the Fig-3 base setting at each C0 (on a grid holding t = 100) and
    (b) the Fig-9 panels (each rate pair on a grid holding its t0), plus the printed form's gap at C0 = 0.05 and
    the two other readings of t0 (the figure's dots decide which one the paper drew)."""
    K, M, eY, eZ = FIG3_K, FIG3_M, 1.0, 0.5
    t = np.union1d(np.linspace(0.0, FIG3_T, n), [100.0])
    i100 = int(np.searchsorted(t, 100.0))
    m = {"n": n, "C0s": tuple(C0s), "errs": {}, "z0": [], "paper_gap": {}, "panels": {}, "alt": {}, "curves": []}
    for C0 in C0s:
        z, Bo, Bc, m["errs"][f"base C0={C0:g}"] = _ode_vs_closed(t, K, M, eY, eZ, C0)
        m["z0"].append(abs(float(z[0])))
        m["paper_gap"][C0] = float(np.abs(Bo - th.B_paper(t, K, M, eY, eZ, C0))[1:].max())
        if C0 == 1.0:
            m["B100"] = {"closed": float(Bc[i100]), "ode": float(Bo[i100]), "-z": float(-z[i100])}
    for name, K9, M9, C0, pairs, tmax in FIG9:
        rows = []
        for eZ9, eY9 in pairs:
            T0 = float(th.t0(K9, M9, eY9))
            tg = np.union1d(np.linspace(0.0, tmax, n), [T0])
            z, Bo, Bc, m["errs"][f"fig9 {name} eta_Z={eZ9:g}"] = _ode_vs_closed(tg, K9, M9, eY9, eZ9, C0)
            m["z0"].append(abs(float(z[0])))
            j = int(np.searchsorted(tg, T0))
            rows.append(dict(eZ=eZ9, eY=eY9, t=tg, Bo=Bo, Bc=Bc, T0=T0, Bt0_ode=Bo[j], Bt0=Bc[j], Bend=Bo[-1],
                             Bend_c=Bc[-1]))
        m["panels"][name] = dict(K=K9, M=M9, C0=C0, tmax=tmax, nu=pairs[0][1] / pairs[0][0], rows=rows)
        eZ0, eY0 = pairs[0]
        m["alt"][name] = (float(th.B(th.t0_asymptotic(K9, M9, eY0), K9, M9, eY0, eZ0, C0)),
                          float(th.B_at_t0_paper_formula(K9, M9, eY0 / eZ0, C0)))
    # the error curves of the figure's third panel (on the plain grid, as drawn)
    base_t = np.linspace(0.0, FIG3_T, n)
    for C0 in (1.0, 0.05):
        z, Bo, Bc, _ = _ode_vs_closed(base_t, K, M, eY, eZ, C0)
        m["curves"].append(dict(C0=C0, t=base_t, err=np.abs(Bo - Bc),
                                printed=np.abs(Bo - th.B_paper(base_t, K, M, eY, eZ, C0)) if C0 != 1.0 else None))
    m["max_err"], m["z0_max"] = max(m["errs"].values()), max(m["z0"])
    m["spread_ode"] = {k: float(np.ptp([r["Bt0_ode"] for r in p["rows"]])) for k, p in m["panels"].items()}
    m["spread_closed"] = {k: float(np.ptp([r["Bt0"] for r in p["rows"]])) for k, p in m["panels"].items()}
    return m


def _s8_notes(m: dict) -> str:
    """The spec's [calib] values (wording only, never the pass bit) and which reading of t0 the figure used."""
    left, right = m["panels"]["left"]["rows"], m["panels"]["right"]["rows"]
    ref = [(m["B100"]["closed"], 1.598181, 5e-7)]
    ref += [(r["Bend_c"], v, 5e-4) for r, v in zip(left, (0.620, 0.671, 0.713, 0.749, 0.783))]
    ref += [(left[0]["Bt0"], 0.5543, 5e-5), (right[0]["Bt0"], 1.4025, 5e-5)]
    ref += [(right[0]["Bend_c"], 1.408, 5e-4), (right[-1]["Bend_c"], 1.533, 5e-4)]
    agree = all(abs(a - b) <= tol for a, b, tol in ref)
    alt = m["alt"]
    return SELF + (
        "The ODE is integrated with diffrax Tsit5 + PIDController(rtol 1e-10, atol 1e-12) in float64, gamma from "
        "the Lemma-6 h solved by Newton inside JAX; the closed form is evaluated independently in NumPy. "
        "Spec [calib] reference values: B(100) = 1.598181; Fig 9 left B(5) = 0.620, 0.671, 0.713, 0.749, 0.783, "
        "B(t0) = 0.5543; right B(50) = 1.408 ... 1.533, B(t0) = 1.4025 - "
        f"{'all reproduced to the printed digits' if agree else 'NOT all reproduced to the printed digits'} "
        f"(B(100) = {m['B100']['closed']:.6f}). "
        f"t0 definition: the Fig-9 dots are reproduced by the exact-x0 form t0 = K(2(M-1)x0 - 1)/(M eta_Y) "
        f"(left / right B(t0) = {left[0]['Bt0']:.4f} / {right[0]['Bt0']:.4f}); t0 = 2K ln M/eta_Y gives "
        f"{alt['left'][0]:.4f} / {alt['right'][0]:.4f} and the printed Theorem-4 formula for B(t0) (stage-2 h at t0) "
        f"gives {alt['left'][1]:.4f} / {alt['right'][1]:.4f}, so neither matches the figure. "
        "The paper's printed B = 1/4 ln(C0 + 4 Gamma) differs from the ODE by 1/4 |ln C0| when C0 != 1 "
        f"({m['paper_gap'][0.05]:.4f} at C0=0.05), confirming the corrected form.")


S8_SOURCES = {"B closed form": "theory.B (Thm 4, Eqs 124-129 integrated exactly: 1/4 ln(1 + 4 Gamma/C0); "
              "Gamma from theory.Gamma)", "B(t0)": "theory.B at theory.t0 (exact x0; Lemmas 8-9)",
              "printed-form offset 1/4 |ln C0|": "theory.B_paper (Thm 4 as printed) minus theory.B",
              "Fig 9 dots": "paper Fig 9 (read off the figure); theory.B_at_t0_paper_formula (Thm 4 as printed)"}


@check(
    paper="scan-snap",
    name="S8",
    claim="Reduced attention ODE z' = -C0^-1 eta_Z gamma e^{4z} integrates to B = -z = 1/4 ln(1 + 4 Gamma/C0), "
    "Gamma = eta_Z K (M-1)^2 h(t/K)^2/(2 eta_Y); B(t0) depends on K, M, nu only (Theorem 4, Eqs 124-131, Fig 9)",
    mode="T",
    home="the theory module: K = 10, M = 1000, eta_Y = 1, eta_Z = 0.5, C0 in {1, 0.05, 20}; the Fig-9 panels",
)
def s8(ctx: Context) -> Result:
    # measurement: the ODE integrated on every setting, beside the closed form (prediction) on the same grid
    m = reduced_ode_vs_closed_form(n=ctx.pick(201, 41), C0s=ctx.pick((1.0, 0.05, 20.0), (1.0, 0.05)))
    # assumptions: Theorem 4 starts from z(0) = 0; the integrator's own error sits far below the gate
    assumptions = [
        meter("z(0) of the integrated reduced ODE (max |.| over every setting)", m["z0_max"], "==", 0,
              ref=f"{PAPER}, Theorem 4 (zero init)", note="the ODE is the Sec. 6 heuristic (normalisers frozen at "
              "rho0, beta ~ f^T f'); S10-prop tests that heuristic in the full model"),
        meter("integrator rtol / gate tolerance", 1e-10 / 1e-6, "<<", 1,
              note="the ODE's own error must sit far below the 1e-6 gate (a property of this check)")]
    # verdict: the closed form is the ODE's integral everywhere, and B(t0) does not depend on eta_Z at fixed nu
    gate = all_of(
        at_most("max |B_ode - B_closed| (all settings)", m["max_err"], 1e-6,
                why="spec S8; the integrator's own error at rtol 1e-10 is ~1e-9, so a wrong closed form (e.g. a "
                    "missing 1/4 ln C0, 0.75 at C0 = 0.05) cannot pass"),
        holds_that("B(t0) independent of eta_Z at fixed nu",
                   all(m["spread_ode"][k] <= 1e-6 and m["spread_closed"][k] <= 1e-12 for k in m["panels"]),
                   max(m["spread_ode"].values()),
                   "spread over eta_Z <= 1e-6 (ODE) and <= 1e-12 (closed form, an exact identity) in each Fig-9 panel "
                   "(measured: the largest ODE spread)"))
    pred = {"B(100) closed form [M=1000,K=10,eta_Y=1,eta_Z=.5,C0=1]": m["B100"]["closed"],
            "1/4 |ln C0| at C0=0.05 (printed-form offset)": 0.25 * abs(np.log(0.05))}
    meas = {"B(100) reduced ODE": m["B100"]["ode"], "-z(100) reduced ODE": m["B100"]["-z"],
            "max |B_ode - B_closed|, |z_ode + B_closed| (all settings)": m["max_err"],
            "max |B_ode - B_paper| at C0=0.05 (printed form, t>0)": m["paper_gap"][0.05]}
    for name, p in m["panels"].items():
        rows, tmax = p["rows"], p["tmax"]
        pred[f"Fig9 {name}: B(t_max={tmax:g}) closed form"] = _r([r["Bend_c"] for r in rows], 4)
        pred[f"Fig9 {name}: B(t0) closed form, t0 exact x0 (nu={p['nu']:g})"] = float(rows[0]["Bt0"])
        meas[f"Fig9 {name}: B(t_max={tmax:g}) ODE"] = _r([r["Bend"] for r in rows], 4)
        bt0_ode = np.array([r["Bt0_ode"] for r in rows])
        meas[f"Fig9 {name}: B(t0) ODE, spread over eta_Z"] = f"{bt0_ode.mean():.6f} (spread {np.ptp(bt0_ode):.1e})"
        meas[f"Fig9 {name}: B at t0=2K lnM/eta_Y | printed Thm-4 B(t0)"] = "{:.4f} | {:.4f}".format(*m["alt"][name])
    return Result(
        predicted=pred, measured=meas, **gate.result_fields(), assumptions=assumptions, sources=S8_SOURCES,
        setting=f"(a) K=10, M=1000, eta_Y=1, eta_Z=0.5, t in [0,700], C0 in {ctx.pick('{1, 0.05, 20}', '{1, 0.05}')}; "
        "(b) Fig 9: K=1, C0=1, left nu=10, M=100, (eta_Z, eta_Y) = (0.5,5)...(8,80), t<=5; right nu=1, M=1e4, "
        f"eta_Z=eta_Y in {{0.5..8}}, t<=50; {m['n']} grid points plus t0.",
        notes=_s8_notes(m), figure=ctx.save_figure(reduced_ode_figure(m), "S8_reduced_ode_fig9.png"))


# ----------------------------------------------------------------------------- S9


def learning_rate_effects(n: int) -> dict:
    """Everything S9 measures, on the reduced ODE (theory.reduced_ode) and the closed form (theory.B): (a) t0 and
    t'0 against eta_Y; (c) B(t) at fixed eta_Z for each eta_Y, and where adjacent curves cross (closed form, 4001
    points); (b) B at fixed nu against the rates' common scale, late (>= 10 t0 of the slowest pair), and on the
    Fig-9 panels at their t_max. `min_sep` holds the smallest separation of adjacent curves in each ordering."""
    K, M, eZ, T = FIG3_K, FIG3_M, FIG3_ETA_Z, FIG3_T
    etas, t = np.array(FIG3_ETA_Y), np.linspace(0.0, T, n)
    m = {"n": n, "etas": etas, "t": t, "scales": (0.25, 0.5, 1.0, 2.0), "fixed_nu": {}, "t_late": {}, "fig9": {}}
    m["T0"] = np.array([float(th.t0(K, M, e)) for e in etas])
    m["T0a"] = np.array([float(th.t0_asymptotic(K, M, e)) for e in etas])
    prod = m["T0"] * etas
    m["ok_a"] = bool(np.all(np.diff(m["T0"]) < 0) and np.ptp(prod) <= 1e-12 * prod.mean())
    m["t0_spread"] = float(np.ptp(prod) / prod.mean())
    m["Bo"] = np.array([th.reduced_ode(t, K, M, e, eZ, 1.0)[1] for e in etas])
    m["Bc"] = np.array([th.B(t, K, M, e, eZ, 1.0) for e in etas])
    m["err"] = float(np.abs(m["Bo"] - m["Bc"]).max())
    after = t >= m["T0"].max()
    m["ok_c"] = bool(np.all(np.diff(m["Bo"][:, -1]) < 0) and np.all(np.diff(m["Bo"][:, after], axis=0) < 0))
    m["min_sep"] = [float(-np.diff(m["Bo"][:, after], axis=0).max())]
    # where the ordering sets in (adjacent curves cross in stage 1: Gamma ~ eta_Y t^2 early, ~ ln^2 / eta_Y late)
    tf = np.linspace(1e-3, T, 4001)
    ahead = [a > 0 for a in -np.diff(np.array([th.B(tf, K, M, e, eZ) for e in etas]), axis=0)]  # smaller eta_Y ahead
    icross = [int(np.argmax(a)) for a in ahead]
    m["cross"] = [float(tf[i]) for i in icross]
    m["persists"] = bool(all(a[i:].all() for a, i in zip(ahead, icross)))
    m["ok_b"], m["late_over_t0"] = True, np.inf
    for nu in (1.0, 10.0):
        t0_slow = float(th.t0(K, M, nu * m["scales"][0]))
        t_late = m["t_late"][nu] = max(10.0 * t0_slow, 2.0 * T)
        m["late_over_t0"] = min(m["late_over_t0"], round(t_late / t0_slow, 9))
        vals = np.array([th.reduced_ode(np.array([0.0, T, t_late]), K, M, nu * s, s, 1.0)[1][1:] for s in m["scales"]])
        m["ok_b"] &= bool(np.all(np.diff(vals, axis=0) > 0))
        m["min_sep"].append(float(np.diff(vals, axis=0).min()))
        m["fixed_nu"][nu] = vals
        m[f"closed_nu{nu:g}"] = [th.B(T, K, M, nu * s, s) for s in m["scales"]]
    for name, K9, M9, C0, pairs, tmax in FIG9:
        b = [th.reduced_ode(np.array([0.0, tmax]), K9, M9, eY9, eZ9, C0)[1][-1] for eZ9, eY9 in pairs]
        m["ok_b"] &= bool(np.all(np.diff(b) > 0))
        m["min_sep"].append(float(np.diff(b).min()))
        m["fig9"][name] = (tmax, bool(np.all(np.diff(b) > 0)))
    return m


def _s9_notes(m: dict) -> str:
    """The spec's Fig-3 reference values (wording only) and where the eta_Y ordering sets in."""
    return SELF + (
        f"t0 (exact x0) = {', '.join(f'{v:.0f}' for v in m['T0'])} and 2K ln M/eta_Y = "
        f"{', '.join(f'{v:.0f}' for v in m['T0a'])} (spec Fig 3: 364, 182, 91, 36 and 276, 138, 69, 28). "
        f"e^{{2B(700)}} = {', '.join(f'{v:.1f}' for v in np.exp(2 * m['Bo'][:, -1]))} (spec [calib] 45.2, 34.7, "
        "26.3, 18.0 at C0 = 1; the paper's Fig-3 axis reaching ~600 is not reproduced by e^{2B} with C0 = 1). "
        "The eta_Y ordering of B is reversed early on (in stage 1 Gamma ~ eta_Y eta_Z t^2, so a larger eta_Y is "
        f"ahead first); adjacent curves cross once, at t = {', '.join(f'{c:.0f}' for c in m['cross'])}, before "
        f"either curve's t0, and the ordering then persists ({m['persists']}): effect (c) holds for every t >= t0.")


S9_SOURCES = {"t0 (exact x0)": "theory.t0 (Lemmas 8-9 / Thm 4)", "t0 = 2K lnM/eta_Y": "theory.t0_asymptotic "
              "(Thm 4, leading order)", "e^{2B(700)}, B(700)": "theory.B (Thm 4, corrected closed form; "
              "the orderings are gated on theory.reduced_ode)"}


@check(
    paper="scan-snap",
    name="S9",
    claim="Learning-rate effects (Sec. 6 (a)-(c)): t0 ~ 1/eta_Y (larger eta_Y snaps earlier); at fixed eta_Z a "
    "larger eta_Y gives a smaller B after t0 (denser attention); at fixed nu, larger rates give a larger B",
    mode="T",
    home="the theory module: K = 10, M = 1000, eta_Z = 0.5, eta_Y in {0.5, 1, 2, 5}; fixed nu in {1, 10}",
)
def s9(ctx: Context) -> Result:
    # measurement: t0, B(t) from the reduced ODE and the closed form, at every rate of Sec. 6 (a)-(c)
    m = learning_rate_effects(n=ctx.pick(141, 36))
    # assumptions: (c) is read after t0, (b) late ("t -> inf")
    assumptions = [
        meter("horizon / largest t0 (effect (c) is read after t0)", FIG3_T / float(m["T0"].max()), ">", 1,
              ref=f"{PAPER}, Sec. 6 (c): 'a smaller eta_Y gives a larger B after t0'"),
        meter("late time / t0 of the slowest rate pair (effect (b), 't -> inf')", m["late_over_t0"], ">=", 10,
              ref=f"{PAPER}, Sec. 6 (b): larger rates at fixed nu give a larger B as t -> inf")]
    # verdict: the ODE is accurate, and every ordering is strict (separations far above the ODE's error)
    gate = all_of(
        at_most("ODE error vs closed form", m["err"], 1e-6, why="the orderings below rest on the ODE values"),
        holds_that("effects (a), (b), (c): strict orderings", m["ok_a"] and m["ok_b"] and m["ok_c"], min(m["min_sep"]),
                   "strict inequalities on the reduced-ODE values, t0 * eta_Y constant to 1e-12 relative (exact "
                   "scaling); measured: the smallest separation between adjacent curves, to compare with the ODE "
                   "error (so the orderings are not integration noise)"))
    pred = {"t0 (exact x0)": _r(m["T0"], 2), "t0 = 2K lnM/eta_Y": _r(m["T0a"], 2),
            "e^{2B(700)} closed form, eta_Y = .5, 1, 2, 5": _r(np.exp(2 * m["Bc"][:, -1]), 2)}
    meas = {"t0 * eta_Y spread (relative)": m["t0_spread"], "e^{2B(700)} reduced ODE": _r(np.exp(2 * m["Bo"][:, -1]), 2),
            "B(t) decreasing in eta_Y for all t >= max t0": m["ok_c"],
            "crossing time of B(eta_Y) and B(next eta_Y)": _r(m["cross"], 1),
            "ordering persists after each crossing (closed form, 4001 points)": m["persists"]}
    for nu, vals in m["fixed_nu"].items():
        meas[f"nu={nu:g}: B(700) ODE for eta_Z = {m['scales']}"] = _r(vals[:, 0], 4)
        meas[f"nu={nu:g}: B(t={m['t_late'][nu]:.0f}) ODE (>= 10 t0 of the slowest)"] = _r(vals[:, -1], 4)
        pred[f"nu={nu:g}: B(700) closed form"] = _r(m[f"closed_nu{nu:g}"], 4)
    for name, (tmax, ok) in m["fig9"].items():
        meas[f"Fig9 {name}: B(t={tmax:g}) ODE increasing in eta_Z"] = ok
    return Result(
        predicted=pred, measured=meas, **gate.result_fields(), assumptions=assumptions, sources=S9_SOURCES,
        setting=f"K=10, M=1000, eta_Z=0.5, eta_Y in {{0.5,1,2,5}}, C0=1, t in [0,700] ({m['n']} points); fixed nu in "
        "{1, 10} with eta_Z in {0.25, 0.5, 1, 2}; Fig-9 panels at t = 5 / 50.",
        notes=_s9_notes(m), figure=ctx.save_figure(lr_effects_figure(m), "S9_lr_effects.png"))
