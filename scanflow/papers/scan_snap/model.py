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

from scanflow.papers.scan_snap.data import Batch, ClassSpec, Sequences, SupportCounts

Params = dict


def init(key: jax.Array, M: int, scale: jax.Array | float, dtype=jnp.float32, scale_Z=None) -> Params:
    """Y ~ uniform(-scale, scale), Z ~ uniform(-scale_Z, scale_Z) (scale_Z defaults to scale).

    Scale 0 is the zero init; 1/sqrt(M) is PyTorch's nn.Linear default.
    """
    k_y, k_z = jax.random.split(key)
    u = lambda k: jax.random.uniform(k, (M, M), dtype, minval=-1.0, maxval=1.0)
    return {"Y": scale * u(k_y), "Z": (scale if scale_Z is None else scale_Z) * u(k_z)}


def weighted_softmax_xM(weights_xM: jax.Array, zrows_xM: jax.Array) -> jax.Array:
    """w_l e^{z_l} / sum_l' w_l' e^{z_l'} (exact zeros where w = 0)."""
    pos = weights_xM > 0
    logits = jnp.where(pos, jnp.log(jnp.where(pos, weights_xM, 1.0)) + zrows_xM, -jnp.inf)
    return jax.nn.softmax(logits, axis=-1)


def attended_BxM(Z_MxM: jax.Array, batch: Batch) -> jax.Array:
    """v = X^T b from token counts: b_t = softmax_t(Z[m, x_t]) puts n_l e^{z_ml} / sum n e^z on token l."""
    return weighted_softmax_xM(batch.counts_BxM.astype(Z_MxM.dtype), Z_MxM[batch.query_B])


def attended_positionwise_BxM(Z_MxM: jax.Array, seqs: Sequences) -> jax.Array:
    """v = X^T b computed position by position (the literal definition; reference for tests)."""
    logits_BxT1 = jnp.take_along_axis(Z_MxM[seqs.query_B], seqs.context_BxT1, axis=1)
    b_BxT1 = jax.nn.softmax(logits_BxT1, axis=-1)
    onehot = jax.nn.one_hot(seqs.context_BxT1, Z_MxM.shape[0], dtype=b_BxT1.dtype)
    return jnp.einsum("bt,btm->bm", b_BxT1, onehot)


def _normalise(v_BxM: jax.Array) -> jax.Array:
    return v_BxM / jnp.linalg.norm(v_BxM, axis=-1, keepdims=True)


def logits_BxM(params: Params, batch: Batch) -> jax.Array:
    """Decoder logits for a sampled batch."""
    return _normalise(attended_BxM(params["Z"], batch)) @ params["Y"]


def cross_entropy_B(logits_BxM: jax.Array, label_B: jax.Array) -> jax.Array:
    """-log softmax(logits)[label], accurate down to tiny losses.

    Written as softplus(logsumexp_{k != label}(l_k - l_label)) so that a loss of 1e-20 is
    represented as such instead of rounding to 0 in 1 - alpha (float32 log_softmax would).
    """
    M = logits_BxM.shape[-1]
    gap = logits_BxM - jnp.take_along_axis(logits_BxM, label_B[:, None], axis=1)
    others = jnp.where(jnp.arange(M)[None, :] == label_B[:, None], -jnp.inf, gap)
    return jax.nn.softplus(jax.nn.logsumexp(others, axis=-1))


def loss(params: Params, batch: Batch) -> jax.Array:
    """Mean cross-entropy over a sampled batch (the official code's loss)."""
    return cross_entropy_B(logits_BxM(params, batch), batch.label_B).mean()


def attended_support_BxS(Z_MxM: jax.Array, sc: SupportCounts, spec: ClassSpec) -> jax.Array:
    """`attended_BxM` on each sequence's support: v_bs = n_bs e^{Z[m, l_s]} / sum n e^z over its S tokens."""
    support_BxS = jnp.asarray(spec.support_cdf[0])[sc.cls_B]
    z_BxS = jnp.take_along_axis(Z_MxM[jnp.asarray(spec.query_K)[sc.cls_B]], support_BxS, axis=1)
    return weighted_softmax_xM(sc.counts_BxS.astype(z_BxS.dtype), z_BxS)


@jax.custom_vjp
def _decode_BxM(f_BxS: jax.Array, support_BxS: jax.Array, Y_MxM: jax.Array) -> jax.Array:
    """logits_b = sum_s f_bs Y[support_bs, :]: the decoder product on each sequence's S support tokens
    (B x S x M multiply-adds instead of B x M x M)."""
    return jnp.einsum("bs,bsm->bm", f_BxS, Y_MxM[support_BxS])


def _decode_fwd(f_BxS, support_BxS, Y_MxM):
    return _decode_BxM(f_BxS, support_BxS, Y_MxM), (f_BxS, support_BxS, Y_MxM)


def _decode_bwd(res, dlogits_BxM):
    """df = (dlogits Y^T) at the support; dY = f^T dlogits with f scattered to B x M. Measured on CPU (XLA):
    the two dense products beat a gather-einsum df and a scatter-add dY, which XLA:CPU runs slowly."""
    f_BxS, support_BxS, Y_MxM = res
    B, M = dlogits_BxM.shape
    df_BxS = jnp.take_along_axis(dlogits_BxM @ Y_MxM.T, support_BxS, axis=1)
    f_BxM = jnp.zeros((B, M), f_BxS.dtype).at[jnp.arange(B)[:, None], support_BxS].add(f_BxS)
    return df_BxS, None, f_BxM.T @ dlogits_BxM


_decode_BxM.defvjp(_decode_fwd, _decode_bwd)


def support_loss(params: Params, sc: SupportCounts, spec: ClassSpec) -> jax.Array:
    """`loss` of the same batch computed on each sequence's support (``data.SupportCounts``: counts over its
    class's S support tokens) instead of all M tokens: the attention softmax over S, the decoder product
    B x S x M (`_decode_BxM`). The same function as ``loss(params, data.expand(sc, spec))``, summed in
    another order (float32 rounding; a float64 identity in the tests). ``model.arithmetic: support``."""
    support_BxS = jnp.asarray(spec.support_cdf[0])[sc.cls_B]
    f_BxS = _normalise(attended_support_BxS(params["Z"], sc, spec))
    logits_BxM = _decode_BxM(f_BxS, support_BxS, params["Y"])
    return cross_entropy_B(logits_BxM, jnp.asarray(spec.target_K)[sc.cls_B]).mean()


def attention_KxM(Z_MxM: jax.Array, spec: ClassSpec) -> jax.Array:
    """c_n (Eq. 5): c_{l|n} = P(l|n) e^{Z[psi(n), l]} / sum_l' P(l'|n) e^{Z[psi(n), l']}.

    This is the T -> inf limit of X^T b for class n, and it is how the official code
    (`get_c`) measures attention: from the parameters, not from sampled sequences.
    """
    probs = jnp.asarray(spec.probs_KxM, Z_MxM.dtype)
    return weighted_softmax_xM(probs, Z_MxM[jnp.asarray(spec.query_K)])


def population_logits_KxM(params: Params, spec: ClassSpec) -> jax.Array:
    f_KxM = _normalise(attention_KxM(params["Z"], spec))
    return f_KxM @ params["Y"]


def population_loss(params: Params, spec: ClassSpec) -> jax.Array:
    """Exact T -> inf loss: mean over uniformly weighted classes of -log alpha_n[n]."""
    return cross_entropy_B(population_logits_KxM(params, spec), jnp.asarray(spec.target_K)).mean()
