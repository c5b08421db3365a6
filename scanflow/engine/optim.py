"""Optax optimizers with one learning rate per parameter group, named in the config.

The groups are the top-level keys of the parameter tree. Learning rates are (traced) arrays, and
the transformation is built *inside* the traced function, so a new learning-rate value is a new
argument, not a new program (a Python float would be baked in: optax issue 577).

``train.optimizer`` is ``sgd``, ``sgd_momentum``, ``adam`` (with their own config fields) or the
name of any optax factory whose first argument is the learning rate (``adamw``, ``rmsprop``,
``lion``, ...), called with ``train.optimizer_args``. ``train.clip_norm`` chains
``optax.clip_by_global_norm`` over *all* groups in front of the per-group optimizers (the clip of
PyTorch's ``clip_grad_norm_`` over the whole model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import inspect

import jax
import jax.numpy as jnp
import optax

from scanflow.engine.validation import ConfigError

if TYPE_CHECKING:  # annotations only
    from scanflow.engine.config import TrainConfig

BUILTIN_OPTIMIZERS = ("sgd", "sgd_momentum", "adam")  # besides any optax factory by name


def _factory(name: str):
    fn = getattr(optax, name, None)
    if name.startswith("_") or not callable(fn) or isinstance(fn, type):
        raise ConfigError(f"train.optimizer: expected one of {list(BUILTIN_OPTIMIZERS)} or an optax optimizer "
                          f"name (e.g. adamw, rmsprop, lion), got {name!r}")
    params = list(inspect.signature(fn).parameters)
    if not params or params[0] != "learning_rate":
        raise ConfigError(f"train.optimizer: optax.{name} does not take a learning rate first; expected an optimizer "
                          f"such as adamw, rmsprop or lion")
    return fn


def group_transform(cfg: TrainConfig, lr: jax.Array, dynamic: dict | None = None) -> optax.GradientTransformation:
    """The optimizer of one group. sgd_momentum follows PyTorch: v <- mu v + g ; p <- p - lr v.
    `dynamic` holds the optimizer constants that are sweep axes (traced per run, e.g. ``momentum``);
    the others are the config's numbers."""
    args = dict(cfg.optimizer_args or {})
    c = {k: getattr(cfg, k) for k in ("momentum", "adam_b1", "adam_b2", "adam_eps")} | dict(dynamic or {})
    if cfg.optimizer == "sgd":
        return optax.sgd(lr, **args)
    if cfg.optimizer == "sgd_momentum":
        return optax.sgd(lr, momentum=c["momentum"], **args)
    if cfg.optimizer == "adam":
        return optax.adam(lr, b1=c["adam_b1"], b2=c["adam_b2"], eps=c["adam_eps"], **args)
    return _factory(cfg.optimizer)(lr, **args)


def check_optimizer(cfg: TrainConfig) -> None:
    """Build the optimizer once on the host so a bad name or keyword fails at config time."""
    try:
        tx = group_transform(cfg, 1.0)
    except ConfigError:
        raise
    except TypeError as e:
        raise ConfigError(f"train.optimizer_args: not accepted by {cfg.optimizer} ({e})") from None
    if not isinstance(tx, optax.GradientTransformation):
        raise ConfigError(f"train.optimizer: optax.{cfg.optimizer} did not return a GradientTransformation")
    params = {"w": jax.ShapeDtypeStruct((2,), jnp.float32)}
    try:  # one abstract update on a toy tree (no device touched: a multi-process run joins its cluster later):
        jax.eval_shape(lambda p: tx.update(p, tx.init(p), p), params)  # one needing more than gradients fails here
    except TypeError as e:
        raise ConfigError(f"train.optimizer: optax.{cfg.optimizer} needs more than gradients in its update "
                          f"({str(e).splitlines()[0]}); expected an optimizer that runs on gradients alone") from None


def make_optimizer(cfg: TrainConfig, lrs: dict, dynamic: dict | None = None) -> optax.GradientTransformation:
    """Partition the parameter tree by top-level key; group g gets learning rate lrs[g]."""
    transforms = {g: group_transform(cfg, lr, dynamic) for g, lr in lrs.items()}
    tx = optax.partition(transforms, lambda params: {g: g for g in params})
    if cfg.clip_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), tx)
    return tx
