"""Train a causal transformer LM on a chunked corpus: learning rates x seeds in ONE vmapped program.

Runs are flattened to one axis, point-major (run r = (lr point r // S, seed r % S)). Seed s has the
same init at every learning rate (key fold_in(root, s)); the data stream is the reference's:
chunk (step mod C) of the batchified training file, identical for every run (no shuffling, as
PyTorch's word_language_model). The optimizer is the reference notebook's: plain SGD on the
gradient clipped to global norm ``clip``, with an optional learning-rate multiplier for the FFN
group (the notebook used 2x).

Recording uses a nested ``lax.scan`` (records x steps between records); the host loops over jitted
chunks of records, so a long run shows progress and the same program serves every chunk. At each
record the lowest layer's attention on a fixed probe set is stored (the Fig-7 maps and the freeze
detector), with the mean train loss since the last record. Before and after training the mean
attention entropy of every layer over the whole evaluation set is computed (the Fig-10 measure),
together with the evaluation loss.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from scanflow.measure.real_text import mean_attention_entropy
from scanflow.models import causal


@dataclass(frozen=True)
class TrainSpec:
    """The static part: it picks the compiled program."""

    model: causal.CausalSpec
    steps: int
    record_every: int
    clip: float | None = 0.5  # global-norm gradient clip (the reference's clip_grad_norm_ 0.5)
    ffn_lr_mult: float = 1.0  # the FFN group's rate is ffn_lr_mult * eta
    n_seeds: int = 3
    records_per_chunk: int = 10  # host loop granularity (progress only; results do not depend on it)

    def __post_init__(self):
        if self.steps < 1 or self.record_every < 1 or self.steps % self.record_every:
            raise ValueError(f"steps: expected a positive multiple of record_every={self.record_every}, got {self.steps}")
        if self.n_seeds < 1:
            raise ValueError(f"seeds: expected a positive integer, got {self.n_seeds}")

    @property
    def n_records(self) -> int:
        return self.steps // self.record_every


def _sgd_step(params, grads, lr, spec: TrainSpec):
    if spec.clip is not None:
        grads, _ = optax.clip_by_global_norm(spec.clip).update(grads, optax.EmptyState())
    mult = {g: (spec.ffn_lr_mult if g == "ffn" else 1.0) for g in params}
    return {g: jax.tree.map(lambda p, d: p - (lr * mult[g]).astype(p.dtype) * d, params[g], grads[g]) for g in params}


def _probe_attn(params, probe_QxT, spec: TrainSpec):
    """Lowest layer's attention on the probe sequences, averaged over heads: Q x T x T."""
    _, attn_LxQxHxTxT = causal.apply(params, probe_QxT, spec.model)
    return attn_LxQxHxTxT[0].mean(1)


def _eval(params, vx_CxBxT, vy_CxBxT, spec: TrainSpec):
    """Mean attention entropy of every layer (L,) and the mean loss over the evaluation chunks."""

    def one(_, xy):
        x, y = xy
        logits, attn = causal.apply(params, x, spec.model)
        ent_L = jax.vmap(mean_attention_entropy)(attn)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return None, (ent_L, ce)

    _, (ent_CxL, ce_C) = lax.scan(one, None, (vx_CxBxT, vy_CxBxT))
    return ent_CxL.mean(0), ce_C.mean()


@functools.lru_cache(maxsize=8)
def _programs(spec: TrainSpec) -> dict[str, Callable]:
    every = spec.record_every

    def init_one(key):
        return jax.tree.map(lambda a: a.astype(jnp.float32), causal.init(key, spec.model))

    def chunk_one(params, lr, start, tx, ty, probe, n_records: int):
        C = tx.shape[0]

        def step(p, i):
            c = i % C
            batch = {"x": lax.dynamic_index_in_dim(tx, c, keepdims=False),
                     "y": lax.dynamic_index_in_dim(ty, c, keepdims=False)}
            loss, grads = jax.value_and_grad(causal.loss)(p, batch, spec.model)
            return _sgd_step(p, grads, lr, spec), loss

        def record(p, j):
            p, losses = lax.scan(step, p, start + j * every + jnp.arange(every))
            return p, {"train_loss": losses.mean(), "attn": _probe_attn(p, probe, spec),
                       "finite": jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(p)]))}

        return lax.scan(record, params, jnp.arange(n_records))

    def keys(root, n_runs):
        return jax.vmap(lambda r: jax.random.fold_in(root, r % spec.n_seeds))(jnp.arange(n_runs))

    init_R = jax.jit(lambda root, n: jax.vmap(init_one)(keys(root, n)), static_argnums=1)
    chunk_R = jax.jit(
        jax.vmap(chunk_one, in_axes=(0, 0, None, None, None, None, None)), static_argnums=6, donate_argnums=0
    )
    probe_R = jax.jit(jax.vmap(lambda p, q: _probe_attn(p, q, spec), in_axes=(0, None)))
    eval_R = jax.jit(jax.vmap(lambda p, vx, vy: _eval(p, vx, vy, spec), in_axes=(0, None, None)))
    return {"init": init_R, "chunk": chunk_R, "probe": probe_R, "eval": eval_R}


def train_sweep(
    spec: TrainSpec,
    lrs_P,
    train_x_CxBxT: np.ndarray,
    train_y_CxBxT: np.ndarray,
    valid_x_CxBxT: np.ndarray,
    valid_y_CxBxT: np.ndarray,
    probe_QxT: np.ndarray,
    root_seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Train every (learning rate, seed) pair; return host arrays with a leading (P, S) pair of axes.

    Keys: ``steps`` (record steps, incl. 0), ``attn`` (P, S, N+1, Q, T, T) lowest-layer probe maps,
    ``train_loss`` (P, S, N) mean since the previous record, ``entropy_init`` / ``entropy_final``
    (P, S, L) mean evaluation-set attention entropy per layer, ``eval_loss_init`` / ``eval_loss_final``
    (P, S), ``finite`` (P, S), ``lr`` (P,), and ``timings`` (compile + run seconds, one number).
    """
    lrs = np.asarray(lrs_P, np.float32).ravel()
    P, S = len(lrs), spec.n_seeds
    R = P * S
    prog = _programs(spec)
    t0 = time.perf_counter()
    root = jax.random.PRNGKey(root_seed)
    params = prog["init"](root, R)
    lr_R = jnp.asarray(np.repeat(lrs, S))
    tx, ty = jnp.asarray(train_x_CxBxT), jnp.asarray(train_y_CxBxT)
    vx, vy = jnp.asarray(valid_x_CxBxT), jnp.asarray(valid_y_CxBxT)
    probe = jnp.asarray(probe_QxT)
    ent0, ce0 = prog["eval"](params, vx, vy)
    attn0 = prog["probe"](params, probe)
    recs, done = [], 0
    n = chunk_records(spec.n_records, spec.records_per_chunk)  # equal chunks: one compiled program
    while done < spec.n_records:
        params, rec = prog["chunk"](params, lr_R, jnp.asarray(done * spec.record_every), tx, ty, probe, n)
        recs.append(jax.tree.map(np.asarray, rec))
        done += n
        if log:
            log(f"    step {done * spec.record_every}/{spec.steps}  train loss (mean over runs) "
                f"{float(np.nanmean(rec['train_loss'][:, -1])):.3f}  ({time.perf_counter() - t0:.0f} s)")
    ent1, ce1 = prog["eval"](params, vx, vy)
    rec = {k: np.concatenate([r[k] for r in recs], axis=1) for k in recs[0]}  # (R, N, ...)
    attn = np.concatenate([np.asarray(attn0)[:, None], rec["attn"]], axis=1)

    def ps(a):
        a = np.asarray(a)
        return a.reshape((P, S) + a.shape[1:])

    return {
        "lr": lrs,
        "steps": np.arange(spec.n_records + 1) * spec.record_every,
        "attn": ps(attn),
        "train_loss": ps(rec["train_loss"]),
        "finite": ps(rec["finite"][:, -1]),
        "entropy_init": ps(ent0),
        "entropy_final": ps(ent1),
        "eval_loss_init": ps(ce0),
        "eval_loss_final": ps(ce1),
        "seconds": np.asarray(time.perf_counter() - t0),
    }


def chunk_records(n_records: int, at_most: int) -> int:
    """The largest divisor of n_records that is <= at_most."""
    return max(d for d in range(1, min(n_records, at_most) + 1) if n_records % d == 0)

