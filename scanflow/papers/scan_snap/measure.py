"""Attention measurements for Scan and Snap, computed from parameters (as the official code does)."""

from __future__ import annotations

import jax.numpy as jnp

from scanflow.papers.scan_snap.data import ClassSpec
from scanflow.papers.scan_snap.model import attention_KxM
from scanflow.measure.entropy import entropy


def distinct_entropy_K(c_KxM: jnp.ndarray, spec: ClassSpec) -> jnp.ndarray:
    """Entropy of c_n restricted to class n's distinct tokens and renormalised (Fig 6 measure).

    With Z = 0 and the official weights linspace(0.1, 1, 10) this is H(i/55) = 2.1513.
    """
    mask = jnp.asarray(spec.distinct_KxM)
    d = jnp.where(mask, c_KxM, 0.0)
    return entropy(d / d.sum(-1, keepdims=True))


def query_logits_KxM(Z_MxM: jnp.ndarray, spec: ClassSpec) -> jnp.ndarray:
    """z rows Z[psi(n), :] of each class: logits of distinct and common tokens for that query."""
    return Z_MxM[jnp.asarray(spec.query_K)]


def group_means_K(x_KxM: jnp.ndarray, mask_KxM: jnp.ndarray) -> jnp.ndarray:
    """Mean of x over the masked tokens of each class (NaN-free: empty mask gives 0)."""
    m = jnp.asarray(mask_KxM, x_KxM.dtype)
    return (x_KxM * m).sum(-1) / jnp.maximum(m.sum(-1), 1.0)


__all__ = ["attention_KxM", "distinct_entropy_K", "entropy", "group_means_K", "query_logits_KxM"]
