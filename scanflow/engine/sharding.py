"""The run axis on a device mesh: padding, the validity mask, and host <-> device transfers.

A sweep's runs (hyperparameter point x seed, point-major) form one axis R. It is padded to a
multiple of the device count, R_pad, and placed on a one-axis mesh ``("runs",)``; the compiled
program is ``shard_map`` outermost (one block of runs per device) with ``vmap`` inside. Padding
runs repeat run 0's inputs (harmless, finite) and are dropped on the host by `RunLayout.valid_R`.

Every random number is drawn inside the per-run function from ``fold_in(root, seed)``, so a run's
numbers do not depend on how many devices share the sweep (never draw one big sharded array: its
values can depend on the shard count).

Multi-process (``jax.distributed``): each process owns the rows of its addressable devices;
`local_rows` returns them with their global run indices, so each process writes its own shard.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as PS

RUN_AXIS = "runs"


def make_mesh(n_devices: int | None = None) -> jax.sharding.Mesh:
    """A one-axis mesh ``("runs",)`` over the first `n_devices` devices (default: all, every process)."""
    devices = jax.devices()
    n = len(devices) if n_devices is None else n_devices
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices: expected 1..{len(devices)} (devices available), got {n}")
    # Auto, not Explicit: with shardings in the types, lineax (diffrax's implicit solvers) rejects
    # pytrees whose avals carry the mesh ("pytree does not match out_structure").
    return jax.make_mesh((n,), (RUN_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n])


@dataclass(frozen=True)
class RunLayout:
    """Run r < n_runs is (point_R[r], seed_R[r]); rows n_runs..n_padded-1 are padding."""

    n_points: int
    n_seeds: int
    n_padded: int

    @property
    def n_runs(self) -> int:
        return self.n_points * self.n_seeds

    @property
    def valid_R(self) -> np.ndarray:
        return np.arange(self.n_padded) < self.n_runs

    @property
    def point_R(self) -> np.ndarray:
        return np.where(self.valid_R, np.arange(self.n_padded) // self.n_seeds, 0)

    @property
    def seed_R(self) -> np.ndarray:
        return np.where(self.valid_R, np.arange(self.n_padded) % self.n_seeds, 0).astype(np.int32)


def run_layout(n_points: int, n_seeds: int, n_devices: int, block: int = 1) -> RunLayout:
    """Pad R = P * S runs to a multiple of n_devices * block."""
    unit = n_devices * block
    return RunLayout(n_points, n_seeds, -(-(n_points * n_seeds) // unit) * unit)


def run_inputs(hp: dict, layout: RunLayout) -> dict:
    """Per-run inputs (leading axis R_pad): the run's hyperparameters and its seed index."""
    return {"hp": jax.tree.map(lambda a: np.asarray(a)[layout.point_R], hp), "seed": layout.seed_R}


def row_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, PS(RUN_AXIS))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PS())


def put(tree, sharding: NamedSharding):
    """Host arrays (the full global value, identical in every process) -> global jax.Arrays."""
    return jax.tree.map(lambda a: jax.make_array_from_callback(np.shape(a), sharding, lambda i: np.asarray(a)[i]), tree)


def put_rows(tree, rows: np.ndarray, n_padded: int, mesh) -> dict:
    """Host arrays holding the global rows `rows` (at least this process's rows) -> row-sharded arrays."""
    where = {int(r): k for k, r in enumerate(rows)}

    def one(a):
        a = np.asarray(a)
        shape = (n_padded, *a.shape[1:])

        def cb(index):
            idx = np.arange(n_padded)[index[0]]
            return a[[where[int(r)] for r in idx]][(slice(None), *index[1:])]

        return jax.make_array_from_callback(shape, row_sharding(mesh), cb)

    return jax.tree.map(one, tree)


def local_rows(tree) -> tuple[np.ndarray, object]:
    """(global row indices, host leaves restricted to those rows) of this process's devices."""
    leaves, treedef = jax.tree.flatten(tree)
    first = leaves[0]
    shards = sorted(first.addressable_shards, key=lambda s: s.index[0].start or 0)
    starts = [(s.index[0].start or 0, s.index[0].stop or first.shape[0]) for s in shards]
    starts = sorted(set(starts))
    rows = np.concatenate([np.arange(a, b) for a, b in starts])

    def host(x):
        if x.is_fully_addressable:
            return np.asarray(jax.device_get(x))[rows]
        by_start = {}
        for s in x.addressable_shards:
            by_start.setdefault(s.index[0].start or 0, s)
        return np.concatenate([np.asarray(by_start[a].data) for a, _ in starts])

    return rows, jax.tree.unflatten(treedef, [host(x) for x in leaves])


def barrier(name: str) -> None:
    """Wait for every process (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
