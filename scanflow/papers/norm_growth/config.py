"""Norm growth's config sections (``data:`` and ``model:``) and its learning-rate grid.

``data`` is a toy task of `scanflow.papers.norm_growth.data` (a fresh batch every step); ``model`` is
the `scanflow.models.causal` transformer (its vocabulary and context length come from the data).
Each dataclass validates its own fields at construction; the messages name ``data.<field>`` or
``model.<field>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.engine.config import Footprint, SEED_LIMIT, check_types, dominant, finite, need, need_choice, need_int
from scanflow.papers.norm_growth.data import TASKS


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class DataConfig:
    """A toy next-token task (norm-growth spec §5 C8, C10): a fresh batch of ``batch`` sequences every step.

    ``loss``, ``acc`` and the figures use a fixed evaluation batch of ``eval_batch`` sequences drawn from
    ``eval_seed`` (the same for every seed and point of a sweep)."""

    task: str = "running_max"  # running_max (y_t = max x_<=t) | majority (y_t = 1[#1 > #0 in x_<=t])
    seq_len: int = 10  # T
    vocab: int = 32  # input vocabulary (majority: 2)
    batch: int = 64  # training sequences per step
    eval_batch: int = 256  # fixed evaluation sequences (recorded loss and accuracy)
    eval_seed: int = 12345  # seed of the fixed evaluation batch

    def __post_init__(self):
        check_types(self, "data")
        need_choice(self.task, "data.task", TASKS)
        need(_int(self.seq_len) and self.seq_len >= 1, "data.seq_len", "an integer >= 1", self.seq_len)
        need(_int(self.vocab) and self.vocab >= 2, "data.vocab", "an integer >= 2", self.vocab)
        if self.task == "majority":
            need(self.vocab == 2, "data.vocab", "2 for the majority task (binary tokens)", self.vocab)
        need(_int(self.batch) and self.batch >= 1, "data.batch", "an integer >= 1", self.batch)
        need(_int(self.eval_batch) and self.eval_batch >= 1, "data.eval_batch", "an integer >= 1", self.eval_batch)
        need_int(self.eval_seed, "data.eval_seed", 0, SEED_LIMIT)


@dataclass(frozen=True)
class ModelConfig:
    """The causal transformer (`scanflow.models.causal.CausalSpec`, vocab and max_len from the data).

    ``init_scale`` multiplies every initial weight; ``qk_scale`` further multiplies W_Q, W_K and their
    biases at init (0: every head is a mean head, a point GD and Adam never leave). Both are dynamic
    (vmapped arrays: a new value never recompiles). ``record_params`` records the flattened parameters
    at every record (axis ``param``), from which the direction cosines C_next, C_2x, C_final follow."""

    d_model: int = 16  # width of the residual stream
    n_heads: int = 1  # attention heads per layer (d_model divisible by it)
    n_layers: int = 1  # transformer layers
    d_ff: int = 0  # 0 = no FFN block
    norm: str = "post"  # post | pre | none
    final_norm: bool = False  # a LayerNorm before the decoder
    pos: str = "none"  # none | learned | sinusoidal
    bias: bool = True  # biases in every linear map
    residual: bool = True  # residual connections around attention and FFN
    scale_scores: bool = True  # divide attention scores by sqrt(d_head)
    scale_embed: bool = True  # multiply the embedding by sqrt(d_model)
    mask: str = "neg_inf"  # neg_inf | multiply (the official code's artefact)
    tie_decoder: bool = False  # the decoder is the transposed embedding
    init_scale: float = 1.0  # multiplies every initial weight (dynamic)
    qk_scale: float = 1.0  # further multiplies W_Q, W_K and their biases at init (dynamic)
    record_params: bool = True  # record the flattened parameters (axis param) at every record

    def __post_init__(self):
        check_types(self, "model")
        for name in ("d_model", "n_heads", "n_layers"):
            v = getattr(self, name)
            need(_int(v) and v >= 1, f"model.{name}", "an integer >= 1", v)
        need(_int(self.d_ff) and self.d_ff >= 0, "model.d_ff", "an integer >= 0 (0: no FFN)", self.d_ff)
        need(self.d_model % self.n_heads == 0, "model.n_heads", f"a divisor of model.d_model={self.d_model}",
             self.n_heads)
        need_choice(self.norm, "model.norm", ("post", "pre", "none"))
        need_choice(self.pos, "model.pos", ("none", "learned", "sinusoidal"))
        need_choice(self.mask, "model.mask", ("neg_inf", "multiply"))
        for name in ("final_norm", "bias", "residual", "scale_scores", "scale_embed", "tie_decoder", "record_params"):
            v = getattr(self, name)
            need(isinstance(v, bool), f"model.{name}", "true or false", v)
        need(finite(self.init_scale) and self.init_scale > 0, "model.init_scale", "a finite positive number",
             self.init_scale)
        need(finite(self.qk_scale) and self.qk_scale >= 0, "model.qk_scale", "a finite number >= 0", self.qk_scale)


# sweep.lr: one rate eta for every parameter group (embed, attn, ffn, norm, decoder).
LR_KEYS = (("eta",),)
LR_DEFAULT = {"eta": [1e-2]}
DYNAMIC_MODEL_FIELDS = ("init_scale", "qk_scale")


def causal_sizes(V: int, D: int, H: int, layers: int, F: int, T: int, B: int, E: int, learned_pos: bool = False,
                 tie: bool = False) -> tuple[int, int, int]:
    """(parameters, training-step activations, evaluation activations) of `scanflow.models.causal` at
    vocabulary V, width D, H heads, `layers` layers, FFN width F, T positions, B training and E evaluation
    sequences: embeddings and decoder V x D, 4 D x D attention and 2 D x F FFN weights per layer; a step holds
    B x T x V logits (and their gradient) and per layer B x T x (several D + F) activations and B x H x T x T
    attention weights."""
    params = V * D * (1 if tie else 2) + V + layers * (4 * D * D + 2 * D * F + 12 * D + F) + (T * D if learned_pos else 0)
    per_seq = T * (2 * V + layers * (8 * D + 2 * F + 2 * H * T))
    return params, B * per_seq, E * per_seq


def footprint(cfg) -> Footprint:
    """Sizes of one run (`scanflow.engine.config.Footprint`); with record_params a record holds every parameter."""
    d, m = cfg.data, cfg.model
    params, train, evaluation = causal_sizes(d.vocab, m.d_model, m.n_heads, m.n_layers, m.d_ff, d.seq_len, d.batch,
                                             d.eval_batch, m.pos == "learned", m.tie_decoder)
    batch_field = "data.batch" if train >= evaluation else "data.eval_batch"
    step_field = dominant({batch_field: max(d.batch, d.eval_batch), "data.seq_len": d.seq_len,
                           "data.vocab": d.vocab, "model.d_model": m.d_model})
    params_field = dominant({"model.d_model": m.d_model * (d.vocab + m.n_layers * m.d_model), "data.vocab": d.vocab * m.d_model,
                             "model.n_layers": m.n_layers * m.d_model * m.d_model, "model.d_ff": m.n_layers * m.d_ff * m.d_model})
    return Footprint(params=params, step=max(train, evaluation), record=16 + (params if m.record_params else 0),
                     params_field=params_field, step_field=step_field,
                     record_field="model.record_params" if m.record_params else "train.record_every")
