"""Recall of distinct tokens against an attention threshold (the paper's Figs 11-12, spec §4).

For class n, recall(tau) = |{l in G_DT(n) : c_{l|n} >= tau}| / |G_DT(n)|, averaged over classes.
A flatter fall of recall(tau) as tau grows past ~1/M means that few distinct tokens keep a large
weight, i.e. sparser attention.
"""

from __future__ import annotations

import numpy as np


def recall_curve(c_KxM, distinct_KxM, thresholds) -> np.ndarray:
    """Class-averaged share of each class's distinct tokens with attention c >= threshold.

    Args:
      c_KxM: attention c_n (rows = classes), e.g. the final `attn` record of a run. Any leading
        batch axes are allowed: shape (..., K, M).
      distinct_KxM: boolean mask of each class's distinct tokens, shape (K, M) (broadcastable).
      thresholds: 1-d array of thresholds.

    Returns:
      recall with shape (..., n_thresholds): for every threshold, the mean over classes of
      (number of distinct tokens of the class with c >= threshold) / (number of distinct tokens).
    """
    c = np.asarray(c_KxM, dtype=np.float64)
    mask = np.asarray(distinct_KxM, dtype=bool)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if c.ndim < 2:
        raise ValueError(f"c_KxM: expected shape (..., K, M), got {c.shape}")
    mask = np.broadcast_to(mask, c.shape)
    n_distinct = mask.sum(-1)  # (..., K)
    if np.any(n_distinct == 0):
        raise ValueError("distinct_KxM: every class needs at least one distinct token")
    hit = (c[..., None] >= thr) & mask[..., None]  # (..., K, M, n_thr)
    per_class = hit.sum(-2) / n_distinct[..., None]  # (..., K, n_thr)
    return per_class.mean(-2)


__all__ = ["recall_curve"]
