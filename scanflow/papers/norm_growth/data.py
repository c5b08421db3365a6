"""Toy sequence tasks that need a known attention head (norm-growth spec §5 C8, C10).

- ``running_max``: tokens i.i.d. uniform on {0..V-1}; the target at position t is max(x_0..x_t).
  A causal head whose score is monotone in the key's token solves it by attending to the argmax
  (a local / argmax-like head). With ``pos="none"``, repeated copies of the max have identical keys,
  so the saturated head averages over them (a structural tie, spec §1.5); `theory` gives the exact
  support-size statistics of that ideal head (`theory.norm_growth.argmax_head_reference`).
- ``majority``: tokens in {0, 1} with a per-sequence rate p ~ U(0, 1); the target at t is
  1[#1 > #0 in x_0..x_t]. A uniform (mean) head over the prefix computes the fraction of ones
  (a global / mean-like head, TACL's MAJ construction).

Every sampler is a pure function of an explicit PRNG key: ``sample(key, batch) -> {"x", "y"}``
with int32 arrays of shape (batch, T).
"""

from __future__ import annotations

from dataclasses import dataclass
import jax
import jax.numpy as jnp

TASKS = ("running_max", "majority")


@dataclass(frozen=True)
class ToyTask:
    name: str  # one of TASKS
    seq_len: int
    vocab: int = 2  # input vocabulary (running_max: V values; majority: 2)

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"task: expected one of {TASKS}, got {self.name!r}")
        if self.seq_len < 1:
            raise ValueError(f"seq_len: expected a positive integer, got {self.seq_len}")
        if self.name == "majority" and self.vocab != 2:
            raise ValueError(f"vocab: the majority task uses vocab=2, got {self.vocab}")
        if self.vocab < 2:
            raise ValueError(f"vocab: expected >= 2, got {self.vocab}")

    @property
    def n_classes(self) -> int:
        return self.vocab

    def sample(self, key: jax.Array, batch: int) -> dict:
        if self.name == "running_max":
            return sample_running_max(key, batch, self.seq_len, self.vocab)
        return sample_majority(key, batch, self.seq_len)


def sample_running_max(key: jax.Array, batch: int, T: int, V: int) -> dict:
    """x ~ U{0..V-1}^T i.i.d.; y_t = max_{s <= t} x_s."""
    x_BxT = jax.random.randint(key, (batch, T), 0, V, dtype=jnp.int32)
    return {"x": x_BxT, "y": jax.lax.cummax(x_BxT, axis=1)}


def sample_majority(key: jax.Array, batch: int, T: int) -> dict:
    """x_t ~ Bernoulli(p), p ~ U(0, 1) per sequence; y_t = 1[#1 > #0 among x_0..x_t] (ties -> 0)."""
    kp, kx = jax.random.split(key)
    p_B = jax.random.uniform(kp, (batch, 1))
    x_BxT = (jax.random.uniform(kx, (batch, T)) < p_B).astype(jnp.int32)
    ones = jnp.cumsum(x_BxT, axis=1)
    n = jnp.arange(1, T + 1, dtype=jnp.int32)[None, :]
    return {"x": x_BxT, "y": (2 * ones > n).astype(jnp.int32)}

