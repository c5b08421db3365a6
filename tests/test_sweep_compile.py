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


def test_a_static_sweep_compiles_every_part_before_the_first_runs_with_the_same_bits(tmp_path, monkeypatch):
    """`run.sweep_parts` hands every part's programs to `compilation.precompile` at once (one batch, as many
    compiles at a time as cores); each part then finds its executables compiled, and the results equal a sweep
    that compiles part by part, bit for bit. Each part's manifest carries its share of the batch."""
    import json
    from pathlib import Path

    import scanflow
    from scanflow.engine import compilation
    from scanflow.engine import run as run_module

    config = Path(__file__).resolve().parents[1] / "configs" / "scan_snap_small.yaml"
    ov = ["train.steps=4", "train.record_every=2", "sweep.seeds=2", "data.seq_len=16", "data.batch_size=8",
          "data.num_unique=[4, 5, 6]"]
    batches = []
    real = compilation.precompile
    monkeypatch.setattr(compilation, "precompile", lambda requests: batches.append(len(requests)) or real(requests))
    compilation._COMPILED.clear()
    ahead = scanflow.run(config, ov, out_dir=tmp_path / "ahead")
    assert batches == [3] and not compilation._PRECOMPILED  # one batch of three parts, each used once
    parts = json.loads((Path(ahead.attrs["run_dir"]) / "manifest.json").read_text())["parts"]
    seconds = {p["timings"]["compile_s"] for p in parts}
    assert len(seconds) == 1 and seconds.pop() > 0  # an equal share of the batch, not 0 (not "cached")
    compilation._COMPILED.clear()
    monkeypatch.setattr(run_module, "_precompile_parts", lambda *a, **k: None)
    one_by_one = scanflow.run(config, ov, out_dir=tmp_path / "one")
    for name in ahead.data_vars:
        np.testing.assert_array_equal(ahead[name].values, one_by_one[name].values, err_msg=name)
