"""Figures are views of results: saving figures, and drawing every figure of a run.

A workload's ``plots(ds) -> {name: Figure}`` draws from an `xarray.Dataset` (`scanflow.load_run`)
and saves nothing; `plot_run` saves each figure as ``NAME.png`` and ``NAME.pdf``. The plot
functions of each paper (``scanflow.papers.<paper>.plots``) also take a Dataset and return a
Figure, for use in a notebook.

Importing this module selects no backend (no ``matplotlib.use``): in a notebook figures show inline,
and on a machine without a display matplotlib falls back to Agg by itself.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from scanflow.engine.results import atomic_write_bytes

FORMATS = ("png", "pdf")


def save(fig, path: str | Path, dpi: int = 130, tight: bool = False) -> Path:
    """Write `fig` to `path` atomically in the format of its suffix (PNG without one) and close it
    (`save_all` with one format)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    return save_all(fig, path if path.suffix else path.with_suffix(".png"), dpi, tight, formats=(fmt,))[0]


def save_all(fig, path: str | Path, dpi: int = 130, tight: bool = False, formats=FORMATS) -> list[Path]:
    """The one figure saver (run directories, reports, sims, examples): write `fig` once per format
    (default PNG and PDF), each atomically, and close it. `path`'s suffix, if it is one of `formats`,
    is replaced: ``save_all(fig, "figures/loss")`` writes loss.png and loss.pdf."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lstrip(".") in formats else path
    try:
        if tight:
            fig.tight_layout()
        data = {fmt: _render(fig, fmt, dpi, False) for fmt in formats}
    finally:
        plt.close(fig)
    out = []
    for fmt, blob in data.items():
        target = stem.with_name(f"{stem.name}.{fmt}")
        atomic_write_bytes(target, blob)
        out.append(target)
    return out


def _render(fig, fmt: str, dpi: int, tight: bool) -> bytes:
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def record_values(ds) -> np.ndarray:
    """The step (or time) of each record of a results Dataset (its ``step`` / ``time`` coordinate)."""
    return np.asarray(ds[ds.attrs.get("record_label", "step")].values)


def figures_of(ds) -> dict:
    """Every figure of a results Dataset (its workload's `Workload.plots`): ``{name: Figure}``. A sweep
    over static axes (`scanflow.engine.dataset.split_parts`) gets each part's figures, prefixed by the
    part's values (``num_last3_loss``)."""
    from scanflow.engine.dataset import config_of
    from scanflow.engine.registry import workload_hook

    from scanflow.engine.dataset import split_parts

    workload = ds.attrs.get("workload") or config_of(ds).get("workload")
    out = {}
    for values, part in split_parts(ds):  # a sweep over static axes: each part's figures, named by its values
        figs = workload_hook(workload, "plots")(part)  # a plug-in's exception: one line naming it
        if not isinstance(figs, dict):
            from scanflow.engine.workload import PluginError

            raise PluginError(workload, "plots", message=f"plots(ds) must return a dict name -> Figure, got "
                                                         f"{type(figs).__name__}")
        tag = "".join(f"{p.split('.')[-1]}{v}_" for p, v in values.items())
        if values:  # say which part a figure shows
            shown = ", ".join(f"{p}={v}" for p, v in values.items())
            for fig in figs.values():
                title = fig.get_suptitle()
                fig.suptitle(f"{title} ({shown})" if title else shown)
        out.update({f"{tag}{name}": fig for name, fig in figs.items()})
    return out


def plot_run(run, out_dir: str | Path | None = None, prefix: str = "") -> list[Path]:
    """Draw every figure of a run (a run directory or its loaded Dataset) with its workload's
    `Workload.plots` and save each as ``OUT/PREFIXNAME.png`` and ``.pdf`` (atomically); return the
    paths (none if the workload draws none). OUT defaults to RUN_DIR/figures."""
    import xarray as xr

    from scanflow.engine.results import load_run

    ds = run if isinstance(run, xr.Dataset) else load_run(run)
    if out_dir is None:
        run_dir = ds.attrs.get("run_dir") if isinstance(run, xr.Dataset) else run
        if not run_dir:
            raise ValueError("plot_run: out_dir is needed for a Dataset not loaded from a run directory")
        out_dir = Path(run_dir) / "figures"
    figs = figures_of(ds)
    out, paths = Path(out_dir), []
    try:
        for name, fig in list(figs.items()):
            paths += save_all(figs.pop(name), out / f"{prefix}{name}")
    finally:
        for fig in figs.values():  # those not saved (an error or Ctrl-C): do not leak open figures
            plt.close(fig)
    return paths


__all__ = ["FORMATS", "figures_of", "plot_run", "plt", "record_values", "save", "save_all"]
