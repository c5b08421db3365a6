"""Run a config end to end: sweep -> run directory (-> figures). The CLI's `run` is a thin wrapper."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import yaml

from scanflow.engine import results
from scanflow.engine import sharding
from scanflow.engine.config import Config, ConfigError, to_dict
from scanflow.engine.sweep import run_sweep


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; `run_dir` is the resumable unfinished run directory."""

    def __init__(self, run_dir: Path):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def execute(
    cfg: Config,
    out_dir: str | Path | None = None,
    progress: bool = False,
    plot: bool = True,
    resume: str | Path | None = None,
    n_devices: int | None = None,
    runs_per_block: int | None = None,
    checkpoint_every_s: float = 60.0,
) -> Path:
    """Run the sweep of `cfg` and write its run directory; return its path.

    The sweep runs in ``RUN_DIR.partial/`` (records after every chunk, a checkpoint of the state
    after a chunk every `checkpoint_every_s` seconds and after the last one) and is
    renamed to RUN_DIR when complete, so a directory without the suffix is always complete.
    `resume` is such an unfinished directory (its config must equal `cfg`); the sweep goes on from
    its last checkpoint and gives the same bits as an uninterrupted run. With several processes
    (``jax.distributed``) each writes its own records and process 0 writes the results.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if resume is not None:
        work = Path(resume)
        if not results.is_unfinished(work):
            raise FileNotFoundError(f"{work}: not an unfinished run directory (expected NAME.partial with config.yaml)")
        saved = yaml.safe_load((work / "config.yaml").read_text())
        if saved != yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False)):
            raise ConfigError(f"{work}: the config differs from the unfinished run's config.yaml; expected the same")
        if (work / "manifest.json").is_file() and (work / "arrays.npz").is_file():  # killed while renaming
            return results.finish_run(work, None, None, None, None)
    else:
        final = results.new_run_dir(out_dir if out_dir is not None else cfg.out_dir, cfg.name, _shared_stamp())
        sharding.barrier("scanflow-run-dir-chosen")  # every process has picked the same name ...
        work = results.start_run(final, to_dict(cfg)) if _is_main() else results.unfinished_dir(final)
        sharding.barrier("scanflow-run-dir-created")  # ... before process 0 creates it
    try:
        out = run_sweep(cfg, progress=progress, work_dir=work, n_devices=n_devices, runs_per_block=runs_per_block,
                        checkpoint_every_s=checkpoint_every_s)
    except KeyboardInterrupt as e:
        raise Interrupted(work) from e
    if not _is_main():
        return results.final_dir(work)
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
    path = results.finish_run(work, out.arrays, out.dims, out.coords, manifest)
    if plot:
        from scanflow.engine.figures import plot_run

        plot_run(path)
    return path


def _is_main() -> bool:
    import jax

    return jax.process_index() == 0


def _shared_stamp() -> str | None:
    """The run directory's time stamp, the same in every process (None: now, one process)."""
    import jax

    if jax.process_count() == 1:
        return None
    from jax.experimental import multihost_utils

    t = int(multihost_utils.broadcast_one_to_all(np.int32(time.time())))
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(t))


def run_to_figures(cfg: Config, runs_dir: str | Path, fig_dir: str | Path) -> Path:
    """Run `cfg` into a run directory under `runs_dir`, then draw its figures into `fig_dir` with the
    config name as prefix (what the `sims/` scripts do); print what was written; return the run dir."""
    from scanflow.engine.figures import plot_run

    run_dir = execute(cfg, out_dir=runs_dir, progress=True, plot=False)
    for f in plot_run(run_dir, out_dir=fig_dir, prefix=f"{cfg.name}_"):
        print(f"figure {f}")
    print(f"run directory {run_dir}")
    return run_dir


def diverged_runs(arrays: dict) -> list[dict]:
    """[{point, seed, lr_<group>..., step}] for every run whose loss became NaN or inf (one lr_ entry per
    learning-rate group of the workload, e.g. lr_Y and lr_Z for scan_snap)."""
    lr_names = [k for k in arrays if k.startswith("lr_")]
    out = []
    for p, s in zip(*np.nonzero(arrays["diverged"])):
        out.append(
            {
                "point": int(p),
                "seed": int(s),
                **{k: float(arrays[k][p]) for k in lr_names},
                "step": int(arrays["diverged_step"][p, s]),
            }
        )
    return out
