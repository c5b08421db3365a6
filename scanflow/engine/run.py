"""Run a config end to end: sweep -> run directory (-> figures). The CLI's `run` is a thin wrapper."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from scanflow.engine import grid
from scanflow.engine import plan as plan_module  # plan_module.resolve: looked up at call time (mutations wrap it)
from scanflow.engine import results
from scanflow.engine import sharding
from scanflow.engine.config import Config, ConfigError, to_dict
from scanflow.engine.identity import config_hash, mismatch
from scanflow.engine.plan import Plan
from scanflow.engine.store import RunDirError
from scanflow.engine.sweep import SweepInterrupted, run_sweep
from scanflow.engine.lock import _acquire_lock, _release_lock


class Interrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM during a sweep; `run_dir` is the resumable unfinished run directory and
    `chunks_done` the chunks its checkpoint holds (0: none yet, a resume starts over)."""

    def __init__(self, run_dir: Path, chunks_done: int = 0, n_chunks: int | None = None, signum: int = 2):
        super().__init__(str(run_dir))
        self.run_dir, self.chunks_done, self.n_chunks, self.signum = run_dir, chunks_done, n_chunks, signum


class PlotInterrupted(KeyboardInterrupt):
    """Ctrl-C while the figures of a complete run directory were drawn."""

    def __init__(self, run_dir: Path):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


class WriteError(OSError):
    """An OSError while writing a run directory: `work` stays resumable."""

    def __init__(self, work: Path, err: OSError):
        super().__init__(err.errno, err.strerror or str(err) or type(err).__name__, err.filename)
        self.work, self.err = work, err


RUN_INFO = "run.json"  # RUN.partial/run.json: the run's identity (`scanflow.engine.identity`)


def _started_with(work: Path) -> dict:
    """The options a run was started with (``run.json``'s ``options``: whether to draw figures)."""
    try:
        options = json.loads((work / RUN_INFO).read_text()).get("options")
    except (OSError, ValueError, AttributeError):
        return {}
    return options if isinstance(options, dict) else {}


def _resume_plan(work: Path, cfg: Config, runs_per_block: int | None) -> Plan:
    """The plan of a resumed run: its identity (``run.json``) checked against `cfg`, its data files and the
    block size (one line naming what changed), resolved at the block size the run started with."""
    info_file = work / RUN_INFO
    if not info_file.is_file():
        print(f"scanflow: warning: {info_file} is missing (a run started by an older scanflow); the config cannot be "
              "verified against the one it started with", file=sys.stderr)
        return plan_module.resolve(cfg, runs_per_block)
    try:
        saved = json.loads(info_file.read_text())
        started = saved["config_sha256"]
        if not isinstance(saved, dict) or not isinstance(started, str):
            raise TypeError("not an identity")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunDirError(f"{info_file}: damaged ({e.__class__.__name__}); the run cannot be verified, start it again "
                          f"(scanflow run {work / 'config.yaml'} --out DIR)") from None
    if started != config_hash(cfg):
        raise RunDirError(f"{work / 'config.yaml'}: changed since the run started (its records belong to the original "
                          f"config); restore the original, or start a new run with scanflow run {work / 'config.yaml'}")
    plan = plan_module.resolve(cfg, runs_per_block or saved.get("runs_per_block"))
    bad = mismatch(saved, plan.identity, str(work), f"restore it, or start a new run with scanflow run {work / 'config.yaml'}")
    if bad:
        raise ConfigError(bad)
    return plan


def execute(
    cfg: Config | Plan,
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
    `cfg` may be the `Plan` resolved from it (`scanflow.engine.plan.resolve`), which is then used as it is.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    plan = cfg if isinstance(cfg, Plan) else None
    cfg = plan.cfg if plan is not None else cfg
    lock = None
    if resume is not None:
        work = Path(resume)
        if not results.is_unfinished(work):
            raise FileNotFoundError(f"{work}: not an unfinished run directory (expected NAME.partial with config.yaml)")
        done = results.has_results(work)  # killed after the results were written: only the rename is left
        if not done:
            plan = _resume_plan(work, cfg, runs_per_block)
        plot = plot and _started_with(work).get("plot", True)  # a run started with --no-plot resumes without
        if _is_main():
            lock = _acquire_lock(work)
        if done:
            if not _is_main():
                return results.final_dir(work)  # process 0 finishes it
            path = results.finish_run(work, None)  # removes the lock with the records
            return _plot(path) if plot else path
    else:
        plan = plan or plan_module.resolve(cfg, runs_per_block)  # before the directory: every refusal is one line
        final = results.new_run_dir(out_dir if out_dir is not None else cfg.out_dir, cfg.name, _shared_stamp())
        sharding.barrier("scanflow-run-dir-chosen")  # every process has picked the same name ...
        if _is_main():
            work = results.start_run(final, to_dict(cfg), {**plan.identity, "options": {"plot": bool(plot)}})
            lock = _acquire_lock(work)
        else:
            work = results.unfinished_dir(final)
        sharding.barrier("scanflow-run-dir-created")  # ... before process 0 creates it
    try:
        try:
            outs = sweep_parts(plan, progress=progress, work_dir=work, n_devices=n_devices,
                               checkpoint_every_s=checkpoint_every_s)
        except SweepInterrupted as e:
            raise Interrupted(work, e.chunks_done, e.n_chunks, e.signum) from e
        except KeyboardInterrupt as e:
            raise Interrupted(work, _checkpointed_chunks(work)) from e
        except OSError as e:
            raise WriteError(work, e) from e
        except ConfigError:  # a workload's code failed while its program was traced or compiled (a PluginError)
            if resume is None and _is_main() and not any(work.rglob("p*-c*.npz")):
                _release_lock(lock)
                lock = None
                shutil.rmtree(work, ignore_errors=True)  # nothing was computed: leave no stuck .partial
            raise
        if not _is_main():
            return results.final_dir(work)
        ds = combine_parts(cfg, outs, started, plan.identity)
        try:
            path = results.finish_run(work, ds)  # removes the lock
        except OSError as e:
            raise WriteError(work, e) from e
    except KeyboardInterrupt as e:  # while writing the results: the .partial (or the finished directory) remains
        if isinstance(e, Interrupted):
            raise
        done = results.final_dir(work)
        if done.is_dir():
            raise PlotInterrupted(done) from e
        raise Interrupted(work, _checkpointed_chunks(work)) from e
    finally:
        _release_lock(lock)
    return _plot(path) if plot else path


def _plot(path: Path) -> Path:
    """Draw the figures of the complete run directory `path` (Ctrl-C or a workload's plots failing there
    leave it complete, and the message says so)."""
    from scanflow.engine.figures import plot_run

    try:
        plot_run(path)
    except KeyboardInterrupt as e:
        raise PlotInterrupted(path) from e
    except ConfigError as e:  # a workload's plots raised: the run itself is complete
        raise ConfigError(f"{e}; the run directory {path} is complete (draw again with scanflow plot {path})") from e
    return path


def sweep_parts(plan: Plan, progress: bool = False, work_dir: str | Path | None = None, **kw) -> list:
    """Run every static part of a plan (one compiled program per combination of the static axes, one
    after another, at the plan's block size); return ``[(static values, part config, SweepOutput)]``.
    With several parts each streams to ``WORK/parts/NNN/`` (resumable on its own). `plan` may be a
    `Config` (resolved here)."""
    plan = plan_module.resolve(plan)
    outs = []
    for k, part in enumerate(plan.parts):
        wd = work_dir if work_dir is None or not plan.static else Path(work_dir) / "parts" / f"{k:03d}"
        if wd is not None:
            Path(wd).mkdir(parents=True, exist_ok=True)
        if progress and plan.static and _is_main():
            shown = ", ".join(f"{p}={v}" for p, v in part.values.items())
            print(f"{plan.cfg.name}: part {k + 1} of {len(plan.parts)} ({shown})", file=sys.stderr, flush=True)
        out = run_sweep(part.cfg, progress=progress, work_dir=wd, runs_per_block=plan.block, prepared=part, **kw)
        outs.append((part.values, part.cfg, out))
    return outs


def combine_parts(cfg: Config, outs: list, started: str | None = None, ident: dict | None = None):
    """The `xarray.Dataset` of a whole sweep from its parts (`sweep_parts`), with its manifest (and the
    run's identity, `scanflow.engine.identity`, compared when the run is extended)."""
    from scanflow.engine.dataset import combine

    static = grid.axes(cfg, dynamic=False)
    first = outs[0][2]
    manifest = {
        "name": cfg.name,
        "started": started,
        "command": sys.argv,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "provenance": results.provenance(),  # versions (with plug-in packages), git commit, devices, XLA flags
        **results.device_info(),
        "x64": cfg.x64,
        "n_points": int(len(first.coords["point"])),
        "n_seeds": int(len(first.coords["seed"])),
        "identity": ident,
    }
    if not static:
        manifest.update(timings=first.timings, diverged_runs=diverged_runs(first.arrays), workload_info=first.info)
        return first.dataset(to_dict(cfg), manifest)
    names = [grid.label(p, set()) for p in static]
    parts = [{"values": values, "timings": out.timings, "workload_info": out.info} for values, _, out in outs]
    bad = [{**{n: v for n, v in zip(names, values.values())}, **b} for values, _, out in outs
           for b in diverged_runs(out.arrays)]
    timings = {k: sum(p["timings"][k] for p in parts) for k in ("compile_s", "run_s")}
    manifest.update(timings={**timings, "parts": len(parts)}, diverged_runs=bad, workload_info=None, parts=parts)
    ds = combine([(tuple(values.values()), out.dataset()) for values, _, out in outs], names)
    ds.attrs.update(first.dataset(to_dict(cfg), manifest).attrs)  # keeps attrs["static_axes"] from combine
    return ds


def run(config, overrides=(), out_dir: str | Path | None = None, progress: bool = False, plot: bool = False,
        n_devices: int | None = None, runs_per_block: int | None = None):
    """Run a sweep and return its `xarray.Dataset` (`scanflow.engine.dataset`).

    `config` is a `Config`, a mapping or a YAML path; `overrides` are dotted ``key=value`` strings
    (lists make sweep axes: ``"model.init_scale=[0.1, 1]"``). In memory by default; with `out_dir`
    the sweep is also written as a run directory there (resumable, as ``scanflow run``) and the
    Dataset is the one loaded from it (``ds.attrs["run_dir"]``)."""
    _check_run_arguments(config, overrides, out_dir, runs_per_block, n_devices)
    cfg = as_config(config, overrides)
    plan = plan_module.resolve(cfg, runs_per_block, with_identity=out_dir is not None)
    if out_dir is not None:
        return results.load_run(execute(plan, out_dir=out_dir, progress=progress, plot=plot, n_devices=n_devices))
    return combine_parts(cfg, sweep_parts(plan, progress=progress, n_devices=n_devices), None)


def as_config(config, overrides=()) -> Config:
    """A `Config` from a `Config`, a mapping or a YAML path, with dotted ``key=value`` overrides applied."""
    from scanflow.engine.config import config_from_dict, load_config

    if isinstance(config, Config):
        return config_from_dict(to_dict(config), list(overrides)) if overrides else config
    if isinstance(config, dict):
        return config_from_dict(config, list(overrides))
    return load_config(config, list(overrides))


def _check_run_arguments(config, overrides, out_dir, runs_per_block, n_devices) -> None:
    """`scanflow.run`'s arguments, each checked for type with one line saying what was expected."""
    if not isinstance(config, (Config, dict, str, os.PathLike)):
        raise TypeError(f"scanflow.run: config: expected a Config, a mapping or a YAML path, got "
                        f"{type(config).__name__} {config!r:.60}")
    if isinstance(overrides, (str, bytes)):
        raise TypeError(f"scanflow.run: overrides: expected a list of 'key=value' strings, got the string "
                        f"{overrides!r:.60}; write [{overrides!r:.60}]")
    try:
        items = list(overrides)
    except TypeError:
        raise TypeError(f"scanflow.run: overrides: expected a list of 'key=value' strings, got "
                        f"{type(overrides).__name__}") from None
    bad = [o for o in items if not isinstance(o, str)]
    if bad:
        raise TypeError(f"scanflow.run: overrides: expected 'key=value' strings, got {type(bad[0]).__name__} "
                        f"{bad[0]!r:.60}")
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"scanflow.run: out_dir: expected a directory path, got {type(out_dir).__name__}")
    for name, v in (("runs_per_block", runs_per_block), ("n_devices", n_devices)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise TypeError(f"scanflow.run: {name}: expected an integer >= 1, got {v!r:.60}")


def _checkpointed_chunks(work: Path) -> int:
    """Chunks held by the checkpoint of an unfinished run directory (0 if none or unreadable)."""
    from scanflow.engine.store import RecordStore

    try:
        ckpt = RecordStore(work).latest_checkpoint()
    except ValueError:  # damaged or inconsistent: only for the message
        return 0
    return 0 if ckpt is None else ckpt[0]


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
