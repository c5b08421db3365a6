"""Run directories: the resolved config, a manifest, and arrays with named axes.

Layout of a run directory::

    RUN_DIR/
      config.yaml      the resolved config (re-runnable with `scanflow run RUN_DIR/config.yaml`)
      manifest.json    versions, provenance, devices, x64, timings, diverged runs (also in results.nc)
      results.nc       every metric with named dimensions, an `xarray.Dataset` in netCDF
                       (`scanflow.engine.dataset`)
      figures/         plots, PNG and PDF (views of results.nc; `scanflow plot RUN_DIR` re-draws them)

A directory is written under a temporary name and renamed into place, so a reader never sees a
half-written run. `load_run` reads it back as an `xarray.Dataset` in one call. A sweep in progress (`scanflow.engine.run.execute`)
lives in ``RUN_DIR.partial/`` (config, streamed records, checkpoints) until it is complete; an
interrupted one stays there and is resumed by ``scanflow run RUN_DIR.partial``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scanflow.engine.atomic import atomic_write_bytes  # also what sweep and figures write with

PACKAGES = ("scanflow", "jax", "jaxlib", "flax", "optax", "diffrax", "equinox", "numpy", "scipy", "xarray", "h5netcdf",
            "h5py", "matplotlib", "pyyaml", "tqdm")
PLUGIN_GROUPS = ("scanflow.workloads", "scanflow.papers")


def versions() -> dict[str, str]:
    """Python's and every package's version that decides or stores a result, and every installed
    plug-in package (a distribution with a ``scanflow.workloads`` or ``scanflow.papers`` entry point)."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    for group in PLUGIN_GROUPS:
        for ep in metadata.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            if dist is not None and dist.name not in out:
                out[dist.name] = dist.version
    return out


def git_state() -> dict[str, Any] | None:
    """The commit and dirty flag of the checkout scanflow runs from (None when not a git checkout)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit or None, "dirty": dirty}


def provenance() -> dict[str, Any]:
    """What produced a result: package versions, the git commit (and dirty flag) of a checkout, the
    device kind and XLA flags. Written into manifests and reports."""
    import os

    info = {"versions": versions(), "git": git_state(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "host": platform.node()}
    try:
        import jax

        info["device_kind"] = sorted({d.device_kind for d in jax.devices()})
        info["backend"] = jax.default_backend()
    except Exception:  # noqa: BLE001 - provenance must never stop a run
        pass
    return info


def device_info() -> dict[str, Any]:
    import jax

    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
    }


def _json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def new_run_dir(out_dir: str | Path, name: str, stamp: str | None = None) -> Path:
    """A fresh path ``OUT/NAME-YYYYmmdd-HHMMSS[-k]`` (neither it nor its ``.partial`` exists)."""
    out = Path(out_dir)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    path = out / f"{name}-{stamp}"
    k = 1
    while path.exists() or unfinished_dir(path).exists():
        path = out / f"{name}-{stamp}-{k}"
        k += 1
    return path


def write_run(path: str | Path, ds) -> Path:
    """Write a run directory holding the Dataset `ds` atomically (temp dir + rename). Refuses to
    overwrite. The config and manifest come from ``ds.attrs`` (`scanflow.engine.dataset`)."""
    from scanflow.engine.dataset import config_of

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"run directory {path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; a run directory is meant to be shared
        (tmp / "config.yaml").write_text(yaml.safe_dump(config_of(ds), sort_keys=False))
        _write_results(tmp, ds)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_results(path: Path, ds) -> None:
    """results.nc, and manifest.json (the same manifest as ``ds.attrs["manifest"]``, for reading)."""
    from scanflow.engine.dataset import RESULTS_FILE, manifest_of, write_netcdf

    write_netcdf(ds, path / RESULTS_FILE)
    atomic_write_bytes(path / "manifest.json", json.dumps(manifest_of(ds), indent=2, default=_json_default).encode())


# ----------------------------------------------------------------------------- unfinished runs
#
# A run in progress lives in RUN_DIR.partial/ (config.yaml, records/, checkpoint-p*.npz; see
# `scanflow.engine.store`). `finish_run` writes the results into it, drops the records and checkpoints
# and renames it to RUN_DIR: a directory without the suffix is always complete.

UNFINISHED_SUFFIX = ".partial"


def is_unfinished(path: str | Path) -> bool:
    path = Path(path)
    return path.name.endswith(UNFINISHED_SUFFIX) and (path / "config.yaml").is_file()


def unfinished_dir(final: Path) -> Path:
    return final.with_name(final.name + UNFINISHED_SUFFIX)


def final_dir(unfinished: Path) -> Path:
    return unfinished.with_name(unfinished.name[: -len(UNFINISHED_SUFFIX)])


def start_run(final: str | Path, config: dict, info: dict | None = None) -> Path:
    """Create RUN_DIR.partial with the resolved config (and ``run.json``: facts checked on resume,
    such as the config's hash); return it. The config is written last: a directory without it is
    not resumable and is never mistaken for one."""
    work = unfinished_dir(Path(final))
    if Path(final).exists() or work.exists():
        raise FileExistsError(f"run directory {final} already exists")
    text = yaml.safe_dump(config, sort_keys=False).encode()  # before the directory: a config that cannot be
    info_text = json.dumps(info, indent=2).encode() if info is not None else None  # written leaves nothing
    work.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir()
    if info_text is not None:
        atomic_write_bytes(work / "run.json", info_text)
    atomic_write_bytes(work / "config.yaml", text)
    return work


def finish_run(work: str | Path, ds) -> Path:
    """Write the results (`ds`, an `xarray.Dataset`) into an unfinished run directory and rename it
    into place; return RUN_DIR. ``ds=None``: the results are already in `work` (a kill hit the
    clean-up below)."""
    work, final = Path(work), final_dir(Path(work))
    if final.exists():
        raise FileExistsError(f"run directory {final} already exists")
    if ds is not None:
        _write_results(work, ds)
    # what only a run in progress needs: records, checkpoints, each static part's own (parts/), the block
    # layout and the identity (both in the manifest now), .tmp files left by a kill mid-write, the lock
    for d in ("records", "parts"):
        shutil.rmtree(work / d, ignore_errors=True)
    for f in [*work.glob("checkpoint-p*.npz"), *work.glob(".*.tmp"), work / "layout.json", work / "run.json",
              work / "lock"]:
        f.unlink(missing_ok=True)
    os.rename(work, final)
    return final


def has_results(work: str | Path) -> bool:
    """The results of an unfinished run directory are written (it was killed while being renamed)."""
    from scanflow.engine.dataset import RESULTS_FILE

    return (Path(work) / RESULTS_FILE).is_file() and (Path(work) / "manifest.json").is_file()


def load_run(path: str | Path):
    """Load a run directory as an `xarray.Dataset` (see `scanflow.engine.dataset`): metrics over
    (point, seed, record, ...), grid points labelled by their hyperparameters (``ds.sel(lr_Y=10)``),
    records by step or time (``ds.sel(step=200)``), the config and manifest in ``attrs``.
    A netCDF file written by `scanflow.save` loads too, and a run directory of scanflow <= 0.1 (``arrays.npz``). Damage: `RunDirError`, one line; a
    missing file: `FileNotFoundError` naming it."""
    from scanflow.engine.dataset import RESULTS_FILE, to_dataset
    from scanflow.engine.store import RunDirError, open_npz

    path = Path(path)
    if path.is_file() and path.suffix == ".nc":  # one Dataset written by scanflow.save
        ds = _read_results(path, "write it again with scanflow.save")
        ds.attrs["run_dir"] = str(path)
        return ds
    if is_unfinished(path):
        raise FileNotFoundError(f"{path}: unfinished run directory (resume it with `scanflow run {path}`)")
    legacy = not (path / RESULTS_FILE).is_file() and (path / "arrays.npz").is_file()
    missing = missing_run_file(path)
    if missing:
        raise FileNotFoundError(missing)
    fix = f"the run directory is damaged; run its config again: scanflow run {path / 'config.yaml'}"
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
        if legacy:
            dims = {k: tuple(v) for k, v in manifest.pop("dims").items()}
            coords = {k: np.asarray(v) for k, v in manifest.pop("coords").items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RunDirError(f"{path / 'manifest.json'}: damaged ({e.__class__.__name__}); {fix}") from None
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise RunDirError(f"{path / 'config.yaml'}: damaged ({e.__class__.__name__}); restore it from the manifest's "
                          "command or re-run the sweep") from None
    if legacy:
        arrays = open_npz(path / "arrays.npz", "results", fix)
        label = "time" if config.get("train", {}).get("method") == "flow" else "step"
        ds = to_dataset(arrays, dims, coords, record_label=label, config=config, manifest=manifest)
    else:
        ds = _read_results(path / RESULTS_FILE, fix)
    ds.attrs["run_dir"] = str(path)
    return ds


RUN_FILES = ("config.yaml", "manifest.json", "results.nc")  # what a finished run directory holds (figures/ aside)


def missing_run_file(path: str | Path) -> str | None:
    """The one-line message for a run directory that lacks one of its files (naming it and what to do),
    or None when none is missing. Not a directory, or none of the files: not a run directory."""
    path = Path(path)
    if not path.is_dir():
        return f"{path}: {'a file' if path.exists() else 'not found'}; expected a run directory"
    files = [*RUN_FILES[:2], "arrays.npz" if not (path / RUN_FILES[2]).is_file() and (path / "arrays.npz").is_file()
             else RUN_FILES[2]]
    have = [f for f in files if (path / f).is_file()]
    if len(have) == len(files):
        return None
    if not have:
        return f"{path}: not a scanflow run directory (no {', '.join(RUN_FILES[:2])} or {RUN_FILES[2]})"
    gone = next(f for f in files if f not in have)
    again = (f"run its config again: scanflow run {path / 'config.yaml'}" if "config.yaml" in have else
             "run the sweep again")
    return (f"{path / gone}: missing from the run directory {path} (it holds {' and '.join(have)}); restore the "
            f"file from a copy, or {again}")


def _read_results(f: Path, fix: str):
    """results.nc as a Dataset, or `RunDirError` naming it. A file cut short (a failed write, a partial
    copy) is caught by a cheap check first: HDF5 may crash on it, not raise."""
    import gc
    import sys

    from scanflow.engine.dataset import read_netcdf
    from scanflow.engine.store import RunDirError, check_file

    check_file(f, "results", fix)
    hook, problem = sys.unraisablehook, None

    def quiet(unraisable):  # a half-opened file's clean-up fails too: one line, not three (an interrupt still counts)
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        try:
            return read_netcdf(f)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
            problem = f"{e.__class__.__name__}: {str(e)[:80]}"
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise RunDirError(f"{f}: damaged ({problem}); {fix}")
