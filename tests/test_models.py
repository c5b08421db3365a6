"""Models: the standard (Flax) parameterisation equals the Y/Z model; Lemma 1 invariants."""

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.scan_snap.data import official_layout, sample_batch, sample_sequences, to_counts
from scanflow.papers.scan_snap import model as yz
from scanflow.papers.scan_snap.standard_model import StandardAttention, orthonormal_embedding, to_yz


def test_standard_forward_equals_yz_with_orthonormal_U():
    """Y = U W_V^T U^T, Z = U W_Q W_K^T U^T / sqrt(d): logits agree to float64 rounding."""
    spec = official_layout()
    M, d = spec.M, 48
    batch = sample_sequences(jax.random.PRNGKey(1), spec, 16, 32)
    model = StandardAttention(M, d, dtype=jnp.float64)
    params = model.init(jax.random.PRNGKey(2), batch.context_BxT1, batch.query_B)["params"]
    params = dict(params, U={"embedding": orthonormal_embedding(jax.random.PRNGKey(3), M, d, jnp.float64)})
    # scale the attention weights up so that the softmax is far from uniform (a real test)
    params["W_Q"] = 3.0 * params["W_Q"]
    logits_std = model.apply({"params": params}, batch.context_BxT1, batch.query_B)
    yzp = to_yz(params)
    logits_yz = yz.logits_BxM(yzp, to_counts(batch, M, jnp.float64))
    assert float(jnp.std(logits_std)) > 0.1
    np.testing.assert_allclose(np.asarray(logits_std), np.asarray(logits_yz), rtol=0, atol=1e-12)


def test_standard_differs_from_yz_without_orthonormal_U():
    """The equivalence needs orthonormal U (the l2 norm is taken in embedding space)."""
    spec = official_layout()
    batch = sample_sequences(jax.random.PRNGKey(1), spec, 16, 32)
    model = StandardAttention(spec.M, 8, dtype=jnp.float64)
    params = model.init(jax.random.PRNGKey(2), batch.context_BxT1, batch.query_B)["params"]
    diff = model.apply({"params": params}, batch.context_BxT1, batch.query_B) - yz.logits_BxM(to_yz(params), to_counts(batch, spec.M, jnp.float64))
    assert float(jnp.max(jnp.abs(diff))) > 1e-3


def test_lemma1_rows_of_gradients_sum_to_zero():
    """(x_{T+1} - alpha)^T 1 = 0, so every row of dL/dY and dL/dZ sums to 0 (exact, float64)."""
    spec = official_layout()
    params = yz.init(jax.random.PRNGKey(0), spec.M, 0.5, jnp.float64)
    batch = sample_batch(jax.random.PRNGKey(1), spec, 8, 64, jnp.float64)
    for g in (jax.grad(yz.loss)(params, batch), jax.grad(yz.population_loss)(params, spec)):
        np.testing.assert_allclose(np.asarray(g["Y"].sum(1)), 0, atol=1e-15)
        np.testing.assert_allclose(np.asarray(g["Z"].sum(1)), 0, atol=1e-15)
        # only the query rows of Z move (Lemma 1: only row m = x_T changes)
        rows = np.nonzero(np.abs(np.asarray(g["Z"])).sum(1) > 0)[0]
        assert set(rows) <= set(spec.query_K.tolist())


def test_zero_init_loss_is_log_M():
    spec = official_layout()
    params = yz.init(jax.random.PRNGKey(0), spec.M, 0.0, jnp.float64)
    np.testing.assert_allclose(float(yz.population_loss(params, spec)), np.log(spec.M), rtol=1e-14)


def test_cross_entropy_resolves_tiny_losses_in_float32():
    logits = jnp.array([[30.0, 0.0, 0.0]], jnp.float32)
    ce = yz.cross_entropy_B(logits, jnp.array([0]))
    np.testing.assert_allclose(float(ce[0]), 2 * np.exp(-30.0), rtol=1e-5)  # log(1 + 2e^-30)
    assert float(jax.nn.log_softmax(logits)[0, 0]) == 0.0  # what the naive form gives


def test_population_attention_matches_eq5():
    spec = official_layout()
    Z = jax.random.normal(jax.random.PRNGKey(0), (spec.M, spec.M), jnp.float64)
    c = np.asarray(yz.attention_KxM(Z, spec))
    for n in range(spec.K):
        w = spec.probs_KxM[n] * np.exp(np.asarray(Z)[spec.query_K[n]])
        np.testing.assert_allclose(c[n], w / w.sum(), rtol=1e-12, atol=1e-300)


def test_count_form_equals_positionwise_attention():
    """X^T b from token counts equals the literal position-by-position softmax (float64)."""
    spec = official_layout(num_last=3, num_next_per_last=2)
    Z = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (spec.M, spec.M), jnp.float64)
    seqs = sample_sequences(jax.random.PRNGKey(1), spec, 32, 64)
    v_pos = yz.attended_positionwise_BxM(Z, seqs)
    v_cnt = yz.attended_BxM(Z, to_counts(seqs, spec.M, jnp.float64))
    np.testing.assert_allclose(np.asarray(v_cnt), np.asarray(v_pos), rtol=1e-13, atol=1e-15)
