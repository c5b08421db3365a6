"""A plain-text corpus as word tokens, batched the way PyTorch's word_language_model does.

Reference: pytorch/examples `word_language_model` (`data.py` Corpus.tokenize, `main.py` batchify and
get_batch). Each line is split on whitespace and gets an ``<eos>`` token (WikiText is already
space-tokenised; blank lines become a lone ``<eos>``, as in the reference). The vocabulary is built
from the training file: the ``cap - 2`` most frequent words (ties broken by first occurrence), plus
``<eos>`` and ``<unk>``; every other word maps to ``<unk>``. A corpus with fewer distinct words than
the cap keeps all of them.

``batchify`` cuts the token stream into B contiguous streams (dropping the remainder), and
``chunks`` cuts those into (x, y) pairs of bptt tokens with y = x shifted by one, in the reference's
order (chunk i holds stream positions [i*bptt, i*bptt + bptt)). The reference's last, shorter chunk
is dropped so that every chunk has the same shape (one compiled program).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scanflow.engine.validation import OneLineError

EOS = "<eos>"
UNK = "<unk>"


class CorpusError(OneLineError):
    """A corpus path or size that cannot be used (one-line message naming the problem)."""


def read_words(path: str | Path) -> list[str]:
    """Word tokens of a text file: each line's whitespace-split words, then ``<eos>``."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"corpus file {p} not found")
    words: list[str] = []
    with p.open(encoding="utf-8") as f:
        for line in f:
            words.extend(line.split())
            words.append(EOS)
    return words


@dataclass(frozen=True)
class Vocab:
    """Word <-> id. ``<unk>`` absorbs every word outside the cap."""

    words: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def unk(self) -> int:
        return self.words.index(UNK)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, words: list[str]) -> np.ndarray:
        idx, unk = self.index(), self.unk
        return np.fromiter((idx.get(w, unk) for w in words), dtype=np.int32, count=len(words))

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in np.asarray(ids).ravel()]


def build_vocab(words: list[str], cap: int | None = None) -> Vocab:
    """Most frequent words first (ties: first occurrence); ``<eos>`` and ``<unk>`` always present."""
    if cap is not None and cap < 3:
        raise CorpusError(f"vocab cap: expected an integer >= 3, got {cap}")
    counts = Counter(w for w in words if w not in (EOS, UNK))
    # Counter.most_common is stable for equal counts (insertion order = first occurrence)
    ranked = [w for w, _ in counts.most_common()]
    keep = ranked if cap is None else ranked[: cap - 2]
    return Vocab(tuple([EOS, UNK, *keep]))


def batchify(ids_N: np.ndarray, batch: int) -> np.ndarray:
    """B contiguous streams (batch-first, B x N//B); the reference's ``batchify`` transposed."""
    n = len(ids_N) // batch
    if n < 2:
        raise CorpusError(f"batch: {batch} streams need at least {2 * batch} tokens, the corpus has {len(ids_N)}")
    return np.asarray(ids_N[: n * batch]).reshape(batch, n)


def chunks(streams_BxN: np.ndarray, bptt: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) chunks as the reference's ``get_batch``: x_CxBxT, y_CxBxT with y = next token of x.

    Only full chunks are kept (C = (N - 1) // bptt).
    """
    B, N = streams_BxN.shape
    C = (N - 1) // bptt
    if C < 1:
        raise CorpusError(f"bptt: {bptt} needs streams of at least {bptt + 1} tokens, they have {N}")
    x = streams_BxN[:, : C * bptt].reshape(B, C, bptt).transpose(1, 0, 2)
    y = streams_BxN[:, 1 : C * bptt + 1].reshape(B, C, bptt).transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


@dataclass(frozen=True)
class Corpus:
    """Training and evaluation chunks over one vocabulary built from the training file."""

    vocab: Vocab
    train_x: np.ndarray  # C x B x T
    train_y: np.ndarray
    valid_x: np.ndarray  # C' x B' x T
    valid_y: np.ndarray
    train_path: str
    valid_path: str
    n_train_tokens: int
    n_valid_tokens: int
    unk_rate_train: float  # share of training tokens mapped to <unk> (incl. the corpus's own <unk>)


def load_corpus(
    train_path: str | Path,
    valid_path: str | Path,
    vocab_cap: int | None,
    batch: int,
    bptt: int,
    eval_batch: int = 10,
    max_valid_tokens: int | None = None,
) -> Corpus:
    """Tokenise both files, build the vocabulary on the training file, batch and chunk both.

    ``max_valid_tokens`` keeps only the first tokens of the evaluation file (to bound eval time).
    """
    for name, v in (("batch", batch), ("bptt", bptt), ("eval_batch", eval_batch)):
        if int(v) < 1:
            raise CorpusError(f"{name}: expected a positive integer, got {v}")
    train_words = read_words(train_path)
    valid_words = read_words(valid_path)
    if max_valid_tokens is not None:
        valid_words = valid_words[:max_valid_tokens]
    vocab = build_vocab(train_words, vocab_cap)
    train_ids = vocab.encode(train_words)
    valid_ids = vocab.encode(valid_words)
    tx, ty = chunks(batchify(train_ids, batch), bptt)
    vx, vy = chunks(batchify(valid_ids, eval_batch), bptt)
    return Corpus(
        vocab, tx, ty, vx, vy, str(train_path), str(valid_path), len(train_ids), len(valid_ids),
        float(np.mean(train_ids == vocab.unk)),
    )


def resolve_splits(data: str | Path) -> tuple[Path, Path]:
    """A data directory or file -> (train file, eval file).

    A directory with ``train.txt`` and ``valid.txt`` uses them. A directory without ``train.txt``
    (like a WikiText-2 copy that has only the validation and test splits) trains on
    ``test.txt`` and evaluates on ``valid.txt``, as its README says. A single file is used for both.
    """
    p = Path(data)
    if p.is_file():
        return p, p
    if not p.is_dir():
        raise CorpusError(f"--data: {p} is neither a text file nor a directory")
    if (p / "train.txt").is_file() and (p / "valid.txt").is_file():
        return p / "train.txt", p / "valid.txt"
    if (p / "test.txt").is_file() and (p / "valid.txt").is_file():
        return p / "test.txt", p / "valid.txt"
    raise CorpusError(f"--data: {p} needs train.txt + valid.txt (or test.txt + valid.txt)")
