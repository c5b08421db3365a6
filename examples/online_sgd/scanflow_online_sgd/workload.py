"""Online SGD on a linear teacher, as a scanflow workload (``workload: online_sgd``).

Each step draws one fresh sample x ~ N(0, I_d), y = w*.x + sigma xi (xi ~ N(0, 1)) and takes a plain SGD
step of rate eta on (w.x - y)^2 / 2, from w_0 = 0. The teacher w* is drawn once from ``data.seed`` and
normalised to ||w*|| = 1 (`theory.teacher`): the same for every seed of a sweep, whose seeds differ in
their samples only. Recorded: ``err2`` = ||w - w*||^2 (and ``train_loss``, recorded by scanflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from scanflow.engine.config import finite, need
from scanflow.engine.workload import Problem, workload
from scanflow_online_sgd.plots import all_figures
from scanflow_online_sgd.theory import teacher


@dataclass(frozen=True)
class TeacherData:
    """The teacher: input dimension d, label noise sigma, and the seed w* is drawn from."""

    d: int = 10
    sigma: float = 0.5
    seed: int = 0

    def __post_init__(self):
        need(self.d >= 1, "data.d", "an integer >= 1", self.d)
        need(finite(self.sigma) and self.sigma >= 0, "data.sigma", "a finite number >= 0", self.sigma)
        need(self.seed >= 0, "data.seed", "an integer >= 0", self.seed)


@workload("online_sgd", lr={"w": [0.05, 0.1]}, data=TeacherData, train={"optimizer": "sgd"}, plots=all_figures,
          description="Online SGD on a Gaussian linear teacher, one fresh sample per step")
def WORKLOAD(cfg):
    d, sigma = cfg.data.d, cfg.data.sigma
    w_star = jnp.asarray(teacher(d, cfg.data.seed))

    def loss(params, key, step):
        k_x, k_xi = jax.random.split(key)
        x = jax.random.normal(k_x, (d,))
        y = x @ w_star + sigma * jax.random.normal(k_xi, ())
        return 0.5 * (x @ params["w"] - y) ** 2

    def metrics(params, rec):
        return {"err2": jnp.sum((params["w"] - w_star) ** 2)}

    return Problem(init=lambda key, hp: {"w": jnp.zeros(d)}, loss=loss, metrics=metrics)
