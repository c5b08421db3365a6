"""The run axis on a device mesh: padding, the validity mask, and host <-> device transfers.

A sweep's runs (hyperparameter point x seed, point-major) form one axis R. It is padded to a
multiple of the device count, R_pad, and placed on a one-axis mesh ``("runs",)``; every device
runs the same single-device program on its rows (`PerDevice`: no SPMD partitioning, so a run's bits
do not depend on the device count), blocks of runs one after another with ``vmap`` inside. Padding
runs repeat run 0's inputs (harmless, finite) and are dropped on the host by `RunLayout.valid_R`.

Every random number is drawn inside the per-run function from ``fold_in(root, seed)``, so a run's
numbers do not depend on how many devices share the sweep (never draw one big sharded array: its
values can depend on the shard count).

Multi-process (``jax.distributed``): each process owns the rows of its addressable devices;
`local_rows` returns them with their global run indices, so each process writes its own shard.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as PS

from scanflow.engine.validation import ConfigError

RUN_AXIS = "runs"


def make_mesh(n_devices: int | None = None) -> jax.sharding.Mesh:
    """A one-axis mesh ``("runs",)`` over the first `n_devices` devices (default: all, every process)."""
    devices = jax.devices()
    n = len(devices) if n_devices is None else n_devices
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices: expected 1..{len(devices)} (devices available), got {n}")
    # The mesh only lays out the global arrays; the programs are single-device (`PerDevice`), so no
    # aval carries it (lineax, diffrax's implicit solvers, rejects avals with a mesh in their type).
    return jax.make_mesh((n,), (RUN_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n])


@dataclass(frozen=True)
class RunLayout:
    """Run r < n_runs is (point_R[r], seed_R[r]); rows n_runs..n_padded-1 are padding."""

    n_points: int
    n_seeds: int
    n_padded: int
    subset: tuple | None = None  # the flat runs (point * n_seeds + seed) computed, when not all of them

    @property
    def run_ids(self) -> np.ndarray:
        return np.arange(self.n_points * self.n_seeds) if self.subset is None else np.asarray(self.subset, int)

    @property
    def n_runs(self) -> int:
        return len(self.run_ids)

    @property
    def valid_R(self) -> np.ndarray:
        return np.arange(self.n_padded) < self.n_runs

    def _ids_R(self) -> np.ndarray:
        return np.concatenate([self.run_ids, np.zeros(self.n_padded - self.n_runs, int)])

    @property
    def point_R(self) -> np.ndarray:
        return np.where(self.valid_R, self._ids_R() // self.n_seeds, 0)

    @property
    def seed_R(self) -> np.ndarray:
        return np.where(self.valid_R, self._ids_R() % self.n_seeds, 0).astype(np.int32)


def run_layout(n_points: int, n_seeds: int, n_devices: int, block: int = 1, subset=None) -> RunLayout:
    """Pad R = P * S runs (or the runs of `subset`) to a multiple of n_devices * block."""
    unit = n_devices * block
    n = n_points * n_seeds if subset is None else len(subset)
    return RunLayout(n_points, n_seeds, -(-n // unit) * unit, None if subset is None else tuple(int(r) for r in subset))


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


class PerDevice:
    """One single-device executable per addressable device of `mesh`, called like one program over
    global arrays: each device runs its own executable on its shard of every argument (a replicated
    argument: its copy), and every output leaf is reassembled row-sharded over the mesh.

    The sweep programs need no communication between devices, so this runs exactly the program a
    one-device sweep runs, whatever the device count, and never goes through XLA's SPMD partitioner
    (whose rewrites changed float32 results by an ulp). The devices run in parallel: accelerator
    calls return at once (asynchronous dispatch); a CPU call runs the program before it returns, so
    on CPU each device is called from its own thread. A donated argument's shards are donated to
    their device's executable.
    """

    def __init__(self, exes: dict, mesh: jax.sharding.Mesh):
        self.exes = exes  # device -> executable, this process's devices in mesh order
        self.mesh = mesh
        self.threads = len(exes) > 1 and next(iter(exes)).platform == "cpu"

    def __call__(self, *args):
        leaves, treedef = jax.tree.flatten(args)
        by_device = [{s.device: s.data for s in x.addressable_shards} for x in leaves]  # all shards before any donation
        calls = [(exe, jax.tree.unflatten(treedef, [m[d] for m in by_device])) for d, exe in self.exes.items()]
        if self.threads:
            outs = [f.result() for f in [_dispatch_pool().submit(exe, *a) for exe, a in calls]]
        else:
            outs = [exe(*a) for exe, a in calls]
        per_device = [jax.tree.leaves(o) for o in outs]
        rows = row_sharding(self.mesh)
        glob = [jax.make_array_from_single_device_arrays((a.shape[0] * self.mesh.size, *a.shape[1:]), rows,
                                                         [o[i] for o in per_device])
                for i, a in enumerate(per_device[0])]
        return jax.tree.unflatten(jax.tree.structure(outs[0]), glob)


def load_on(compiled, device):
    """A single-device executable compiled for one CPU device, loaded for another `device` (the same
    machine code: on the host, devices differ only in their id); None if this JAX cannot.

    Uses JAX's executable serialisation (`jax.experimental.serialize_executable`) with the device
    assignment replaced; the loaded copy computes the same bits (`tests/test_sharding.py`)."""
    import io

    try:
        from jax._src.lib import xla_client as xc
        from jax.experimental import serialize_executable as se

        payload, in_tree, out_tree = se.serialize(compiled)

        class _Unpickler(se._JaxPjrtUnpickler):
            def __init__(self, file):
                super().__init__(file, device.client, [device])
                self.devices_by_id = {d.id: device for d in device.client.devices()}  # a one-device program

            def persistent_load(self, pid):
                if pid[0] == "exec":
                    opts = xc.CompileOptions()
                    opts.device_assignment = xc.DeviceAssignment.create(np.array([[device.id]]))
                    return self.backend.deserialize_executable(pid[1], executable_devices=self.execution_devices,
                                                               compile_options=opts)
                return super().persistent_load(pid)

        unloaded, args_info, no_kwargs = _Unpickler(io.BytesIO(payload)).load()
        return jax.stages.Compiled(unloaded.load(), [], in_tree.unflatten(args_info), out_tree, no_kwargs=no_kwargs)
    except Exception:  # noqa: BLE001 -- private API of this JAX version: compile for the device instead
        return None


def use_host_cores() -> int | None:
    """Give JAX one CPU device per core available to this process, before its CPU backend starts.

    XLA:CPU runs one program on about one core (the sweep's small matrix products do not split), so
    on a host with C cores the runs are sharded over C CPU devices, each called from its own thread
    (`PerDevice`): a run's bits do not depend on the device count. ``SCANFLOW_CPU_DEVICES=N`` sets
    the count (1: one device). Nothing changes when JAX's backend is already running, or when
    ``XLA_FLAGS`` or ``jax_num_cpu_devices`` already set the count. Returns the count set, or None.
    Called by the command line; in Python, call it first (before anything runs on a JAX device)."""
    import os

    from jax._src import xla_bridge

    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "") or xla_bridge.backends_are_initialized():
        return None
    if jax.config.jax_num_cpu_devices not in (-1, None):
        return None
    raw = os.environ.get("SCANFLOW_CPU_DEVICES", "").strip()
    try:
        n = int(raw) if raw else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    except ValueError:
        raise ConfigError(f"SCANFLOW_CPU_DEVICES: expected a positive integer, got {raw!r}") from None
    if not n or n < 1:
        raise ConfigError(f"SCANFLOW_CPU_DEVICES: expected a positive integer, got {raw!r}")
    jax.config.update("jax_num_cpu_devices", int(n))
    return int(n)


_POOL: list = []


def _dispatch_pool() -> ThreadPoolExecutor:
    """Threads that call the CPU devices' executables (created once, as needed)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(64, thread_name_prefix="scanflow-device"))
    return _POOL[0]


def local_devices(mesh: jax.sharding.Mesh) -> list:
    """The mesh's devices that belong to this process, in mesh order."""
    return [d for d in mesh.devices.flat if d.process_index == jax.process_index()]


def barrier(name: str) -> None:
    """Wait for every process (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
