"""The linear-net workload: y = W2 W1 x on whitened regression, as a scanflow `Workload`.

* params: ``{"W1": (h, d), "W2": (o, h)}``; the two top-level keys are the learning-rate groups;
* loss (training and gradient flow alike, full batch): L = 1/2 ||Sigma_yx - W2 W1||_F^2 (the population
  squared loss with Sigma_xx = I, up to a constant; `scanflow_linear_net.theory`);
* metrics per record: ``loss``; ``mode_strength`` a_alpha = u_alpha^T W2 W1 v_alpha (axis ``mode``);
  ``offdiag`` = ||U^T W2 W1 V - diag||_F (cross-mode coupling; 0 along Saxe's decoupled solution);
  ``balance`` = W1 W1^T - W2^T W2 and ``balance_lr`` = W1 W1^T/eta1 - W2^T W2/eta2 (axes ``hidden_i``,
  ``hidden_j``; conserved by gradient flow with equal / any rates); ``norm_W1``, ``norm_W2``
  (Frobenius) and ``max_abs_param`` (what the checks' error bounds need); ``finite``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.workload import Problem, Workload
from scanflow_linear_net import config as config_mod


def target(data: config_mod.DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U: o x r, s: r, V: d x r) of Sigma_yx = U diag(s) V^T (float64 host arrays)."""
    d, o, r = data.input_dim, data.output_dim, data.rank
    s = np.asarray(data.singular_values, np.float64)
    if data.basis == "identity":
        return np.eye(o)[:, :r], s, np.eye(d)[:, :r]
    rng = np.random.default_rng(data.seed)
    U = np.linalg.qr(rng.standard_normal((o, o)))[0][:, :r]
    V = np.linalg.qr(rng.standard_normal((d, d)))[0][:, :r]
    return U, s, V


def hyperparams(cfg, info: dict) -> dict:
    """Per-point rates of W1 and W2, and the (dynamic) init scale."""
    del info
    dt = np.float64 if cfg.x64 else np.float32
    grid = config_mod.lr_grid(cfg.sweep.lr)
    P = len(grid["W1"])
    return {
        "lr": {g: np.asarray(grid[g], dt) for g in config_mod.GROUPS},
        "init_scale": {"product": np.full((P,), cfg.model.init_scale, dt)},
    }


def _orthogonal(key, n: int, dtype):
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n), dtype))
    return q * jnp.sign(jnp.diagonal(r))[None, :]  # Haar


def build(cfg) -> Problem:
    dtype = jnp.float64 if cfg.x64 else jnp.float32
    d, o, h, r = cfg.data.input_dim, cfg.data.output_dim, cfg.model.hidden_dim, cfg.data.rank
    U_np, s_np, V_np = target(cfg.data)
    U, s, V = (jnp.asarray(a, dtype) for a in (U_np, s_np, V_np))
    sigma_yx = (U * s[None, :]) @ V.T
    kind = cfg.model.init

    def init(key, hp):
        scale = hp["init_scale"]["product"].astype(dtype)
        k_r, k_1, k_2 = jax.random.split(key, 3)
        R = _orthogonal(k_r, h, dtype)
        if kind == "decoupled":  # W1 = R_r sqrt(a0) V^T, W2 = U sqrt(a0) R_r^T
            b = jnp.sqrt(scale)
            Rr = R[:, :r]
            return {"W1": b * Rr @ V.T, "W2": b * U @ Rr.T}
        if kind == "balanced":  # SVD of a Gaussian end-to-end map, split evenly between the layers
            M = scale * jax.random.normal(k_1, (o, d), dtype)
            P_, S_, Qt = jnp.linalg.svd(M, full_matrices=False)
            k = min(h, o, d)
            root = jnp.sqrt(S_[:k])
            return {"W1": (R[:, :k] * root[None, :]) @ Qt[:k], "W2": (P_[:, :k] * root[None, :]) @ R[:, :k].T}
        sd = jnp.sqrt(scale / jnp.sqrt(jnp.asarray(h, dtype)))
        return {"W1": sd * jax.random.normal(k_1, (h, d), dtype), "W2": sd * jax.random.normal(k_2, (o, h), dtype)}

    def flow_loss(params):
        err = sigma_yx - params["W2"] @ params["W1"]
        return 0.5 * jnp.sum(err * err)

    def loss(params, key, step):
        del key, step  # full batch: the population loss (Sigma_xx = I)
        return flow_loss(params)

    def metrics(params, rec):
        W1, W2 = params["W1"], params["W2"]
        m = U.T @ (W2 @ W1) @ V  # r x r: the end-to-end map in the target's singular bases
        a = jnp.diagonal(m)
        A = W1 @ W1.T
        B = W2.T @ W2
        lr = rec.hp["lr"]
        return {
            "loss": flow_loss(params),
            "mode_strength": a,
            "offdiag": jnp.sqrt(jnp.sum((m - jnp.diag(a)) ** 2)),
            "balance": A - B,
            "balance_lr": A / lr["W1"] - B / lr["W2"],
            "norm_W1": jnp.linalg.norm(W1),
            "norm_W2": jnp.linalg.norm(W2),
            "max_abs_param": jnp.maximum(jnp.max(jnp.abs(W1)), jnp.max(jnp.abs(W2))),
            "finite": jnp.isfinite(W1).all() & jnp.isfinite(W2).all(),
        }

    metric_dims = {
        "loss": (),
        "train_loss": (),
        "mode_strength": ("mode",),
        "offdiag": (),
        "balance": ("hidden_i", "hidden_j"),
        "balance_lr": ("hidden_i", "hidden_j"),
        "norm_W1": (),
        "norm_W2": (),
        "max_abs_param": (),
        "finite": (),
    }
    coords = {"mode": np.arange(r), "hidden_i": np.arange(h), "hidden_j": np.arange(h)}
    info = {
        "singular_values": s_np.tolist(),
        "U": U_np.tolist(),
        "V": V_np.tolist(),
        "n_params": h * d + o * h,
        "optimal_loss": 0.5 * float(np.sum(s_np[min(h, r):] ** 2)),  # rank-h truncation (Eckart-Young)
    }
    return Problem(init, loss, metrics, flow_loss, metric_dims, coords, info)


def _plots(ds) -> dict:
    """The figures of a finished run (``{name: Figure}``; `scanflow_linear_net.plots.all_figures`)."""
    from scanflow_linear_net import plots

    return plots.all_figures(ds)


WORKLOAD = Workload(
    name="linear_net",
    data=config_mod.DataConfig,
    model=config_mod.ModelConfig,
    lr_keys=config_mod.LR_KEYS,
    lr_default=config_mod.LR_DEFAULT,
    dynamic_model_fields=config_mod.DYNAMIC_MODEL_FIELDS,
    build=build,
    hyperparams=hyperparams,
    validate=config_mod.validate,
    plots=_plots,
    description="Two-layer linear network y = W2 W1 x on whitened regression (Saxe et al. 2014)",
)

__all__ = ["WORKLOAD", "build", "hyperparams", "target"]
