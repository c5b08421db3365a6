"""Extending a finished sweep (``scanflow run RUN_DIR sweep.seeds=20``): only the new runs are computed,
the finished ones are matched by their labels (a field that became an axis labels them with the value
they were computed at) and the merged Dataset equals a fresh sweep of the union bit for bit, at the
run's own block size (`scanflow.engine.identity`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from scanflow.engine import grid
from scanflow.engine import results
from scanflow.engine.config import Config, ConfigError, to_dict
from scanflow.engine.identity import mismatch
from scanflow.engine.sweep import run_sweep

from scanflow.engine import plan as plan_module
from scanflow.engine.run import combine_parts


# Fields an extension may change: more seeds, more learning rates, more values of a grid axis. Anything
# else changes what the finished runs mean.
EXTENDABLE = ("sweep.seeds", "sweep.lr", "sweep.grid", "sweep.max_memory_gb", "sweep.max_run_steps", "name", "out_dir")


def extend(run_dir: str | Path, overrides=(), out_dir: str | Path | None = None, progress: bool = False,
           plot: bool = True, n_devices: int | None = None, runs_per_block: int | None = None) -> Path:
    """A finished sweep with more seeds, learning rates or axis values, computing only the new runs.

    `overrides` change the run's config (``sweep.seeds=20``, ``'sweep.lr.Y=[1, 10, 100]'``,
    ``'data.num_last=[1, 3, 5]'``, or a field that becomes an axis, ``'train.momentum=[0.9, 0.5]'``:
    the finished runs are labelled with the value they were computed at); nothing else may change.
    Seeds share their keys across points and a run's bits depend only on its static config,
    hyperparameters, seed and block size (the run's own, `scanflow.engine.identity`; another
    `runs_per_block` is refused, as are data files whose content changed), so the merged result is
    bit-identical to a fresh sweep of the larger grid at that block size. Writes a NEW run directory
    (the old one is kept) and returns its path; with no new run to compute it says so (`ConfigError`)."""
    from scanflow.engine.config import config_from_dict
    from scanflow.engine.dataset import config_of, manifest_of

    run_dir = Path(run_dir)
    old = results.load_run(run_dir)
    raw = config_of(old)
    base = config_from_dict(raw)
    cfg = config_from_dict(raw, list(overrides))
    axes_now = set(cfg.sweep.grid or {}) | set(base.sweep.grid or {})  # a field that is (or was) an axis: its
    changed = [c for c in _changed_fields(to_dict(base), to_dict(cfg)) if c not in axes_now]  # values are in sweep.grid
    bad = [c for c in changed if not c.startswith(EXTENDABLE)]
    if bad:
        raise ConfigError(f"{bad[0]}: an extension of {run_dir} may change only the seeds, learning rates and grid "
                          f"axes; to change {bad[0]} start a new run (scanflow run {run_dir / 'config.yaml'} ...)")
    if cfg.sweep.seeds < base.sweep.seeds:
        raise ConfigError(f"sweep.seeds: expected at least the run's {base.sweep.seeds} seeds, got {cfg.sweep.seeds}")
    saved = _saved_identity(manifest_of(old))
    plan = plan_module.resolve(cfg, runs_per_block or saved.get("runs_per_block"))
    wrong = mismatch(saved, plan.identity, str(run_dir), "extend a run of the current data with scanflow run CONFIG")
    if wrong:
        raise ConfigError(wrong)
    outs, computed = [], 0
    for part in plan.parts:
        prev = _old_part(old, base, cfg, part.values)
        out = _extend_part(part, prev, base, progress=progress, n_devices=n_devices, runs_per_block=plan.block)
        computed += out.timings["computed_runs"]
        outs.append((part.values, part.cfg, out))
    if computed == 0:
        raise ConfigError(f"{', '.join(changed) or 'overrides'}: no new run to compute; {run_dir} already holds them all")
    ds = combine_parts(cfg, outs, time.strftime("%Y-%m-%dT%H:%M:%S%z"), plan.identity)
    m = manifest_of(ds)
    m.update(extended_from=str(run_dir), computed_runs=computed, reused_runs=int(sum(
        np.prod([o.arrays["diverged"].shape]) for _, _, o in outs)) - computed)
    ds.attrs["manifest"] = json.dumps(m, default=str)
    final = results.new_run_dir(out_dir if out_dir is not None else run_dir.parent, cfg.name)
    path = results.write_run(final, ds)
    if plot:
        from scanflow.engine.figures import plot_run

        plot_run(path)
    return path


def _saved_identity(manifest: dict) -> dict:
    """The identity of a finished run; for a run of an older scanflow, the block size from its timings."""
    ident = manifest.get("identity")
    if isinstance(ident, dict):
        return ident
    timings = manifest.get("timings") or {}
    block = timings.get("runs_per_block") or next(
        (p.get("timings", {}).get("runs_per_block") for p in manifest.get("parts") or []), None)
    return {"runs_per_block": block} if block else {}


def _changed_fields(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        path = f"{prefix}{k}"
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _changed_fields(a[k], b[k], path + ".")
        elif a.get(k) != b.get(k):
            out.append(path)
    return out


def _value_at(cfg: Config, path: str):
    section, name = path.split(".")
    return getattr(getattr(cfg, section), name)


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def _old_part(old, base: Config, cfg: Config, values: dict):
    """The finished run's Dataset at the static values `values` of the extended config `cfg` (None if
    it holds none), cut to its own axes. A static axis the old run did not have matches its single
    value; one the old run had but `cfg` does not is selected at `cfg`'s value."""
    old_static = grid.axes(base, dynamic=False)
    key = {}
    for path, v in values.items():
        if path in old_static:
            key[grid.label(path, set())] = v
        elif not _same(v, _value_at(base, path)):
            return None  # a value the old run was not computed at
    for path in old_static:
        if path not in values:
            key[grid.label(path, set())] = _value_at(cfg, path)
    if not key:
        return old
    try:
        return old.sel(key)
    except (KeyError, ValueError):
        return None


def _extend_part(part, prev, base: Config, **kw):
    """SweepOutput of a plan's part, computing only the runs `prev` (a Dataset of the finished run,
    computed from `base`, or None) does not hold. Points are matched on every label either side has: a
    label one side holds as a single config value (a field that became an axis) takes that value."""
    from scanflow.engine.dataset import point_levels

    cfg = part.cfg
    labels = dict(part.labels)
    P, S = len(next(iter(labels.values()))), cfg.sweep.seeds
    have = np.full(P, -1)
    S_old = 0
    if prev is not None:
        S_old, P_old = prev.sizes["seed"], prev.sizes["point"]
        old_labels = {k: np.asarray(prev[k].values, np.float64).reshape(-1) for k in point_levels(prev) if k in prev.coords}
        for name, path in _dynamic_label_paths(cfg, base).items():  # the field on the side where it is one value
            if name not in labels:
                labels[name] = np.full(P, float(_value_at(cfg, path)))
            if name not in old_labels:
                old_labels[name] = np.full(P_old, float(_value_at(base, path)))
        keys = sorted(set(labels) | set(old_labels))
        unknown = [k for k in keys if k not in labels or k not in old_labels]
        if unknown:
            raise ConfigError(f"{unknown[0]}: a label of the extended sweep that the finished run cannot be matched on; "
                              "start a new run")
        index = {tuple(old_labels[k][q] for k in keys): q for q in range(P_old)}
        have = np.array([index.get(tuple(labels[k][p] for k in keys), -1) for p in range(P)])
    need = [p * S + s for p in range(P) for s in range(S) if have[p] < 0 or s >= S_old]
    if not need:
        out = run_sweep(cfg, only_runs=[0], prepared=part, **kw)  # labels, coords, dims (one run, replaced below)
    else:
        out = run_sweep(cfg, only_runs=need, prepared=part, **kw)
    out.timings["computed_runs"] = len(need)
    if prev is None:
        return out
    label = out.record_label
    for name, a in out.arrays.items():
        if name in out.point_levels or out.dims[name][:2] != ("point", "seed"):
            continue
        dims = [label if d == "record" else d for d in out.dims[name]]
        src = prev[name]
        for d in dims[2:]:  # a padded static part: back to this part's own coordinates
            if d in out.coords and d in src.dims:
                src = src.sel({d: out.coords[d] if d != label else out.coords["record"]})
        src = src.transpose(*dims).values
        for p in np.nonzero(have >= 0)[0]:
            a[p, :S_old] = src[have[p], :S_old].astype(a.dtype)
    return out


def _dynamic_label_paths(cfg: Config, base: Config) -> dict:
    """``{label: path}`` of every dynamic axis of either config (as `scanflow.engine.sweep.axis_labels`
    names them)."""
    from scanflow.engine.program import axis_label_names

    return {**axis_label_names(base), **axis_label_names(cfg)}

