"""Co-occurrence checks 4-15 (spec §7) on the TR m-sweep (one vmapped engine program per m over seeds;
full: gradient flow, Tsit5 rtol 1e-6, m = 64..512, 5 seeds, tau <= 60; quick: GD with lr tau' = 0.02,
m = 64, 128, 2 seeds, tau <= 24) and on the paper's own Figure-1 setting FIG (checks 8-FIG, 13-FIG, 15-FIG).

Orders of magnitude (Theta, O~) are checked as scalings across m (log-log slopes over every (m, seed)
point with their standard errors), never as absolute numbers. Predictions come from
`scanflow.papers.cooccurrence.theory`; phase boundaries from `scanflow.papers.cooccurrence.measure`.
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.cooccurrence.checks import assumptions as A
from scanflow.papers.cooccurrence.checks.common import (
    T1_record_S,
    T1_tau_S,
    fig_run,
    init_output_max,
    long_path,
    long_plan,
    loglog_slope,
    phase2_path,
    phase2_path_plan,
    plt,
    tr_plan,
    tr_runs,
)
from scanflow.papers.cooccurrence import measure as ms_
from scanflow.papers.cooccurrence import plots as figs
from scanflow.papers.cooccurrence import theory as th
from scanflow.verify import Context, Result, all_of, at_least, at_most, check, trend, within_se

DELTA = 0.01  # failure probability used in the high-probability bounds of App. D


def _setting(ctx: Context) -> str:
    p = tr_plan(ctx)
    how = "gradient flow (diffrax Tsit5, rtol 1e-6)" if p["method"] == "flow" else "full-batch GD, lr*sigma1^2 m m1 = 0.02"
    return (f"TR: n=60 (30/10/10/10), L=5, distinct random words (d=3+(n+n_test)(L-7/3)), m1=16, sigma1=1/sqrt(m1), "
            f"sigma0=0.02/sqrt(L m), a=+-1 fixed, fp64, {how}, m in {list(p['ms'])}, tau <= {p['tau_end']:g}")


def _a(out, name):
    return out.arrays[name][0]  # point 0: (seed, record, ...)


def _info(out):
    i = out.info
    return i["m"], i["m1"], i["sigma0"], i["sigma1"], i["n"], i["L"]


def _phase2(out):
    """Per seed: slice of records from the first record with every sample correct to the end (the gated window of
    checks 9-13 and 15: it starts before the Phase-2 box of Def. F.1, a stricter reading; see `_window_meter`)."""
    return [slice(int(k), None) if k >= 0 else slice(0, 0) for k in T1_record_S(out)]


def _box(out, C: float = th.PHASE2_MARGIN_C):
    """Per seed: slice of records from the first record inside the Phase-2 box (every y_i F_i > C, Def. F.1) to the end."""
    mg = _a(out, "margins")
    ks = [ms_.phase2_index(mg[s], C) for s in range(mg.shape[0])]
    return [slice(k, None) if k >= 0 else slice(0, 0) for k in ks]


def _meters(runs) -> list:
    """The setting meters of a TR m-sweep (Condition 1 at the smallest m, small init over every run, Assumption 2.3,
    the readout)."""
    outs = list(runs.values())
    return A.setting(outs[0].info, init_output_max(outs), ms=list(runs))


def _window_meter(runs):
    """Def. F.1 box at the start of `_phase2`'s window: the smallest min_i y_i F_i there over every (m, seed). Not
    met means the window starts before the theorem's Phase 2 (the claim is checked on a longer stretch)."""
    v = min(float(_a(out, "margins")[s, p.start].min()) for out in runs.values() for s, p in enumerate(_phase2(out))
            if p.start is not None and p.start < _a(out, "margins").shape[1])
    return A.phase2_box(v, "at the first all-correct record (the start of the gated window)")


# ----------------------------------------------------------------------------------------- 4


@check("cooccurrence", "4", "Init (Cor. D.2, Lemmas D.1, D.7, D.8): p = 1/L +- tiny, |F(0)| small, "
       "|G(0)| ~ sigma0 sigma1 sqrt(m m1)", "P")
def c4(ctx: Context) -> Result:
    meas, pred, ok = {}, {}, True
    for m, out in tr_runs(ctx).items():
        m_, m1, s0, s1, n, L = _info(out)
        d = out.info["d"]
        r = th.gram_init_radius(s0, m, d, DELTA)
        p_bound = (np.exp(2 * r / np.sqrt(m)) - 1) / L  # |s| <= r/sqrt(m) for every score -> softmax deviation
        p_dev = float(_a(out, "attn_dev")[:, 0].max())
        F0 = float(np.abs(_a(out, "margins")[:, 0]).max())
        F_bound = th.output_init_bound(s0, s1, L, m, m1, n, DELTA)
        G0 = float(np.abs(_a(out, "G")[:, 0]).max()) / (s0 * s1 * np.sqrt(m * m1))
        n_g = _a(out, "G")[:, 0].size
        G_bound = np.sqrt(2 * np.log(2 * n_g / DELTA))  # max of n_g |N(0,1)| with prob >= 1 - delta
        meas[f"m={m}: max|p-1/L|"], pred[f"m={m}: bound"] = p_dev, p_bound
        meas[f"m={m}: max|F(0)|"], pred[f"m={m}: Lemma D.8 bound"] = F0, F_bound
        meas[f"m={m}: max|G(0)|/(s0 s1 sqrt(m m1))"], pred[f"m={m}: Gaussian max"] = G0, G_bound
        ok &= p_dev <= p_bound and p_dev <= 0.01 / L**2 and F0 <= F_bound and F0 <= 0.1 and G0 <= G_bound
    return Result(
        predicted={**pred, "1/L^2": 1 / 25, "spec §7": "max|p-1/L| << 1/L^2, |F(0)| <~ 0.05"},
        measured=meas,
        tolerance=(f"max|p - 1/L| <= (exp(2 r/sqrt(m)) - 1)/L with r the Lemma D.1 radius at delta={DELTA} and <= 0.01/L^2; "
                   f"max|F(0)| <= Lemma D.8 bound (delta={DELTA}) and <= 0.1; |G(0)| is a sum of m m1 products, ~ Gaussian with "
                   "std sigma0 sigma1 sqrt(m m1): max over all seeds and mu1..3 <= sqrt(2 log(2 k/delta))"),
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        notes=("Lemma D.8's 0.01 needs a small constant in sigma0 = c0/sqrt(L m): TR's c0 = 0.02 gives max|F(0)| ~ 0.05 "
               "(the small-init meter), c0 = 1 gives ~2-3. The concentration bound itself (gated) holds."),
        assumptions=_meters(tr_runs(ctx)),
        sources={"bound (max|p - 1/L|)": "theory.gram_init_radius (Lemma D.1/D.3) through the softmax (Cor. D.2)",
                 "Lemma D.8 bound": "theory.output_init_bound (Lemma D.8)",
                 "Gaussian max": "Lemma D.7 scale sigma0 sigma1 sqrt(m m1) with the Gaussian maximum sqrt(2 log(2k/delta))",
                 "1/L^2": "Cor. D.2 / Def. F.1 (attention within 1/L^2 of uniform)"},
    )


# ----------------------------------------------------------------------------------------- 5


@check("cooccurrence", "5", "Initial velocities (Lemmas 4.1, 4.2, E.6): dG(mu1,2)/dt(0) = (s0^2+s1^2) m m1/6, "
       "|dG(mu3)/dt| << dG1/dt, random words y dG/dt = 3 dG1/dt / n", "P")
def c5(ctx: Context) -> Result:
    meas, pred, ok = {}, {}, True
    S = tr_plan(ctx)["seeds"]
    for m, out in tr_runs(ctx).items():
        m_, m1, s0, s1, n, L = _info(out)
        g0 = _a(out, "gdot")[:, 0]  # (seed, 3), unit-rate flow
        p1 = th.gdot0_target(s0, s1, m, m1)
        pr = float(th.gdot0_random(1.0, n, s0, s1, m, m1))
        # the same leading terms of E2 with the measured ||u(0)||^2 and ||W_V mu||^2 instead of their means
        u2, v = _a(out, "s")[:, 0], _a(out, "value_gram")[:, 0]
        ref1, ref2 = (u2 + m1 * v[:, 0, 0]) / 6, (u2 + m1 * v[:, 1, 1]) / 6
        ref_r = (u2 + m1 * s0**2 * m) / (2 * n)
        r1, r2 = float(np.median(g0[:, 0] / p1)), float(np.median(g0[:, 1] / p1))
        rr = float(np.median(_a(out, "gdot_random_signed")[:, 0] / pr))
        r3 = float(np.max(np.abs(g0[:, 2]) / g0[:, 0]))
        q = np.concatenate([g0[:, 0] / ref1, g0[:, 1] / ref2, _a(out, "gdot_random_signed")[:, 0] / ref_r])
        band = max(0.2, 3 * 1.25 * np.sqrt(2 / (m * S)))  # seed statistics of the median of S chi^2_m/m draws
        pred[f"m={m}: dG1/dt(0)"], pred[f"m={m}: band for the medians"] = p1, band
        meas[f"m={m}: median dG1/pred"], meas[f"m={m}: median dG2/pred"] = r1, r2
        meas[f"m={m}: median y dG(random)/pred"], meas[f"m={m}: max |dG3|/dG1"] = rr, r3
        meas[f"m={m}: measured-norm ratios min..max"] = [float(q.min()), float(q.max())]
        ok &= max(abs(r1 - 1), abs(r2 - 1), abs(rr - 1)) <= band and r3 <= 0.05 and np.abs(q - 1).max() <= 0.1
    return Result(
        predicted={**pred, "ratios": 1.0, "|dG3|/dG1": "<= 0.05"},
        measured=meas,
        tolerance=("(i) medians over seeds of measured/predicted within +-max(20% (spec §7), 3 x 1.25 sqrt(2/(m S))): "
                   "||u(0)||^2/(sigma1^2 m m1) ~ chi^2_m/m has relative std sqrt(2/m) (18% at m=64), 1.25/sqrt(S) for a "
                   "median of S seeds; (ii) with the measured ||u(0)||^2 and ||W_V mu||^2 in the same formulas, every seed "
                   "within +-10% (left out: g = 1/2 +- |F(0)|/4 ~ 1%, off-diagonal value Grams ~ sigma0^2 sqrt(m)); "
                   "(iii) |dG3|/dG1 <= 0.05 (Lemma 4.2: label balance cancels the common token)"),
        passed=ok, setting=_setting(ctx), seeds=S,
        assumptions=_meters(tr_runs(ctx)),
        sources={"dG1/dt(0)": "theory.gdot0_target (Lemma 4.1/E.4, constant 1/6 derived with g = 1/2, sum_l p = 1)",
                 "random words": "theory.gdot0_random (Lemma E.6: y (sigma0^2 + sigma1^2) m m1 / (2n))",
                 "|dG3|/dG1": "Lemma 4.2 (label balance cancels the common token; the 0.05 band of the check table)",
                 "measured-norm formulas": "theory.e2_rate_d's leading terms (Eq. 4 / Def. E.18)"},
    )


# ----------------------------------------------------------------------------------------- 6


@check("cooccurrence", "6", "Phase 1 ends at T1 = Theta~(1/(sigma1^2 m m1)) (Thm 3.1): T1 sigma1^2 m m1 constant in m; "
       "L(T1) = Theta(1); G1, G2 > 0 > G3 at T1", "P")
def c6(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    ms = list(runs)
    T1 = np.stack([T1_tau_S(out) for out in runs.values()])  # (m, seed), tau units
    ok = bool(np.all(np.isfinite(T1)))
    # ||u(0)||^2 = sigma1^2 m m1 (1 + O(m^-1/2)) is the speed of Phase 1: T1 ||u(0)||^2 has less seed noise
    u0 = np.stack([_a(out, "s")[:, 0] / out.info["tau_per_t"] for out in runs.values()])
    slope, se = loglog_slope(ms, T1) if ok else (np.nan, np.nan)
    slope_u, se_u = loglog_slope(ms, T1 * u0) if ok else (np.nan, np.nan)
    loss_T1, G_T1 = [], []
    for out in runs.values():
        for s, k in enumerate(T1_record_S(out)):
            loss_T1.append(_a(out, "loss")[s, k])
            G_T1.append(_a(out, "G")[s, k])
    loss_T1, G_T1 = np.array(loss_T1), np.array(G_T1)
    signs = bool(np.all(G_T1[:, 0] > 0) and np.all(G_T1[:, 1] > 0) and np.all(G_T1[:, 2] < 0))
    passed = ok and abs(slope_u) <= 0.15 + 2 * se_u and abs(slope) <= 0.15 + 2 * se and signs \
        and 0.1 <= loss_T1.min() and loss_T1.max() < np.log(2) and np.abs(G_T1).max() < 3
    fig = figs.t1_scaling(ms, T1, slope, se)
    return Result(
        predicted={"slope of log T1 sigma1^2 m m1 vs log m": 0.0, "slope of log T1 ||u(0)||^2 vs log m": 0.0,
                   "L(T1)": "Theta(1), in [0.1, log 2)", "signs at T1": "G1, G2 > 0 > G3, |G| = O(1) (< 3)"},
        measured={**{f"m={m}: median T1 sigma1^2 m m1": float(np.median(T1[i])) for i, m in enumerate(ms)},
                  "slope (tau)": slope, "se (tau)": se, "slope (||u(0)||^2 clock)": slope_u, "se (||u(0)||^2)": se_u,
                  "L(T1) min..max": [float(loss_T1.min()), float(loss_T1.max())],
                  "G(T1) median (mu1, mu2, mu3)": np.median(G_T1, 0), "signs hold": signs},
        tolerance=("|slope| <= 0.15 + 2 se (se from the seed scatter, OLS over all (m, seed) points) for both clocks: "
                   "Theta~ hides polylog factors (one log m factor would give ~0.2 over m = 64..512), while outside the "
                   "regime (c0 = 0.1, sigma1 = 0.1/sqrt(m1)) spec §3 reports a drift of slope ~0.7; T1 is interpolated "
                   "between records of min_i y_i F_i (record spacing 0.2 tau)"),
        passed=passed, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        notes="Spec [SIM] anchors: T1 sigma1^2 m m1 ~ 8, L(T1) ~ 0.46, G(T1) ~ (0.67, 0.66, -0.50).",
        figure=ctx.save_figure(fig, "c6_T1_scaling.png"),
        assumptions=_meters(runs) + [A.horizon(ok, "T1 (every run)", f"T1 tau <= {float(np.nanmax(T1)):.3g}, "
                                                f"tau_end = {tr_plan(ctx)['tau_end']:g}", "Thm 3.1")],
        sources={"slope 0": "Thm 3.1 / E.26: T1 = Theta~(1/(sigma1^2 m m1)), theory.tau (the clock sigma1^2 m m1 t)",
                 "L(T1)": "Thm E.27 (L_hat(T1) = Theta(1)); band [0.1, log 2): Theta(1) and below the init loss",
                 "signs at T1": "Thm E.27 (G1, G2, -G3 = Theta(1))"},
    )


# ----------------------------------------------------------------------------------------- 7


@check("cooccurrence", "7", "Phase-1 freezing over [0, T1] (Thm E.28): |D score| <= O~(m^-3/2 (1/L + m^-1/2)), "
       "|D<w,w>|, |D<v,v>| <= O~(1/m), |D K^TK|, |D Q^TQ| <= O~(1/m^2)", "P")
def c7(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    ms = list(runs)
    names = {"score": ("score_probe", None), "<w,w>": ("ww", -1.0), "<v,v>": ("value_probe", -1.0),
             "K^TK": ("kk", -2.0), "Q^TQ": ("qq", -2.0)}
    D = {k: [] for k in names}
    for out in runs.values():
        ks = T1_record_S(out)
        for k, (arr, _) in names.items():
            a = _a(out, arr)
            D[k].append([float(np.abs(a[s, ks[s]] - a[s, 0]).max()) for s in range(a.shape[0])])
    meas, pred, ok = {}, {}, True
    L = runs[ms[0]].info["L"]
    for k, (arr, expo) in names.items():
        y = np.array(D[k])
        slope, se = loglog_slope(ms, y)
        if k == "score":
            bound = np.array([th.phase1_score_change_scale(L, m) for m in ms])
            expo = float(np.polyfit(np.log(ms), np.log(bound), 1)[0])
        else:
            bound = np.asarray(ms, np.float64) ** expo
        ratio = float(np.max(y.max(1) / bound))
        meas[f"{k}: max |D| (largest m..smallest m)"] = [float(y[-1].max()), float(y[0].max())]
        meas[f"{k}: slope"], meas[f"{k}: slope se"], meas[f"{k}: max |D|/bound"] = slope, se, ratio
        pred[f"{k}: exponent of the bound"] = expo
        ok &= ratio <= 1.0 and slope <= expo + 0.25
    return Result(
        predicted=pred, measured=meas,
        tolerance=("upper bounds: max over seeds of |D| / bound(m) <= 1 at every m (bound with constant 1, no logs) and "
                   "the fitted log-log slope <= the bound's exponent + 0.25 (polylog allowance; |D| may fall faster). "
                   "Entries: scores over mu1..3 and two random words (5x5), the first 4 neurons' <w_j, w_k>, value Gram 5x5, "
                   "K^TK and Q^TQ 5x5; D = value at the first record with all samples correct - value at 0"),
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        assumptions=_meters(runs),
        sources={"score exponent": "theory.phase1_score_change_scale (Thm E.28: m^-3/2 (1/L + m^-1/2))",
                 "<w,w>, <v,v> exponent": "Thm E.28 (O~(1/m))", "K^TK, Q^TQ exponent": "Thm E.28 (O~(1/m^2))"},
    )


# ----------------------------------------------------------------------------------------- 8


def _loss_shape(loss_type_SxTx4, T1_rec_S):
    """Peak of types 2/3 (over log 2), whether it precedes T1, and monotone decay of types 1 and 4."""
    peak = loss_type_SxTx4[:, :, 1:3].max(axis=1) / np.log(2)  # (seed, 2)
    k_peak = loss_type_SxTx4[:, :, 1:3].argmax(axis=1)
    before = np.all(k_peak < T1_rec_S[:, None])
    d14 = np.diff(loss_type_SxTx4[:, :, [0, 3]], axis=1)
    rise14 = float(d14.max())
    return peak, bool(before), rise14


@check("cooccurrence", "8", "Fig. 1b / early sign pattern: types 2, 3 first rise above log 2 then fall before T1; "
       "types 1, 4 fall monotonically (TR)", "P")
def c8(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    meas, ok = {}, True
    for m, out in runs.items():
        T1r = T1_record_S(out)
        peak, before, rise14 = _loss_shape(_a(out, "loss_type"), T1r)
        meas[f"m={m}: peak(types 2,3)/log 2 min..max"] = [float(peak.min()), float(peak.max())]
        meas[f"m={m}: peaks before T1"], meas[f"m={m}: max increase of types 1, 4"] = before, rise14
        ok &= bool(peak.min() > 1.0) and before and rise14 <= 0.0
    m0 = list(runs)[min(1, len(runs) - 1)]
    out = runs[m0]
    tau = out.arrays["tau"][0]
    T1 = T1_tau_S(out)[0]
    fig = figs.fig1(tau, _a(out, "score")[0], _a(out, "loss")[0], _a(out, "loss_type")[0], T1,
                    f"TR, m={m0}, m1=16, n=60, seed 0 (Figure 1 in the theory regime)")
    return Result(
        predicted={"peak/log 2": "> 1 (spec [SIM] ~1.10)", "peak time": "< T1", "types 1, 4": "non-increasing"},
        measured=meas,
        tolerance="exact inequalities on the recorded curves (records every 0.2 tau; no slack)",
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        figure=ctx.save_figure(fig, "c8_fig1_TR.png"),
        assumptions=_meters(runs),
        sources={"peak/log 2": "paper figure, Fig. 1b, and Sec. 3's early sign pattern (dF_i/dt(0) > 0 for types 1-3); "
                 "~1.10 is the user note's numpy anchor", "types 1, 4": "paper figure, Fig. 1b"},
    )


@check("cooccurrence", "8-FIG", "Fig. 1 in the paper's own setting (App. A): per-type loss shape as in check 8, "
       "score correlations flat in Phase 1, then key mu2/query mu1 up and key mu3 down", "C")
def c8_fig(ctx: Context) -> Result:
    out = fig_run(ctx)
    T1r = T1_record_S(out)
    peak, before, rise14 = _loss_shape(_a(out, "loss_type"), T1r)
    t = out.arrays["t"][0]
    epochs = t / 0.01
    T1_ep = T1_tau_S(out) / out.info["tau_per_t"] / 0.01
    sc = _a(out, "score")  # (seed, T, key, query)
    up = [(1, 0), (0, 1)]
    down = [(2, 0), (2, 1)]
    ph2 = [(sc[s, -1] - sc[s, max(k, 0)]) for s, k in enumerate(T1r)]
    ph1 = [(sc[s, max(k, 0)] - sc[s, 0]) for s, k in enumerate(T1r)]
    signs = all(d[k] > 0 for d in ph2 for k in up) and all(d[k] < 0 for d in ph2 for k in down)
    flat = float(max(np.abs(p).max() / np.abs(q).max() for p, q in zip(ph1, ph2)))
    fig = figs.fig1(epochs, sc[0], _a(out, "loss")[0], _a(out, "loss_type")[0], float(T1_ep[0]),
                    "FIG (App. A): n=60, L=5, d=64 (words repeat), m=128, m1=256, GD lr 0.01, seed 0", xlabel="epoch")
    ok = bool(peak.min() > 1.0) and before and rise14 <= 0.0 and signs
    return Result(
        predicted={"peak/log 2": "> 1", "types 1, 4": "non-increasing", "Phase-2 score changes": "mu1-mu2 up, key mu3 down"},
        measured={"T1 (epochs) per seed": T1_ep, "peak(types 2,3)/log 2 min..max": [float(peak.min()), float(peak.max())],
                  "peaks before T1": before, "max increase of types 1, 4": rise14, "score signs in Phase 2": signs,
                  "|Phase-1 change| / |Phase-2 change| of the scores": flat,
                  "final train loss (median)": float(np.median(_a(out, "loss")[:, -1]))},
        tolerance="exact inequalities on the recorded curves; 'flat in Phase 1' is reported (the ratio), not gated",
        passed=ok,
        setting=("FIG: n=60, L=5, d=64, random words repeat (nL=300 > d, violates Assumption 2.3(ii)), m=128, m1=256 > m "
                 "(violates Condition 1), W_Q,K,V ~ N(0, 1/(3d)), W ~ N(0, 1/(3m)), a ~ U(+-1/sqrt(m1)) fixed, fp32, "
                 f"full-batch GD lr 0.01, {int(epochs[-1])} epochs"),
        seeds=out.arrays["loss"].shape[1],
        figure=ctx.save_figure(fig, "c8_fig1_FIG.png"),
        assumptions=_fig_meters(out),
        sources={"peak/log 2, types 1, 4": "paper figure, Fig. 1b", "Phase-2 score changes": "paper figure, Fig. 1a "
                 "(and Thm 3.2a)"},
    )


def _fig_meters(out) -> list:
    """FIG is the paper's own experiment (App. A): the theory's assumptions it breaks are reported, not required."""
    return A.setting(out.info, init_output_max([out]))


# ----------------------------------------------------------------------------------------- 9


@check("cooccurrence", "9", "Lemmas 4.3, F.6: from T0.5 < T1 on, max(G1', G2') < -G3' < G1' + G2' (r = -G3'/G1' in "
       "(1, 2)); R(t) in (1, 2) in Phase 2, R(T1) in [1, 3]", "P")
def c9(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    meas, ok = {}, True
    T05 = []
    for m, out in runs.items():
        gd = _a(out, "gdot")  # (seed, T, 3)
        tau = out.arrays["tau"][0]
        order = (np.maximum(gd[..., 0], gd[..., 1]) < -gd[..., 2]) & (-gd[..., 2] < gd[..., 0] + gd[..., 1])
        # T0.5: first record after which the ordering holds at every later record
        t05 = []
        for s in range(order.shape[0]):
            bad = np.nonzero(~order[s])[0]
            t05.append(tau[bad[-1] + 1] if bad.size and bad[-1] + 1 < tau.size else (tau[0] if not bad.size else np.nan))
        t05 = np.array(t05)
        T05.append(t05)
        T1 = T1_tau_S(out)
        S = _a(out, "S")
        R = (S[..., 1] + S[..., 2] + S[..., 3] - S[..., 0]) / (S[..., 0] - S[..., 1])
        ph = _phase2(out)
        R2 = np.concatenate([R[s, p] for s, p in enumerate(ph)])
        R_T1 = np.array([R[s, p.start] for s, p in enumerate(ph)])
        r = -gd[..., 2] / gd[..., 0]
        r2 = np.concatenate([r[s, p] for s, p in enumerate(ph)])
        meas[f"m={m}: T0.5 tau (max over seeds)"], meas[f"m={m}: T1 tau (min)"] = float(np.max(t05)), float(np.min(T1))
        meas[f"m={m}: R in Phase 2 min..max"], meas[f"m={m}: R(T1) min..max"] = [R2.min(), R2.max()], [R_T1.min(), R_T1.max()]
        meas[f"m={m}: r in Phase 2 min..max"], meas[f"m={m}: R at the end (median)"] = [r2.min(), r2.max()], float(np.median(R[:, -1]))
        ok &= bool(np.all(np.isfinite(t05)) and np.all(t05 < T1) and R2.min() > 1 and R2.max() < 2
                   and R_T1.min() >= 1 and R_T1.max() <= 3 and r2.min() > 1 and r2.max() < 2)
    ms = list(runs)
    slope, se = loglog_slope(ms, np.stack(T05))
    meas["slope of log T0.5 tau vs log m"], meas["slope se"] = slope, se
    return Result(
        predicted={"T0.5": "< T1, O(1/m) (tau units: O(1))", "R, r in Phase 2": "(1, 2)", "R(T1)": "[1, 3]",
                   "R settles (spec [SIM])": "1.35-1.40", "n -> inf heuristic": th.R_HEURISTIC},
        measured=meas,
        tolerance="strict inequalities at every record (records every 0.2 tau); the T0.5 slope is reported, not gated",
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        assumptions=_meters(runs) + [_window_meter(runs)],
        sources={"T0.5": "Lemma 4.3/E.19 (T0.5 <= O(1/m) < T1)", "R, r in Phase 2": "theory.R_STAR_INTERVAL (Lemma F.6: "
                 "the attracting root R* in (1, 2); Lemma 4.3 ordering)", "R(T1)": "theory.R_T1_INTERVAL (Lemma F.6)",
                 "n -> inf heuristic": "theory.R_HEURISTIC (user note's derived max-margin heuristic, not the paper)",
                 "R settles": "the user note's numpy anchor"},
    )


# ----------------------------------------------------------------------------------------- 10


@check("cooccurrence", "10", "Automatic balancing (Lemma F.5, Def. F.1, Cor. F.2): |S2-S3|/min <= C << 1, "
       "S4 <= min(S2,S3) <= max <= S1 <= S2+S3+S4, within-type g ratios O(1) in Phase 2", "P")
def c10(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    meas, ok = {}, True
    type_N = np.asarray(next(iter(runs.values())).info["type_N"])
    for m, out in runs.items():
        S, mg = _a(out, "S"), _a(out, "margins")
        imb, bnd, order_ok, gratio = [], [], True, 1.0
        for s, p in enumerate(_phase2(out)):
            S1, S2, S3, S4 = (S[s, p, k] for k in range(4))
            imb.append(np.abs(S2 - S3) / np.minimum(S2, S3))
            bnd.append(np.array([th.balance_bound(mg[s, k], type_N) for k in range(S.shape[1])[p]]))
            order_ok &= bool(np.all((S4 <= np.minimum(S2, S3)) & (np.maximum(S2, S3) <= S1) & (S1 <= S2 + S3 + S4)))
            g = 1.0 / (1.0 + np.exp(mg[s, p]))
            for k in range(1, 5):
                gk = g[:, type_N == k]
                gratio = max(gratio, float((gk.max(1) / gk.min(1)).max()))
        imb, bnd = np.concatenate(imb), np.concatenate(bnd)
        meas[f"m={m}: max |S2-S3|/min"], meas[f"m={m}: min slack of Lemma F.5 bound"] = float(imb.max()), float((bnd - imb).min())
        meas[f"m={m}: group ordering holds"], meas[f"m={m}: max within-type g_i/g_j"] = order_ok, gratio
        ok &= bool(np.all(imb <= bnd)) and imb.max() <= 0.05 and order_ok and gratio <= 10
    out = runs[list(runs)[-1]]
    fig = figs.balancing(out.arrays["tau"][0], _a(out, "S")[0], T1_tau_S(out)[0], f"TR, m={out.info['m']}, seed 0")
    return Result(
        predicted={"|S2-S3|/min(S2,S3)": "<= C << 1 (spec [SIM] < 1%) and <= 6 max|r-1| (Lemma F.5)",
                   "ordering": "S4 <= min(S2,S3) <= max <= S1 <= S2+S3+S4", "within-type g ratio": "O(1)"},
        measured=meas,
        tolerance=("at every Phase-2 record: imbalance <= the Lemma F.5 bound computed from the margins, and <= 0.05 "
                   "(C << 1); ordering exact; within-type max g_i/g_j <= 10 (an O(1) band: the theory gives no constant)"),
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        figure=ctx.save_figure(fig, "c10_balancing.png"),
        assumptions=_meters(runs) + [_window_meter(runs)],
        sources={"|S2-S3|/min(S2,S3)": "theory.balance_bound (Lemma F.5 / 4.4); C << 1 read as <= 0.05",
                 "ordering": "Def. F.1 (Phase-2 box)", "within-type g ratio": "Cor. F.2 (O(1))"},
    )


# ----------------------------------------------------------------------------------------- 11


@check("cooccurrence", "11", "Equal-rate margins (proof of Thm F.8): d(y_i F_i)/dt / (||W^T a||^2 (1/n) sum g) in [c, C] "
       "for every i, stable over Phase 2", "P")
def c11(ctx: Context) -> Result:
    meas, ok = {}, True
    for m, out in tr_runs(ctx).items():
        mr, mg, s_ = _a(out, "margin_rate"), _a(out, "margins"), _a(out, "s")
        lo, hi, drift = np.inf, -np.inf, 1.0
        for s, p in enumerate(_phase2(out)):
            g = 1.0 / (1.0 + np.exp(mg[s, p]))
            q = mr[s, p] / (s_[s, p, None] * g.mean(1, keepdims=True))  # (T, n)
            lo, hi = min(lo, float(q.min())), max(hi, float(q.max()))
            drift = max(drift, float((q.max(0) / q.min(0)).max()))
        meas[f"m={m}: c (min)"], meas[f"m={m}: C (max)"], meas[f"m={m}: C/c"] = lo, hi, hi / lo
        meas[f"m={m}: max over i of (max/min over time)"] = drift
        ok &= lo > 0 and hi / lo <= 10 and drift <= 3
    return Result(
        predicted={"ratio": "Theta(1): c > 0, C/c = O(1)", "heuristic C/c": "~3 (type-4 margin grows 3x, §5.4)"},
        measured=meas,
        tolerance="c > 0, C/c <= 10 (an O(1) band) and every sample's ratio varies by <= x3 over Phase 2 ('stable')",
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        assumptions=_meters(tr_runs(ctx)) + [_window_meter(tr_runs(ctx))],
        sources={"ratio": "proof of Thm F.8 (d(y_i F_i)/dt = ||u||^2 Theta((1/n) sum_j g_j) for every i)",
                 "heuristic C/c": "the user note's derived n -> inf heuristic (type-4 margin grows 3x)"},
    )


# ----------------------------------------------------------------------------------------- 12


@check("cooccurrence", "12", "Loss rate (Thm F.8): 1/L - 1/L(T1) = kappa sigma1^2 m m1 (t - T1), linear in Phase 2, "
       "kappa independent of m", "P")
def c12(ctx: Context) -> Result:
    runs = tr_runs(ctx)
    ms = list(runs)
    kappa, kappa_u, r2s, local = [], [], [], []
    curves = []
    for m, out in runs.items():
        tau, t = out.arrays["tau"][0], out.arrays["t"][0]
        L_ = _a(out, "loss")
        s_ = _a(out, "s")
        ks, ku = [], []
        for s, p in enumerate(_phase2(out)):
            x, y = tau[p], 1.0 / L_[s, p]
            A = np.stack([np.ones_like(x), x], 1)
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            resid = y - A @ coef
            r2s.append(1 - resid @ resid / ((y - y.mean()) @ (y - y.mean())))
            ks.append(coef[1])
            loc = np.gradient(y, t[p]) / s_[s, p]  # local d(1/L)/dt over ||W^T a||^2 (Thm F.8: Theta(1))
            local.append(float(loc.max() / loc.min()))
            ku.append(float(np.median(loc)))
        kappa.append(ks)
        kappa_u.append(ku)
        curves.append((f"m={m}", t, L_[0], T1_tau_S(out)[0] / out.info["tau_per_t"]))
    kappa, kappa_u = np.array(kappa), np.array(kappa_u)
    slope, se = loglog_slope(ms, kappa)
    slope_u, se_u = loglog_slope(ms, kappa_u)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    figs.inverse_loss(curves, "TR, seed 0: 1/L against t (dots: T1); Phase-2 slope ~ sigma1^2 m m1", ax=ax1)
    tau_curves = [(lab, t * runs[m].info["tau_per_t"], L_, T1 * runs[m].info["tau_per_t"])
                  for (lab, t, L_, T1), m in zip(curves, ms)]
    figs.inverse_loss(tau_curves, "the same against tau = sigma1^2 m m1 t: one line (kappa independent of m)",
                      xlabel=r"$\tau$", ax=ax2)
    gate = all_of(
        at_least("min R^2 of 1/L vs tau in Phase 2", min(r2s), 0.99, why="the 1/(a t + b) form"),
        within_se("log-log slope of kappa (Phase-2 OLS of 1/L vs tau) vs m", slope, 0.0, se, slack=0.15,
                  why="kappa independent of m (band 0.15 as check 6, se from seeds)"),
        within_se("log-log slope of the local rate d(1/L)/dt / ||W^T a||^2 vs m", slope_u, 0.0, se_u, slack=0.15),
        at_most("max/min of the local rate over Phase 2", max(local), 2.0,
                why="a Theta(1) constant (spec [SIM]: drifts slowly)"),
    )
    return Result(
        predicted={"slope of log kappa vs log m": 0.0, "linearity R^2": "~1", "local slope / ||u||^2": "~constant",
                   "spec [SIM] kappa": 0.1},
        measured={**{f"m={m}: median kappa": float(np.median(kappa[i])) for i, m in enumerate(ms)},
                  "kappa slope": slope, "se": se,
                  **{f"m={m}: median local slope/||u||^2": float(np.median(kappa_u[i])) for i, m in enumerate(ms)},
                  "local-rate slope": slope_u, "se (local)": se_u, "min R^2 of 1/L vs tau in Phase 2": float(min(r2s)),
                  "max over runs of max/min of local slope/||u||^2": float(max(local))},
        **gate.result_fields(), setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        figure=ctx.save_figure(fig, "c12_inverse_loss.png"),
        assumptions=_meters(runs) + [_window_meter(runs)],
        sources={"slope of log kappa vs log m": "theory.phase2_loss (Thm F.8: L_hat = 1/(Theta(sigma1^2 m m1)(t - T1) + "
                 "1/L_hat(T1)))", "linearity R^2": "Thm F.8 (1/L_hat linear in t)",
                 "local slope / ||u||^2": "Thm F.8 (dL_hat/dt = -Theta(||u||^2) L_hat^2)",
                 "spec [SIM] kappa": "the user note's numpy anchor"},
    )


# ----------------------------------------------------------------------------------------- 13


def _score_signs(sc_SxTxKxQ, T1r):
    """Phase-2 changes: key mu2/query mu1 and key mu1/query mu2 up, key mu3/query mu1,2 down (probe indices)."""
    d = np.stack([sc_SxTxKxQ[s, -1] - sc_SxTxKxQ[s, max(k, 0)] for s, k in enumerate(T1r)])
    ok = bool(np.all(d[:, 1, 0] > 0) and np.all(d[:, 0, 1] > 0) and np.all(d[:, 2, 0] < 0) and np.all(d[:, 2, 1] < 0))
    return d, ok


@check("cooccurrence", "13", "Attention scores in Phase 2 (Thm 3.2a, 3.3, Lemma F.16): key mu2/query mu1, key mu1/"
       "query mu2 up; key mu3/query mu1,2 down; random-word entries smaller; max|p - p(0)| <= 1/L^2", "P")
def c13(ctx: Context) -> Result:
    meas, ok = {}, True
    for m, out in tr_runs(ctx).items():
        m_, m1, s0, s1, n, L = _info(out)
        sc = _a(out, "score_probe")
        T1r = T1_record_S(out)
        d, signs = _score_signs(sc, T1r)
        target = np.abs(d[:, [1, 0, 2, 2], [0, 1, 0, 1]]).mean()
        rand = np.abs(d[:, 3:, :2]).mean() if d.shape[1] > 3 else np.nan
        dev = float(_a(out, "attn_dev").max() + _a(out, "attn_dev")[:, 0].max())
        scale = th.score_change_scale(s0, s1, L, m, m1)
        meas[f"m={m}: signs"], meas[f"m={m}: mean |D target entry|"] = signs, float(target)
        meas[f"m={m}: |D| / C12 scale"] = float(target / scale)
        meas[f"m={m}: mean |D random-key entry| / |D target|"] = float(rand / target)
        meas[f"m={m}: max|p - p(0)| <="] = dev
        ok &= signs and rand < target and dev <= 1 / L**2
    return Result(
        predicted={"signs": "(2,1), (1,2) up; (3,1), (3,2) down", "random-key entries": "smaller (~1/n in the first term)",
                   "max|p - p(0)|": "<= 1/L^2 = 0.04", "magnitude": "C12 formula up to polylog and G factors (reported)"},
        measured=meas,
        tolerance=("signs of the change from the first all-correct record to the end, every seed; random-key mean |D| < "
                   "target mean |D|; max|p - p(0)| bounded by max|p - 1/L| + max|p(0) - 1/L| <= 1/L^2"),
        passed=ok, setting=_setting(ctx), seeds=tr_plan(ctx)["seeds"],
        notes="The changes are ~1e-6 and far below the initial scores (~sigma0^2 sqrt(m)): attention stays uniform (§5.5).",
        assumptions=_meters(tr_runs(ctx)) + [_window_meter(tr_runs(ctx))],
        sources={"signs": "Thm 3.2(a) / 3.3 (C12, C21 > 0 > C31, C32)", "random-key entries": "Thm 3.3 (|C| with an "
                 "index >= 4 smaller by 1/n in the first term)", "max|p - p(0)|": "Def. F.1 (Phase-2 box: O(1/L^2))",
                 "magnitude": "theory.score_change_scale (Thm 3.3)"},
    )


@check("cooccurrence", "13-FIG", "Score signs of Thm 3.2a in the paper's own setting (Fig. 1a)", "C")
def c13_fig(ctx: Context) -> Result:
    out = fig_run(ctx)
    d, ok = _score_signs(_a(out, "score_probe"), T1_record_S(out))
    dev = float(_a(out, "attn_dev").max())
    return Result(
        predicted={"signs": "(2,1), (1,2) up; (3,1), (3,2) down", "max|p - 1/L|": "<= 1/L^2 = 0.04 (Phase-2 box)"},
        measured={"D key mu2/query mu1": d[:, 1, 0], "D key mu1/query mu2": d[:, 0, 1], "D key mu3/query mu1": d[:, 2, 0],
                  "D key mu3/query mu2": d[:, 2, 1], "max|p - 1/L|": dev},
        tolerance="signs exact, every seed; max|p - 1/L| <= 1/L^2",
        passed=ok and dev <= 1 / 25, setting="FIG (see check 8-FIG)", seeds=out.arrays["loss"].shape[1],
        assumptions=_fig_meters(out),
        sources={"signs": "Thm 3.2(a); paper figure, Fig. 1a", "max|p - 1/L|": "Def. F.1 (Phase-2 box: O(1/L^2))"},
    )


# ----------------------------------------------------------------------------------------- 14


def _entered(box) -> list[bool]:
    return [p.stop is None for p in box]


def _sign_violation_S(out, C: float = th.PHASE2_MARGIN_C) -> np.ndarray:
    """Per seed: the largest Thm 3.2(c, d) violation (`measure.thm32_sign_violation`) over the records inside the
    Phase-2 box, from its entry to the end of the run; NaN where the box is not entered."""
    G = _a(out, "G")
    return np.array([float(ms_.thm32_sign_violation(G[s, p]).max()) if e else np.nan
                     for s, (p, e) in enumerate(zip(_box(out, C), _entered(_box(out, C))))])


def _margin_needed_S(out) -> np.ndarray:
    """Per seed: min_i y_i F_i at the record from which the Thm 3.2(c, d) signs hold to the end of the run: the box
    constant C the signs would need (NaN if they do not hold at the end)."""
    G, mg = _a(out, "G"), _a(out, "margins")
    res = []
    for s in range(G.shape[0]):
        bad = np.nonzero(ms_.thm32_sign_violation(G[s]) > 0)[0]
        k = 0 if not bad.size else int(bad[-1]) + 1
        res.append(float(mg[s, k].min()) if k < G.shape[1] else np.nan)
    return np.array(res)


@check("cooccurrence", "14", "Value Gram and MLP signs in Phase 2 (Thm 3.2b-d, Cor. F.7, F.13, Lemma F.11): v12 up, "
       "v13, v23 down, ||W_V mu1,2||^2 up; E3 exact; G1, G2 > 0 > G3, G1+G3 < 0, G2+G3 < 0, G1+G2+G3 > 0, ratios "
       "Theta(1), from the Phase-2 box (every y F > C) on", "P")
def c14(ctx: Context) -> Result:
    from scanflow.papers.cooccurrence.checks.exact_checks import e3_error

    C = th.PHASE2_MARGIN_C
    eps = float(np.finfo(np.float64).eps)
    e3 = e3_error(ctx.quick)
    runs = tr_runs(ctx)
    meas = {}
    viol, vs_ok, n_runs, n_in, ratios, entry_margin = [], 0, 0, 0, [], np.inf
    for m, out in runs.items():
        v, G, mg = _a(out, "value_gram"), _a(out, "G"), _a(out, "margins")
        tau = out.arrays["tau"][0]
        box = _box(out, C)
        inside = _entered(box)
        n_runs, n_in = n_runs + len(box), n_in + sum(inside)
        for s, (p, e) in enumerate(zip(box, inside)):
            if not e:
                continue
            dv = v[s, -1] - v[s, p.start]
            vs_ok += bool(dv[0, 1] > 0 and dv[0, 2] < 0 and dv[1, 2] < 0 and dv[0, 0] > 0 and dv[1, 1] > 0)
            g1, g2, g3 = G[s, p].T
            ratios.append(np.concatenate([g1 / g2, g1 / -g3, g2 / -g3]))
            entry_margin = min(entry_margin, float(mg[s, p.start].min()))
        vm = _sign_violation_S(out, C)
        viol.append(vm)
        starts = [p.start for p, e in zip(box, inside) if e]
        meas[f"m={m}: tau of the box entry (median)"] = float(np.median(tau[starts])) if starts else np.nan
        meas[f"m={m}: median T1 tau (first all-correct)"] = float(np.median(T1_tau_S(out)))
        meas[f"m={m}: G at the box entry (median)"] = (np.median(np.stack([G[s, k] for s, k in enumerate(starts)]), 0)
                                                       if starts else np.nan)
        meas[f"m={m}: max Thm 3.2(c,d) violation in the box"] = float(np.max(vm))
        meas[f"m={m}: min y F from which the signs hold (median)"] = float(np.nanmedian(_margin_needed_S(out)))
        meas[f"m={m}: G at the end (median)"] = np.median(G[:, -1], 0)
    ratios = np.concatenate(ratios) if ratios else np.array([np.nan])
    max_viol = float(np.max(np.concatenate(viol)))
    meas["value-Gram signs: runs where they hold / runs in the box"] = [vs_ok, n_in]
    meas["G ratios min..max"] = [float(ratios.min()), float(ratios.max())]
    meas["E3 max rel. error (small setting, 3 states)"] = e3

    # the n path (Condition 1: n >= Omega~(L^2)) at m = 64
    plan = phase2_path_plan(ctx)
    path = phase2_path(ctx)
    ns = sorted(path)
    pv = [_sign_violation_S(path[n], C) for n in ns]
    for n, v_ in zip(ns, pv):
        meas[f"path n={n}: Thm 3.2(c,d) violation in the box (per seed)"] = v_
        meas[f"path n={n}: min y F from which the signs hold (median)"] = float(np.nanmedian(_margin_needed_S(path[n])))
    regime = trend("n", ns, pv, why=(
        "Condition 1 (n >= Omega~(L^2)); Thm E.27: at T1 the random words' G is O~(sigma0 sigma1 sqrt(m m1)), so the "
        "type-2/3 margins are -(G1+G3), -(G2+G3) alone; at small n the distinct random words (gradient ~3 G1'/n "
        "each, Lemma E.6) carry part of them"))
    L = runs[list(runs)[0]].info["L"]
    gate = all_of(
        at_least("runs that enter the Phase-2 box (every y_i F_i > C) within the horizon", n_in / max(n_runs, 1), 1.0),
        at_most("max over m, seeds, box records of the Thm 3.2(c, d) violation", max_viol, 0.0,
                why="G1+G3, G2+G3 <= -Omega(1); G1+G2+G3 >= Omega(1); G1, G2 > 0 > G3 at every record from the box "
                    f"entry (C = {C:g}, theory.PHASE2_MARGIN_C) to the end"),
        at_least("runs with v12, ||v1||^2, ||v2||^2 up and v13, v23 down from the box entry to the end",
                 vs_ok / max(n_in, 1), 1.0),
        at_least("min G ratio (G1/G2, G1/-G3, G2/-G3) in the box", float(ratios.min()), 1 / 3, why="Theta(1) band"),
        at_most("max G ratio in the box", float(ratios.max()), 3.0, why="Theta(1) band [1/3, 3]; the heuristic gives "
                "1, 2/3, 2/3"),
        at_most("E3 relative error", e3, 1e4 * eps, why="float64 identity"),
    )
    return Result(
        predicted={"signs": "v12, ||v1||^2, ||v2||^2 up; v13, v23 down; G1, G2 > 0 > G3, G1+G3 < 0, G2+G3 < 0, G1+G2+G3 > 0",
                   "G ratios": "Theta(1)", "n -> inf heuristic G": "proportional to (2, 2, -3)", "E3": "exact",
                   "Phase-2 box constant C": C, "violation along n": "shrinks to <= 0 (n >= Omega~(L^2))"},
        measured=meas, **gate.result_fields(),
        setting=(_setting(ctx) + f"; Phase 2 = the box of Def. F.1, from the first record with every y_i F_i > {C:g}; "
                 f"n path: TR at m={plan['m']}, n in {list(ns)}, {plan['seeds']} seeds, "
                 f"{'gradient flow' if plan['method'] == 'flow' else 'GD'} to tau={plan['tau_end']:g}"),
        seeds=tr_plan(ctx)["seeds"],
        assumptions=_meters(runs) + [
            A.phase2_box(entry_margin, "at the box entry (the start of the gated window)"),
            A.horizon(n_in == n_runs, "the Phase-2 box (every run)", f"{n_in} of {n_runs} runs", "Def. F.1"),
            A.n_samples(ns[-1], L, where="end of the n path")],
        regime=regime,
        sources={"signs": "Thm 3.2(b)-(d) (the printed '<=' of (c) read as '>='), Cor. F.13 (||W_V mu1,2||^2 up)",
                 "G ratios": "Cor. F.7 (Theta(1))", "E3": "theory.e3_rate_dxd (Lemma F.11)",
                 "n -> inf heuristic G": "the user note's derived max-margin heuristic (not the paper)",
                 "Phase-2 box constant C": "theory.PHASE2_MARGIN_C (Def. F.1 / Thm E.27, C = 10 x Lemma D.8's 0.01)"},
        notes=("At the first all-correct record (the old Phase-2 start) G1+G3 is still > 0 at small n: types 2 and 3 are "
               "classified through their random words. The paper's Phase 2 has every margin Theta(1) (Def. F.1); from "
               "that box on, the remaining violation shrinks along n as Condition 1 predicts. 'min y F from which the "
               "signs hold' is the box constant the signs would need; it falls towards 0 with n."),
    )


# ----------------------------------------------------------------------------------------- 15


def _generalisation(out):
    tr, te = _a(out, "loss"), _a(out, "test_loss")
    ph = _phase2(out)
    ratio = np.concatenate([te[s, p] / tr[s, p] for s, p in enumerate(ph)])
    return tr, te, ratio


@check("cooccurrence", "15", "Generalisation (Thm 3.3): test loss on unseen random words tracks the training loss "
       "within a constant factor", "P")
def c15(ctx: Context) -> Result:
    K = th.GENERALISATION_FACTOR
    runs = tr_runs(ctx)
    meas, worst, rise = {}, 0.0, -np.inf
    for m, out in runs.items():
        tr, te, ratio = _generalisation(out)
        meas[f"m={m}: test/train in Phase 2 min..max"] = [float(ratio.min()), float(ratio.max())]
        meas[f"m={m}: final train, test (median)"] = [float(np.median(tr[:, -1])), float(np.median(te[:, -1]))]
        worst = max(worst, float(ratio.max()))
        rise = max(rise, float((te[:, -1] - te[:, 0]).max()))
    gate = all_of(at_most("max test/train at the Phase-2 records", worst, K,
                          why="random words add O(1) (read: 1) to F, theory.GENERALISATION_FACTOR = e"),
                  at_most("test loss at the end - at init (max over runs)", rise, 0.0, why="the test loss decreases"))
    out0 = next(iter(runs.values()))
    return Result(
        predicted={"test/train": f"<= e = {K:.4g} (random words add O(1) to F)",
                   "both": "-> 1/poly(m) at T* (not reached here: check 15-long)"},
        measured=meas, **gate.result_fields(),
        setting=_setting(ctx) + "; test set: 60 fresh samples, random words never seen in training",
        seeds=tr_plan(ctx)["seeds"],
        notes="T* (loss 1/poly(m)) needs tau ~ 400-700 at m = 64; the runs stop at tau = 60 (loss ~0.1): check 15-long.",
        assumptions=_meters(runs) + [_window_meter(runs), A.horizon(
            bool(np.all(_a(out0, "loss")[:, -1] <= th.t_star_loss(out0.info["m"]))), "T* (L_hat <= 1/m)",
            f"L_hat(tau_end) = {float(np.median(_a(out0, 'loss')[:, -1])):.3g} at m = {out0.info['m']}", "Thm 3.3 / F.20")],
        sources={"test/train": "theory.GENERALISATION_FACTOR (Thm 3.3: random words add O(1) to F)",
                 "both": "Thm 3.3 / F.20"},
    )


@check("cooccurrence", "15-long", "Generalisation at T* (Thm 3.3): at T*, the first time L_hat <= 1/poly(m) (read: 1/m), "
       "the test loss on unseen random words is also O(1/poly(m)): L(T*) <= e L_hat(T*) (random words add O(1) to F)",
       "P")
def c15_long(ctx: Context) -> Result:
    K = th.GENERALISATION_FACTOR
    plan = long_plan(ctx)
    path = long_path(ctx)
    ns = sorted(path)
    m = plan["m"]
    level = th.t_star_loss(m)
    meas, ratios, reached = {}, [], True
    for n in ns:
        out = path[n]
        tau = out.arrays["tau"][0]
        tr, te, gr = _a(out, "loss"), _a(out, "test_loss"), _a(out, "g_random_signed")
        ks = [ms_.first_below(tr[s], level) for s in range(tr.shape[0])]
        reached &= all(k >= 0 for k in ks)
        r = np.array([te[s, k] / tr[s, k] if k >= 0 else np.nan for s, k in enumerate(ks)])
        ratios.append(r)
        meas[f"n={n}: tau* (first L_hat <= 1/m), per seed"] = np.array([tau[k] if k >= 0 else np.nan for k in ks])
        meas[f"n={n}: L(T*)/L_hat(T*), per seed"] = r
        meas[f"n={n}: mean y G(training random word) at T* (median)"] = float(np.nanmedian(
            [gr[s, k] if k >= 0 else np.nan for s, k in enumerate(ks)]))
    base = path[ns[0]]
    tr0, te0 = _a(base, "loss"), _a(base, "test_loss")
    tau0 = base.arrays["tau"][0]
    meas[f"n={ns[0]}: test/train at tau={tau0[-1]:g} (after T*; median)"] = float(np.median(te0[:, -1] / tr0[:, -1]))
    meas[f"n={ns[0]}: final train, test loss (median)"] = [float(np.median(tr0[:, -1])), float(np.median(te0[:, -1]))]
    rise = float(np.max(np.diff(te0, axis=1)))
    gate = all_of(
        at_most(f"max over seeds of L(T*)/L_hat(T*) at n={ns[0]}", float(np.max(ratios[0])), K,
                why="Thm 3.3 at T*: random words add O(1) (read: 1) to F, theory.GENERALISATION_FACTOR = e"),
        at_most(f"largest rise of the test loss between records (n={ns[0]})", rise, 0.0, why="the test loss decreases"))
    regime = trend("n", ns, [np.log(r) - np.log(K) for r in ratios], why=(
        "violation ln(L(T*)/L_hat(T*)) - 1 (the random words' share of the training margins at T*); Condition 1 "
        "(n >= Omega~(L^2)): each distinct training random word gets a gradient ~1/n (Lemma E.6, F.14)"))
    L = base.info["L"]
    return Result(
        predicted={"L(T*)/L_hat(T*)": f"<= e = {K:.4g}", "T*": f"first record with L_hat <= 1/m = {level:.4g}",
                   "violation along n": "shrinks to <= 0 (n >= Omega~(L^2))", "test loss": "decreases"},
        measured=meas, **gate.result_fields(),
        setting=(f"TR at m={m}, gradient flow (Tsit5, rtol 1e-6) to tau={plan['tau_end']:g}, records every "
                 f"{plan['record_every'] * plan['eta_tau']:g} tau, n in {list(ns)}, {plan['seeds']} seeds; test set: "
                 "60 fresh samples with unseen random words"),
        seeds=plan["seeds"],
        assumptions=A.setting(base.info, init_output_max(list(path.values()))) + [
            A.horizon(reached, "T* (L_hat <= 1/m) in every run", f"tau_end = {plan['tau_end']:g}", "Thm 3.3 / F.20"),
            A.n_samples(ns[-1], L, where="end of the n path")],
        regime=regime,
        sources={"L(T*)/L_hat(T*)": "theory.GENERALISATION_FACTOR (Thm 3.3: random words add O(1) to F)",
                 "T*": "theory.t_star_loss (Thm F.20 / 3.3: L_hat(T*) = Theta(1/poly(m)), poly(m) read as m)"},
        notes=("The training random words acquire y G > 0 (memorisation of the n(L-7/3) distinct words, each with a "
               "gradient ~1/n), so the training margins exceed the test margins by their sum and L(T*)/L_hat(T*) ~ "
               "exp(that sum). At fixed n the ratio keeps growing after T* (the theorem speaks of T* only); at T* it "
               "falls with n."),
    )


@check("cooccurrence", "15-FIG", "Generalisation in the paper's own setting (random words repeat in training)", "C",
       expected="fail",
       why_fail=("FIG violates Assumption 2.3(ii): training random words repeat (nL = 300 > d = 64), so the model can "
                 "fit them, and Thm 3.3's argument (random words add O(1) to F) does not apply to unseen words."))
def c15_fig(ctx: Context) -> Result:
    K = th.GENERALISATION_FACTOR
    out = fig_run(ctx)
    tr, te, ratio = _generalisation(out)
    gate = at_most("max test/train at the Phase-2 records", float(ratio.max()), K, why="as check 15")
    return Result(
        predicted={"test/train": f"<= e = {K:.4g} (as check 15)"},
        measured={"test/train in Phase 2 min..max": [float(ratio.min()), float(ratio.max())],
                  "final train, test (median)": [float(np.median(tr[:, -1])), float(np.median(te[:, -1]))]},
        **gate.result_fields(), setting="FIG (see check 8-FIG); test words never seen in training",
        seeds=out.arrays["loss"].shape[1],
        assumptions=_fig_meters(out),
        sources={"test/train": "theory.GENERALISATION_FACTOR (Thm 3.3)"},
    )
