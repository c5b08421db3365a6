"""One compiled program for a whole sweep: jit(vmap_point(vmap_seed(run))).

* `static_part(cfg)` is the part of the config that picks the program (shapes, steps, optimizer,
  solver); learning rates, the init scale and the root seed are *arguments*, so changing them never
  recompiles.
* Runs are flattened to one axis (point-major); seeds share their keys across hyperparameter points (common random numbers): seed s has the
  same init and the same data stream at every learning-rate pair.
* The host runs a Python loop over jitted chunks of records (progress bar, compile time measured
  separately by ahead-of-time compilation). The carried state is donated between chunks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.config import Config, lr_grid
from scanflow.dynamics import discrete, flow
from scanflow.workloads import build_problem

# Incremented each time a sweep program is *traced*; the no-recompile test reads it.
TRACE_COUNT = {"init": 0, "chunk": 0}


def static_part(cfg: Config) -> Config:
    """The config with every dynamic value blanked: equal static parts share a compiled program."""
    return dataclasses.replace(
        cfg,
        name="",
        out_dir="",
        model=dataclasses.replace(cfg.model, init="zero", init_scale=None, init_scale_Y=None, init_scale_Z=None),
        sweep=dataclasses.replace(cfg.sweep, lr=None, root_seed=0),
    )


def dtype_of(cfg: Config):
    return jnp.float64 if cfg.x64 else jnp.float32


def hyperparams(cfg: Config, M: int) -> dict:
    """Host arrays of the dynamic hyperparameters, one entry per grid point (leading axis P)."""
    grid = lr_grid(cfg.sweep)
    P = len(grid["Z"])
    dt = np.float64 if cfg.x64 else np.float32
    return {
        "lr": {g: np.asarray(v, dt) for g, v in grid.items()},
        "init_scale": {g: np.full((P,), init_scale(cfg, g, M), dt) for g in ("Y", "Z")},
    }


def init_scale(cfg: Config, group: str, M: int) -> float:
    """Half-width of the uniform init of a group: model.init_scale_<group> if set, else 0 for
    ``init: zero``, else model.init_scale (default 1/sqrt(M), PyTorch's nn.Linear)."""
    m = cfg.model
    explicit = getattr(m, f"init_scale_{group}")
    if explicit is not None:
        return explicit
    if m.init == "zero":
        return 0.0
    return m.init_scale if m.init_scale is not None else 1.0 / math.sqrt(M)


def run_key(root_key: jax.Array, seed_index: jax.Array) -> jax.Array:
    """One key per seed: fold_in(root, seed index)."""
    return jax.random.fold_in(root_key, seed_index)


@dataclass(frozen=True)
class Program:
    """The vmapped functions of one static config (not yet compiled)."""

    init: Callable  # (root_key, hp) -> (state, rec0)     leaves: (R = P * S, ...)
    chunk: Callable  # (state, root_key, hp, n_records) -> (state, recs)
    problem: Any
    n_seeds: int


def run_index(n_points: int, n_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """The flattened run axis: run r is (point r // S, seed r % S)."""
    r = np.arange(n_points * n_seeds)
    return r // n_seeds, r % n_seeds


def _vmap_runs(fn: Callable, n_seeds: int, state_in: bool) -> Callable:
    """Lift fn(state?, run_key, hp_one) to (state?, root_key, hp) over one flattened run axis.

    hp leaves have a leading point axis P; runs are R = P * S, point-major. Each run gathers its
    own hyperparameters and derives its key fold_in(root, seed) inside the program. One vmap
    level (not point x seed) keeps the compiled program small.
    """

    def lifted(*args):
        state, root, hp = args if state_in else (None, *args)
        P = jax.tree.leaves(hp)[0].shape[0]
        point_R, seed_R = run_index(P, n_seeds)
        hp_R = jax.tree.map(lambda a: a[point_R], hp)
        keys_R = jax.vmap(run_key, in_axes=(None, 0))(root, jnp.asarray(seed_R))
        if state_in:
            return jax.vmap(fn)(state, keys_R, hp_R)
        return jax.vmap(fn)(keys_R, hp_R)

    return lifted


@functools.lru_cache(maxsize=32)
def program(static: Config) -> Program:
    problem = build_problem(static)
    tc, dtype = static.train, dtype_of(static)
    S = static.sweep.seeds

    if tc.method == "sgd":

        def init_one(key, hp):
            return discrete.init_state(problem, tc, key, hp)

        def chunk_one(state, key, hp, n_records):
            return discrete.run_chunk(problem, tc, n_records, state, key, hp)

    else:
        metrics = lambda p: {**problem.metrics(p), "train_loss": problem.flow_loss(p)}

        def init_one(key, hp):
            params = problem.init(discrete.init_key(key), hp)
            return flow.init_flow_state(params, dtype), metrics(params)

        def chunk_one(state, key, hp, n_records):
            del key
            return flow.solve_chunk(
                problem.flow_loss, metrics, static.flow, state, hp["lr"], float(tc.record_every), n_records
            )

    def init(root, hp):
        TRACE_COUNT["init"] += 1
        return _vmap_runs(init_one, S, state_in=False)(root, hp)

    def chunk(state, root, hp, n_records):
        TRACE_COUNT["chunk"] += 1
        one = functools.partial(_chunk_n, chunk_one, n_records)
        return _vmap_runs(one, S, state_in=True)(state, root, hp)

    return Program(init, chunk, problem, S)


def _chunk_n(chunk_one, n_records, state, key, hp):
    return chunk_one(state, key, hp, n_records)


_COMPILED: dict = {}


def compiled(cfg: Config, hp: dict, n_records: int):
    """AOT-compiled (init, chunk) for this static config and these shapes; cached.

    Returns (init_exe, chunk_exe, program, compile_seconds) -- compile_seconds is 0 on a cache hit.
    """
    static = static_part(cfg)
    prog = program(static)
    root = jax.random.key_data(jax.random.PRNGKey(0))
    shapes = jax.tree.map(lambda a: (a.shape, str(a.dtype)), hp)
    cache_key = (static, n_records, str(shapes), jax.config.jax_enable_x64)
    if cache_key in _COMPILED:
        return (*_COMPILED[cache_key], prog, 0.0)
    t0 = time.perf_counter()
    init_fn = lambda root_data, hp: prog.init(jax.random.wrap_key_data(root_data), hp)
    chunk_fn = lambda state, root_data, hp: prog.chunk(state, jax.random.wrap_key_data(root_data), hp, n_records)
    init_exe = jax.jit(init_fn).lower(root, hp).compile()
    state_shape, _ = jax.eval_shape(init_fn, root, hp)
    chunk_exe = jax.jit(chunk_fn, donate_argnums=0).lower(state_shape, root, hp).compile()
    _COMPILED[cache_key] = (init_exe, chunk_exe)
    return init_exe, chunk_exe, prog, time.perf_counter() - t0


@dataclass
class SweepOutput:
    """Host arrays with named axes. dims[name] lists the axis names of arrays[name]."""

    arrays: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, np.ndarray]
    info: dict
    timings: dict


def records_per_chunk(cfg: Config) -> int:
    """Explicit `train.records_per_chunk`, or the largest divisor of the record count giving >= 10 chunks."""
    n_rec = cfg.train.steps // cfg.train.record_every
    if cfg.train.records_per_chunk:
        return cfg.train.records_per_chunk
    target = max(1, n_rec // 10)
    return max(d for d in range(1, target + 1) if n_rec % d == 0)


def run_sweep(cfg: Config, progress: bool = False) -> SweepOutput:
    """Run every (point, seed) of the config in one compiled program; return labelled arrays."""
    if cfg.x64 and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    problem = program(static_part(cfg)).problem
    hp = hyperparams(cfg, problem.info["M"])
    rpc = records_per_chunk(cfg)
    n_chunks = cfg.train.steps // cfg.train.record_every // rpc
    init_exe, chunk_exe, prog, compile_s = compiled(cfg, hp, rpc)

    root = jax.random.key_data(jax.random.PRNGKey(cfg.sweep.root_seed))
    t0 = time.perf_counter()
    state, rec0 = init_exe(root, hp)
    chunks = [jax.device_get(rec0)]
    bar = _progress(n_chunks, cfg.name) if progress else None
    for _ in range(n_chunks):
        state, recs = chunk_exe(state, root, hp)
        chunks.append(jax.device_get(recs))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    final_state = jax.device_get(state)
    run_s = time.perf_counter() - t0

    P, S = len(hp["lr"]["Z"]), cfg.sweep.seeds
    arrays, dims = _stack_records(chunks, problem.metric_dims, P, S)
    every = cfg.train.record_every
    coords = {
        "point": np.arange(P),
        "seed": np.arange(cfg.sweep.seeds),
        "record": np.arange(0, cfg.train.steps + 1, every),
        **problem.coords,
    }
    arrays["lr_Y"], dims["lr_Y"] = np.asarray(hp["lr"]["Y"]), ("point",)
    arrays["lr_Z"], dims["lr_Z"] = np.asarray(hp["lr"]["Z"]), ("point",)
    for g in ("Y", "Z"):
        arrays[f"init_scale_{g}"], dims[f"init_scale_{g}"] = np.asarray(hp["init_scale"][g]), ("point",)
    _flag_divergence(arrays, dims, coords["record"])
    if cfg.train.method == "flow":
        arrays["solver_status"] = np.asarray(final_state.status).reshape(P, S)
        arrays["solver_steps"] = np.asarray(final_state.num_steps).reshape(P, S)
        arrays["solver_accepted_steps"] = np.asarray(final_state.num_accepted).reshape(P, S)
        for k in ("solver_status", "solver_steps", "solver_accepted_steps"):
            dims[k] = ("point", "seed")
    timings = {"compile_s": compile_s, "run_s": run_s, "n_chunks": n_chunks, "records_per_chunk": rpc}
    return SweepOutput(arrays, dims, coords, problem.info, timings)


def _stack_records(chunks: list[dict], metric_dims: dict, P: int, S: int) -> tuple[dict, dict]:
    """[rec0 (R,...), chunk (R,n,...), ...] -> arrays (P, S, 1 + sum n, ...)."""
    arrays, dims = {}, {}
    for name in chunks[0]:
        parts = [chunks[0][name][:, None]] + [c[name] for c in chunks[1:]]
        a = np.concatenate(parts, axis=1)
        arrays[name] = a.reshape(P, S, *a.shape[1:])
        dims[name] = ("point", "seed", "record", *metric_dims[name])
    return arrays, dims


def _flag_divergence(arrays: dict, dims: dict, steps: np.ndarray) -> None:
    """A run diverged if a parameter or a recorded loss became NaN/inf; keep the first such step
    (-1 if none). Huge but finite parameters are not a divergence."""
    bad = ~np.isfinite(arrays["loss"]) | ~np.isfinite(arrays["train_loss"])
    if "finite" in arrays:
        bad |= ~arrays["finite"].astype(bool)
    arrays["diverged"] = bad.any(axis=-1)
    first = np.where(bad.any(-1), bad.argmax(-1), -1)
    arrays["diverged_step"] = np.where(first >= 0, steps[np.maximum(first, 0)], -1)
    dims["diverged"] = dims["diverged_step"] = ("point", "seed")


def _progress(total: int, name: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"{name}: chunks", unit="chunk", leave=True)
