"""Shared plumbing of the Scan and Snap checks: the base population config and `sweep`."""

from __future__ import annotations

import matplotlib.pyplot as plt

from scanflow.engine.config import config_from_dict  # noqa: E402
from scanflow.engine.sweep import SweepOutput, run_sweep  # noqa: E402
from scanflow.verify import Context  # noqa: E402

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


def sweep(base: dict, *overrides: str) -> SweepOutput:
    """Run a sweep of `base` with dotted overrides (one vmapped program). The resolved config rides along
    as ``out.config``: the assumption meters read the setting from it (data mode, learning rates)."""
    cfg = config_from_dict(base, list(overrides))
    out = run_sweep(cfg)
    out.config = cfg
    return out


__all__ = ["POP", "plt", "sweep"]
