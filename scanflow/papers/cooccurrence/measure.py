"""Measurements for the word co-occurrence paper (spec §5, §7), computed from full parameters
(and `T1_tau_S`, read off a results Dataset).

Conventions: token ids MU1, MU2, MU3 = 0, 1, 2 (`scanflow.papers.cooccurrence.data`); types 1..4;
score correlation entry [nu, mu] = nu^T W_K^T W_Q mu = <key(nu), query(mu)> (spec §4), raw, without
the 1/sqrt(m) of the softmax (as Fig. 1a plots it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.cooccurrence.data import FIRST_RANDOM, NUM_TYPES, Dataset
from scanflow.papers.cooccurrence.model import G_d, losses_N, margins_N

TARGETS = np.array([0, 1, 2])  # mu1, mu2, mu3


def _type_onehot_Nx4(data: Dataset, dtype) -> jax.Array:
    return (data.type_N[:, None] == jnp.arange(1, NUM_TYPES + 1)[None, :]).astype(dtype)


def per_type_loss_4(params: dict, data: Dataset) -> jax.Array:
    """Mean logistic loss over each of I_1..I_4 (Fig. 1b; check 8). NaN for an empty type."""
    ell = losses_N(params, data)
    oh = _type_onehot_Nx4(data, ell.dtype)
    return (ell @ oh) / oh.sum(0)


def G_targets_3(params: dict) -> jax.Array:
    """(G(mu1), G(mu2), G(mu3)), G(mu) = a^T W W_V mu (spec §1)."""
    return G_d(params)[jnp.asarray(TARGETS)]


def G_random_NxL(params: dict, data: Dataset) -> jax.Array:
    """G of the random word in each slot of the data (0 where the slot holds mu1..mu3)."""
    return jnp.where(data.random_NxL, G_d(params)[data.tokens_NxL], 0.0)


def G_random_stats(params: dict, data: Dataset) -> dict:
    """mean and max |G| over the random-word slots of ``data``, and the mean of y_i G over them (check 5)."""
    g = G_random_NxL(params, data)
    msk = data.random_NxL.astype(g.dtype)
    cnt = jnp.maximum(msk.sum(), 1.0)
    return {"mean": g.sum() / cnt, "max_abs": jnp.abs(g).max(), "mean_signed": (data.y_N[:, None] * g).sum() / cnt}


def score_corr_3x3(params: dict) -> jax.Array:
    """[nu, mu] = nu^T W_K^T W_Q mu for nu, mu in (mu1, mu2, mu3); row = key token, column = query token."""
    t = jnp.asarray(TARGETS)
    return params["W_K"][:, t].T @ params["W_Q"][:, t]


def value_gram_3x3(params: dict) -> jax.Array:
    """[mu, nu] = mu^T W_V^T W_V nu for mu1..mu3 (Thm 3.2b; check 14)."""
    V = params["W_V"][:, jnp.asarray(TARGETS)]
    return V.T @ V


def g_N(params: dict, data: Dataset) -> jax.Array:
    """g_i = g(y_i F_i) = 1/(1 + e^{y_i F_i})."""
    return jax.nn.sigmoid(-margins_N(params, data))


def group_masses_4(params: dict, data: Dataset) -> jax.Array:
    """S_k = sum_{i in I_k} g_i, k = 1..4 (spec §5.3; not divided by n)."""
    g = g_N(params, data)
    return g @ _type_onehot_Nx4(data, g.dtype)


def R_of_masses(S_x4: jax.Array) -> jax.Array:
    """R = (S2 + S3 + S4 - S1) / (S1 - S2) (Lemma F.6) along the last axis."""
    S1, S2, S3, S4 = (S_x4[..., k] for k in range(4))
    return (S2 + S3 + S4 - S1) / (S1 - S2)


def T1_index(margins_TxN) -> int:
    """First record index where every sample is classified correctly (min_i y_i F_i > 0; spec §6 red line,
    check 6). -1 if never."""
    ok = np.all(np.asarray(margins_TxN) > 0, axis=-1)
    return int(np.argmax(ok)) if ok.any() else -1


def T1_time(ts_T, margins_TxN) -> float:
    """Time of `T1_index` (NaN if never). No interpolation: the first recorded time, an upper bound on T1."""
    i = T1_index(margins_TxN)
    return float(np.asarray(ts_T)[i]) if i >= 0 else float("nan")


def T1_interp(ts_T, margins_TxN) -> float:
    """T1 refined by linear interpolation of min_i y_i F_i between the last record with a misclassified
    sample and `T1_index` (the min margin is continuous in t). NaN if never; ts[0] if correct at once."""
    i = T1_index(margins_TxN)
    if i < 0:
        return float("nan")
    ts = np.asarray(ts_T, np.float64)
    if i == 0:
        return float(ts[0])
    lo, hi = np.asarray(margins_TxN, np.float64)[[i - 1, i]].min(axis=-1)
    return float(ts[i - 1] + (ts[i] - ts[i - 1]) * (-lo) / (hi - lo))


def T1_tau_S(ds, point: int = 0) -> np.ndarray:
    """Per seed of grid point `point` of a results Dataset (`scanflow.load_run`, `Context.run`): T1 in tau units,
    the first time all samples are classified correctly (`T1_interp` of the recorded margins)."""
    tau = ds["tau"].values[point]
    return np.array([T1_interp(tau, mg) for mg in ds["margins"].values[point]])


def phase2_index(margins_TxN, C: float) -> int:
    """First record inside the Phase-2 box of Def. F.1 for the margins, min_i y_i F_i > C (C =
    `theory.PHASE2_MARGIN_C`); -1 if never. `T1_index` is the C = 0 case."""
    ok = np.all(np.asarray(margins_TxN) > C, axis=-1)
    return int(np.argmax(ok)) if ok.any() else -1


def thm32_sign_violation(G_x3) -> np.ndarray:
    """Thm 3.2(c, d) as one violation (<= 0 where every part holds): the largest of G1 + G3, G2 + G3
    (claimed <= -Omega(1)), -(G1 + G2 + G3) (claimed >= Omega(1)), -G1, -G2 and G3 (G1, G2 > 0 > G3),
    along the last axis of (G(mu1), G(mu2), G(mu3))."""
    G = np.asarray(G_x3, np.float64)
    g1, g2, g3 = G[..., 0], G[..., 1], G[..., 2]
    return np.max(np.stack([g1 + g3, g2 + g3, -(g1 + g2 + g3), -g1, -g2, g3]), axis=0)


def first_below(loss_T, level: float) -> int:
    """First record with loss <= level (T* of Thm 3.3 at level `theory.t_star_loss(m)`); -1 if never."""
    ok = np.asarray(loss_T) <= level
    return int(np.argmax(ok)) if ok.any() else -1


def metrics(params: dict, data: Dataset) -> dict:
    """All per-record scalars/small arrays (for `SaveAt(fn=...)`)."""
    return {
        "loss": losses_N(params, data).mean(),
        "loss_type": per_type_loss_4(params, data),
        "G": G_targets_3(params),
        "score": score_corr_3x3(params),
        "value_gram": value_gram_3x3(params),
        "S": group_masses_4(params, data),
        "margins": margins_N(params, data),
    }


__all__ = ["FIRST_RANDOM", "G_random_NxL", "G_random_stats", "G_targets_3", "R_of_masses", "T1_index", "T1_interp",
           "T1_tau_S", "T1_time", "first_below", "g_N", "group_masses_4", "metrics", "per_type_loss_4", "phase2_index",
           "score_corr_3x3", "thm32_sign_violation", "value_gram_3x3"]
