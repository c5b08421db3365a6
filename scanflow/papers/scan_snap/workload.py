"""Scan and Snap as an engine workload: official-layout data, the Y/Z model, its measurements."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.config import Config
from scanflow.engine.workload import Problem, Workload
from scanflow.papers.scan_snap import config as config_mod
from scanflow.papers.scan_snap.config import lr_grid
from scanflow.papers.scan_snap import data
from scanflow.papers.scan_snap.measure import distinct_entropy_K, group_means_K, query_logits_KxM
from scanflow.papers.scan_snap import model as yz


def hyperparams(cfg: Config, info: dict) -> dict:
    """Host arrays of the dynamic hyperparameters, one entry per grid point (leading axis P)."""
    M = info["M"]
    grid = lr_grid(cfg.sweep)
    P = len(grid["Z"])
    dt = np.float64 if cfg.x64 else np.float32
    return {
        "lr": {g: np.asarray(v, dt) for g, v in grid.items()},
        "init_scale": {g: np.full((P,), init_scale(cfg, g, M), dt) for g in ("Y", "Z")},
    }


def init_scale(cfg: Config, group: str, M: int) -> float:
    """Half-width of the uniform init of a group: model.init_scale_<group> if set, else 0 for
    ``init: zero``, else model.init_scale (default 1/sqrt(M), PyTorch's nn.Linear)."""
    m = cfg.model
    explicit = getattr(m, f"init_scale_{group}")
    if explicit is not None:
        return explicit
    if m.init == "zero":
        return 0.0
    return m.init_scale if m.init_scale is not None else 1.0 / math.sqrt(M)


def build(cfg: Config) -> Problem:
    spec = data.from_config(cfg.data)
    dtype = jnp.float64 if cfg.x64 else jnp.float32
    d = cfg.data
    distinct = jnp.asarray(spec.distinct_KxM)
    common = jnp.asarray((spec.probs_KxM > 0) & spec.common_M[None, :])

    def init(key, hp):
        sc = hp["init_scale"]
        return yz.init(key, spec.M, sc["Y"].astype(dtype), dtype, scale_Z=sc["Z"].astype(dtype))

    if d.mode == "sampled":

        def loss(params, key, step):
            return yz.loss(params, data.sample_batch(key, spec, d.batch_size, d.seq_len, dtype))

        def sample(key, step):  # the same batch as `loss` draws, compact (shared across grid points)
            return data.sample_support_counts(key, spec, d.batch_size, d.seq_len, dtype)

        if cfg.model.arithmetic == "support":  # each sequence's S support tokens (model.support_loss)

            def batch_loss(params, counts, step):
                return yz.support_loss(params, counts, spec)

        else:

            def batch_loss(params, counts, step):
                return yz.loss(params, data.expand(counts, spec))

    else:
        sample = batch_loss = None  # nothing is drawn: nothing to share

        def loss(params, key, step):
            del key, step
            return yz.population_loss(params, spec)

    pop_loss = lambda params: yz.population_loss(params, spec)

    def metrics(params, rec):
        c_KxM = yz.attention_KxM(params["Z"], spec)
        z_KxM = query_logits_KxM(params["Z"], spec)
        g = jax.grad(pop_loss)(params)
        logits_KxM = yz.population_logits_KxM(params, spec)
        target = jnp.asarray(spec.target_K)
        is_target = jnp.arange(spec.M)[None, :] == target[:, None]
        out = {
            "logit_target": jnp.take_along_axis(logits_KxM, target[:, None], axis=1)[:, 0],
            "logit_other_max": jnp.max(jnp.where(is_target, -jnp.inf, logits_KxM), axis=1),
            "logit_other_min": jnp.min(jnp.where(is_target, jnp.inf, logits_KxM), axis=1),
            "alpha_target": jnp.exp(-yz.cross_entropy_B(logits_KxM, target)),
            "loss": pop_loss(params),
            "entropy": distinct_entropy_K(c_KxM, spec),
            "max_attn": jnp.max(jnp.where(distinct | common, c_KxM, 0.0), axis=-1),
            "z_distinct": group_means_K(z_KxM, distinct),
            "z_common": group_means_K(z_KxM, common),
            "grad_norm_Y": jnp.linalg.norm(g["Y"]),
            "grad_norm_Z": jnp.linalg.norm(g["Z"]),
            "norm_Y": jnp.linalg.norm(params["Y"]),
            "norm_Z": jnp.linalg.norm(params["Z"]),
            "finite": jnp.all(jnp.array([jnp.isfinite(x).all() for x in jax.tree.leaves(params)])),
        }
        if cfg.train.record_attention:
            out["attn"] = c_KxM
            out["z"] = z_KxM
        return out

    metric_dims = {
        "logit_target": ("cls",),
        "logit_other_max": ("cls",),
        "logit_other_min": ("cls",),
        "alpha_target": ("cls",),
        "loss": (),
        "train_loss": (),
        "entropy": ("cls",),
        "max_attn": ("cls",),
        "z_distinct": ("cls",),
        "z_common": ("cls",),
        "grad_norm_Y": (),
        "grad_norm_Z": (),
        "norm_Y": (),
        "norm_Z": (),
        "finite": (),
        "attn": ("cls", "token"),
        "z": ("cls", "token"),
    }
    coords = {"cls": np.arange(spec.K), "token": np.arange(spec.M)}
    info = {
        "M": spec.M,
        "K": spec.K,
        "groups": {name: list(r) for name, r in spec.groups},
        "probs_KxM": spec.probs_KxM.tolist(),
        "query_K": spec.query_K.tolist(),
        "target_K": spec.target_K.tolist(),
        "default_init_scale": float(1.0 / np.sqrt(spec.M)),
    }
    return Problem(init, loss, metrics, pop_loss, metric_dims, coords, info, sample=sample, batch_loss=batch_loss)


def _plots(ds) -> dict:
    """The figures of a finished run (``{name: Figure}``; `scanflow.papers.scan_snap.plots.all_figures`)."""
    from scanflow.papers.scan_snap import plots

    return plots.all_figures(ds)


def _summary(ds) -> str:
    """After `scanflow run`: the Fig-6 table (final distinct-token entropy, mean ± std over seeds, on the
    eta_Z x eta_Y/eta_Z grid) of each vocabulary size, for a sweep over that grid."""
    from scanflow.engine.dataset import split_parts
    from scanflow.papers.scan_snap import tables as sw

    if not sw.is_fig6_grid(ds):
        return ""
    tables = [sw.format_fig6_table(sw.fig6_table(part)) for _, part in split_parts(ds)]
    return "\n".join([f"final distinct-token entropy, mean ± std over seeds (initial {sw.H0:.4f}):", *tables])


WORKLOAD = Workload(
    name="scan_snap",
    train={"optimizer": "sgd_momentum", "momentum": 0.9},  # the train: defaults a config may leave out
    data=config_mod.DataConfig,
    model=config_mod.ModelConfig,
    lr_keys=config_mod.LR_KEYS,
    lr_default=config_mod.LR_DEFAULT,
    dynamic_model_fields=config_mod.DYNAMIC_MODEL_FIELDS,
    build=build,
    hyperparams=hyperparams,
    validate=config_mod.validate,
    footprint=config_mod.footprint,
    plots=_plots,
    summary=_summary,
    description="Scan and Snap (Tian et al. 2023): the Y/Z model on synthetic classes",
)
