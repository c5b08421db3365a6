"""The corpus pipeline against the reference (PyTorch word_language_model) semantics, and the real-text
workload's ``data:`` section (the corpus path is a config field, loaded once and cached), on texts the
tests write themselves (CI has no corpus)."""

import os

import numpy as np
import pytest

from scanflow.papers.real_text.data import (
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
from scanflow.engine.config import ConfigError
from scanflow.papers.real_text.config import DataConfig


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


# ------------------------------------------------------------------------------- the data: config section


def test_data_path_is_required_and_checked_at_config_time(tmp_path):
    for kwargs, words in (({}, ["data.path", "corpus path", "None"]),
                          ({"path": ""}, ["data.path", "corpus path"]),
                          ({"path": str(tmp_path / "missing")}, ["data.path", "missing", "neither a text file"]),
                          ({"path": str(tmp_path)}, ["data.path", "train.txt + valid.txt"])):
        with pytest.raises(ConfigError) as e:
            DataConfig(**kwargs)
        msg = str(e.value)
        assert "\n" not in msg and "--data" not in msg and all(w in msg for w in words), msg
    f = tmp_path / "one.txt"
    f.write_text("a b\n")
    assert DataConfig(path=str(f)).path == str(f)  # one file: train and evaluate on it
    with pytest.raises(ConfigError, match="data.probe"):
        DataConfig(path=str(f), probe=11)  # more probe sequences than evaluation streams (10)
    with pytest.raises(ConfigError, match="data.batch"):
        DataConfig(path=str(f), batch=True)


def test_the_corpus_is_loaded_once_per_setting_and_again_when_the_file_changes(tmp_path):
    from scanflow.papers.real_text import workload as wl

    (tmp_path / "test.txt").write_text("a b a b c\n" * 40)
    (tmp_path / "valid.txt").write_text("a z b\n" * 800)
    d = DataConfig(path=str(tmp_path), vocab_cap=None, batch=2, bptt=4, eval_batch=2, max_valid_tokens=None,
                   probe=2)
    c = wl.corpus_of(d)
    assert wl.corpus_of(DataConfig(**{**d.__dict__})) is c  # equal settings: the cached corpus
    assert wl.corpus_of(DataConfig(**{**d.__dict__, "bptt": 3})) is not c
    assert wl._load.cache_info().maxsize is not None  # bounded
    (tmp_path / "test.txt").write_text("a b a b d\n" * 40)  # same size, new content
    st = (tmp_path / "test.txt").stat()
    os.utime(tmp_path / "test.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "d" in wl.corpus_of(d).vocab.words
    # Fig 7's probe: evaluation chunk 100, or the middle chunk of a shorter split
    assert c.valid_x.shape[0] == 399 and wl.probe_index(c) == 100
    short = wl.corpus_of(DataConfig(path=str(tmp_path), vocab_cap=None, batch=2, bptt=4, eval_batch=2,
                                    max_valid_tokens=100, probe=2))
    assert wl.probe_index(short) == short.valid_x.shape[0] // 2
