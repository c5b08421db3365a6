"""Map ``config.workload`` to the module that builds its `Problem`.

A workload module provides ``build(cfg) -> Problem``, ``hyperparams(cfg, M) -> hp`` (the dynamic
arrays of the sweep: ``hp["lr"][group]`` and ``hp["init_scale"][name]``, leading point axis) and
``point_arrays(cfg, hp, record_steps) -> (arrays, dims)`` (extra labelled arrays such as a clock).
"""

from __future__ import annotations

import importlib

from scanflow.config import Config

MODULES = {"scan_snap": "scanflow.workloads.scan_snap", "cooccurrence": "scanflow.workloads.cooccurrence"}


def workload_module(cfg: Config):
    if cfg.workload not in MODULES:
        raise ValueError(f"workload: unknown {cfg.workload!r}")  # validate() prevents this
    return importlib.import_module(MODULES[cfg.workload])


def build_problem(cfg: Config):
    return workload_module(cfg).build(cfg)
