"""The support-restricted step of Scan and Snap (`model.support_loss`, ``model.arithmetic``): the same loss and
gradient as the dense step on the same batch, a float64 identity (the two sum the same terms in another order:
relative differences of a few float64 ulps, bounded here by 1e-12); the same sweep trajectories; caught by the
frozen-attention mutation like the dense step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanflow
from scanflow.engine.config import config_from_dict
from scanflow.papers.scan_snap import data, model as yz
from scanflow.papers.scan_snap.checks.sweep_checks import FIG6


def _spec(num_last: int):
    return data.from_config(config_from_dict(FIG6, [f"data.num_last={num_last}"]).data)


@pytest.mark.parametrize("num_last", [1, 5])
def test_support_loss_and_gradient_equal_the_dense_ones_in_float64(num_last):
    if not jax.config.jax_enable_x64:  # tests/conftest.py enables it
        pytest.skip("needs x64")
    spec = _spec(num_last)
    M = spec.M
    sc = data.sample_support_counts(jax.random.PRNGKey(3), spec, 32, 64, jnp.float64)
    params = {"Y": jax.random.normal(jax.random.PRNGKey(1), (M, M), jnp.float64),
              "Z": jax.random.normal(jax.random.PRNGKey(2), (M, M), jnp.float64)}
    dense, g_dense = jax.value_and_grad(lambda p: yz.loss(p, data.expand(sc, spec)))(params)
    sup, g_sup = jax.value_and_grad(lambda p: yz.support_loss(p, sc, spec))(params)
    assert abs(float(sup - dense)) <= 1e-12 * abs(float(dense))
    for g in ("Y", "Z"):
        scale = float(jnp.max(jnp.abs(g_dense[g])))
        assert scale > 0 and float(jnp.max(jnp.abs(g_sup[g] - g_dense[g]))) <= 1e-12 * scale, g




def test_a_sweep_gives_the_same_trajectories_either_way_in_float64():
    base = ["data.num_last=5", "train.steps=12", "train.record_every=4", "sweep.seeds=2", "x64=true",
            "sweep.lr.Z=[1, 3]", "sweep.lr.Y_over_Z=[2]"]
    dense = scanflow.run(FIG6, [*base, "model.arithmetic=dense"])
    sup = scanflow.run(FIG6, [*base, "model.arithmetic=support"])
    for name in ("train_loss", "loss", "entropy"):
        a, b = dense[name].values, sup[name].values
        assert np.all(np.abs(a - b) <= 1e-10 * np.abs(a).max()), name


def test_the_frozen_attention_mutation_freezes_the_support_step_too():
    from scanflow.verify.mutation import mutated

    spec = _spec(5)
    sc = data.sample_support_counts(jax.random.PRNGKey(0), spec, 8, 16)
    params = {"Y": jnp.ones((spec.M, spec.M)) * 0.1, "Z": jax.random.normal(jax.random.PRNGKey(1), (spec.M, spec.M))}
    assert float(jnp.abs(jax.grad(lambda p: yz.support_loss(p, sc, spec))(params)["Z"]).max()) > 0
    with mutated("ss-frozen-z"):
        assert float(jnp.abs(jax.grad(lambda p: yz.support_loss(p, sc, spec))(params)["Z"]).max()) == 0
