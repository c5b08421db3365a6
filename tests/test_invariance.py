"""Run invariance (issue 12, item 2): a run's bits depend only on the static config, its own
hyperparameters and its seed -- not on the grid around it, a diverging neighbour or the number of seeds.

XLA's rounding depends on the vmapped block size, so the default block is a constant of the backend
(`scanflow.engine.sweep.default_block`: 1 on CPU), never a function of the grid. Equality is exact.
"""

from __future__ import annotations

import numpy as np

from scanflow.engine.config import config_from_dict
from scanflow.engine.sweep import default_block, run_sweep

BASE = {"workload": "scan_snap", "name": "inv", "model": {"init": "zero"}, "train": {"steps": 20, "record_every": 2}}  # Syn-Small, sgd_momentum


def _run(ys, seeds=3, **kw):
    raw = {**BASE, "sweep": {"seeds": seeds, "root_seed": 3, "lr": {"Y": ys, "Z": [0.5]}}}
    return run_sweep(config_from_dict(raw), **kw).arrays


def test_a_run_is_the_same_alone_in_a_grid_and_beside_a_diverging_point():
    alone = _run([1.0])
    grid = _run([4.0, 1.0, 2.0])
    diverging = _run([1.0, 1e38])  # float32: the momentum buffer times the rate overflows
    assert diverging["diverged"][1].all() and not diverging["diverged"][0].any()  # the neighbour really diverged
    one_seed = _run([1.0], seeds=1)
    metrics = [k for k in alone if k not in ("lr_Y", "lr_Z", "init_scale_Y", "init_scale_Z")]
    for k in metrics:
        np.testing.assert_array_equal(grid[k][1], alone[k][0], err_msg=k)
        np.testing.assert_array_equal(diverging[k][0], alone[k][0], err_msg=k)
        np.testing.assert_array_equal(one_seed[k][0, 0], alone[k][0, 0], err_msg=k)


def test_the_default_block_is_a_constant_and_the_block_matters():
    """The reason for the constant: at another block size the same run rounds differently (float32), so a
    block chosen from the grid size would make a run's bits depend on its neighbours."""
    assert default_block() == 1
    raw = {**BASE, "data": {"num_last": 5, "num_next_per_last": 2, "seq_len": 16, "batch_size": 8},
           "train": {"steps": 20, "record_every": 10},
           "sweep": {"seeds": 16, "lr": {"Y": [1.0], "Z": [0.5]}}}
    b1 = run_sweep(config_from_dict(raw), runs_per_block=1).arrays
    b16 = run_sweep(config_from_dict(raw), runs_per_block=16).arrays
    assert not np.array_equal(b1["loss"], b16["loss"])  # if XLA stops depending on it, this test says so
    np.testing.assert_allclose(b1["loss"], b16["loss"], rtol=1e-5)  # float32 rounding only
