"""The one-pass count sampler (`sample_batch`) draws exactly what the index sampler draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.papers.scan_snap.data import ClassSpec, _draw, official_layout, sample_batch


def _index_counts_NxBxM(keys_N, spec, B, T):
    """Counts from the drawn support indices (the two-pass path `sample_sequences` uses)."""
    cls_NxB, j_NxBxT1, support_NxBxS = jax.vmap(lambda k: _draw(k, spec, B, T))(keys_N)
    tokens = np.take_along_axis(np.asarray(support_NxBxS), np.asarray(j_NxBxT1), axis=2)
    N = tokens.shape[0]
    out = np.zeros((N, B, spec.M))
    np.add.at(out, (np.arange(N)[:, None, None], np.arange(B)[None, :, None], tokens), 1.0)
    return out, np.asarray(cls_NxB)


SPECS = {
    "fig6 M=33": official_layout(num_last=1, num_next_per_last=2),
    "padding, per-query common": official_layout(num_last=2, num_next_per_last=2, num_common_per_last=3, num_padding=5),
    # unequal support sizes: the padded cdf slots (cdf 1) must get count 0
    "ragged": ClassSpec(np.array([[0.1, 0.2, 0.7, 0, 0, 0], [0, 0, 0, 1.0, 0, 0]]), np.array([4, 4]), np.array([5, 5])),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_one_pass_counts_equal_index_counts(name):
    # Integer counts: exact equality, in float64 (x64 is on in the tests), over many keys.
    spec, B, T, N = SPECS[name], 64, 200, 4  # 4 keys x 64 sequences x 199 tokens
    keys_N = jax.random.split(jax.random.PRNGKey(7), N)
    batch = jax.vmap(lambda k: sample_batch(k, spec, B, T, jnp.float64))(keys_N)
    ref_NxBxM, cls_NxB = _index_counts_NxBxM(keys_N, spec, B, T)
    assert batch.counts_BxM.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(batch.counts_BxM), ref_NxBxM)
    np.testing.assert_array_equal(np.asarray(batch.label_B), spec.target_K[cls_NxB])
    np.testing.assert_array_equal(np.asarray(batch.query_B), spec.query_K[cls_NxB])
    assert (np.asarray(batch.counts_BxM).sum(-1) == T - 1).all()
