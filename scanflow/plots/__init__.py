"""Plots are views of a run directory: they read `arrays.npz`, never simulate."""

from __future__ import annotations

from pathlib import Path


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "") -> list[Path]:
    """Draw every figure of a run into out_dir (default RUN_DIR/figures); return the paths."""
    from scanflow.results import load_run

    r = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    workload = r.config.get("workload", "scan_snap")
    if workload == "scan_snap":
        from scanflow.plots import scan_snap

        return scan_snap.plot_all(r, out, prefix)
    if workload == "cooccurrence":
        from scanflow.plots import cooccurrence

        return cooccurrence.plot_all(r, out, prefix)
    raise ValueError(f"no plots for workload {workload!r}")
