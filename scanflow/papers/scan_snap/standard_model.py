"""The standard parameterisation of the Scan and Snap model, as a Flax (linen) module.

Embeddings U (M x d), W_Q, W_K, W_V (d x d) and a decoder tied to U:

    b_t      = softmax_t( u_{x_T}^T W_Q W_K^T u_{x_t} / sqrt(d) )     over the T-1 contextual tokens
    u_hat    = sum_t b_t u_{x_t}                                     (no positional encoding)
    u_tilde  = u_hat / ||u_hat||                                     (the paper's "LN")
    logits_l = u_l^T W_V u_tilde

With orthonormal U this is exactly the Y/Z model with Y = U W_V^T U^T and Z = U W_Q W_K^T U^T / sqrt(d)
(`to_yz`); `tests/test_models.py` checks it. The module is used functionally:
``params = StandardAttention(M, d).init(key, ctx, query)["params"]`` then
``StandardAttention(M, d).apply({"params": params}, ctx, query)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class StandardAttention(nn.Module):
    vocab: int  # M
    dim: int  # d
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, context_BxT1: jax.Array, query_B: jax.Array) -> jax.Array:
        """Decoder logits (B, M) for the next token after the query."""
        init = nn.initializers.normal(1.0 / jnp.sqrt(self.dim))
        embed = nn.Embed(self.vocab, self.dim, dtype=self.dtype, param_dtype=self.dtype, name="U")
        W_Q = self.param("W_Q", init, (self.dim, self.dim), self.dtype)
        W_K = self.param("W_K", init, (self.dim, self.dim), self.dtype)
        W_V = self.param("W_V", init, (self.dim, self.dim), self.dtype)
        u_ctx_BxTxd = embed(context_BxT1)
        u_q_Bxd = embed(query_B)
        scores_BxT = jnp.einsum("bd,de,fe,btf->bt", u_q_Bxd, W_Q, W_K, u_ctx_BxTxd) / jnp.sqrt(self.dim)
        b_BxT = jax.nn.softmax(scores_BxT, axis=-1)
        u_hat_Bxd = jnp.einsum("bt,btd->bd", b_BxT, u_ctx_BxTxd)
        u_tilde_Bxd = u_hat_Bxd / jnp.linalg.norm(u_hat_Bxd, axis=-1, keepdims=True)
        return embed.attend(u_tilde_Bxd @ W_V.T)  # logits_l = u_l^T W_V u_tilde


def to_yz(params: dict) -> dict:
    """Y = U W_V^T U^T and Z = U W_Q W_K^T U^T / sqrt(d) (spec §1)."""
    U = params["U"]["embedding"]
    d = U.shape[1]
    return {
        "Y": U @ params["W_V"].T @ U.T,
        "Z": U @ params["W_Q"] @ params["W_K"].T @ U.T / jnp.sqrt(d),
    }


def orthonormal_embedding(key: jax.Array, M: int, d: int, dtype=jnp.float32) -> jax.Array:
    """A random U (M x d, d >= M) with orthonormal rows, U U^T = I_M."""
    if d < M:
        raise ValueError(f"orthonormal rows need d >= M, got d={d}, M={M}")
    q, _ = jnp.linalg.qr(jax.random.normal(key, (d, M), dtype))
    return q.T
