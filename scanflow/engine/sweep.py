"""One compiled program for a whole sweep: blocks of vmap(run) over one run axis, the same program on every device.

* `static_part(cfg)` is the part of the config that picks the program (shapes, steps, optimizer,
  solver); learning rates, the init scale and the root seed are *arguments*, so changing them never
  recompiles.
* Runs are flattened to one axis (point-major), padded to a multiple of the device count and
  sharded over a one-axis mesh (`scanflow.engine.sharding`). Seeds share their keys across hyperparameter
  points (common random numbers): seed s has the same init and the same data stream at every
  learning-rate pair, and a run's numbers do not depend on the device count.
* The host runs a Python loop over jitted chunks of records (progress bar, compile time measured
  separately by ahead-of-time compilation). The carried state is donated between chunks; records
  and a checkpoint of the state can stream to a work directory after each chunk (`scanflow.engine.store`),
  from which an interrupted sweep resumes bit-identically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from scanflow.engine import sharding
from scanflow.engine import grid
from scanflow.engine.config import Config, ConfigError
from scanflow.engine.registry import workload_hook
from scanflow.engine.results import atomic_write_bytes
from scanflow.engine.store import RecordStore, RunDirError

from scanflow.engine.program import (  # noqa: F401 - re-exported: scanflow.engine.sweep.NAME keeps working
    TRACE_COUNT,
    static_part,
    dtype_of,
    hyperparams,
    point_labels,
    axis_labels,
    axis_label_names,
    run_key,
    Program,
    run_index,
    program,
    shares_batches,
    SHARED_BATCH_BYTES,
    batch_group,
    _map_blocks,
    _select_metrics,
    _shared_chunk,
    _vmap_runs,
    _runs_of,
    _chunk_n,
)
from scanflow.engine.compilation import (  # noqa: F401 - re-exported: scanflow.engine.sweep.NAME keeps working
    COMPILED_CACHE_SIZE,
    unrolled_threefry,
    compiled,
    CACHE_EVENTS,
    LAST_COMPILE,
    enable_compile_cache,
    compile_cache_report,
    _COMPILED,
)


@dataclass
class SweepOutput:
    """Host arrays with named axes. dims[name] lists the axis names of arrays[name]."""

    arrays: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, np.ndarray]
    info: dict
    timings: dict
    point_levels: list = dataclasses.field(default_factory=list)  # the per-point arrays that label a point
    record_label: str = "step"  # "time" under gradient flow

    def dataset(self, config: dict | None = None, manifest: dict | None = None):
        """These arrays as an `xarray.Dataset` (`scanflow.engine.dataset.to_dataset`)."""
        from scanflow.engine.dataset import to_dataset

        return to_dataset(self.arrays, self.dims, self.coords, point_levels=self.point_levels,
                          record_label=self.record_label, config=config, manifest=manifest)


def records_per_chunk(cfg: Config) -> int:
    """Explicit `train.records_per_chunk`, or the largest divisor of the record count giving >= 10 chunks."""
    n_rec = cfg.train.steps // cfg.train.record_every
    if cfg.train.records_per_chunk:
        return cfg.train.records_per_chunk
    target = max(1, n_rec // 10)
    best, d = 1, 1  # divisors come in pairs (d, n_rec // d): O(sqrt(n_rec)), not O(n_rec)
    while d * d <= n_rec:
        if n_rec % d == 0:
            best = max(best, *(x for x in (d, n_rec // d) if x <= target), 1)
        d += 1
    return best


def run_sweep(
    cfg: Config,
    progress: bool = False,
    work_dir=None,
    n_devices: int | None = None,
    runs_per_block: int | None = None,
    checkpoint_every_s: float = 60.0,
    only_runs=None,
    prepared=None,
) -> SweepOutput:
    """Run every (point, seed) of the config in one compiled program; return labelled arrays.

    `only_runs` (flat indices point * seeds + seed) computes only those runs, with the bits they have
    in the whole sweep (extending a finished sweep); the other runs' entries are zero. `prepared` is the
    config's `scanflow.engine.plan.Part` (its program, hyperparameters and point labels, resolved once).

    The runs are sharded over `n_devices` devices (default: every device, of every process), in
    vmapped blocks of `runs_per_block` runs (default ``sweep.runs_per_block``, else `default_block()`, a constant of the backend;
    the last block is padded). XLA's rounding depends on the vmapped block size, so a fixed block
    makes a run's bits independent of the grid around it, of diverging neighbours and of the number
    of devices or processes (each device runs the one-device program on its rows, see `compiled`).
    With `work_dir`, records stream to it chunk by chunk and the carried state is checkpointed
    after a chunk when `checkpoint_every_s` seconds have passed since the last one (and after the
    last chunk); a `work_dir` holding a checkpoint is resumed from it (`scanflow.engine.store`).
    """
    static = grid.axes(cfg, dynamic=False)
    if static:  # one program per value: never silently run only the first
        raise ConfigError(f"sweep.grid.{next(iter(static))}: a static axis needs one program per value; run the "
                          "config with scanflow.run / scanflow.engine.run.execute (or one run_sweep per "
                          "grid.static_parts(cfg))")
    with jax.enable_x64(bool(cfg.x64)):  # per run: the process's own setting is restored afterwards
        return _run_sweep(cfg, progress, work_dir, n_devices, runs_per_block, checkpoint_every_s, only_runs, prepared)


def _run_sweep(cfg, progress, work_dir, n_devices, runs_per_block, checkpoint_every_s, only_runs=None,
               prepared=None) -> SweepOutput:
    enable_compile_cache()
    problem = (prepared.program if prepared is not None else program(static_part(cfg))).problem
    hp = prepared.hp if prepared is not None else hyperparams(cfg, problem.info)
    rpc = records_per_chunk(cfg)
    n_chunks = cfg.train.steps // cfg.train.record_every // rpc
    mesh = sharding.make_mesh(n_devices)
    P, S = jax.tree.leaves(hp)[0].shape[0], cfg.sweep.seeds
    facts = {"n_points": int(P), "n_seeds": int(S), "n_chunks": int(n_chunks), "records_per_chunk": int(rpc)}
    block = _block_of_run(work_dir, runs_per_block or cfg.sweep.runs_per_block or default_block(), facts)
    layout = sharding.run_layout(P, S, mesh.size, block, only_runs)
    runs_host = sharding.run_inputs(hp, layout)
    if progress and jax.process_index() == 0:  # compiling can take a minute: say so before the bar appears
        import sys

        print(f"{cfg.name}: compiling {layout.n_runs} runs ({P} points x {S} seeds)...", file=sys.stderr, flush=True)
    init_exe, chunk_exe, state_shape, prog, compile_s = compiled(cfg, runs_host, rpc, mesh, block)
    store = RecordStore(work_dir, jax.process_index())

    root = sharding.put(jax.random.key_data(jax.random.PRNGKey(cfg.sweep.root_seed)), sharding.replicated(mesh))
    runs = sharding.put(runs_host, sharding.row_sharding(mesh))
    t0 = time.perf_counter()
    ckpt = store.latest_checkpoint()
    # Several processes: the chunks need no communication, so a fast process could write its checkpoint
    # before a slow one has looked, which would then "resume" from it (and gather only the other's records).
    sharding.barrier("scanflow-checkpoint-read")
    if ckpt is None:
        state, rec0 = init_exe(root, runs)
        rows, rec0 = sharding.local_rows(rec0)
        store.put_records(0, rows, jax.tree.map(lambda a: a[:, None], rec0))
        done = 0
    else:
        done, rows_all, leaves = ckpt
        store.check_records(done)  # missing or damaged: found before any work, not after recomputing the others
        # a finished discrete run's last checkpoint holds no state (nothing is left to compute)
        state = None if done == n_chunks and not leaves else _restore_state(state_shape, rows_all, leaves, layout, mesh)
    saved = time.perf_counter()
    bar = _progress(n_chunks, cfg.name, done) if progress else None
    with _deferred_interrupts() as pending:
        for k in range(done, n_chunks):
            state, recs = chunk_exe(state, root, runs)
            rows, recs = sharding.local_rows(recs)
            store.put_records(k + 1, rows, recs)
            last = k == n_chunks - 1
            due = work_dir is not None and time.perf_counter() - saved >= checkpoint_every_s
            due, stop = _agree(due, bool(pending))  # several processes: process 0's clock and signal decide for all
            if due or stop or (last and (work_dir is not None or cfg.train.method == "flow")):  # flow: solver stats
                rows, state_host = sharding.local_rows(state)
                # after the last chunk a discrete run needs no state: every record is written, so a resume
                # (e.g. of a later static part) only reassembles them; gradient flow keeps its solver stats
                finished = last and cfg.train.method != "flow"
                store.put_checkpoint(k + 1, rows, [] if finished else jax.tree.leaves(state_host))
                saved = time.perf_counter()
            if bar is not None:
                bar.update(1)
            if stop and not last:
                if bar is not None:
                    bar.close()
                raise SweepInterrupted(pending[0] if pending else 2, k + 1, n_chunks, work_dir)
    if bar is not None:
        bar.close()
    sharding.barrier("scanflow-sweep-done")
    if cfg.train.method == "flow":
        _, rows_all, leaves = store.latest_checkpoint()
        final_state = jax.tree.unflatten(jax.tree.structure(state_shape), [_by_row(x, rows_all, layout.n_runs) for x in leaves])
    else:
        jax.block_until_ready(state)
    run_s = time.perf_counter() - t0

    arrays, dims = {}, {}
    for name, a in store.gather(layout.n_runs, n_chunks, rpc).items():
        arrays[name] = _full_grid(a, layout)
        dims[name] = ("point", "seed", "record", *problem.metric_dims.get(name, ()))  # a scalar needs no entry
    every = cfg.train.record_every
    coords = {
        "point": np.arange(P),
        "seed": np.arange(cfg.sweep.seeds),
        "record": np.arange(0, cfg.train.steps + 1, every),
        **problem.coords,
    }
    labels = dict(prepared.labels) if prepared is not None else point_labels(cfg, problem.info)
    levels = list(labels)
    for k, v in labels.items():
        arrays[k], dims[k] = v, ("point",)
    extra, extra_dims = workload_hook(cfg.workload, "point_arrays")(cfg, hp, coords["record"])
    arrays.update(extra)
    dims.update(extra_dims)
    _flag_divergence(arrays, dims, coords["record"])
    for name in cfg.train.final_metrics:  # kept at the last record only (computed at every one)
        arrays[name], dims[name] = arrays[name][:, :, -1], tuple(d for d in dims[name] if d != "record")
    if cfg.train.method == "flow":
        arrays["solver_status"] = _full_grid(np.asarray(final_state.status), layout)
        arrays["solver_steps"] = _full_grid(np.asarray(final_state.num_steps), layout)
        arrays["solver_accepted_steps"] = _full_grid(np.asarray(final_state.num_accepted), layout)
        for k in ("solver_status", "solver_steps", "solver_accepted_steps"):
            dims[k] = ("point", "seed")
    timings = {"compile_s": compile_s, "compile_cache": compile_cache_report(), "run_s": run_s, "n_chunks": n_chunks, "records_per_chunk": rpc,
               "devices": mesh.size, "runs_per_block": block, "resumed_at_chunk": done if ckpt is not None else None}
    return SweepOutput(arrays, dims, coords, problem.info, timings, levels,
                       "time" if cfg.train.method == "flow" else "step")


def _full_grid(a: np.ndarray, layout) -> np.ndarray:
    """Per-run host values (the layout's runs, in order) -> (P, S, ...); runs not computed are 0."""
    P, S = layout.n_points, layout.n_seeds
    if layout.subset is None:
        return a.reshape(P, S, *a.shape[1:])
    out = np.zeros((P * S, *a.shape[1:]), a.dtype)
    out[layout.run_ids] = a
    return out.reshape(P, S, *a.shape[1:])


def _block_of_run(work_dir, block: int, facts: dict | None = None) -> int:
    """A resumed sweep keeps the block size it started with (the bits depend on it). ``layout.json``
    also records the run's shape (`facts`: points, seeds, chunks, records per chunk); a resume whose
    shape differs is refused (its records would not fit)."""
    if work_dir is None:
        return block
    f = Path(work_dir) / "layout.json"
    facts = facts or {}
    if f.is_file():
        try:
            saved = json.loads(f.read_text())
            saved_block = int(saved["runs_per_block"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunDirError(f"{f}: damaged ({e.__class__.__name__}); {_layout_fix(Path(work_dir), f)}") from None
        diff = {k: (saved[k], v) for k, v in facts.items() if k in saved and saved[k] != v}
        if diff:
            k, (old, new) = next(iter(diff.items()))
            raise RunDirError(f"{f}: the run started with {k}={old}, the config now gives {new}; its records do not fit. "
                              f"Restore the original config or start a new run")
        return saved_block
    if jax.process_index() == 0:
        atomic_write_bytes(f, json.dumps({"runs_per_block": block, **facts}).encode())
    return block


def _layout_fix(work: Path, f: Path) -> str:
    """What to do about a damaged layout.json: it only repeats facts of the run's identity (run.json, the
    block size) and of the config (the shape), so deleting it keeps every finished chunk, if run.json
    records the block size."""
    for top in (work, work.parent.parent):  # RUN.partial/ or RUN.partial/parts/NNN/
        try:
            block = json.loads((top / "run.json").read_text()).get("runs_per_block")
        except (OSError, ValueError, AttributeError):
            continue
        if block:
            return (f"delete it and resume (scanflow run {top}): it is rewritten from {top / 'run.json'} "
                    f"(runs_per_block={block}) and every finished chunk is kept")
    return (f"delete it and resume with the block size the run started with (scanflow run {work} --runs-per-block B; "
            f"B as in its manifest, 1 on CPU by default): every finished chunk is kept")


# Runs per vmapped block by backend. A constant (not a function of the grid) so that a run's bits do not
# depend on how many runs share the sweep. On CPU, 1: a block of 2 to 8 is faster on large sweeps (Fig-6 at
# M = 240 on 2 devices: run 7.1 s at B = 2, 7.3 s at B = 4, 9.5 s at B = 1) but would pad every small sweep
# (most checks run 1-4 runs); a large CPU sweep sets sweep.runs_per_block (configs/scan_snap_fig6.yaml: 4)
# or passes --runs-per-block. On an accelerator a block fills the device.
DEFAULT_BLOCK = {"cpu": 1}
DEFAULT_BLOCK_ACCELERATOR = 256


def default_block() -> int:
    """The default `runs_per_block` of this backend (see `DEFAULT_BLOCK`)."""
    return DEFAULT_BLOCK.get(jax.default_backend(), DEFAULT_BLOCK_ACCELERATOR)


def _agree(due: bool, stop: bool) -> tuple[bool, bool]:
    """The checkpoint and stop decisions of process 0, in every process: without this, processes whose
    clocks differ checkpoint different chunks and the run cannot be resumed."""
    if jax.process_count() == 1:
        return due, stop
    from jax.experimental import multihost_utils

    flags = np.asarray(multihost_utils.process_allgather(np.int32(int(due) + 2 * int(stop))))
    # process 0's clock decides checkpoints; a signal received by any process stops every process
    return bool(int(flags.reshape(-1)[0]) & 1) or bool((flags & 2).any()), bool((flags & 2).any())


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during the chunk loop: the chunk in flight was finished, its records and a
    checkpoint written (when the sweep has a work directory), then the sweep stopped."""

    def __init__(self, signum: int, chunks_done: int, n_chunks: int, work_dir):
        super().__init__(f"interrupted after chunk {chunks_done} of {n_chunks}")
        self.signum, self.chunks_done, self.n_chunks, self.work_dir = signum, chunks_done, n_chunks, work_dir


@contextlib.contextmanager
def _deferred_interrupts():
    """While the chunk loop runs, the first SIGINT/SIGTERM is recorded (the loop then finishes the
    chunk in flight, checkpoints it and stops); a second one interrupts at once. Outside the main
    thread signals cannot be caught and nothing changes."""
    import signal

    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def handler(signum, frame):
        if pending:  # second signal: stop now (finished chunks and the last checkpoint stay)
            e = KeyboardInterrupt()
            e.signum = signum  # SIGTERM twice still exits 143
            raise e
        pending.append(signum)
        import sys

        if not sys.stderr.isatty():  # a log or a pipe gets only the final line
            return
        try:  # a person at a terminal learns why the command has not stopped yet
            print(f"\nscanflow: {signal.Signals(signum).name} received: finishing the current chunk and writing a "
                  "checkpoint (press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
        except OSError:  # stderr is a closed pipe (e.g. `| tee` killed by the same Ctrl-C): checkpoint anyway
            pass

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield pending
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _by_row(a: np.ndarray, rows: np.ndarray, n_runs: int) -> np.ndarray:
    """Rows of a host array put in run order, padding dropped."""
    out = np.empty((n_runs, *a.shape[1:]), a.dtype)
    keep = rows < n_runs
    out[rows[keep]] = a[keep]
    return out


def _restore_state(state_shape, rows: np.ndarray, leaves: list, layout, mesh):
    """A checkpointed state (any earlier device count) -> row-sharded arrays for this layout.

    Valid runs get their own rows; padding rows (whose values are never used) copy run 0.
    """
    covered = np.zeros(layout.n_runs, bool)
    covered[rows[rows < layout.n_runs]] = True
    if not covered.all():  # a process's checkpoint is missing: never continue from uninitialised state
        raise RunDirError(f"the checkpoints hold {int(covered.sum())} of {layout.n_runs} runs (a process's "
                          "checkpoint-pNNN.npz is missing); delete every checkpoint-p*.npz and resume: the run restarts "
                          "from chunk 0 with the same bits")
    src = np.where(layout.valid_R, np.arange(layout.n_padded), 0)
    full = [_by_row(x, rows, layout.n_runs)[src] for x in leaves]
    tree = jax.tree.unflatten(jax.tree.structure(state_shape), full)
    return sharding.put_rows(tree, np.arange(layout.n_padded), layout.n_padded, mesh)


def _flag_divergence(arrays: dict, dims: dict, steps: np.ndarray) -> None:
    """A run diverged if a parameter or a recorded loss became NaN/inf; keep the first such step
    (-1 if none). Huge but finite parameters are not a divergence. Read by name: ``train_loss``
    (always recorded), and the workload's ``loss`` and ``finite`` metrics when it records them."""
    bad = ~np.isfinite(arrays["train_loss"])
    if "loss" in arrays:
        bad |= ~np.isfinite(arrays["loss"])
    if "finite" in arrays:
        bad |= ~arrays["finite"].astype(bool)
    arrays["diverged"] = bad.any(axis=-1)
    first = np.where(bad.any(-1), bad.argmax(-1), -1)
    arrays["diverged_step"] = np.where(first >= 0, steps[np.maximum(first, 0)], -1)
    dims["diverged"] = dims["diverged_step"] = ("point", "seed")


def _progress(total: int, name: str, done: int = 0):
    from tqdm.auto import tqdm  # a notebook widget in Jupyter, text in a terminal

    return tqdm(total=total, initial=done, desc=f"{name}: chunks", unit="chunk", leave=True)
