"""A small trainer for next-token models over plain parameter pytrees (norm-growth spec §4(a), §4(b)).

``train`` is pure and jit/vmap-able: one optimizer step per index of an inner ``lax.scan``, one
record per index of the outer scan (no ``cond`` on the step index). Every record carries the
norm-growth measurements computed *inside* the train step: the loss, the total and per-group
parameter norms, the last step's size ||delta_t|| and its alignment cos(delta_t, theta_t), the
gradient alignment cos(-grad L, theta_t), and (``keep_params``) the parameters themselves, so that
the direction cosines (C_2x, C_final) can be measured afterwards.

``train_seeds`` builds ``jit(vmap(run))`` over seeds for a `scanflow.models.causal` model on a
`scanflow.data.toy_tasks` task: root key -> ``fold_in(root, seed)`` -> init / data keys, and one
data key per step (``fold_in(k_data, step)``).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from scanflow.models import causal

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name: str, lr) -> optax.GradientTransformation:
    """``lr`` is a (traced) array, so a new value is a new argument, not a new program."""
    if name == "adam":
        return optax.adam(lr)
    if name == "sgd":
        return optax.sgd(lr)
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")


def _cos(a, b):
    den = jnp.linalg.norm(a) * jnp.linalg.norm(b)
    return jnp.where(den > 0, jnp.dot(a, b) / jnp.where(den > 0, den, 1.0), jnp.nan)


def _metrics(params, loss, delta_flat, grad_flat, keep_params: bool) -> dict:
    flat, _ = ravel_pytree(params)
    out = {
        "loss": loss,
        "norm": jnp.linalg.norm(flat),
        "group_norm": {g: jnp.linalg.norm(ravel_pytree(v)[0]) for g, v in params.items()},
        "step_norm": jnp.linalg.norm(delta_flat),
        "alignment": _cos(delta_flat, flat - delta_flat),  # cos(delta_t, theta_t), theta_t before the step
        "grad_alignment": _cos(-grad_flat, flat - delta_flat),
    }
    if keep_params:
        out["params"] = params
    return out


def train(spec, params, data_fn: Callable, lr, steps: int, record_every: int, optimizer: str = "adam",
          loss_fn: Callable | None = None, keep_params: bool = True):
    """Train ``params`` for ``steps`` optimizer steps; ``data_fn(step) -> batch``.

    ``loss_fn(params, batch)`` defaults to ``causal.loss(params, batch, spec)``. Returns
    ``(params, records)``; records' leaves have a leading axis of ``steps // record_every + 1``
    (step 0 included, where step_norm = 0 and the alignments are NaN), at steps ``record_steps``."""
    if steps % record_every:
        raise ValueError(f"record_every: expected a divisor of steps={steps}, got {record_every}")
    loss_fn = loss_fn or (lambda p, b: causal.loss(p, b, spec))
    tx = make_optimizer(optimizer, lr)
    zeros = jnp.zeros_like(ravel_pytree(params)[0])

    def step(carry, i):
        p, s, _, _, _ = carry
        loss, g = jax.value_and_grad(loss_fn)(p, data_fn(i))
        upd, s = tx.update(g, s, p)
        p_new = optax.apply_updates(p, upd)
        delta = ravel_pytree(p_new)[0] - ravel_pytree(p)[0]
        return (p_new, s, loss, delta, ravel_pytree(g)[0]), None

    def record(carry, j):
        carry, _ = jax.lax.scan(step, carry, j * record_every + jnp.arange(record_every))
        p, _, loss, delta, g = carry
        return carry, _metrics(p, loss, delta, g, keep_params)

    loss0 = loss_fn(params, data_fn(jnp.asarray(0)))
    carry0 = (params, tx.init(params), loss0, zeros, zeros)
    rec0 = _metrics(params, loss0, zeros, zeros, keep_params)
    carry, recs = jax.lax.scan(record, carry0, jnp.arange(steps // record_every))
    recs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), rec0, recs)
    return carry[0], recs


def record_steps(steps: int, record_every: int):
    """Step index of each record: 0, record_every, ..., steps (record k holds the batch loss of step k-1)."""
    return jnp.arange(0, steps + 1, record_every)


@partial(jax.jit, static_argnames=("spec", "task", "n_seeds", "steps", "record_every", "batch", "optimizer",
                                   "keep_params", "dtype"))
def train_seeds(key, lr, init_scale, qk_scale=1.0, *, spec, task, n_seeds: int, steps: int, record_every: int,
                batch: int, optimizer: str = "adam", keep_params: bool = True, dtype=jnp.float64):
    """jit(vmap over seeds) of `train` for ``causal`` on a toy task. ``lr``, ``init_scale`` and ``qk_scale``
    are arrays (no recompile on new values). Returns (final params, records), leaves with a leading seed axis.

    ``qk_scale`` multiplies every W_Q, W_K and their biases at init. ``qk_scale=0`` is a point that gradient
    descent and Adam never leave (each factor's gradient is proportional to the other factor, so both stay
    0), so every head stays a mean head: the structural tie of TACL's construction (ii)."""

    def run(seed):
        k_init, k_data = jax.random.split(jax.random.fold_in(key, seed))
        params = causal.init(k_init, spec, init_scale, dtype)
        params["attn"] = {name: {k: (jax.tree_util.tree_map(lambda a: qk_scale * a, v) if k in ("q", "k") else v)
                                 for k, v in lay.items()} for name, lay in params["attn"].items()}

        def data_fn(i):
            return task.sample(jax.random.fold_in(k_data, i), batch)

        return train(spec, params, data_fn, lr, steps, record_every, optimizer, keep_params=keep_params)

    return jax.vmap(run)(jnp.arange(n_seeds))
