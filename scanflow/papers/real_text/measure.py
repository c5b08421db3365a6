"""Attention measurements for a causal language model on real text (Scan and Snap Figs 7 and 10).

* ``mean_attention_entropy``: the reference's measure (spec §5): -sum_k a_tk log a_tk over the keys
  k <= t of each query position t, averaged over query positions, heads and sequences. Causal
  masking makes early positions low-entropy (position 0 has entropy 0).
* ``attention_change``: how much the maps moved between two records: the total-variation distance
  between the attention rows, 0.5 sum_k |a_tk - a'_tk| in [0, 1], averaged over query rows.
* ``freeze_step``: the first recorded step after which the change per 100 steps stays below eps;
  ``freeze_analysis`` applies both to the recorded maps of a whole sweep.
* ``frozen_phase_start``, ``change_loglog_slope``, ``FROZEN_SLOPE``: the frozen phase of Tian et al. 2023
  (Thm 4): after the snap time t0 the attention logits grow as 1/2 ln ln t, so the change per window
  decays like 1/(t ln t), a log-log slope at most -1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from scanflow.measure.entropy import entropy


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




# Tian et al. 2023, Thm 4: after t0, B_n(t) ~ 1/2 ln ln(M eta_Y t / K), so dB/dt ~ 1 / (2 t ln(M eta_Y t / K)). A
# change per window proportional to dB/dt (ours: the attention rows move with their logits once the pattern is set)
# then has log-log slope -1 - 1/ln(M eta_Y t / K) <= -1 against t: the frozen phase decays at least as fast as 1/t.
FROZEN_SLOPE = -1.0


def snap_to_peak_ratio(M: int) -> float:
    """t0 / t_peak of Tian et al. 2023 (Lemma 9 / Thm 4) at vocabulary size M: the snap time t0 (the margin M h
    reaches x0) over the peak time of the speed-control coefficient gamma (`scan_snap.theory.t0`,
    `gamma_peak_time`; K and eta_Y cancel). 3.0-3.3 for M from 34 to 1e4."""
    from scanflow.papers.scan_snap import theory as ss

    return float(ss.t0(1.0, M, 1.0) / ss.gamma_peak_time(1.0, M, 1.0))


def frozen_phase_start(peak_step, M: int):
    """The start of the frozen phase, t0 = (t0 / t_peak)(M) x the step at which the change per window peaks
    (the change is fastest where gamma peaks): `snap_to_peak_ratio`."""
    return snap_to_peak_ratio(M) * np.asarray(peak_step, dtype=np.float64)


def change_loglog_slope(change_N, steps_N, start: float, min_points: int = 4) -> float:
    """Least-squares slope of log(change) against log(step) over the records with step >= start; NaN with fewer
    than `min_points` records there (the run ends before the window has a slope) or a zero change."""
    c, t = np.asarray(change_N, dtype=np.float64), np.asarray(steps_N, dtype=np.float64)
    w = t >= start
    if w.sum() < min_points or np.any(c[w] <= 0):
        return float("nan")
    return float(np.polyfit(np.log(t[w]), np.log(c[w]), 1)[0])


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


def freeze_analysis(attn_PxSxNxQxTxT: np.ndarray, steps_N: np.ndarray, window: int = 100, drop: float = 10.0) -> dict:
    """Attention change per `window` steps of every run and its freeze step.

    attn: the recorded probe maps (point, seed, record, probe, query, key) at the record steps
    `steps_N` (equally spaced, a divisor of `window` apart). Returns ``change`` (P, S, N'), its
    ``steps`` (N'), ``peak``, ``final``, ``eps`` = peak / drop, ``freeze`` (first step from which the
    change stays below eps; NaN: not frozen) and ``peak_step``, each (P, S).
    """
    steps_N = np.asarray(steps_N)
    every = int(steps_N[1] - steps_N[0])
    if window % every:
        raise ValueError(f"record_every: expected a divisor of {window}, got {every}")
    lag = window // every
    attn = np.asarray(attn_PxSxNxQxTxT)
    P, S = attn.shape[:2]
    ch = change_per_window(np.moveaxis(attn.reshape((P * S,) + attn.shape[2:]), 1, 0), lag)  # N', R
    change = ch.T.reshape(P, S, -1)
    steps = steps_N[lag:]
    peak = change.max(-1)
    eps = peak / drop
    freeze = np.array([[freeze_step(change[p, s], steps, eps[p, s]) for s in range(S)] for p in range(P)])
    return {"change": change, "steps": steps, "peak": peak, "final": change[..., -1], "eps": eps, "freeze": freeze,
            "peak_step": steps[change.argmax(-1)]}


__all__ = [
    "FROZEN_SLOPE",
    "change_loglog_slope",
    "frozen_phase_start",
    "snap_to_peak_ratio",
    "change_per_window",
    "freeze_analysis",
    "freeze_step",
    "mean_attention_entropy",
    "uniform_causal_entropy",
    "jonckheere_decreasing",
]

