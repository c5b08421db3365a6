"""Map ``config.workload`` to the module that builds its `Problem`."""

from __future__ import annotations

from scanflow.config import Config


def build_problem(cfg: Config):
    if cfg.workload == "scan_snap":
        from scanflow.workloads import scan_snap

        return scan_snap.build(cfg)
    raise ValueError(f"workload: unknown {cfg.workload!r}")  # validate() prevents this
