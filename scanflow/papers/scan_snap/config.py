"""Scan and Snap's config sections (``data:`` and ``model:``) and its learning-rate grid.

Each dataclass validates its own fields at construction; the messages name ``data.<field>`` or
``model.<field>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.engine.config import finite, need, need_choice


@dataclass(frozen=True)
class DataConfig:
    """Scan and Snap data (spec §2), in the official `Dataset2` token layout."""

    num_last: int = 2  # L: number of query ("last") tokens
    num_next_per_last: int = 1  # J: next tokens per query, K = L * J classes
    num_common: int = 10  # C: global common tokens
    num_common_per_last: int = 0  # C_m: common tokens shared by the classes of one query
    num_unique: int = 10  # U: distinct tokens per class
    common_weight: float = 1.0  # unnormalised weight of each common token
    unique_min: float = 0.1  # distinct weights are linspace(unique_min, unique_max, U)
    unique_max: float = 1.0
    num_padding: int = 0  # extra vocabulary tokens that never occur (raise M without changing data)
    mode: str = "sampled"  # sampled (finite T, fresh batch per step) | population (T -> inf)
    seq_len: int = 128  # T: T-1 contextual tokens + the query
    batch_size: int = 128

    def __post_init__(self):
        need_choice(self.mode, "data.mode", ("sampled", "population"))
        need(self.num_last >= 1, "data.num_last", "an integer >= 1", self.num_last)
        need(self.num_next_per_last >= 1, "data.num_next_per_last", "an integer >= 1", self.num_next_per_last)
        need(self.num_common >= 0, "data.num_common", "an integer >= 0", self.num_common)
        need(self.num_common_per_last >= 0, "data.num_common_per_last", "an integer >= 0", self.num_common_per_last)
        need(self.num_unique >= 1, "data.num_unique", "at least one distinct token per class (>= 1)", self.num_unique)
        need(finite(self.common_weight) and self.common_weight > 0, "data.common_weight", "a finite positive weight",
             self.common_weight)
        need(finite(self.unique_max), "data.unique_max", "a finite number", self.unique_max)
        need(finite(self.unique_min) and 0 < self.unique_min <= self.unique_max, "data.unique_min",
             "0 < unique_min <= unique_max", self.unique_min)
        need(self.seq_len >= 2, "data.seq_len", "T >= 2 (at least one contextual token plus the query)", self.seq_len)
        need(self.batch_size >= 1, "data.batch_size", "an integer >= 1", self.batch_size)
        need(self.num_padding >= 0, "data.num_padding", "an integer >= 0", self.num_padding)


@dataclass(frozen=True)
class ModelConfig:
    """The Y/Z reparameterised model (spec §1)."""

    init: str = "zero"  # zero | uniform  (uniform(+-init_scale), PyTorch nn.Linear default)
    init_scale: float | None = None  # half-width of the uniform init; None -> 1/sqrt(M)
    init_scale_Y: float | None = None  # per-group half-width; overrides init and init_scale
    init_scale_Z: float | None = None

    def __post_init__(self):
        need_choice(self.init, "model.init", ("zero", "uniform"))
        for name in ("init_scale", "init_scale_Y", "init_scale_Z"):
            s = getattr(self, name)
            if s is not None:
                need(finite(s) and s >= 0, f"model.{name}", "a finite number >= 0", s)


# Accepted key sets of sweep.lr and the default grid: the product of lr.Y and lr.Z, or lr.Z and the
# ratio nu = eta_Y / eta_Z (the paper's Fig 6).
LR_KEYS = (("Y", "Z"), ("Z", "Y_over_Z"))
LR_DEFAULT = {"Y": [1.0], "Z": [1.0]}
DYNAMIC_MODEL_FIELDS = ("init", "init_scale", "init_scale_Y", "init_scale_Z")


def lr_grid(sweep) -> dict[str, tuple[float, ...]]:
    """Flatten the learning-rate grid to per-group tuples of equal length (one per point)."""
    lr = sweep.lr
    zs = lr["Z"]
    if "Y" in lr:
        pairs = [(y, z) for y in lr["Y"] for z in zs]
    else:
        pairs = [(nu * z, z) for z in zs for nu in lr["Y_over_Z"]]
    return {"Y": tuple(p[0] for p in pairs), "Z": tuple(p[1] for p in pairs)}


def validate(cfg) -> None:
    """Rules that span sections."""
    if cfg.train.method == "flow":
        need(cfg.data.mode == "population", "data.mode",
             "population for train.method=flow (the flow is deterministic)", cfg.data.mode)
