"""Discrete training for one seed at one hyperparameter point, recorded by a nested `lax.scan`.

The outer scan runs over records, the inner scan over the `record_every` steps between them, so
metrics are taken every k steps without a `cond` on the step index. A run is split into chunks
(`run_chunk`) so that a Python loop can show progress and write between them; the carried
`State` holds everything needed to continue, including the global step (which picks the data key).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from scanflow.config import TrainConfig
from scanflow.dynamics.optim import make_optimizer
from scanflow.workloads.base import Problem


class State(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array  # global step count (int32)


def data_key(run_key: jax.Array) -> jax.Array:
    """The key stream of the data: step i uses fold_in(data_key, i)."""
    return jax.random.fold_in(run_key, 1)


def init_key(run_key: jax.Array) -> jax.Array:
    return jax.random.fold_in(run_key, 0)


def init_state(problem: Problem, cfg: TrainConfig, run_key: jax.Array, hp: dict) -> tuple[State, dict]:
    """Parameters, optimizer state and the record at step 0."""
    params = problem.init(init_key(run_key), hp)
    opt_state = make_optimizer(cfg, hp["lr"]).init(params)
    rec = dict(problem.metrics(params))
    rec["train_loss"] = problem.loss(params, jax.random.fold_in(data_key(run_key), 0))
    return State(params, opt_state, jnp.zeros((), jnp.int32)), rec


def run_chunk(problem: Problem, cfg: TrainConfig, n_records: int, state: State, run_key: jax.Array, hp: dict):
    """Advance `n_records * record_every` steps; return the new state and the records.

    Record leaves have a leading axis of length n_records. `train_loss` is the mean training
    objective over the steps since the previous record.
    """
    tx = make_optimizer(cfg, hp["lr"])
    k_data = data_key(run_key)
    every = cfg.record_every

    def step(carry, i):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(problem.loss)(params, jax.random.fold_in(k_data, i))
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def record(carry, j):
        params, opt_state, start = carry
        (params, opt_state), losses = lax.scan(step, (params, opt_state), start + j * every + jnp.arange(every))
        rec = dict(problem.metrics(params))
        rec["train_loss"] = losses.mean()
        return (params, opt_state, start), rec

    (params, opt_state, _), recs = lax.scan(
        record, (state.params, state.opt_state, state.step), jnp.arange(n_records)
    )
    return State(params, opt_state, state.step + n_records * every), recs
