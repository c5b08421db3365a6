"""Run a config end to end: sweep -> run directory (-> figures). The CLI's `run` is a thin wrapper."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

from scanflow.engine import grid
from scanflow.engine import results
from scanflow.engine import sharding
from scanflow.engine.config import Config, ConfigError, to_dict
from scanflow.engine.store import RunDirError
from scanflow.engine.sweep import SweepInterrupted, program, run_sweep, static_part


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


def config_hash(cfg: Config) -> str:
    """sha256 of the resolved config (canonical JSON): recorded when a run starts, checked on resume."""
    text = json.dumps(to_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


RUN_INFO = "run.json"  # RUN.partial/run.json: {"config_sha256": ...}
LOCK = "lock"  # RUN.partial/lock: "pid host" of the process writing the directory


def _check_resumable(work: Path, cfg: Config) -> None:
    """Refuse a resume whose config differs from the one the run started with (one line)."""
    info_file = work / RUN_INFO
    if not info_file.is_file():
        print(f"scanflow: warning: {info_file} is missing (a run started by an older scanflow); the config cannot be "
              "verified against the one it started with", file=sys.stderr)
        return
    try:
        started = json.loads(info_file.read_text())["config_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunDirError(f"{info_file}: damaged ({e.__class__.__name__}); the run cannot be verified, start it again "
                          f"(scanflow run {work / 'config.yaml'} --out DIR)") from None
    if started != config_hash(cfg):
        raise RunDirError(f"{work / 'config.yaml'}: changed since the run started (its records belong to the original "
                          f"config); restore the original, or start a new run with scanflow run {work / 'config.yaml'}")


def _acquire_lock(work: Path) -> Path:
    """Create RUN.partial/lock (pid, host) or refuse: one writer per run directory."""
    lock = work / LOCK
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_s, host = lock.read_text().split(maxsplit=1)
                pid = int(pid_s)
            except (OSError, ValueError):
                pid, host = -1, "?"
            if host.strip() == socket.gethostname() and pid > 0 and not _alive(pid):
                lock.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            raise RunDirError(f"{lock}: {work} is being written by pid {pid} on {host.strip()}; wait for it to finish, "
                              f"or delete the lock file if that process is gone") from None
        except FileNotFoundError:
            raise RunDirError(f"{work}: the run directory disappeared (finished or removed by another process)") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return lock
    raise RunDirError(f"{lock}: could not take the lock of {work}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_lock(lock: Path | None) -> None:
    if lock is not None:
        try:
            if lock.read_text().split()[0] == str(os.getpid()):
                lock.unlink()
        except (OSError, IndexError):
            pass


def check_buildable(cfg: Config) -> None:
    """Build the workload's problem (data, model, measurements) before any directory exists, so that
    anything its builder rejects is a one-line config error, not a stuck RUN.partial."""
    import jax

    try:
        with jax.enable_x64(bool(cfg.x64)):
            program(static_part(cfg))
    except ConfigError:
        raise
    except (ValueError, TypeError, ArithmeticError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ConfigError(f"workload {cfg.workload}: the config passed validation but its problem cannot be built: "
                          f"{first}") from None


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
    lock = None
    if resume is not None:
        work = Path(resume)
        if not results.is_unfinished(work):
            raise FileNotFoundError(f"{work}: not an unfinished run directory (expected NAME.partial with config.yaml)")
        _check_resumable(work, cfg)
        if _is_main():
            lock = _acquire_lock(work)
        if results.has_results(work):  # killed while renaming
            if not _is_main():
                return results.final_dir(work)  # process 0 finishes it
            path = results.finish_run(work, None)  # removes the lock with the records
            if plot:
                from scanflow.engine.figures import plot_run

                plot_run(path)
            return path
    else:
        for _, part in grid.static_parts(cfg):
            check_buildable(part)
        final = results.new_run_dir(out_dir if out_dir is not None else cfg.out_dir, cfg.name, _shared_stamp())
        sharding.barrier("scanflow-run-dir-chosen")  # every process has picked the same name ...
        if _is_main():
            work = results.start_run(final, to_dict(cfg), {"config_sha256": config_hash(cfg)})
            lock = _acquire_lock(work)
        else:
            work = results.unfinished_dir(final)
        sharding.barrier("scanflow-run-dir-created")  # ... before process 0 creates it
    try:
        try:
            outs = sweep_parts(cfg, progress=progress, work_dir=work, n_devices=n_devices,
                               runs_per_block=runs_per_block, checkpoint_every_s=checkpoint_every_s)
        except SweepInterrupted as e:
            raise Interrupted(work, e.chunks_done, e.n_chunks, e.signum) from e
        except KeyboardInterrupt as e:
            raise Interrupted(work, _checkpointed_chunks(work)) from e
        except OSError as e:
            raise WriteError(work, e) from e
        if not _is_main():
            return results.final_dir(work)
        ds = combine_parts(cfg, outs, started)
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
    if plot:
        from scanflow.engine.figures import plot_run

        try:
            plot_run(path)
        except KeyboardInterrupt as e:
            raise PlotInterrupted(path) from e
    return path


def sweep_parts(cfg: Config, progress: bool = False, work_dir: str | Path | None = None, **kw) -> list:
    """Run every static part of `cfg` (`scanflow.engine.grid.static_parts`: one compiled program per
    combination of the static axes, one after another); return ``[(static values, part config,
    SweepOutput)]``. With several parts each streams to ``WORK/parts/NNN/`` (resumable on its own)."""
    parts = grid.static_parts(cfg)
    several = len(parts) > 1 or bool(grid.axes(cfg, dynamic=False))
    outs = []
    for k, (values, part) in enumerate(parts):
        wd = work_dir if work_dir is None or not several else Path(work_dir) / "parts" / f"{k:03d}"
        if wd is not None:
            Path(wd).mkdir(parents=True, exist_ok=True)
        if progress and several and _is_main():
            shown = ", ".join(f"{p}={v}" for p, v in values.items())
            print(f"{cfg.name}: part {k + 1} of {len(parts)} ({shown})", file=sys.stderr, flush=True)
        outs.append((values, part, run_sweep(part, progress=progress, work_dir=wd, **kw)))
    return outs


def combine_parts(cfg: Config, outs: list, started: str | None = None):
    """The `xarray.Dataset` of a whole sweep from its parts (`sweep_parts`), with its manifest."""
    from scanflow.engine.dataset import combine

    static = grid.axes(cfg, dynamic=False)
    first = outs[0][2]
    manifest = {
        "name": cfg.name,
        "started": started,
        "command": sys.argv,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": results.versions(),
        "provenance": results.provenance(),
        **results.device_info(),
        "x64": cfg.x64,
        "n_points": int(len(first.coords["point"])),
        "n_seeds": int(len(first.coords["seed"])),
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
    from scanflow.engine.config import config_from_dict, load_config

    if isinstance(config, Config):
        cfg = config_from_dict(to_dict(config), list(overrides)) if overrides else config
    elif isinstance(config, dict):
        cfg = config_from_dict(config, list(overrides))
    else:
        cfg = load_config(config, list(overrides))
    if out_dir is not None:
        path = execute(cfg, out_dir=out_dir, progress=progress, plot=plot, n_devices=n_devices,
                       runs_per_block=runs_per_block)
        return results.load_run(path)
    for _, part in grid.static_parts(cfg):
        check_buildable(part)
    outs = sweep_parts(cfg, progress=progress, n_devices=n_devices, runs_per_block=runs_per_block)
    return combine_parts(cfg, outs, None)


# Fields an extension may change: more seeds, more learning rates, more values of a grid axis. Anything
# else changes what the finished runs mean.
EXTENDABLE = ("sweep.seeds", "sweep.lr", "sweep.grid", "sweep.max_memory_gb", "sweep.max_run_steps", "name", "out_dir")


def extend(run_dir: str | Path, overrides=(), out_dir: str | Path | None = None, progress: bool = False,
           plot: bool = True, n_devices: int | None = None, runs_per_block: int | None = None) -> Path:
    """A finished sweep with more seeds, learning rates or axis values, computing only the new runs.

    `overrides` change the run's config (``sweep.seeds=20``, ``'sweep.lr.Y=[1, 10, 100]'``,
    ``'data.num_last=[1, 3, 5]'``); nothing else may change. Seeds share their keys across points and
    a run's bits depend only on its static config, hyperparameters and seed, so the merged result is
    bit-identical to a fresh sweep of the larger grid. Writes a NEW run directory (the old one is kept)
    and returns its path; with no new run to compute it says so (`ConfigError`)."""
    from scanflow.engine.config import config_from_dict
    from scanflow.engine.dataset import config_of, manifest_of

    run_dir = Path(run_dir)
    old = results.load_run(run_dir)
    raw = config_of(old)
    base = config_from_dict(raw)
    cfg = config_from_dict(raw, list(overrides))
    changed = _changed_fields(to_dict(base), to_dict(cfg))
    bad = [c for c in changed if not c.startswith(EXTENDABLE)]
    if bad:
        raise ConfigError(f"{bad[0]}: an extension of {run_dir} may change only the seeds, learning rates and grid "
                          f"axes; to change {bad[0]} start a new run (scanflow run {run_dir / 'config.yaml'} ...)")
    if cfg.sweep.seeds < base.sweep.seeds:
        raise ConfigError(f"sweep.seeds: expected at least the run's {base.sweep.seeds} seeds, got {cfg.sweep.seeds}")
    for _, part in grid.static_parts(cfg):
        check_buildable(part)
    static = grid.axes(cfg, dynamic=False)
    names = [grid.label(p, set()) for p in static]
    outs, computed = [], 0
    for values, part in grid.static_parts(cfg):
        prev = _old_part(old, names, values)
        out = _extend_part(part, prev, progress=progress, n_devices=n_devices, runs_per_block=runs_per_block)
        computed += out.timings["computed_runs"]
        outs.append((values, part, out))
    if computed == 0:
        raise ConfigError(f"{', '.join(changed) or 'overrides'}: no new run to compute; {run_dir} already holds them all")
    ds = combine_parts(cfg, outs, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    m = manifest_of(ds)
    m.update(extended_from=str(run_dir), computed_runs=computed, reused_runs=int(sum(
        np.prod([o.arrays["diverged"].shape]) for _, _, o in outs)) - computed)
    ds.attrs["manifest"] = json.dumps(m, default=str)
    final = results.new_run_dir(out_dir if out_dir is not None else run_dir.parent, cfg.name)
    path = results.write_run(final, ds)
    if plot:
        from scanflow.engine.figures import plot_run

        plot_run(path)
    return path


def _changed_fields(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        path = f"{prefix}{k}"
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _changed_fields(a[k], b[k], path + ".")
        elif a.get(k) != b.get(k):
            out.append(path)
    return out


def _old_part(old, names: list[str], values: dict):
    """The finished run's Dataset at these static values (None if it has none), cut to its own axes."""
    if not names:
        return old
    key = dict(zip(names, values.values()))
    try:
        part = old.sel(key)
    except (KeyError, ValueError):
        return None
    return part


def _extend_part(cfg: Config, prev, **kw):
    """SweepOutput of `cfg`, computing only the runs `prev` (a Dataset or None) does not hold."""
    from scanflow.engine.dataset import point_levels

    import jax

    from scanflow.engine.sweep import point_labels

    with jax.enable_x64(bool(cfg.x64)):
        labels = point_labels(cfg, program(static_part(cfg)).problem.info)
    P, S = len(next(iter(labels.values()))), cfg.sweep.seeds
    have = np.full(P, -1)
    S_old = 0
    if prev is not None:
        S_old = prev.sizes["seed"]
        old_labels = {k: np.asarray(prev[k].values, np.float64).reshape(-1) for k in point_levels(prev) if k in prev.coords}
        keys = [k for k in labels if k in old_labels]
        index = {tuple(old_labels[k][q] for k in keys): q for q in range(prev.sizes["point"])}
        have = np.array([index.get(tuple(labels[k][p] for k in keys), -1) for p in range(P)])
    need = [p * S + s for p in range(P) for s in range(S) if have[p] < 0 or s >= S_old]
    if not need:
        out = run_sweep(cfg, only_runs=[0], **kw)  # labels, coords and dims of the part (one run, replaced below)
    else:
        out = run_sweep(cfg, only_runs=need, **kw)
    out.timings["computed_runs"] = len(need)
    if prev is None:
        return out
    label = out.record_label
    for name, a in out.arrays.items():
        if name in out.point_levels or out.dims[name][:2] != ("point", "seed"):
            continue
        dims = [label if d == "record" else d for d in out.dims[name]]
        src = prev[name]
        for d in dims[2:]:  # a padded static part: back to this part's own coordinates
            if d in out.coords and d in src.dims:
                src = src.sel({d: out.coords[d] if d != label else out.coords["record"]})
        src = src.transpose(*dims).values
        for p in np.nonzero(have >= 0)[0]:
            a[p, :S_old] = src[have[p], :S_old].astype(a.dtype)
    return out


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
