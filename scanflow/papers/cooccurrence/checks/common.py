"""Shared plumbing of the co-occurrence checks: the HOME, TR and FIG base configs, their runs as Datasets
(`Context.run`: one vmapped program per m over seeds, shared by every check that asks for the same config), the
workload info of a run (`info_of`), the Phase-2 window (defined once, `phase2_window`) and log-log fits with seed
uncertainty.

A run is the `xarray.Dataset` of `scanflow.load_run`; the checks read grid point 0 (each config here has one) as numpy
arrays ``ds[name].values[0]`` with axes (seed, record, ...)."""

from __future__ import annotations

import numpy as np

import matplotlib.pyplot as plt
from scanflow.engine.config import config_from_dict
from scanflow.engine.dataset import manifest_of
from scanflow.papers.cooccurrence import theory as th
from scanflow.papers.cooccurrence.measure import T1_tau_S
from scanflow.verify import Context

# "TR" (user note §7): n = 60 (30/10/10/10), L = 5, distinct random words, m1 = 16, sigma1 = 1/sqrt(m1),
# sigma0 = 0.02/sqrt(L m), a = +-1 fixed, float64. One engine unit = eta_tau of the clock tau. TR is outside Condition 1
# (n / L^2 = 2.4) and the small init (max|F(0)| ~ 0.06 > 0.01): the checks run HOME, TR serves the sims and figures.
TR = {
    "name": "check",
    "workload": "cooccurrence",
    "x64": True,
    "data": {"n": 60, "L": 5, "n_test": 60},
    "model": {"m1": 16, "c0": 0.02, "a_init": "sign"},
    "train": {"optimizer": "sgd"},
    "flow": {"solver": "tsit5", "rtol": 1e-6, "atol": 1e-9},
}
# "HOME": the smallest setting inside every assumption, as measured by `assumptions.setting`: L = 3 (the shortest
# sentence that holds mu1, mu2, mu3), n = 96 (n / L^2 = 10.7 >> 1), m1 = 8, m >= 128 (m / max(m1, L^2) = 14.2 >> 1),
# c0 = 0.002 (max|F(0)| ~ 0.006 <= 0.01, Lemma D.8), distinct random words (d = 3 + (n + n_test)(L - 7/3) = 107),
# sigma1 = 1/sqrt(m1), a = +-1 fixed, float64.
HOME = {**TR, "name": "check-home", "data": {"n": 96, "L": 3, "n_test": 60},
        "model": {"m1": 8, "c0": 0.002, "a_init": "sign"}}
HOME_TEXT = ("HOME: n=96 (48/16/16/16), L=3, distinct random words (d=3+(n+n_test)(L-7/3)=107), m1=8, sigma1=1/sqrt(m1), "
             "sigma0=0.002/sqrt(L m), a=+-1 fixed, fp64")
# "FIG" (user note §6): App. A settings; see configs/cooccurrence_fig.yaml for the init reading.
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
ETA_TAU = 0.02  # tau per engine unit: lr * sigma1^2 m m1 <= 0.02 (user note §7 GD rule; flow saves on the same grid)
RECORD_EVERY = 10  # a record every 0.2 of tau


def tr_config(m: int, seeds: int, tau_end: float, method: str, base: dict = TR):
    """The validated TR (or `base`) config of one width m (steps = tau_end / ETA_TAU, a record every 0.2 tau)."""
    steps = int(round(tau_end / ETA_TAU))
    return config_from_dict(base, [f"model.m={m}", f"sweep.seeds={seeds}", f"train.method={method}",
                                   f"train.steps={steps}", f"train.record_every={RECORD_EVERY}",
                                   f"sweep.lr.eta_tau=[{ETA_TAU}]"])


def home_config(m: int, seeds: int, tau_end: float, method: str):
    """The HOME config of one width m."""
    return tr_config(m, seeds, tau_end, method, HOME)


def home_plan(ctx: Context) -> dict:
    """Sizes of the HOME m-sweep: full = gradient flow, 5 seeds, m = 128, 256, 512, tau <= 60; quick = GD
    (lr sigma1^2 m m1 = 0.02), 2 seeds, m = 128, 256, tau <= 40. Both are inside every assumption."""
    return ctx.pick(
        {"ms": (128, 256, 512), "seeds": 5, "tau_end": 60.0, "method": "flow"},
        {"ms": (128, 256), "seeds": 2, "tau_end": 40.0, "method": "sgd"},
    )


def home_runs(ctx: Context) -> dict:
    """{m: Dataset} of the HOME m-sweep: one vmapped program per m over the seeds (`Context.run`: once per process)."""
    p = home_plan(ctx)
    return {m: ctx.run(home_config(m, p["seeds"], p["tau_end"], p["method"])) for m in p["ms"]}


def ctx_records(steps: int) -> int:
    """Records of a FIG run: 300 for the full 30,000 epochs (every 100), 100 for shorter runs."""
    return 300 if steps >= 30000 else 100


def fig_run(ctx: Context):
    """The paper's Figure-1 setting: 30,000 GD epochs at lr 0.01 (quick: the first 4,500; T1 ~ 1,000-1,400)."""
    steps, seeds = ctx.pick(30000, 4500), ctx.pick(3, 1)
    return ctx.run(FIG, f"train.steps={steps}", f"train.record_every={steps // ctx_records(steps)}",
                   f"sweep.seeds={seeds}")


def long_plan(ctx: Context) -> dict:
    """Check 15-long: HOME at m = 128 by gradient flow to T* (L_hat <= 1/m, tau ~ 1600-1800), one engine unit = 1 tau
    (the adaptive solver takes long steps once the loss is small), a record every 10 tau, tau <= 2500; full: 3 seeds,
    quick: 2."""
    return {"m": 128, "seeds": ctx.pick(3, 2), "tau_end": 2500.0, "method": "flow", "eta_tau": 1.0, "record_every": 10}


def long_run(ctx: Context):
    """The run of check 15-long."""
    p = long_plan(ctx)
    return ctx.run(HOME, f"model.m={p['m']}", f"sweep.seeds={p['seeds']}", f"train.method={p['method']}",
                   f"train.steps={int(round(p['tau_end'] / p['eta_tau']))}", f"train.record_every={p['record_every']}",
                   f"sweep.lr.eta_tau=[{p['eta_tau']}]")


def info_of(ds) -> dict:
    """The workload info of a run (n, L, m, m1, d, sigma0, sigma1, tau_per_t, a_init, train_a, type_N, tokens_NxL, ...;
    `scanflow.papers.cooccurrence.workload.build`), from its manifest."""
    return manifest_of(ds)["workload_info"]


def init_output_max(runs) -> float:
    """max_i |F(0)(X_i)| over the runs (Datasets; every seed) of `runs`: the small-init meter (Lemma D.8)."""
    return float(max(np.abs(ds["margins"].values[0][:, 0]).max() for ds in runs))


def T1_record_S(ds) -> np.ndarray:
    """Per seed: the first record index at or after T1 (-1 if never)."""
    from scanflow.papers.cooccurrence.measure import T1_index

    return np.array([T1_index(mg) for mg in ds["margins"].values[0]])


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


def phase2_start_S(ds) -> np.ndarray:
    """Per seed: the first record at or after PHASE2_START_FACTOR x T1_0 (T1_0: the first all-correct time,
    interpolated, `T1_tau_S`); -1 where T1_0 is not reached or the start lies beyond the run."""
    tau = ds["tau"].values[0]
    res = []
    for T1 in T1_tau_S(ds):
        k = int(np.searchsorted(tau, th.PHASE2_START_FACTOR * T1 - 1e-9)) if np.isfinite(T1) else tau.size
        res.append(k if k < tau.size - 1 else -1)  # at least two records in the window
    return np.array(res)


def phase2_window(ds) -> list[slice]:
    """THE Phase-2 window of checks 9-15 (theory.PHASE2_START_FACTOR: from 2 T1_0 to the end of the run), per seed;
    an empty slice where it is not reached. Defined once from the run's own T1, never from the claim checked in it."""
    return [slice(int(k), None) if k >= 0 else slice(0, 0) for k in phase2_start_S(ds)]


def window_meters(runs) -> list:
    """The meters of the Phase-2 window over every (m, seed) run of `runs` ({m: Dataset}): the horizon (every run
    has a window) and the Def. F.1 box at its start (the smallest min_i y_i F_i there; C is ours)."""
    starts, n_runs, n_in = [], 0, 0
    for ds in runs.values():
        mg = ds["margins"].values[0]
        for s, k in enumerate(phase2_start_S(ds)):
            n_runs += 1
            if k >= 0:
                n_in += 1
                starts.append(float(mg[s, k].min()))
    v = min(starts) if starts else float("nan")
    return [horizon_meter(n_in == n_runs, f"{n_in} of {n_runs} runs"),
            _box_meter(v)]


def horizon_meter(ok: bool, value: str):
    from scanflow.papers.cooccurrence.checks import assumptions as A

    return A.horizon(ok, "the Phase-2 window [2 T1_0, end] (every run)", value, "Def. E.2 / F.1")


def _box_meter(v: float):
    from scanflow.papers.cooccurrence.checks import assumptions as A

    return A.phase2_box(v, "at the start of the Phase-2 window (2 T1_0)")


def nanstat(f, arrays, default=float("nan")) -> float:
    """f over the concatenation of `arrays` (NaN when they are all empty): a check under a broken simulator fails
    with NaN instead of crashing on an empty window."""
    a = [np.asarray(x, np.float64).ravel() for x in arrays]
    a = np.concatenate(a) if a else np.array([])
    a = a[np.isfinite(a)] if a.size else a
    return float(f(a)) if a.size else default


__all__ = ["ETA_TAU", "FIG", "HOME", "HOME_TEXT", "TR", "T1_record_S", "T1_tau_S", "fig_run", "home_config", "home_plan",
           "home_runs", "info_of", "init_output_max", "long_plan", "long_run", "loglog_slope", "nanstat",
           "phase2_start_S", "phase2_window", "plt", "tr_config", "window_meters"]
