"""The per-run program of one static config: `static_part` (what picks the compiled program),
`hyperparams` and the point labels (the dynamic values, vmapped arguments), and `program`: the one-run
init / chunk functions lifted over a run axis in blocks (`_map_blocks`), including the chunk that
shares each seed's batches across grid points (`_shared_chunk`). Nothing here compiles or runs:
`scanflow.engine.compilation` compiles, `scanflow.engine.sweep` runs the chunk loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine import discrete
from scanflow.engine import grid
from scanflow.engine.validation import ConfigError, derived

if TYPE_CHECKING:  # annotations only
    from scanflow.engine.config import Config, TrainConfig
from scanflow.engine.registry import get_workload, workload_hook
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
    defaults = {"model": cfg.model.__class__(), "train": cfg.train.__class__()}
    axes = {p: (getattr(defaults[p.split(".")[0]], p.split(".")[1]),) for p in axes} or None
    with derived():  # `cfg` passed the whole-config rules; the blanked copy only checks its fields
        return _blanked(cfg, blank, train_blank, axes)


def _blanked(cfg, blank: dict, train_blank: dict, axes) -> Config:
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
    wl_hyperparams = workload_hook(cfg.workload, "hyperparams")  # a plug-in's exception: one line naming it
    points = grid.dynamic_points(cfg)
    if points == [{}]:
        return wl_hyperparams(cfg, info)
    parts = []
    for values in points:  # dynamic axes outer, the workload's learning-rate grid inner
        hp = wl_hyperparams(grid.assign(cfg, values), info)
        P = jax.tree.leaves(hp)[0].shape[0]
        train = {p.split(".")[1]: np.full((P,), v, dtype_of(cfg)) for p, v in values.items() if p.startswith("train.")}
        parts.append({**hp, "train": train} if train else hp)
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def point_labels(cfg: Config, info: dict) -> dict:
    """What labels each grid point, ``{name: (P,) float64}``: ``lr_<group>`` and ``init_scale_<name>`` of the
    workload and every dynamic grid axis. The config's values (float64), not their float32 roundings, so that
    ``ds.sel(lr_Y=0.1)`` finds the point."""
    if not cfg.x64:
        with derived():  # the same config in float64 (its values checked already)
            cfg64 = dataclasses.replace(cfg, x64=True)
    hp = hyperparams(cfg if cfg.x64 else cfg64, info)
    out = {f"{kind}_{g}": np.asarray(v, np.float64) for kind in ("lr", "init_scale") for g, v in hp.get(kind, {}).items()}
    return {**out, **axis_labels(cfg, len(next(iter(out.values()))))}


def axis_labels(cfg: Config, n_points: int) -> dict:
    """The value of each dynamic grid axis at every point, ``{label: (P,) float64}`` (see `hyperparams`)."""
    points = grid.dynamic_points(cfg)
    if points == [{}]:
        return {}
    per = n_points // len(points)
    return {name: np.repeat(np.asarray([float(a[path]) for a in points]), per)
            for name, path in axis_label_names(cfg).items()}


def axis_label_names(cfg: Config) -> dict:
    """``{label: path}`` of each dynamic grid axis: the field name, or section_field if that is taken."""
    out = {}
    for path in grid.axes(cfg, dynamic=True):
        field = path.split(".")[1]
        taken = set(out) | ({field} if field.startswith(("lr_", "init_scale_")) else set())  # the workload's labels
        out[grid.label(path, taken)] = path
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
    problem = _select_metrics(workload_hook(static.workload, "build")(static), static.train.metrics)  # guarded
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
    # a name the workload does not record is refused when one run is traced (preflight.trace_one_run),
    # which sees every metric, the scalars that need no metric_dims entry included
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

    The engine's one record loop (`discrete.record_loop`), fed another way than `discrete.run_chunk`: for
    each group of G steps the batches of every seed are drawn once (``problem.sample``, keys as in
    `discrete.run_chunk`: fold_in(data_key(run key), step)), then the blocks of runs take the one step loop
    G steps, each run on its own seed's batches (`discrete.run_steps`); the metrics are taken per block at
    each record. A run's
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

    def advance_record(st):
        zero = jnp.zeros(runs["seed"].shape, jax.tree.leaves(st.params)[0].dtype)
        (st, loss_sum), _ = jax.lax.scan(group, (st, zero), jnp.arange(every // G))
        return st, loss_sum / every

    def measure(st):
        return _map_blocks(lambda x: jax.vmap(lambda s, hp: discrete.record_of(problem, s, hp))(x[0], x[1]["hp"]),
                           (st, runs), block)

    state, recs = discrete.record_loop(advance_record, measure, state, n_records)
    return state, jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), recs)  # (R, n_records, ...) as run_chunk's


def _chunk_n(chunk_one, n_records, state, key, hp):
    return chunk_one(state, key, hp, n_records)


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
