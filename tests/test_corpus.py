"""The corpus pipeline against the reference (PyTorch word_language_model) semantics, on texts the
tests write themselves (CI has no corpus)."""

import numpy as np
import pytest

from scanflow.data.corpus import (
    EOS,
    UNK,
    CorpusError,
    batchify,
    build_vocab,
    chunks,
    load_corpus,
    read_words,
    resolve_splits,
)


def test_read_words_adds_eos_per_line_including_blank_lines(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(" = Title = \n\n a b  c\n")
    assert read_words(f) == ["=", "Title", "=", EOS, EOS, "a", "b", "c", EOS]


def test_vocab_cap_keeps_most_frequent_and_maps_rest_to_unk():
    words = ["b", "a", "a", "c", "b", "a", "d", EOS, UNK]
    v = build_vocab(words, cap=4)
    assert v.words == (EOS, UNK, "a", "b")  # a: 3, b: 2 kept; c, d (1 each) dropped
    assert v.encode(["a", "c", "d", "b", UNK]).tolist() == [2, 1, 1, 3, 1]
    tie = build_vocab(["y", "x", "x", "y", "z"], cap=4)  # equal counts: first occurrence first
    assert tie.words == (EOS, UNK, "y", "x")
    assert build_vocab(words).size == 6  # no cap: every word
    with pytest.raises(CorpusError, match="vocab cap"):
        build_vocab(words, cap=2)


def test_batchify_and_chunks_match_the_reference_layout():
    ids = np.arange(23)
    streams = batchify(ids, 3)  # reference: data[:21].view(3, -1).t() -> column b = ids[7b : 7b + 7]
    assert streams.shape == (3, 7)
    assert streams[1].tolist() == list(range(7, 14))
    x, y = chunks(streams, 3)  # get_batch(i): x = source[i:i+3], y = source[i+1:i+4]; full chunks only
    assert x.shape == y.shape == (2, 3, 3)
    assert x[1, 2].tolist() == [17, 18, 19] and y[1, 2].tolist() == [18, 19, 20]
    np.testing.assert_array_equal(x[:, :, 1:], y[:, :, :-1])
    with pytest.raises(CorpusError, match="batch"):
        batchify(ids, 20)
    with pytest.raises(CorpusError, match="bptt"):
        chunks(streams, 7)


def test_load_corpus_vocab_from_train_only_and_split_resolution(tmp_path):
    (tmp_path / "test.txt").write_text("a b a b c\n" * 20)
    (tmp_path / "valid.txt").write_text("a z b\n" * 20)  # z is unseen in training -> <unk>
    train, valid = resolve_splits(tmp_path)
    assert (train.name, valid.name) == ("test.txt", "valid.txt")  # no train.txt: train on test.txt
    c = load_corpus(train, valid, vocab_cap=None, batch=2, bptt=4, eval_batch=2)
    assert c.vocab.words == (EOS, UNK, "a", "b", "c")
    assert c.n_train_tokens == 120 and c.train_x.shape == (14, 2, 4)
    assert set(c.vocab.decode(c.valid_x)) == {"a", "b", UNK, EOS}
    (tmp_path / "train.txt").write_text("a\n" * 10)
    assert resolve_splits(tmp_path)[0].name == "train.txt"
    assert resolve_splits(tmp_path / "valid.txt") == (tmp_path / "valid.txt",) * 2
    with pytest.raises(CorpusError, match="--data"):
        resolve_splits(tmp_path / "missing")
