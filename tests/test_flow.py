"""Gradient flow (diffrax): Euler = GD exactly; GD -> flow at order 1; solver status is kept.

Time is in units of the learning rate: GD with rates eta_g for s steps approximates the flow
theta_g' = -eta_g grad_g L at t = s, and diffrax Euler with dt = 1 in these units (dt = eta in
physical time) *is* GD.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.engine import sweep
from scanflow.engine.config import config_from_dict
from scanflow.engine import flow
from scanflow.papers.scan_snap import model as yz
from scanflow.papers.scan_snap.data import official_layout

POP = {"workload": "scan_snap", 
    "name": "flowtest",
    "x64": True,
    "data": {"mode": "population"},
    "model": {"init": "uniform"},
    "train": {"steps": 20, "record_every": 5, "optimizer": "sgd"},
    "sweep": {"seeds": 2, "lr": {"Y": [1.0, 3.0], "Z": [0.5]}},
}


def test_euler_reproduces_gd():
    """Same init, same per-group rates: Euler(dt=1) records equal plain-GD records to rounding."""
    gd = sweep.run_sweep(config_from_dict(POP))
    eu = sweep.run_sweep(config_from_dict(POP, ["train.method=flow", "flow.solver=euler", "flow.dt0=1.0"]))
    for name in ("loss", "attn", "z", "norm_Y"):
        np.testing.assert_allclose(eu.arrays[name], gd.arrays[name], rtol=1e-12, atol=1e-14)
    assert (eu.arrays["solver_status"] == flow.STATUS_OK).all()
    assert (eu.arrays["solver_steps"] == POP["train"]["steps"]).all()  # one Euler step per GD step


def _flow_params(params0, lrs, t1, spec, rtol=1e-10, atol=1e-12):
    from scanflow.engine.config import FlowConfig

    loss = lambda p: yz.population_loss(p, spec)
    state = flow.init_flow_state(params0, jnp.float64)
    cfg = FlowConfig(solver="tsit5", rtol=rtol, atol=atol, max_steps=100_000)
    new, _ = flow.solve_chunk(loss, lambda t, p: {"loss": loss(p)}, cfg, state, lrs, t1, 1)
    assert int(new.status) == flow.STATUS_OK
    return new.params


def test_gd_converges_to_flow_at_order_one():
    """GD with rates eps*eta_g for t/eps steps -> flow at time t; error ~ eps^1 (fitted slope)."""
    spec = official_layout()
    params0 = yz.init(jax.random.PRNGKey(0), spec.M, 1.0 / np.sqrt(spec.M), jnp.float64)
    lrs = {"Y": 2.0, "Z": 1.0}
    t = 8.0
    ref = _flow_params(params0, lrs, t, spec)
    grad = jax.jit(jax.grad(lambda p: yz.population_loss(p, spec)))
    epss, errs = [0.5, 0.25, 0.125, 0.0625], []
    for eps in epss:
        p = params0
        for _ in range(int(round(t / eps))):
            g = grad(p)
            p = {k: p[k] - eps * lrs[k] * g[k] for k in p}
        errs.append(float(jnp.sqrt(sum(jnp.sum((p[k] - ref[k]) ** 2) for k in p))))
    slope = np.polyfit(np.log(epss), np.log(errs), 1)[0]
    # global error of Euler is C eps + O(eps^2): the fitted slope approaches 1 from either side
    assert abs(slope - 1.0) < 0.15, (slope, errs)
    assert errs[-1] < errs[0] / 6


# Kvaerno5 is implicit: each step factorises the dense (2 M^2)^2 Jacobian, so it is tested on a
# small vocabulary (M = 10); on Syn-Small (M = 34, 2312 unknowns) it takes minutes.
SMALL = ["data.num_common=2", "data.num_unique=2"]


@pytest.mark.parametrize("solver,extra", [("tsit5", []), ("kvaerno5", SMALL)])
def test_adaptive_flow_keeps_status_and_step_counts(solver, extra):
    cfg = config_from_dict(POP, ["train.method=flow", f"flow.solver={solver}", "flow.rtol=1e-8", "flow.atol=1e-10", *extra])
    out = sweep.run_sweep(cfg)
    assert out.arrays["solver_status"].shape == (2, 2)
    assert (out.arrays["solver_status"] == flow.STATUS_OK).all()
    steps = out.arrays["solver_steps"]
    assert (steps > 0).all() and (out.arrays["solver_accepted_steps"] <= steps).all()
    assert not out.arrays["diverged"].any() and np.isfinite(out.arrays["loss"]).all()
    assert out.arrays["loss"][0, 0, -1] < out.arrays["loss"][0, 0, 0]


def test_flow_reports_max_steps_instead_of_raising():
    cfg = config_from_dict(POP, ["train.method=flow", "flow.max_steps=3", "flow.rtol=1e-10", "flow.atol=1e-12", *SMALL])
    out = sweep.run_sweep(cfg)
    assert (out.arrays["solver_status"] == flow.STATUS_MAX_STEPS).all()
