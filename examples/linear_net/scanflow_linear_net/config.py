"""The ``data:`` and ``model:`` sections of the linear-net workload, and its learning-rate grid.

Each dataclass is frozen (configs are hashed to pick a compiled program) and validates its own
fields in ``__post_init__`` with scanflow's `need`, so a bad value is one line naming
``data.<field>`` or ``model.<field>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scanflow.engine.config import ConfigError, finite, need, need_choice


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class DataConfig:
    """Whitened regression (Sigma_xx = I) onto the target map Sigma_yx = U diag(s) V^T.

    ``singular_values`` is a list s_1, ..., s_r (r <= min(input_dim, output_dim)); U (output_dim x r)
    and V (input_dim x r) have orthonormal columns: the first r coordinate axes (``basis: identity``)
    or drawn once from ``seed`` (``basis: random``; the same map for every seed of a sweep).
    """

    input_dim: int = 6  # d
    output_dim: int = 5  # o
    # s_alpha; `Any` because scanflow's parser has no list type: checked and made a tuple below
    singular_values: Any = (3.0, 2.0, 1.0, 0.5)
    basis: str = "random"  # random | identity
    seed: int = 0  # draws U and V when basis = random

    def __post_init__(self):
        need(_int(self.input_dim) and self.input_dim >= 1, "data.input_dim", "an integer >= 1", self.input_dim)
        need(_int(self.output_dim) and self.output_dim >= 1, "data.output_dim", "an integer >= 1", self.output_dim)
        sv = self.singular_values
        need(isinstance(sv, (list, tuple)) and len(sv) >= 1, "data.singular_values",
             "a non-empty list of positive numbers", sv)
        values = []
        for i, s in enumerate(sv):
            x = float(s) if isinstance(s, str) and _is_float(s) else s  # YAML reads 1e-3 as a string
            need(finite(x) and x > 0, f"data.singular_values[{i}]", "a finite positive number", s)
            values.append(float(x))
        r = len(values)
        need(r <= min(self.input_dim, self.output_dim), "data.singular_values",
             f"at most min(input_dim, output_dim) = {min(self.input_dim, self.output_dim)} values", list(sv))
        object.__setattr__(self, "singular_values", tuple(values))
        need_choice(self.basis, "data.basis", ("random", "identity"))
        need(_int(self.seed) and self.seed >= 0, "data.seed", "an integer >= 0", self.seed)

    @property
    def rank(self) -> int:
        return len(self.singular_values)


@dataclass(frozen=True)
class ModelConfig:
    """y = W2 W1 x with W1: hidden_dim x input_dim and W2: output_dim x hidden_dim.

    init (static: picks the program):
      * ``decoupled``: Saxe et al.'s aligned balanced init W1 = R diag(sqrt a0) V^T, W2 = U diag(sqrt a0) R^T
        (R: hidden_dim x r, orthonormal columns, random per seed): every mode starts at strength a0 and
        evolves on its own; needs hidden_dim >= r;
      * ``balanced``: a random small balanced init (Arora et al. 2018): a Gaussian end-to-end map
        M = init_scale * G (entries N(0, init_scale^2)) with SVD P S Q^T, W1 = R S^1/2 Q^T, W2 = P S^1/2 R^T
        (truncated to rank min(hidden, input, output)), so W1 W1^T = W2^T W2 exactly;
      * ``random``: independent Gaussian factors, entries N(0, init_scale / sqrt(hidden_dim)), so the
        end-to-end map has entries of standard deviation init_scale; not balanced.
    init_scale (dynamic: a new value never recompiles): the size of the initial end-to-end map W2 W1,
    i.e. a0 for ``decoupled`` and the entry scale of W2 W1 for ``balanced`` / ``random``.
    """

    hidden_dim: int = 4  # h
    init: str = "decoupled"  # decoupled | balanced | random
    init_scale: float = 1e-3

    def __post_init__(self):
        need(_int(self.hidden_dim) and self.hidden_dim >= 1, "model.hidden_dim", "an integer >= 1", self.hidden_dim)
        need_choice(self.init, "model.init", ("decoupled", "balanced", "random"))
        need(finite(self.init_scale) and self.init_scale > 0, "model.init_scale",
             "a finite positive number (0 is a saddle point that gradient flow never leaves)", self.init_scale)


# sweep.lr: one rate eta for both layers, or a grid over each layer's rate (the product of the lists).
LR_KEYS = (("eta",), ("W1", "W2"))
LR_DEFAULT = {"eta": [0.05]}
DYNAMIC_MODEL_FIELDS = ("init_scale",)
GROUPS = ("W1", "W2")


def lr_grid(lr: dict) -> dict[str, tuple[float, ...]]:
    """Per-group rates per grid point: {W1: (P,), W2: (P,)}."""
    if "eta" in lr:
        return {"W1": tuple(lr["eta"]), "W2": tuple(lr["eta"])}
    pairs = [(a, b) for a in lr["W1"] for b in lr["W2"]]
    return {"W1": tuple(p[0] for p in pairs), "W2": tuple(p[1] for p in pairs)}


def validate(cfg) -> None:
    """Rules that span sections."""
    if cfg.model.init == "decoupled":
        need(cfg.model.hidden_dim >= cfg.data.rank, "model.hidden_dim",
             f"at least the number of singular values ({cfg.data.rank}) for init: decoupled (one hidden unit per mode)",
             cfg.model.hidden_dim)


def _is_float(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


__all__ = ["ConfigError", "DataConfig", "DYNAMIC_MODEL_FIELDS", "GROUPS", "LR_DEFAULT", "LR_KEYS", "ModelConfig",
           "lr_grid", "validate"]
