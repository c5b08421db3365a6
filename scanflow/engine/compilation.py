"""Compiling a sweep's program: ahead-of-time lowering per device (`compiled`, a bounded cache of
executables), the unrolled threefry lowering on CPU, and JAX's persistent compilation cache (where
it lives, what a run's programs came from). The JAX internals of scanflow live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from scanflow.engine.config import Config

import collections
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import jax

from scanflow.engine import sharding

from scanflow.engine.program import _map_blocks, program, static_part


# AOT-compiled executables per (static config, shapes, mesh, block): at most COMPILED_CACHE_SIZE are kept,
# least recently used dropped first (each holds device code, a few MB per device of the mesh).
COMPILED_CACHE_SIZE = 16
_COMPILED: "collections.OrderedDict" = collections.OrderedDict()


@contextlib.contextmanager
def unrolled_threefry():
    """Lower threefry2x32 with its 20 rounds unrolled on CPU too, while the sweep programs are lowered.

    JAX lowers threefry on CPU as a rolled `fori_loop` of 5 iterations: every random-number call
    site becomes a while loop of small kernels, and XLA:CPU compiles each kernel separately. The
    unrolled form (JAX's default on other backends) is one fusion per call site and computes the
    same integers, so the random streams do not change; it roughly halves the Fig-6 compile time
    (benchmarks/RESULTS.md). Uses JAX internals; without them this is a no-op.
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as tf

        prim, unrolled, rolled = tf.threefry2x32_p, tf._threefry2x32_lowering_rule, tf._threefry2x32_cpu_lowering_rule
    except (ImportError, AttributeError):
        yield
        return
    with _THREEFRY_LOCK:
        mlir.register_lowering(prim, unrolled, platform="cpu")
        try:
            yield
        finally:
            mlir.register_lowering(prim, rolled, platform="cpu")


_THREEFRY_LOCK = threading.Lock()


def _over_devices(lower: Callable, mesh) -> dict:
    """{device: lowered single-device program} for this process's devices of the mesh, in mesh order.

    `lower(sharding)` lowers the program with every argument on one device; each device gets its own
    compile (the device is baked into an executable), of one trace."""
    return {d: lower(jax.sharding.SingleDeviceSharding(d)) for d in sharding.local_devices(mesh)}


def _compile_per_device(*programs: dict) -> list[dict]:
    """[{device: executable}] of programs each lowered for every device (`_over_devices`).

    The programs compile at once, one thread each (XLA compiles without the GIL): a part's init and chunk
    programs take about the longer of the two, not the sum. On CPU every device runs the first device's
    machine code, compiled once: with the persistent compilation cache on, the other devices load it from
    the cache (their cache key leaves out the device, `_device_free_cache_keys`); with it off, the executable
    is loaded again for each device (`sharding.load_on`). Elsewhere, or if that fails, each device compiles
    its own (in parallel)."""
    import os

    outs = [{} for _ in programs]
    workers = max(2, os.cpu_count() or 2)
    if list(programs[0])[0].platform == "cpu":
        with _device_free_cache_keys(), ThreadPoolExecutor(min(len(programs), workers)) as pool:
            firsts = list(pool.map(lambda lowered: next(iter(lowered.values())).compile(), programs))
            for lowered, out, first in zip(programs, outs, firsts):
                devices = list(lowered)
                out[devices[0]] = first
                for d in devices[1:]:
                    out[d] = lowered[d].compile() if _CACHE_STATE.get("dir") else sharding.load_on(first, d)
    for lowered, out in zip(programs, outs):
        rest = [d for d in lowered if out.get(d) is None]
        if rest:
            with ThreadPoolExecutor(min(len(rest), workers)) as pool:
                out.update(zip(rest, pool.map(lambda d: lowered[d].compile(), rest)))
    return [{d: out[d] for d in lowered} for lowered, out in zip(programs, outs)]


@contextlib.contextmanager
def _device_free_cache_keys():
    """While scanflow compiles its CPU programs: persistent-cache keys without the device assignment
    (JAX does this on GPU). A single-device CPU program compiled for one host device runs on any
    other; on a cache hit JAX loads it for the device asked for. Uses JAX internals; without them
    this is a no-op (each device then compiles or loads its own entry)."""
    try:
        from jax._src import cache_key as ck

        original = ck._hash_serialized_compile_options
    except (ImportError, AttributeError):
        yield
        return

    def stripped(hash_obj, options, strip_device_assignment=False):
        return original(hash_obj, options, strip_device_assignment=True)

    with _CACHE_KEY_LOCK:
        ck._hash_serialized_compile_options = stripped
        try:
            yield
        finally:
            ck._hash_serialized_compile_options = original


_CACHE_KEY_LOCK = threading.Lock()


def compiled(cfg: Config, runs: dict, n_records: int, mesh=None, block: int | None = None):
    """AOT-compiled (init, chunk) for this static config, these run-input shapes and this mesh; cached.

    The program is `lax.map` over blocks of `block` runs (default: all runs of a device), ``vmap``
    inside, over one device's rows; it is compiled once per device of this process and the
    executables are called as one (`scanflow.engine.sharding.PerDevice`: global row-sharded arrays in
    and out). Every device count runs the same program, so a run's bits do not depend on it.
    Returns (init_exe, chunk_exe, state_shape, program, compile_seconds) -- state_shape is global
    (all rows); compile_seconds is 0 on a cache hit.
    """
    mesh = sharding.make_mesh(1) if mesh is None else mesh
    static = static_part(cfg)
    prog = program(static)
    shapes = jax.tree.map(lambda a: (a.shape, str(a.dtype)), runs)
    devices = tuple(d.id for d in mesh.devices.flat)
    n_local = jax.tree.leaves(runs)[0].shape[0] // mesh.size
    block = n_local if block is None else block
    if n_local % block:
        raise ValueError(f"block: expected a divisor of the {n_local} runs per device, got {block}")
    cache_key = (static, n_records, str(shapes), jax.config.jax_enable_x64, devices, block)
    if cache_key in _COMPILED:
        _COMPILED.move_to_end(cache_key)
        LAST_COMPILE.update({k: 0 for k in CACHE_EVENTS}, in_process=2)
        return (*_COMPILED[cache_key], prog, 0.0)
    LAST_COMPILE["in_process"] = 0
    t0 = time.perf_counter()
    wrap = jax.random.wrap_key_data

    def init_fn(root_data, runs):
        return _map_blocks(lambda xb: prog.init_runs(wrap(root_data), xb), runs, block)

    def chunk_fn(state, root_data, runs):
        return prog.chunk_blocks(state, root_data, runs, n_records, block)

    key_data = jax.random.key_data(jax.random.PRNGKey(0))
    on = lambda tree, sh: jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), tree)
    root_1 = jax.ShapeDtypeStruct(key_data.shape, key_data.dtype)
    runs_1 = jax.tree.map(lambda a: jax.ShapeDtypeStruct((n_local, *a.shape[1:]), a.dtype), runs)  # one device's rows
    init_jit, chunk_jit = jax.jit(init_fn), jax.jit(chunk_fn, donate_argnums=0)  # traced once for all devices
    with unrolled_threefry():
        init_low = _over_devices(lambda sh: init_jit.lower(on(root_1, sh), on(runs_1, sh)), mesh)
        state_1 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), next(iter(init_low.values())).out_info[0])
        chunk_low = _over_devices(lambda sh: chunk_jit.lower(on(state_1, sh), on(root_1, sh), on(runs_1, sh)), mesh)
    state_shape = jax.tree.map(lambda a: jax.ShapeDtypeStruct((a.shape[0] * mesh.size, *a.shape[1:]), a.dtype), state_1)
    before = dict(CACHE_EVENTS)
    init_dev, chunk_dev = _compile_per_device(init_low, chunk_low)
    init_exe, chunk_exe = sharding.PerDevice(init_dev, mesh), sharding.PerDevice(chunk_dev, mesh)
    LAST_COMPILE.update({k: CACHE_EVENTS[k] - before[k] for k in CACHE_EVENTS})
    _COMPILED[cache_key] = (init_exe, chunk_exe, state_shape)
    while len(_COMPILED) > COMPILED_CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return init_exe, chunk_exe, state_shape, prog, time.perf_counter() - t0


# ----------------------------------------------------------------------------- persistent compile cache
#
# scanflow turns on JAX's persistent compilation cache the first time a sweep runs (not at import), in
# $SCANFLOW_COMPILE_CACHE, else $XDG_CACHE_HOME/scanflow/jax, else ~/.cache/scanflow/jax. Opt out with
# SCANFLOW_COMPILE_CACHE=off. A cache directory the user set for JAX (JAX_COMPILATION_CACHE_DIR or
# jax.config) is used as it is. The manifest records how many of a run's programs came from the cache.

CACHE_EVENTS = {"hits": 0, "misses": 0}
LAST_COMPILE: dict = {"hits": 0, "misses": 0, "in_process": 0}
_CACHE_STATE: dict = {}


def _count_cache_event(event: str, **kw) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        CACHE_EVENTS["hits"] += 1
    elif event == "/jax/compilation_cache/cache_misses":
        CACHE_EVENTS["misses"] += 1


def enable_compile_cache() -> str | None:
    """Turn the persistent compilation cache on (once per process); return its directory or None."""
    import os

    if "dir" in _CACHE_STATE:
        return _CACHE_STATE["dir"]
    jax.monitoring.register_event_listener(_count_cache_event)
    choice = os.environ.get("SCANFLOW_COMPILE_CACHE", "").strip()
    current = jax.config.jax_compilation_cache_dir
    if choice.lower() in ("0", "off", "no", "false"):
        _CACHE_STATE["dir"] = current or None  # opted out (a cache the user set for JAX stays theirs)
        return _CACHE_STATE["dir"]
    if current:
        _CACHE_STATE["dir"] = current
        return current
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = choice or os.path.join(base, "scanflow", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        _CACHE_STATE["dir"] = None  # an unwritable home: compile as before
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)  # scanflow's programs take 1-40 s
    _CACHE_STATE["dir"] = path
    return path


def compile_cache_report() -> dict:
    """For the manifest: the cache directory and where this run's programs came from."""
    hits, misses, mem = LAST_COMPILE["hits"], LAST_COMPILE["misses"], LAST_COMPILE.get("in_process", 0)
    source = "in-process" if mem else ("persistent cache" if hits and not misses else
                                         "compiled" if not hits else "mixed")
    return {"dir": _CACHE_STATE.get("dir"), "hits": hits, "misses": misses, "programs_from": source}

