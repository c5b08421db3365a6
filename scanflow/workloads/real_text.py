"""The real-text experiment (Scan and Snap Figs 7 and 10): settings, presets and one entry point.

This workload is not a sampled-data `Problem` of the config engine: its data is a fixed corpus and its
trainer (`scanflow.dynamics.real_text`) is the reference's SGD loop over corpus chunks. The checks
(`scanflow.checks.real_text`) and the `sims/real_text_*.py` scripts both call `run_experiment`.

Reference (spec §5, the official `figure_7.ipynb`): emsize 200, FFN 200, 1 head, 1 layer, sinusoidal
positions, post-LN, dropout 0.3, SGD lr 5 (FFN 10), clip 0.5, batch 20, bptt 35, full vocabulary
(about 28k words on WikiText-2 train). What is shrunk here to fit 2 CPU cores (``FULL``): the
vocabulary is capped at 2000 words (the rest -> <unk>), d_model = d_ff = 64, no dropout (the causal
model has none), one shared rate eta for every group (Fig 10's "one shared learning rate"), the
evaluation set is cut to its first ``max_valid_tokens`` tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scanflow.data.corpus import Corpus, load_corpus, resolve_splits
from scanflow.dynamics.real_text import TrainSpec, train_sweep
from scanflow.models.causal import CausalSpec


@dataclass(frozen=True)
class RealTextSettings:
    vocab_cap: int = 2000
    batch: int = 20
    bptt: int = 35
    eval_batch: int = 10
    max_valid_tokens: int | None = 60_000
    d_model: int = 64
    d_ff: int = 64
    n_layers: int = 1
    n_heads: int = 1
    variant: str = "reference"  # "reference" | "analysed"
    steps: int = 1500
    record_every: int = 50
    seeds: int = 3
    lrs: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    clip: float | None = 0.5
    ffn_lr_mult: float = 1.0
    probe: int = 4  # evaluation sequences whose lowest-layer attention is recorded
    root_seed: int = 0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, got {self.variant!r}")

    def model(self, vocab: int) -> CausalSpec:
        if self.variant == "reference":  # sinusoidal PE, post-LN residual, FFN (the notebook's model)
            return CausalSpec(vocab=vocab, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                              d_ff=self.d_ff, norm="post", pos="sinusoidal", max_len=self.bptt)
        # the analysed model: no positions, no FFN, no residual, no LN, l2-normalised attention output
        return CausalSpec(vocab=vocab, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                          d_ff=0, norm="none", residual=False, pos="none", l2_attn_out=True, max_len=self.bptt)

    def train_spec(self, vocab: int) -> TrainSpec:
        return TrainSpec(self.model(vocab), steps=self.steps, record_every=self.record_every, clip=self.clip,
                         ffn_lr_mult=self.ffn_lr_mult, n_seeds=self.seeds)

    def describe(self) -> str:
        model = ("sinusoidal PE, post-LN, FFN d_ff=%d" % self.d_ff) if self.variant == "reference" else (
            "analysed variant: no PE, no FFN, no residual/LN, l2-normalised attention output")
        return (f"{self.n_layers}-layer causal transformer ({model}), d_model={self.d_model}, {self.n_heads} head(s), "
                f"vocab cap {self.vocab_cap}, batch {self.batch} x bptt {self.bptt}, SGD (clip {self.clip}) "
                f"eta in {list(self.lrs)}, {self.seeds} seeds, {self.steps} steps")


VARIANTS = ("reference", "analysed")

FULL = RealTextSettings()
# The test-suite form: a small model on a small text (the test writes it), same code path.
QUICK = RealTextSettings(vocab_cap=200, batch=8, bptt=16, eval_batch=4, max_valid_tokens=4000, d_model=32, d_ff=32,
                         steps=300, record_every=25, probe=2)


def corpus_for(settings: RealTextSettings, data: str | Path) -> Corpus:
    train, valid = resolve_splits(data)
    return load_corpus(train, valid, settings.vocab_cap, settings.batch, settings.bptt, settings.eval_batch,
                       settings.max_valid_tokens)


def run_experiment(settings: RealTextSettings, data: str | Path, log=None) -> tuple[dict, Corpus]:
    """Load the corpus, train the (eta x seed) sweep in one vmapped program; return (arrays, corpus)."""
    corpus = corpus_for(settings, data)
    spec = settings.train_spec(corpus.vocab.size)
    probe_QxT = corpus.valid_x[min(100, len(corpus.valid_x) // 2), : settings.probe]  # Fig 7 showed chunk 100
    out = train_sweep(spec, np.asarray(settings.lrs), corpus.train_x, corpus.train_y, corpus.valid_x,
                      corpus.valid_y, probe_QxT, root_seed=settings.root_seed, log=log)
    return out, corpus


def replace(settings: RealTextSettings, **kw) -> RealTextSettings:
    return dataclasses.replace(settings, **kw)
