"""The Y/Z reparameterised 1-layer transformer of Scan and Snap (spec §1).

Parameters are a plain pytree ``{"Y": Y_MxM, "Z": Z_MxM}``; the top-level keys are the
learning-rate groups.

* ``Z[m, l]`` is the attention logit of query token m for key (contextual) token l;
* ``Y[l, k]`` is the decoder weight, logits = f @ Y  (the official code's ``K1.weight.T``).

Forward pass for a sequence with query m: b = softmax_t(Z[m, x_t]) over the T-1 contextual
positions (the query position is masked out), v = X^T b, f = v / ||v||_2, alpha = softmax(f @ Y),
loss = -log alpha[label]. There is no positional encoding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from scanflow.data.scan_snap import Batch, ClassSpec

Params = dict


def init(key: jax.Array, M: int, scale: jax.Array | float, dtype=jnp.float32) -> Params:
    """Y, Z ~ uniform(-scale, scale) (scale = 0 gives the zero init; 1/sqrt(M) is PyTorch's)."""
    k_y, k_z = jax.random.split(key)
    u = lambda k: jax.random.uniform(k, (M, M), dtype, minval=-1.0, maxval=1.0)
    return {"Y": scale * u(k_y), "Z": scale * u(k_z)}


def attended_BxM(Z_MxM: jax.Array, context_BxT1: jax.Array, query_B: jax.Array) -> jax.Array:
    """v = X^T b: attention-weighted bag of contextual tokens, one row per sequence."""
    logits_BxT1 = jnp.take_along_axis(Z_MxM[query_B], context_BxT1, axis=1)
    b_BxT1 = jax.nn.softmax(logits_BxT1, axis=-1)
    B, M = query_B.shape[0], Z_MxM.shape[0]
    rows_BxT1 = jnp.broadcast_to(jnp.arange(B)[:, None], context_BxT1.shape)
    return jnp.zeros((B, M), b_BxT1.dtype).at[rows_BxT1, context_BxT1].add(b_BxT1)


def _normalise(v_BxM: jax.Array) -> jax.Array:
    return v_BxM / jnp.linalg.norm(v_BxM, axis=-1, keepdims=True)


def logits_BxM(params: Params, batch: Batch) -> jax.Array:
    """Decoder logits for a sampled batch."""
    f_BxM = _normalise(attended_BxM(params["Z"], batch.context_BxT1, batch.query_B))
    return f_BxM @ params["Y"]


def _cross_entropy(logits_BxM: jax.Array, label_B: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits_BxM, axis=-1)
    return -jnp.take_along_axis(logp, label_B[:, None], axis=1)[:, 0]


def loss(params: Params, batch: Batch) -> jax.Array:
    """Mean cross-entropy over a sampled batch (the official code's loss)."""
    return _cross_entropy(logits_BxM(params, batch), batch.label_B).mean()


def attention_KxM(Z_MxM: jax.Array, spec: ClassSpec) -> jax.Array:
    """c_n (Eq. 5): c_{l|n} = P(l|n) e^{Z[psi(n), l]} / sum_l' P(l'|n) e^{Z[psi(n), l']}.

    This is the T -> inf limit of X^T b for class n, and it is how the official code
    (`get_c`) measures attention: from the parameters, not from sampled sequences.
    """
    probs = jnp.asarray(spec.probs_KxM, Z_MxM.dtype)
    zrows_KxM = Z_MxM[jnp.asarray(spec.query_K)]
    # log P = -inf off the support; softmax then gives exact zeros there.
    logc = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)) + zrows_KxM, -jnp.inf)
    return jax.nn.softmax(logc, axis=-1)


def population_logits_KxM(params: Params, spec: ClassSpec) -> jax.Array:
    f_KxM = _normalise(attention_KxM(params["Z"], spec))
    return f_KxM @ params["Y"]


def population_loss(params: Params, spec: ClassSpec) -> jax.Array:
    """Exact T -> inf loss: mean over uniformly weighted classes of -log alpha_n[n]."""
    return _cross_entropy(population_logits_KxM(params, spec), jnp.asarray(spec.target_K)).mean()
