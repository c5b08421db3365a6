"""Run a config end to end: sweep -> run directory (-> figures). The CLI's `run` is a thin wrapper."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from scanflow import results
from scanflow.config import Config, to_dict
from scanflow.sweep import run_sweep


def execute(cfg: Config, out_dir: str | Path | None = None, progress: bool = False, plot: bool = True) -> Path:
    """Run the sweep of `cfg` and write its run directory; return its path.

    Nothing is written until the sweep has finished, and the directory appears atomically.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out = run_sweep(cfg, progress=progress)
    manifest = {
        "name": cfg.name,
        "started": started,
        "command": sys.argv,
        "versions": results.versions(),
        **results.device_info(),
        "x64": cfg.x64,
        "timings": out.timings,
        "n_points": int(len(out.coords["point"])),
        "n_seeds": int(len(out.coords["seed"])),
        "diverged_runs": diverged_runs(out.arrays),
        "workload_info": out.info,
    }
    path = results.new_run_dir(out_dir if out_dir is not None else cfg.out_dir, cfg.name)
    results.write_run(path, to_dict(cfg), out.arrays, out.dims, out.coords, manifest)
    if plot:
        from scanflow.plots import plot_run

        plot_run(path)
    return path


def diverged_runs(arrays: dict) -> list[dict]:
    """[{point, seed, lr_Y, lr_Z, step}] for every run whose loss became NaN or inf."""
    out = []
    for p, s in zip(*np.nonzero(arrays["diverged"])):
        out.append(
            {
                "point": int(p),
                "seed": int(s),
                "lr_Y": float(arrays["lr_Y"][p]),
                "lr_Z": float(arrays["lr_Z"][p]),
                "step": int(arrays["diverged_step"][p, s]),
            }
        )
    return out
