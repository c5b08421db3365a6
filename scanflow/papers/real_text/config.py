"""Real text's config sections (``data:`` and ``model:``) and its learning-rate grid.

Each dataclass validates its own fields at construction; the messages name ``data.<field>`` or
``model.<field>``. The corpus path is a config field (``data.path``) and is required: a path that is
missing, or not a usable corpus directory or file, fails here with one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.engine.config import ConfigError, finite, need, need_choice
from scanflow.papers.real_text.data import CorpusError, resolve_splits

VARIANTS = ("reference", "analysed")

PATH_HELP = ("a corpus path: a directory with train.txt + valid.txt (or test.txt + valid.txt) or one text file, "
             "e.g. data.path=../shared/data/wikitext-2")


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
        need(isinstance(self.path, str) and self.path != "", "data.path", PATH_HELP, self.path)
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
    d_model: int = 64
    d_ff: int = 64
    n_layers: int = 1
    n_heads: int = 1
    ffn_lr_mult: float = 1.0

    def __post_init__(self):
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
