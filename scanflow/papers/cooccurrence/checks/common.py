"""Shared plumbing of the co-occurrence checks: the TR and FIG base configs, cached engine runs (one
vmapped program per m over seeds), phase boundaries and log-log fits with seed uncertainty."""

from __future__ import annotations

import functools

import numpy as np

import matplotlib.pyplot as plt
from scanflow.engine.config import config_from_dict
from scanflow.papers.cooccurrence.measure import T1_interp
from scanflow.engine.sweep import SweepOutput, run_sweep
from scanflow.verify import Context

# "TR" (spec §7): n = 60 (30/10/10/10), L = 5, distinct random words, m1 = 16, sigma1 = 1/sqrt(m1),
# sigma0 = 0.02/sqrt(L m), a = +-1 fixed, float64. One engine unit = eta_tau of the clock tau.
TR = {
    "name": "check",
    "workload": "cooccurrence",
    "x64": True,
    "data": {"n": 60, "L": 5, "n_test": 60},
    "model": {"m1": 16, "c0": 0.02, "a_init": "sign"},
    "train": {"optimizer": "sgd"},
    "flow": {"solver": "tsit5", "rtol": 1e-6, "atol": 1e-9},
}
# "FIG" (spec §6): App. A settings; see configs/cooccurrence_fig.yaml for the init reading.
FIG = {
    "name": "check-fig",
    "workload": "cooccurrence",
    "x64": False,
    "data": {"n": 60, "L": 5, "d": 64, "repeat_random_words": True, "n_test": 60},
    "model": {"m": 128, "m1": 256, "sigma0": float(1 / np.sqrt(3 * 64)), "sigma1": float(1 / np.sqrt(3 * 128)),
              "a_init": "uniform"},
    "train": {"method": "sgd", "optimizer": "sgd"},
    "sweep": {"lr": {"eta": [0.01]}},
}
ETA_TAU = 0.02  # tau per engine unit: lr * sigma1^2 m m1 <= 0.02 (spec §7 GD rule; flow saves on the same grid)
RECORD_EVERY = 10  # a record every 0.2 of tau


def tr_config(m: int, seeds: int, tau_end: float, method: str):
    """The validated TR config of one width m (steps = tau_end / ETA_TAU, a record every 0.2 tau)."""
    steps = int(round(tau_end / ETA_TAU))
    return config_from_dict(TR, [f"model.m={m}", f"sweep.seeds={seeds}", f"train.method={method}",
                                 f"train.steps={steps}", f"train.record_every={RECORD_EVERY}",
                                 f"sweep.lr.eta_tau=[{ETA_TAU}]"])


def tr_plan(ctx: Context) -> dict:
    """Sizes of the TR m-sweep: full = spec §7 (flow, 5 seeds, m = 64..512, tau = 60); quick = GD, 2 seeds."""
    return ctx.pick(
        {"ms": (64, 128, 256, 512), "seeds": 5, "tau_end": 60.0, "method": "flow"},
        {"ms": (64, 128), "seeds": 2, "tau_end": 24.0, "method": "sgd"},
    )


@functools.lru_cache(maxsize=16)
def _tr_run(m: int, seeds: int, tau_end: float, method: str) -> SweepOutput:
    return run_sweep(tr_config(m, seeds, tau_end, method))


def tr_runs(ctx: Context) -> dict[int, SweepOutput]:
    """{m: SweepOutput} of the TR m-sweep: one vmapped program per m over the seeds (cached)."""
    p = tr_plan(ctx)
    return {m: _tr_run(m, p["seeds"], p["tau_end"], p["method"]) for m in p["ms"]}


def ctx_records(steps: int) -> int:
    """Records of a FIG run: 300 for the full 30,000 epochs (every 100), 100 for shorter runs."""
    return 300 if steps >= 30000 else 100


@functools.lru_cache(maxsize=4)
def _fig_run(steps: int, seeds: int) -> SweepOutput:
    return run_sweep(config_from_dict(FIG, [f"train.steps={steps}", f"train.record_every={steps // ctx_records(steps)}",
                                            f"sweep.seeds={seeds}"]))


def fig_run(ctx: Context) -> SweepOutput:
    """The paper's Figure-1 setting: 30,000 GD epochs at lr 0.01 (quick: the first 4,500; T1 ~ 1,000-1,400)."""
    return _fig_run(ctx.pick(30000, 4500), ctx.pick(3, 1))


@functools.lru_cache(maxsize=2)
def _long_run(tau_end: float, seeds: int) -> SweepOutput:
    # flow with one engine unit = 1 tau: the adaptive solver takes long steps once the loss is small
    return run_sweep(config_from_dict(TR, ["model.m=64", f"sweep.seeds={seeds}", "train.method=flow",
                                           f"train.steps={int(tau_end)}", f"train.record_every={int(tau_end) // 100}",
                                           "sweep.lr.eta_tau=[1.0]"]))


def long_run(ctx: Context) -> SweepOutput:
    """TR at m = 64 by gradient flow far into Phase 2 (tau <= 3000, 3 seeds; quick: tau <= 300, 1 seed)."""
    return _long_run(ctx.pick(3000.0, 300.0), ctx.pick(3, 1))


def T1_tau_S(out: SweepOutput) -> np.ndarray:
    """Per seed: T1 in tau units (first time all samples are classified correctly, interpolated)."""
    tau = out.arrays["tau"][0]
    return np.array([T1_interp(tau, out.arrays["margins"][0, s]) for s in range(out.arrays["margins"].shape[1])])


def T1_record_S(out: SweepOutput) -> np.ndarray:
    """Per seed: the first record index at or after T1 (-1 if never)."""
    from scanflow.papers.cooccurrence.measure import T1_index

    return np.array([T1_index(out.arrays["margins"][0, s]) for s in range(out.arrays["margins"].shape[1])])


def loglog_slope(m_K, y_KxS) -> tuple[float, float]:
    """OLS slope of log y against log m over every (m, seed) point, with its standard error."""
    x = np.repeat(np.log(np.asarray(m_K, np.float64)), y_KxS.shape[1])
    y = np.log(np.asarray(y_KxS, np.float64)).ravel()
    X = np.stack([np.ones_like(x), x], 1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = max(len(y) - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    return float(coef[1]), float(np.sqrt(cov[1, 1]))


__all__ = ["ETA_TAU", "FIG", "TR", "T1_record_S", "T1_tau_S", "fig_run", "long_run", "loglog_slope", "plt",
           "tr_config", "tr_plan", "tr_runs"]
