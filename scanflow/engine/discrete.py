"""Discrete training for one seed at one hyperparameter point, recorded by a nested `lax.scan`.

The outer scan runs over records, the inner scan over the `record_every` steps between them, so
metrics are taken every k steps without a `cond` on the step index. A run is split into chunks
(`run_chunk`) so that a Python loop can show progress and write between them; the carried
`State` holds everything needed to continue, including the global step (which picks the data key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the engine's low layers import no config module
    from scanflow.engine.config import TrainConfig

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from scanflow.engine.optim import make_optimizer
from scanflow.engine.workload import Problem, Recording


class State(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array  # global step count (int32)
    update: Any = None  # the last update delta_t (only when Problem.record_update)
    grads: Any = None  # the last step's gradient (only when Problem.record_update)


def data_key(run_key: jax.Array) -> jax.Array:
    """The key stream of the data: step i uses fold_in(data_key, i)."""
    return jax.random.fold_in(run_key, 1)


def init_key(run_key: jax.Array) -> jax.Array:
    return jax.random.fold_in(run_key, 0)


def init_state(problem: Problem, cfg: TrainConfig, run_key: jax.Array, hp: dict,
               split_loss: bool = False) -> tuple[State, dict]:
    """Parameters, optimizer state and the record at step 0. `split_loss`: take the step-0 training loss
    as ``batch_loss(params, sample(key, 0), 0)`` (the same batch; the form the shared-data chunk uses)."""
    params = problem.init(init_key(run_key), hp)
    opt_state = make_optimizer(cfg, hp["lr"], hp.get("train")).init(params)
    step0 = jnp.zeros((), jnp.int32)
    update = jax.tree.map(jnp.zeros_like, params) if problem.record_update else None
    rec = dict(problem.metrics(params, Recording(step0, update, opt_state, hp, update)))
    key0 = jax.random.fold_in(data_key(run_key), 0)
    if split_loss:
        rec["train_loss"] = problem.batch_loss(params, problem.sample(key0, step0), step0)
    else:
        rec["train_loss"] = problem.loss(params, key0, step0)
    return State(params, opt_state, step0, update, update), rec


def _step_fn(problem: Problem, tx, value_and_grad):
    """One optimizer step as a `lax.scan` body: carry (params, opt_state, update, grads), x -> loss.

    `value_and_grad(params, x)` gives the step's training loss and its gradient (x is the step index,
    or the step's batch and index)."""
    keep_update = problem.record_update

    def step(carry, x):
        params, opt_state, _, _ = carry
        loss, grads = value_and_grad(params, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        new = optax.apply_updates(params, updates)
        if not keep_update:
            return (new, opt_state, None, None), loss
        return (new, opt_state, jax.tree.map(lambda a, b: a - b, new, params), grads), loss

    return step


def advance(problem: Problem, tx, state: State, xs, value_and_grad) -> tuple[State, jax.Array]:
    """The engine's one step loop: one optimizer step per element of `xs` (a `lax.scan`; the steps' inputs,
    whose leading axis is the step count G); return the state G steps on and the G training losses.
    `value_and_grad(params, x)` gives a step's loss and gradient: from the step index (the run draws its own
    batch, `run_chunk`) or from a batch drawn for it (the shared-data chunk, `run_steps`)."""
    G = jax.tree.leaves(xs)[0].shape[0]
    (params, opt_state, update, grads), losses = lax.scan(
        _step_fn(problem, tx, value_and_grad), (state.params, state.opt_state, state.update, state.grads), xs)
    return State(params, opt_state, state.step + G, update, grads), losses


def record_loop(advance_record, measure, state, n_records: int):
    """The engine's one record loop: `n_records` times, ``advance_record(state) -> (state, train_loss)`` covers
    the record_every steps since the last record, then ``measure(state)`` takes the workload's metrics. Records
    have a leading axis of length n_records (a `lax.scan`: no `cond` on the step). One run (`run_chunk`) and a
    sweep whose seeds share their batches (`program._shared_chunk`) are this loop fed two ways."""

    def record(st, _):
        st, train_loss = advance_record(st)
        return st, {**measure(st), "train_loss": train_loss}

    return lax.scan(record, state, None, length=n_records)


def run_chunk(problem: Problem, cfg: TrainConfig, n_records: int, state: State, run_key: jax.Array, hp: dict):
    """Advance `n_records * record_every` steps; return the new state and the records.

    Record leaves have a leading axis of length n_records. `train_loss` is the mean training
    objective over the steps since the previous record. Step i's batch comes from fold_in(data_key, i).
    """
    tx = make_optimizer(cfg, hp["lr"], hp.get("train"))
    k_data = data_key(run_key)
    every = cfg.record_every

    def sampled(params, i):
        return jax.value_and_grad(problem.loss)(params, jax.random.fold_in(k_data, i), i)

    def advance_record(st):
        st, losses = advance(problem, tx, st, st.step + jnp.arange(every), sampled)
        return st, losses.mean()

    return record_loop(advance_record, lambda st: record_of(problem, st, hp), state, n_records)


def run_steps(problem: Problem, cfg: TrainConfig, state: State, batches, hp: dict) -> tuple[State, jax.Array]:
    """Advance one step per batch of `batches` (leaves with a leading step axis G, drawn by
    ``problem.sample`` for this run's seed at steps state.step .. state.step + G - 1); return the new
    state and the G training losses: `advance` fed batches drawn once per seed for every grid point."""
    tx = make_optimizer(cfg, hp["lr"], hp.get("train"))
    G = jax.tree.leaves(batches)[0].shape[0]
    return advance(problem, tx, state, (batches, state.step + jnp.arange(G)),
                   lambda params, x: jax.value_and_grad(problem.batch_loss)(params, *x))


def record_of(problem: Problem, state: State, hp: dict) -> dict:
    """The workload's metrics at the state's step (without ``train_loss``)."""
    return dict(problem.metrics(state.params, Recording(state.step, state.update, state.opt_state, hp, state.grads)))
