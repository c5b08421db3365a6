"""Gradient flow theta_g' = -eta_g grad_g L, integrated with diffrax, for one seed and one hp point.

Time is measured in units of the learning rate: one GD step of rate eta_g advances t by 1, so the
flow at time t is what GD reaches after t steps as eta -> 0 (and diffrax `Euler` with dt = 1 *is*
GD). Metrics are saved on a time grid through `SaveAt(fn=...)`; the solver status and step counts
are carried per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from scanflow.engine.config import FlowConfig

from typing import Any, NamedTuple

import diffrax
import jax
import jax.numpy as jnp


# Per-run solver status codes stored in the results (`solver_status`).
STATUS_OK, STATUS_MAX_STEPS, STATUS_FAILED = 0, 1, 2
STATUS_NAMES = {STATUS_OK: "successful", STATUS_MAX_STEPS: "max_steps_reached", STATUS_FAILED: "failed"}


class FlowState(NamedTuple):
    params: Any
    t: jax.Array  # current time (in units of the learning rate)
    num_steps: jax.Array  # accepted + rejected solver steps so far
    num_accepted: jax.Array
    status: jax.Array  # worst status so far (int32)


def vector_field(loss_fn, lrs: dict):
    """d theta_g / dt = -eta_g * grad_g L(theta)."""

    def vf(t, params, args):
        del t, args
        grads = jax.grad(loss_fn)(params)
        return {g: jax.tree.map(lambda x: -lrs[g] * x, grads[g]) for g in grads}

    return vf


def _solver_and_controller(cfg: FlowConfig):
    if cfg.solver == "euler":
        return diffrax.Euler(), diffrax.ConstantStepSize()
    solver = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "kvaerno5": diffrax.Kvaerno5}[cfg.solver]()
    ctrl = diffrax.PIDController(rtol=cfg.rtol, atol=cfg.atol, pcoeff=cfg.pcoeff, icoeff=cfg.icoeff)
    return solver, ctrl


def init_flow_state(params, dtype) -> FlowState:
    z = jnp.zeros((), jnp.int32)
    return FlowState(params, jnp.zeros((), dtype), z, z, z)


def solve_chunk(loss_fn, metrics_fn, cfg: FlowConfig, state: FlowState, lrs: dict, save_every: float, n_saves: int):
    """Integrate from state.t to state.t + n_saves * save_every; save ``metrics_fn(t, params)`` at each multiple."""
    solver, ctrl = _solver_and_controller(cfg)
    t0 = state.t
    ts = t0 + save_every * jnp.arange(1, n_saves + 1, dtype=t0.dtype)
    t1 = ts[-1]
    saveat = diffrax.SaveAt(
        subs=[
            diffrax.SubSaveAt(ts=ts, fn=lambda t, y, args: metrics_fn(t, y)),
            diffrax.SubSaveAt(t1=True),
        ]
    )
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field(loss_fn, lrs)),
        solver,
        t0=t0,
        t1=t1,
        dt0=cfg.dt0,
        y0=state.params,
        saveat=saveat,
        stepsize_controller=ctrl,
        max_steps=cfg.max_steps,
        throw=False,
    )
    recs, y1 = sol.ys
    y1 = jax.tree.map(lambda x: x[0], y1)
    status = jnp.where(
        sol.result == diffrax.RESULTS.successful,
        STATUS_OK,
        jnp.where(sol.result == diffrax.RESULTS.max_steps_reached, STATUS_MAX_STEPS, STATUS_FAILED),
    ).astype(jnp.int32)
    new = FlowState(
        params=y1,
        t=t1,
        num_steps=state.num_steps + sol.stats["num_steps"].astype(jnp.int32),
        num_accepted=state.num_accepted + sol.stats["num_accepted_steps"].astype(jnp.int32),
        status=jnp.maximum(state.status, status),
    )
    return new, recs
