"""The resource estimate of a config, before anything is built: the workload's `Footprint` (sizes of one
run from the config alone), the memory of the records and of the carried state with one vmapped block,
and the number of optimizer steps; `check_resources` refuses a sweep above ``sweep.max_memory_gb`` /
``sweep.max_run_steps`` in one line naming the field that drives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


from typing import TYPE_CHECKING

from scanflow.engine.validation import ConfigError

if TYPE_CHECKING:
    from scanflow.engine.config import Config


# ----------------------------------------------------------------------------- resource estimate


@dataclass(frozen=True)
class Footprint:
    """A workload's size estimate of ONE run, from the config alone (element counts; nothing is built).

    params: parameters; step: the largest intermediates of one training step or one record's
    metrics (activations of a batch, a sampled batch itself); record: values in one record (all
    metrics together); data: constants of the program shared by every run (a data set on the
    device). The ``*_field`` names are the config fields that make each term large; a refusal names
    the one of the largest term. Returned by the workload's ``footprint(cfg)`` (`Workload.footprint`).
    """

    params: int = 0
    step: int = 0
    record: int = 0
    data: int = 0
    params_field: str = "model"
    step_field: str = "data"
    record_field: str = "train.record_every"
    data_field: str = "data"


def dominant(terms: dict) -> str:
    """The key of the largest value (the field that drives a size), e.g. ``{"data.seq_len": T, ...}``."""
    return max(terms.items(), key=lambda kv: kv[1])[0]


_OPTIMIZER_SLOTS = {"sgd": 0, "sgd_momentum": 1, "adam": 2}  # others (adamw, lion, ...): assume 2


def estimate(cfg: "Config", runs_per_block: int | None = None) -> dict:
    """The resources a config needs, from sizes alone (`Footprint`): ``runs``, ``records`` (how many
    per run), ``records_bytes`` (the records of every run: host memory and disk), ``device_bytes``
    (the carried state of every run, one vmapped block of ``runs_per_block`` runs (default 1, a lower
    bound: the CLI re-checks with the real block) and the device-side records of one chunk) and
    ``run_steps`` (runs x train.steps). Each comes with the config field that drives it."""
    from scanflow.engine.registry import get_workload, workload_hook

    wl = get_workload(cfg.workload)
    fp = workload_hook(cfg.workload, "footprint")(cfg) if wl.footprint is not None else Footprint()
    lr = cfg.sweep.lr if cfg.sweep.lr is not None else wl.lr_default
    P = math.prod(len(v) for v in lr.values())  # the product grid (an upper bound for any other grid)
    if cfg.sweep.grid:
        from scanflow.engine import grid

        P *= len(grid.dynamic_points(cfg))  # dynamic axes multiply the points of one program
    S = cfg.sweep.seeds
    R = P * S
    t = cfg.train
    n_rec = t.steps // t.record_every + 1
    b = 8 if cfg.x64 else 4
    rec = fp.record + 2  # + train_loss and the engine's flags
    block = max(1, min(R, runs_per_block or 1))
    if t.method == "flow":
        carried, working = 1, 10  # y; the solver's stages, error estimate and the vector field's gradient
    else:
        carried = 1 + _OPTIMIZER_SLOTS.get(t.optimizer, 2) + 2  # params, optimizer slots, last update and gradient
        working = 3  # gradient, update, new parameters
    rpc = t.records_per_chunk or max(1, (n_rec - 1) // 10)
    grid = dominant({"sweep.seeds": S, "sweep.lr": P})
    records_bytes = R * n_rec * rec * b
    terms = {  # device memory: (bytes, field)
        "state": (R * fp.params * carried * b, dominant({grid: R, fp.params_field: fp.params})),
        "block": (block * (working * fp.params + 2 * fp.step) * b,
                  dominant({fp.step_field: 2 * fp.step, fp.params_field: working * fp.params})),
        "chunk records": (R * rpc * rec * b, dominant({grid: R, "train.records_per_chunk": rpc, fp.record_field: rec})),
        "data": (fp.data * b, fp.data_field),
    }
    device_bytes = sum(v for v, _ in terms.values())
    return {
        "runs": R, "points": P, "seeds": S, "records": n_rec, "record_values": rec, "bytes_per_value": b, "block": block,
        "records_bytes": records_bytes,
        "records_field": dominant({grid: R, "train.steps": n_rec, fp.record_field: rec}),
        "device_bytes": device_bytes,
        "device_field": max(terms.values())[1],
        "device_terms": {k: v for k, (v, _) in terms.items()},
        "run_steps": R * t.steps,
        "steps_field": dominant({"train.steps": t.steps, grid: R}),
    }


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB"


def check_resources(cfg: "Config", runs_per_block: int | None = None) -> dict:
    """Refuse a config whose estimate (`estimate`) is above ``sweep.max_memory_gb`` or
    ``sweep.max_run_steps``: one line naming the field that drives it and the estimate."""
    e = estimate(cfg, runs_per_block)
    sw = cfg.sweep
    ceiling = sw.max_memory_gb * 1e9
    if e["records_bytes"] > ceiling:
        raise ConfigError(
            f"{e['records_field']}: expected records that fit in sweep.max_memory_gb={sw.max_memory_gb:g}, got about "
            f"{_gb(e['records_bytes'])} ({e['runs']} runs x {e['records']} records x {e['record_values']} values x "
            f"{e['bytes_per_value']} bytes); record less (train.record_every), run fewer seeds or points, or raise "
            "sweep.max_memory_gb")
    if e["device_bytes"] > ceiling:
        parts = ", ".join(f"{k} {_gb(v)}" for k, v in e["device_terms"].items() if v >= 0.01 * e["device_bytes"])
        raise ConfigError(
            f"{e['device_field']}: expected a sweep whose device memory fits in sweep.max_memory_gb="
            f"{sw.max_memory_gb:g}, got about {_gb(e['device_bytes'])} ({parts}; {e['runs']} runs, vmapped "
            f"{e['block']} at a time); reduce {e['device_field']} or raise sweep.max_memory_gb")
    if e["run_steps"] > sw.max_run_steps:
        raise ConfigError(
            f"{e['steps_field']}: expected at most sweep.max_run_steps={sw.max_run_steps:.3g} steps in all, got "
            f"{e['runs']} runs x {cfg.train.steps} steps = {e['run_steps']:.3g}; shorten the runs, run fewer, or raise "
            "sweep.max_run_steps")
    return e

