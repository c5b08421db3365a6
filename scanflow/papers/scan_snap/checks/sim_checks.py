"""Scan and Snap checks that simulate: S1, S3-S7, S10, S12, S13 (user note docs/papers/scan_snap.md).

Population-mode (P) checks run plain GD in float64 through the engine's sweep; the setting is
deterministic (zero init, exact T -> inf loss), so one seed is the measurement. Code-faithful (C)
checks use the sampled generator with seeds. Every prediction comes from
`scanflow.papers.scan_snap.theory` and names its source (`Result.sources`); every check lists the
assumptions of the result it tests as meters (`scanflow.papers.scan_snap.checks.assumptions`), so a
failure outside them reads OUTSIDE, not FAIL. S6 and S10-prop add a regime path (`trend`).
"""

from __future__ import annotations

import functools

import numpy as np

from scanflow.papers.scan_snap.checks import assumptions as A
from scanflow.papers.scan_snap.checks.common import POP, plt, sweep
from scanflow.papers.scan_snap.data import official_layout
from scanflow.papers.scan_snap import theory
from scanflow.verify import Context, Result, all_of, at_least, at_most, check, close, holds, meter, trend

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
        assumptions=[
            A.disjoint_supports(official_layout(num_common=0), ref=f"{A.PAPER}, Lemma 5 (E = 0: the decoder rows "
                                "decouple exactly)"),
            meter("f frozen: max ||dL/dZ|| over the run", float(np.max(out.arrays["grad_norm_Z"])), "<=", 1e-14,
                  ref=f"{A.PAPER}, Lemma 5 (f fixed; Eq. 10 gives dZ = 0 without overlap)", note="fp64 zero"),
            A.zero_init(Z=False, ref=f"{A.PAPER}, Lemma 5 (Y(0) = 0)"), A.long_sequences("population"),
        ],
        sources={"margin M h*(s_final)": "theory.h_star (Lemma 5), per-class step eta_Y/K",
                 "alpha_nn(s_final)": "e^{M h*}/((M-1) + e^{M h*}) with theory.h_star (Lemma 5)"},
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
        assumptions=[
            A.disjoint_supports(official_layout(num_common=0), ref=f"{A.PAPER}, Eq. 10 / Lemma 4 (f_n^T f_n' = 0)"),
            A.zero_init(Z=False, ref=f"{A.PAPER}, Eq. 10 (Y in span{{f_n w^T}}, e.g. Y(0) = 0; any Z(0))"),
            A.long_sequences("population"),
        ],
        sources={"max ||dL/dZ|| = 0, max |z(t) - z(0)| = 0": "Eq. 10 / Lemma 4: xi_n = 0 without overlap "
                 "(paper text, Sec. 5)"},
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
        assumptions=[A.zero_init(ref=f"{A.PAPER}, Theorems 2-3 at t = 0 (zero init)"), A.long_sequences("population"),
                     A.no_positional_encoding()],
        sources={"dz_l/dz_l0": "theory.first_update_ratio (Thms 2/3 at t = 0: dz_ml ~ c_l f_l ~ P(l|n)^2)",
                 "signs": "Thm 2 (paper text, Sec. 5)", "z after step 1": "Lemma 1: dZ ~ Y = 0 at step 0"},
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
        "(eta_Y=10: 0.394, 0.0038, -0.150, 0.096). Corollary 2 is stated for classes that share one query; here "
        "each class has its own query, so a query row sees one class and the common-token sign follows from the "
        "symmetry alone (Eq. 10). A1c is not met at eta_Y/eta_Z = 1: the fates hold there too.",
        figure=ctx.save_figure(fig, "S5_fates.png"),
        assumptions=[A.zero_init(ref=f"{A.PAPER}, Corollary 2 / Theorem 3 (Z(0) = 0)"),
                     A.symmetric_classes(spec), A.lr_ratio(1.0, "the smaller of {1, 10}"),
                     A.long_sequences("population"), A.no_positional_encoding()],
        sources={"distinct increase, common decrease": "Thm 2, Cor 2 (paper text, Sec. 5)",
                 "no rank crossing": "Thm 3 scan order under zero init (paper text, Sec. 5)",
                 "max c < 0.5": "no winner-takes-all (Sec. 6: B grows like ln ln t); 0.5 = no token holds half"},
    )


# ----------------------------------------------------------------------------- S6


@check("scan-snap", "S6", "Thm 3: relative gain r(t) = r(0) chi_l0(t), exact as eta_Y/eta_Z -> inf", "P")
def s6(ctx: Context) -> Result:
    steps = ctx.pick(300, 100)
    ratios = [1.0, 10.0, 30.0, 100.0]
    out = sweep(POP, f"train.steps={steps}", "sweep.lr.Z=[1.0]", f"sweep.lr.Y={ratios}")
    spec = official_layout()
    dev, r0_min = [], np.inf
    for p in range(len(ratios)):
        worst = 0.0
        for n in range(spec.K):
            dist = np.nonzero(spec.distinct_KxM[n])[0]
            l0, rest = dist[-1], dist[:-1]
            P = spec.probs_KxM[n]
            c = out.arrays["attn"][p, 0, -1, n]
            chi = np.exp(2 * (out.arrays["z"][p, 0, -1, n, l0] - out.arrays["z"][p, 0, 0, n, l0]))
            r0 = (P[l0] / P[rest]) ** 2 - 1
            r0_min = min(r0_min, float(r0.min()))
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
        assumptions=[
            A.lr_ratio(min(r for r in ratios if r in lim), "smallest gated ratio"),
            A.zero_init(ref=f"{A.PAPER}, Theorem 3 (zero init: 1 + r(0) = (P_l/P_l')^2)"),
            holds("a dominant distinct token l0: r_{l0/l}(0) > 0 for every other distinct l", r0_min > 0, "> 0",
                  ref=f"{A.PAPER}, Theorem 3", value=f"min r(0) = {r0_min:.3g}"),
            A.long_sequences("population"),
        ],
        regime=trend("eta_Y/eta_Z", ratios, dev, why="Thm 3 is exact within Eq. 10, i.e. as eta_Y/eta_Z -> inf; "
                     "violation = max_l |R_l/chi - 1| (0: the identity holds exactly); deterministic (one seed)"),
        sources={"R_l / chi - 1 = 0": "theory.relative_gain (Thm 3: r(t) = r(0) chi_l0(t))"},
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
    meters = dict(a2=(-np.inf, None), mk2=np.inf, M=np.inf, eta_Y=-np.inf, eta_low=np.inf, tk2=np.inf, ratio=np.inf)
    fig, ax = plt.subplots(figsize=(5, 4))
    for K, pad, etas in cases:
        eta_Zs = [e * f for e in etas for f in (1e-4, 1e-2, 1.0)]
        layout = _s7_layout(K, pad)
        spec = official_layout(num_last=1, num_next_per_last=K, num_common=1, common_weight=0.1, num_unique=10,
                               num_padding=pad)
        M = spec.M
        lamK = theory.a2_lambda1(spec.probs_KxM) * K
        if lamK > meters["a2"][0]:
            meters["a2"] = (lamK, spec, f"K={K}, M={M}")
        meters["mk2"] = min(meters["mk2"], M / K**2)
        meters["M"] = min(meters["M"], M)
        meters["eta_Y"] = max(meters["eta_Y"], max(etas))
        meters["eta_low"] = min(meters["eta_low"], min(etas) * M**0.99)
        meters["tk2"] = min(meters["tk2"], float(min(theory.gamma_peak_time(K, M, e) for e in etas)) / K**2)
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
            meters["ratio"] = min(meters["ratio"], eY / eZ)
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
        "(2,124,1) 8/8.2; (8,90,1) 31/31.1; (4,246,.5) 37/36.7. Meters are the least favourable case. The timing "
        "holds beyond Theorem 1's stated regime (M >> 100, eta_Y < 1, t >> K^2, eta_Y >> eta_Z are not all met).",
        figure=ctx.save_figure(fig, "S7_snap_time.png"),
        assumptions=[
            A.a2_overlap(meters["a2"][1].probs_KxM, where=f"largest K |lambda_1|: {meters['a2'][2]}"),
            A.a2_vocabulary(meters["mk2"] * 1.0, 1, where="smallest over cases"),
            A.thm1_vocabulary(meters["M"], where="smallest over cases"),
            meter("Thm 1: eta_Y (largest)", meters["eta_Y"], "<", 1, ref=f"{A.PAPER}, Theorem 1 (eta_Y < 1)"),
            meter("Thm 1: eta_Y M^0.99 (smallest)", meters["eta_low"], ">>", 1,
                  ref=f"{A.PAPER}, Theorem 1 (M^-0.99 << eta_Y)"),
            A.thm1_time(meters["tk2"], 1, where="t = predicted peak, smallest over cases"),
            A.lr_ratio(meters["ratio"], "smallest over cases"), A.uniform_classes(),
            A.zero_init(ref=f"{A.PAPER}, Theorem 1 (Y(0) = 0)"), A.long_sequences("population"),
        ],
        sources={"t_peak": "theory.gamma_peak_time (gamma peak of Lemmas 8-9 with the continuous h of Lemma 6)"},
    )


@check(
    "scan-snap",
    "S7-overlap",
    "Thm 1b/4 snap timing under strong overlap (Syn-Small)",
    "P",
    expected="fail",
    why_fail="Theorem 1 assumes weak correlation (Assumption A2: |lambda_1(E)| < 1/K and M >> K^2); Syn-Small's two "
    "classes share 10 common tokens (f_n^T f_n' = 0.72 = |lambda_1(E)| against 1/K = 0.5, M/K^2 = 8.5), so the "
    "decoder does not decouple and the gradient peaks later (17 steps against the predicted 6.6).",
)
def s7_overlap(ctx: Context) -> Result:
    out = sweep(POP, "train.steps=60", "sweep.lr.Y=[1.0]", "sweep.lr.Z=[0.01]")
    spec = official_layout()
    pred = float(theory.gamma_peak_time(spec.K, spec.M, 1.0))
    meas = float(_peak_times(out)[0])
    return Result(
        predicted={"t_peak": pred},
        measured={"argmax ||dL/dZ||": meas, "relative error": abs(meas - pred) / pred},
        **close("argmax ||dL/dZ||", meas, pred, rtol=0.10, why="as S7").result_fields(),
        setting="(P) Syn-Small (K=2, M=34, 10 shared common tokens), zero init, GD, eta_Y=1, eta_Z=0.01, fp64",
        assumptions=[A.a2_overlap(spec.probs_KxM), A.a2_vocabulary(spec.M, spec.K), A.thm1_vocabulary(spec.M),
                     *A.thm1_eta_Y(1.0, spec.M), A.thm1_time(pred, spec.K, where="t = predicted peak"),
                     A.lr_ratio(1.0 / 0.01), A.uniform_classes(), A.zero_init(ref=f"{A.PAPER}, Theorem 1 (Y(0) = 0)"),
                     A.long_sequences("population")],
        sources={"t_peak": "theory.gamma_peak_time (as S7)"},
    )


# ----------------------------------------------------------------------------- S10


S10_K, S10_ETA_Y, S10_ETA_Z = 4, 1.0, 0.1
# The common token's weight: 1 is the S10 setting (user note, S10); 0.5, 0.3, 0.1 move it into A2
# (|lambda_1(E)| < 1/K = 0.25: 0.62, 0.18, 0.069, 0.0078), the regime path of S10-prop.
S10_WEIGHTS = (1.0, 0.5, 0.3, 0.1)
S10_REF = "Tian et al. 2023, Sec. 6 / Theorem 4 (heuristic setting: one common token, one shared query)"


@functools.lru_cache(maxsize=2)
def _s10_path(steps: int) -> dict:
    """One query, K = 4, one common token, 10 distinct tokens, M = 46, GD, every step recorded, for each
    common weight of `S10_WEIGHTS`: one config with a static `data.common_weight` axis (one program per
    weight). Deterministic (zero init, T -> inf), so one seed is the measurement. Cached: S10 and S10-prop
    read the same runs."""
    from scanflow.engine.config import config_from_dict
    from scanflow.engine.run import sweep_parts

    K = S10_K
    cfg = config_from_dict(POP, ["data.num_last=1", f"data.num_next_per_last={K}", "data.num_common=1",
                                 f"data.common_weight={list(S10_WEIGHTS)}", f"train.steps={steps}",
                                 "train.record_every=1", f"sweep.lr.Y=[{S10_ETA_Y}]", f"sweep.lr.Z=[{S10_ETA_Z}]"])
    runs = {}
    for values, _, out in sweep_parts(cfg):
        w = float(values["data.common_weight"])
        spec = official_layout(num_last=1, num_next_per_last=K, num_common=1, common_weight=w)
        # the common token is token 0 and every class reads the one query's row: z_common of class 0 is z_c
        runs[w] = dict(t=out.coords["record"].astype(float), zc=out.arrays["z_common"][0, 0, :, 0], spec=spec,
                       C0=theory.C0_heuristic(spec.probs_KxM[0], 0, K))
    return runs


def _s10_setting(spec, steps: int, w: float) -> str:
    return (f"(P) one query, K={S10_K}, one common token (weight {w:g}), 10 distinct, M={spec.M}, GD, "
            f"eta_Y={S10_ETA_Y}, eta_Z={S10_ETA_Z}, zero init, {steps} steps recorded every step, fp64")


def _s10_meters(spec, t_first: float, what: str) -> list:
    """Theorem 4's assumptions on the S10 setting (its reduced ODE is the Sec. 6 heuristic on top of
    Theorem 1's decoder dynamics), evaluated at the first time the claim is read (`t_first`)."""
    K, M = S10_K, spec.M
    return [
        A.a2_overlap(spec.probs_KxM), A.a2_vocabulary(M, K), A.thm1_vocabulary(M), *A.thm1_eta_Y(S10_ETA_Y, M),
        A.thm1_time(t_first, K, where=what), A.lr_ratio(S10_ETA_Y / S10_ETA_Z), A.single_query(spec, S10_REF),
        A.one_common_token(spec, S10_REF), A.zero_init(ref=S10_REF), A.long_sequences("population"),
        A.no_positional_encoding(),
    ]


def _decrement_ratio(t, zc, T3) -> float:
    z3 = [float(zc[int(T)]) for T in T3]
    return (z3[2] - z3[1]) / (z3[1] - z3[0])


def _closed_decrement_ratio(T3, M, C0) -> float:
    """The per-decade ratio of B = 1/4 ln(1 + 4 Gamma/C0) (theory.B) at the times T3."""
    Bc = theory.B(np.array(T3), S10_K, M, S10_ETA_Y, S10_ETA_Z, C0)
    return float((Bc[2] - Bc[1]) / (Bc[1] - Bc[0]))


@check("scan-snap", "S10", "Thm 4 snap law in the full model: z_c ~ -1/2 ln ln t after t0 (per-decade decrements)", "P")
def s10(ctx: Context) -> Result:
    steps = ctx.pick(5000, 500)
    runs = _s10_path(steps)
    r = runs[1.0]
    t, zc, spec = r["t"], r["zc"], r["spec"]
    K, M, eY, eZ = S10_K, spec.M, S10_ETA_Y, S10_ETA_Z
    C0 = r["C0"]
    T3 = [T for T in (50.0, 500.0, 5000.0) if T <= t[-1]]
    z3 = [float(zc[int(T)]) for T in T3]
    measured = {"z_c at t=" + ",".join(f"{T:g}" for T in T3): z3}
    predicted = {"t0 (exact x0)": float(theory.t0(K, M, eY)),
                 "onset of the ln ln form (M eta_Y)^-1 e^{1/sqrt(2 nu)}": theory.thm4_asymptotic_onset(M, eY, eZ)}
    sources = {"t0 (exact x0)": "theory.t0 (Lemmas 8-9 / Thm 4, exact larger root x0 of e^x = (M-1)x)",
               "onset of the ln ln form": "theory.thm4_asymptotic_onset (Thm 4)"}
    gate = all_of(*(at_most(f"z_c({b:g}) - z_c({a:g})", zb - za, 0.0, why="the common logit keeps falling (Thm 2)")
                    for (a, za), (b, zb) in zip(zip(T3, z3), list(zip(T3, z3))[1:])))
    notes = "Spec [calib]: z_c = -.117, -.237, -.327 at t = 50, 500, 5000; per-decade ratio 0.75 (the law gives 0.76)."
    if len(T3) == 3:
        d_meas = _decrement_ratio(t, zc, T3)
        Ba = theory.B_asymptotic(np.array(T3), K, M, eY, eZ)
        d_lnln = float((Ba[2] - Ba[1]) / (Ba[1] - Ba[0]))
        d_closed = _closed_decrement_ratio(T3, M, C0)
        measured["per-decade decrement ratio"] = d_meas
        predicted["per-decade ratio, -1/2 ln ln t law"] = d_lnln
        predicted["(not gated) reduced closed form 1/4 ln(1 + 4 Gamma/C0)"] = d_closed
        predicted["(not gated) ln t growth"] = 1.0
        sources["per-decade ratio, -1/2 ln ln t law"] = "theory.B_asymptotic (Thm 4, t >> (M eta_Y)^-1 e^{1/sqrt(2 nu)})"
        sources["reduced closed form"] = "theory.B with theory.C0_heuristic (Thm 4, Eqs 124-129, corrected form)"
        along = "/".join(f"{w:g}" for w in S10_WEIGHTS)
        measured[f"(not gated) per-decade ratio along common weight {along}"] = [
            _decrement_ratio(runs[w]["t"], runs[w]["zc"], T3) for w in S10_WEIGHTS]
        predicted[f"(not gated) reduced closed form along common weight {along}"] = [
            _closed_decrement_ratio(T3, M, runs[w]["C0"]) for w in S10_WEIGHTS]
        gate = gate & close("per-decade decrement ratio", d_meas, d_lnln, atol=0.1,
                            why="seed-free, fp64; 0.1 separates it from the ln t law's 1.0 by > 2 tolerances") & \
            at_most("per-decade decrement ratio", d_meas, 0.9, why="below the ln t law's 1.0")
        notes += (f" The reduced closed form with C0 = (||P_n||/P_c)^4/K = {C0:.2f} (theory.C0_heuristic) gives "
                  f"{d_closed:.2f} at these t: further from the measurement than the asymptotic law.")
    else:
        notes += " Quick mode stops at t = 500, so only the sign of the decrements is gated."
    notes += (" Several of Theorem 4's assumptions are not met here (see the meters), A2 among them: the PASS is "
              "the law's form outside its stated regime. Along the common weight (not gated) the setting moves into "
              "A2 but C0 grows (~w^-4), so 4 Gamma/C0 stays small up to t = 5000 and z_c is still in the "
              "B ~ Gamma/C0 ~ ln^2 t stage: the per-decade ratio rises above 1 there, as the corrected closed form "
              "1/4 ln(1 + 4 Gamma/C0) predicts, and the ln ln t asymptote lies beyond the horizon.")
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
        predicted=predicted, measured=measured, **gate.result_fields(), setting=_s10_setting(spec, steps, 1.0),
        notes=notes, figure=ctx.save_figure(fig, "S10_lnln_law.png"),
        assumptions=_s10_meters(spec, T3[0], "t = first decrement point"), sources=sources,
    )


def _s10_prop_window(run: dict) -> dict:
    """The ratio (e^{-4 z_c} - 1)/(4 Gamma/C0) of one run over t >= t'0 (Theorem 4's exact integration
    predicts it constant, = 1 when C0 is the true normaliser constant)."""
    t, zc, K = run["t"], run["zc"], S10_K
    M = run["spec"].M
    x = 4 * theory.Gamma(t, K, M, S10_ETA_Y, S10_ETA_Z) / run["C0"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.expm1(-4 * zc) / x
    out = {"x": x, "ratio": ratio}
    for name, start in (("t'0", float(theory.t0_prime(K, M, S10_ETA_Y))), ("t0", float(theory.t0(K, M, S10_ETA_Y))),
                        ("10 K^2", 10.0 * K**2)):
        win = t >= start
        out[name] = dict(start=start, spread=float(ratio[win].max() / ratio[win].min()) if win.sum() > 1 else np.nan,
                         span=float(x[win][-1] / x[win][0]) if win.sum() > 1 else np.nan,
                         lo=float(ratio[win].min()) if win.any() else np.nan,
                         hi=float(ratio[win].max()) if win.any() else np.nan)
    return out


@check("scan-snap", "S10-prop",
       "Thm 4 exact integration in the full model: (e^{-4z_c} - 1)/(4 Gamma/C0) constant (within x2) over t >= t'0",
       "P")
def s10_prop(ctx: Context) -> Result:
    steps = ctx.pick(5000, 500)
    runs = _s10_path(steps)
    K = S10_K
    win = {w: _s10_prop_window(runs[w]) for w in S10_WEIGHTS}
    base, spec = win[1.0], runs[1.0]["spec"]
    M = spec.M
    tp, t0 = base["t'0"]["start"], base["t0"]["start"]
    spread = base["t'0"]["spread"]
    lam = {w: theory.a2_lambda1(runs[w]["spec"].probs_KxM) for w in S10_WEIGHTS}
    margin = [1.0 - K * lam[w] for w in S10_WEIGHTS]  # A2 (|lambda_1| < 1/K) rearranged: > 0 inside, grows
    path = trend("A2 margin 1 - K |lambda_1(E)|", margin, [win[w]["t'0"]["spread"] - 2.0 for w in S10_WEIGHTS],
                 why=f"common weight {'/'.join(f'{w:g}' for w in S10_WEIGHTS)} moves the setting into A2 (margin "
                 "> 0 inside); violation = max/min - 2 over t >= t'0; zero init and T -> inf make each point "
                 "deterministic (one seed), so the slope's error is the scatter about the fitted line",
                 log_x=False)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for w in S10_WEIGHTS:
        t = runs[w]["t"]
        ax.semilogx(t[1:], win[w]["ratio"][1:] / win[w]["ratio"][-1], "-",
                    label=f"weight {w:g} (|lambda_1| K = {K * lam[w]:.2g})")
    ax.axvline(tp, color="gray", ls=":", label="t'0 (window start)")
    ax.axvline(t0, color="r", ls=":", label="t0")
    ax.set_xlabel("step t")
    ax.set_ylabel("ratio / its final value")
    ax.set_ylim(0, 2.5)
    ax.legend(fontsize=7)
    ax.set_title("S10-prop: (e^{-4 z_c} - 1) / (4 Gamma/C0)")
    measured = {
        "max/min over t >= t'0 (gated, weight 1)": spread,
        "ratio min..max over t >= t'0": [base["t'0"]["lo"], base["t'0"]["hi"]],
        "4 Gamma/C0 varies over the window by": base["t'0"]["span"],
        "(not gated) max/min over t >= t0": base["t0"]["spread"],
        "(not gated) max/min over t >= 10 K^2": base["10 K^2"]["spread"],
        "max/min over t >= t'0 along common weight " + "/".join(f"{w:g}" for w in S10_WEIGHTS):
            [win[w]["t'0"]["spread"] for w in S10_WEIGHTS],
    }
    return Result(
        predicted={"max/min of the ratio": "1 (constant; its value depends on C0, not predicted)", "t'0": tp,
                   "t0": t0},
        measured=measured,
        **at_most("max/min of the ratio over t >= t'0", spread, 2.0,
                  why=f"the window starts at the end of the scan phase, t'0 = K ln M/eta_Y = {tp:.1f} (Lemma 9), "
                  "since the gamma form of Theorem 1 under the reduced ODE needs t >> K^2; x2 because the "
                  "normalisers are only approximately frozen (the heuristic's rho0) and the constant itself is not "
                  "predicted").result_fields(),
        setting=_s10_setting(spec, steps, 1.0) + f"; regime path: the same at common weight "
        f"{', '.join(f'{w:g}' for w in S10_WEIGHTS[1:])} (one config, static axis data.common_weight)",
        notes="Before t'0 (the scan phase, t < K^2) the ratio rises: the heuristic's frozen normalisers do not hold "
        "there. The setting breaks A2 (|lambda_1(E)| = "
        f"{lam[1.0]:.2f} >= 1/K = {1 / K:.2f}) and starts before t >> K^2 (t'0/K^2 = {tp / K**2:.2f}); moving the "
        "common weight down into A2 makes the ratio flatter (regime path).",
        figure=ctx.save_figure(fig, "S10_proportionality.png"),
        assumptions=_s10_meters(spec, tp, "window start t'0"),
        regime=path,
        sources={"max/min = 1": "Thm 4 exact integration e^{-4z} = 1 + 4 Gamma/C0 (theory.Gamma, Eqs 124-129; "
                 "C0 from theory.C0_heuristic)",
                 "t'0": "theory.t0_prime (Lemma 9 / Thm 4: K ln M/eta_Y)", "t0": "theory.t0 (Lemmas 8-9 / Thm 4)"},
    )


# ----------------------------------------------------------------------------- S12


def _seed_dist(x) -> list:
    """[mean, min, max] of a per-seed array."""
    x = np.asarray(x, float)
    return [float(x.mean()), float(x.min()), float(x.max())]


@check("scan-snap", "S12", "Fig 4 (C): loss ln M -> ~2 orders down in ~10 its; c_n freezes; eta_Y=10 less sparse", "C")
def s12(ctx: Context) -> Result:
    from pathlib import Path

    from scanflow.engine.config import load_config
    from scanflow.engine.sweep import run_sweep

    root = Path(__file__).resolve().parents[4]
    seeds = ctx.seeds(8, 3)
    # every iteration recorded: train_loss at record i+1 is the loss of iteration i's training batch before its
    # update (the mean training objective since the previous record), which is what the authors' code logs
    cfg = load_config(root / "configs" / "scan_snap_small.yaml", [f"sweep.seeds={seeds}", "train.record_every=1"])
    out = run_sweep(cfg)
    M, spec = out.info["M"], official_layout()
    t = out.coords["record"]
    batch = out.arrays["train_loss"][..., 1:]  # (P, S, iterations 0..steps-1)
    pop = out.arrays["loss"]  # population loss after t updates (P, S, records 0..steps)
    it10 = 10
    orders = np.log10(batch[..., 0] / batch[..., it10])  # (P, S): training-batch loss, as logged
    orders_pop = np.log10(pop[..., 0] / pop[..., int(np.nonzero(t == it10)[0][0])])
    c_all = out.arrays["attn"]  # (P, S, R, K, M)
    keep = (t % 2) == 0  # the freeze criterion compares c_n every 2 iterations (the authors' checkpoint cadence)
    c, t2 = c_all[:, :, keep], t[keep]
    change = np.abs(np.diff(c, axis=2)).sum(axis=(-1, -2))  # L1 change of c per 2 iterations (P, S, R2-1)
    # freeze iteration: after it, the change per interval stays below 1/10 of its peak
    above = change >= 0.1 * change.max(-1, keepdims=True)
    last_above = (above.shape[-1] - 1) - np.argmax(above[..., ::-1], axis=-1)
    freeze_it = t2[last_above + 1]  # (P, S)
    final = c_all[:, :, -1]
    common = final[..., :10].sum(-1).mean(-1)  # final common mass, mean over classes (P, S)
    top = np.stack([final[:, :, n, np.nonzero(spec.distinct_KxM[n])[0]].max(-1) for n in range(spec.K)], -1).mean(-1)
    denser = bool((common[1] > common[0]).all() and (top[1] < top[0]).all())  # paired over seeds
    lnM = float(np.log(M))
    gate = all_of(
        at_most("max |batch loss(it. 0) / ln M - 1|", float(np.max(np.abs(batch[..., 0] / lnM - 1))), 1e-6,
                why="exact at Y(0) = 0 (uniform alpha) for any batch; float32"),
        at_least("orders of magnitude of the training-batch loss by it. 10 (min over runs)", float(orders.min()), 1.5,
                 why="'~2' read as >= 1.5 in every run"),
        at_most("freeze iteration (max over runs)", int(freeze_it.max()), 60,
                why="the change of c_n per 2 its stays < 1/10 of its peak afterwards (the freeze criterion of the "
                "real-text checks); 60 = 1.5 x 40"),
        at_least("runs with eta_Y=10 denser than eta_Y=1 (more common mass and lower top distinct weight; paired "
                 "seeds)", float(denser), 1.0, why="every seed: seeds share data across learning rates"),
    )
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.5))
    ax = axs[0]
    for p, eta in enumerate(out.arrays["lr_Y"]):
        ax.semilogy(np.arange(batch.shape[-1]), np.median(batch[p], 0), "-", color=f"C{p}",
                    label=f"eta_Y={eta:g}: training batch (as logged)")
        ax.semilogy(t, np.median(pop[p], 0), ":", color=f"C{p}", label=f"eta_Y={eta:g}: population")
    ax.axvline(10, color="gray", ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (seed median)")
    ax.legend(fontsize=7)
    ax.set_title("S12: Syn-Small, SGD momentum 0.9")
    ax = axs[1]
    for p, eta in enumerate(out.arrays["lr_Y"]):
        ax.plot(common[p], top[p], "o", color=f"C{p}", label=f"eta_Y={eta:g} (one dot per seed)")
    ax.set_xlabel("final common-token mass of c_n")
    ax.set_ylabel("final top distinct weight")
    ax.legend(fontsize=7)
    ax.set_title("final attention (class mean)")
    etas = [float(e) for e in out.arrays["lr_Y"]]
    measured = {
        "batch loss at it. 0 (mean over runs)": float(batch[..., 0].mean()),
        "orders by it. 10, training batch (min over runs)": float(orders.min()),
        "orders by it. 10, training batch (median, eta_Y=1, 10)": np.median(orders, 1),
        "(not gated) orders by it. 10, population loss (median, eta_Y=1, 10)": np.median(orders_pop, 1),
        "freeze iteration (median, eta_Y=1, 10)": np.median(freeze_it, 1),
        "freeze iteration (max over runs)": int(freeze_it.max()),
        **{f"final common mass, eta_Y={e:g}: mean [min, max] over seeds": _seed_dist(common[p])
           for p, e in enumerate(etas)},
        **{f"final top distinct c, eta_Y={e:g}: mean [min, max] over seeds": _seed_dist(top[p])
           for p, e in enumerate(etas)},
        "eta_Y=10 denser in every seed": denser,
    }
    return Result(
        predicted={"loss(0) = ln M": lnM, "orders of magnitude by it. 10": "~2", "freeze iteration": "~40",
                   "eta_Y=10 vs 1": "more common mass, lower top distinct weight"},
        measured=measured,
        **gate.result_fields(),
        setting=f"(C) configs/scan_snap_small.yaml: T=128, batch 128, momentum 0.9, zero init, eta_Z=1, "
        f"eta_Y in {{1, 10}}, 100 its recorded every iteration, {seeds} seeds",
        notes="Like for like with the authors' log: the gated loss is the loss of each iteration's training batch "
        "(what decoder_only.py prints), not the exact population loss; the population loss is shown beside it "
        "(dotted in the figure, not gated). The final attention is given per learning rate as the distribution "
        "over seeds.",
        figure=ctx.save_figure(fig, "S12_fig4_loss.png"),
        seeds=seeds,
        assumptions=[
            holds("setting = the authors' Fig-4 command", True, "same setting",
                    ref="Tian et al. 2023, Fig 4; authors' code decoder_only.py (README command)",
                    note="T=128, batch 128, SGD momentum 0.9, zero init, 100 its, eta_Z=1, eta_Y in {1, 10}"),
            holds("loss read like for like (training-batch loss per iteration, as the authors' code logs)", True,
                    "training-batch loss", ref="authors' code decoder_only.py (training loop)"),
        ],
        sources={"loss(0) = ln M": "Y(0) = 0 gives a uniform alpha over M tokens (Lemma 5 at s = 0)",
                 "~2 orders by it. 10, freeze ~40, eta_Y=10 less sparse": "read off the paper's Fig 4 and its "
                 "text (Sec. 6), not a theory function"},
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
        assumptions=[
            holds("contextual tokens i.i.d. ~ P(.|n)", True, "i.i.d.", ref=f"{A.PAPER}, Lemma 18 (Hoeffding)",
                  note="the generator draws them with replacement (data.py, as the authors' Dataset2)"),
            A.no_positional_encoding(),
        ],
        sources={"P(max_l |q-P| <= radius)": "theory.hoeffding_radius (Lemma 18)",
                 "per-sequence error slope": "-1/2: the T -> inf limit of Lemma 2 at the CLT rate (Lemma 18)"},
    )
