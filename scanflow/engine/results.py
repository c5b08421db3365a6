"""Run directories: the resolved config, a manifest, and arrays with named axes.

Layout of a run directory::

    RUN_DIR/
      config.yaml      the resolved config (re-runnable with `scanflow run RUN_DIR/config.yaml`)
      manifest.json    versions, devices, x64, timings, diverged runs, axis names and coordinates
      arrays.npz       one array per metric; axes are named in manifest["dims"]
      figures/         plots (views of arrays.npz; `scanflow plot RUN_DIR` re-draws them)

A directory is written under a temporary name and renamed into place, so a reader never sees a
half-written run. `load_run` reads it back in one call. A sweep in progress (`scanflow.engine.run.execute`)
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
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PACKAGES = ("scanflow", "jax", "jaxlib", "flax", "optax", "diffrax", "equinox", "numpy", "matplotlib")


@dataclass
class RunResults:
    """A loaded run: `arrays[name]` has axes `dims[name]`; `coords[axis]` labels an axis."""

    path: Path
    config: dict
    manifest: dict
    arrays: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def sel(self, name: str, **index: int) -> np.ndarray:
        """Index an array by axis name, e.g. ``r.sel("loss", point=1, seed=0)``."""
        dims = self.dims[name]
        unknown = set(index) - set(dims)
        if unknown:
            raise KeyError(f"{name} has axes {dims}, not {sorted(unknown)}")
        idx = tuple(index.get(d, slice(None)) for d in dims)
        return self.arrays[name][idx]

    def axis(self, name: str, dim: str) -> int:
        return self.dims[name].index(dim)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
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


def write_run(
    path: str | Path,
    config: dict,
    arrays: dict[str, np.ndarray],
    dims: dict[str, tuple[str, ...]],
    coords: dict[str, np.ndarray],
    manifest: dict,
) -> Path:
    """Write a run directory atomically (temp dir + rename). Refuses to overwrite."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"run directory {path} already exists")
    _check_arrays(arrays, dims)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        _write_results(tmp, arrays, dims, coords, manifest)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _check_arrays(arrays: dict, dims: dict) -> None:
    missing = [k for k in arrays if k not in dims]
    if missing:
        raise ValueError(f"arrays without axis names: {missing}")
    for k, a in arrays.items():
        if np.asarray(a).dtype.kind not in "biuf":
            raise ValueError(f"{k}: expected a numeric array, got dtype {np.asarray(a).dtype}")
        if np.ndim(a) != len(dims[k]):
            raise ValueError(f"{k}: {np.ndim(a)}-d array but axes {dims[k]}")


def _write_results(path: Path, arrays: dict, dims: dict, coords: dict, manifest: dict) -> None:
    full = dict(manifest)
    full["dims"] = {k: list(v) for k, v in dims.items()}
    full["coords"] = {k: np.asarray(v).tolist() for k, v in coords.items()}
    (path / "manifest.json").write_text(json.dumps(full, indent=2, default=_json_default))
    with open(path / "arrays.npz", "wb") as f:
        np.savez(f, **arrays)


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


def finish_run(work: str | Path, arrays: dict, dims: dict, coords: dict, manifest: dict) -> Path:
    """Write the results into an unfinished run directory and rename it into place; return RUN_DIR."""
    work, final = Path(work), final_dir(Path(work))
    if final.exists():
        raise FileExistsError(f"run directory {final} already exists")
    if arrays is not None:  # None: the results are already in `work` (a kill hit the clean-up below)
        _check_arrays(arrays, dims)
        tmp = Path(tempfile.mkdtemp(prefix=".results.tmp-", dir=work))
        try:
            _write_results(tmp, arrays, dims, coords, manifest)
            for f in ("arrays.npz", "manifest.json"):
                os.replace(tmp / f, work / f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(work / "records", ignore_errors=True)
    for f in [*work.glob("checkpoint-p*.npz"), *work.glob(".*.tmp"), work / "lock"]:  # .tmp: left by a kill mid-write
        f.unlink(missing_ok=True)
    os.rename(work, final)
    return final


def load_run(path: str | Path) -> RunResults:
    """Load a run directory written by `write_run`."""
    path = Path(path)
    if is_unfinished(path):
        raise FileNotFoundError(f"{path}: unfinished run directory (resume it with `scanflow run {path}`)")
    for f in ("config.yaml", "manifest.json", "arrays.npz"):
        if not (path / f).is_file():
            raise FileNotFoundError(f"{path}: not a scanflow run directory (missing {f})")
    from scanflow.engine.store import RunDirError, open_npz

    fix = f"the run directory is damaged; run its config again: scanflow run {path / 'config.yaml'}"
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        dims = {k: tuple(v) for k, v in manifest["dims"].items()}
        coords = {k: np.asarray(v) for k, v in manifest["coords"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RunDirError(f"{path / 'manifest.json'}: damaged ({e.__class__.__name__}); {fix}") from None
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise RunDirError(f"{path / 'config.yaml'}: damaged ({e.__class__.__name__}); restore it from the manifest's "
                          "command or re-run the sweep") from None
    arrays = open_npz(path / "arrays.npz", "results", fix)
    return RunResults(path, config, manifest, arrays, dims, coords)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file via a temporary sibling and `os.replace` (used for figures)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
