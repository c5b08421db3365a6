"""Saturation measurements (norm-growth spec §1.2, §1.3, §2.3, §2.4, §4(c), §4(d)).

Model-agnostic: attention quantities act on score (logit) arrays of shape (..., heads, queries,
keys) with an optional boolean mask broadcastable to them (True = visible); representation
quantities act on (..., d) arrays with an optional (...) validity mask.

Masking is ALWAYS ``where(mask, s, -inf)`` (spec §2.4, §4). `multiplicative_mask_scores`
reproduces the official code's ``mask * scores`` bug only so that tests can show it is wrong.

Shape suffixes: H heads, Q queries, K keys; leading axes (batch, ...) are written as "...".
"""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "scale_all",
    "scale_keys",
    "masked_scores",
    "multiplicative_mask_scores",
    "softmax_attention",
    "saturated_attention",
    "argmax_set",
    "cosine_tokens",
    "sat",
    "sat_curve",
    "prediction_agreement",
    "tv_distance",
    "tv_to_saturated",
    "attended_counts",
    "classify_heads",
    "LOCAL",
    "GLOBAL",
    "SELECTIVE",
    "CLASS_NAMES",
]

LOCAL, GLOBAL, SELECTIVE = 0, 1, 2
CLASS_NAMES = ("local", "global", "selective")


# ----------------------------------------------------------------------------- parameter scaling


def scale_all(params, c: float):
    """theta -> c * theta on EVERY leaf (spec §1.2, §4(c) "paper-faithful"; official
    ``saturate(model, 1000)``). Cast to float64 first if you need c = 1000 exactly (spec §4)."""
    return jax.tree_util.tree_map(lambda p: c * p, params)


def _path_str(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def scale_keys(params, keys: Iterable[str], c: float):
    """Scale only the leaves whose '/'-joined path equals one of ``keys`` or lies below it,
    e.g. ``["attn/W_Q", "attn/W_K"]`` (spec §4(c) attention-only diagnostic: scores then grow as
    c^2 while values and MLP are untouched). Raises if a key matches nothing."""
    keys = list(keys)
    hit = {k: False for k in keys}

    def f(path, p):
        s = _path_str(path)
        for k in keys:
            if s == k or s.startswith(k + "/"):
                hit[k] = True
                return c * p
        return p

    out = jax.tree_util.tree_map_with_path(f, params)
    missing = [k for k, v in hit.items() if not v]
    if missing:
        raise KeyError(f"scale_keys: no leaf under {missing}")
    return out


# ----------------------------------------------------------------------------- attention


def masked_scores(s, mask=None):
    """where(mask, s, -inf): the only correct masking (spec §2.4, §4)."""
    s = jnp.asarray(s)
    return s if mask is None else jnp.where(mask, s, -jnp.inf)


def multiplicative_mask_scores(s, mask):
    """The official ``SiSelfAttention`` bug (spec §2.4): scores * mask. Masked (future) keys keep
    score 0, leak mass in the soft model and can win under saturation. For regression tests only."""
    return jnp.asarray(s) * jnp.asarray(mask, jnp.asarray(s).dtype)


def softmax_attention(s, mask=None, c: float = 1.0):
    """softmax(c * s) over keys with -inf masking; fully masked rows give all zeros."""
    z = masked_scores(c * jnp.asarray(s), mask)
    m = jnp.max(z, axis=-1, keepdims=True)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    e = jnp.exp(z - m)
    tot = jnp.sum(e, axis=-1, keepdims=True)
    return e / jnp.where(tot > 0, tot, 1.0)


def argmax_set(s, mask=None, tau: float = 1e-6):
    """Boolean M_tau(s) = { j visible : s_j >= max s - tau (max s - min s) } over visible keys
    (spec §1.3 M(a); §4(c) tie tolerance tau, relative to the visible range; tau = 0 is exact)."""
    s = jnp.asarray(s)
    vis = jnp.ones(s.shape, bool) if mask is None else jnp.broadcast_to(mask, s.shape)
    vis = vis & jnp.isfinite(s)
    hi = jnp.max(jnp.where(vis, s, -jnp.inf), axis=-1, keepdims=True)
    lo = jnp.min(jnp.where(vis, s, jnp.inf), axis=-1, keepdims=True)
    rng = jnp.where(jnp.isfinite(hi - lo), hi - lo, 0.0)
    return vis & (s >= hi - tau * rng)


def saturated_attention(s, mask=None, tau: float = 1e-6):
    """Strong saturated attention zeta_tau(s): uniform 1/|M| on the argmax set, 0 elsewhere
    (spec §1.3, TACL Def. 4; = lim_{c->inf} softmax(c s) when tau = 0). Masked keys never enter
    M (-inf semantics). Rows with no visible key give zeros."""
    M = argmax_set(s, mask, tau)
    n = jnp.sum(M, axis=-1, keepdims=True)
    return jnp.where(M, 1.0 / jnp.maximum(n, 1), 0.0).astype(jnp.result_type(jnp.asarray(s), 1.0))


def tv_distance(p, q):
    """Total variation 1/2 sum_j |p_j - q_j| over the last axis (spec §4(c) metric 4, §5 C1)."""
    return 0.5 * jnp.sum(jnp.abs(jnp.asarray(p) - jnp.asarray(q)), axis=-1)


def tv_to_saturated(s, mask=None, c: float = 1.0, tau: float = 1e-6):
    """TV(softmax(c s), zeta_tau(s)) per (..., head, query) (spec §4(c) metric 4, §5 C1)."""
    return tv_distance(softmax_attention(s, mask, c), saturated_attention(s, mask, tau))


# ----------------------------------------------------------------------------- representations


def cosine_tokens(h1, h2):
    """Per-token cosine over the last axis; zero vectors give cosine 0."""
    h1, h2 = jnp.asarray(h1), jnp.asarray(h2)
    num = jnp.sum(h1 * h2, axis=-1)
    den = jnp.linalg.norm(h1, axis=-1) * jnp.linalg.norm(h2, axis=-1)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _masked_mean(x, valid):
    if valid is None:
        return jnp.mean(x)
    v = jnp.broadcast_to(jnp.asarray(valid, x.dtype), x.shape)
    return jnp.sum(x * v) / jnp.maximum(jnp.sum(v), 1.0)


def sat(h_ref, h_scaled, valid=None):
    """sat = mean over valid tokens of cos(h(x; theta), h(x; c theta)) (spec §2.3, §4(c) metric
    1). Compare at an exactly homogeneous output (final-LN output or logits, spec §4(c)) so the
    cosine is meaningful. ``valid``: (...) mask of real (non-pad) tokens."""
    return _masked_mean(cosine_tokens(h_ref, h_scaled), valid)


def sat_curve(apply_fn: Callable, params, x, cs, ref_c: float | None = None, valid=None,
              scale: Callable = scale_all) -> np.ndarray:
    """sat at each c in ``cs`` for a model ``apply_fn(params, x) -> h (..., d)``.

    ref_c None: cos(h(theta), h(c theta)) (spec §4(c) metric 1, paper c = 1000).
    ref_c = 1000: cos(h(c theta), h(1000 theta)) (Fig. 4 scale curve, spec §5 C9).
    ``scale(params, c)`` defaults to `scale_all`; pass a `scale_keys` partial for the
    attention-only diagnostic."""
    base = apply_fn(params if ref_c is None else scale(params, ref_c), x)
    return np.array([float(sat(base, apply_fn(scale(params, c), x), valid)) for c in cs])


def prediction_agreement(logits_a, logits_b, valid=None):
    """Mean of 1[argmax logits_a == argmax logits_b] over valid tokens (spec §4(c) metric 3)."""
    eq = (jnp.argmax(logits_a, -1) == jnp.argmax(logits_b, -1)).astype(jnp.result_type(float))
    return _masked_mean(eq, valid)


# ----------------------------------------------------------------------------- head classes


def attended_counts(A_sat, mask=None, threshold: float = 1e-5):
    """m_i = |{ j visible : A_sat_ij > threshold }|, n_i visible keys, r_i = m_i / n_i per
    (..., head, query) (spec §2.4 code rule, threshold 1e-5; §4(d))."""
    A = jnp.asarray(A_sat)
    vis = jnp.ones(A.shape, bool) if mask is None else jnp.broadcast_to(mask, A.shape)
    m = jnp.sum(vis & (A > threshold), axis=-1)
    n = jnp.sum(vis, axis=-1)
    return m, n, m / jnp.maximum(n, 1)


def classify_heads(A_sat, mask=None, threshold: float = 1e-5, min_visible: int = 4,
                   global_min_ratio: float = 0.9, local_rule: str = "median",
                   local_max_mean: float = 2.0) -> dict:
    """Local / global / selective-average head classes from saturated attention (spec §4(d); the
    thresholds are ours, the paper gives none).

    A_sat: (..., H, Q, K); every leading axis and the query axis are pooled. Queries with fewer than
    ``min_visible`` visible keys are skipped (argmax and uniform coincide there).

    Per head (from the per-query m_i, r_i over kept queries):
      local  (argmax-like): median m == 1 (``local_rule="median"``, the spec's tighter rule) or
                            mean m <= local_max_mean (``"mean"``, the looser rule);
      global (mean-like):   mean r >= global_min_ratio;
      selective otherwise (e.g. averaging over 2 of 8 positions).
    Per (head, query) pair: local if m_i == 1, global if r_i >= global_min_ratio, else selective.

    Returns numpy: mean_m_H, std_m_H, split_H = P(m_i > 1), mean_r_H, class_H (LOCAL/GLOBAL/
    SELECTIVE), head_fraction {name: float}, pair_fraction {name: float}, n_pairs_H."""
    m, n, r = (np.asarray(x) for x in attended_counts(A_sat, mask, threshold))
    H = m.shape[-2]
    # (..., H, Q) -> (H, N)
    m = np.moveaxis(m, -2, 0).reshape(H, -1)
    n = np.moveaxis(n, -2, 0).reshape(H, -1)
    r = np.moveaxis(r, -2, 0).reshape(H, -1)
    keep = n >= min_visible
    out = {k: np.full(H, np.nan) for k in ("mean_m_H", "std_m_H", "split_H", "mean_r_H")}
    cls = np.full(H, SELECTIVE, dtype=np.int64)
    pair_counts = np.zeros(3)
    for h in range(H):
        mh, rh = m[h][keep[h]].astype(np.float64), r[h][keep[h]]
        if mh.size == 0:
            continue
        out["mean_m_H"][h], out["std_m_H"][h] = mh.mean(), mh.std()
        out["split_H"][h], out["mean_r_H"][h] = np.mean(mh > 1), rh.mean()
        is_local = (np.median(mh) == 1) if local_rule == "median" else (mh.mean() <= local_max_mean)
        if is_local:
            cls[h] = LOCAL
        elif rh.mean() >= global_min_ratio:
            cls[h] = GLOBAL
        pc = np.where(mh == 1, LOCAL, np.where(rh >= global_min_ratio, GLOBAL, SELECTIVE))
        pair_counts += np.bincount(pc, minlength=3)
    out["class_H"] = cls
    out["n_pairs_H"] = keep.sum(1)
    out["head_fraction"] = {nm: float(np.mean(cls == i)) for i, nm in enumerate(CLASS_NAMES)}
    tot = max(pair_counts.sum(), 1.0)
    out["pair_fraction"] = {nm: float(pair_counts[i] / tot) for i, nm in enumerate(CLASS_NAMES)}
    return out
