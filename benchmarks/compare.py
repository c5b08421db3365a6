"""scanflow vs what users run today, measured side by side in one invocation.

    python benchmarks/compare.py                  # the whole table (CPU: ~15-30 min on 2 cores)
    python benchmarks/compare.py --quick          # fewer reference runs, smaller flow/memory parts
    python benchmarks/compare.py --only scanflow,naive

The workload is the paper's Fig-6 sweep (`scanflow.papers.scan_snap.checks.sweep_checks.FIG6`): M in
{33, 79, 125, 240} x 16 learning-rate points x 10 seeds = 640 runs of 100 SGD-momentum steps,
T = 128, batch 128. Every contender runs in its own fresh process (cold start, compile included):

* torch:     `benchmarks/torch_reference.py`, the authors' way: one process per configuration,
             batches sampled in Python. A subset is run; the 640-run time is extrapolated from the
             mean wall time per run at each M (said so in the table).
* naive:     a Python for-loop over a jitted scanflow step, one run at a time (same model, data and
             keys as scanflow); a subset per M, extrapolated (one compile per M is counted).
* scanflow:  `scanflow.engine.sweep.run_sweep`, the whole 640-run sweep, on 1 device and on 8 fake CPU
             devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``).
* flow:      population-mode gradient flow (Tsit5, rtol 1e-6) to t = 1e4.
* memory:    peak RSS of a 1e4-run population-mode sweep.

A like-for-like check compares the torch reference's final distinct-token entropy with scanflow's
on two cells (independent random streams, so within 3 standard errors).
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


def child_scanflow(args) -> dict:
    """The 640-run sweep, one program per M; wall time including compile."""
    import jax
    import numpy as np

    from scanflow.engine.sweep import run_sweep

    t0 = time.perf_counter()
    out = {"devices": jax.device_count(), "per_M": {}, "entropy": {}}
    for L in NUM_LAST:
        t = time.perf_counter()
        o = run_sweep(fig6_cfg(L), runs_per_block=args.runs_per_block)
        M = o.info["M"]
        out["per_M"][M] = {"wall_s": time.perf_counter() - t, **{k: o.timings[k] for k in ("compile_s", "run_s")}}
        if L == 1:  # final entropy per (point, seed), class mean
            out["entropy"] = np.asarray(o.arrays["entropy"][:, :, -1].mean(-1)).tolist()
    out["wall_s"] = time.perf_counter() - t0
    out["compile_s"] = sum(v["compile_s"] for v in out["per_M"].values())
    out["run_s"] = sum(v["run_s"] for v in out["per_M"].values())
    return out


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
        {"name": "bench_flow", "x64": True,
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
        {"name": "bench_population", "x64": False,
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


CHILDREN = {"scanflow": child_scanflow, "naive": child_naive, "flow": child_flow, "population": child_population}


# ----------------------------------------------------------------------------- parent


def run_child(kind: str, *extra: str, devices: int = 1) -> dict:
    env = dict(os.environ)
    if devices > 1:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    cmd = [sys.executable, __file__, "--child", kind, *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t
    return out


def run_torch(seeds: int) -> dict:
    """Reference runs, one process each: the entropy cells at M = 33 and one cell per other M."""
    jobs = [(1, z, r, s) for z, r in ENTROPY_CELLS for s in range(1, seeds + 1)]
    jobs += [(L, 1.0, 2.0, s) for L in NUM_LAST[1:] for s in range(1, max(1, seeds // 2) + 1)]
    runs = []
    for L, z, r, s in jobs:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "torch_reference.py"), "--num-last", str(L),
               "--lr-z", str(z), "--ratio", str(r), "--seed", str(s)]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"torch reference failed (pip install -e .[bench]?):\n{p.stderr[-2000:]}")
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        rec["process_wall_s"] = time.perf_counter() - t
        runs.append(rec)
        print(f"  torch M={rec['M']} eta_Z={z:g} ratio={r:g} seed={s}: {rec['process_wall_s']:.1f} s, "
              f"entropy {rec['entropy']:.4f}", file=sys.stderr, flush=True)
    by_M: dict = {}
    for rec in runs:
        by_M.setdefault(rec["M"], []).append(rec["process_wall_s"])
    per_run = sum(sum(v) / len(v) for v in by_M.values()) / len(by_M)
    return {"runs": runs, "per_M_mean_s": {m: sum(v) / len(v) for m, v in by_M.items()},
            "extrapolated_640_s": per_run * N_RUNS, "measured_runs": len(runs)}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="torch,naive,scanflow,scanflow8,flow,memory")
    ap.add_argument("--quick", action="store_true", help="fewer reference runs; smaller flow and memory parts")
    ap.add_argument("--json", default=None, help="also write all numbers to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--runs-per-block", type=int, default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return

    parts = set(args.only.split(","))
    res: dict = {"cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    say = lambda m: print(m, file=sys.stderr, flush=True)
    if "scanflow" in parts:
        say("scanflow, 1 device ...")
        res["scanflow"] = run_child("scanflow")
    if "scanflow8" in parts:
        say("scanflow, 8 fake CPU devices ...")
        res["scanflow8"] = run_child("scanflow", devices=8)
    if "naive" in parts:
        say("naive JAX loop ...")
        res["naive"] = run_child("naive", "--runs", "1" if args.quick else "2")
    if "torch" in parts:
        say("PyTorch reference, one process per run ...")
        res["torch"] = run_torch(2 if args.quick else 3)
        if "scanflow" in res:
            res["entropy_check"] = entropy_check(res["torch"], res["scanflow"])
    if "flow" in parts:
        say("gradient flow ...")
        res["flow"] = run_child("flow", "--seeds", "1" if args.quick else "4")
    if "memory" in parts:
        say("population sweep, peak memory ...")
        res["memory"] = run_child("population", "--runs", "1000" if args.quick else "10000", "--steps", "100")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(table(res))


def table(res: dict) -> str:
    lines = [f"Fig-6 sweep: 640 runs x 100 steps (M = 33, 79, 125, 240); {res['cpu_count']} CPU cores; "
             f"started {res['started']}", "",
             "| contender | 640-run wall (s) | of which compile (s) | per run (s) | scanflow (1 dev) is faster by |",
             "|---|---|---|---|---|"]
    sf = res.get("scanflow", {}).get("wall_s")
    ratio = lambda t: f"{t / sf:,.0f}x" if sf else "-"

    def row(name, total, compile_s, note=""):
        comp = f"{compile_s:.1f}" if compile_s is not None else "-"
        lines.append(f"| {name}{note} | {total:,.1f} | {comp} | {total / N_RUNS:.3f} | {ratio(total)} |")

    if "torch" in res:
        t = res["torch"]
        row("PyTorch, one process per run", t["extrapolated_640_s"], None,
            f" (extrapolated from {t['measured_runs']} runs)")
    if "naive" in res:
        n = res["naive"]
        comp = sum(v["first_run_incl_compile_s"] - v["run_s"] for v in n["per_M"].values())
        row("naive JAX loop, one run at a time", n["extrapolated_640_s"], comp,
            f" (extrapolated from {n['measured_runs']} runs per M)")
    for key, name in (("scanflow", "scanflow, 1 device"), ("scanflow8", "scanflow, 8 fake CPU devices")):
        if key in res:
            s = res[key]
            row(name, s["wall_s"], s["compile_s"])
    if "entropy_check" in res:
        lines += ["", "Like-for-like: final distinct-token entropy at M = 33, torch vs scanflow (3 SE):"]
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
