"""Compile-time measures of the sweep programs must not change a single random number."""

import jax
import numpy as np
import pytest

from scanflow.engine.sweep import unrolled_threefry


def _draws(key):
    k1, k2 = jax.random.split(jax.random.fold_in(key, 3))
    return jax.random.uniform(k1, (7, 33)), jax.random.randint(k2, (5,), 0, 1000), jax.random.normal(k2, (4,))


def _hlo_text(lowered) -> str:
    return lowered.as_text()


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="JAX rolls threefry on CPU only")
def test_unrolled_threefry_gives_the_same_bits_and_is_restored():
    key = jax.random.PRNGKey(11)
    # a fresh function each time: JAX caches the lowering of a jitted function it has traced before
    # (the sweep builds fresh closures for every compile, so it is never served from that cache)
    rolled = jax.jit(lambda k: _draws(k)).lower(key)
    with unrolled_threefry():
        unrolled = jax.jit(lambda k: _draws(k)).lower(key)
    after = jax.jit(lambda k: _draws(k)).lower(key)
    # the lowering really differs (no while loop for the rounds) ...
    assert "while" in _hlo_text(rolled) and "while" not in _hlo_text(unrolled)
    # ... and is restored afterwards
    assert "while" in _hlo_text(after)
    # integer hash: the draws are identical bit for bit
    for a, b in zip(rolled.compile()(key), unrolled.compile()(key)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
