"""Speed levers (issue 15) that must not change the numbers: shared batches and fewer metrics.

Shared batches: each seed draws its batch once per step for every grid point.

Seeds use common random numbers, so every point of a seed trains on the same batches; the engine draws
them once per seed (`Problem.sample`) and each run takes its seed's (`sweep._shared_chunk`). The
batches are the same integers as a run's own draw, so the trajectories do not change: the arrays
derived from the parameters are bit-identical to the old path (``sweep.share_batches: false``), on
the measured machine and XLA version. Two metrics, the z group means, are reductions that XLA fuses
differently in the two programs; they may differ by float32 rounding of a mean of O(1) values:
|diff| <= 4 ulp of the value (2**-21 relative; measured: 1 ulp).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.engine import sweep
from scanflow.engine.config import config_from_dict
from scanflow.papers.scan_snap import data

SMALL = {"workload": "scan_snap", 
    "name": "shared",
    "x64": False,
    "data": {"num_last": 2, "num_next_per_last": 2, "num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "model": {"init": "uniform"},
    "train": {"optimizer": "sgd_momentum", "steps": 12, "record_every": 4, "record_attention": True},
    "sweep": {"seeds": 3, "lr": {"Y": [1.0, 4.0], "Z": [0.5, 2.0]}},
}
TRAJECTORY = ("train_loss", "loss", "attn", "norm_Y", "norm_Z", "grad_norm_Y", "entropy", "logit_target")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_expanded_support_counts_are_the_batch_of_the_same_key(dtype):
    """expand(sample_support_counts(key)) == sample_batch(key): the same integers, every field."""
    spec = data.official_layout(num_last=3, num_next_per_last=2)
    for k in range(5):
        key = jax.random.PRNGKey(k)
        a = data.sample_batch(key, spec, 32, 64, dtype)
        b = data.expand(data.sample_support_counts(key, spec, 32, 64, dtype), spec)
        assert b.counts_BxM.dtype == dtype
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert float(b.counts_BxM.sum()) == 32 * 63  # T - 1 contextual tokens per sequence


def test_support_counts_with_supports_of_different_sizes():
    """Classes whose supports differ in size (padding slots, cdf 1): the same counts as sample_batch."""
    probs = np.zeros((3, 9))
    probs[0, [0, 1]] = [0.5, 0.5]
    probs[1, [0, 2, 3, 4]] = [0.1, 0.2, 0.3, 0.4]
    probs[2, [5]] = 1.0
    spec = data.ClassSpec(probs, np.array([6, 7, 6]), np.array([8, 8, 7]))
    for k in range(5):
        key = jax.random.PRNGKey(k)
        a = data.sample_batch(key, spec, 64, 40)
        b = data.expand(data.sample_support_counts(key, spec, 64, 40), spec)
        np.testing.assert_array_equal(np.asarray(a.counts_BxM), np.asarray(b.counts_BxM))


def test_shared_batches_do_not_change_the_trajectories():
    new = sweep.run_sweep(config_from_dict(SMALL, []))
    old = sweep.run_sweep(config_from_dict(SMALL, ["sweep.share_batches=false"]))
    program = sweep.program(sweep.static_part(config_from_dict(SMALL, [])))
    assert sweep.shares_batches(sweep.static_part(config_from_dict(SMALL, [])), program.problem)
    for name in TRAJECTORY:
        np.testing.assert_array_equal(new.arrays[name], old.arrays[name], err_msg=name)
    for name in ("z_distinct", "z_common"):
        x, y = new.arrays[name], old.arrays[name]
        np.testing.assert_allclose(x, y, rtol=2.0**-21, atol=0, err_msg=name)


def test_a_run_does_not_depend_on_the_other_seeds_or_points():
    """With shared batches a run's bits still depend only on its config, point and seed: the sweep's
    seed 1 at one point equals that run in a sweep with other seeds and points around it."""
    big = sweep.run_sweep(config_from_dict(SMALL, []))
    alone = sweep.run_sweep(config_from_dict(SMALL, ["sweep.seeds=2", "sweep.lr.Y=[4.0]", "sweep.lr.Z=[2.0]"]))
    for name in TRAJECTORY:
        np.testing.assert_array_equal(alone.arrays[name][0, 1], big.arrays[name][3, 1], err_msg=name)


def test_which_sweeps_share_and_the_group_size():
    from scanflow.engine import program as program_mod

    cfg = config_from_dict(SMALL, [])
    problem = sweep.program(sweep.static_part(cfg)).problem
    assert sweep.batch_group(problem, cfg.train) == 4  # the whole record interval: 8 x 11 counts are tiny
    pop = config_from_dict(SMALL, ["data.mode=population"])
    assert not sweep.shares_batches(sweep.static_part(pop), sweep.program(sweep.static_part(pop)).problem)
    off = config_from_dict(SMALL, ["sweep.share_batches=false"])
    assert not sweep.shares_batches(sweep.static_part(off), problem)
    # the group size divides record_every and never depends on the seed count or the grid
    big = config_from_dict(SMALL, ["sweep.seeds=50", "train.record_every=6", "train.steps=12"])
    shape = jax.eval_shape(problem.sample, jax.random.PRNGKey(0), jnp.int32(0))
    one = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(shape))
    saved = program_mod.SHARED_BATCH_BYTES
    try:
        program_mod.SHARED_BATCH_BYTES = 3 * one + 1  # room for 3 batches of one seed -> the largest divisor <= 3
        assert sweep.batch_group(problem, big.train) == 3
    finally:
        program_mod.SHARED_BATCH_BYTES = saved


def test_fewer_metrics_record_only_those_and_the_same_values():
    """train.metrics drops the other metrics from the program; the run and the kept records are the same."""
    full = sweep.run_sweep(config_from_dict(SMALL, []))
    few = sweep.run_sweep(config_from_dict(SMALL, ["train.metrics=[entropy, attn, loss]"]))
    recorded = {k for k, d in few.dims.items() if "record" in d}
    assert recorded == {"entropy", "attn", "loss", "train_loss"}
    for name in ("entropy", "attn", "loss", "train_loss"):
        np.testing.assert_array_equal(few.arrays[name], full.arrays[name], err_msg=name)
    assert not few.arrays["diverged"].any()


def test_a_finished_discrete_run_checkpoints_no_state_and_resumes_from_its_records(tmp_path):
    """After the last chunk the state is not needed (every record is written): the checkpoint holds
    none (Fig-6: 200 MB less to write), and a resume from it reassembles the same arrays."""
    cfg = config_from_dict(SMALL, [])
    first = sweep.run_sweep(cfg, work_dir=tmp_path)
    with np.load(tmp_path / "checkpoint-p000.npz") as z:
        assert int(z["__chunks__"]) == first.timings["n_chunks"] and not [k for k in z if k.startswith("leaf")]
    again = sweep.run_sweep(cfg, work_dir=tmp_path)
    assert again.timings["resumed_at_chunk"] == first.timings["n_chunks"]
    for name in TRAJECTORY:
        np.testing.assert_array_equal(again.arrays[name], first.arrays[name], err_msg=name)


def test_records_spanning_several_groups_of_steps(monkeypatch):
    """A record interval longer than one group of batches (G < record_every): the same trajectory; the
    training-loss mean is summed group by group, so it may differ by float32 rounding (2**-21 relative)."""
    from scanflow.engine import program

    monkeypatch.setattr(program, "SHARED_BATCH_BYTES", 1)  # G = 1 step per group (a config no other test compiles)
    over = ["train.steps=10", "train.record_every=5", "sweep.seeds=2"]
    cfg = config_from_dict(SMALL, over)
    assert sweep.batch_group(sweep.program(sweep.static_part(cfg)).problem, cfg.train) == 1
    new = sweep.run_sweep(cfg)
    old = sweep.run_sweep(config_from_dict(SMALL, over + ["sweep.share_batches=false"]))
    for name in ("attn", "norm_Y", "norm_Z", "loss", "entropy"):
        np.testing.assert_array_equal(new.arrays[name], old.arrays[name], err_msg=name)
    np.testing.assert_allclose(new.arrays["train_loss"], old.arrays["train_loss"], rtol=2.0**-21, atol=0)
