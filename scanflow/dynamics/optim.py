"""Optax optimizers with one learning rate per parameter group.

The groups are the top-level keys of the parameter tree. Learning rates are (traced) arrays, and
the transformation is built *inside* the traced function, so a new learning-rate value is a new
argument, not a new program (a Python float would be baked in: optax issue 577).
"""

from __future__ import annotations

import jax
import optax

from scanflow.config import TrainConfig


def group_transform(cfg: TrainConfig, lr: jax.Array) -> optax.GradientTransformation:
    """The optimizer of one group. sgd_momentum follows PyTorch: v <- mu v + g ; p <- p - lr v."""
    if cfg.optimizer == "sgd":
        return optax.sgd(lr)
    if cfg.optimizer == "sgd_momentum":
        return optax.sgd(lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return optax.adam(lr, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)
    raise ValueError(f"train.optimizer: unknown {cfg.optimizer!r}")


def make_optimizer(cfg: TrainConfig, lrs: dict) -> optax.GradientTransformation:
    """Partition the parameter tree by top-level key; group g gets learning rate lrs[g]."""
    transforms = {g: group_transform(cfg, lr) for g, lr in lrs.items()}
    return optax.partition(transforms, lambda params: {g: g for g in params})
