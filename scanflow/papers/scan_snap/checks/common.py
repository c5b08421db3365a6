"""Shared plumbing of the Scan and Snap checks: the base population config and the run's workload info.

A check runs a setting with ``ctx.run(POP, *overrides)`` and reads the `xarray.Dataset` it returns (the one
`scanflow.load_run` gives): metrics over (point, seed, step), points labelled by their rates (``ds.lr_Y``),
the resolved config in ``scanflow.engine.dataset.config_of(ds)``."""

from __future__ import annotations

import matplotlib.pyplot as plt

from scanflow.engine.dataset import manifest_of

# (P) mode: exact T -> inf loss, plain GD, zero init, float64, every step recorded. Deterministic,
# so a single seed is the measurement.
POP = {"workload": "scan_snap", 
    "name": "check",
    "x64": True,
    "data": {"mode": "population"},
    "model": {"init": "zero"},
    "train": {"optimizer": "sgd", "record_every": 1},
    "sweep": {"seeds": 1},
}


def info(ds) -> dict:
    """The workload info of a run (``M``, ``K``, ``probs_KxM``, token groups): its manifest's ``workload_info``."""
    return manifest_of(ds)["workload_info"]


__all__ = ["POP", "info", "plt"]
