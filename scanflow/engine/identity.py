"""A run's identity: everything that decides its numbers, compared on resume and on extension.

A run's bits depend on its resolved config (every axis value, the precision ``x64``), on the
vmapped block size (XLA's rounding depends on it, see `scanflow.engine.sweep.run_sweep`) and on the
content of the data files its workload reads (a corpus: the content, not the path; a relative path
resumed from another directory, or a file edited in place, would give other numbers). The identity is
written when a run starts (``RUN.partial/run.json``) and into the finished run's manifest
(``manifest["identity"]``); `mismatch` names the first thing that changed, in one line.

    identity = {"config_sha256": "...", "runs_per_block": 4,
                "data": {"data.train": {"sha256": "...", "path": "data/wikitext-2/test.txt"}, ...}}

A workload declares its data files with ``Workload.data_files(cfg) -> {name: path}`` (optional; the
built-in synthetic workloads read none).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from scanflow.engine.config import Config, ConfigError, to_dict


def config_hash(cfg: Config) -> str:
    """sha256 of the resolved config (canonical JSON)."""
    text = json.dumps(to_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (a data file named by a config)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise ConfigError(f"{path}: a data file of the run cannot be read ({e.strerror or e.__class__.__name__})") from None
    return h.hexdigest()


def data_hashes(cfg: Config) -> dict[str, dict]:
    """``{"data.<name>": {"sha256": ..., "path": ...}}`` of every data file the workload reads, over every static part of `cfg`."""
    from scanflow.engine import grid
    from scanflow.engine.registry import workload_hook

    files = workload_hook(cfg.workload, "data_files")  # a plug-in's exception: one line naming it
    if files is None:
        return {}
    out: dict[str, dict] = {}
    parts = grid.static_parts(cfg)
    for values, part in parts:
        tag = "" if len(parts) == 1 else "[" + ",".join(f"{k}={v}" for k, v in values.items()) + "]"
        for name, path in files(part).items():
            out[f"data.{name}{tag}"] = {"sha256": file_hash(path), "path": str(Path(path).resolve())}
    return out


def identity(cfg: Config, runs_per_block: int) -> dict:
    """The identity of a run of `cfg` computed in vmapped blocks of `runs_per_block` runs."""
    return {"config_sha256": config_hash(cfg), "runs_per_block": int(runs_per_block), "data": data_hashes(cfg)}


def mismatch(saved: dict, now: dict, where: str, fix: str) -> str | None:
    """One line naming what differs between a saved identity and the current one (None: the same).
    Keys the saved identity lacks (a run of an older scanflow) are not compared."""
    if "runs_per_block" in saved and saved["runs_per_block"] != now["runs_per_block"]:
        return (f"--runs-per-block: {where} was computed with {saved['runs_per_block']} runs per block and its bits "
                f"depend on it, got {now['runs_per_block']}; omit the flag (or pass --runs-per-block "
                f"{saved['runs_per_block']})")
    old_data, new_data = saved.get("data"), now["data"]
    if old_data is not None:
        for name in sorted(set(old_data) | set(new_data)):
            a, b = old_data.get(name), new_data.get(name)
            if (a or {}).get("sha256") != (b or {}).get("sha256"):
                what = f"{a['path']} is no longer read" if b is None else f"{b['path']} was not read" if a is None else (
                    f"{b['path']} differs from the one {where} was computed from ({a['path']}: sha256 "
                    f"{a['sha256'][:12]}..., now {b['sha256'][:12]}...)")
                return f"{name}: the data file {what}; its records belong to the original data; {fix}"
    return None


__all__ = ["config_hash", "data_hashes", "file_hash", "identity", "mismatch"]
