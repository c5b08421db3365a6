"""Scan and Snap's config sections (``data:`` and ``model:``) and its learning-rate grid.

Each dataclass validates its own fields at construction; the messages name ``data.<field>`` or
``model.<field>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scanflow.engine.config import (ConfigError, Footprint, check_types, dominant, finite, need, need_choice, need_int,
                                    need_representable, representable)


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
    unique_max: float = 1.0  # largest distinct-token weight (linspace(unique_min, unique_max))
    num_padding: int = 0  # extra vocabulary tokens that never occur (raise M without changing data)
    mode: str = "sampled"  # sampled (finite T, fresh batch per step) | population (T -> inf)
    seq_len: int = 128  # T: T-1 contextual tokens + the query
    batch_size: int = 128  # sequences per step (sampled mode)

    def __post_init__(self):
        check_types(self, "data")
        need_choice(self.mode, "data.mode", ("sampled", "population"))
        need_int(self.num_last, "data.num_last", 1)
        need_int(self.num_next_per_last, "data.num_next_per_last", 1)
        need_int(self.num_common, "data.num_common", 0)
        need_int(self.num_common_per_last, "data.num_common_per_last", 0)
        need_int(self.num_unique, "data.num_unique", 1, what="at least one distinct token per class (>= 1)")
        need(finite(self.common_weight) and self.common_weight > 0, "data.common_weight", "a finite positive weight",
             self.common_weight)
        need(finite(self.unique_max), "data.unique_max", "a finite number", self.unique_max)
        need(finite(self.unique_min) and 0 < self.unique_min <= self.unique_max, "data.unique_min",
             "0 < unique_min <= unique_max", self.unique_min)
        need_int(self.seq_len, "data.seq_len", 2, what="T >= 2 (at least one contextual token plus the query)")
        need_int(self.batch_size, "data.batch_size", 1)
        need_int(self.num_padding, "data.num_padding", 0)
        # A class's weights are normalised: their sum must be finite (else every probability is 0 or NaN).
        n_common = self.num_common + self.num_common_per_last
        total = n_common * self.common_weight + self.num_unique * (self.unique_min + self.unique_max) / 2
        if not math.isfinite(total):
            big = dominant({"data.common_weight": n_common * self.common_weight,
                            "data.unique_max": self.num_unique * self.unique_max})
            need(False, big, "weights whose sum per class is finite (the weights are normalised)", getattr(self, big[5:]))

    @property
    def K(self) -> int:
        """Classes: L * J."""
        return self.num_last * self.num_next_per_last

    @property
    def M(self) -> int:
        """Vocabulary of the official layout (`scanflow.papers.scan_snap.data.official_layout`)."""
        K = self.K
        return (self.num_common + self.num_common_per_last * self.num_last + self.num_unique * K + self.num_last + K
                + self.num_padding)

    def min_probability(self) -> float:
        """The smallest nonzero P(l|n) of the layout (float64), without building it."""
        n_common = self.num_common + self.num_common_per_last
        total = n_common * self.common_weight + self.num_unique * (self.unique_min + self.unique_max) / 2
        return min(self.unique_min, self.common_weight if n_common else math.inf) / total


@dataclass(frozen=True)
class ModelConfig:
    """The Y/Z reparameterised model (spec §1)."""

    init: str = "zero"  # zero | uniform  (uniform(+-init_scale), PyTorch nn.Linear default)
    init_scale: float | None = None  # half-width of the uniform init; None -> 1/sqrt(M)
    init_scale_Y: float | None = None  # per-group half-width; overrides init and init_scale
    init_scale_Z: float | None = None  # per-group half-width of Z; overrides init and init_scale
    # The shared-batch step's arithmetic: dense (B x M x M products) or support (each sequence's S support
    # tokens: the attention over S, the decoder product B x S x M; model.support_loss). Measured on CPU
    # (benchmarks/support_step.py): support is 0.8-1.2x dense, so dense is the default; support is for
    # accelerators, where gathers are cheap
    arithmetic: str = "dense"

    def __post_init__(self):
        check_types(self, "model")
        need_choice(self.init, "model.init", ("zero", "uniform"))
        need_choice(self.arithmetic, "model.arithmetic", ("dense", "support"))
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
    """Rules that span sections, and everything the data builder can reject (before any run directory)."""
    if cfg.train.method == "flow":
        need(cfg.data.mode == "population", "data.mode",
             "population for train.method=flow (the flow is deterministic)", cfg.data.mode)
    d = cfg.data
    p_min = d.min_probability()
    if not representable(p_min, cfg.x64):  # a token whose probability is 0 in the run's dtype is not in the support
        small = "data.unique_min" if d.unique_min <= d.common_weight or not d.num_common + d.num_common_per_last \
            else "data.common_weight"
        need_representable(p_min, small, cfg.x64, "weights whose smallest probability (weight / class total) is")
    if "Y_over_Z" in cfg.sweep.lr:  # eta_Y = nu * eta_Z must be a number of the run's dtype too
        for z in cfg.sweep.lr["Z"]:
            for nu in cfg.sweep.lr["Y_over_Z"]:
                need_representable(nu * z, "sweep.lr.Y_over_Z", cfg.x64, "learning rates eta_Y = Y_over_Z * Z")
    from scanflow.papers.scan_snap.data import from_config

    try:
        from_config(d)  # the layout's own checks (one place for each rule)
    except ValueError as e:
        raise ConfigError(f"data: {e}") from None


def footprint(cfg) -> Footprint:
    """Sizes of one run (`scanflow.engine.config.Footprint`): Y and Z are M x M; a sampled step draws B x (T-1)
    uniforms and builds B x S x M one-hot counts (S = the support of a class); a record holds K-vectors and,
    with record_attention, two K x M maps."""
    d = cfg.data
    K, M = d.K, d.M
    S = d.num_common + d.num_common_per_last + d.num_unique
    size_M = dominant({"data.num_unique": d.num_unique * K, "data.num_common": d.num_common,
                       "data.num_common_per_last": d.num_common_per_last * d.num_last, "data.num_padding": d.num_padding,
                       "data.num_last": d.num_last, "data.num_next_per_last": K})
    terms = [(12 * K * M, size_M)]  # population quantities (the recorded metrics; the loss in population mode)
    if d.mode == "sampled":  # (size, the field of its largest factor)
        B, T = d.batch_size, d.seq_len
        terms += [(B * (T - 1), "data.seq_len" if T >= B else "data.batch_size"),
                  (B * S * M + 4 * B * M, size_M if S * M > B else "data.batch_size")]
    step_terms = {}
    for size, field in terms:
        step_terms[field] = step_terms.get(field, 0) + size
    record = 8 * K + 8 + (2 * K * M if cfg.train.record_attention else 0)
    return Footprint(params=2 * M * M, step=sum(step_terms.values()), record=record, params_field=size_M,
                     step_field=dominant(step_terms), record_field="train.record_attention" if cfg.train.record_attention else "data.num_last")
