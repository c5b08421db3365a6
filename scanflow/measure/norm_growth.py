"""Parameter-norm-growth measurements on a recorded trajectory (norm-growth spec §1.1, §4(a), §4(b)).

Every function works on a *trajectory pytree*: a pytree of arrays whose leaves share a leading
record axis R (one row per checkpoint), together with the record times ``t_R``. Nothing here knows
about a model: top-level keys of a dict pytree are the parameter *groups* (spec §4(a): tok_emb,
pos_emb, attention, MLP, LN, unembedding, ...).

Pure float64 NumPy. Shape suffixes: R records, P flattened parameters, B bootstrap resamples.

Contents
- flattening and norms: `flatten_records_RxP`, `total_norm_R`, `group_norms`, `step_norm_R1`;
- growth exponent: `local_exponent`, `windowed_exponent` (spec §4(a) fit 1);
- least-squares fits with pairs-bootstrap intervals: `fit_linear_law` (rho = a g(t) + b, spec §4(a)
  fit 3), `fit_power_law` (rho = a t^p + b, fit 2), `fit_loglog` (OLS of log rho on log t), and
  `compare_laws` (t^p, sqrt t, t^{1/4}, t, log t, (log t)^{1/L});
- directions (spec §4(b)): `cosine_consecutive_R1`, `cosine_2x`, `cosine_to_final_R`, `alignment_R1`;
- `per_group`: apply any of the above to each top-level group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "flatten_records_RxP",
    "total_norm_R",
    "group_norms",
    "step_norm_R1",
    "local_exponent",
    "windowed_exponent",
    "FitResult",
    "LAWS",
    "fit_linear_law",
    "fit_power_law",
    "fit_loglog",
    "compare_laws",
    "best_law",
    "log_root_law",
    "cosine_consecutive_R1",
    "cosine_2x",
    "cosine_to_final_R",
    "alignment_R1",
    "per_group",
]


# ----------------------------------------------------------------------------- flattening, norms


def _leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)


def flatten_records_RxP(tree) -> np.ndarray:
    """Flatten a trajectory pytree to theta_RxP (spec §1.1: all chosen tensors flattened and
    concatenated). Leaves must share the leading record axis R; order is jax's leaf order."""
    leaves = [np.asarray(x, dtype=np.float64) for x in _leaves(tree)]
    if not leaves:
        raise ValueError("empty parameter pytree")
    R = leaves[0].shape[0]
    for x in leaves:
        if x.ndim == 0 or x.shape[0] != R:
            raise ValueError(f"every leaf needs the leading record axis R={R}, got shape {x.shape}")
    return np.concatenate([x.reshape(R, -1) for x in leaves], axis=1)


def _as_RxP(x) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return x.astype(np.float64, copy=False)
    return flatten_records_RxP(x)


def total_norm_R(tree) -> np.ndarray:
    """rho(t) = ||theta_t||_2 over all leaves (spec §1.1); accepts a pytree or theta_RxP."""
    return np.linalg.norm(_as_RxP(tree), axis=1)


def per_group(fn: Callable, tree: dict, *args, **kwargs) -> dict:
    """Apply ``fn(subtree, *args, **kwargs)`` to each top-level group of a dict pytree
    (spec §4(a) per-group norms, §4(b) "optionally per group")."""
    if not isinstance(tree, dict):
        raise TypeError("per-group measurements need a dict pytree (top-level keys are groups)")
    return {k: fn(v, *args, **kwargs) for k, v in tree.items()}


def group_norms(tree: dict) -> dict[str, np.ndarray]:
    """Per-group norms rho_g(t), one array of shape (R,) per top-level key (spec §1.1, §4(a))."""
    return per_group(total_norm_R, tree)


def step_norm_R1(tree) -> np.ndarray:
    """||theta_{k+1} - theta_k|| between consecutive records, shape (R-1,) (spec §2.1 Fig. 5 right).

    Equals ||delta_t|| of spec §1.6 only when records are consecutive optimizer steps."""
    th = _as_RxP(tree)
    return np.linalg.norm(np.diff(th, axis=0), axis=1)


# ----------------------------------------------------------------------------- growth exponent


def local_exponent(t_R, rho_R) -> tuple[np.ndarray, np.ndarray]:
    """p between consecutive records: Delta log rho / Delta log t (spec §4(a) fit 1).

    Returns (t_mid, p) with t_mid the geometric midpoints. Records with t <= 0 are dropped.
    For rho = a t^p this is exactly p; for logarithmic growth p(t) ~ 1/log t."""
    t, rho = _positive_t(t_R, rho_R)
    lt, lr = np.log(t), np.log(rho)
    return np.exp(0.5 * (lt[1:] + lt[:-1])), np.diff(lr) / np.diff(lt)


def windowed_exponent(t_R, rho_R, factor: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """OLS slope of log rho on log t over sliding windows [t_i, factor * t_i] (spec §4(a) fit 1,
    "one-decade windows" for factor = 10). Returns (t_center geometric, p) for every i whose window
    reaches factor * t_i and holds >= 2 records."""
    t, rho = _positive_t(t_R, rho_R)
    lt, lr = np.log(t), np.log(rho)
    centers, ps = [], []
    for i in range(len(t)):
        j = np.searchsorted(t, factor * t[i] * (1 - 1e-12), side="left")
        if j >= len(t):
            break
        x, y = lt[i : j + 1], lr[i : j + 1]
        if len(x) < 2:
            continue
        xc = x - x.mean()
        ps.append(np.dot(xc, y - y.mean()) / np.dot(xc, xc))
        centers.append(np.exp(0.5 * (x[0] + x[-1])))
    return np.array(centers), np.array(ps)


def _positive_t(t_R, rho_R):
    t = np.asarray(t_R, dtype=np.float64)
    rho = np.asarray(rho_R, dtype=np.float64)
    keep = t > 0
    t, rho = t[keep], rho[keep]
    order = np.argsort(t)
    return t[order], rho[order]


# ----------------------------------------------------------------------------- least-squares fits


@dataclass
class FitResult:
    """A least-squares fit of rho(t) (spec §4(a)).

    params: fitted parameters (a, b and, for the power law, p). r2: coefficient of determination of
    rho (for `fit_loglog`, of log rho). sse: residual sum of squares. residuals_R: data minus fit.
    ci: {name: (lo, hi)} pairs-bootstrap percentile intervals at `level`. boot: {name: array (B,)}."""

    law: str
    params: dict
    r2: float
    sse: float
    residuals_R: np.ndarray
    ci: dict = field(default_factory=dict)
    boot: dict = field(default_factory=dict)
    level: float = 0.95


# regressors g(t) for rho = a g(t) + b (spec §4(a) fit 3); t must be > 1 for the log laws
LAWS: dict[str, Callable] = {
    "t": lambda t: t,
    "sqrt_t": np.sqrt,
    "t^1/4": lambda t: t**0.25,
    "log_t": np.log,
    "sqrt_log_t": lambda t: np.sqrt(np.log(t)),
}


def log_root_law(L: float) -> Callable:
    """g(t) = (log t)^{1/L}: the L-homogeneous norm law of Lyu & Li (spec §5 C5)."""
    return lambda t: np.log(t) ** (1.0 / L)


def _ols_B(g_BxR, y_BxR):
    """Batched OLS of y = a g + b; returns a_B, b_B, sse_B."""
    gm = g_BxR.mean(1, keepdims=True)
    ym = y_BxR.mean(1, keepdims=True)
    gc, yc = g_BxR - gm, y_BxR - ym
    a = (gc * yc).sum(1) / (gc * gc).sum(1)
    b = ym[:, 0] - a * gm[:, 0]
    res = y_BxR - (a[:, None] * g_BxR + b[:, None])
    return a, b, (res * res).sum(1)


def _r2(y, res):
    yc = y - y.mean()
    return float(1.0 - np.dot(res, res) / np.dot(yc, yc))


def _boot_idx_BxR(R, n_boot, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, R, size=(n_boot, R))


def _ci(samples_B, level):
    q = (1.0 - level) / 2.0
    return (float(np.quantile(samples_B, q)), float(np.quantile(samples_B, 1.0 - q)))


def fit_linear_law(t_R, rho_R, g, law: str = "custom", n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> FitResult:
    """OLS of rho = a g(t) + b with an intercept (spec §4(a) fit 3; the paper's r^2 test, §2.1).

    ``g`` is a callable or a key of `LAWS`. Intervals: pairs bootstrap over records with a
    ``numpy.random.default_rng(seed)``; ``n_boot=0`` skips it."""
    if isinstance(g, str):
        law, g = g, LAWS[g]
    t = np.asarray(t_R, dtype=np.float64)
    y = np.asarray(rho_R, dtype=np.float64)
    gt = g(t)
    a, b, sse = _ols_B(gt[None], y[None])
    res = y - (a[0] * gt + b[0])
    out = FitResult(law, {"a": float(a[0]), "b": float(b[0])}, _r2(y, res), float(sse[0]), res,
                    level=level)
    if n_boot:
        idx = _boot_idx_BxR(len(t), n_boot, seed)
        aB, bB, _ = _ols_B(gt[idx], y[idx])
        ok = np.isfinite(aB)
        out.boot = {"a": aB[ok], "b": bB[ok]}
        out.ci = {k: _ci(v, level) for k, v in out.boot.items()}
    return out


def _profile_power_B(lt_BxR, y_BxR, p_lo, p_hi, iters=80):
    """Minimise SSE(p) of y = a t^p + b over p in [p_lo, p_hi] (a, b profiled out by OLS) per row:
    a coarse grid, then golden-section refinement in the best bracket. Vectorised over B."""
    grid = np.linspace(p_lo, p_hi, 61)
    sse_G = np.stack([_ols_B(_tpow(lt_BxR, p), y_BxR)[2] for p in grid], axis=1)  # (B, G)
    k = np.argmin(sse_G, axis=1)
    lo = grid[np.maximum(k - 1, 0)]
    hi = grid[np.minimum(k + 1, len(grid) - 1)]
    gr = (np.sqrt(5.0) - 1.0) / 2.0

    def f(p):
        return _ols_B(_tpow(lt_BxR, p[:, None]), y_BxR)[2]

    x1, x2 = hi - gr * (hi - lo), lo + gr * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iters):
        left = f1 < f2  # minimum lies in [lo, x2]
        lo_n = np.where(left, lo, x1)
        hi_n = np.where(left, x2, hi)
        x1_n = np.where(left, hi_n - gr * (hi_n - lo_n), x2)
        x2_n = np.where(left, x1, lo_n + gr * (hi_n - lo_n))
        fn = f(np.where(left, x1_n, x2_n))
        f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
        lo, hi, x1, x2 = lo_n, hi_n, x1_n, x2_n
    p = 0.5 * (lo + hi)
    a, b, sse = _ols_B(_tpow(lt_BxR, p[:, None]), y_BxR)
    return p, a, b, sse


def _tpow(lt, p):
    # t^p computed as exp(p log t); p == 0 would make the regressor constant, avoid exactly 0
    p = np.where(np.abs(p) < 1e-12, 1e-12, p)
    return np.exp(p * lt)


def fit_power_law(t_R, rho_R, p_bounds=(-1.0, 2.0), n_boot: int = 300, seed: int = 0,
                  level: float = 0.95) -> FitResult:
    """Nonlinear least squares rho = a t^p + b (spec §4(a) fit 2), p by profile likelihood in
    ``p_bounds``; pairs-bootstrap percentile intervals for p, a, b (numpy RNG, explicit seed)."""
    t = np.asarray(t_R, dtype=np.float64)
    y = np.asarray(rho_R, dtype=np.float64)
    if np.any(t <= 0):
        raise ValueError("power-law fit needs t > 0")
    lt = np.log(t)
    p, a, b, sse = _profile_power_B(lt[None], y[None], *p_bounds)
    res = y - (a[0] * np.exp(p[0] * lt) + b[0])
    out = FitResult("t^p", {"a": float(a[0]), "b": float(b[0]), "p": float(p[0])}, _r2(y, res),
                    float(sse[0]), res, level=level)
    if n_boot:
        idx = _boot_idx_BxR(len(t), n_boot, seed)
        pB, aB, bB, _ = _profile_power_B(lt[idx], y[idx], *p_bounds)
        out.boot = {"p": pB, "a": aB, "b": bB}
        out.ci = {k: _ci(v, level) for k, v in out.boot.items()}
    return out


def fit_loglog(t_R, rho_R, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> FitResult:
    """OLS of log rho = p log t + log a (spec §4(a) fit 2, the simple form). params: p, log_a;
    r2 and residuals are on the log scale."""
    t = np.asarray(t_R, dtype=np.float64)
    y = np.log(np.asarray(rho_R, dtype=np.float64))
    r = fit_linear_law(np.log(t), y, lambda x: x, law="loglog", n_boot=n_boot, seed=seed,
                       level=level)
    rename = {"a": "p", "b": "log_a"}
    r.params = {rename[k]: v for k, v in r.params.items()}
    r.boot = {rename[k]: v for k, v in r.boot.items()}
    r.ci = {rename[k]: v for k, v in r.ci.items()}
    return r


def compare_laws(t_R, rho_R, laws=None, L_values=(2.0, 3.0), n_boot: int = 500, seed: int = 0,
                 level: float = 0.95, power: bool = True) -> dict[str, FitResult]:
    """Fit rho = a g(t) + b for every law (default `LAWS` plus (log t)^{1/L} for ``L_values``) and,
    if ``power``, the free power law a t^p + b (spec §4(a) fits 2-3, §5 C5/C6).

    All linear laws have two parameters, so their SSEs compare directly; the best is the smallest
    SSE (equivalently the largest R^2). Spec warning: R^2 alone rarely separates the laws over a
    short range; look at `local_exponent` as well. Log laws need t > 1."""
    laws = dict(LAWS if laws is None else laws)
    for L in L_values:
        laws[f"log_t^1/{L:g}"] = log_root_law(L)
    out = {name: fit_linear_law(t_R, rho_R, g, law=name, n_boot=n_boot, seed=seed, level=level)
           for name, g in laws.items()}
    if power:
        out["t^p"] = fit_power_law(t_R, rho_R, n_boot=min(n_boot, 300), seed=seed, level=level)
    return out


def best_law(fits: dict[str, FitResult], include_power: bool = False) -> str:
    """Name of the two-parameter law with the smallest SSE (spec §4(a) fit 3)."""
    cands = {k: v for k, v in fits.items() if include_power or k != "t^p"}
    return min(cands, key=lambda k: cands[k].sse)


# ----------------------------------------------------------------------------- directions


def _unit_RxP(th):
    n = np.linalg.norm(th, axis=1, keepdims=True)
    return th / np.where(n > 0, n, 1.0)


def cosine_consecutive_R1(tree) -> np.ndarray:
    """C_next = cos(theta_k, theta_{k+1}) between consecutive records, shape (R-1,) (spec §2.1,
    §4(b); the paper's measure). Weak test: a random walk also gives -> 1 (spec C7)."""
    u = _unit_RxP(_as_RxP(tree))
    return np.sum(u[1:] * u[:-1], axis=1)


def cosine_2x(t_R, tree, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """C_2x = cos(theta_t, theta_{2t}) for every record t > 0 whose 2t is also recorded (within
    ``rtol``) (spec §4(b), §5 C7). Scale free: the isotropic random-walk null gives 1/sqrt 2,
    directional convergence gives -> 1. Returns (t, C_2x)."""
    t = np.asarray(t_R, dtype=np.float64)
    u = _unit_RxP(_as_RxP(tree))
    ts, cs = [], []
    for i, ti in enumerate(t):
        if ti <= 0:
            continue
        j = np.flatnonzero(np.abs(t - 2 * ti) <= rtol * 2 * ti)
        if j.size:
            ts.append(ti)
            cs.append(float(np.dot(u[i], u[j[0]])))
    return np.array(ts), np.array(cs)


def cosine_to_final_R(tree) -> np.ndarray:
    """C_final = cos(theta_t, theta_T) with T the last record (spec §4(b))."""
    u = _unit_RxP(_as_RxP(tree))
    return u @ u[-1]


def alignment_R1(tree, delta_tree=None) -> np.ndarray:
    """A(t) = cos(delta_t, theta_t) (spec §2.1 Fig. 5 left, §4(b)).

    Without ``delta_tree``, delta_k = theta_{k+1} - theta_k between records (shape (R-1,)), which is
    the optimizer step only if records are consecutive steps. With ``delta_tree`` (same structure,
    leading axis R, e.g. steps logged inside the train step), returns cos(delta_k, theta_k), (R,).
    T5: peaks near 0.15 then -> 0 (misaligned); Ji & Telgarsky: -> 1 (aligned)."""
    th = _as_RxP(tree)
    if delta_tree is None:
        d, th = np.diff(th, axis=0), th[:-1]
    else:
        d = _as_RxP(delta_tree)
    num = np.sum(d * th, axis=1)
    den = np.linalg.norm(d, axis=1) * np.linalg.norm(th, axis=1)
    return num / np.where(den > 0, den, np.inf)
