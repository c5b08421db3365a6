"""Check S11 (spec §6): the Fig-6 learning-rate trends of Scan and Snap, code-faithful mode (C).

The sweep is Syn-Medium exactly as in spec §2: num_last L in {1, 3, 5, 10} (M = 33, 79, 125, 240),
num_next_per_last = 2, 10 common + 10 distinct tokens per class, T = 128, batch 128, SGD momentum
0.9, 100 steps, PyTorch-default uniform init, eta_Z in {0.5, 1, 2, 3} x eta_Y/eta_Z in {1, 2, 5, 10},
10 seeds. Each vocabulary size is one vmapped program (`scanflow.engine.run.execute`), written as a run
directory and read back as its Dataset (`scanflow.load_run`); the table and the figure are drawn from those
Datasets by `scanflow.papers.scan_snap.plots_sweeps`.

Measured quantity: the final distinct-token entropy of c_n averaged over classes (spec §5), per
seed; cells are the mean over seeds. Three trends (Sec. 6 / spec S11):

A. at fixed L and ratio, the entropy is non-increasing in eta_Z (predicted: every (L, ratio) pair);
B. for ratios >= 2, the entropy increases with the ratio ("mostly");
C. every cell stays below the initial entropy H(i/55) = 2.1513.

Gated with slope tests over the seeds, so that the ordering claims can fail (a 2-SE tie rule between adjacent
cells accepts almost any order with 3 seeds): per vocabulary size, the pooled least-squares slope of the
per-seed entropy against log eta_Z (one intercept per ratio) must be negative by more than 2 standard errors
(A); against log(eta_Y/eta_Z) over ratios >= 2, pooled over every vocabulary size (one intercept per (M, eta_Z)
row), it must be positive by more than 2 standard errors (B: "mostly" is read as the pooled trend; K = 2 alone
is noisy at high eta); and no single ratio column may rise with eta_Z by more than 2 SE. The standard errors
come from the residual scatter of the seeds about the fit. The adjacent-step counts
with 2-SE ties are still reported (not gated).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from scanflow.verify import Context, Result, all_of, at_least, at_most, check, meter

FIG6 = {
    "name": "S11_fig6",
    "workload": "scan_snap",
    "x64": False,
    "data": {"num_last": 1, "num_next_per_last": 2, "num_common": 10, "num_common_per_last": 0,
             "num_unique": 10, "mode": "sampled", "seq_len": 128, "batch_size": 128},
    "model": {"init": "uniform"},
    "train": {"method": "sgd", "optimizer": "sgd_momentum", "momentum": 0.9, "steps": 100,
              "record_every": 100, "record_attention": False},
    "sweep": {"seeds": 10, "root_seed": 1, "lr": {"Z": [0.5, 1, 2, 3], "Y_over_Z": [1, 2, 5, 10]}},
}
FULL_NUM_LAST = (1, 3, 5, 10)
QUICK_NUM_LAST = (1, 3)
QUICK_SEEDS = 3
def trend_fractions(tables: list[dict]) -> dict:
    """Fractions of (L, ratio) pairs monotone in eta_Z (A) and of ratio steps >= 2 increasing (B)."""
    a_ok = a_strict = a_n = 0
    b_ok = b_strict = b_n = 0
    # The largest step against the trend, in SE units (negative: every step goes the predicted way).
    worst_a = worst_b = -np.inf
    for t in tables:
        mean, sem = t["mean"], np.nan_to_num(t["sem"], nan=0.0)
        # A: along eta_Z (axis 0), every step should be <= 0.
        for j in range(mean.shape[1]):
            d = np.diff(mean[:, j])
            se = np.sqrt(sem[1:, j] ** 2 + sem[:-1, j] ** 2)
            a_n += 1
            a_ok += bool(np.all(d <= 2 * se))
            a_strict += bool(np.all(d <= 0))
            worst_a = max(worst_a, float(np.max(d / np.maximum(se, 1e-12))))
        # B: along the ratio (axis 1) from ratio 2 on, every step should be >= 0.
        cols = np.nonzero(t["ratio"] >= 2 - 1e-9)[0]
        for i in range(mean.shape[0]):
            for j0, j1 in zip(cols[:-1], cols[1:]):
                d = mean[i, j1] - mean[i, j0]
                se = np.sqrt(sem[i, j1] ** 2 + sem[i, j0] ** 2)
                b_n += 1
                b_ok += bool(d >= -2 * se)
                b_strict += bool(d > 0)
                worst_b = max(worst_b, float(-d / max(se, 1e-12)))
    return {
        "A_pairs": a_n, "A_monotone": a_ok, "A_monotone_strict": a_strict, "A_worst_step_SE": worst_a,
        "B_steps": b_n, "B_increasing": b_ok, "B_increasing_strict": b_strict, "B_worst_step_SE": worst_b,
    }


def pooled_slope(values, x, axis_groups: int) -> tuple[float, float]:
    """Least-squares slope of `values` (n_x, n_groups, seeds) or (n_groups, n_x, seeds) against x, with one
    intercept per group (the other axis) and the seeds as replicates: (slope, standard error). `axis_groups` is
    the axis of `values` holding the groups. Non-finite values (diverged runs) are left out."""
    v = np.moveaxis(np.asarray(values, float), axis_groups, 0)  # (groups, n_x, seeds)
    xs = np.asarray(x, float)
    num = den = 0.0
    parts = []
    for g in v:
        ok = np.isfinite(g)
        xx = np.broadcast_to(xs[:, None], g.shape)[ok]
        yy = g[ok]
        if xx.size < 2:
            continue
        xc, yc = xx - xx.mean(), yy - yy.mean()
        num += float(np.sum(xc * yc))
        den += float(np.sum(xc**2))
        parts.append((xc, yc))
    if den <= 0:
        return float("nan"), float("nan")
    b = num / den
    res = np.concatenate([yc - b * xc for xc, yc in parts])
    dof = res.size - len(parts) - 1
    se = float(np.sqrt(np.sum(res**2) / max(dof, 1) / den))
    return float(b), se


def slope_tests(tables: list[dict]) -> dict:
    """The slope statistics of trends A and B per vocabulary size, and the largest rise of one ratio column with
    eta_Z in units of its standard error (see the module docstring)."""
    out = {"A_slope": [], "A_se": [], "B_slope": [], "B_se": [], "A_column_worst_t": -np.inf}
    for t in tables:
        v = t["values"]  # (eta_Z, ratio, seeds)
        lz = np.log(t["eta_Z"])
        a, sa = pooled_slope(v, lz, axis_groups=1)
        cols = np.nonzero(t["ratio"] >= 2 - 1e-9)[0]
        b, sb = pooled_slope(v[:, cols], np.log(t["ratio"][cols]), axis_groups=0)
        out["A_slope"].append(a)
        out["A_se"].append(sa)
        out["B_slope"].append(b)
        out["B_se"].append(sb)
        for j in range(v.shape[1]):
            bj, sj = pooled_slope(v[:, j : j + 1], lz, axis_groups=1)
            out["A_column_worst_t"] = max(out["A_column_worst_t"], bj / max(sj, 1e-12))
    # B pooled over every vocabulary size ("mostly"; one intercept per (M, eta_Z) row): K = 2 alone is noisy at high
    # eta (spec S11), so a single panel with 3 seeds cannot order the ratios
    cols = np.nonzero(tables[0]["ratio"] >= 2 - 1e-9)[0]
    rows = np.concatenate([t["values"][:, cols] for t in tables], axis=0)
    out["B_pooled"] = pooled_slope(rows, np.log(tables[0]["ratio"][cols]), axis_groups=0)
    return out


# The authors' Fig-6 sweep (spec §2, §5: the sweep log's command): Syn-Medium, T = 128, batch 128, SGD momentum 0.9,
# 100 steps, PyTorch-default init (uniform +-1/sqrt(M)), eta_Z in {0.5, 1, 2, 3} x eta_Y/eta_Z in {1, 2, 5, 10}.
AUTHORS_FIG6 = {
    "data.num_next_per_last": 2, "data.num_common": 10, "data.num_common_per_last": 0, "data.num_unique": 10,
    "data.common_weight": 1.0, "data.unique_min": 0.1, "data.unique_max": 1.0, "data.num_padding": 0,
    "data.mode": "sampled", "data.seq_len": 128, "data.batch_size": 128, "model.init": "uniform",
    "model.init_scale": None, "train.optimizer": "sgd_momentum", "train.momentum": 0.9, "train.steps": 100,
    "train.clip_norm": None, "sweep.lr": {"Z": [0.5, 1, 2, 3], "Y_over_Z": [1, 2, 5, 10]},
}


def fig6_mismatches(config: dict) -> dict:
    """The fields of a run's resolved config (`config_of(ds)`) that differ from the authors' Fig-6 sweep
    (`AUTHORS_FIG6`)."""
    bad = {}
    for k, want in AUTHORS_FIG6.items():
        sec, name = k.split(".")
        got = config.get(sec, {}).get(name)
        if k == "sweep.lr":
            got = {g: [float(x) for x in v] for g, v in got.items()}
            want = {g: [float(x) for x in v] for g, v in want.items()}
        same = (got is not None and abs(float(got) - want) < 1e-12) if isinstance(want, float) else got == want
        if not same:
            bad[k] = (got, want)
    wd = (config.get("train", {}).get("optimizer_args") or {}).get("weight_decay", 0.0)
    if wd:
        bad["weight decay"] = (wd, 0.0)
    return bad


def run_fig6_sweep(num_last, seeds: int, steps: int, out_dir: Path, overrides=()) -> tuple[list[Path], dict]:
    """Run the Syn-Medium sweep, one program per L; return the run directories and wall times."""
    from scanflow.engine.config import config_from_dict
    from scanflow.engine.run import execute

    dirs, walls = [], {}
    for L in num_last:
        cfg = config_from_dict(FIG6, [f"data.num_last={L}", f"sweep.seeds={seeds}", f"train.steps={steps}",
                                      f"train.record_every={steps}", f"name=S11_fig6_L{L}", *overrides])
        t0 = time.perf_counter()
        dirs.append(execute(cfg, out_dir=out_dir, plot=False))
        walls[L] = time.perf_counter() - t0
    return dirs, walls


def fig6_sweep(num_last, seeds: int, steps: int) -> dict:
    """Everything S11 measures: the Syn-Medium sweep (`run_fig6_sweep`, read back in memory as Datasets), its Fig-6
    tables (plots_sweeps.fig6_table), the fields differing from the authors' sweep (`fig6_mismatches`), the
    diverged runs, the adjacent-step counts (`trend_fractions`), the slope tests (`slope_tests`), the range of the
    cell means, and the wall times."""
    from scanflow.engine.dataset import config_of
    from scanflow.engine.results import load_run
    from scanflow.papers.scan_snap import plots_sweeps as sw

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s11-") as tmp:
        dirs, walls = run_fig6_sweep(num_last, seeds, steps, Path(tmp))
        runs = [load_run(d) for d in dirs]  # in memory: the directories go with `tmp`
    tables = [sw.fig6_table(r) for r in runs]
    mismatch = {}
    for r in runs:
        mismatch.update(fig6_mismatches(config_of(r)))
    return {"num_last": num_last, "seeds": seeds, "steps": steps, "runs": runs, "tables": tables, "walls": walls,
            "mismatch": mismatch, "Ms": [t["M"] for t in tables],
            "diverged": int(sum(int((~np.isfinite(t["values"])).sum()) for t in tables)),
            "fr": trend_fractions(tables), "sl": slope_tests(tables),
            "max_mean": float(max(np.nanmax(t["mean"]) for t in tables)),
            "min_mean": float(min(np.nanmin(t["mean"]) for t in tables)), "wall": time.perf_counter() - t0}


def _markdown_table(tables: list[dict]) -> str:
    ratios = tables[0]["ratio"]
    lines = ["| M (L/K) | eta_Z | " + " | ".join(f"nu={x:g}" for x in ratios) + " |",
             "|---|---|" + "---|" * len(ratios)]
    for t in tables:
        for i, z in enumerate(t["eta_Z"]):
            cells = " | ".join(f"{t['mean'][i, j]:.4f} ± {t['std'][i, j]:.4f}" for j in range(len(ratios)))
            lines.append(f"| {t['M']} ({t['L']}/{t['K']}) | {z:g} | {cells} |")
    return "\n".join(lines)


def _s11_notes(m: dict) -> str:
    """The wall times and the table of cell means (the spec's official table is held back)."""
    return (
        f"Wall time {m['wall']:.0f} s (" + ", ".join(f"L={L}: {w:.0f} s" for L, w in m["walls"].items()) + "). "
        "Final class-mean distinct-token entropy, mean ± std over seeds (the spec's held-back official "
        "table is not available here, so only the trends are checked):\n\n" + _markdown_table(m["tables"])
    )


def _s11_mismatch_note(m: dict, quick: bool) -> str:
    if m["mismatch"]:
        return "differs: " + "; ".join(f"{k} = {g} (sweep: {w})" for k, (g, w) in m["mismatch"].items())
    return "each run's resolved config matches AUTHORS_FIG6" + (
        "; quick mode runs 2 of the 4 vocabulary sizes with fewer seeds" if quick else "")


S11_SOURCES = {"trends A, B": "paper text, Sec. 6 (learning-rate effects) and Fig 6",
               "H0": "plots_sweeps.H0 = H(i/55): the distinct-token entropy of c_n (Eq. 5) at Z = 0"}


@check(
    paper="scan-snap",
    name="S11",
    claim="Fig 6 trends (Sec 6): the final distinct-token attention entropy falls with eta_Z at fixed "
    "eta_Y/eta_Z, rises with eta_Y/eta_Z for ratios >= 2, and stays below its initial value 2.1513",
    mode="C",
    home="(C) the authors' Fig-6 sweep: Syn-Medium, T = 128, batch 128, SGD momentum 0.9, 100 steps, PyTorch-default "
    "init, eta_Z in {0.5, 1, 2, 3} x eta_Y/eta_Z in {1, 2, 5, 10} (quick: num_last 1, 3 and 3 seeds; full: all four "
    "vocabulary sizes, 10 seeds)",
)
def s11_fig6_trends(ctx: Context) -> Result:
    from scanflow.engine.figures import save
    from scanflow.papers.scan_snap import plots_sweeps as sw

    # measurement: the Fig-6 sweep's final entropies, their slope tests and range (prediction: Sec. 6 trends, H0)
    m = fig6_sweep(ctx.pick(FULL_NUM_LAST, QUICK_NUM_LAST), ctx.seeds(10, QUICK_SEEDS), steps=100)
    sl, fr, Ms = m["sl"], m["fr"], m["Ms"]
    # assumptions: the authors' sweep, field by field
    assumptions = [
        meter("fields differing from the authors' Fig-6 sweep", len(m["mismatch"]), "==", 0,
              ref="Tian et al. 2023, Fig 6; authors' code decoder_only.py (Fig-6 sweep log)",
              note=_s11_mismatch_note(m, ctx.quick))]
    # verdict: A per M and per column, B pooled over M, C every cell below H0
    gate = all_of(
        at_most("max_M (slope vs log eta_Z + 2 se)", max(a + 2 * s for a, s in zip(sl["A_slope"], sl["A_se"])), 0.0,
                why="A: entropy falls with eta_Z at fixed ratio; pooled slope per M, one intercept per ratio, seeds "
                "as replicates"),
        at_most("max over (M, ratio) columns of the slope vs log eta_Z / se", sl["A_column_worst_t"], 2.0,
                why="A holds in every column: none rises with eta_Z by more than 2 se"),
        at_least("slope vs log ratio - 2 se, ratios >= 2, pooled over M", sl["B_pooled"][0] - 2 * sl["B_pooled"][1],
                 0.0, why="B: entropy mostly rises with eta_Y/eta_Z beyond 2; one intercept per (M, eta_Z) row"),
        at_most("max cell mean entropy - H0", m["max_mean"] - sw.H0, -1e-9, why=f"C: every cell below H0 = {sw.H0:.4f}",
                ours="1e-9: strictly below"))
    pred = {"slope vs log eta_Z": "< 0 (entropy falls with eta_Z)",
            "slope vs log ratio, ratios >= 2": "> 0 (mostly rises)", "max_cell_entropy": f"< H0 = {sw.H0:.4f}",
            "H0": sw.H0}
    meas = {
        "slope of entropy vs log eta_Z per M (+- se)": [f"M={M}: {a:.4f} +- {s:.4f}" for M, a, s in
                                                        zip(Ms, sl["A_slope"], sl["A_se"])],
        "slope of entropy vs log ratio (>= 2), pooled over M (+- se)": list(sl["B_pooled"]),
        "(not gated) slope vs log ratio (>= 2) per M (+- se)": [f"M={M}: {b:.4f} +- {s:.4f}" for M, b, s in
                                                                zip(Ms, sl["B_slope"], sl["B_se"])],
        "worst column slope vs log eta_Z / se": sl["A_column_worst_t"],
        "(not gated) adjacent eta_Z steps: pairs monotone within 2 SE": f"{fr['A_monotone']} / {fr['A_pairs']}",
        "(not gated) adjacent ratio steps >= 2 increasing within 2 SE": f"{fr['B_increasing']} / {fr['B_steps']}",
        "max_cell_entropy": m["max_mean"], "min_cell_entropy": m["min_mean"], "diverged_runs": m["diverged"],
        **{f"mean_entropy_M{t['M']}": float(np.nanmean(t["mean"])) for t in m["tables"]}, "wall_s": m["wall"]}
    ctx.fig_dir.mkdir(parents=True, exist_ok=True)  # saved as before (dpi 130, not tight), not via ctx.save_figure
    save(sw.fig6_entropy(m["runs"]), Path(ctx.fig_dir) / "S11_fig6.png")
    return Result(
        predicted=pred, measured=meas, **gate.result_fields(), assumptions=assumptions, sources=S11_SOURCES,
        setting=f"(C) Syn-Medium, num_last {list(m['num_last'])} (M = {Ms}), num_next_per_last 2, "
        f"T = 128, batch 128, SGD momentum 0.9, {m['steps']} steps, uniform init ±1/sqrt(M), "
        f"eta_Z in {{0.5, 1, 2, 3}} x eta_Y/eta_Z in {{1, 2, 5, 10}}, {m['seeds']} seeds"
        + (" (quick mode: fewer vocabulary sizes and seeds)" if ctx.quick else ""),
        notes=_s11_notes(m), figure="S11_fig6.png", seeds=m["seeds"])
