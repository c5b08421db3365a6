"""Throughput of the engine at the paper's Fig-6 size: M = 240 (num_last = 10, K = 20 classes),
160 runs vmapped (4 eta_Z x 4 ratios x 10 seeds), T = 128, batch 128, SGD momentum 0.9.

    python benchmarks/throughput.py [--steps 100] [--seeds 10] [dotted.key=value ...]

Prints compile time, run time and run-steps per second (runs x steps / run time), measured in
this one invocation, on one CPU device per core (as `scanflow run`). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

FIG6_LARGEST = {"workload": "scan_snap", 
    "name": "bench_fig6_M240",
    "data": {"num_last": 10, "num_next_per_last": 2, "seq_len": 128, "batch_size": 128},
    "model": {"init": "uniform"},
    "train": {"optimizer": "sgd_momentum", "momentum": 0.9, "steps": 100, "record_every": 10,
              "record_attention": False},
    "sweep": {"seeds": 10, "lr": {"Z": [0.5, 1, 2, 3], "Y_over_Z": [1, 2, 5, 10]}},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()

    from scanflow.engine.config import config_from_dict
    from scanflow.engine.sharding import use_host_cores
    from scanflow.engine.sweep import run_sweep

    use_host_cores()  # one CPU device per core, as `scanflow run` does (SCANFLOW_CPU_DEVICES overrides)

    cfg = config_from_dict(FIG6_LARGEST, [f"train.steps={args.steps}", f"sweep.seeds={args.seeds}", *args.overrides])
    t0 = time.perf_counter()
    out = run_sweep(cfg)
    wall = time.perf_counter() - t0
    P, S = out.arrays["loss"].shape[:2]
    runs = P * S
    t = out.timings
    result = {
        "M": out.info["M"],
        "runs": runs,
        "steps": cfg.train.steps,
        "compile_s": round(t["compile_s"], 2),
        "run_s": round(t["run_s"], 2),
        "wall_s": round(wall, 2),
        "run_steps_per_s": round(runs * cfg.train.steps / t["run_s"], 1),
        "run_steps_per_s_incl_compile": round(runs * cfg.train.steps / wall, 1),
        "cpu_count": os.cpu_count(),
        "devices": t["devices"],
        "runs_per_block": t["runs_per_block"],
        "diverged_runs": int(out.arrays["diverged"].sum()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
