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


def n_path_config(m: int, seeds: int, tau_end: float, method: str, ns, eta_tau: float, record_every: int):
    """TR at width m with ``data.n`` as a static sweep axis (`scanflow.engine.grid`: one program per n; d grows with
    n so that the random words stay distinct); steps of eta_tau (flow: the save grid), a record every
    record_every steps."""
    return config_from_dict(TR, [f"model.m={m}", f"sweep.seeds={seeds}", f"train.method={method}",
                                 f"train.steps={int(round(tau_end / eta_tau))}", f"train.record_every={record_every}",
                                 f"sweep.lr.eta_tau=[{eta_tau}]", f"data.n=[{', '.join(str(n) for n in ns)}]"])


@functools.lru_cache(maxsize=4)
def _n_path(m: int, seeds: int, tau_end: float, method: str, ns: tuple, eta_tau: float,
            record_every: int) -> dict[int, SweepOutput]:
    from scanflow.engine.run import sweep_parts

    parts = sweep_parts(n_path_config(m, seeds, tau_end, method, ns, eta_tau, record_every))
    return {int(values["data.n"]): out for values, _, out in parts}


def phase2_path_plan(ctx: Context) -> dict:
    """The n path of check 14 (Condition 1: n >= Omega~(L^2)) at m = 64: full = gradient flow, 3 seeds, n = 60..480,
    tau <= 40 (the Phase-2 box is entered by tau ~ 25 at every n), a record every 0.5 tau; quick = the quick m-sweep's
    GD program at m = 64 (tau <= 24, 2 seeds) at n = 60, 120."""
    return ctx.pick({"m": 64, "seeds": 3, "tau_end": 40.0, "method": "flow", "ns": (60, 120, 240, 480),
                     "eta_tau": 0.5, "record_every": 1},
                    {"m": 64, "seeds": 2, "tau_end": 24.0, "method": "sgd", "ns": (60, 120),
                     "eta_tau": ETA_TAU, "record_every": RECORD_EVERY})


def phase2_path(ctx: Context) -> dict[int, SweepOutput]:
    """{n: SweepOutput} of check 14's n path (cached)."""
    return _n_path(**phase2_path_plan(ctx))


def long_plan(ctx: Context) -> dict:
    """The n path of check 15-long to T* (L_hat <= 1/m, tau ~ 400-700 at m = 64) by gradient flow (one engine unit =
    1 tau: the adaptive solver takes long steps once the loss is small), a record every 10 tau: full = 3 seeds,
    n = 60, 120, 240, tau <= 1000; quick = 2 seeds, n = 60, 120, tau <= 800."""
    return ctx.pick({"m": 64, "seeds": 3, "tau_end": 1000.0, "method": "flow", "ns": (60, 120, 240),
                     "eta_tau": 1.0, "record_every": 10},
                    {"m": 64, "seeds": 2, "tau_end": 800.0, "method": "flow", "ns": (60, 120),
                     "eta_tau": 1.0, "record_every": 10})


def long_path(ctx: Context) -> dict[int, SweepOutput]:
    """{n: SweepOutput} of check 15-long's n path (cached)."""
    return _n_path(**long_plan(ctx))


def init_output_max(outs) -> float:
    """max_i |F(0)(X_i)| over the runs (every seed) of `outs`: the small-init meter (Lemma D.8)."""
    return float(max(np.abs(o.arrays["margins"][0][:, 0]).max() for o in outs))


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


__all__ = ["ETA_TAU", "FIG", "TR", "T1_record_S", "T1_tau_S", "fig_run", "init_output_max", "long_path", "long_plan",
           "loglog_slope", "n_path_config", "phase2_path", "phase2_path_plan", "plt", "tr_config", "tr_plan", "tr_runs"]
