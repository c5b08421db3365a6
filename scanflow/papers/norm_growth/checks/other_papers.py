"""The norm-growth lens applied to the other papers (norm-growth spec §4; issue 5 item 6).

NG-scan-snap: the engine's Scan-and-Snap run (the S10 setting, population mode, plain GD): growth of
||Z|| and ||Y|| against the theory's regimes (||Y|| follows the decoder coefficient h(t/K) of Lemma 6,
a ln t law after t0; ||Z|| is dominated by the common-token logit, a ln ln t law after t0, Thm 4), and
the saturation of the attention row. NG-cooccurrence: the engine's co-occurrence run (full-batch GD:
``train.method: sgd``, ``train.optimizer: sgd``; the ``cooccurrence`` workload's build with balance-law
records, `balance_workload`): per-group norms in Phase 1 (t <= T1, first time every margin is positive)
and Phase 2, and the exact balance law of plain GD that ties the norm growth of W to W_V and of W_K to W_Q.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.figures import record_values
from scanflow.measure import norm_growth as ng
from scanflow.measure import saturation as sat
from scanflow.papers.norm_growth.plots import cooccurrence_norms_figure, scan_snap_norms_figure
from scanflow.papers.scan_snap import theory as ss_theory
from scanflow.verify import Context, Result, all_of, at_least, at_most, check, close, holds, meter

F64 = jnp.float64


# ----------------------------------------------------------------------------- Scan and Snap


def _per_decade_ratio(t, x, T3):
    v = [float(x[np.argmin(np.abs(t - T))]) for T in T3]
    return (v[2] - v[1]) / (v[1] - v[0]), v


def scan_snap_norms(ds, K: int, eY: float, eZ: float) -> dict:
    """Everything NG-scan-snap measures on the S10 run `ds` (one query, K next tokens, one common token): ||Z||, ||Y||
    (`nZ`, `nY`) at the records `t`; their smallest per-step increment (`grow_min`); at T3 = 50, 500, 5000 (those
    reached) the TV of the query's attention row to its saturated version zeta(z) (`tv`), its largest weight
    (`max_attn`, None when not recorded) and the norms; with all three, the per-decade increment ratios of ||Z||,
    ||Y|| (`rZ`, `rY`) beside the Thm-4 ln ln t law's (`r_lnln`, scan_snap.theory.B_asymptotic) and h(t/K)'s
    (`r_h`, Lemma 6). For the figure: the a h + b and a B_asymptotic + b fits after t0 and the local exponents."""
    from scanflow.papers.scan_snap.data import official_layout

    M = official_layout(num_last=1, num_next_per_last=K, num_common=1).M
    t = record_values(ds).astype(float)
    nY, nZ = ds["norm_Y"].values[0, 0], ds["norm_Z"].values[0, 0]
    z_row = ds["z"].values[0, 0, :, 0, :]  # (records, M): the shared query's row of Z
    attn = ds["attn"].values[0, 0, :, 0, :] if "attn" in ds.data_vars else None
    probs = np.asarray(manifest_of(ds)["workload_info"]["probs_KxM"], np.float64)
    t0 = float(ss_theory.t0(K, M, eY))
    h = ss_theory.h_closed(t / K, M, eY)
    T3 = [T for T in (50.0, 500.0, 5000.0) if T <= t[-1]]
    m = {"K": K, "M": M, "eY": eY, "eZ": eZ, "t": t, "nY": nY, "nZ": nZ, "probs": probs, "t0": t0, "T3": T3,
         "grow_min": float(min(np.min(np.diff(nZ[1:])), np.min(np.diff(nY[1:])))), "tv": {}}
    # attention row vs its saturated version zeta(z) (same support: the population attention is P(l|n) e^{z_l}
    # normalised; saturation scales z, i.e. takes c -> inf in softmax(c z + log P))
    logP = np.log(np.maximum(probs[0], 1e-300))
    live = probs[0] > 0
    for T in T3:
        i = int(np.argmin(np.abs(t - T)))
        s = jnp.asarray(np.where(live, z_row[i], -np.inf))
        soft = np.asarray(sat.softmax_attention(jnp.asarray(np.where(live, z_row[i] + logP, -np.inf))))
        m["tv"][T] = float(sat.tv_distance(soft, sat.saturated_attention(s, tau=0.0)))
    m["max_attn"] = [float(np.max(attn[int(np.argmin(np.abs(t - T)))])) for T in T3] if attn is not None else None
    m["norms_T3"] = ([float(nZ[int(np.argmin(np.abs(t - T)))]) for T in T3]
                     + [float(nY[int(np.argmin(np.abs(t - T)))]) for T in T3])
    if len(T3) == 3:
        m["rZ"], _ = _per_decade_ratio(t, nZ, T3)
        m["rY"], _ = _per_decade_ratio(t, nY, T3)
        Ba = ss_theory.B_asymptotic(np.array(T3), K, M, eY, eZ)
        m["r_lnln"] = float((Ba[2] - Ba[1]) / (Ba[1] - Ba[0]))
        m["r_h"] = _per_decade_ratio(t, h, T3)[0]
    # the figure's fits after t0 and local exponents
    m["win"] = win = t >= max(t0, 1.0)
    m["h_fit"] = h[win], np.polyfit(h[win], nY[win], 1)
    lnln = ss_theory.B_asymptotic(t[win], K, M, eY, eZ)
    m["lnln_fit"] = lnln, np.polyfit(lnln, nZ[win], 1)
    pos = (nZ > 0) & (nY > 0) & (t > 0)
    m["tc"], m["pZ"] = ng.local_exponent(t[pos], nZ[pos])
    _, m["pY"] = ng.local_exponent(t[pos], nY[pos])
    return m


def _ng_scan_snap_notes(m: dict) -> str:
    if len(m["T3"]) < 3:
        return "The run stops before t = 5000: only monotone growth is gated."
    return ("||Z|| is dominated by the common-token logit z_c (the distinct logits stay < 1e-2), so its growth is "
            "S10's ln ln t law; the attention row stays far from its saturated version: no winner-takes-all.")


NG_SCAN_SNAP_SOURCES = {
    "t0": "scan_snap.theory.t0 (Tian et al. 2023, Lemma 9 / Thm 4, exact x0)",
    "||Z|| per-decade increment ratio": "scan_snap.theory.B_asymptotic (Thm 4: B ~ 1/2 ln ln(M eta_Y t/K))",
    "||Y|| per-decade increment ratio": "scan_snap.theory.h_closed (Lemma 6: e^{Mh} + (M-1)M h = M eta_Y t + 1)",
    "a ln t law": "the alternative (ratio 1), not a prediction"}


@check("norm-growth", "NG-scan-snap", "Scan and Snap through the norm-growth lens: ||Y|| follows h(t/K) (ln t after "
       "t0), ||Z|| follows the ln ln t law after t0 (Thm 4); the attention row does not saturate", "P",
       no_home="the S10 setting of scan-snap (one shared query, one common token) is outside Theorem 4's A2 "
               "(|lambda_1(E)| = 0.62 >= 1/K), M = 46 is not >> 100 and eta_Y = 1 is not < 1; along the common "
               "weight the setting enters A2 but the ln ln t asymptote moves beyond any laptop horizon (scan-snap S10)")
def ng_scan_snap(ctx: Context) -> Result:
    """Not a test of Theorem 4 (no home setting, see ``no_home``): the S10 setting measured through the norm-growth
    lens. Its meters are scan-snap's own (`scanflow.papers.scan_snap.checks.assumptions`)."""
    from scanflow.papers.scan_snap.checks import assumptions as A
    from scanflow.papers.scan_snap.checks.common import POP

    K, eY, eZ = 4, 1.0, 0.1  # the S10 setting
    steps = 5000  # both modes: the three decades 50, 500, 5000 of the per-decade ratios
    layout = ["data.num_last=1", f"data.num_next_per_last={K}", "data.num_common=1", "data.common_weight=1.0"]
    # measurement: the engine's S10 run; its norms' per-decade ratios beside the theory's (prediction)
    ds = ctx.run(POP, *layout, f"train.steps={steps}", "train.record_every=1", f"sweep.lr.Y=[{eY}]",
                 f"sweep.lr.Z=[{eZ}]")
    m = scan_snap_norms(ds, K, eY, eZ)
    M, t0, T3 = m["M"], m["t0"], m["T3"]
    # assumptions: scan-snap's own meters (Thm 1 / Thm 4), measured on the run
    assumptions = [
        A.no_positional_encoding(), A.long_sequences(str(config_of(ds)["data"]["mode"])),
        A.lr_ratio_of(ds) if "lr_Y" in ds.coords else A.lr_ratio(eY / eZ), A.a2_overlap(m["probs"]),
        A.thm1_vocabulary(M), *A.thm1_eta_Y(eY, M),
        meter("Thm 4: first measured time / t0 (snap regime)", T3[0] / t0, ">=", 1,
              ref="Tian et al. 2023, Thm 4 (the ln ln t law after t0; scan_snap.theory.t0)"),
        meter("Thm 4: first measured time / asymptotic onset (M eta_Y)^-1 e^{1/sqrt(2 nu)}",
              T3[0] / ss_theory.thm4_asymptotic_onset(M, eY, eZ), ">>", 1,
              ref="Tian et al. 2023, Thm 4 (scan_snap.theory.thm4_asymptotic_onset)"),
        A.thm1_time(T3[-1], K, where="last measured time")]
    # verdict: monotone growth; with all three decades, the per-decade ratios of the two laws
    gates = [at_least("smallest per-step increment of ||Z||, ||Y||", m["grow_min"], 0.0, why="norms increasing")]
    if len(T3) == 3:
        gates += [close("||Z|| per-decade increment ratio", m["rZ"], m["r_lnln"], atol=0.1,
                        why="seed-free fp64; as S10, 0.1 separates the ln ln law from a ln t law's 1.0"),
                  at_most("||Z|| per-decade increment ratio, below a ln t law", m["rZ"], 0.9),
                  close("||Y|| per-decade increment ratio", m["rY"], m["r_h"], atol=0.1, why="h(t/K), Lemma 6")]
    at = ", ".join(f"{T:g}" for T in T3)
    pred = {"t0": t0}
    meas = {f"TV(attention row, zeta(z)) at t = {at}": [m["tv"][T] for T in T3],
            f"max attention weight at t = {at}": m["max_attn"] if m["max_attn"] is not None else "not recorded",
            f"||Z||, ||Y|| at t = {at}": m["norms_T3"]}
    if len(T3) == 3:
        pred["||Z|| per-decade increment ratio (-1/2 ln ln t law, Thm 4)"] = m["r_lnln"]
        pred["||Y|| per-decade increment ratio (h(t/K), Lemma 6)"] = m["r_h"]
        pred["(not gated) a ln t law"] = 1.0
        meas["||Z|| per-decade increment ratio"] = m["rZ"]
        meas["||Y|| per-decade increment ratio"] = m["rY"]
    return Result(
        predicted=pred, measured=meas, **all_of(*gates).result_fields(), notes=_ng_scan_snap_notes(m),
        setting=f"(P) S10 setting of scan-snap: one query, K={K}, one common token, M={M}, Y(0)=Z(0)=0, GD, "
        f"{steps} steps recorded every step, fp64, via Context.run", assumptions=assumptions,
        sources=NG_SCAN_SNAP_SOURCES, figure=ctx.save_figure(scan_snap_norms_figure(m), "NG_scan_snap.png"))


# ----------------------------------------------------------------------------- co-occurrence


GROUPS = ("W_Q", "W_K", "W_V", "W")  # the trained groups (a is fixed: the paper's setting)
# Full-batch GD on the co-occurrence workload (train.method sgd, optimizer sgd), every step recorded.
COOC = {
    "name": "check",
    "workload": "cooccurrence_balance",
    "x64": True,
    # the co-occurrence HOME setting (scanflow.papers.cooccurrence.checks.common): n / L^2 = 10.7, m / max(m1, L^2) =
    # 14.2, c0 = 0.002 (max |F(0)| <= 0.01), distinct random words
    "data": {"n": 96, "L": 3, "repeat_random_words": False, "n_test": 60, "test_unseen": False, "seed": 0},
    "model": {"m": 128, "m1": 8, "c0": 0.002, "a_init": "sign", "train_a": False},
    "train": {"method": "sgd", "optimizer": "sgd", "record_every": 1},
    "sweep": {"seeds": 1, "root_seed": 1, "lr": {"eta": [2e-3]}},
}


@functools.lru_cache(maxsize=1)
def balance_workload():
    """The ``cooccurrence`` workload with the balance-law records (registered as ``cooccurrence_balance``).

    Same data, init, loss and learning-rate groups (it wraps `cooccurrence`'s own ``build``); its metrics are
    the per-group norms, the smallest margin, the traces of the flow's conserved forms (W^T W - W_V W_V^T,
    W_K W_K^T - W_Q W_Q^T) and, from the last step's gradient (``record_update``), that step's exact GD drift
    of the traces, eta^2 (||g_W||^2 - ||g_V||^2) and eta^2 (||g_K||^2 - ||g_Q||^2)."""
    import dataclasses

    from scanflow.engine.registry import get_workload, register_workload
    from scanflow.papers.cooccurrence import model as cmodel
    from scanflow.papers.cooccurrence import theory as ctheory
    from scanflow.papers.cooccurrence import workload as cwl

    base = get_workload("cooccurrence")

    def build(cfg):
        prob = base.build(cfg)
        train, _ = cwl.datasets(cfg, jnp.float64 if cfg.x64 else jnp.float32)

        def metrics(p, rec):
            g, eta = rec.grads, rec.hp["lr"]["W"]
            g2 = {k: jnp.sum(g[k] ** 2) for k in GROUPS}
            cq = ctheory.conserved_quantities(p)
            return {"loss": cmodel.loss(p, train), "norms": jnp.stack([jnp.linalg.norm(p[k]) for k in GROUPS]),
                    "min_margin": jnp.min(cmodel.margins_N(p, train)),
                    "max_abs_F": jnp.max(jnp.abs(cmodel.margins_N(p, train))),
                    "traces": jnp.stack([jnp.trace(cq[0]), jnp.trace(cq[1])]),
                    "drift_step": eta**2 * jnp.stack([g2["W"] - g2["W_V"], g2["W_K"] - g2["W_Q"]]),
                    "finite": jnp.all(jnp.array([jnp.isfinite(x).all() for x in jax.tree.leaves(p)]))}

        dims = {"loss": (), "train_loss": (), "min_margin": (), "max_abs_F": (), "finite": (), "norms": ("group",),
                "traces": ("balance",), "drift_step": ("balance",)}
        coords = {"group": np.array(GROUPS), "balance": np.array(["W-W_V", "W_K-W_Q"])}
        return prob._replace(metrics=metrics, metric_dims=dims, coords=coords, record_update=True)

    return register_workload(dataclasses.replace(base, name="cooccurrence_balance", build=build, plots=_no_plots,
                                                 description="cooccurrence with the norm-growth balance records"))


def _no_plots(run, out_dir, prefix=""):
    return []


def cooccurrence_phases(ds, cfg) -> dict:
    """Everything NG-cooccurrence measures on the full-batch GD run `ds` of config `cfg` (time t = lr x steps): the
    largest relative error of the exact GD balance law (traces of the flow's conserved forms against their
    recorded eta^2 ||g||^2 drift, `bal_err`); the per-group norms `norms` (GROUPS order) and loss; Phase 1 ends at
    T1, the first record with every margin > 0 (None when never): the relative norm changes in Phase 1 (`rel1`,
    from init) and Phase 2 (`rel2`, T1 -> T), the attention / MLP ratio of Phase 1 and tau(T1); from the last
    decade after T1 (>= 5 records) the log-log growth exponent of each group (`ps`, else None)."""
    from scanflow.papers.cooccurrence import theory as ctheory
    from scanflow.papers.cooccurrence import workload as cwl

    _, sigma1 = cwl.sigmas(cfg)
    eta = float(cfg.sweep.lr["eta"][0])
    m = {"n": cfg.data.n, "L": cfg.data.L, "width": cfg.model.m, "m1": cfg.model.m1, "d": cfg.data.vocab, "eta": eta,
         "groups": GROUPS}
    rec = {k: ds[k].values[0, 0] for k in ("norms", "min_margin", "max_abs_F", "loss", "traces", "drift_step")}
    m["max_abs_F0"] = float(rec["max_abs_F"][0])
    t_all = eta * np.asarray(record_values(ds), np.float64)  # time in units of the learning rate
    drift = np.cumsum(rec["drift_step"], axis=0)  # the exact GD drift of the traces up to each record
    tr0 = rec["traces"][0]
    m["n0"] = n0 = rec["norms"][0]
    m["bal_err"] = np.max(np.abs(rec["traces"] - tr0[None] - drift)
                          / np.maximum(np.abs(tr0[None]) + np.abs(drift), 1e-300))
    t, norms, m["loss_t"], sep = t_all[1:], rec["norms"][1:], rec["loss"][1:], rec["min_margin"][1:] > 0
    m["t"], m["norms"], m["T1"], m["ps"] = t, norms, None, None
    if sep.any():
        i1 = int(np.argmax(sep))
        m["T1"] = T1 = float(t[i1])
        m["rel1"] = rel1 = np.abs(norms[i1] - n0) / n0
        m["rel2"] = np.abs(norms[-1] - norms[i1]) / norms[i1]
        m["ratio"] = float(max(rel1[0], rel1[1]) / rel1[3])
        m["tau"] = float(ctheory.tau(T1, sigma1, cfg.model.m, cfg.model.m1))
        late = t >= max(T1, t[-1] / 10)
        if late.sum() >= 5:
            m["ps"] = []
            for j, k in enumerate(GROUPS):
                f = ng.fit_loglog(t[late], norms[late, j], n_boot=300, seed=j)
                m["ps"].append(f"{k}: {f.params['p']:.3g} [{f.ci['p'][0]:.3g}, {f.ci['p'][1]:.3g}]")
    return m


NG_COOC_SOURCES = {"Phase 1 ratio < 1": "Yang et al. 2024, Thm 3.1 (attention frozen in Phase 1; direction only, "
                                        "its constants are unspecified)",
                   "balance law": "cooccurrence.theory.conserved_quantities (conserved by the flow) plus the eta^2 "
                                  "||g||^2 terms of plain GD (ours, exact)"}


@check("norm-growth", "NG-cooccurrence", "Co-occurrence through the norm-growth lens: attention norms frozen in "
       "Phase 1 while the MLP moves (Thm 3.1); plain GD keeps ||W||^2 - ||W_V||^2 and ||W_K||^2 - ||W_Q||^2 "
       "balanced (conserved by the flow)", "P",
       home="the co-occurrence HOME setting (n = 96, L = 3, m = 128, m1 = 8, c0 = 0.002, distinct random words), "
            "full-batch GD lr 2e-3, both modes (quick: 2000 steps)")
def ng_cooccurrence(ctx: Context) -> Result:
    from scanflow.engine.config import config_from_dict
    from scanflow.papers.cooccurrence.checks import assumptions as CA

    if not jax.config.jax_enable_x64:
        raise RuntimeError("NG-cooccurrence needs float64")
    balance_workload()
    steps = ctx.pick(20000, 2000)
    cfg = config_from_dict(COOC, [f"train.steps={steps}"])
    # measurement: the engine's GD run; the balance law's drift (prediction: exact) and the two phases' norms
    m = cooccurrence_phases(ctx.run(cfg), cfg)
    # assumptions: the co-occurrence HOME meters, and plain full-batch GD (the balance law is its identity)
    tc = cfg.train
    plain = bool(tc.method == "sgd" and tc.optimizer == "sgd" and not (tc.optimizer_args or {}) and tc.clip_norm is None)
    assumptions = [
        CA.n_samples(m["n"], m["L"]), CA.width([m["width"]], m["m1"], m["L"]), CA.small_init(m["max_abs_F0"]),
        CA.readout(str(cfg.model.a_init), bool(cfg.model.train_a)),
        holds("plain full-batch GD (config: train.method, train.optimizer sgd, no optimizer_args, no clip)", plain,
              "plain GD", value=f"{tc.method}/{tc.optimizer}, args {tc.optimizer_args or {}}, clip {tc.clip_norm}",
              ref="the balance law is an identity of plain GD (ours); the paper's Thm 3.1 is for gradient flow")]
    # verdict: the balance law to rounding; Phase 1 ends within the run with the attention moving less than the MLP
    gates = [at_most("balance law: max relative error of the trace drift", m["bal_err"], 1e-9,
                     why="an exact identity of plain GD; 1e-9 for float64 accumulation over the run")]
    if m["T1"] is not None:
        gates.append(at_most("Phase 1: attention / MLP relative norm change", m["ratio"], 1.0,
                             why="Thm 3.1 direction (its constants are unspecified)"))
    else:
        gates.append(at_least("Phase 1 ends within the run: records with every margin > 0", 0, 1))
    pred = {"Phase 1: rel. change of ||W_Q||, ||W_K|| / rel. change of ||W||": "< 1 (attention frozen, Thm 3.1)",
            "balance: trace drift = eta^2 sum (||g_W||^2 - ||g_V||^2) (and K, Q)": "exact (1e-9 relative)"}
    meas = {"max relative error of the balance law": float(m["bal_err"])}
    if m["T1"] is not None:
        meas["T1 (first time every margin > 0), tau = sigma1^2 m m1 T1"] = [m["T1"], m["tau"]]
        meas["Phase 1 relative norm change W_Q, W_K, W_V, W"] = m["rel1"]
        meas["Phase 1: attention / MLP relative change"] = m["ratio"]
        meas["Phase 2 relative norm change W_Q, W_K, W_V, W (T1 -> T)"] = m["rel2"]
        if m["ps"] is not None:
            meas["(not gated) Phase 2 log-log growth exponent per group (95% CI)"] = "; ".join(m["ps"])
    else:
        meas["T1"] = "not reached (no phase split)"
    return Result(
        predicted=pred, measured=meas, **all_of(*gates).result_fields(), assumptions=assumptions,
        sources=NG_COOC_SOURCES,
        setting=f"co-occurrence data n={m['n']}, L={m['L']}, d={m['d']}; m={m['width']}, m1={m['m1']}, sigma from "
        f"init_scales (c0={cfg.model.c0:g}), a = +-1 fixed; full-batch GD lr={m['eta']}, {steps} steps recorded every "
        "step, fp64, via Context.run (workload cooccurrence, train.method sgd, optimizer sgd)",
        figure=ctx.save_figure(cooccurrence_norms_figure(m), "NG_cooccurrence.png"))
