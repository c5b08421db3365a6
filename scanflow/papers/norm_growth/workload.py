"""Norm growth (Merrill et al. 2021) as an engine workload: the causal transformer on a toy task.

* data: a toy task of `scanflow.papers.norm_growth.data` (``running_max``, ``majority``), a fresh batch
  every step drawn from the engine's data key;
* model: `scanflow.models.causal` (vocab and max_len from the data); ``init_scale`` and ``qk_scale``
  are dynamic (qk_scale multiplies W_Q, W_K and their biases at init);
* one learning rate ``eta`` for every parameter group (``sweep.lr.eta``);
* metrics (with ``Problem.record_update``, so the last update delta_t and gradient are seen):
  ``loss`` / ``acc`` on a fixed evaluation batch, ``norm`` = ||theta_t||, ``group_norm`` (axis
  ``group``), ``step_norm`` = ||delta_t||, ``alignment`` = cos(delta_t, theta_{t-1}), ``grad_alignment``
  = cos(-grad, theta_{t-1}) (NaN at step 0, where delta = 0), and ``params`` (axis ``param``, the
  flattened parameters in jax's leaf order; `unflatten` rebuilds the tree) for the direction cosines
  C_next, C_2x, C_final, which are computed afterwards from the records.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from scanflow.engine.config import Config, need
from scanflow.engine.workload import Problem, Workload
from scanflow.models import causal
from scanflow.papers.norm_growth import config as config_mod
from scanflow.papers.norm_growth.data import ToyTask


def spec_of(cfg: Config) -> causal.CausalSpec:
    """The model's `CausalSpec` (vocabulary and context length from the data section)."""
    m, d = cfg.model, cfg.data
    return causal.CausalSpec(vocab=d.vocab, d_model=m.d_model, n_heads=m.n_heads, n_layers=m.n_layers, d_ff=m.d_ff,
                             norm=m.norm, final_norm=m.final_norm, pos=m.pos, max_len=d.seq_len, bias=m.bias,
                             scale_scores=m.scale_scores, scale_embed=m.scale_embed, residual=m.residual, mask=m.mask,
                             tie_decoder=m.tie_decoder)


def task_of(cfg: Config) -> ToyTask:
    return ToyTask(cfg.data.task, seq_len=cfg.data.seq_len, vocab=cfg.data.vocab)


def eval_batch(cfg: Config) -> dict:
    """The fixed evaluation batch (the same for every seed and point)."""
    return task_of(cfg).sample(jax.random.PRNGKey(cfg.data.eval_seed), cfg.data.eval_batch)


def _dtype(cfg: Config):
    return jnp.float64 if cfg.x64 else jnp.float32


def param_shapes(cfg: Config):
    """The parameter tree of the model as `jax.ShapeDtypeStruct` leaves (no computation)."""
    return jax.eval_shape(lambda k: causal.init(k, spec_of(cfg), 1.0, _dtype(cfg)), jax.random.PRNGKey(0))


def unflatten(cfg: Config, flat) -> dict:
    """The parameter tree from recorded ``params`` (..., param): leaves keep the leading axes."""
    flat = np.asarray(flat)
    leaves, tdef = jax.tree.flatten(param_shapes(cfg))
    sizes = [int(np.prod(x.shape)) for x in leaves]
    if flat.shape[-1] != sum(sizes):
        raise ValueError(f"params: expected a last axis of {sum(sizes)} for this model, got {flat.shape[-1]}")
    lead = flat.shape[:-1]
    parts = np.split(flat, np.cumsum(sizes)[:-1], axis=-1)
    return jax.tree.unflatten(tdef, [p.reshape(*lead, *x.shape) for p, x in zip(parts, leaves)])


def groups_of(cfg: Config) -> list[str]:
    """The learning-rate groups: the top-level keys of the parameter tree, in jax's order."""
    return sorted(param_shapes(cfg))


def hyperparams(cfg: Config, info: dict) -> dict:
    """One rate per grid point for every group; the two init scales ``all`` and ``qk``."""
    dt = np.float64 if cfg.x64 else np.float32
    eta = np.asarray(cfg.sweep.lr["eta"], dt)
    P = eta.shape[0]
    return {
        "lr": {g: eta for g in info["groups"]},
        "init_scale": {"all": np.full((P,), cfg.model.init_scale, dt), "qk": np.full((P,), cfg.model.qk_scale, dt)},
    }


def _cos(a, b):
    den = jnp.linalg.norm(a) * jnp.linalg.norm(b)
    return jnp.where(den > 0, jnp.dot(a, b) / jnp.where(den > 0, den, 1.0), jnp.nan)


def build(cfg: Config) -> Problem:
    spec, task, dtype = spec_of(cfg), task_of(cfg), _dtype(cfg)
    groups = groups_of(cfg)
    ev = eval_batch(cfg)
    batch = cfg.data.batch
    keep_params = cfg.model.record_params

    def init(key, hp):
        sc = hp["init_scale"]
        params = causal.init(key, spec, sc["all"].astype(dtype), dtype)
        qk = sc["qk"].astype(dtype)
        params["attn"] = {name: {k: (jax.tree.map(lambda a: qk * a, v) if k in ("q", "k") else v)
                                 for k, v in lay.items()} for name, lay in params["attn"].items()}
        return params

    def loss(params, key, step):
        del step
        return causal.loss(params, task.sample(key, batch), spec)

    def metrics(params, rec):
        flat = ravel_pytree(params)[0]
        delta = ravel_pytree(rec.update)[0]
        grad = ravel_pytree(rec.grads)[0]
        prev = flat - delta  # theta before the last step
        logits, _ = causal.apply(params, ev["x"], spec)
        out = {
            "loss": optax.softmax_cross_entropy_with_integer_labels(logits, ev["y"]).mean(),
            "acc": jnp.mean(jnp.argmax(logits, -1) == ev["y"]),
            "norm": jnp.linalg.norm(flat),
            "group_norm": jnp.stack([jnp.linalg.norm(ravel_pytree(params[g])[0]) for g in groups]),
            "step_norm": jnp.linalg.norm(delta),
            "alignment": _cos(delta, prev),
            "grad_alignment": _cos(-grad, prev),
            "finite": jnp.all(jnp.isfinite(flat)),
        }
        if keep_params:
            out["params"] = flat
        return out

    metric_dims = {"loss": (), "train_loss": (), "acc": (), "norm": (), "group_norm": ("group",), "step_norm": (),
                   "alignment": (), "grad_alignment": (), "finite": (), "params": ("param",)}
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(param_shapes(cfg)))
    coords = {"group": np.array(groups)}
    info = {"groups": groups, "n_params": n_params, "spec": repr(spec), "task": cfg.data.task}
    return Problem(init, loss, metrics, None, metric_dims, coords, info, record_update=True)


def validate(cfg: Config) -> None:
    """Rules that span sections."""
    need(cfg.train.method == "sgd", "train.method", "sgd (the toy tasks are sampled: no gradient flow)",
         cfg.train.method)


def _plots(ds) -> dict:
    """The figures of a finished run (``{name: Figure}``; `scanflow.papers.norm_growth.plots.all_figures`)."""
    from scanflow.papers.norm_growth import plots

    return plots.all_figures(ds)


WORKLOAD = Workload(
    name="norm_growth",
    train={"optimizer": "adam"},  # the train: defaults a config may leave out
    data=config_mod.DataConfig,
    model=config_mod.ModelConfig,
    lr_keys=config_mod.LR_KEYS,
    lr_default=config_mod.LR_DEFAULT,
    dynamic_model_fields=config_mod.DYNAMIC_MODEL_FIELDS,
    build=build,
    hyperparams=hyperparams,
    validate=validate,
    footprint=config_mod.footprint,
    plots=_plots,
    description="Norm growth (Merrill et al. 2021): the causal transformer on toy tasks, norms and directions",
)
