"""scanflow: a JAX simulator for checking theorems about how 1-layer transformers train.

The curated API (imported lazily, so ``import scanflow`` does not import JAX):

* configs: `load_config`, `config_from_dict`, `Config`, `ConfigError`;
* running: `run` (a sweep -> an `xarray.Dataset`, in memory or also as a run directory), `load_run`
  (a run directory or a saved file -> the same Dataset), `save` (a Dataset -> one netCDF file; plain
  ``ds.to_netcdf`` cannot write the point MultiIndex), `execute` (a run directory -> its path), `run_sweep` (the
  engine's raw arrays);
* your own theorem: `Workload`, `Problem`, `Recording`, `register_workload`, `register_paper`,
  and the check framework `scanflow.verify` (`check`, `Context`, `Result` and the gate helpers).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "Config": "scanflow.engine.config",
    "ConfigError": "scanflow.engine.config",
    "config_from_dict": "scanflow.engine.config",
    "load_config": "scanflow.engine.config",
    "run_sweep": "scanflow.engine.sweep",
    "execute": "scanflow.engine.run",
    "run": "scanflow.engine.run",
    "load_run": "scanflow.engine.results",
    "save": "scanflow.engine.dataset",
    "Workload": "scanflow.engine.workload",
    "Problem": "scanflow.engine.workload",
    "Recording": "scanflow.engine.workload",
    "register_workload": "scanflow.engine.registry",
    "register_paper": "scanflow.engine.registry",
    "get_workload": "scanflow.engine.registry",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'scanflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
