"""1-layer transformer of the word co-occurrence paper (Yang et al. 2024; spec §1, App. B).

Parameters are a plain pytree whose top-level keys are the learning-rate groups:
``{"W_Q": m x d, "W_K": m x d, "W_V": m x d, "W": m1 x m, "a": m1}``.

* scores s_l = X^T W_K^T W_Q x_l / sqrt(m) (entry h = key position h), p_l = softmax_h(s_l):
  single head, bidirectional, no mask / positional encoding / residual / LayerNorm / bias;
* F(X) = sum_{l=1..L} a^T W W_V X p_l = u^T W_V X (sum_l p_l), u = W^T a: a *sum* over all L query
  positions and a *linear* MLP (no activation), exactly as spec §1;
* loss: logistic l(z) = log(1 + e^-z), full-batch mean over the n samples.

``a`` is always a leaf of the pytree so that the same code serves both variants; the paper's fixed
readout (spec §1 "a is fixed") is learning rate 0 for group "a" (see `learning_rates`). Data come
from `scanflow.papers.cooccurrence.data` (rows of X_NxLxd are the x_l).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.cooccurrence.data import Dataset

Params = dict
GROUPS = ("W_Q", "W_K", "W_V", "W", "a")


def init_scales(L: int, m: int, m1: int, c0: float = 0.02) -> tuple[float, float]:
    """(sigma0, sigma1) = (c0 / sqrt(L m), 1 / sqrt(m1)): Condition 1 with the spec §3 recommendation c0 ~ 0.02."""
    return c0 / np.sqrt(L * m), 1.0 / np.sqrt(m1)


def init(key: jax.Array, d: int, m: int, m1: int, sigma0, sigma1, a_init: str = "sign", dtype=jnp.float32) -> Params:
    """Spec §1 init: W_ij ~ N(0, sigma1^2); W_V, W_K, W_Q entries ~ N(0, sigma0^2), all i.i.d.

    ``a_init="sign"``: a_j i.i.d. uniform on {+-1} (the paper's theory); ``"uniform"``: U(-1/sqrt(m1),
    1/sqrt(m1)) (PyTorch nn.Linear default, the spec §6 guess for Fig. 1).
    """
    kq, kk, kv, kw, ka = jax.random.split(key, 5)
    nrm = lambda k, shape, s: s * jax.random.normal(k, shape, dtype)
    if a_init == "sign":
        a = jnp.where(jax.random.bernoulli(ka, 0.5, (m1,)), 1.0, -1.0).astype(dtype)
    elif a_init == "uniform":
        a = jax.random.uniform(ka, (m1,), dtype, -1.0, 1.0) / np.sqrt(m1)
    else:
        raise ValueError(f"a_init: expected 'sign' or 'uniform', got {a_init!r}")
    return {"W_Q": nrm(kq, (m, d), sigma0), "W_K": nrm(kk, (m, d), sigma0), "W_V": nrm(kv, (m, d), sigma0),
            "W": nrm(kw, (m1, m), sigma1), "a": a}


def learning_rates(eta, train_a: bool = False) -> dict:
    """Per-group rates for `scanflow.engine.flow`: eta for W_Q, W_K, W_V, W; 0 for a unless trained."""
    return {"W_Q": eta, "W_K": eta, "W_V": eta, "W": eta, "a": eta if train_a else 0.0 * eta}


def u_m(params: Params) -> jax.Array:
    """u = W^T a (spec §1)."""
    return params["W"].T @ params["a"]


def G_d(params: Params) -> jax.Array:
    """beta = W_V^T W^T a: G(mu_k) = a^T W W_V e_k for every token k (spec §1 'linear MLP function')."""
    return params["W_V"].T @ u_m(params)


def attention_NxLxL(params: Params, data: Dataset) -> jax.Array:
    """P[i, l, h] = p_l^{(i)}[h]: weight of key position h for query position l (softmax over h)."""
    m = params["W_Q"].shape[0]
    q_NxLxm = jnp.einsum("nld,md->nlm", data.X_NxLxd, params["W_Q"])
    k_NxLxm = jnp.einsum("nld,md->nlm", data.X_NxLxd, params["W_K"])
    s = jnp.einsum("nlm,nhm->nlh", q_NxLxm, k_NxLxm) / np.sqrt(m)
    return jax.nn.softmax(s, axis=-1)


def outputs_N(params: Params, data: Dataset) -> jax.Array:
    """F(X_i) = sum_l r^T p_l, r_h = G(x_h) (spec §1)."""
    r_NxL = data.X_NxLxd @ G_d(params)
    return jnp.einsum("nlh,nh->n", attention_NxLxL(params, data), r_NxL)


def margins_N(params: Params, data: Dataset) -> jax.Array:
    """y_i F_i."""
    return data.y_N * outputs_N(params, data)


def losses_N(params: Params, data: Dataset) -> jax.Array:
    """l(y_i F_i) = log(1 + exp(-y_i F_i)) (softplus: exact for tiny losses)."""
    return jax.nn.softplus(-margins_N(params, data))


def loss(params: Params, data: Dataset) -> jax.Array:
    """Training loss L_hat = (1/n) sum_i l(y_i F_i) (spec §1)."""
    return losses_N(params, data).mean()


__all__ = ["GROUPS", "G_d", "attention_NxLxL", "init", "init_scales", "learning_rates", "loss", "losses_N",
           "margins_N", "outputs_N", "u_m"]
