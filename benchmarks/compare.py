"""scanflow vs what users run today, measured side by side in one invocation.

    python benchmarks/compare.py --json out.json       # the Fig-6 table (CPU: about 5 min on 2 cores)
    python benchmarks/compare.py --levers              # also scanflow with each speed lever turned off
    python benchmarks/compare.py --only torch,scanflow,flow,memory,naive,process

The workload is the paper's Fig-6 sweep, `configs/scan_snap_fig6.yaml`: M in {33, 79, 125, 240} x 16
learning-rate points x 10 seeds = 640 runs of 100 SGD-momentum steps, T = 128, batch 128.

* torch:     the headline baseline. `benchmarks/torch_reference.py` (the authors' `Model2` + `Dataset2`
             loop, batches sampled in Python) run **in one process**: no start-up per run, no checkpoint
             writes, torch's default threads. `--torch-runs` runs per M are timed (torch imported once);
             the 640-run time is the mean per run at each M times 160 runs.
* process:   the same loop, one process per run (the authors' Hydra basic launcher), one run per M,
             extrapolated the same way: the start-up of each run's process is included.
* scanflow:  ``scanflow run configs/scan_snap_fig6.yaml`` exactly as the README types it (figures drawn,
             progress bar on) as a fresh process, timed from start to exit (imports, compile, four
             programs, writing results.nc, the printed table, the figures): first with an empty
             persistent compile cache (cold), then again with the cache it filled (warm); then the warm
             run with ``--no-plot --quiet``, so the figures' share of the command is measured side by
             side. The CLI's defaults: one CPU device per core, the config's runs_per_block.
* levers:    with --levers, the warm scanflow run again with one lever off at a time (shared batches,
             one device per core, the block of 4, the config's short metric list), so each lever's gain
             is measured in the same invocation.
* naive:     a Python for-loop over a jitted scanflow step, one run at a time (same model, data and
             keys); a subset per M, extrapolated (one compile per M is counted).
* flow:      population-mode gradient flow (Tsit5, rtol 1e-6) to t = 1e4.
* memory:    peak RSS of a 1e4-run population-mode sweep.

A like-for-like check compares the in-process torch runs' final distinct-token entropy with
scanflow's on two cells at M = 33 (independent random streams, so within 3 standard errors). The
JSON file holds every number, the ratios and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_fig6.yaml"
NUM_LAST = (1, 3, 5, 10)  # M = 33, 79, 125, 240
ETA_Z = (0.5, 1, 2, 3)
RATIOS = (1, 2, 5, 10)
N_RUNS = 640
ENTROPY_CELLS = ((1.0, 2.0), (3.0, 10.0))  # (eta_Z, eta_Y/eta_Z) at M = 33


def fig6_cfg(L: int, *extra: str):
    from scanflow.papers.scan_snap.checks.sweep_checks import FIG6
    from scanflow.engine.config import config_from_dict

    return config_from_dict(FIG6, [f"data.num_last={L}", f"name=bench_fig6_L{L}", *extra])


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- children


def scanflow_cli(cache: Path, out: Path, *overrides: str, env_extra: dict | None = None, plot: bool = False) -> dict:
    """``scanflow run configs/scan_snap_fig6.yaml`` as a fresh process with this compile cache: wall time
    from start to exit, the manifest's compile and run seconds, and the final entropy at M = 33. `plot`: the
    command exactly as the README types it (figures drawn, progress bar on); else ``--no-plot --quiet``."""
    import numpy as np
    import xarray as xr

    env = {**os.environ, "SCANFLOW_COMPILE_CACHE": str(cache), **(env_extra or {})}
    for k in ("JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS"):
        env.pop(k, None)
    before = set(out.glob("*")) if out.exists() else set()
    cmd = [sys.executable, "-m", "scanflow.cli", "run", str(CONFIG), *overrides, "--out", str(out),
           *([] if plot else ["--no-plot", "--quiet"])]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"scanflow failed:\n{p.stderr[-3000:]}")
    (run_dir,) = set(out.glob("*")) - before
    m = json.loads((run_dir / "manifest.json").read_text())
    timings = m["timings"]
    parts = [q["timings"] for q in m.get("parts") or [{"timings": timings}]]
    with xr.open_dataset(run_dir / "results.nc", engine="h5netcdf") as ds:
        ent = ds["entropy"].isel(step=-1).mean("cls")  # (num_last, point, seed)
        ent33 = ent.sel(num_last=1) if "num_last" in ent.dims else ent
        order = [ETA_Z.index(z) * 4 + RATIOS.index(r) for z, r in zip(ent33["lr_Z"].values,
                                                                        (ent33["lr_Y"] / ent33["lr_Z"]).values)]
        entropy = np.empty((16, ent33.sizes["seed"]))
        entropy[order] = ent33.values
    figures = sorted((run_dir / "figures").glob("*")) if (run_dir / "figures").is_dir() else []
    return {"wall_s": wall, "compile_s": timings["compile_s"], "run_s": timings["run_s"], "figure_files": len(figures),
            "per_M": {M: {k: q[k] for k in ("compile_s", "run_s")} for M, q in zip((33, 79, 125, 240), parts)},
            "devices": parts[0].get("devices"), "runs_per_block": parts[0].get("runs_per_block"),
            "compile_cache": [q.get("compile_cache", {}).get("programs_from") for q in parts],
            "overrides": list(overrides), "env": env_extra or {}, "entropy": entropy.tolist()}


def child_fig6(args) -> dict:
    """The Fig-6 `scanflow run` process, cold then warm (benchmarks/gpu.sh); --runs-per-block overrides the config's."""
    import tempfile

    extra = [f"sweep.runs_per_block={args.runs_per_block}"] if args.runs_per_block else []
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "runs"
        return {"cold": scanflow_cli(cache, out, *extra), "warm": scanflow_cli(cache, out, *extra)}


def child_naive(args) -> dict:
    """Python loop over a jitted step, one run at a time; `args.runs` runs per M."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from scanflow.engine import discrete
    from scanflow.engine.optim import make_optimizer
    from scanflow.engine.sweep import hyperparams, program, run_key, static_part

    per_M = {}
    for L in NUM_LAST:
        cfg = fig6_cfg(L)
        problem = program(static_part(cfg)).problem
        hp = hyperparams(cfg, problem.info)
        tc = cfg.train

        @jax.jit
        def step(params, opt_state, k_data, i, lr):
            tx = make_optimizer(tc, lr)
            loss, g = jax.value_and_grad(problem.loss)(params, jax.random.fold_in(k_data, i), i)
            upd, opt_state = tx.update(g, opt_state, params)
            return optax.apply_updates(params, upd), opt_state, loss

        walls, compile_s = [], None
        for r in range(args.runs + 1):  # run 0 includes the compile; it is timed separately
            point, seed = r % 16, r
            hp_one = jax.tree.map(lambda a: jnp.asarray(a[point]), hp)
            t = time.perf_counter()
            key = run_key(jax.random.PRNGKey(1), seed)
            params = problem.init(discrete.init_key(key), hp_one)
            opt_state = make_optimizer(tc, hp_one["lr"]).init(params)
            k_data = discrete.data_key(key)
            for i in range(tc.steps):
                params, opt_state, loss = step(params, opt_state, k_data, i, hp_one["lr"])
            jax.block_until_ready(params)
            if r == 0:
                compile_s = time.perf_counter() - t
            else:
                walls.append(time.perf_counter() - t)
        per_M[problem.info["M"]] = {"run_s": float(np.mean(walls)), "first_run_incl_compile_s": compile_s}
    total = sum(v["first_run_incl_compile_s"] + (N_RUNS // 4 - 1) * v["run_s"] for v in per_M.values())
    return {"per_M": per_M, "extrapolated_640_s": total, "measured_runs": args.runs + 1}


def child_flow(args) -> dict:
    from scanflow.engine.config import config_from_dict
    from scanflow.engine.sweep import run_sweep

    cfg = config_from_dict(
        {"workload": "scan_snap", "name": "bench_flow", "x64": True,
         "data": {"num_last": 2, "num_next_per_last": 1, "mode": "population"},
         "model": {"init": "uniform"},
         "train": {"method": "flow", "steps": 10000, "record_every": 1000, "record_attention": False},
         "flow": {"solver": "tsit5", "rtol": 1e-6, "atol": 1e-8},
         "sweep": {"seeds": args.seeds, "lr": {"Y": [1.0, 2.0, 5.0, 10.0], "Z": [0.5, 1.0]}}}, [])
    t = time.perf_counter()
    o = run_sweep(cfg)
    return {"runs": 8 * args.seeds, "t1": 1e4, "wall_s": time.perf_counter() - t, **o.timings,
            "solver_steps_max": int(o.arrays["solver_steps"].max()),
            "solver_ok": int((o.arrays["solver_status"] == 0).sum())}


def child_population(args) -> dict:
    """`args.runs` population-mode SGD runs (Syn-Small, M = 34) x `args.steps` steps; peak memory."""
    import jax
    import numpy as np

    from scanflow.engine.config import config_from_dict
    from scanflow.engine.sweep import run_sweep

    n_y = 100
    seeds = max(1, args.runs // n_y)
    cfg = config_from_dict(
        {"workload": "scan_snap", "name": "bench_population", "x64": False,
         "data": {"num_last": 2, "num_next_per_last": 1, "mode": "population"},
         "model": {"init": "uniform"},
         "train": {"optimizer": "sgd_momentum", "steps": args.steps, "record_every": args.steps // 10,
                   "record_attention": False},
         "sweep": {"seeds": seeds, "lr": {"Y": np.geomspace(0.1, 10, n_y).round(6).tolist(), "Z": [1.0]}}}, [])
    rss0 = _rss_mb()
    t = time.perf_counter()
    o = run_sweep(cfg, runs_per_block=args.runs_per_block)
    wall = time.perf_counter() - t
    out = {"runs": n_y * seeds, "steps": args.steps, "wall_s": wall, **o.timings,
           "peak_rss_mb": _rss_mb(), "rss_before_mb": rss0, "backend": jax.default_backend(),
           "device": str(jax.devices()[0].device_kind), "diverged": int(o.arrays["diverged"].sum())}
    if jax.default_backend() == "gpu":
        stats = jax.devices()[0].memory_stats() or {}
        out["peak_device_mb"] = stats.get("peak_bytes_in_use", 0) / 2**20
    return out




# ----------------------------------------------------------------------------- parent


def run_child(kind: str, *extra: str) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--child", kind, *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t
    return out


def child_torch(args) -> dict:
    """The authors' loop in this one process: `args.runs` runs per M, plus the entropy cells at M = 33."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    t = time.perf_counter()
    import torch_reference as ref  # imports torch once

    import_s = time.perf_counter() - t
    import torch

    jobs = [(1, z, r, s) for z, r in ENTROPY_CELLS for s in range(1, args.runs + 1)]
    jobs += [(L, 1.0, 2.0, s) for L in NUM_LAST[1:] for s in range(1, args.runs + 1)]
    runs = []
    for L, z, r, s in jobs:
        t = time.perf_counter()
        rec = ref.train(L, z, r, s)
        rec["wall_s"] = time.perf_counter() - t
        runs.append(rec)
        print(f"  torch (in-process) M={rec['M']} eta_Z={z:g} ratio={r:g} seed={s}: {rec['wall_s']:.2f} s, "
              f"entropy {rec['entropy']:.4f}", file=sys.stderr, flush=True)
    return {"runs": runs, "import_torch_s": import_s, "threads": torch.get_num_threads(), "version": torch.__version__,
            **_extrapolate(runs, "wall_s")}


def _extrapolate(runs: list, key: str) -> dict:
    """Mean time per run at each M, times the 160 runs of each M."""
    by_M: dict = {}
    for rec in runs:
        by_M.setdefault(rec["M"], []).append(rec[key])
    per_M = {m: sum(v) / len(v) for m, v in sorted(by_M.items())}
    return {"per_M_mean_s": per_M, "extrapolated_640_s": sum(per_M.values()) * N_RUNS / len(per_M),
            "measured_runs": len(runs)}


def run_torch_processes() -> dict:
    """The same loop, one process per run (start-up included): one run per M."""
    runs = []
    for L in NUM_LAST:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "torch_reference.py"), "--num-last", str(L),
               "--lr-z", "1", "--ratio", "2", "--seed", "1"]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"torch reference failed (pip install -e .[bench]?):\n{p.stderr[-2000:]}")
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        rec["process_wall_s"] = time.perf_counter() - t
        runs.append(rec)
        print(f"  torch (one process) M={rec['M']}: {rec['process_wall_s']:.1f} s", file=sys.stderr, flush=True)
    return {"runs": runs, **_extrapolate(runs, "process_wall_s")}


def entropy_check(torch_res: dict, sf: dict) -> list[dict]:
    """|mean_torch - mean_scanflow| <= 3 SE, SE = sd * sqrt(1/n_torch + 1/n_scanflow), with sd
    scanflow's across-seed std of the same cell (both sample the same distribution of runs)."""
    import numpy as np

    ent = np.asarray(sf["entropy"])  # (16 points, 10 seeds), point = iZ * 4 + iratio
    out = []
    for z, r in ENTROPY_CELLS:
        p = ETA_Z.index(z) * 4 + RATIOS.index(r)
        t = np.array([x["entropy"] for x in torch_res["runs"] if x["M"] == 33 and x["lr_z"] == z and x["ratio"] == r])
        s = ent[p]
        se = s.std(ddof=1) * np.sqrt(1 / len(t) + 1 / len(s))
        diff = float(t.mean() - s.mean())
        out.append({"eta_Z": z, "ratio": r, "torch_mean": float(t.mean()), "torch_n": len(t),
                    "scanflow_mean": float(s.mean()), "scanflow_sd": float(s.std(ddof=1)), "diff": diff,
                    "tol_3se": float(3 * se), "ok": bool(abs(diff) <= 3 * se)})
    return out


CHILDREN = {"torch": child_torch, "fig6": child_fig6, "naive": child_naive, "flow": child_flow, "population": child_population}


LEVERS = (  # (name, overrides, environment): the warm scanflow run with one lever turned off
    ("batches drawn in every run (sweep.share_batches=false)", ("sweep.share_batches=false",), {}),
    ("one CPU device (SCANFLOW_CPU_DEVICES=1)", (), {"SCANFLOW_CPU_DEVICES": "1"}),
    ("one run per block (sweep.runs_per_block=1)", ("sweep.runs_per_block=1",), {}),
    ("every metric recorded (train.metrics=null)", ("train.metrics=null",), {}),
)


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="torch,process,scanflow,flow,memory")
    ap.add_argument("--levers", action="store_true", help="also the warm scanflow run with each speed lever off")
    ap.add_argument("--quick", action="store_true", help="fewer reference runs; smaller flow and memory parts")
    ap.add_argument("--json", default=None, help="also write all numbers to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--torch-runs", type=int, default=None, help="in-process torch runs per M (default 4; 2 with --quick)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--runs-per-block", type=int, default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return

    parts = set(args.only.split(","))
    res: dict = {"cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "load_average_before": os.getloadavg()}
    say = lambda m: print(m, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "runs"
        if "scanflow" in parts:  # the command as typed (figures on), cold then warm; then --no-plot, warm
            say("scanflow run configs/scan_snap_fig6.yaml (as typed: figures on), cold compile cache ...")
            res["typed_cold"] = scanflow_cli(cache, out, plot=True)
            say(f"  {res['typed_cold']['wall_s']:.1f} s")
            say("scanflow run configs/scan_snap_fig6.yaml (as typed), warm compile cache ...")
            res["typed_warm"] = scanflow_cli(cache, out, plot=True)
            say(f"  {res['typed_warm']['wall_s']:.1f} s")
            say("scanflow run ... --no-plot --quiet, warm compile cache ...")
            res["scanflow_warm"] = scanflow_cli(cache, out)
            say(f"  {res['scanflow_warm']['wall_s']:.1f} s")
            typed, bare = res["typed_warm"]["wall_s"], res["scanflow_warm"]["wall_s"]
            res["figures_share"] = {"figures_s": typed - bare, "share_of_typed_warm": (typed - bare) / typed,
                                    "figure_files": res["typed_warm"]["figure_files"]}
            if args.levers:
                res["levers"] = {}
                for name, overrides, env in LEVERS:
                    say(f"scanflow, warm, {name}: cold for this program, then warm ...")
                    scanflow_cli(cache, out, *overrides, env_extra=env)  # fills the cache for this variant
                    res["levers"][name] = scanflow_cli(cache, out, *overrides, env_extra=env)
                    say(f"  {res['levers'][name]['wall_s']:.1f} s")
    if "torch" in parts:
        say("PyTorch reference, in one process ...")
        n = args.torch_runs or (2 if args.quick else 4)
        res["torch"] = run_child("torch", "--runs", str(n))
        if "scanflow_warm" in res:
            res["entropy_check"] = entropy_check(res["torch"], res["scanflow_warm"])
    if "process" in parts:
        say("PyTorch reference, one process per run ...")
        res["torch_process"] = run_torch_processes()
    if "naive" in parts:
        say("naive JAX loop ...")
        res["naive"] = run_child("naive", "--runs", "1" if args.quick else "2")
    if "flow" in parts:
        say("gradient flow ...")
        res["flow"] = run_child("flow", "--seeds", "1" if args.quick else "4")
    if "memory" in parts:
        say("population sweep, peak memory ...")
        res["memory"] = run_child("population", "--runs", "1000" if args.quick else "10000", "--steps", "100")
    res["load_average_after"] = os.getloadavg()
    res["ratios"] = ratios(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(table(res))


def ratios(res: dict) -> dict:
    """Baseline time / scanflow time, for each baseline and each scanflow row."""
    base = {k: res[k]["extrapolated_640_s"] for k in ("torch", "torch_process", "naive") if k in res}
    rows = {k: res[k]["wall_s"] for k in ("typed_cold", "typed_warm", "scanflow_cold", "scanflow_warm") if k in res}
    rows.update({f"lever off: {k}": v["wall_s"] for k, v in res.get("levers", {}).items()})
    return {f"{b} / {r}": tb / tr for b, tb in base.items() for r, tr in rows.items()}


def table(res: dict) -> str:
    la = lambda k: "/".join(f"{x:.2f}" for x in res[k])
    lines = [f"Fig-6 sweep: 640 runs x 100 steps (M = 33, 79, 125, 240); {res['cpu_count']} CPU cores; "
             f"started {res['started']}; load average (1/5/15 min) {la('load_average_before')} before, "
             f"{la('load_average_after')} after", "",
             "| contender | 640-run wall (s) | of which compile (s) | run (s) | per run (s) | faster than the in-process torch loop by |",
             "|---|---|---|---|---|---|"]
    base = res.get("torch", {}).get("extrapolated_640_s")
    ratio = lambda t: f"{base / t:,.1f}x" if base else "-"

    def row(name, total, compile_s=None, run_s=None):
        c = f"{compile_s:.1f}" if compile_s is not None else "-"
        r = f"{run_s:.1f}" if run_s is not None else "-"
        lines.append(f"| {name} | {total:,.1f} | {c} | {r} | {total / N_RUNS:.3f} | {ratio(total)} |")

    if "torch" in res:
        t = res["torch"]
        row(f"PyTorch loop in one process (torch {t['version']}, {t['threads']} threads; extrapolated from "
            f"{t['measured_runs']} runs)", t["extrapolated_640_s"])
    if "torch_process" in res:
        t = res["torch_process"]
        row(f"PyTorch, one process per run (extrapolated from {t['measured_runs']} runs)", t["extrapolated_640_s"])
    if "naive" in res:
        n = res["naive"]
        comp = sum(v["first_run_incl_compile_s"] - v["run_s"] for v in n["per_M"].values())
        row(f"naive JAX loop, one run at a time (extrapolated from {n['measured_runs']} runs per M)",
            n["extrapolated_640_s"], comp)
    for key, name in (("typed_cold", "the command as typed (figures on), cold compile cache"),
                      ("typed_warm", "the command as typed (figures on), warm compile cache"),
                      ("scanflow_cold", "--no-plot, cold compile cache"), ("scanflow_warm", "--no-plot, warm compile cache")):
        if key in res:
            s = res[key]
            row(f"**scanflow, {name}** ({s['devices']} devices, block {s['runs_per_block']}; whole process)",
                s["wall_s"], s["compile_s"], s["run_s"])
    if base and all(k in res for k in ("typed_cold", "typed_warm", "scanflow_warm")):
        got = [(name, base / res[k]["wall_s"], goal) for name, k, goal in (
            ("as typed, warm", "typed_warm", 100), ("as typed, cold", "typed_cold", 50),
            ("--no-plot, warm", "scanflow_warm", 120))]
        lines.append("\ntargets against the in-process torch loop: " + "; ".join(
            f"{name} {r:.1f}x (>= {goal}x: {'met' if r >= goal else 'missed'})" for name, r, goal in got))
    if "figures_share" in res:
        f = res["figures_share"]
        lines.append(f"\nfigures (as typed minus --no-plot, warm): {f['figures_s']:.1f} s, "
                     f"{100 * f['share_of_typed_warm']:.0f}% of the command; {f['figure_files']} files")
    for name, s in res.get("levers", {}).items():
        row(f"scanflow, warm, {name}", s["wall_s"], s["compile_s"], s["run_s"])
    for key in ("typed_cold", "scanflow_cold", "scanflow_warm"):
        if key in res:
            per = ", ".join(f"M={m}: {v['compile_s']:.1f} / {v['run_s']:.1f}" for m, v in res[key]["per_M"].items())
            lines.append(f"\n{key} compile / run (s) by M: {per}; programs from: {res[key]['compile_cache']}")
    if "entropy_check" in res:
        lines += ["", "Like-for-like: final distinct-token entropy at M = 33, torch (in-process runs) vs scanflow (3 SE):"]
        for e in res["entropy_check"]:
            lines.append(f"  eta_Z={e['eta_Z']:g} ratio={e['ratio']:g}: torch {e['torch_mean']:.4f} (n={e['torch_n']}) "
                         f"scanflow {e['scanflow_mean']:.4f} (n=10, sd {e['scanflow_sd']:.4f}); diff {e['diff']:+.4f}, "
                         f"tol {e['tol_3se']:.4f} -> {'OK' if e['ok'] else 'MISMATCH'}")
    if "flow" in res:
        f = res["flow"]
        lines.append(f"\nGradient flow (population, Tsit5 rtol 1e-6, t = 1e4): {f['runs']} runs in {f['wall_s']:.1f} s "
                     f"(compile {f['compile_s']:.1f} s, run {f['run_s']:.1f} s), {f['solver_ok']}/{f['runs']} ok, "
                     f"max {f['solver_steps_max']} solver steps")
    if "memory" in res:
        m = res["memory"]
        dev = f", peak device memory {m['peak_device_mb']:.0f} MB" if "peak_device_mb" in m else ""
        lines.append(f"Population sweep: {m['runs']} runs x {m['steps']} steps in {m['wall_s']:.1f} s "
                     f"(compile {m['compile_s']:.1f} s, run {m['run_s']:.1f} s) on {m['backend']}; "
                     f"peak RSS {m['peak_rss_mb']:.0f} MB{dev}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
