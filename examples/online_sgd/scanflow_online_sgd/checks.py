"""Checks of paper ``online-sgd`` (importing this module registers them and the example's mutation).

O1 mean-error: the seed mean of ||w_t - w*||^2 is the exact solution of the second-moment recursion at
   every record (`theory.mean_err2`).
O2 noise-floor: late in the run it sits at the stationary value eta sigma^2 d / (2 - eta (d + 2)).
O3 gradient-flow-prediction: a control, declared to fail: exp(-2 eta t) ||w*||^2, which drops the eta^2
   terms, at a rate where they matter.

The tolerances are seed statistics (`seed_mean`: Student t over the seeds, Bonferroni over every rate and
record compared, so a true prediction fails with probability 0.05); the deterministic start t = 0 is a
float64 identity (`exact`).
"""

from __future__ import annotations

import numpy as np

from scanflow.engine.dataset import config_of
from scanflow.verify import Context, Result, check, exact, holds, meter, seed_mean
from scanflow_online_sgd import mutations as _mutations  # noqa: F401  registers the example's mutation
from scanflow_online_sgd import theory as th
from scanflow_online_sgd.plots import err2_figure

PAPER = "online-sgd"
D, SIGMA, TEACHER_SEED = 10, 0.5, 0
W2 = float(np.sum(th.teacher(D, TEACHER_SEED) ** 2))  # ||w*||^2 (1 up to rounding)


def config(etas: list, steps: int, seeds: int, record_every: int = 5, sigma: float = SIGMA) -> dict:
    """A float64 online-SGD config of this example's teacher (d = 10, label noise `sigma`)."""
    return {"name": "online-sgd-check", "workload": "scanflow_online_sgd.workload:WORKLOAD", "x64": True,
            "data": {"d": D, "sigma": sigma, "seed": TEACHER_SEED},
            "train": {"steps": steps, "record_every": record_every},
            "sweep": {"seeds": seeds, "lr": {"w": etas}}}


def sgd_meters(ds) -> list:
    """The derivation's assumptions, read off the run: a stable rate, plain SGD (no momentum), float64, seeds."""
    r = th.rate(ds.lr_w.values, D).max()
    opt = config_of(ds)["train"]["optimizer"]
    return [meter("r = 1 - 2 eta + eta^2 (d+2), largest rate", r, "<", 1, ref="theory.py: stable iff eta < 2/(d+2)"),
            holds("plain SGD", opt == "sgd", "train.optimizer = sgd", value=opt, ref="the recursion of theory.py"),
            holds("float64 records", ds.err2.dtype == np.float64, "float64", value=str(ds.err2.dtype)),
            meter("seeds", ds.sizes["seed"], ">=", 2, ref="a standard error needs two")]


@check(PAPER, "O1-mean-error", mode="P",
       claim="E||w_t - w*||^2 = r^t ||w*||^2 + eta^2 sigma^2 d (1 - r^t) / (1 - r), r = 1 - 2 eta + eta^2 (d + 2), "
             "at every step t of online SGD from w_0 = 0 (x ~ N(0, I_d), y = w*.x + sigma xi; exact, theory.py)",
       home="r < 1 at every rate (eta < 2/(d+2)), plain SGD, float64, >= 2 seeds")
def o1_mean_error(ctx: Context) -> Result:
    ds = ctx.run(config([0.05, 0.1, 0.15], steps=100, seeds=ctx.seeds(1000, 64)))
    t, etas = ds.step.values, ds.lr_w.values
    predicted = th.mean_err2(t[None, :], etas[:, None], D, SIGMA, W2)  # (point, step)
    gate = (exact("t = 0: every seed at ||w*||^2", ds.err2.isel(step=0), W2) &
            seed_mean("t >= 1: |seed mean - prediction| / se, worst", ds.err2.isel(step=slice(1, None)),
                      predicted[:, 1:]))
    mean = ds.err2.mean("seed").values
    return Result(
        predicted={f"E err2 at t = {t[-1]}, eta = {e:g}": p for e, p in zip(etas, predicted[:, -1])},
        measured={f"seed mean at t = {t[-1]}, eta = {e:g}": m for e, m in zip(etas, mean[:, -1])},
        setting=f"d = {D}, sigma = {SIGMA}, ||w*|| = 1, eta in {etas.tolist()}, {t[-1]} steps recorded every "
                f"{t[1] - t[0]}, {ds.sizes['seed']} seeds, float64",
        assumptions=sgd_meters(ds), sources={"E err2": "theory.mean_err2 (derivation in theory.py)"},
        figure=ctx.save_figure(err2_figure(ds), "O1_mean_error.png"), seeds=ds.sizes["seed"],
        **gate.result_fields())


@check(PAPER, "O2-noise-floor", mode="P",
       claim="Late in the run E||w_t - w*||^2 reaches the noise floor eta sigma^2 d / (2 - eta (d + 2)) "
             "(the fixed point of the recursion, theory.noise_floor)",
       home="r < 1, a late window (the start's trace r^t0 | ||w*||^2 - floor | under a tenth of the floor)")
def o2_noise_floor(ctx: Context) -> Result:
    ds = ctx.run(config([0.05, 0.1], steps=400, seeds=ctx.seeds(1000, 64), record_every=10))
    t0, etas = 200, ds.lr_w.values
    floor = th.noise_floor(etas, D, SIGMA)
    trace = th.rate(etas, D) ** t0 * np.abs(W2 - floor)  # |E err2_t - floor| <= trace for t >= t0 (theory.py)
    late = ds.err2.sel(step=slice(t0, None)).mean("step")  # each seed's time average: seeds stay independent
    gate = seed_mean("late time average vs floor, worst |dev| / se", late, floor, slack=float(trace.max()),
                     why="slack: the start's trace at t0, a bound from theory.py")
    return Result(
        predicted={f"floor, eta = {e:g}": f for e, f in zip(etas, floor)},
        measured={f"mean of steps >= {t0}, eta = {e:g}": m for e, m in zip(etas, late.mean("seed").values)},
        setting=f"d = {D}, sigma = {SIGMA}, eta in {etas.tolist()}, window steps {t0}..{ds.step.values[-1]}, "
                f"{ds.sizes['seed']} seeds, float64",
        assumptions=[*sgd_meters(ds), meter("start's trace / floor at t0", (trace / floor).max(), "<<", 1,
                                            ours="late: the transient is a tenth of the floor at most")],
        sources={"floor": "theory.noise_floor"}, seeds=ds.sizes["seed"],
        figure=ctx.save_figure(err2_figure(ds), "O2_noise_floor.png"), **gate.result_fields())


@check(PAPER, "O3-gradient-flow-prediction", mode="P", expected="fail",
       claim="E||w_t - w*||^2 = exp(-2 eta t) ||w*||^2: gradient flow on the population loss, no eta^2 terms",
       why_fail="a control: even without label noise (sigma = 0) online SGD adds eta^2 (d + 2) ||e||^2 per step (the "
                "sample's fourth moment); at eta = 0.15, d = 10 it is 90% of the 2 eta term (r = 0.97 against "
                "exp(-0.3) = 0.74), so the flow prediction must miss (XPASS: the gate cannot tell the two apart)",
       home="r < 1, sigma = 0, eta (d + 2) / 2 > 0.5 (the eta^2 term at least half the linear one)")
def o3_gradient_flow(ctx: Context) -> Result:
    eta = 0.15
    ds = ctx.run(config([eta], steps=100, seeds=ctx.seeds(1000, 64), sigma=0.0))
    err2, t = ds.err2.sel(lr_w=eta), ds.step.values
    predicted = th.flow_err2(t, eta, W2)
    gate = seed_mean("t >= 1: |seed mean - flow prediction| / se, worst", err2.isel(step=slice(1, None)),
                     predicted[1:])
    return Result(
        predicted={f"exp(-2 eta t) at t = {t[-1]}": float(predicted[-1])},
        measured={f"seed mean at t = {t[-1]}": float(err2.isel(step=-1).mean("seed"))},
        setting=f"d = {D}, sigma = 0 (no label noise), eta = {eta:g}, {ds.sizes['seed']} seeds, float64",
        assumptions=[*sgd_meters(ds), meter("eta (d + 2) / 2: eta^2 term / linear term", eta * (D + 2) / 2,
                                            ">", 0.5, ours="where the flow's omission matters")],
        sources={"flow": "theory.flow_err2"}, seeds=ds.sizes["seed"],
        figure=ctx.save_figure(err2_figure(ds, flow=True), "O3_gradient_flow.png"), **gate.result_fields())


# Shown by `scanflow verify` without a paper.
EXPECTED_DURATION = "about 10 s (--quick: about 10 s, mostly compilation) on 2 CPU cores"
