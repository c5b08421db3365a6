"""Real text's config sections (``data:`` and ``model:``) and its learning-rate grid.

Each dataclass validates its own fields at construction; the messages name ``data.<field>`` or
``model.<field>``. The corpus path is a config field (``data.path``) and is required: a path that is
missing, or not a usable corpus directory or file, fails here with one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.engine.config import ConfigError, Footprint, check_types, dominant, finite, need, need_choice, need_representable
from scanflow.papers.real_text.data import CorpusError, resolve_splits

VARIANTS = ("reference", "analysed")

PATH_HELP = ("a corpus path: a directory with train.txt + valid.txt (or test.txt + valid.txt) or one text file, "
             "e.g. data.path=data/wikitext-2")


def _int(value, path: str, lo: int, what: str | None = None) -> None:
    need(isinstance(value, int) and not isinstance(value, bool) and value >= lo, path,
         what or f"an integer >= {lo}", value)


@dataclass(frozen=True)
class DataConfig:
    """A word-level corpus, batched as PyTorch's word_language_model (`scanflow.papers.real_text.data`).

    Training uses chunk ``step mod C`` of the batchified training split (no shuffling); the
    evaluation split (its first ``max_valid_tokens`` tokens) gives the recorded attention entropy
    and loss; ``probe`` sequences of evaluation chunk min(100, C'/2) give the recorded attention maps.
    """

    path: str | None = None  # required: corpus directory (train.txt|test.txt + valid.txt) or one text file
    vocab_cap: int | None = 2000  # most frequent training words kept (the rest -> <unk>); null: all
    batch: int = 20  # B training streams
    bptt: int = 35  # T tokens per chunk
    eval_batch: int = 10  # evaluation streams
    max_valid_tokens: int | None = 60_000  # first tokens of the evaluation split kept; null: all
    probe: int = 4  # evaluation sequences whose lowest-layer attention is recorded

    def __post_init__(self):
        check_types(self, "data")
        need(isinstance(self.path, str) and self.path != "" and "\0" not in self.path, "data.path", PATH_HELP, self.path)
        try:
            resolve_splits(self.path)
        except CorpusError as e:
            raise ConfigError(f"data.path: {_strip_flag(str(e))}") from None
        if self.vocab_cap is not None:
            _int(self.vocab_cap, "data.vocab_cap", 3, "an integer >= 3 (<eos>, <unk> and a word) or null")
        _int(self.batch, "data.batch", 1)
        _int(self.bptt, "data.bptt", 1)
        _int(self.eval_batch, "data.eval_batch", 1)
        if self.max_valid_tokens is not None:
            _int(self.max_valid_tokens, "data.max_valid_tokens", 2, "an integer >= 2 or null (the whole split)")
        _int(self.probe, "data.probe", 1)
        need(self.probe <= self.eval_batch, "data.probe", f"at most data.eval_batch={self.eval_batch} sequences",
             self.probe)


def _strip_flag(message: str) -> str:
    """data.py's messages name the CLI flag (``--data: ...``); here the field is data.path."""
    return message[len("--data: "):] if message.startswith("--data: ") else message


@dataclass(frozen=True)
class ModelConfig:
    """The causal transformer (`scanflow.models.causal`).

    ``reference``: the notebook's model (sinusoidal positions, post-LN residual, an FFN of width
    d_ff). ``analysed``: the variant the theory assumes (no positions, no FFN, no residual or LN,
    l2-normalised attention output; d_ff is ignored). ``ffn_lr_mult`` (dynamic: a new value never
    recompiles) multiplies the FFN group's learning rate (the notebook used 2).
    """

    variant: str = "reference"  # reference | analysed
    d_model: int = 64  # width of the residual stream
    d_ff: int = 64  # width of the FFN block
    n_layers: int = 1  # transformer layers
    n_heads: int = 1  # attention heads per layer
    ffn_lr_mult: float = 1.0  # the FFN group's rate is eta * ffn_lr_mult (reference variant; dynamic)

    def __post_init__(self):
        check_types(self, "model")
        need_choice(self.variant, "model.variant", VARIANTS)
        _int(self.d_model, "model.d_model", 1)
        _int(self.d_ff, "model.d_ff", 1)
        _int(self.n_layers, "model.n_layers", 1)
        _int(self.n_heads, "model.n_heads", 1)
        need(self.d_model % self.n_heads == 0, "model.n_heads", f"a divisor of model.d_model={self.d_model}",
             self.n_heads)
        need(finite(self.ffn_lr_mult) and self.ffn_lr_mult >= 0, "model.ffn_lr_mult", "a finite number >= 0",
             self.ffn_lr_mult)


# sweep.lr: one shared SGD rate eta for every group (Fig 10), the FFN group's times model.ffn_lr_mult.
LR_KEYS = (("eta",),)
LR_DEFAULT = {"eta": [1.0, 2.0, 3.0, 4.0, 5.0]}
DYNAMIC_MODEL_FIELDS = ("ffn_lr_mult",)

# The small setting (``scanflow verify real-text --quick``, ``sims/real_text_figs.py --quick``, the tests):
# dotted overrides of configs/real_text*.yaml, a small model on a small vocabulary, the same code path.
QUICK = ("data.vocab_cap=200", "data.batch=8", "data.bptt=16", "data.eval_batch=4", "data.max_valid_tokens=4000",
         "data.probe=2", "model.d_model=32", "model.d_ff=32", "train.steps=300", "train.record_every=25")


def path_override(path) -> str:
    """``data.path=...`` as a dotted override, quoted so that any path stays a string."""
    import json

    return f"data.path={json.dumps(str(path))}"


def validate(cfg) -> None:
    """Rules that span sections, and a corpus that cannot be batched (one line, at config time)."""
    need(cfg.train.method == "sgd", "train.method", "sgd (the corpus is read in chunks; no gradient flow)",
         cfg.train.method)
    from scanflow.papers.real_text.workload import corpus_of

    try:
        corpus_of(cfg.data)  # cached: the build reuses it
    except CorpusError as e:
        raise ConfigError(f"data: {_strip_flag(str(e))} (corpus {cfg.data.path})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"data.path: expected UTF-8 text, got undecodable bytes in {cfg.data.path}") from None
    if cfg.model.variant == "reference":  # the FFN group's rate eta * ffn_lr_mult is a number of the run's dtype too
        for eta in cfg.sweep.lr["eta"]:
            need_representable(eta * cfg.model.ffn_lr_mult, "model.ffn_lr_mult", cfg.x64,
                               "an FFN learning rate eta * ffn_lr_mult")


def causal_sizes(V: int, D: int, H: int, layers: int, F: int, T: int, B: int, E: int) -> tuple[int, int, int]:
    """(parameters, training-step activations, evaluation activations) of `scanflow.models.causal` at
    vocabulary V, width D, H heads, `layers` layers, FFN width F, T positions, B training and E evaluation
    sequences (as norm_growth's `causal_sizes`; papers do not import each other)."""
    params = 2 * V * D + V + layers * (4 * D * D + 2 * D * F + 12 * D + F)
    per_seq = T * (2 * V + layers * (8 * D + 2 * F + 2 * H * T))
    return params, B * per_seq, E * per_seq


def footprint(cfg) -> Footprint:
    """Sizes of one run (`scanflow.engine.config.Footprint`): the causal transformer at the corpus's vocabulary
    (data.vocab_cap + 2, or the corpus's when null; read from the cached corpus), a B x bptt training chunk, the
    evaluation chunks one at a time, a record with the probe's attention maps (probe x bptt x bptt)."""
    from scanflow.papers.real_text.data import CorpusError

    d, m = cfg.data, cfg.model
    V = d.vocab_cap + 2 if d.vocab_cap is not None else 0
    if d.vocab_cap is None:
        from scanflow.papers.real_text.workload import corpus_of

        try:
            V = corpus_of(d).vocab.size
        except (CorpusError, UnicodeDecodeError, OSError):
            V = 1  # validate() names the problem
    F = m.d_ff if m.variant == "reference" else 0
    params, train, evaluation = causal_sizes(V, m.d_model, m.n_heads, m.n_layers, F, d.bptt, d.batch, d.eval_batch)
    vocab_field = "data.vocab_cap"
    return Footprint(params=params, step=max(train, evaluation), record=d.probe * d.bptt * d.bptt + m.n_layers + 4,
                     params_field=dominant({"model.d_model": m.d_model * m.d_model * m.n_layers, vocab_field: V,
                                            "model.d_ff": F * m.n_layers}),
                     step_field=dominant({"data.batch" if train >= evaluation else "data.eval_batch": max(d.batch, d.eval_batch),
                                          "data.bptt": d.bptt, vocab_field: V}),
                     record_field=dominant({"data.probe": d.probe, "data.bptt": d.bptt * d.bptt}))
