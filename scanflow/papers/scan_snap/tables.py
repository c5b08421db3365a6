"""The Fig-6 table of a Scan and Snap sweep (final distinct-token entropy on the eta_Z x eta_Y/eta_Z
grid) and the helpers it reads a run with. No plotting: `scanflow run` prints this table without
importing matplotlib; the figures are in `plots_sweeps`."""

from __future__ import annotations

import numpy as np
import xarray as xr

from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.results import load_run

# Initial distinct-token entropy with z = 0: H(i / 55, i = 1..10) (spec §2).
_W = np.arange(1, 11) / 55.0
H0 = float(-(_W * np.log(_W)).sum())

# Threshold x-ranges of the paper's Figs 11-12 (spec §4), keyed by M.
THRESHOLD_RANGES = {33: (0.028, 0.038), 79: (0.012, 0.016), 125: (0.0075, 0.0105), 240: (0.004, 0.005)}


def _load(run) -> xr.Dataset:
    return run if isinstance(run, xr.Dataset) else load_run(run)


def _where(r: xr.Dataset) -> str:
    """The run directory of a loaded run (its name when it has none), for messages."""
    return str(r.attrs.get("run_dir") or r.attrs.get("name", "results"))


def threshold_range(M: int) -> tuple[float, float]:
    """The paper's x-range for this M; otherwise [0.9/M, 1.25/M] (the paper's ranges bracket ~1/M)."""
    return THRESHOLD_RANGES.get(int(M), (0.9 / M, 1.25 / M))


def distinct_mask(r: xr.Dataset) -> np.ndarray:
    """G_DT as a (K, M) mask, rebuilt from P(l|n) stored in the manifest."""
    p = np.asarray(manifest_of(r)["workload_info"]["probs_KxM"])
    return (p > 0) & ((p > 0).sum(0) == 1)[None, :]


def vocab(r: xr.Dataset) -> dict:
    info = manifest_of(r)["workload_info"]
    data = config_of(r).get("data", {})
    return {"M": int(info["M"]), "K": int(info["K"]), "L": int(data.get("num_last", 0))}


def _ok(r: xr.Dataset) -> np.ndarray:
    return ~np.asarray(r["diverged"].values, bool)


def final_entropy(r: xr.Dataset) -> np.ndarray:
    """(point, seed): distinct-token entropy at the last record, averaged over classes (NaN if diverged)."""
    e = r["entropy"].values[:, :, -1, :].mean(-1).astype(np.float64)
    return np.where(_ok(r), e, np.nan)


def ratio_grid(r: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eta_Z values, ratio values, index (nZ, nR) -> point) from the stored per-point learning rates."""
    lz, ly = np.asarray(r["lr_Z"].values, np.float64), np.asarray(r["lr_Y"].values, np.float64)
    zs, rs, idx = _grid_index(lz, np.round(ly / lz, 6), _where(r), "eta_Z x ratio")
    return zs, rs, idx


def _grid_index(a: np.ndarray, b: np.ndarray, path, what: str):
    """(unique a, unique b, index (na, nb) -> point) for per-point values forming a product grid."""
    ua, ub = np.unique(a), np.unique(b)
    idx = np.full((len(ua), len(ub)), -1)
    for p in range(len(a)):
        idx[np.searchsorted(ua, a[p]), np.searchsorted(ub, b[p])] = p
    if (idx < 0).any():
        raise ValueError(f"{path}: the learning rates are not a full {what} product grid")
    return ua, ub, idx


def is_fig6_grid(ds: xr.Dataset) -> bool:
    """A sweep over the paper's (eta_Z, eta_Y/eta_Z) grid that recorded the entropy: Fig 6 and its table apply."""
    return set((config_of(ds).get("sweep") or {}).get("lr") or {}) == {"Z", "Y_over_Z"} and "entropy" in ds


def fig6_table(run) -> dict:
    """Final class-mean distinct entropy on the (eta_Z, ratio) grid: mean and std over seeds.

    std is the across-seed standard deviation (ddof = 0), as in the paper's error bars (spec §5);
    `sem` = std(ddof=1) / sqrt(n). Diverged seeds are dropped and counted in `n`.
    """
    r = _load(run)
    zs, rs, idx = ratio_grid(r)
    e = final_entropy(r)[idx]  # (nZ, nR, S)
    n = np.isfinite(e).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(e, -1)
        std = np.nanstd(e, -1)
        sem = np.nanstd(e, -1, ddof=1) / np.sqrt(n)
    return {**vocab(r), "eta_Z": zs, "ratio": rs, "mean": mean, "std": std, "sem": sem, "n": n,
            "values": e, "path": _where(r)}


def format_fig6_table(t: dict) -> str:
    """A text table: rows eta_Z, columns eta_Y/eta_Z, cells mean ± std."""
    head = f"M={t['M']} (#last/next = {t['L']}/{t['K']})  " + "".join(f"{'nu=' + f'{x:g}':>16s}" for x in t["ratio"])
    rows = [head]
    for i, z in enumerate(t["eta_Z"]):
        cells = "".join(f"{t['mean'][i, j]:9.4f}±{t['std'][i, j]:.4f}" for j in range(len(t["ratio"])))
        rows.append(f"  eta_Z={z:<5g}{'':17s}" + cells)
    return "\n".join(rows)
