"""Shared plumbing of the norm-growth checks: figure saving (views only; checks produce arrays)."""

from __future__ import annotations

from scanflow.engine.figures import plt, save
from scanflow.verify import Context


def fig_path(ctx: Context, fig, name: str) -> str:
    """Save `fig` into the check's figure directory; return the file name for the report."""
    ctx.fig_dir.mkdir(parents=True, exist_ok=True)
    save(fig, ctx.fig_dir / name, dpi=110)
    return name


__all__ = ["fig_path", "plt"]
