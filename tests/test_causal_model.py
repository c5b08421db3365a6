"""The standard causal transformer (scanflow/models/causal.py): masking, norms, parameter groups."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.models import causal

SPECS = {
    "post_ffn": causal.CausalSpec(vocab=11, d_model=8, n_heads=2, d_ff=16, norm="post", max_len=16),
    "pre_learned": causal.CausalSpec(vocab=11, d_model=8, n_heads=4, n_layers=2, norm="pre", pos="learned",
                                     final_norm=True, max_len=16),
    "analysed": causal.CausalSpec(vocab=11, d_model=8, norm="none", pos="none", residual=False,
                                  l2_attn_out=True, max_len=16, tie_decoder=True),
}


def _tokens(key, B=3, T=7, V=11):
    return jax.random.randint(key, (B, T), 0, V)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_correct_mask_is_causal(name):
    """Changing the tokens after position t must leave the logits up to t unchanged (exactly: the
    -inf mask gives future weights that are exactly 0 in float64)."""
    spec = SPECS[name]
    params = causal.init(jax.random.PRNGKey(0), spec, dtype=jnp.float64)
    x = _tokens(jax.random.PRNGKey(1))
    x2 = x.at[:, 4:].set((x[:, 4:] + 1) % spec.vocab)
    l1, a1 = causal.apply(params, x, spec)
    l2, _ = causal.apply(params, x2, spec)
    np.testing.assert_array_equal(np.asarray(l1[:, :4]), np.asarray(l2[:, :4]))
    assert not np.allclose(l1[:, 4:], l2[:, 4:])  # the change is visible where it should be
    T = x.shape[1]
    future = ~np.tril(np.ones((T, T), bool))
    assert np.all(np.asarray(a1)[..., future] == 0.0)
    np.testing.assert_allclose(np.asarray(a1).sum(-1), 1.0, rtol=0, atol=1e-12)


def test_multiplicative_mask_leaks_the_future():
    """Regression test for the norm-growth code's artefact (spec §2.4): scores * mask leaves future
    scores at 0, so future tokens receive weight and change earlier outputs. Our default mask must not."""
    spec = causal.CausalSpec(vocab=11, d_model=8, n_heads=2, norm="pre", max_len=16, mask="multiply")
    params = causal.init(jax.random.PRNGKey(0), spec, dtype=jnp.float64)
    x = _tokens(jax.random.PRNGKey(1))
    x2 = x.at[:, 4:].set((x[:, 4:] + 1) % spec.vocab)
    l1, a1 = causal.apply(params, x, spec)
    l2, _ = causal.apply(params, x2, spec)
    assert np.abs(np.asarray(l1[:, :4] - l2[:, :4])).max() > 1e-6  # lookahead leak
    # under saturation (all parameters x c, c -> large) a zero future score beats any negative past one
    s = np.asarray(causal.scores(params, x, spec))
    T = x.shape[1]
    future = ~np.tril(np.ones((T, T), bool))
    assert np.all(s[..., future] == 0.0)
    s_ok = np.asarray(causal.scores(params, x, SPEC_OK := causal.CausalSpec(**{**spec.__dict__, "mask": "neg_inf"})))
    assert np.all(np.isneginf(s_ok[..., future])) and SPEC_OK.mask == "neg_inf"


def test_parameter_groups_and_shapes():
    spec = SPECS["pre_learned"]
    params = causal.init(jax.random.PRNGKey(0), spec)
    assert set(params) == {"embed", "attn", "norm", "decoder"}
    assert set(params["attn"]) == {"layer_0", "layer_1"} and "final" in params["norm"]
    assert set(causal.init(jax.random.PRNGKey(0), SPECS["post_ffn"])) == {"embed", "attn", "ffn", "norm", "decoder"}
    logits, attn = causal.apply(params, _tokens(jax.random.PRNGKey(1)), spec)
    assert logits.shape == (3, 7, 11) and attn.shape == (2, 3, 4, 7, 7)
    loss = causal.loss(params, {"x": _tokens(jax.random.PRNGKey(2)), "y": _tokens(jax.random.PRNGKey(3))}, spec)
    assert np.isfinite(loss) and 1.0 < float(loss) < 2 * math.log(11)  # near log V at init


def test_l2_normalised_attention_output_and_sinusoid():
    spec = SPECS["analysed"]
    params = causal.init(jax.random.PRNGKey(0), spec, dtype=jnp.float64)
    x = causal.embed_BxTxD(params, _tokens(jax.random.PRNGKey(1)), spec)
    out, a, _ = causal._attention_block(params["attn"]["layer_0"], x, spec)
    # out = normalise(attn @ V) @ W_o + b_o: undo the affine output map and check unit norm
    pre = (out - params["attn"]["layer_0"]["o"]["b"][None, None]) @ np.linalg.pinv(np.asarray(params["attn"]["layer_0"]["o"]["w"]))
    np.testing.assert_allclose(np.linalg.norm(pre, axis=-1), 1.0, rtol=1e-9)
    pe = np.asarray(causal.sinusoidal_TxD(5, 6))
    t, i = 3, 2  # channel 2i = 4 (sin), 2i+1 = 5 (cos) with frequency 10000^(-2i/D)
    np.testing.assert_allclose(pe[t, 4], math.sin(t * 10000 ** (-4 / 6)), rtol=1e-6)
    np.testing.assert_allclose(pe[t, 5], math.cos(t * 10000 ** (-4 / 6)), rtol=1e-6)


def test_bad_spec_names_the_field():
    with pytest.raises(ValueError, match="mask"):
        causal.CausalSpec(vocab=3, d_model=4, mask="mul")
    with pytest.raises(ValueError, match="n_heads"):
        causal.CausalSpec(vocab=3, d_model=6, n_heads=4)
