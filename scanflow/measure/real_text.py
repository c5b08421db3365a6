"""Attention measurements for a causal language model on real text (Scan and Snap Figs 7 and 10).

* ``mean_attention_entropy``: the reference's measure (spec §5): -sum_k a_tk log a_tk over the keys
  k <= t of each query position t, averaged over query positions, heads and sequences. Causal
  masking makes early positions low-entropy (position 0 has entropy 0).
* ``attention_change``: how much the maps moved between two records: the total-variation distance
  between the attention rows, 0.5 sum_k |a_tk - a'_tk| in [0, 1], averaged over query rows.
* ``freeze_step``: the first recorded step after which the change per 100 steps stays below eps.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from scanflow.measure.attention import entropy


def mean_attention_entropy(attn_xTxT: jnp.ndarray) -> jnp.ndarray:
    """Mean over every leading axis and query position of the row entropy (nats)."""
    return entropy(attn_xTxT, axis=-1).mean()


def uniform_causal_entropy(T: int) -> float:
    """The entropy of uniform causal attention, mean_t ln(t + 1): the maximum of the measure."""
    return float(np.mean(np.log(np.arange(1, T + 1))))


def change_per_window(maps_NxRxQxTxT: np.ndarray, lag: int) -> np.ndarray:
    """Change between records i - lag and i, for i = lag..N-1 (axes: record, run, ...).

    Returns (N - lag, R): with records every ``k`` steps and lag = 100 / k, the change per 100 steps.
    """
    a = np.asarray(maps_NxRxQxTxT)
    if lag < 1 or lag >= a.shape[0]:
        raise ValueError(f"lag: expected 1 <= lag < {a.shape[0]} records, got {lag}")
    d = 0.5 * np.abs(a[lag:] - a[:-lag]).sum(-1)
    return d.reshape(d.shape[0], d.shape[1], -1).mean(-1)


def freeze_step(change_N: np.ndarray, steps_N: np.ndarray, eps: float) -> float:
    """The first step s such that the change at every recorded step >= s is below eps; NaN if the
    change at the last record is not below eps (never froze within the run)."""
    c = np.asarray(change_N)
    above = np.nonzero(c >= eps)[0]
    if len(above) == 0:
        return float(steps_N[0])
    last = above[-1]
    return float(steps_N[last + 1]) if last + 1 < len(c) else float("nan")




def _jt_stat(v_nxPxS: np.ndarray) -> np.ndarray:
    """J for each of n arrangements: pairs (i in group a, j in group b > a) with v_j < v_i, ties 1/2."""
    n, P, S = v_nxPxS.shape
    J = np.zeros(n)
    for a in range(P):
        for b in range(a + 1, P):
            d = v_nxPxS[:, b, None, :] - v_nxPxS[:, a, :, None]
            J += np.sum(d < 0, axis=(-2, -1)) + 0.5 * np.sum(d == 0, axis=(-2, -1))
    return J


def jonckheere_decreasing(x_PxS: np.ndarray, n_perm: int = 20000, seed: int = 0) -> dict:
    """Jonckheere-Terpstra test for a decreasing trend across P ordered groups of S runs each.

    J counts the pairs (run i in group a, run j in group b > a) with x_j < x_i (ties count 1/2).
    Under "no trend" (exchangeable runs) J has mean (N^2 - sum n_g^2)/4; the one-sided p-value is
    estimated by permuting the runs across groups (fixed RNG, `n_perm` draws, +1 smoothing), and the
    normal approximation z is reported too.
    """
    x = np.asarray(x_PxS, float)
    P, S = x.shape
    N = P * S
    J = float(_jt_stat(x[None])[0])
    mean = (N**2 - P * S**2) / 4.0
    var = (N**2 * (2 * N + 3) - P * S**2 * (2 * S + 3)) / 72.0
    perms = np.argsort(np.random.default_rng(seed).random((n_perm, N)), axis=1)
    Jp = _jt_stat(x.ravel()[perms].reshape(n_perm, P, S))
    p = (1.0 + np.sum(Jp >= J)) / (n_perm + 1.0)
    return {"J": J, "J_max": float(mean * 2), "z": float((J - mean) / np.sqrt(var)), "p": float(p)}


__all__ = [
    "change_per_window",
    "freeze_step",
    "mean_attention_entropy",
    "uniform_causal_entropy",
    "jonckheere_decreasing",
]
