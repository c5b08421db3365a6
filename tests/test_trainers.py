"""Discrete trainers: optimizer conventions, per-group learning rates, no recompiles, vmapped sweeps."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scanflow.engine import sweep
from scanflow.engine.config import TrainConfig, config_from_dict
from scanflow.engine.optim import make_optimizer


def _quad_grads(params):
    return jax.grad(lambda p: 0.5 * jnp.sum(p["Y"] ** 2) + 0.25 * jnp.sum(p["Z"] ** 4))(params)


def test_sgd_momentum_follows_pytorch_convention():
    """v <- mu v + g ; p <- p - lr v  (PyTorch), with a different lr for each group."""
    cfg = TrainConfig(optimizer="sgd_momentum", momentum=0.9)
    lrs = {"Y": jnp.float64(0.1), "Z": jnp.float64(0.02)}
    tx = make_optimizer(cfg, lrs)
    params = {"Y": jnp.array([1.0, -2.0]), "Z": jnp.array([0.5, 1.5])}
    state = tx.init(params)
    ref_p = {k: np.asarray(v) for k, v in params.items()}
    ref_v = {k: np.zeros_like(v) for k, v in ref_p.items()}
    for _ in range(5):
        g = _quad_grads(params)
        upd, state = tx.update(g, state, params)
        params = optax.apply_updates(params, upd)
        gref = {"Y": ref_p["Y"], "Z": ref_p["Z"] ** 3}
        for k in ref_p:
            ref_v[k] = 0.9 * ref_v[k] + gref[k]
            ref_p[k] = ref_p[k] - float(lrs[k]) * ref_v[k]
    for k in ref_p:
        np.testing.assert_allclose(np.asarray(params[k]), ref_p[k], rtol=1e-13)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_groups_get_their_own_learning_rate(opt):
    """Doubling lr_Y doubles the first Y update and leaves the Z update unchanged."""
    cfg = TrainConfig(optimizer=opt)
    params = {"Y": jnp.array([1.0, -2.0]), "Z": jnp.array([0.5, 1.5])}
    g = _quad_grads(params)

    def first_update(lr_y, lr_z):
        tx = make_optimizer(cfg, {"Y": jnp.float64(lr_y), "Z": jnp.float64(lr_z)})
        return tx.update(g, tx.init(params), params)[0]

    a, b = first_update(0.1, 0.3), first_update(0.2, 0.3)
    np.testing.assert_allclose(np.asarray(b["Y"]), 2 * np.asarray(a["Y"]), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(b["Z"]), np.asarray(a["Z"]), rtol=1e-13)


TINY = {"workload": "scan_snap", 
    "name": "tiny",
    "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "train": {"steps": 8, "record_every": 2},
    "sweep": {"seeds": 3, "lr": {"Y": [1.0, 4.0], "Z": [0.5]}},
}


def _cfg(*overrides, base=TINY):
    return config_from_dict(base, list(overrides))


def test_new_learning_rates_do_not_recompile():
    """The learning rates are arguments of the compiled sweep: new values reuse the program."""
    out1 = sweep.run_sweep(_cfg())
    traces = dict(sweep.TRACE_COUNT)
    out2 = sweep.run_sweep(_cfg("sweep.lr.Y=[2.0, 3.0]", "sweep.lr.Z=[0.7]", "sweep.root_seed=5", "model.init=uniform"))
    assert sweep.TRACE_COUNT == traces  # no new trace ...
    assert out2.timings["compile_s"] == 0.0  # ... and no new compilation
    assert not np.allclose(out1.arrays["loss"], out2.arrays["loss"])  # but a different run
    # and the jitted program itself is not retraced by new lr values (JAX's own cache)
    cfg = _cfg()
    prog = sweep.program(sweep.static_part(cfg))
    hp = sweep.hyperparams(cfg, prog.problem.info)
    root = jax.random.PRNGKey(0)
    f = jax.jit(prog.init)
    f(root, hp)
    hp2 = dict(hp, lr={"Y": hp["lr"]["Y"] * 3, "Z": hp["lr"]["Z"] + 1})
    f(root, hp2)
    assert f._cache_size() == 1


def test_static_change_does_recompile():
    """Sanity check of the guard above: a new step count is a new program."""
    sweep.run_sweep(_cfg())
    traces = sweep.TRACE_COUNT["chunk"]
    out = sweep.run_sweep(_cfg("train.steps=16"))
    assert sweep.TRACE_COUNT["chunk"] == traces + 1 and out.timings["compile_s"] > 0


def test_vmapped_run_equals_single_run():
    """A (point, seed) run gives the same numbers alone as inside the vmapped sweep (float64:
    batching may reorder XLA reductions, so agreement is to ~1e-12, not bitwise)."""
    full = sweep.run_sweep(_cfg("x64=true"))
    alone = sweep.run_sweep(_cfg("x64=true", "sweep.lr.Y=[4.0]"))
    np.testing.assert_allclose(full.arrays["loss"][1], alone.arrays["loss"][0], rtol=1e-10)
    np.testing.assert_allclose(full.arrays["attn"][1], alone.arrays["attn"][0], rtol=1e-10, atol=1e-14)
    # seeds see different data; points share seeds' data (common random numbers)
    assert not np.allclose(full.arrays["train_loss"][0, 0], full.arrays["train_loss"][0, 1])


def test_record_axes_and_dtypes():
    out = sweep.run_sweep(_cfg())
    assert out.arrays["loss"].shape == (2, 3, 5)  # point, seed, record (steps 0, 2, 4, 6, 8)
    assert out.dims["attn"] == ("point", "seed", "record", "cls", "token")
    assert list(out.coords["record"]) == [0, 2, 4, 6, 8]
    assert out.arrays["loss"].dtype == np.float32  # x64: false is float32 end to end
    x64_before = jax.config.jax_enable_x64
    out64 = sweep.run_sweep(_cfg("x64=true"))
    assert out64.arrays["loss"].dtype == np.float64
    assert jax.config.jax_enable_x64 == x64_before  # x64 is chosen per run and does not leak
    # the same data stream at either precision (draws have fixed dtypes), so only rounding differs
    np.testing.assert_allclose(out64.arrays["loss"], out.arrays["loss"], rtol=1e-4)
    again = sweep.run_sweep(_cfg())  # a float32 run's bits do not depend on an x64 run before it
    for k in out.arrays:
        np.testing.assert_array_equal(again.arrays[k], out.arrays[k], err_msg=k)


def test_record_is_taken_after_every_k_steps():
    """Record r equals what a plain per-step loop reaches after r*k steps (nested scan is exact)."""
    from scanflow.engine import discrete
    from scanflow.engine.registry import build_problem  # noqa

    cfg = _cfg("x64=true", "sweep.seeds=1", "sweep.lr.Y=[2.0]")
    out = sweep.run_sweep(cfg)
    problem = build_problem(cfg)
    hp = jax.tree.map(lambda a: jnp.asarray(a[0]), sweep.hyperparams(cfg, problem.info))
    key = sweep.run_key(jax.random.PRNGKey(cfg.sweep.root_seed), 0)
    state, _ = discrete.init_state(problem, cfg.train, key, hp)
    tx = make_optimizer(cfg.train, hp["lr"])
    params, opt_state = state.params, state.opt_state

    @jax.jit  # one plain step (compiled once: an eager loop of ~100 small ops per step is slow)
    def step(params, opt_state, i):
        g = jax.grad(problem.loss)(params, jax.random.fold_in(discrete.data_key(key), i), i)
        upd, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, upd), opt_state

    loss_of = jax.jit(lambda p: problem.metrics(p, None)["loss"])
    losses = [float(loss_of(params))]
    for i in range(cfg.train.steps):
        params, opt_state = step(params, opt_state, jnp.int32(i))
        if (i + 1) % cfg.train.record_every == 0:
            losses.append(float(loss_of(params)))
    np.testing.assert_allclose(out.arrays["loss"][0, 0], losses, rtol=1e-12)


def test_nan_seeds_are_flagged_and_others_finish():
    """Point (1e38, 1e38) overflows float32 to inf/NaN and is flagged with the step; the other
    points finish and are bit-identical to a sweep without it. Huge-but-finite parameters
    (lr_Y = 1e38 alone: |Y| ~ 1e38 but finite) are not a divergence."""
    out = sweep.run_sweep(_cfg("sweep.lr.Y=[1.0, 1.0e38]", "sweep.lr.Z=[0.5, 1.0e38]"))
    # grid order: (Y, Z) = (1, .5), (1, 1e38), (1e38, .5), (1e38, 1e38)
    div = out.arrays["diverged"]
    assert div[3].all() and not div[0].any() and not div[2].any()
    assert (out.arrays["diverged_step"][3] > 0).all() and (out.arrays["diverged_step"][0] == -1).all()
    assert out.arrays["finite"][2].all() and out.arrays["norm_Y"][2, :, 1].min() > 1e37
    clean = sweep.run_sweep(_cfg("sweep.lr.Y=[1.0, 4.0]", "sweep.lr.Z=[0.5, 0.5]"))
    np.testing.assert_array_equal(out.arrays["loss"][0], clean.arrays["loss"][0])
    assert np.isfinite(out.arrays["loss"][0]).all()


def test_divergence_flags_each_signal_separately():
    """loss, train_loss and the parameters' finiteness each flag a run on their own, at their step."""
    shape = (1, 3, 4)
    arrays = {"loss": np.zeros(shape), "train_loss": np.zeros(shape), "finite": np.ones(shape, bool)}
    arrays["train_loss"][0, 1, 2] = np.inf
    arrays["finite"][0, 2, 1] = False
    dims = {k: ("point", "seed", "record") for k in arrays}
    sweep._flag_divergence(arrays, dims, np.array([0, 2, 4, 6]))
    np.testing.assert_array_equal(arrays["diverged"], [[False, True, True]])
    np.testing.assert_array_equal(arrays["diverged_step"], [[-1, 4, 2]])
    arrays["loss"][0, 0, 3] = np.nan
    sweep._flag_divergence(arrays, dims, np.array([0, 2, 4, 6]))
    np.testing.assert_array_equal(arrays["diverged_step"], [[6, 4, 2]])
