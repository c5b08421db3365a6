"""Scan and Snap checks that simulate: S1, S3-S7, S10, S12, S13 (spec §6).

Population-mode (P) checks run plain GD in float64 through the engine's sweep; the setting is
deterministic (zero init, exact T -> inf loss), so one seed is the measurement. Code-faithful (C)
checks use the sampled generator with seeds. Every prediction comes from
`scanflow.papers.scan_snap.theory`.
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.scan_snap.checks.common import POP, plt, sweep
from scanflow.papers.scan_snap.data import official_layout
from scanflow.papers.scan_snap import theory
from scanflow.verify import Context, Result, all_of, at_least, at_most, check, close

DISJOINT = ["data.num_common=0"]  # Syn-Small without common tokens: K = 2, M = 24, disjoint supports


# ----------------------------------------------------------------------------- S1


@check("scan-snap", "S1", "Lemma 5: exact decoder recursion h*(s) (margin M h*, alpha_nn)", "P")
def s1(ctx: Context) -> Result:
    steps = ctx.pick(60, 20)
    eta_Y = 1.0
    out = sweep(POP, *DISJOINT, f"train.steps={steps}", f"sweep.lr.Y=[{eta_Y}]", "sweep.lr.Z=[1.0]")
    M, K = out.info["M"], out.info["K"]
    h = theory.h_star(steps, M, eta_Y / K)  # per-class step eta_Y / K under the mean loss
    tgt = out.arrays["logit_target"][0, 0]  # (records, K)
    hi, lo = out.arrays["logit_other_max"][0, 0], out.arrays["logit_other_min"][0, 0]
    alpha = out.arrays["alpha_target"][0, 0]
    pred_t, pred_o = (M - 1) * h[:, None], -h[:, None]
    pred_a = np.exp(M * h) / ((M - 1) + np.exp(M * h))
    s = slice(1, None)  # h*(0) = 0: relative errors from s = 1 on
    err = {
        "target logit": np.max(np.abs(tgt[s] / pred_t[s] - 1)),
        "other logits": max(np.max(np.abs(hi[s] / pred_o[s] - 1)), np.max(np.abs(lo[s] / pred_o[s] - 1))),
        "alpha_nn": np.max(np.abs(alpha[s] / pred_a[s, None] - 1)),
    }
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps_r = np.arange(steps + 1)
    ax.plot(steps_r, M * h, "k-", label="theory M h*(s)")
    ax.plot(steps_r, tgt[:, 0] - hi[:, 0], "o", ms=3, label="measured margin, class 1")
    ax.set_xlabel("GD step s")
    ax.set_ylabel("margin")
    ax.legend()
    ax.set_title(f"S1: M={M}, K={K}, per-class eta={eta_Y / K:g}")
    return Result(
        predicted={"margin M h*(s_final)": M * h[-1], "alpha_nn(s_final)": pred_a[-1]},
        measured={"margin (final)": float(tgt[-1, 0] - hi[-1, 0]), **{f"max rel err {k}": v for k, v in err.items()}},
        **all_of(*(at_most(f"max relative error of {k}", v, 1e-10,
                           why="float64 rounding accumulates ~1e-15 per step") for k, v in err.items())).result_fields(),
        setting=f"(P) disjoint supports, no common tokens, M={M}, K={K}, Y(0)=Z(0)=0, GD eta_Y={eta_Y}, {steps} steps, fp64",
        figure=ctx.save_figure(fig, "S1_hstar.png"),
    )


# ----------------------------------------------------------------------------- S3


@check("scan-snap", "S3", "Eq. 10: without overlap (f_n^T f_n' = 0) attention never learns", "P")
def s3(ctx: Context) -> Result:
    steps = ctx.pick(50, 10)
    base = [*DISJOINT, f"train.steps={steps}", "sweep.lr.Y=[1.0, 10.0]", "sweep.lr.Z=[1.0, 10.0]", "sweep.seeds=3"]
    out = sweep(POP, *base, "model.init_scale_Y=0.0", "model.init_scale_Z=0.5")
    gz = float(np.max(out.arrays["grad_norm_Z"]))
    dz = float(np.max(np.abs(out.arrays["z"] - out.arrays["z"][:, :, :1])))
    # contrast: a random Y init leaves span{f_n w^T}, and then Z does move (the proof's assumption)
    ctrl = sweep(POP, *base, "model.init_scale_Y=0.5", "model.init_scale_Z=0.5")
    gz_ctrl = float(np.max(ctrl.arrays["grad_norm_Z"]))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    t = out.coords["record"]
    ax.semilogy(t, np.maximum(out.arrays["grad_norm_Z"][0, 0], 1e-300), label="Y(0)=0 (claim)")
    ax.semilogy(t, ctrl.arrays["grad_norm_Z"][0, 0], label="Y(0) random (control)")
    ax.set_xlabel("step")
    ax.set_ylabel("||dL/dZ||_F")
    ax.legend()
    ax.set_title("S3: disjoint supports")
    return Result(
        predicted={"max ||dL/dZ||": 0.0, "max |z(t) - z(0)|": 0.0},
        measured={"max ||dL/dZ||": gz, "max |z(t) - z(0)|": dz, "control ||dL/dZ|| (random Y)": gz_ctrl},
        **all_of(at_most("max ||dL/dZ||", gz, 1e-14, why="fp64 machine precision on O(1) quantities"),
                 at_most("max |z(t) - z(0)|", dz, 1e-14),
                 at_least("control ||dL/dZ|| (random Y(0))", gz_ctrl, 1e-3, why="the check can fail")).result_fields(),
        setting=f"(P) disjoint supports, Y(0)=0, Z(0)~U(+-0.5), eta_Y, eta_Z in {{1, 10}}, {steps} steps, 3 seeds",
        notes="The proof needs Y in span{f_n w^T}: the control run with random Y(0) shows Z does move then.",
        figure=ctx.save_figure(fig, "S3_no_overlap.png"),
        seeds=3,
    )


# ----------------------------------------------------------------------------- S4


@check("scan-snap", "S4", "Thm 2/3 at t=0: first Z update ratio (P(l|n)/P(l'|n))^2; distinct up, common down", "P")
def s4(ctx: Context) -> Result:
    out = sweep(POP, "train.steps=3", "sweep.lr.Y=[1.0, 10.0]", "sweep.lr.Z=[1.0]")
    spec = official_layout()
    dz = out.arrays["z"][:, 0, 2] - out.arrays["z"][:, 0, 1]  # (P, K, M): the first nonzero Z move
    moved_at_1 = float(np.max(np.abs(out.arrays["z"][:, 0, 1])))
    errs, signs_ok = [], True
    pred_ratio = None
    for n in range(spec.K):
        dist = np.nonzero(spec.distinct_KxM[n])[0]
        ref = dist[-1]  # highest-P distinct token
        pred_ratio = theory.first_update_ratio(spec.probs_KxM[n, dist], spec.probs_KxM[n, ref])
        meas = dz[:, n, dist] / dz[:, n, ref][:, None]
        errs.append(np.max(np.abs(meas / pred_ratio - 1)))
        signs_ok &= bool((dz[:, n, dist] > 0).all() and (dz[:, n, :10] < 0).all())
    err = float(max(errs))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(pred_ratio, dz[0, spec.K - 1, dist] / dz[0, spec.K - 1, ref], "o", label="measured")
    ax.plot([0, 1], [0, 1], "k--", label="(P/P_max)^2")
    ax.set_xlabel("predicted ratio (P_l / P_l0)^2")
    ax.set_ylabel("measured dz_l / dz_l0")
    ax.legend()
    ax.set_title("S4: first attention move (step 2)")
    return Result(
        predicted={"dz_l/dz_l0": "(P_l/P_l0)^2", "sign distinct": "+", "sign common": "-", "z after step 1": 0.0},
        measured={"max rel err of ratio": err, "signs as predicted": signs_ok, "max |z| after step 1": moved_at_1},
        tolerance="relative error < 1e-10 (exact identity, fp64)",
        passed=err < 1e-10 and signs_ok and moved_at_1 == 0.0,
        setting="(P) Syn-Small, Y(0)=Z(0)=0, GD, eta_Z=1, eta_Y in {1, 10}, fp64",
        figure=ctx.save_figure(fig, "S4_first_move.png"),
    )


# ----------------------------------------------------------------------------- S5


@check("scan-snap", "S5", "Thm 2, Cor 2, Thm 3: fates (distinct up, common down), no rank crossing, no one-hot", "P")
def s5(ctx: Context) -> Result:
    steps = ctx.pick(300, 60)
    out = sweep(POP, f"train.steps={steps}", "sweep.lr.Y=[1.0, 10.0]", "sweep.lr.Z=[1.0]")
    spec = official_layout()
    z = out.arrays["z"][:, 0]  # (P, R, K, M)
    c = out.arrays["attn"][:, 0]
    dzt = np.diff(z[:, 1:], axis=1)  # from step 1 on (step 0 -> 1 moves only Y)
    ok = {"distinct increase": True, "common decrease": True, "no rank crossing": True}
    for n in range(spec.K):
        dist = np.nonzero(spec.distinct_KxM[n])[0]  # ordered by P (linspace weights)
        ok["distinct increase"] &= bool((dzt[..., n, dist] > 0).all())
        ok["common decrease"] &= bool((dzt[..., n, :10] < 0).all())
        ok["no rank crossing"] &= bool((np.diff(z[:, 2:, n][..., dist], axis=-1) > 0).all())
    max_c = float(c.max())
    measured = {k: v for k, v in ok.items()}
    measured["max c (any step)"] = max_c
    for p, eta in enumerate(out.arrays["lr_Y"]):
        dist0 = np.nonzero(spec.distinct_KxM[0])[0]
        measured[f"eta_Y={eta:g}: z_top, z_low, z_common"] = [
            z[p, -1, 0, dist0[-1]], z[p, -1, 0, dist0[0]], z[p, -1, 0, :10].mean()
        ]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    t = out.coords["record"]
    dist0 = np.nonzero(spec.distinct_KxM[0])[0]
    for l in dist0:
        ax.plot(t, z[0, :, 0, l], color=plt.cm.viridis(spec.probs_KxM[0, l] / spec.probs_KxM[0].max()), lw=1)
    ax.plot(t, z[0, :, 0, 0], "r--", label="common token")
    ax.set_xlabel("step")
    ax.set_ylabel("z_ml (class 1 query)")
    ax.set_title("S5: distinct logits (colour = P) and a common logit")
    ax.legend()
    return Result(
        predicted={"distinct increase": True, "common decrease": True, "no rank crossing": True, "max c <": 0.5},
        measured=measured,
        tolerance="every step, every class, both learning-rate ratios (exact signs); max c < 0.5",
        passed=all(ok.values()) and max_c < 0.5,
        setting=f"(P) Syn-Small, zero init, GD, eta_Z=1, eta_Y in {{1, 10}}, {steps} steps, fp64",
        notes="Spec [calib] at t=300, eta 1/1: z_top=0.557, z_low=0.0103, z_common=-0.279, max c=0.11 "
        "(eta_Y=10: 0.394, 0.0038, -0.150, 0.096).",
        figure=ctx.save_figure(fig, "S5_fates.png"),
    )


# ----------------------------------------------------------------------------- S6


@check("scan-snap", "S6", "Thm 3: relative gain r(t) = r(0) chi_l0(t), exact as eta_Y/eta_Z -> inf", "P")
def s6(ctx: Context) -> Result:
    steps = ctx.pick(300, 100)
    ratios = [1.0, 10.0, 30.0, 100.0]
    out = sweep(POP, f"train.steps={steps}", "sweep.lr.Z=[1.0]", f"sweep.lr.Y={ratios}")
    spec = official_layout()
    dev = []
    for p in range(len(ratios)):
        worst = 0.0
        for n in range(spec.K):
            dist = np.nonzero(spec.distinct_KxM[n])[0]
            l0, rest = dist[-1], dist[:-1]
            P = spec.probs_KxM[n]
            c = out.arrays["attn"][p, 0, -1, n]
            chi = np.exp(2 * (out.arrays["z"][p, 0, -1, n, l0] - out.arrays["z"][p, 0, 0, n, l0]))
            r0 = (P[l0] / P[rest]) ** 2 - 1
            pred = theory.relative_gain(r0, chi)  # r(t) = r(0) chi
            meas = (c[l0] / c[rest]) ** 2 - 1
            worst = max(worst, float(np.max(np.abs(meas / pred - 1))))
        dev.append(worst)
    lim = {10.0: 0.20, 30.0: 0.05, 100.0: 0.05}
    passed = all(d <= lim[r] for r, d in zip(ratios, dev) if r in lim) and dev[-1] < dev[0]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(ratios, dev, "o-", label="measured max |R_l/chi - 1|")
    ax.set_xlabel("eta_Y / eta_Z")
    ax.set_ylabel("deviation from r = r(0) chi")
    ax.set_title("S6: Theorem 3 identity")
    ax.legend()
    return Result(
        predicted={"R_l / chi - 1": 0.0, "trend": "-> 0 as ratio grows"},
        measured={f"ratio {r:g}": d for r, d in zip(ratios, dev)},
        tolerance="<= 20% at ratio 10 and <= 5% at ratio >= 30 (spec pass rule: the identity is exact only "
        "within Eq. 10, i.e. as eta_Y/eta_Z -> inf); the deviation must shrink with the ratio",
        passed=passed,
        setting=f"(P) Syn-Small, zero init, GD, eta_Z=1, eta_Y = ratio, {steps} steps, fp64",
        notes="Spec [calib] deviations: 0.52, 0.16, 0.03, 0.004 for ratios 1, 10, 30, 100.",
        figure=ctx.save_figure(fig, "S6_relative_gain.png"),
    )


# ----------------------------------------------------------------------------- S7

S7_CASES = [  # (K, extra padding, eta_Y): M = 1 common + 10K distinct + 1 query + K next + padding
    (2, 0, (1.0, 0.5)),
    (4, 0, (1.0,)),
    (2, 100, (1.0,)),
    (8, 0, (1.0,)),
    (4, 200, (0.5,)),
]


def _s7_layout(K: int, pad: int) -> list[str]:
    return [
        "data.num_last=1",
        f"data.num_next_per_last={K}",
        "data.num_common=1",
        "data.common_weight=0.1",
        "data.num_unique=10",
        f"data.num_padding={pad}",
    ]


def _peak_times(out) -> np.ndarray:
    """Snap time per point: argmax over records of ||dL/dZ||_F (records every step)."""
    g = out.arrays["grad_norm_Z"][:, 0]
    return out.coords["record"][np.argmax(g, axis=-1)]


@check("scan-snap", "S7", "Thm 1b/4: snap time (peak of ||dL/dZ||) = gamma-peak time ~ K ln M/eta_Y", "P")
def s7(ctx: Context) -> Result:
    cases = S7_CASES[:2] if ctx.quick else S7_CASES
    rows, worst = {}, 0.0
    fig, ax = plt.subplots(figsize=(5, 4))
    for K, pad, etas in cases:
        eta_Zs = [e * f for e in etas for f in (1e-4, 1e-2, 1.0)]
        layout = _s7_layout(K, pad)
        M = official_layout(num_last=1, num_next_per_last=K, num_common=1, num_unique=10, num_padding=pad).M
        t_pred_max = max(theory.gamma_peak_time(K, M, e) for e in etas)
        steps = int(np.ceil(3 * t_pred_max))
        out = sweep(POP, *layout, f"train.steps={steps}", f"sweep.lr.Y={list(etas)}", f"sweep.lr.Z={sorted(set(eta_Zs))}")
        peaks = _peak_times(out)
        for p in range(len(peaks)):
            eY, eZ = float(out.arrays["lr_Y"][p]), float(out.arrays["lr_Z"][p])
            if not any(np.isclose(eZ / eY, f) for f in (1e-4, 1e-2, 1.0)):
                continue
            pred = theory.gamma_peak_time(K, M, eY)
            rel = abs(peaks[p] - pred) / pred
            worst = max(worst, rel)
            rows[f"K={K} M={M} eta_Y={eY:g} eta_Z/eta_Y={eZ / eY:g}"] = f"{peaks[p]} / {pred:.1f}"
            ax.plot(pred, peaks[p], "o", color=plt.cm.tab10(K % 10))
    lim = max(float(v.split("/")[1]) for v in rows.values()) * 1.2
    ax.plot([0, lim], [0, lim], "k--", lw=1)
    ax.set_xlabel("predicted gamma-peak time")
    ax.set_ylabel("measured argmax ||dL/dZ||")
    ax.set_title("S7: snap time (colour = K)")
    return Result(
        predicted={"t_peak": "K(e^x* + (M-1)x* - 1)/(M eta_Y), e^x*(x*-1) = M-1"},
        measured={"measured / predicted": rows, "max relative error": worst},
        **at_most("max relative error over every case and eta_Z/eta_Y in {1e-4, 1e-2, 1}", worst, 0.10,
                  why="spec S7; records every step, so the +-0.5-step discretisation is < 10% once t_peak > 5"
                  ).result_fields(),
        setting="(P) one shared query, K classes x 10 distinct tokens (linspace), one common token of weight 0.1, "
        "padding tokens to raise M, zero init, GD, fp64",
        notes="Spec [calib] (K, M, eta_Y) -> measured/predicted: (2,24,1) 6/6.1; (2,24,.5) 12/12.3; (4,46,1) 14/13.8; "
        "(2,124,1) 8/8.2; (8,90,1) 31/31.1; (4,246,.5) 37/36.7.",
        figure=ctx.save_figure(fig, "S7_snap_time.png"),
    )


@check(
    "scan-snap",
    "S7-overlap",
    "Thm 1b/4 snap timing under strong overlap (Syn-Small)",
    "P",
    expected="fail",
    why_fail="Theorem 1 assumes weak correlation (A2: M >> K^2, small f_n^T f_n'); Syn-Small's two classes share 10 "
    "common tokens (f^T f' ~ 0.5), so the decoder does not decouple and the peak comes later (spec: 17 vs 6.5).",
)
def s7_overlap(ctx: Context) -> Result:
    out = sweep(POP, "train.steps=60", "sweep.lr.Y=[1.0]", "sweep.lr.Z=[0.01]")
    pred = theory.gamma_peak_time(2, 34, 1.0)
    meas = float(_peak_times(out)[0])
    return Result(
        predicted={"t_peak": pred},
        measured={"argmax ||dL/dZ||": meas, "relative error": abs(meas - pred) / pred},
        **close("argmax ||dL/dZ||", meas, pred, rtol=0.10, why="as S7").result_fields(),
        setting="(P) Syn-Small (K=2, M=34, 10 shared common tokens), zero init, GD, eta_Y=1, eta_Z=0.01, fp64",
    )


# ----------------------------------------------------------------------------- S10


S10_K, S10_ETA_Y, S10_ETA_Z = 4, 1.0, 0.1


def _s10_run(ctx: Context):
    """One query, K = 4, one common token of weight 1, 10 distinct tokens, M = 46, GD (spec S10)."""
    steps = ctx.pick(5000, 500)
    K = S10_K
    layout = ["data.num_last=1", f"data.num_next_per_last={K}", "data.num_common=1", "data.common_weight=1.0"]
    out = sweep(POP, *layout, f"train.steps={steps}", "train.record_every=1", "train.record_attention=true",
                f"sweep.lr.Y=[{S10_ETA_Y}]", f"sweep.lr.Z=[{S10_ETA_Z}]")
    spec = official_layout(num_last=1, num_next_per_last=K, num_common=1)
    t = out.coords["record"].astype(float)
    zc = out.arrays["z"][0, 0, :, 0, 0]  # the one common token, row of the shared query
    Pn = spec.probs_KxM[0]
    C0 = (np.linalg.norm(Pn) / Pn[0]) ** 4 / K
    setting = (f"(P) one query, K={K}, one common token (weight 1), 10 distinct, M={spec.M}, GD, "
               f"eta_Y={S10_ETA_Y}, eta_Z={S10_ETA_Z}, {steps} steps recorded every step, fp64")
    return t, zc, spec.M, C0, setting


@check("scan-snap", "S10", "Thm 4 snap law in the full model: z_c ~ -1/2 ln ln t after t0 (per-decade decrements)", "P")
def s10(ctx: Context) -> Result:
    t, zc, M, C0, setting = _s10_run(ctx)
    K, eY, eZ = S10_K, S10_ETA_Y, S10_ETA_Z
    T3 = [T for T in (50.0, 500.0, 5000.0) if T <= t[-1]]
    z3 = [float(zc[int(T)]) for T in T3]
    measured = {"z_c at t=" + ",".join(f"{T:g}" for T in T3): z3}
    predicted = {"t0 (exact x0)": float(theory.t0(K, M, eY))}
    passed = all(np.diff(z3) < 0)
    notes = "Spec [calib]: z_c = -.117, -.237, -.327 at t = 50, 500, 5000; per-decade ratio 0.75 (the law gives 0.76)."
    if len(T3) == 3:
        d_meas = (z3[2] - z3[1]) / (z3[1] - z3[0])
        Ba = theory.B_asymptotic(np.array(T3), K, M, eY, eZ)
        Bc = theory.B(np.array(T3), K, M, eY, eZ, C0)
        d_lnln = float((Ba[2] - Ba[1]) / (Ba[1] - Ba[0]))
        d_closed = float((Bc[2] - Bc[1]) / (Bc[1] - Bc[0]))
        measured["per-decade decrement ratio"] = d_meas
        predicted["per-decade ratio, -1/2 ln ln t law"] = d_lnln
        predicted["(not gated) reduced closed form 1/4 ln(1 + 4 Gamma/C0)"] = d_closed
        predicted["(not gated) ln t growth"] = 1.0
        passed = passed and abs(d_meas - d_lnln) <= 0.1 and d_meas < 0.9
        notes += (f" The reduced closed form with the spec's C0 = (||P_n||/P_c)^4/K = {C0:.2f} gives {d_closed:.2f} "
                  f"at these t: further from the measurement than the asymptotic law.")
    else:
        notes += " Quick mode stops at t = 500, so only the sign of the decrements is gated."
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogx(t[1:], zc[1:], "-", label="measured z_c")
    t0 = float(theory.t0(K, M, eY))
    tt = t[t >= t0]
    if len(tt) > 2:  # the law holds up to its (1+o(1)) prefactor: fit amplitude and offset after t0
        law = -theory.B_asymptotic(tt, K, M, eY, eZ)
        a, b = np.polyfit(law, zc[t >= t0], 1)
        ax.semilogx(tt, a * law + b, "r--", label=f"a(-1/2 ln ln t) + b, fitted a = {a:.2f}")
        measured["fitted amplitude a of the law after t0 (not gated; 1+o(1))"] = float(a)
    ax.axvline(t0, color="gray", ls=":", label="t0")
    ax.set_xlabel("step")
    ax.set_ylabel("common-token logit z_c")
    ax.legend(fontsize=8)
    ax.set_title(f"S10: K={K}, M={M}")
    return Result(
        predicted=predicted, measured=measured,
        tolerance="per-decade decrement ratio within 0.1 of the -1/2 ln ln law (seed-free, fp64; 0.1 separates it "
        "from the ln t law's 1.0 by > 2 tolerances) and below 0.9; quick mode: decrements negative",
        passed=bool(passed), setting=setting, notes=notes, figure=ctx.save_figure(fig, "S10_lnln_law.png"),
    )


@check("scan-snap", "S10-prop",
       "Thm 4 exact integration in the full model: (e^{-4z_c} - 1)/(4 Gamma/C0) constant (x2) while 4 Gamma/C0 varies x120",
       "P")
def s10_prop(ctx: Context) -> Result:
    t, zc, M, C0, setting = _s10_run(ctx)
    K, eY, eZ = S10_K, S10_ETA_Y, S10_ETA_Z
    x = 4 * theory.Gamma(t, K, M, eY, eZ) / C0
    win = x >= x[-1] / 120  # the last x120 range of 4 Gamma/C0 (spec S10)
    ratio = (np.exp(-4 * zc[win]) - 1) / x[win]
    after = t >= theory.t0(K, M, eY)
    r_after = (np.exp(-4 * zc[after]) - 1) / x[after]
    spread = float(ratio.max() / ratio.min())
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogx(x[1:], (np.exp(-4 * zc[1:]) - 1) / x[1:], "-")
    ax.axvline(x[win][0], color="gray", ls=":", label="start of the x120 window")
    ax.axvline(float(4 * theory.Gamma(theory.t0(K, M, eY), K, M, eY, eZ) / C0), color="r", ls=":", label="t0")
    ax.set_xlabel("4 Gamma(t)/C0")
    ax.set_ylabel("(e^{-4 z_c} - 1) / (4 Gamma/C0)")
    ax.legend(fontsize=8)
    ax.set_title("S10-prop: proportionality constant")
    return Result(
        predicted={"max/min of the ratio": "< 2 (constant; its value C0 is not identifiable)"},
        measured={"max/min over the x120 window": spread, "ratio min..max": [ratio.min(), ratio.max()],
                  "window starts at t": float(t[win][0]), "4 Gamma/C0 varies by": float(x[win][-1] / x[win][0]),
                  "max/min for t >= t0 only": float(r_after.max() / r_after.min()) if after.any() else float("nan")},
        **at_most("max/min of the ratio over a x120 range of 4 Gamma/C0", spread, 2.0,
                  why="spec S10; the constant itself is not predicted").result_fields(),
        setting=setting,
        notes="Finding: the ratio keeps rising through the scan phase (t < t0): over the last x120 range of "
        "4 Gamma/C0 it varies by more than the factor 2 the spec expects (spec [calib]: 0.10 -> 0.17), although it is "
        "within ~1.3 after t0. The reduced ODE's normaliser-constant assumption holds only after the snap.",
        figure=ctx.save_figure(fig, "S10_proportionality.png"),
    )


# ----------------------------------------------------------------------------- S12


@check("scan-snap", "S12", "Fig 4 (C): loss ln M -> ~2 orders down in ~10 its; c_n freezes; eta_Y=10 less sparse", "C")
def s12(ctx: Context) -> Result:
    from pathlib import Path

    from scanflow.engine.config import load_config
    from scanflow.engine.sweep import run_sweep

    root = Path(__file__).resolve().parents[4]
    seeds = ctx.seeds(8, 3)
    cfg = load_config(root / "configs" / "scan_snap_small.yaml", [f"sweep.seeds={seeds}"])
    out = run_sweep(cfg)
    M, spec = out.info["M"], official_layout()
    loss = out.arrays["loss"]  # (2 points, seeds, records); records every 2 steps
    t = out.coords["record"]
    i10 = int(np.nonzero(t == 10)[0][0])
    orders = np.log10(loss[:, :, 0] / loss[:, :, i10])  # (P, S)
    c = out.arrays["attn"]  # (P, S, R, K, M)
    change = np.abs(np.diff(c, axis=2)).sum(axis=(-1, -2))  # L1 change of c per record interval (P, S, R-1)
    # freeze iteration: after it, the change per interval stays below 1/10 of its peak
    above = change >= 0.1 * change.max(-1, keepdims=True)
    last_above = (above.shape[-1] - 1) - np.argmax(above[..., ::-1], axis=-1)
    freeze_it = t[last_above + 1]  # (P, S)
    common = c[:, :, -1][..., :10].sum(-1).mean(-1)  # final common mass, mean over classes
    top = np.stack([c[:, :, -1, n, np.nonzero(spec.distinct_KxM[n])[0]].max(-1) for n in range(spec.K)], -1).mean(-1)
    denser = bool((common[1] > common[0]).all() and (top[1] < top[0]).all())  # paired over seeds
    passed = (
        np.allclose(loss[:, :, 0], np.log(M), rtol=1e-6)
        and orders.min() >= 1.5
        and freeze_it.max() <= 60
        and denser
    )
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for p, eta in enumerate(out.arrays["lr_Y"]):
        ax.semilogy(t, np.median(loss[p], 0), label=f"eta_Y={eta:g}")
    ax.axvline(10, color="gray", ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("population loss (seed median)")
    ax.legend()
    ax.set_title("S12: Syn-Small, SGD momentum 0.9")
    return Result(
        predicted={"loss(0) = ln M": np.log(M), "orders of magnitude by it. 10": "~2", "freeze iteration": "~40",
                   "eta_Y=10 vs 1": "more common mass, lower top distinct weight"},
        measured={"loss(0)": float(loss[:, :, 0].mean()), "orders by it. 10 (min over runs)": float(orders.min()),
                  "orders by it. 10 (median, eta_Y=1, 10)": np.median(orders, 1),
                  "freeze iteration (median, eta_Y=1, 10)": np.median(freeze_it, 1),
                  "freeze iteration (max over runs)": int(freeze_it.max()),
                  "common mass (eta_Y=1, 10)": common.mean(1), "top distinct c (eta_Y=1, 10)": top.mean(1),
                  "eta_Y=10 denser in every seed": denser},
        tolerance="loss(0) = ln M to 1e-6 (exact at zero init); >= 1.5 orders by it. 10 in every run ('~2'); "
        "freeze iteration (the change of c_n per 2 its stays < 1/10 of its peak afterwards, the freeze criterion "
        "of the real-text checks) <= 60 = 1.5 x 40 in every run; denser at eta_Y=10 in every "
        "seed (paired: seeds share data across learning rates)",
        passed=bool(passed),
        setting=f"(C) configs/scan_snap_small.yaml: T=128, batch 128, momentum 0.9, 100 its, {seeds} seeds",
        figure=ctx.save_figure(fig, "S12_fig4_loss.png"),
        seeds=seeds,
    )


# ----------------------------------------------------------------------------- S13


@check("scan-snap", "S13", "Lemmas 2, 18: finite-T concentration and (C) -> (P) gradient at rate T^-1/2", "C")
def s13(ctx: Context) -> Result:
    import jax
    import jax.numpy as jnp

    from scanflow.papers.scan_snap.data import Batch, sample_batch
    from scanflow.papers.scan_snap import model as yz

    spec = official_layout(num_last=1, num_next_per_last=1)  # one class
    Ts = (128, 1024, 8192)
    B, delta = ctx.pick(512, 128), 0.05
    params = yz.init(jax.random.PRNGKey(0), spec.M, 1.0, jnp.float64)
    gz_pop = jax.grad(yz.population_loss)(params, spec)["Z"]
    P = spec.probs_KxM[0]

    def grad_one(counts_M, q, y):  # batch-1 gradient: the theory's SGD sample
        one = Batch(counts_M[None], q[None], y[None])
        return jax.grad(yz.loss)(params, one)["Z"]

    per_seq = jax.jit(jax.vmap(grad_one))
    frac_ok, seq_err, batch_err, bounds = [], [], [], []
    for T in Ts:
        batch = sample_batch(jax.random.PRNGKey(T), spec, B, T, jnp.float64)
        q = np.asarray(batch.counts_BxM) / (T - 1)
        bound = theory.hoeffding_radius(T, delta)
        bounds.append(float(bound))
        frac_ok.append(float((np.abs(q - P).max(-1) <= bound).mean()))
        g = per_seq(batch.counts_BxM, batch.query_B, batch.label_B)
        seq_err.append(float(jnp.sqrt(jnp.mean(jnp.sum((g - gz_pop[None]) ** 2, axis=(1, 2))))))
        batch_err.append(float(jnp.linalg.norm(g.mean(0) - gz_pop)))
    slope = float(np.polyfit(np.log(Ts), np.log(seq_err), 1)[0])
    bslope = float(np.polyfit(np.log(Ts), np.log(batch_err), 1)[0])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(Ts, seq_err, "o-", label="per sequence (RMS)")
    ax.loglog(Ts, batch_err, "s-", label=f"batch mean (B={B})")
    ax.loglog(Ts, seq_err[0] * (np.array(Ts) / Ts[0]) ** -0.5, "k--", label="T^-1/2")
    ax.set_xlabel("T")
    ax.set_ylabel("||grad_Z (C) - grad_Z (P)||")
    ax.legend()
    ax.set_title("S13: one class")
    return Result(
        predicted={"P(max_l |q-P| <= sqrt(ln(2/d)/(2(T-1))))": f">= {1 - delta}", "per-sequence error slope": -0.5},
        measured={"fraction within bound (T=128, 1024, 8192)": frac_ok, "bound": bounds,
                  "per-sequence RMS error": seq_err, "fitted slope": slope,
                  "batch-mean error": batch_err, "batch-mean slope": bslope},
        **all_of(at_least("min fraction within the Hoeffding bound", min(frac_ok), 1 - delta, why=f"delta = {delta}"),
                 close("per-sequence error slope", slope, -0.5, atol=0.1,
                       why=f"CLT; the RMS over {B} sequences has ~{100 / np.sqrt(2 * B):.0f}% relative noise, i.e. "
                       "< 0.05 on a slope over 1.8 decades")).result_fields(),
        setting=f"(C) generator, one class (Syn-Small weights), {B} sequences per T, random Y, Z ~ U(+-1), fp64",
        notes="The T^-1/2 rate is the per-sequence (batch-1, as in the theory) rate. The batch-mean gradient error "
        "falls faster here because its noise is O((BT)^-1/2) and what remains is the O(1/T) bias of normalising "
        "X^T b; both are shown in the figure.",
        figure=ctx.save_figure(fig, "S13_finite_T.png"),
    )
