"""A standard causal transformer language model over a plain parameter pytree (nanoGPT-like).

One module serves the real-text experiments (Scan and Snap Figs 7/10: sinusoidal positions,
post-LN, FFN, one head, 1 or 3 layers), the analysed Scan and Snap variant (no positions, no FFN,
no residual, l2-normalised attention output) and the norm-growth toy tasks (several heads,
pre-norm). Per layer, with F the attention or the FFN block:

    post-norm:  x <- LN(x + F(x))        pre-norm:  x <- x + F(LN(x))        none:  x <- x + F(x)

(`residual=False` drops the "x +"). Causal masking sets future scores to -inf. ``mask="multiply"``
reproduces the artefact of the norm-growth paper's code (scores * mask): future positions keep
score 0, so they leak into the soft model and can win under saturation (spec norm_growth §2.4).

The top-level keys of the parameter tree are the learning-rate groups:
``embed`` (tok, pos), ``attn`` (layer_i: q, k, v, o), ``ffn`` (layer_i: w1, b1, w2, b2),
``norm`` (layer_i: ln1, ln2; final) and ``decoder`` (w, b; absent when tied to the embedding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

_NORMS = ("post", "pre", "none")
_POS = ("sinusoidal", "learned", "none")
_MASKS = ("neg_inf", "multiply")


@dataclass(frozen=True)
class CausalSpec:
    vocab: int
    d_model: int
    n_heads: int = 1
    n_layers: int = 1
    d_ff: int = 0  # 0 = no FFN block
    norm: str = "post"  # "post" | "pre" | "none"
    final_norm: bool = False  # LN before the decoder
    pos: str = "sinusoidal"  # "sinusoidal" | "learned" | "none"
    max_len: int = 512
    bias: bool = True
    scale_scores: bool = True  # scores / sqrt(d_head)
    scale_embed: bool = True  # token embedding * sqrt(d_model), as PyTorch's word_language_model
    l2_attn_out: bool = False  # l2-normalise each position's attention output (the analysed model)
    residual: bool = True
    mask: str = "neg_inf"  # "neg_inf" | "multiply" (the artefact)
    causal: bool = True
    tie_decoder: bool = False

    def __post_init__(self):
        if self.norm not in _NORMS:
            raise ValueError(f"norm: expected one of {_NORMS}, got {self.norm!r}")
        if self.pos not in _POS:
            raise ValueError(f"pos: expected one of {_POS}, got {self.pos!r}")
        if self.mask not in _MASKS:
            raise ValueError(f"mask: expected one of {_MASKS}, got {self.mask!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads: expected a divisor of d_model={self.d_model}, got {self.n_heads}")
        for name in ("vocab", "d_model", "n_heads", "n_layers", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


# ---------------------------------------------------------------------------------------------- init


def _linear(key, fan_in: int, fan_out: int, bias: bool, scale, dtype) -> dict:
    """PyTorch nn.Linear's default: uniform(+-1/sqrt(fan_in)), times `scale`."""
    kw, kb = jax.random.split(key)
    bound = scale / math.sqrt(fan_in)
    p = {"w": jax.random.uniform(kw, (fan_in, fan_out), dtype, -bound, bound)}
    if bias:
        p["b"] = jax.random.uniform(kb, (fan_out,), dtype, -bound, bound)
    return p


def _layer_norm_params(d: int, dtype) -> dict:
    return {"g": jnp.ones((d,), dtype), "b": jnp.zeros((d,), dtype)}


def init(key: jax.Array, spec: CausalSpec, init_scale=1.0, dtype=jnp.float32) -> dict:
    """Parameters (see the module docstring for the tree). Embedding and decoder ~ U(+-0.1) as the
    reference's init_weights; linear layers as nn.Linear; LN gain 1, bias 0; all times init_scale."""
    D, V = spec.d_model, spec.vocab
    k_tok, k_pos, k_dec, k_layers = jax.random.split(key, 4)
    embed = {"tok": init_scale * jax.random.uniform(k_tok, (V, D), dtype, -0.1, 0.1)}
    if spec.pos == "learned":
        embed["pos"] = init_scale * jax.random.uniform(k_pos, (spec.max_len, D), dtype, -0.1, 0.1)
    params = {"embed": embed, "attn": {}}
    if spec.d_ff:
        params["ffn"] = {}
    if spec.norm != "none" or spec.final_norm:
        params["norm"] = {}
    for i in range(spec.n_layers):
        kq, kk, kv, ko, k1, k2 = jax.random.split(jax.random.fold_in(k_layers, i), 6)
        lin = lambda k, a, b: _linear(k, a, b, spec.bias, init_scale, dtype)
        params["attn"][f"layer_{i}"] = {"q": lin(kq, D, D), "k": lin(kk, D, D), "v": lin(kv, D, D), "o": lin(ko, D, D)}
        if spec.d_ff:
            params["ffn"][f"layer_{i}"] = {"in": lin(k1, D, spec.d_ff), "out": lin(k2, spec.d_ff, D)}
        if spec.norm != "none":
            lns = {"ln1": _layer_norm_params(D, dtype)}
            if spec.d_ff:
                lns["ln2"] = _layer_norm_params(D, dtype)
            params["norm"][f"layer_{i}"] = lns
    if spec.final_norm:
        params["norm"]["final"] = _layer_norm_params(D, dtype)
    if not spec.tie_decoder:
        b = jnp.zeros((V,), dtype) if spec.bias else None
        params["decoder"] = {"w": init_scale * jax.random.uniform(k_dec, (D, V), dtype, -0.1, 0.1)}
        if b is not None:
            params["decoder"]["b"] = b
    return params


# ------------------------------------------------------------------------------------------- forward


def sinusoidal_TxD(T: int, D: int, dtype=jnp.float32) -> jax.Array:
    """The reference PositionalEncoding: sin on even, cos on odd channels."""
    pos = jnp.arange(T, dtype=jnp.float32)[:, None]
    div = jnp.exp(jnp.arange(0, D, 2, dtype=jnp.float32) * (-math.log(10000.0) / D))[None, :]
    pe = jnp.zeros((T, D), jnp.float32)
    pe = pe.at[:, 0::2].set(jnp.sin(pos * div))
    pe = pe.at[:, 1::2].set(jnp.cos(pos * div)[:, : D // 2])
    return pe.astype(dtype)


def _dense(p: dict, x: jax.Array) -> jax.Array:
    y = x @ p["w"]
    return y + _lead(p["b"], y.ndim) if "b" in p else y


def _lead(v: jax.Array, ndim: int) -> jax.Array:
    """v with leading unit axes up to ndim (explicit broadcasting; rank promotion may be 'raise')."""
    return v.reshape((1,) * (ndim - v.ndim) + v.shape)


def layer_norm(p: dict, x_xD: jax.Array, eps: float = 1e-5) -> jax.Array:
    mu = x_xD.mean(-1, keepdims=True)
    var = ((x_xD - mu) ** 2).mean(-1, keepdims=True)
    return (x_xD - mu) / jnp.sqrt(var + eps) * _lead(p["g"], x_xD.ndim) + _lead(p["b"], x_xD.ndim)


def embed_BxTxD(params: dict, tokens_BxT: jax.Array, spec: CausalSpec) -> jax.Array:
    tok = params["embed"]["tok"]
    x = tok[tokens_BxT]
    if spec.scale_embed:
        x = x * math.sqrt(spec.d_model)
    T = tokens_BxT.shape[1]
    if T > spec.max_len:
        raise ValueError(f"sequence length {T} exceeds max_len={spec.max_len}")
    if spec.pos == "sinusoidal":
        x = x + sinusoidal_TxD(T, spec.d_model, x.dtype)[None]
    elif spec.pos == "learned":
        x = x + params["embed"]["pos"][None, :T]
    return x


def _heads(x_BxTxD: jax.Array, H: int) -> jax.Array:
    B, T, D = x_BxTxD.shape
    return x_BxTxD.reshape(B, T, H, D // H)


def attention_scores_BxHxTxT(p: dict, x_BxTxD: jax.Array, spec: CausalSpec) -> jax.Array:
    """Masked pre-softmax scores of one layer (future entries -inf, or 0 x score for "multiply")."""
    q = _heads(_dense(p["q"], x_BxTxD), spec.n_heads)
    k = _heads(_dense(p["k"], x_BxTxD), spec.n_heads)
    s = jnp.einsum("bthd,bshd->bhts", q, k)
    if spec.scale_scores:
        s = s / math.sqrt(spec.d_head)
    if spec.causal:
        T = x_BxTxD.shape[1]
        allowed_TxT = jnp.tril(jnp.ones((T, T), bool))[None, None]
        if spec.mask == "neg_inf":
            s = jnp.where(allowed_TxT, s, -jnp.inf)
        else:  # the artefact: future scores become 0, not -inf
            s = s * allowed_TxT.astype(s.dtype)
    return s


def _attention_block(p: dict, x_BxTxD: jax.Array, spec: CausalSpec):
    s = attention_scores_BxHxTxT(p, x_BxTxD, spec)
    a_BxHxTxT = jax.nn.softmax(s, axis=-1)
    v = _heads(_dense(p["v"], x_BxTxD), spec.n_heads)
    out = jnp.einsum("bhts,bshd->bthd", a_BxHxTxT, v).reshape(x_BxTxD.shape)
    if spec.l2_attn_out:
        out = out / jnp.linalg.norm(out, axis=-1, keepdims=True)
    return _dense(p["o"], out), a_BxHxTxT, s


def _ffn_block(p: dict, x_BxTxD: jax.Array) -> jax.Array:
    return _dense(p["out"], jax.nn.relu(_dense(p["in"], x_BxTxD)))


def _sublayer(x, fn, ln, spec: CausalSpec):
    """Apply block fn with the configured norm placement; returns (new x, fn's extras)."""
    if spec.norm == "pre":
        y, *extra = fn(layer_norm(ln, x))
        return (x + y if spec.residual else y), extra
    y, *extra = fn(x)
    x = x + y if spec.residual else y
    if spec.norm == "post":
        x = layer_norm(ln, x)
    return x, extra


def _forward(params: dict, tokens_BxT: jax.Array, spec: CausalSpec):
    x = embed_BxTxD(params, tokens_BxT, spec)
    attns, scores = [], []
    for i in range(spec.n_layers):
        name = f"layer_{i}"
        lns = params["norm"][name] if spec.norm != "none" else {}
        x, (a, s) = _sublayer(x, lambda h: _attention_block(params["attn"][name], h, spec), lns.get("ln1"), spec)
        attns.append(a)
        scores.append(s)
        if spec.d_ff:
            x, _ = _sublayer(x, lambda h: (_ffn_block(params["ffn"][name], h),), lns.get("ln2"), spec)
    if spec.final_norm:
        x = layer_norm(params["norm"]["final"], x)
    if spec.tie_decoder:
        logits = x @ params["embed"]["tok"].T
    else:
        logits = _dense(params["decoder"], x)
    return logits, jnp.stack(attns), jnp.stack(scores)


def apply(params: dict, tokens_BxT: jax.Array, spec: CausalSpec) -> tuple[jax.Array, jax.Array]:
    """(logits_BxTxV, attention probabilities attn_LxBxHxTxT)."""
    logits, attn, _ = _forward(params, tokens_BxT, spec)
    return logits, attn


def scores(params: dict, tokens_BxT: jax.Array, spec: CausalSpec) -> jax.Array:
    """Pre-softmax masked scores scores_LxBxHxTxT (future entries -inf with the correct mask)."""
    return _forward(params, tokens_BxT, spec)[2]


def loss(params: dict, batch: dict, spec: CausalSpec) -> jax.Array:
    """Mean next-token cross-entropy; batch = {"x": tokens_BxT, "y": targets_BxT}."""
    logits, _ = apply(params, batch["x"], spec)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
