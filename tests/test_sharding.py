"""Sharded sweeps: the run axis padded to a multiple of the device count, shard_map over a one-axis
mesh, vmap inside, padding dropped by the validity mask.

The multi-device cases run in a subprocess with 8 fake CPU devices (the device count is fixed when
JAX first touches a device). Tolerances:
* 8 devices (2 padding runs) vs 2 devices (none), same block size: bit-identical (every run is
  computed in a vmap of the same size with the same per-run keys, whatever the shard).
* 1 device vs 8: XLA compiles a 1-device program without SPMD partitioning and its algebraic
  simplifier rewrites a few divisions differently (seen in the optimised HLO), so results agree to
  float64 round-off, not bitwise: rtol 1e-12 (~5e3 ulp of headroom over 8 steps of ~1e3 flops).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scanflow.engine import sharding
from scanflow.engine import sweep
from scanflow.engine.config import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "name": "tiny_shard",
    "x64": True,
    "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "model": {"init": "uniform"},
    "train": {"steps": 6, "record_every": 2},
    "sweep": {"seeds": 3, "lr": {"Y": [1.0, 4.0], "Z": [0.5]}},
}
NAMES = ("loss", "train_loss", "attn", "norm_Y")

CHILD = """
import sys, numpy as np, jax
jax.config.update("jax_enable_x64", True)
from scanflow.engine.config import config_from_dict
from scanflow.engine.sweep import run_sweep
assert jax.device_count() == 8, jax.devices()
cfg = config_from_dict(TINY, [])
out = {}
for n in (8, 2):
    o = run_sweep(cfg, n_devices=n, runs_per_block=1)
    assert o.timings["devices"] == n
    out.update({f"{k}_{n}": o.arrays[k] for k in NAMES})
np.savez(sys.argv[1], **out)
"""


def test_layout_pads_to_devices_times_block():
    lay = sharding.run_layout(n_points=2, n_seeds=3, n_devices=8, block=1)
    assert lay.n_padded == 8 and lay.valid_R.tolist() == [True] * 6 + [False] * 2
    assert lay.point_R.tolist() == [0, 0, 0, 1, 1, 1, 0, 0]  # padding repeats run 0 (harmless inputs)
    assert lay.seed_R.tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    assert sharding.run_layout(2, 3, 2, block=4).n_padded == 8
    assert sweep.default_block() == 1  # CPU: a constant, whatever the grid (run invariance)


def test_same_sweep_on_1_2_and_8_devices(tmp_path):
    script = f"TINY = {TINY!r}\nNAMES = {NAMES!r}\n" + CHILD
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "multi.npz")], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    one = sweep.run_sweep(config_from_dict(TINY, []), runs_per_block=1)  # meanwhile, 1 device in-process
    assert one.timings["devices"] == 1
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    with np.load(tmp_path / "multi.npz") as z:
        multi = dict(z)
    for k in NAMES:
        np.testing.assert_array_equal(multi[f"{k}_8"], multi[f"{k}_2"], err_msg=k)
        assert multi[f"{k}_8"].shape == one.arrays[k].shape  # padding dropped
        np.testing.assert_allclose(multi[f"{k}_8"], one.arrays[k], rtol=1e-12, atol=1e-15, err_msg=k)
    assert np.isfinite(one.arrays["loss"]).all()


def test_bad_device_count():
    with pytest.raises(ValueError, match="n_devices"):
        sharding.make_mesh(2)  # the test process has one CPU device
