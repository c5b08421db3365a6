"""Shannon entropy of attention distributions (shared by every paper)."""

from __future__ import annotations

import jax.numpy as jnp


def entropy(p_xN: jnp.ndarray, axis: int = -1) -> jnp.ndarray:
    """Shannon entropy (nats) with 0 log 0 = 0."""
    safe = jnp.where(p_xN > 0, p_xN, 1.0)
    return -jnp.sum(jnp.where(p_xN > 0, p_xN * jnp.log(safe), 0.0), axis=axis)


__all__ = ["entropy"]
