"""Figures are views of results: saving one figure, and drawing every figure of a run directory.

Importing this module selects no backend (no ``matplotlib.use``): in a notebook figures show inline,
and on a machine without a display matplotlib falls back to Agg by itself.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from scanflow.engine.results import atomic_write_bytes


def save(fig, path: str | Path, dpi: int = 130, tight: bool = False) -> Path:
    """Write `fig` to `path` atomically (format from the suffix, PNG by default) and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "") -> list[Path]:
    """Draw every figure of a run into out_dir (default RUN_DIR/figures) with its workload's
    `Workload.plots`; return the paths (none if the workload draws none)."""
    from scanflow.engine.registry import get_workload
    from scanflow.engine.results import load_run

    r = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    return list(get_workload(r.config.get("workload", "scan_snap")).plots(r, out, prefix))


__all__ = ["plot_run", "plt", "save"]
