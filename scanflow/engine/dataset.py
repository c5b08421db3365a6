"""Results as an `xarray.Dataset`: named dimensions, label selection, one netCDF file.

A sweep's arrays become one Dataset, the same in memory (`scanflow.run`) and on disk (`load_run`):

* every metric has dimensions ``(point, seed, record, *metric axes)``;
* ``point`` is a grid point: a pandas MultiIndex whose levels are its hyperparameters
  (``lr_<group>``, ``init_scale_<group>``, and every other swept dynamic field), so
  ``ds.sel(lr_Y=10, lr_Z=1)`` picks runs by value and ``ds.unstack("point")`` gives the grid;
* a list of values for a static field (e.g. ``data.num_unique``) adds a dimension of its own, one
  compiled program per value; metrics whose axes differ in length across it are padded with NaN;
* the record axis is named by its label, ``step`` (discrete training) or ``time`` (gradient flow):
  ``ds.sel(step=200)`` selects by step, ``ds.isel(step=-1)`` by position (the engine's arrays call
  this axis ``record``; ``attrs["record_label"]`` says which name it has here);
* per-run flags (``diverged``, ``diverged_step``, solver status) are variables over (point, seed);
* ``attrs``: ``name``, ``workload``, ``method``, ``config`` (the resolved config as YAML text) and
  ``manifest`` (JSON text). `config_of` / `manifest_of` parse them.

On disk: ``RUN_DIR/results.nc`` (netCDF4 via h5netcdf), written to a temporary file and renamed.
netCDF has no MultiIndex, so the levels are stored as plain coordinates along ``point`` and the
index is rebuilt on load from ``attrs["point_levels"]``; ``xr.open_dataset(RUN_DIR/results.nc)``
also works, with the levels as plain coordinates.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

RESULTS_FILE = "results.nc"
ENGINE = "h5netcdf"
HP_PREFIXES = ("lr_", "init_scale_")


def to_dataset(arrays: dict, dims: dict, coords: dict, *, point_levels: list[str] | None = None,
               record_label: str = "step", config: dict | None = None, manifest: dict | None = None) -> xr.Dataset:
    """Labelled arrays -> Dataset. `point_levels` name the per-point arrays that label a grid point
    (default: those starting with ``lr_`` or ``init_scale_``); `record_label` (``step`` or
    ``time``) names the ``record`` axis and `coords["record"]` holds its values."""
    if point_levels is None:
        point_levels = [k for k in arrays if k.startswith(HP_PREFIXES) and tuple(dims[k]) == ("point",)]
    data_vars, level_coords = {}, {}
    for k, a in arrays.items():
        if k in point_levels:
            level_coords[k] = ("point", np.asarray(a))
        else:  # the record axis is named by its label: no unlabelled axis that .sel could index by position
            data_vars[k] = (tuple(record_label if d == "record" else d for d in dims[k]), np.asarray(a))
    used = {d for v in data_vars.values() for d in v[0]}
    coords = {(record_label if k == "record" else k): v for k, v in coords.items()}
    plain = {k: np.asarray(v) for k, v in coords.items() if k != "point" and k in used}
    ds = xr.Dataset(data_vars, coords={**plain, **level_coords})
    ds = _index_points(ds, point_levels)
    ds.attrs.update(_attrs(config, manifest, point_levels, record_label))
    return ds


def _index_points(ds: xr.Dataset, levels: list[str]) -> xr.Dataset:
    """Index the point axis by its labels: a MultiIndex of the learning rates and of every label that
    varies across points (a label constant over the grid, such as a default init scale, stays a
    plain coordinate along ``point``)."""
    if not levels or "point" not in ds.dims:
        return ds
    levels = [k for k in levels if ds[k].dims == ("point",)]  # a label that differs by static part is 2-d
    index = [k for k in levels if k.startswith("lr_") or np.unique(ds[k].values).size > 1] or list(levels[:1])
    if not index:
        return ds
    import pandas as pd

    mi = pd.MultiIndex.from_arrays([ds[k].values for k in index], names=index)
    return ds.drop_vars(index).assign_coords(xr.Coordinates.from_pandas_multiindex(mi, "point"))


def _attrs(config, manifest, levels, record_label) -> dict:
    out = {"point_levels": json.dumps(list(levels)), "record_label": record_label}
    if config is not None:
        out["name"] = str(config.get("name", ""))
        out["workload"] = str(config.get("workload", ""))
        out["method"] = str(config.get("train", {}).get("method", "sgd"))
        out["config"] = yaml.safe_dump(config, sort_keys=False)
    if manifest is not None:
        out["manifest"] = json.dumps(manifest, default=_json_default)
    return out


def combine(parts: list, names: list[str]) -> xr.Dataset:
    """Datasets of the static parts of one sweep (``[(values tuple, Dataset)]``, one value per static
    axis, in grid order) -> one Dataset with a dimension per static axis (`names`). Axes whose
    length differs across parts (the tokens of different vocabularies) are padded with NaN; per-point
    labels that differ across parts (an init scale of 1/sqrt(M)) gain the static dimension."""
    import pandas as pd

    kw = dict(join="outer", coords="different", compat="equals", combine_attrs="drop_conflicts",
              data_vars="all", fill_value=np.nan)
    datasets = [d for _, d in parts]
    if len(names) == 1:
        ds = xr.concat(datasets, dim=pd.Index([v[0] for v, _ in parts], name=names[0]), **kw)
    else:
        mi = pd.MultiIndex.from_tuples([tuple(v) for v, _ in parts], names=names)
        ds = xr.concat(datasets, dim=xr.Coordinates.from_pandas_multiindex(mi, "part"), **kw).unstack("part")
    ds.attrs["static_axes"] = json.dumps(list(names))
    return ds


def static_axes(ds: xr.Dataset) -> list[str]:
    """The dimensions of a Dataset that are static sweep axes (one compiled program per value)."""
    return json.loads(ds.attrs.get("static_axes", "[]"))


def split_parts(ds: xr.Dataset) -> list[tuple[dict, xr.Dataset]]:
    """The static parts of a Dataset (`combine`) as ``[(values, Dataset of that part)]``: each part is
    cut to its own axes (padding dropped) and carries its own config and manifest (its workload info,
    timings and diverged runs), so code written for one program's results works on each part.
    A Dataset without static axes is one part: ``[({}, ds)]``."""
    names = static_axes(ds)
    if not names:
        return [({}, ds)]
    manifest, config = manifest_of(ds), config_of(ds)
    label = ds.attrs.get("record_label", "step")
    out = []
    for info in manifest.get("parts", []):
        values = info["values"]  # {"section.field": value}
        key = dict(zip(names, values.values()))
        part = ds.sel(key)
        for d in list(part.dims):
            if d not in ("point", "seed", label) and d in part.coords:
                part = part.dropna(d, how="all")  # a smaller vocabulary's padding
        cfg = json.loads(json.dumps(config))
        for path, v in values.items():
            section, field = path.split(".")
            cfg.setdefault(section, {})[field] = v
            (cfg.get("sweep", {}).get("grid") or {}).pop(path, None)
        key_vals = set(key.items())
        bad = [b for b in manifest.get("diverged_runs", []) if key_vals <= set(b.items())]
        m = {**manifest, "workload_info": info["workload_info"], "timings": info["timings"], "diverged_runs": bad}
        m.pop("parts", None)
        part = part.copy()
        part.attrs.update(_attrs(cfg, m, point_levels(ds), label), static_axes="[]")
        out.append((values, part))
    return out


def inert_axes(ds: xr.Dataset) -> list[str]:
    """Sweep axes (point labels with >= 2 values, static axes) along which every recorded variable is
    identical: an axis that changed nothing, e.g. ``model.init_scale`` under ``model.init: zero``. A
    grid over such an axis repeats one run; `scanflow run` warns about it."""
    names = [n for n in point_levels(ds) if n in ds.coords] + static_axes(ds)
    flat = ds
    if "point" in ds.indexes and hasattr(ds.indexes["point"], "levels"):
        try:
            flat = ds.unstack("point")
        except ValueError:
            return []
    out = []
    for name in names:
        if name not in flat.dims or flat.sizes[name] < 2:
            continue
        metrics = [v for v in flat.data_vars.values() if name in v.dims and v.dtype.kind in "fcib"]
        if metrics and all(_constant_along(v, name) for v in metrics):
            out.append(name)
    return out


def _constant_along(v: xr.DataArray, dim: str) -> bool:
    a = np.moveaxis(np.asarray(v.values), v.dims.index(dim), 0)
    return all(np.array_equal(a[0], a[k], equal_nan=a.dtype.kind in "fc") for k in range(1, a.shape[0]))


def config_of(ds: xr.Dataset) -> dict:
    """The resolved config a Dataset was computed from (a dict, as in ``config.yaml``). A static axis
    selected to one value (``ds.sel(batch_size=4)``) is that value's config: the field holds it and the
    axis leaves ``sweep.grid``."""
    cfg = yaml.safe_load(ds.attrs.get("config", "{}")) or {}
    grid = (cfg.get("sweep") or {}).get("grid") or {}
    for name in static_axes(ds):
        if name in ds.dims or name not in ds.coords or ds[name].ndim != 0:
            continue  # still an axis of this Dataset
        for path in list(grid):
            section, field = path.split(".")
            if name in (field, f"{section}_{field}"):
                value = ds[name].values.item()
                cfg.setdefault(section, {})[field] = value
                grid.pop(path)
    if not grid and isinstance(cfg.get("sweep"), dict) and "grid" in cfg["sweep"]:
        cfg["sweep"]["grid"] = None
    return cfg


def manifest_of(ds: xr.Dataset) -> dict:
    """The manifest of a Dataset: versions, provenance, devices, timings, diverged runs."""
    return json.loads(ds.attrs.get("manifest", "{}"))


def point_levels(ds: xr.Dataset) -> list[str]:
    return json.loads(ds.attrs.get("point_levels", "[]"))


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` to `path` atomically (temporary sibling, then rename)."""
    path = Path(path)
    flat = ds.reset_index("point") if "point" in ds.indexes else ds
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        from scanflow.engine.atomic import guarded_hdf5_write

        # a failed write (full disk, `ulimit -f`) is an OSError naming `path`: HDF5 itself would crash on it
        guarded_hdf5_write(tmp, lambda f: flat.to_netcdf(f, engine=ENGINE), name=path)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a scanflow Dataset (a run's, a selection of one, a notebook's) to one netCDF file that
    `scanflow.load_run` reads back with its point index, config and manifest. Plain ``ds.to_netcdf``
    cannot write the point MultiIndex (netCDF has none); this stores its levels as coordinates. Atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_netcdf(ds, path)


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Load a ``results.nc`` fully into memory (the file is closed) and rebuild its indexes."""
    ds = xr.load_dataset(path, engine=ENGINE)
    return _index_points(ds, [k for k in point_levels(ds) if k in ds.coords])


def _json_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (tuple, set)):
        return list(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def at_last_record(ds, name: str):
    """Variable `name` at the run's last record, whether it was recorded at every record or kept at the last
    one only (``train.final_metrics``: stored without the record axis)."""
    label = ds.attrs.get("record_label", "step")
    v = ds[name]
    return v.isel({label: -1}) if label in v.dims else v


__all__ = ["RESULTS_FILE", "at_last_record", "combine", "config_of", "inert_axes", "manifest_of", "point_levels", "read_netcdf", "save", "split_parts",
           "static_axes", "to_dataset", "write_netcdf"]

