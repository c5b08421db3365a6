"""Scan and Snap data: the official layout (spec §2), the sampler, and the class-spec invariants."""

import jax
import numpy as np
import pytest

from scanflow.papers.scan_snap.data import ClassSpec, official_layout, sample_batch, sample_sequences, to_counts
from scanflow.papers.scan_snap.measure import distinct_entropy_K
from scanflow.papers.scan_snap.model import attention_KxM


def test_syn_small_layout_matches_spec():
    spec = official_layout(num_last=2, num_next_per_last=1, num_common=10, num_common_per_last=0, num_unique=10)
    assert (spec.K, spec.M) == (2, 34)  # spec §2: M = 34, not the paper's 30
    # common: 1/15.5 each; distinct i: 0.1 i / 15.5 (i = 1..10)
    np.testing.assert_allclose(spec.probs_KxM[0, :10], 1 / 15.5, rtol=1e-12)
    np.testing.assert_allclose(spec.probs_KxM[0, 10:20], 0.1 * np.arange(1, 11) / 15.5, rtol=1e-12)
    np.testing.assert_allclose(spec.probs_KxM[1, 20:30], 0.1 * np.arange(1, 11) / 15.5, rtol=1e-12)
    assert spec.probs_KxM[0, 20:].sum() == 0 and spec.probs_KxM[1, 10:20].sum() == 0
    assert list(spec.query_K) == [30, 31] and list(spec.target_K) == [32, 33]
    assert spec.common_M[:10].all() and not spec.common_M[10:].any()
    assert spec.distinct_KxM[0].sum() == 10 and spec.distinct_KxM[0, 10:20].all()


@pytest.mark.parametrize("L,M", [(1, 33), (3, 79), (5, 125), (10, 240)])
def test_syn_medium_vocab_sizes(L, M):
    spec = official_layout(num_last=L, num_next_per_last=2, num_common=10, num_common_per_last=0, num_unique=10)
    assert spec.M == M and spec.K == 2 * L
    # each query serves two targets: psi^-1(m) has size 2
    assert np.all(np.bincount(spec.query_K) [spec.query_K.min():] == 2)


def test_per_query_common_tokens_are_common():
    spec = official_layout(num_last=2, num_next_per_last=2, num_common=3, num_common_per_last=2, num_unique=4)
    # tokens 3..4 are shared by the two classes of query 0, 5..6 by those of query 1
    assert spec.common_M[3:7].all()
    assert (spec.probs_KxM[:2, 3:5] > 0).all() and (spec.probs_KxM[2:, 3:5] == 0).all()


def test_initial_distinct_entropy():
    """Spec §2: with z = 0 the distinct-token entropy is H(i/55, i = 1..10) = 2.1513."""
    spec = official_layout()
    c = attention_KxM(np.zeros((spec.M, spec.M)), spec)
    expected = -np.sum((np.arange(1, 11) / 55) * np.log(np.arange(1, 11) / 55))
    np.testing.assert_allclose(np.asarray(distinct_entropy_K(c, spec)), expected, rtol=1e-12)
    assert abs(expected - 2.1513) < 1e-4


def test_sampler_frequencies_within_lemma18_bound():
    """Empirical token frequencies of each sampled sequence lie within sqrt(ln(2/delta)/(2(T-1)))
    of P(l|n) (Hoeffding, Lemma 18) for all but ~delta of the (sequence, token) pairs."""
    spec = official_layout()
    T, B, delta = 1024, 64, 0.01
    batch = sample_sequences(jax.random.PRNGKey(0), spec, B, T)
    ctx, q, y = map(np.asarray, (batch.context_BxT1, batch.query_B, batch.label_B))
    cls = y - spec.target_K[0]
    assert np.array_equal(spec.query_K[cls], q)  # the query is psi(n)
    freq = np.stack([np.bincount(row, minlength=spec.M) / (T - 1) for row in ctx])
    dev = np.abs(freq - spec.probs_KxM[cls])
    bound = np.sqrt(np.log(2 / delta) / (2 * (T - 1)))
    frac_out = (dev[spec.probs_KxM[cls] > 0] > bound).mean()
    assert frac_out <= delta
    assert (freq[spec.probs_KxM[cls] == 0] == 0).all()  # never a token outside the support
    # classes are uniform: both appear, with a binomial(64, 1/2) count
    assert 16 <= (cls == 0).sum() <= 48


def test_class_spec_rejects_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        ClassSpec(np.array([[0.5, 0.2, 0.0]]), np.array([2]), np.array([2]))
    with pytest.raises(ValueError, match="distinct"):  # two classes with identical support
        ClassSpec(np.array([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]]), np.array([2, 2]), np.array([3, 3]))


def test_count_batch_is_the_same_draw_as_the_sequences():
    spec = official_layout(num_last=3, num_next_per_last=2)
    key = jax.random.PRNGKey(3)
    seqs = sample_sequences(key, spec, 32, 50)
    counts = sample_batch(key, spec, 32, 50)
    ref = to_counts(seqs, spec.M)
    np.testing.assert_array_equal(np.asarray(counts.counts_BxM), np.asarray(ref.counts_BxM))
    np.testing.assert_array_equal(np.asarray(counts.label_B), np.asarray(seqs.label_B))
    assert (np.asarray(counts.counts_BxM).sum(1) == 49).all()
