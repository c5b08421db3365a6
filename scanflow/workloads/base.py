"""The interface between a workload (data + model + measurements) and the dynamics."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax


class Problem(NamedTuple):
    """Pure functions for one seed at one hyperparameter point.

    init(key, hp) -> params          params: pytree whose top-level keys are the lr groups
    loss(params, key) -> scalar      training objective of one step (key draws the batch)
    metrics(params) -> dict          small pytree of statistics recorded every k steps
    flow_loss(params) -> scalar      deterministic objective for gradient flow (or None)
    metric_dims: name -> extra axis names of each metric (beyond point, seed, record)
    coords: axis name -> coordinate values (e.g. token labels)
    """

    init: Callable[[jax.Array, dict], Any]
    loss: Callable[[Any, jax.Array], jax.Array]
    metrics: Callable[[Any], dict]
    flow_loss: Callable[[Any], jax.Array] | None
    metric_dims: dict
    coords: dict
    info: dict
