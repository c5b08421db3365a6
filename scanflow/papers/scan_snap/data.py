"""Scan and Snap data (spec §2): sequence classes, the official token layout, and two modes.

A `ClassSpec` is the general description: K classes, each with a next token n, a query token
psi(n) and a distribution P(l|n) over contextual tokens. Two modes consume it:

* **sampled** (`sample_batch`): a fresh batch of sequences per step, as the official code does:
  class uniform, T-1 contextual tokens i.i.d. from P(.|n), then the query, label n;
* **population**: the exact T -> inf limit; nothing is sampled, the model reads `probs_KxM`
  directly (see `scanflow.papers.scan_snap.model.population_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True, eq=False)
class ClassSpec:
    """K sequence classes over a vocabulary of M tokens.

    Attributes:
      probs_KxM: P(l | n) for class n (rows sum to 1; zero for tokens outside the support).
      query_K: the query token psi(n) of each class.
      target_K: the next token n of each class (the label).
      groups: named token ranges for plots, e.g. {"common": (0, 10), "distinct 0": (10, 20)}.
    """

    probs_KxM: np.ndarray
    query_K: np.ndarray
    target_K: np.ndarray
    groups: tuple[tuple[str, tuple[int, int]], ...] = ()

    def __post_init__(self) -> None:
        p = np.asarray(self.probs_KxM, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"probs_KxM: expected a 2-d array, got shape {p.shape}")
        K, M = p.shape
        if np.any(p < 0) or not np.allclose(p.sum(1), 1.0):
            raise ValueError("probs_KxM: expected non-negative rows that sum to 1")
        for name in ("query_K", "target_K"):
            a = np.asarray(getattr(self, name))
            if a.shape != (K,) or a.min() < 0 or a.max() >= M:
                raise ValueError(f"{name}: expected {K} token indices in [0, {M})")
        if not self.distinct_KxM.any(axis=1).all():
            raise ValueError("every class needs at least one distinct token (support of size >= 1 of its own)")

    @property
    def K(self) -> int:
        return self.probs_KxM.shape[0]

    @property
    def M(self) -> int:
        return self.probs_KxM.shape[1]

    @property
    def support_count_M(self) -> np.ndarray:
        """|Omega(l)|: the number of classes whose support contains token l."""
        return (self.probs_KxM > 0).sum(0)

    @property
    def distinct_KxM(self) -> np.ndarray:
        """Token l is distinct for class n iff P(l|n) > 0 and no other class uses l."""
        return (self.probs_KxM > 0) & (self.support_count_M == 1)[None, :]

    @property
    def support_cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(support_KxS, cdf_KxS): each class's tokens with P > 0 (padded) and their cumulative P.

        Padding repeats the last support token with cdf 1, so it is never drawn. Sampling over the
        support (S tokens) instead of the whole vocabulary (M) is what makes large M cheap.
        """
        S = int((self.probs_KxM > 0).sum(1).max())
        support = np.zeros((self.K, S), np.int32)
        cdf = np.ones((self.K, S))
        for n in range(self.K):
            (tok,) = np.nonzero(self.probs_KxM[n] > 0)
            support[n, : len(tok)] = tok
            support[n, len(tok) :] = tok[-1]
            cdf[n, : len(tok)] = np.cumsum(self.probs_KxM[n, tok])
            cdf[n, len(tok) - 1 :] = 1.0
        return support, cdf

    @property
    def common_M(self) -> np.ndarray:
        """Token l is common iff more than one class uses it."""
        return self.support_count_M > 1


def official_layout(
    num_last: int = 2,
    num_next_per_last: int = 1,
    num_common: int = 10,
    num_common_per_last: int = 0,
    num_unique: int = 10,
    common_weight: float = 1.0,
    unique_min: float = 0.1,
    unique_max: float = 1.0,
    num_padding: int = 0,
) -> ClassSpec:
    """The token layout of the official `Dataset2` (spec §2).

    Index ranges, in order: [0, C) global common; C_m * L per-query common; U distinct per class;
    L query tokens; K = L * J next tokens. Class n = m * J + j has query m and next token n.
    Weights: `common_weight` for each common token, linspace(unique_min, unique_max, U) for its
    distinct tokens, normalised per class. `num_padding` tokens that never occur are appended
    (they only enlarge the decoder softmax, as in spec check S7).
    """
    L, J, C, Cm, U = num_last, num_next_per_last, num_common, num_common_per_last, num_unique
    K = L * J
    per_last_off = C
    unique_off = per_last_off + Cm * L
    last_off = unique_off + U * K
    next_off = last_off + L
    M = next_off + K + num_padding
    probs = np.zeros((K, M))
    query = np.zeros(K, dtype=np.int32)
    target = np.zeros(K, dtype=np.int32)
    groups: list[tuple[str, tuple[int, int]]] = []
    if C:
        groups.append(("common", (0, C)))
    for m in range(L):
        if Cm:
            groups.append((f"common q{m}", (per_last_off + m * Cm, per_last_off + (m + 1) * Cm)))
        for j in range(J):
            n = m * J + j
            w = np.zeros(M)
            w[:C] = common_weight
            w[per_last_off + m * Cm : per_last_off + (m + 1) * Cm] = common_weight
            lo = unique_off + U * n
            w[lo : lo + U] = np.linspace(unique_min, unique_max, U)
            probs[n] = w / w.sum()
            query[n] = last_off + m
            target[n] = next_off + n
            groups.append((f"distinct {n}", (lo, lo + U)))
    groups += [("query", (last_off, next_off)), ("next", (next_off, next_off + K))]
    if num_padding:
        groups.append(("padding", (next_off + K, M)))
    return ClassSpec(probs, query, target, tuple(groups))


@dataclass(frozen=True)
class Sequences:
    """Sampled sequences as tokens. context_BxT1: T-1 contextual token ids; query_B / label_B."""

    context_BxT1: jax.Array
    query_B: jax.Array
    label_B: jax.Array


@dataclass(frozen=True)
class Batch:
    """Sampled sequences as bags: counts_BxM[b, l] = occurrences of token l among the T-1 contextual
    tokens of sequence b. Without positional encoding the attended vector X^T b depends on a
    sequence only through these counts, so this is an exact (and scatter-free) representation."""

    counts_BxM: jax.Array
    query_B: jax.Array
    label_B: jax.Array


jax.tree_util.register_dataclass(Sequences, data_fields=["context_BxT1", "query_B", "label_B"], meta_fields=[])
jax.tree_util.register_dataclass(Batch, data_fields=["counts_BxM", "query_B", "label_B"], meta_fields=[])


def _uniforms(key: jax.Array, spec: ClassSpec, batch_size: int, seq_len: int):
    """Class ~ Uniform[K] and one uniform per contextual token, with the cdf of each sequence's class."""
    k_cls, k_tok = jax.random.split(key)
    cls_B = jax.random.randint(k_cls, (batch_size,), 0, spec.K, jnp.int32)  # int32 in x64 runs too: same stream
    u_BxT1 = jax.random.uniform(k_tok, (batch_size, seq_len - 1), jnp.float32)
    cdf_BxS = jnp.asarray(spec.support_cdf[1], jnp.float32)[cls_B]
    return cls_B, u_BxT1, cdf_BxS


def _draw(key: jax.Array, spec: ClassSpec, batch_size: int, seq_len: int):
    """Class ~ Uniform[K]; T-1 support indices i.i.d. ~ P(.|n) by inverse CDF (one uniform each)."""
    support_KxS = spec.support_cdf[0]
    cls_B, u_BxT1, cdf_BxS = _uniforms(key, spec, batch_size, seq_len)
    j_BxT1 = jnp.sum(u_BxT1[:, :, None] >= cdf_BxS[:, None, :], axis=-1)
    return cls_B, jnp.minimum(j_BxT1, support_KxS.shape[1] - 1), jnp.asarray(support_KxS)[cls_B]


def sample_sequences(key: jax.Array, spec: ClassSpec, batch_size: int, seq_len: int) -> Sequences:
    """Draw sequences as the official code does: class uniform, T-1 tokens i.i.d. ~ P(.|n)
    (with replacement), then the query psi(n); the label is n."""
    cls_B, j_BxT1, support_BxS = _draw(key, spec, batch_size, seq_len)
    ctx = jnp.take_along_axis(support_BxS, j_BxT1, axis=1)
    return Sequences(ctx.astype(jnp.int32), jnp.asarray(spec.query_K)[cls_B], jnp.asarray(spec.target_K)[cls_B])


def sample_batch(key: jax.Array, spec: ClassSpec, batch_size: int, seq_len: int, dtype=jnp.float32) -> Batch:
    """The same draw as `sample_sequences` (same key -> same sequences), returned as token counts.

    Counts come from one comparison pass: with the cdf sorted, j_t <= s iff u_t < cdf_s, so
    #{t: u_t < cdf_s} - #{t: u_t < cdf_(s-1)} is the count of support slot s -- the same integers
    as counting the drawn indices, without materialising them.
    """
    cls_B, u_BxT1, cdf_BxS = _uniforms(key, spec, batch_size, seq_len)
    below_BxS = jnp.sum(u_BxT1[:, None, :] < cdf_BxS[:, :, None], axis=-1)
    counts_BxS = jnp.diff(below_BxS, axis=1, prepend=0).astype(dtype)
    support_BxS = jnp.asarray(spec.support_cdf[0])[cls_B]
    onehot_BxSxM = support_BxS[:, :, None] == jnp.arange(spec.M)[None, None, :]
    counts_BxM = jnp.einsum("bs,bsm->bm", counts_BxS, onehot_BxSxM.astype(dtype))
    return Batch(counts_BxM, jnp.asarray(spec.query_K)[cls_B], jnp.asarray(spec.target_K)[cls_B])


@dataclass(frozen=True)
class SupportCounts:
    """Sampled sequences as counts over their class's support (the compact form of `Batch`):
    counts_BxS[b, s] = occurrences of support token s of class cls_B[b] (``ClassSpec.support_cdf``)."""

    cls_B: jax.Array
    counts_BxS: jax.Array


jax.tree_util.register_dataclass(SupportCounts, data_fields=["cls_B", "counts_BxS"], meta_fields=[])


def sample_support_counts(key: jax.Array, spec: ClassSpec, batch_size: int, seq_len: int, dtype=jnp.float32):
    """The draw of `sample_batch` (same key -> same sequences), kept over each class's S support tokens:
    a B x S array instead of B x M, cheap to draw once per seed and share (`expand`).

    Each token's support slot j_t = #{s: u_t >= cdf_s} (inverse cdf, as `_draw`), counted by a
    scatter-add: the same integers as `sample_batch`'s comparison pass, about 3x faster on CPU."""
    cls_B, u_BxT1, cdf_BxS = _uniforms(key, spec, batch_size, seq_len)
    S = cdf_BxS.shape[1]
    j_BxT1 = jnp.sum(u_BxT1[:, :, None] >= cdf_BxS[:, None, :], axis=-1, dtype=jnp.int32)  # < S: u < 1 = cdf_(S-1)
    counts_BxS = jnp.zeros((batch_size, S + 1), jnp.int32).at[jnp.arange(batch_size)[:, None], j_BxT1].add(1)
    return SupportCounts(cls_B, counts_BxS[:, :S].astype(dtype))


def expand(sc: SupportCounts, spec: ClassSpec) -> Batch:
    """SupportCounts -> the `Batch` of token counts that `sample_batch` gives for the same key (the same
    integers: support tokens are distinct but for padding slots, whose count is 0)."""
    B = sc.cls_B.shape[0]
    support_BxS = jnp.asarray(spec.support_cdf[0])[sc.cls_B]
    counts_BxM = jnp.zeros((B, spec.M), sc.counts_BxS.dtype).at[jnp.arange(B)[:, None], support_BxS].add(sc.counts_BxS)
    return Batch(counts_BxM, jnp.asarray(spec.query_K)[sc.cls_B], jnp.asarray(spec.target_K)[sc.cls_B])


def to_counts(seqs: Sequences, M: int, dtype=jnp.float32) -> Batch:
    """Token counts of sampled sequences (for tests and for user-supplied sequences)."""
    onehot = seqs.context_BxT1[:, :, None] == jnp.arange(M)[None, None, :]
    return Batch(onehot.sum(1).astype(dtype), seqs.query_B, seqs.label_B)


def from_config(data_cfg) -> ClassSpec:
    """Build the `ClassSpec` of a `scanflow.engine.config.DataConfig`."""
    return official_layout(
        num_last=data_cfg.num_last,
        num_next_per_last=data_cfg.num_next_per_last,
        num_common=data_cfg.num_common,
        num_common_per_last=data_cfg.num_common_per_last,
        num_unique=data_cfg.num_unique,
        common_weight=data_cfg.common_weight,
        unique_min=data_cfg.unique_min,
        unique_max=data_cfg.unique_max,
        num_padding=data_cfg.num_padding,
    )
