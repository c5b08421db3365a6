"""Views of norm-growth measurements (spec §4). The figures of a training run (`norm_vs_t`,
`direction_cosines`, `training_curves`; `all_figures`, what ``scanflow plot`` draws) take its results Dataset
(`Context.run`, `scanflow.load_run`) and a grid point, plus the few numbers a check adds (a fitted law, a
title); `sat_curves` and `support_histogram` take the numbers a check computes from the trained parameters.
The checks' own figures (`softmax_tv_figure` C1, `degree_figure` C2, `quarter_law_figure` C3, `soudry_figure` C4,
`homogeneous_net_figure` C5, `fig4_scale_figure` C9, `argmax_support_figure` C10, `count_support_figure` C10-count,
`scan_snap_norms_figure`, `cooccurrence_norms_figure`) take the dict of the check's measuring function.
Every function returns a figure; nothing here simulates or saves."""

from __future__ import annotations

import numpy as np

from scanflow.engine.figures import plt


def _run_head(ds, point: int) -> tuple[np.ndarray, list[str], str]:
    from scanflow.engine.dataset import config_of
    from scanflow.engine.figures import record_values

    t = np.asarray(record_values(ds), float)
    groups = [str(g) for g in ds["group"].values]
    eta = float(ds[f"lr_{groups[0]}"].values[point])
    return t, groups, f"{config_of(ds).get('name', '')}: eta={eta:g}"


def norm_vs_t(ds, point: int = 0, fit=None, fit_label: str = "", title: str | None = None):
    """||theta_t|| of every seed of grid point `point` against t on log-log axes, the per-group norms of
    seed 0 as thin lines, and an optional fitted law ``fit = (t_fit, rho_fit)``. `title` defaults to the
    run's name, eta and seed count."""
    t, groups, head = _run_head(ds, point)
    rho_SxR, group_norm = ds["norm"].values[point], ds["group_norm"].values[point, 0]
    group_norms = {g: group_norm[:, i] for i, g in enumerate(groups)}
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    keep = t > 0
    for s, rho in enumerate(np.atleast_2d(rho_SxR)):
        ax.loglog(t[keep], rho[keep], "-", lw=1.8, color="C0", alpha=0.8, label="||theta_t|| (seeds)" if s == 0 else None)
    for i, (g, rho_g) in enumerate(group_norms.items()):
        ax.loglog(t[keep], np.asarray(rho_g)[keep], ":", lw=1, color=f"C{i + 2}", label=f"group {g} (seed 0)")
    if fit is not None:
        ax.loglog(fit[0], fit[1], "r--", lw=1.5, label=fit_label or "fit")
    ax.set_xlabel("step t")
    ax.set_ylabel("parameter norm")
    ax.legend(fontsize=7)
    ax.set_title(f"{head}, {rho_SxR.shape[0]} seeds" if title is None else title, fontsize=9)
    return fig


def direction_cosines(ds, point: int = 0, seed: int = 0, title: str | None = None):
    """C_next, C_2x = cos(theta_t, theta_2t) and C_final = cos(theta_t, theta_T) against t, from the recorded
    parameters of one run (grid point `point`, seed `seed`), with the random-walk null 1/sqrt 2. None when the
    parameters were not recorded (``model.record_params``) or fewer than 3 records allow no C_2x."""
    from scanflow.measure import norm_growth as ng

    t, _, head = _run_head(ds, point)
    if "params" not in ds.data_vars or len(t) < 3:
        return None
    u = ds["params"].values[point, seed]
    t_2x, c_2x = ng.cosine_2x(t, u)
    if not len(c_2x):
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.semilogx(t[1:], ng.cosine_consecutive_R1(u), "-", label="C_next (consecutive records)")
    ax.semilogx(t_2x, c_2x, "o-", ms=3, label="C_2x = cos(theta_t, theta_2t)")
    ax.semilogx(t, ng.cosine_to_final_R(u), "-", alpha=0.7, label="C_final = cos(theta_t, theta_T)")
    ax.axhline(1 / np.sqrt(2), color="k", ls="--", label="1/sqrt 2 (random-walk null)")
    ax.set_xlabel("step t")
    ax.set_ylabel("cosine")
    ax.set_ylim(min(0.5, np.nanmin(c_2x) - 0.05), 1.02)
    ax.legend(fontsize=7)
    ax.set_title(f"{head}: direction cosines, seed {seed}" if title is None else title, fontsize=9)
    return fig


def sat_curves(cs, curves: dict, paper: dict | None = None, title: str = ""):
    """sat / scale curves: ``curves = {label: values over cs}``; optional paper reference points
    ``paper = {label: (c_values, cos_values)}`` drawn as markers."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (lab, v) in enumerate(curves.items()):
        ax.plot(cs, v, "-", color=f"C{i}", label=lab)
    for i, (lab, (pc, pv)) in enumerate((paper or {}).items()):
        ax.plot(pc, pv, "x", ms=7, color=f"C{i}", label=lab)
    ax.set_xlabel("c")
    ax.set_ylabel("cos(h(c theta), h(1000 theta))")
    ax.set_ylim(min(0.0, min(np.min(v) for v in curves.values()) - 0.05), 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def support_histogram(counts: dict, refs: dict | None = None, title: str = ""):
    """Histogram of the saturated support size m_i per (head, query) pair, one bar series per head
    (``counts = {label: m array}``); ``refs = {label: predicted mean m}`` drawn as vertical lines."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    hi = int(max(np.max(m) for m in counts.values()))
    bins = np.arange(0.5, hi + 1.5)
    ax.hist(list(counts.values()), bins=bins, label=list(counts.keys()), density=True)
    for i, (lab, v) in enumerate((refs or {}).items()):
        ax.axvline(v, color=f"C{i}", ls="--", lw=1, label=lab)
    ax.set_xlabel("number of positions attended (saturated weight > 1e-5)")
    ax.set_ylabel("fraction of (head, query) pairs")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def training_curves(ds, point: int = 0):
    """Evaluation loss and error, step size ||delta_t|| (every seed) and alignment cos(delta_t, theta_t)
    (seed 0) of grid point `point` against t."""
    t, _, head = _run_head(ds, point)
    loss, acc = ds["loss"].values[point], ds["acc"].values[point]
    step_norm, alignment = ds["step_norm"].values[point], ds["alignment"].values[point]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
    keep = t > 0
    for s in range(loss.shape[0]):
        lab = (lambda x: x) if s == 0 else (lambda x: None)
        axs[0].semilogx(t[keep], loss[s, keep], "C0-", lw=1, label=lab("eval loss"))
        axs[0].semilogx(t[keep], 1 - acc[s, keep], "C1:", lw=1, label=lab("eval error 1 - acc"))
        axs[1].loglog(t[keep], step_norm[s, keep], "C0-", lw=1, label=lab("||delta_t||"))
    axs[0].set_xlabel("step t")
    axs[0].legend(fontsize=7)
    ax2 = axs[1].twinx()
    ax2.semilogx(t[keep], alignment[0, keep], "C3-", lw=1, label="cos(delta_t, theta_t) (seed 0)")
    ax2.set_ylim(-1.05, 1.05)
    axs[1].set_xlabel("step t")
    axs[1].legend(fontsize=7, loc="lower left")
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle(head, fontsize=9)
    return fig


def all_figures(ds) -> dict:
    """The figures of a ``norm_growth`` run (`Workload.plots`; views of its Dataset, nothing is simulated):
    ``norm`` (`norm_vs_t`), ``cosines`` (`direction_cosines`, when the parameters were recorded) and
    ``training`` (`training_curves`). One set per grid point (suffix ``_p<i>`` when there are several)."""
    P = ds.sizes["point"]
    figs = {}
    for p in range(P):
        sfx = f"_p{p}" if P > 1 else ""
        figs[f"norm{sfx}"] = norm_vs_t(ds, p)
        cos = direction_cosines(ds, p)
        if cos is not None:
            figs[f"cosines{sfx}"] = cos
        figs[f"training{sfx}"] = training_curves(ds, p)
    return figs


# ----------------------------------------------------------------------------- the theory checks' figures


def degree_figure(m: dict):
    """C2: the local degree k-hat(c) of the paper's pre-norm block and of standard pre-LN against c (the dict of
    `checks.theory_checks.homogeneity_degrees`)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(m["cs"], m["k_blk"], "o-", label="paper's pre-norm block LN(F(X)) + X")
    ax.plot(m["cs"], m["k_std"], "s-", label="standard pre-LN X + F(LN(X))")
    ax.axhline(1, color="gray", ls=":")
    ax.axhline(3, color="gray", ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("c")
    ax.set_ylabel("local degree log2 ||f(2c theta)|| / ||f(c theta)||")
    ax.legend(fontsize=7)
    ax.set_title("C2: empirical homogeneity degree")
    return fig


def quarter_law_figure(m: dict):
    """C3: rho_t of GD on the atan2 loss against the t^{1/4} law (the dict of
    `checks.theory_checks.scale_invariant_gd`)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(m["t"], m["rho"], "-", lw=2, label="GD on atan2 (G = 1)")
    ax.loglog(m["t"], m["law"], "k--", label="(rho0^4 + 2 eta^2 G^2 t)^{1/4}")
    ax.set_xlabel("step t")
    ax.set_ylabel("||theta_t||")
    ax.legend(fontsize=8)
    ax.set_title("C3: scale-invariant GD, t^{1/4} law")
    return fig


def homogeneous_net_figure(m: dict):
    """C5: ||theta_t|| of GD on the 2-homogeneous diagonal net with the fitted a (log t)^{1/L} + b and a t^p + b on
    the window (the dict of `checks.theory_checks.homogeneous_net_gd`)."""
    t, rho, win, Lh = m["t"], m["rho"], m["win"], m["Lh"]
    fl, pw = m["fits"][m["law_name"]], m["fits"]["t^p"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogx(t, rho, "-", lw=2, label="||theta_t|| (GD)")
    ax.semilogx(t[win], fl.params["a"] * np.log(t[win]) ** (1 / Lh) + fl.params["b"], "r--", label="fit a (log t)^{1/2} + b")
    ax.semilogx(t[win], pw.params["a"] * t[win] ** pw.params["p"] + pw.params["b"], "g:",
                label=f"fit a t^p + b, p = {pw.params['p']:.3f}")
    ax.set_xlabel("step t")
    ax.set_ylabel("||theta_t||")
    ax.legend(fontsize=7)
    ax.set_title("C5: 2-homogeneous diagonal net")
    return fig


# ----------------------------------------------------------------------------- the other papers' figures


def scan_snap_norms_figure(m: dict):
    """NG-scan-snap: ||Z||, ||Y|| against t with the fitted a h(t/K) + b and a (1/2 ln ln t) + b after t0, and their
    local exponents (the dict of `checks.other_papers.scan_snap_norms`)."""
    t, nZ, nY, win, t0 = m["t"], m["nZ"], m["nY"], m["win"], m["t0"]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
    axs[0].loglog(t[1:], nZ[1:], label="||Z||")
    axs[0].loglog(t[1:], nY[1:], label="||Y||")
    hw, (a, b) = m["h_fit"]
    axs[0].loglog(t[win], a * hw + b, "k--", label="a h(t/K) + b (Lemma 6)")
    lnln, (a2, b2) = m["lnln_fit"]
    axs[0].loglog(t[win], a2 * lnln + b2, "r:", label="a (1/2 ln ln t) + b (Thm 4)")
    axs[0].axvline(t0, color="gray", ls=":", label="t0")
    axs[0].set_xlabel("GD step t")
    axs[0].set_ylabel("norm")
    axs[0].legend(fontsize=7)
    axs[1].semilogx(m["tc"], m["pZ"], label="p(t) of ||Z||")
    axs[1].semilogx(m["tc"], m["pY"], label="p(t) of ||Y||")
    axs[1].axvline(t0, color="gray", ls=":")
    axs[1].set_xlabel("GD step t")
    axs[1].set_ylabel("local exponent d log rho / d log t")
    axs[1].legend(fontsize=7)
    fig.suptitle(f"NG-scan-snap: K={m['K']}, M={m['M']}, eta_Y={m['eY']}, eta_Z={m['eZ']}")
    return fig


def cooccurrence_norms_figure(m: dict):
    """NG-cooccurrence: each group's norm relative to its init and the training loss against t = lr x steps, with
    T1 (the dict of `checks.other_papers.cooccurrence_phases`)."""
    t, norms, n0, T1 = m["t"], m["norms"], m["n0"], m["T1"]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
    for j, k in enumerate(m["groups"]):
        axs[0].loglog(t, norms[:, j] / n0[j], ls="-" if j != 1 else "--", label=k)
    if T1 is not None:
        axs[0].axvline(T1, color="k", ls=":", label="T1 (all margins > 0)")
        axs[1].axvline(T1, color="k", ls=":")
    axs[0].set_xlabel("t = lr x steps")
    axs[0].set_ylabel("||group|| / ||group at init||")
    axs[0].legend(fontsize=7)
    axs[1].loglog(t, m["loss_t"], label="training loss")
    axs[1].set_xlabel("t = lr x steps")
    axs[1].legend(fontsize=7)
    fig.suptitle(f"NG-cooccurrence: n={m['n']}, L={m['L']}, m={m['width']}, m1={m['m1']}, GD lr={m['eta']}")
    return fig


# ----------------------------------------------------------------------------- the transformer checks' figures


def argmax_support_figure(m: dict):
    """C10: the saturated support sizes of the trained argmax head (every seed, queries with >= 4 keys) and of the
    multiplicative-mask artefact, with their references (the dict of `checks.transformer_checks.support_sizes`)."""
    counts = {"argmax head (trained, c=1000)": np.concatenate([x["m_keep"] for x in m["seeds"]]),
              "multiplicative-mask artefact": m["m_mult"].ravel()}
    return support_histogram(counts, {"argmax reference": m["ref_a"]["mean_m"],
                                      "artefact (n-1)/2 + 1/n": m["ref_d"]["mean_m"]},
                             title=f"C10: saturated support sizes, T = {m['n']} (queries with >= 4 keys; "
                                   "artefact: all)")


def fig4_scale_figure(m: dict):
    """C9: the mean scale curve of each random-init block, of standard pre-LN and of the trained model (seed 0)
    against c, with the paper's Fig. 4 values (the dict of `checks.transformer_checks.fig4_curves`)."""
    S = m["S"]
    curves = {f"{name} (mean of {S} inits)": cur.mean(0) for name, cur in m["blocks"].items()}
    curves[f"standard pre-LN X + F(LN X), biases (mean of {S})"] = m["std"].mean(0)
    curves["trained (C8 homogeneous model, seed 0)"] = m["tr"][0]
    return sat_curves(m["cs"], curves, {f"paper {k} (Fig. 4)": v for k, v in m["paper"].items()},
                      title=f"C9: scale curves, logits, cos to c = 1000 ({m['L']} layers)")


def soudry_figure(m: dict):
    """C4: ||w_t|| of GD on separable logistic regression with the fitted a log t + b and ||w_hat|| log t, and the
    direction error against 1/log t (the dict of `checks.theory_checks.separable_logistic_gd`)."""
    t, rho, win, fit = m["t"], m["rho"], m["win"], m["fit"]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
    axs[0].semilogx(t, rho, "-", lw=2, label="||w_t|| (GD)")
    axs[0].semilogx(t[win], fit.params["a"] * np.log(t[win]) + fit.params["b"], "r--",
                    label=f"fit a log t + b, a = {m['slope']:.4f}")
    axs[0].semilogx(t, m["pred_slope"] * np.log(t), "k:", label=f"||w_hat|| log t, ||w_hat|| = {m['pred_slope']:.4f}")
    axs[0].set_xlabel("step t")
    axs[0].set_ylabel("||w_t||")
    axs[0].legend(fontsize=7)
    axs[1].loglog(t, m["dir_err"], "-", label="||u_t - w_hat/||w_hat|| ||")
    axs[1].loglog(t, 1 / np.log(t + 1), "k:", label="1/log t")
    axs[1].set_xlabel("step t")
    axs[1].legend(fontsize=7)
    fig.suptitle("C4: logistic regression on separable data")
    return fig


def count_support_figure(m: dict):
    """C10-count: the saturated support sizes on majority of the naturally trained head and of the head built in at
    init (seed 0), with the prefix-uniform reference (the dict of `checks.transformer_checks.count_heads`)."""
    return support_histogram({"natural init (seed 0, c=1000)": m["m_nat"], "W_Q = W_K = 0 built in": m["m_b"]},
                             {"prefix-uniform reference": m["ref"]["mean_m"]},
                             title=f"C10-count: saturated support sizes on majority, T = {m['n']}")


def softmax_tv_figure(m: dict):
    """C1: TV(softmax(c s), zeta(s)) and the Lemma 8 bound against c gap, per case (the dict of
    `checks.theory_checks.softmax_saturation`)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, c in m["cases"].items():
        ax.semilogy(c["cs"] * c["gap"], c["tv"], "o", ms=3, label=f"{name}: TV measured")
        ax.semilogy(c["cs"] * c["gap"], c["bound"], "--", label=f"{name}: bound")
    ax.set_xlabel("c x gap")
    ax.set_ylabel("TV(softmax(c s), zeta(s))")
    ax.legend(fontsize=7)
    ax.set_title("C1: softmax -> saturated attention")
    return fig
