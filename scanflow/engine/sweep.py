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

import collections
import contextlib
import dataclasses
import functools
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine import sharding
from scanflow.engine import discrete
from scanflow.engine import grid
from scanflow.engine.config import Config, ConfigError, TrainConfig
from scanflow.engine.registry import get_workload
from scanflow.engine.results import atomic_write_bytes
from scanflow.engine.store import RecordStore, RunDirError
from scanflow.engine.workload import Recording

# Incremented each time a sweep program is *traced*; the no-recompile test reads it.
TRACE_COUNT = {"init": 0, "chunk": 0}


def static_part(cfg: Config) -> Config:
    """The config with every dynamic value blanked: equal static parts share a compiled program.
    The dynamic model fields of a workload are its `Workload.dynamic_model_fields`."""
    dynamic = get_workload(cfg.workload).dynamic_model_fields
    blank = {f.name: f.default for f in dataclasses.fields(cfg.model) if f.name in dynamic}
    axes = grid.axes(cfg, dynamic=True)  # a dynamic axis keeps its name (it shapes hp), not its values
    train_blank = {f.name: f.default for f in dataclasses.fields(cfg.train) if f"train.{f.name}" in axes}
    defaults = {"model": cfg.model.__class__(), "train": TrainConfig()}
    axes = {p: (getattr(defaults[p.split(".")[0]], p.split(".")[1]),) for p in axes} or None
    return dataclasses.replace(
        cfg,
        name="static",
        out_dir=".",
        model=dataclasses.replace(cfg.model, **blank),
        train=dataclasses.replace(cfg.train, **train_blank),
        sweep=dataclasses.replace(cfg.sweep, lr=None, root_seed=0, max_memory_gb=math.inf, max_run_steps=math.inf,
                                  grid=axes),
    )


def dtype_of(cfg: Config):
    return jnp.float64 if cfg.x64 else jnp.float32


def hyperparams(cfg: Config, info: dict | None = None) -> dict:
    """Host arrays of the dynamic hyperparameters, one entry per grid point (leading axis P):
    ``{"lr": {group: (P,)}, "init_scale": {name: (P,)}}``, supplied by the workload (`info` is its
    built problem's info; built here when omitted)."""
    if info is None:
        info = program(static_part(cfg)).problem.info
    wl = get_workload(cfg.workload)
    points = grid.dynamic_points(cfg)
    if points == [{}]:
        return wl.hyperparams(cfg, info)
    parts = []
    for values in points:  # dynamic axes outer, the workload's learning-rate grid inner
        hp = wl.hyperparams(grid.assign(cfg, values), info)
        P = jax.tree.leaves(hp)[0].shape[0]
        train = {p.split(".")[1]: np.full((P,), v, dtype_of(cfg)) for p, v in values.items() if p.startswith("train.")}
        parts.append({**hp, "train": train} if train else hp)
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def point_labels(cfg: Config, info: dict) -> dict:
    """What labels each grid point, ``{name: (P,) float64}``: ``lr_<group>`` and ``init_scale_<name>`` of the
    workload and every dynamic grid axis. The config's values (float64), not their float32 roundings, so that
    ``ds.sel(lr_Y=0.1)`` finds the point."""
    hp = hyperparams(cfg if cfg.x64 else dataclasses.replace(cfg, x64=True), info)
    out = {f"{kind}_{g}": np.asarray(v, np.float64) for kind in ("lr", "init_scale") for g, v in hp[kind].items()}
    return {**out, **axis_labels(cfg, len(next(iter(out.values()))))}


def axis_labels(cfg: Config, n_points: int) -> dict:
    """The value of each dynamic grid axis at every point, ``{label: (P,) float64}`` (see `hyperparams`)."""
    points = grid.dynamic_points(cfg)
    if points == [{}]:
        return {}
    per = n_points // len(points)
    taken = {f"{k}_{g}" for k in ("lr", "init_scale") for g in ("Y", "Z")}
    out = {}
    for path in points[0]:
        out[grid.label(path, taken | set(out))] = np.repeat(np.asarray([float(a[path]) for a in points]), per)
    return out


def run_key(root_key: jax.Array, seed_index: jax.Array) -> jax.Array:
    """One key per seed: fold_in(root, seed index), shared by every point (common random numbers)."""
    return jax.random.fold_in(root_key, seed_index)


@dataclass(frozen=True)
class Program:
    """The per-run functions of one static config, lifted over a run axis (not yet compiled).

    `init_runs` / `chunk_runs` take per-run inputs ``{"hp": ..., "seed": ...}`` with a leading run
    axis (see `scanflow.engine.sharding.run_inputs`); `init` / `chunk` take hp with a leading point axis P
    and build the P * S runs themselves (convenience, one device).
    """

    init_runs: Callable  # (root_key, runs) -> (state, rec0)         leaves: (R, ...)
    chunk_runs: Callable  # (state, root_key, runs, n_records) -> (state, recs)
    problem: Any
    n_seeds: int
    chunk_blocks: Callable | None = None  # (state, root_data, runs, n_records, block) -> (state, recs): the device program

    def init(self, root, hp):
        return self.init_runs(root, _runs_of(hp, self.n_seeds))

    def chunk(self, state, root, hp, n_records):
        return self.chunk_runs(state, root, _runs_of(hp, self.n_seeds), n_records)


def run_index(n_points: int, n_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """The flattened run axis: run r is (point r // S, seed r % S)."""
    r = np.arange(n_points * n_seeds)
    return r // n_seeds, r % n_seeds


def _runs_of(hp: dict, n_seeds: int) -> dict:
    P = jax.tree.leaves(hp)[0].shape[0]
    point_R, seed_R = run_index(P, n_seeds)
    return {"hp": jax.tree.map(lambda a: a[point_R], hp), "seed": jnp.asarray(seed_R, jnp.int32)}


def _vmap_runs(fn: Callable, state_in: bool) -> Callable:
    """Lift fn(state?, run_key, hp_one) to (state?, root_key, runs) over one run axis.

    Each run derives its key fold_in(root, seed) inside the program, so its random numbers do not
    depend on the batch or on the sharding it runs in.
    """

    def lifted(*args):
        state, root, runs = args if state_in else (None, *args)
        keys_R = jax.vmap(run_key, in_axes=(None, 0))(root, runs["seed"])
        if state_in:
            return jax.vmap(fn)(state, keys_R, runs["hp"])
        return jax.vmap(fn)(keys_R, runs["hp"])

    return lifted


@functools.lru_cache(maxsize=32)  # built Problems per static config (bounded)
def program(static: Config) -> Program:
    problem = _select_metrics(get_workload(static.workload).build(static), static.train.metrics)
    tc, dtype = static.train, dtype_of(static)
    S = static.sweep.seeds

    if tc.method == "sgd":

        def init_one(key, hp):
            return discrete.init_state(problem, tc, key, hp, split_loss=shares_batches(static, problem))

        def chunk_one(state, key, hp, n_records):
            return discrete.run_chunk(problem, tc, n_records, state, key, hp)

    else:
        from scanflow.engine import flow  # diffrax: imported only for gradient flow

        if problem.flow_loss is None:
            raise ConfigError(f"train.method: workload {static.workload} has no deterministic loss for gradient flow; "
                              "expected sgd")

        def metrics_at(hp):
            return lambda t, p: {**problem.metrics(p, Recording(t, None, None, hp)), "train_loss": problem.flow_loss(p)}

        def init_one(key, hp):
            params = problem.init(discrete.init_key(key), hp)
            state = flow.init_flow_state(params, dtype)
            return state, metrics_at(hp)(state.t, params)

        def chunk_one(state, key, hp, n_records):
            del key
            return flow.solve_chunk(
                problem.flow_loss, metrics_at(hp), static.flow, state, hp["lr"], float(tc.record_every), n_records
            )

    def init_runs(root, runs):
        TRACE_COUNT["init"] += 1
        return _vmap_runs(init_one, state_in=False)(root, runs)

    def chunk_runs(state, root, runs, n_records):
        TRACE_COUNT["chunk"] += 1
        one = functools.partial(_chunk_n, chunk_one, n_records)
        return _vmap_runs(one, state_in=True)(state, root, runs)

    def chunk_blocks(state, root_data, runs, n_records, block):
        wrap = jax.random.wrap_key_data
        return _map_blocks(lambda sx: chunk_runs(sx[0], wrap(root_data), sx[1], n_records), (state, runs), block)

    shared = functools.partial(_shared_chunk, problem, tc, S) if shares_batches(static, problem) else None
    return Program(init_runs, chunk_runs, problem, S, shared or chunk_blocks)


def _select_metrics(problem, names):
    """The problem recording only `names` of its metrics (``train.metrics``; None: all). The others are
    dropped before the program's outputs, so XLA never computes them."""
    if names is None:
        return problem
    known = sorted(k for k in problem.metric_dims if k != "train_loss")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"train.metrics: unknown metric {unknown[0]!r}; expected some of {known}")
    keep = set(names)
    metrics = problem.metrics
    return problem._replace(metrics=lambda params, rec: {k: v for k, v in metrics(params, rec).items() if k in keep})


def shares_batches(static: Config, problem) -> bool:
    """Whether the sweep draws each seed's batches once for all grid points (`_shared_chunk`)."""
    return (static.sweep.share_batches and static.train.method == "sgd" and problem.sample is not None
            and problem.batch_loss is not None)


# Bytes of one seed's batches drawn at a time by the shared-data chunk (a group of steps)
SHARED_BATCH_BYTES = 4 * 2**20


def batch_group(problem, tc: TrainConfig) -> int:
    """Steps per group of the shared-data chunk: the largest divisor of record_every whose batches, for
    one seed, fit in SHARED_BATCH_BYTES (at least 1). A function of the static config only, never of
    the seed count or the grid, so a run's bits do not depend on them."""
    key = jax.random.PRNGKey(0)
    shape = jax.eval_shape(problem.sample, key, jnp.int32(0))
    nbytes = sum(math.prod(a.shape) * a.dtype.itemsize for a in jax.tree.leaves(shape))
    fit = max(1, SHARED_BATCH_BYTES // max(1, nbytes))
    return max(d for d in range(1, tc.record_every + 1) if tc.record_every % d == 0 and d <= fit)


def _shared_chunk(problem, tc: TrainConfig, n_seeds: int, state, root_data, runs, n_records: int, block: int):
    """The chunk program when seeds share their batches across grid points (`shares_batches`).

    Same records as `discrete.run_chunk` run per run, nested the other way: for each group of G steps
    the batches of every seed are drawn once (``problem.sample``, keys as in `discrete.run_chunk`:
    fold_in(data_key(run key), step)), then the blocks of runs advance G steps, each run on its own
    seed's batches (`discrete.run_steps`); the metrics are taken per block at each record. A run's
    batches are the integers it would draw itself; its bits depend on its config, hyperparameters
    and seed only (G and the block are functions of the static config).
    """
    TRACE_COUNT["chunk"] += 1
    root = jax.random.wrap_key_data(root_data)
    every = tc.record_every
    G = batch_group(problem, tc)
    keys_S = jax.vmap(lambda s: discrete.data_key(run_key(root, s)))(jnp.arange(n_seeds))

    def draw(first):  # leaves (S, G, ...): each seed's batches of steps first .. first + G - 1
        steps = first + jnp.arange(G)
        return jax.vmap(lambda k: jax.vmap(lambda i: problem.sample(jax.random.fold_in(k, i), i))(steps))(keys_S)

    def advance(x, batches):
        st, rn, loss_sum = x
        mine = jax.tree.map(lambda a: a[rn["seed"]], batches)
        st, losses = jax.vmap(lambda s, b, hp: discrete.run_steps(problem, tc, s, b, hp))(st, mine, rn["hp"])
        return st, loss_sum + losses.sum(-1)

    def group(carry, _):
        st, loss_sum = carry
        batches = draw(st.step[0])  # every run is at the same step
        return _map_blocks(lambda x: advance(x, batches), (st, runs, loss_sum), block), None

    def record(st, _):
        zero = jnp.zeros(runs["seed"].shape, jax.tree.leaves(st.params)[0].dtype)
        (st, loss_sum), _ = jax.lax.scan(group, (st, zero), jnp.arange(every // G))
        rec = _map_blocks(lambda x: jax.vmap(lambda s, hp: discrete.record_of(problem, s, hp))(x[0], x[1]["hp"]),
                          (st, runs), block)
        return st, {**rec, "train_loss": loss_sum / every}

    state, recs = jax.lax.scan(record, state, jnp.arange(n_records))
    return state, jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), recs)  # (R, n_records, ...) as run_chunk's


def _chunk_n(chunk_one, n_records, state, key, hp):
    return chunk_one(state, key, hp, n_records)


# AOT-compiled executables per (static config, shapes, mesh, block): at most COMPILED_CACHE_SIZE are kept,
# least recently used dropped first (each holds device code, a few MB per device of the mesh).
COMPILED_CACHE_SIZE = 16
_COMPILED: "collections.OrderedDict" = collections.OrderedDict()


def _map_blocks(fn: Callable, tree, block: int):
    """fn over consecutive blocks of `block` runs, one block after another (a loop).

    Every run is computed inside a vmap of exactly `block` runs whatever the device count, so
    its bits do not depend on how the sweep is sharded (XLA's code, and so the rounding, can
    change with the vmapped batch size). The loop body must also compile the same whatever the
    number of blocks n, so XLA is never shown a trivial loop: its trip count reaches XLA through
    an optimization barrier (a known count of 1 is inlined), and a single block gets a spare,
    never computed, block in the loop's buffers (slicing a whole buffer is simplified away).
    Either would let XLA fuse the body with its surroundings (measured: 1 float32 ulp).
    `fn` is traced once.
    """
    import jax.extend.core

    n = jax.tree.leaves(tree)[0].shape[0] // block
    split = jax.tree.map(lambda a: a.reshape(n, block, *a.shape[1:]), tree)
    one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), split)
    if n == 1:
        split = jax.tree.map(lambda a: jnp.concatenate([a, jnp.zeros_like(a)]), split)
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(one)
    body_fn = jax.extend.core.jaxpr_as_fun(closed)
    out0 = jax.tree.map(lambda s: jnp.zeros((max(n, 2), *s.shape), s.dtype), out_shape)

    def body(i, out):
        x = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, i, keepdims=False), split)
        y = jax.tree.unflatten(jax.tree.structure(out_shape), body_fn(*jax.tree.leaves(x)))
        return jax.tree.map(lambda o, v: jax.lax.dynamic_update_index_in_dim(o, v, i, 0), out, y)

    out = jax.lax.fori_loop(0, jax.lax.optimization_barrier(jnp.int32(n)), body, out0)
    return jax.tree.map(lambda a: a[:n].reshape(n * block, *a.shape[2:]), out)


@contextlib.contextmanager
def unrolled_threefry():
    """Lower threefry2x32 with its 20 rounds unrolled on CPU too, while the sweep programs are lowered.

    JAX lowers threefry on CPU as a rolled `fori_loop` of 5 iterations: every random-number call
    site becomes a while loop of small kernels, and XLA:CPU compiles each kernel separately. The
    unrolled form (JAX's default on other backends) is one fusion per call site and computes the
    same integers, so the random streams do not change; it roughly halves the Fig-6 compile time
    (benchmarks/RESULTS.md). Uses JAX internals; without them this is a no-op.
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as tf

        prim, unrolled, rolled = tf.threefry2x32_p, tf._threefry2x32_lowering_rule, tf._threefry2x32_cpu_lowering_rule
    except (ImportError, AttributeError):
        yield
        return
    with _THREEFRY_LOCK:
        mlir.register_lowering(prim, unrolled, platform="cpu")
        try:
            yield
        finally:
            mlir.register_lowering(prim, rolled, platform="cpu")


_THREEFRY_LOCK = threading.Lock()


def _over_devices(lower: Callable, mesh) -> dict:
    """{device: lowered single-device program} for this process's devices of the mesh, in mesh order.

    `lower(sharding)` lowers the program with every argument on one device; each device gets its own
    compile (the device is baked into an executable), of one trace."""
    return {d: lower(jax.sharding.SingleDeviceSharding(d)) for d in sharding.local_devices(mesh)}


def _compile_per_device(lowered: dict) -> dict:
    """{device: executable} of one program lowered for each device (`_over_devices`).

    On CPU every device runs the first device's machine code, compiled once: with the persistent
    compilation cache on, the other devices load it from the cache (their cache key leaves out the
    device, `_device_free_cache_keys`); with it off, the executable is loaded again for each device
    (`sharding.load_on`). Elsewhere, or if that fails, each device compiles its own (in parallel)."""
    import os

    devices = list(lowered)
    out = {}
    if devices[0].platform == "cpu":
        with _device_free_cache_keys():
            out[devices[0]] = first = lowered[devices[0]].compile()
            for d in devices[1:]:
                out[d] = lowered[d].compile() if _CACHE_STATE.get("dir") else sharding.load_on(first, d)
    rest = [d for d in devices if out.get(d) is None]
    if rest:
        with ThreadPoolExecutor(min(len(rest), max(2, os.cpu_count() or 2))) as pool:
            out.update(zip(rest, pool.map(lambda d: lowered[d].compile(), rest)))
    return {d: out[d] for d in devices}


@contextlib.contextmanager
def _device_free_cache_keys():
    """While scanflow compiles its CPU programs: persistent-cache keys without the device assignment
    (JAX does this on GPU). A single-device CPU program compiled for one host device runs on any
    other; on a cache hit JAX loads it for the device asked for. Uses JAX internals; without them
    this is a no-op (each device then compiles or loads its own entry)."""
    try:
        from jax._src import cache_key as ck

        original = ck._hash_serialized_compile_options
    except (ImportError, AttributeError):
        yield
        return

    def stripped(hash_obj, options, strip_device_assignment=False):
        return original(hash_obj, options, strip_device_assignment=True)

    with _CACHE_KEY_LOCK:
        ck._hash_serialized_compile_options = stripped
        try:
            yield
        finally:
            ck._hash_serialized_compile_options = original


_CACHE_KEY_LOCK = threading.Lock()


def compiled(cfg: Config, runs: dict, n_records: int, mesh=None, block: int | None = None):
    """AOT-compiled (init, chunk) for this static config, these run-input shapes and this mesh; cached.

    The program is `lax.map` over blocks of `block` runs (default: all runs of a device), ``vmap``
    inside, over one device's rows; it is compiled once per device of this process and the
    executables are called as one (`scanflow.engine.sharding.PerDevice`: global row-sharded arrays in
    and out). Every device count runs the same program, so a run's bits do not depend on it.
    Returns (init_exe, chunk_exe, state_shape, program, compile_seconds) -- state_shape is global
    (all rows); compile_seconds is 0 on a cache hit.
    """
    mesh = sharding.make_mesh(1) if mesh is None else mesh
    static = static_part(cfg)
    prog = program(static)
    shapes = jax.tree.map(lambda a: (a.shape, str(a.dtype)), runs)
    devices = tuple(d.id for d in mesh.devices.flat)
    n_local = jax.tree.leaves(runs)[0].shape[0] // mesh.size
    block = n_local if block is None else block
    if n_local % block:
        raise ValueError(f"block: expected a divisor of the {n_local} runs per device, got {block}")
    cache_key = (static, n_records, str(shapes), jax.config.jax_enable_x64, devices, block)
    if cache_key in _COMPILED:
        _COMPILED.move_to_end(cache_key)
        LAST_COMPILE.update({k: 0 for k in CACHE_EVENTS}, in_process=2)
        return (*_COMPILED[cache_key], prog, 0.0)
    LAST_COMPILE["in_process"] = 0
    t0 = time.perf_counter()
    wrap = jax.random.wrap_key_data

    def init_fn(root_data, runs):
        return _map_blocks(lambda xb: prog.init_runs(wrap(root_data), xb), runs, block)

    def chunk_fn(state, root_data, runs):
        return prog.chunk_blocks(state, root_data, runs, n_records, block)

    key_data = jax.random.key_data(jax.random.PRNGKey(0))
    on = lambda tree, sh: jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), tree)
    root_1 = jax.ShapeDtypeStruct(key_data.shape, key_data.dtype)
    runs_1 = jax.tree.map(lambda a: jax.ShapeDtypeStruct((n_local, *a.shape[1:]), a.dtype), runs)  # one device's rows
    init_jit, chunk_jit = jax.jit(init_fn), jax.jit(chunk_fn, donate_argnums=0)  # traced once for all devices
    with unrolled_threefry():
        init_low = _over_devices(lambda sh: init_jit.lower(on(root_1, sh), on(runs_1, sh)), mesh)
        state_1 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), next(iter(init_low.values())).out_info[0])
        chunk_low = _over_devices(lambda sh: chunk_jit.lower(on(state_1, sh), on(root_1, sh), on(runs_1, sh)), mesh)
    state_shape = jax.tree.map(lambda a: jax.ShapeDtypeStruct((a.shape[0] * mesh.size, *a.shape[1:]), a.dtype), state_1)
    before = dict(CACHE_EVENTS)
    init_exe = sharding.PerDevice(_compile_per_device(init_low), mesh)
    chunk_exe = sharding.PerDevice(_compile_per_device(chunk_low), mesh)
    LAST_COMPILE.update({k: CACHE_EVENTS[k] - before[k] for k in CACHE_EVENTS})
    _COMPILED[cache_key] = (init_exe, chunk_exe, state_shape)
    while len(_COMPILED) > COMPILED_CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return init_exe, chunk_exe, state_shape, prog, time.perf_counter() - t0


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
) -> SweepOutput:
    """Run every (point, seed) of the config in one compiled program; return labelled arrays.

    `only_runs` (flat indices point * seeds + seed) computes only those runs, with the bits they have
    in the whole sweep (extending a finished sweep); the other runs' entries are zero.

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
        return _run_sweep(cfg, progress, work_dir, n_devices, runs_per_block, checkpoint_every_s, only_runs)


def _run_sweep(cfg, progress, work_dir, n_devices, runs_per_block, checkpoint_every_s, only_runs=None) -> SweepOutput:
    enable_compile_cache()
    problem = program(static_part(cfg)).problem
    hp = hyperparams(cfg, problem.info)
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
        missing = store.missing_records(done)
        if missing:  # found before any work, not after recomputing the other chunks
            raise RunDirError(f"{Path(work_dir) / 'records'}: the records of chunk(s) {missing[:5]} are missing but the "
                              f"checkpoint counts {done} chunks; this run cannot be completed, start it again "
                              f"(scanflow run {Path(work_dir) / 'config.yaml'})")
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
        dims[name] = ("point", "seed", "record", *problem.metric_dims[name])
    every = cfg.train.record_every
    coords = {
        "point": np.arange(P),
        "seed": np.arange(cfg.sweep.seeds),
        "record": np.arange(0, cfg.train.steps + 1, every),
        **problem.coords,
    }
    labels = point_labels(cfg, problem.info)
    levels = list(labels)
    for k, v in labels.items():
        arrays[k], dims[k] = v, ("point",)
    extra, extra_dims = get_workload(cfg.workload).point_arrays(cfg, hp, coords["record"])
    arrays.update(extra)
    dims.update(extra_dims)
    _flag_divergence(arrays, dims, coords["record"])
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
            raise RunDirError(f"{f}: damaged ({e.__class__.__name__}); this run cannot be resumed safely, start it "
                              f"again (scanflow run {Path(work_dir) / 'config.yaml'})") from None
        diff = {k: (saved[k], v) for k, v in facts.items() if k in saved and saved[k] != v}
        if diff:
            k, (old, new) = next(iter(diff.items()))
            raise RunDirError(f"{f}: the run started with {k}={old}, the config now gives {new}; its records do not fit. "
                              f"Restore the original config or start a new run")
        return saved_block
    if jax.process_index() == 0:
        atomic_write_bytes(f, json.dumps({"runs_per_block": block, **facts}).encode())
    return block


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


# ----------------------------------------------------------------------------- persistent compile cache
#
# scanflow turns on JAX's persistent compilation cache the first time a sweep runs (not at import), in
# $SCANFLOW_COMPILE_CACHE, else $XDG_CACHE_HOME/scanflow/jax, else ~/.cache/scanflow/jax. Opt out with
# SCANFLOW_COMPILE_CACHE=off. A cache directory the user set for JAX (JAX_COMPILATION_CACHE_DIR or
# jax.config) is used as it is. The manifest records how many of a run's programs came from the cache.

CACHE_EVENTS = {"hits": 0, "misses": 0}
LAST_COMPILE: dict = {"hits": 0, "misses": 0, "in_process": 0}
_CACHE_STATE: dict = {}


def _count_cache_event(event: str, **kw) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        CACHE_EVENTS["hits"] += 1
    elif event == "/jax/compilation_cache/cache_misses":
        CACHE_EVENTS["misses"] += 1


def enable_compile_cache() -> str | None:
    """Turn the persistent compilation cache on (once per process); return its directory or None."""
    import os

    if "dir" in _CACHE_STATE:
        return _CACHE_STATE["dir"]
    jax.monitoring.register_event_listener(_count_cache_event)
    choice = os.environ.get("SCANFLOW_COMPILE_CACHE", "").strip()
    current = jax.config.jax_compilation_cache_dir
    if choice.lower() in ("0", "off", "no", "false"):
        _CACHE_STATE["dir"] = current or None  # opted out (a cache the user set for JAX stays theirs)
        return _CACHE_STATE["dir"]
    if current:
        _CACHE_STATE["dir"] = current
        return current
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = choice or os.path.join(base, "scanflow", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        _CACHE_STATE["dir"] = None  # an unwritable home: compile as before
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)  # scanflow's programs take 1-40 s
    _CACHE_STATE["dir"] = path
    return path


def compile_cache_report() -> dict:
    """For the manifest: the cache directory and where this run's programs came from."""
    hits, misses, mem = LAST_COMPILE["hits"], LAST_COMPILE["misses"], LAST_COMPILE.get("in_process", 0)
    source = "in-process" if mem else ("persistent cache" if hits and not misses else
                                         "compiled" if not hits else "mixed")
    return {"dir": _CACHE_STATE.get("dir"), "hits": hits, "misses": misses, "programs_from": source}


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
            raise KeyboardInterrupt
        pending.append(signum)
        import sys

        try:
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
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"{name}: chunks", unit="chunk", leave=True)
