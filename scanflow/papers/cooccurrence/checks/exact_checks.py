"""Co-occurrence checks 1-3 (spec §7): gradients, the reduced exact ODE, conservation, identity E1.

All in float64 on a small TR setting (n = 6, L = 5, distinct random words, m = 16, m1 = 4, c0 = 0.02),
through the engine's diffrax path (`scanflow.engine.flow.solve_chunk`); GD is the same path with the
Euler solver and dt = 1 in units of the learning rate (exactly full-batch GD).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.config import FlowConfig
from scanflow.papers.cooccurrence import data as dat
from scanflow.engine.flow import init_flow_state, solve_chunk, vector_field
from scanflow.papers.cooccurrence import model as mdl
from scanflow.papers.cooccurrence import theory as th
from scanflow.verify import Context, Result, all_of, at_least, at_most, between, check, holds, meter

EPS64 = float(np.finfo(np.float64).eps)
N, L, M, M1 = 6, 5, 16, 4
RTOL, ATOL = 1e-10, 1e-12
HOME13 = ("the small setting below: identities that hold at any state, so their meters are the readout, one rate, "
          "float64 and the GD step rule, all met")
SMALL = f"TR small: n={N}, L={L}, d=3+n(L-7/3)={dat.min_vocab_distinct(N, L)}, m={M}, m1={M1}, c0=0.02, a=+-1 fixed, fp64"


def _setting():
    data = dat.make_dataset(jax.random.key(0), N, L, dat.min_vocab_distinct(N, L), dtype=jnp.float64)
    s0, s1 = mdl.init_scales(L, M, M1, c0=0.02)
    params = mdl.init(jax.random.key(1), data.d, M, M1, s0, s1, dtype=jnp.float64)
    return data, params, s1


def _rates(eta):
    """The per-group rates the flow and GD of checks 1-3 run with (unit rates: the theory's gradient flow)."""
    return mdl.learning_rates(eta)


def _tau_rate(s1):
    return float(th.tau(1.0, s1, M, M1))


def _meters(params, gd: bool = False) -> list:
    """What the identities of §4 need (they hold at any state, so no Condition-1 meter): a fixed readout with
    a_j = +-1 (E1's factor m1 = sum_j a_j^2; the reduction is exact only for fixed a), one rate for every group (the
    unit-rate forms of the conserved quantities; compared from the rates the flow is given, `_rates`), float64; for
    the GD halves, the GD rule lr sigma1^2 m m1 <= 0.02."""
    from scanflow.papers.cooccurrence.checks.assumptions import PAPER

    from scanflow.papers.cooccurrence.checks.assumptions import one_rate

    a = np.asarray(params["a"])
    out = [holds("readout a fixed, a_j = +-1", bool(np.all(np.abs(a) == 1.0)), "fixed +-1",
                 ref=f"{PAPER}, Sec. 2.2 and Eq. 5 (a_j^2 = 1)", value=f"sum a_j^2 = {float(a @ a):g} = m1 = {M1}"),
           one_rate({k: float(v) for k, v in _rates(1.0).items()}),
           holds("float64", bool(np.asarray(params["W"]).dtype == np.float64), "float64",
                 value=str(np.asarray(params["W"]).dtype))]
    if gd:
        out.append(meter("GD step in tau: lr sigma1^2 m m1 (largest)", max(GD_TAU_STEPS), "<=", 0.02,
                         ref="user note, TR (GD rule lr sigma1^2 m m1 <= 0.02)"))
    return out


@functools.lru_cache(maxsize=2)
def _flow(quick: bool):
    """Parameter flow (Tsit5, rtol 1e-10) saved on a tau grid, with the reduced state, the conserved
    quantities and both sides of E1/E3 at every save; and the reduced ODE on the same grid."""
    with jax.enable_x64(True):
        data, params, s1 = _setting()
        tau_end = 12.0 if quick else 30.0  # past T1 (tau ~ 8): both phases
        ts = np.linspace(tau_end / 12, tau_end, 12) / _tau_rate(s1)
        loss_fn = lambda p: mdl.loss(p, data)
        unit = _rates(1.0)

        def rec(p):
            tangent = vector_field(loss_fn, unit)(0.0, p, None)
            _, ds = jax.jvp(lambda q: mdl.u_m(q) @ mdl.u_m(q), (p,), (tangent,))
            _, dC = jax.jvp(lambda q: q["W_V"].T @ q["W_V"], (p,), (tangent,))
            return {"red": th.to_reduced(p), "cons": th.conserved_quantities(p), "F": mdl.outputs_N(p, data),
                    "e1": (th.e1_rate(p, data), ds), "e3": (th.e3_rate_dxd(p, data), dC),
                    "maxabs": jnp.stack([jnp.abs(p[g]).max() for g in ("W", "W_V", "W_K", "W_Q")])}

        cfg = FlowConfig(rtol=RTOL, atol=ATOL)
        solve = jax.jit(lambda st, ts: solve_chunk_grid(loss_fn, rec, cfg, st, unit, ts))
        st, recs = solve(init_flow_state(params, jnp.float64), jnp.asarray(ts))
        red0 = th.to_reduced(params)
        ys, stats = th.integrate_reduced(red0, data, M, ts, a2=float(params["a"] @ params["a"]), rtol=RTOL, atol=ATOL)
        return data, params, ts, jax.device_get(st), jax.device_get(recs), ys, stats, red0, s1


GD_TAU_STEPS = (0.02, 0.01)  # lr * sigma1^2 m m1 of the two GD runs (spec §7 rule, and half of it)


@functools.lru_cache(maxsize=2)
def _gd(quick: bool):
    """Full-batch GD (the engine's Euler solver with dt = 1 lr unit) at the two rates up to the flow's last
    save time; one compiled program (rate and horizon are traced). Returns [(F_N, conserved pair)]."""
    with jax.enable_x64(True):
        data, params, ts, *_ , s1 = _flow(quick)
        loss_fn = lambda p: mdl.loss(p, data)
        cfg = FlowConfig(solver="euler", dt0=1.0)
        rec = lambda p: (mdl.outputs_N(p, data), th.conserved_quantities(p))
        run = jax.jit(lambda lr, n: solve_chunk(loss_fn, lambda t, p: rec(p), cfg, init_flow_state(params, jnp.float64),
                                                _rates(lr), n, 1)[1])
        out = []
        for lt in GD_TAU_STEPS:
            lr = lt / _tau_rate(s1)
            n = float(round(float(ts[-1]) / lr))
            out.append(jax.device_get(jax.tree.map(lambda x: x[0], run(jnp.float64(lr), jnp.float64(n)))))
        return out


def solve_chunk_grid(loss_fn, rec, cfg, state, lrs, ts):
    """`solve_chunk` saves on an even grid: integrate from 0 to ts[-1] saving every ts[0] (ts = k * ts[0])."""
    return solve_chunk(loss_fn, lambda t, p: rec(p), cfg, state, lrs, ts[0], ts.shape[0])


# ----------------------------------------------------------------------------------------- 1


@jax.jit
def _gradient_errors(data, params0, params1):
    """(a) max rel. error of the §1 formulas against -autodiff at two states; (b) max rel. error of central
    finite differences (h = 1e-5) of L along 4 random directions (a held fixed) against autodiff."""
    loss_fn = lambda p: mdl.loss(p, data)
    err_formula = 0.0
    for p in (params0, params1):
        g, f = jax.grad(loss_fn)(p), th.param_flow_formulas(p, data)
        for k in ("W", "W_V", "W_K", "W_Q"):
            err_formula = jnp.maximum(err_formula, jnp.abs(f[k] + g[k]).max() / jnp.abs(g[k]).max())
    h, err_fd = 1e-5, 0.0
    g = jax.grad(loss_fn)(params1)
    for j in range(4):
        v = {k: jax.random.normal(jax.random.key(100 + j), x.shape, x.dtype) for k, x in params1.items()}
        v["a"] = jnp.zeros_like(v["a"])
        plus = {k: params1[k] + h * v[k] for k in v}
        minus = {k: params1[k] - h * v[k] for k in v}
        fd = (loss_fn(plus) - loss_fn(minus)) / (2 * h)
        ad = sum(jnp.vdot(g[k], v[k]) for k in v)
        err_fd = jnp.maximum(err_fd, jnp.abs(fd - ad) / jnp.abs(ad))
    return err_formula, err_fd


@check("cooccurrence", "1", "§1/App. B gradient equations = autodiff = finite differences; parameter flow = "
       "reduced (beta, s, C, M, KK, QQ) ODE of §4 to solver tolerance; GD gap O(lr), halves with lr", "T", home=HOME13)
def c1(ctx: Context) -> Result:
    with jax.enable_x64(True):
        data, params, ts, st, recs, ys, stats, red0, s1 = _flow(ctx.quick)
        err_formula, err_fd = (float(x) for x in _gradient_errors(data, params, st.params))
        # (c) parameter flow vs reduced ODE, tolerance from the PID local-error bound (see tolerance text)
        P_param = sum(x.size for x in jax.tree.leaves(params))
        P_red = sum(np.asarray(v).size for v in red0.values())
        n_steps = int(st.num_steps) + stats["num_steps"]
        sqrtP = math.sqrt(max(P_param, P_red))
        worst, moved = {}, {}
        for k in th.REDUCED_KEYS:
            got, want = np.asarray(recs["red"][k]), ys[k]
            tol = n_steps * sqrtP * (ATOL + RTOL * float(np.abs(want).max()))
            err = float(np.abs(got - want).max())
            worst[k] = err / tol
            moved[k] = float(np.abs(want[-1] - np.asarray(red0[k])).max())
        F_red = np.asarray(jax.vmap(lambda r: th.reduced_outputs_N(r, data, M))(ys))
        err_F = float(np.abs(F_red - recs["F"]).max())
        # (d) GD (Euler, dt = 1 lr unit) at two rates vs the reduced ODE at the same time t
        t_end = float(ts[-1])
        gaps = [float(np.abs(np.asarray(F) - F_red[-1]).max()) for F, _ in _gd(ctx.quick)]
        ratio = gaps[0] / gaps[1]
    gate = all_of(
        at_most("formulas vs autodiff (rel.)", err_formula, 1e4 * EPS64, why="float64 round-off of ~1e3 operations"),
        at_most("central differences (h = 1e-5) vs autodiff (rel.)", err_fd, 1e-6,
                why="truncation ~h^2 |L'''| ~1e-10, round-off eps/h ~1e-11"),
        at_most("parameter flow vs reduced ODE: max err / tol", max(worst.values()), 1.0,
                why="tol = N_steps sqrt(P) (atol + rtol max|y|): the PID local-error bound summed over steps"),
        between("GD gap ratio lr / (lr/2)", ratio, 1.8, 2.2, why="Euler's global error c lr + O(lr^2)"),
    )
    return Result(
        predicted={"formula vs autodiff": 0.0, "FD vs autodiff": 0.0, "max err / tol (reduced)": "<= 1",
                   "GD gap ratio lr / (lr/2)": 2.0},
        measured={"formula vs autodiff (rel)": err_formula, "FD vs autodiff (rel, h=1e-5)": err_fd,
                  **{f"err/tol {k}": v for k, v in worst.items()}, "max |F_param - F_reduced|": err_F,
                  **{f"moved {k}": v for k, v in moved.items()},
                  "GD gap at lr*tau'=0.02": gaps[0], "GD gap at 0.01": gaps[1], "gap ratio": ratio},
        **gate.result_fields(),
        setting=SMALL + f"; flow to tau={float(th.tau(t_end, s1, M, M1)):g} (Tsit5 rtol 1e-10)",
        notes=("M, KK, QQ move by ~1e-9 in TR (attention is nearly frozen, spec §5.2), so their agreement is weak "
               "evidence; tests/test_cooccurrence_core.py repeats the comparison with c0 = 1 where they move ~1e-2."),
        assumptions=_meters(params, gd=True),
        sources={"formula vs autodiff": "theory.param_flow_formulas (App. B gradient-flow equations)",
                 "FD vs autodiff": "0 up to the central-difference error", "max err / tol (reduced)":
                 "theory.reduced_field / integrate_reduced (the user note's exact reduced ODE, derived from App. B)",
                 "GD gap ratio lr / (lr/2)": "Euler's global error O(lr)"},
    )


# ----------------------------------------------------------------------------------------- 2


@check("cooccurrence", "2", "§4 [DERIVED]: gradient flow conserves W^T W - W_V W_V^T and W_K W_K^T - W_Q W_Q^T; "
       "O(lr) drift under GD", "T", home=HOME13)
def c2(ctx: Context) -> Result:
    with jax.enable_x64(True):
        data, params, ts, st, recs, ys, stats, red0, s1 = _flow(ctx.quick)
        theta_max = float(np.asarray(recs["maxabs"]).max())
        P_param = sum(x.size for x in jax.tree.leaves(params))
        dtheta = int(st.num_steps) * math.sqrt(P_param) * (ATOL + RTOL * theta_max)
        tol = 2 * 2 * max(M1, M) * theta_max * dtheta
        c0 = th.conserved_quantities(params)
        drift = [float(np.abs(np.asarray(recs["cons"][j]) - np.asarray(c0[j])).max()) for j in range(2)]
        gram_move = float(np.abs(st.params["W"].T @ st.params["W"] - params["W"].T @ params["W"]).max())
        # GD drift at two rates, same t
        gd = [float(np.abs(np.asarray(cons[0]) - np.asarray(c0[0])).max()) for _, cons in _gd(ctx.quick)]
        ratio = gd[0] / gd[1]
    gate = all_of(
        at_most("flow drift of the conserved quantities / tolerance", max(drift) / tol, 1.0,
                why="tol = 2 * 2 max(m, m1) max|theta| N_steps sqrt(P) (atol + rtol max|theta|): the PID error bound on "
                    "theta through the two Gram products"),
        at_least("|Delta W^T W| / tolerance (the Gram itself moves)", gram_move / tol, 1e3,
                 why="the conservation is not trivial", ours="1e3"),
        between("GD drift ratio lr / (lr/2)", ratio, 1.8, 2.2, why="per-step drift lr^2 |grad|^2: O(lr) at fixed t"),
    )
    return Result(
        predicted={"flow drift": "<= solver tolerance", "GD drift ratio lr / (lr/2)": 2.0},
        measured={"drift W^TW - W_V W_V^T": drift[0], "drift W_K W_K^T - W_Q W_Q^T": drift[1], "tolerance": tol,
                  "|Delta W^T W| (the Gram itself moves)": gram_move, "GD drift (W) at lr tau'=0.02": gd[0],
                  "at 0.01": gd[1], "ratio": ratio},
        **gate.result_fields(),
        setting=SMALL,
        assumptions=_meters(params, gd=True),
        sources={"flow drift": "theory.conserved_quantities (derived: F depends on W W_V and W_K^T W_Q only)",
                 "GD drift ratio lr / (lr/2)": "per-step drift lr^2 |grad|^2: O(lr) at fixed t"},
    )


# ----------------------------------------------------------------------------------------- 3


@check("cooccurrence", "3", "Identity E1 (Eq. 5 / Lemma F.4): d||W^T a||^2/dt = (2 m1/n) sum_i g_i y_i F_i", "T",
       home=HOME13)
def c3(ctx: Context) -> Result:
    _, params, ts, _, recs, _, _, _, s1 = _flow(ctx.quick)
    pred, meas = np.asarray(recs["e1"][0]), np.asarray(recs["e1"][1])
    rel = float(np.max(np.abs(pred - meas) / np.abs(meas)))
    return Result(
        predicted={"(2 m1/n) sum g y F at the last save": float(pred[-1])},
        measured={"d||u||^2/dt (jvp along the flow) at the last save": float(meas[-1]),
                  "max rel. difference over 12 saves": rel},
        **at_most("max relative difference over the saves", rel, 1e4 * EPS64,
                  why="an exact identity, float64 round-off").result_fields(),
        setting=SMALL + f"; 12 states along the flow up to tau={float(th.tau(ts[-1], s1, M, M1)):g}",
        assumptions=_meters(params),
        sources={"(2 m1/n) sum g y F at the last save": "theory.e1_rate (Eq. 5 / Lemma F.4)"},
    )


def e3_error(quick: bool) -> float:
    """E3 (Lemma F.11) at three states of the small setting (the init and two random perturbations of it: an
    exact identity holds at any state): max |formula - jvp of W_V^T W_V along the flow| / max |jvp| (check 14)."""
    del quick
    with jax.enable_x64(True):
        data, params, _ = _setting()
        return float(_e3_errors(data, params))


@jax.jit
def _e3_errors(data, params):
    loss_fn = lambda p: mdl.loss(p, data)
    err = 0.0
    for j, scale in enumerate((0.0, 1.0, 3.0)):
        p = {k: x + scale * jnp.std(x) * jax.random.normal(jax.random.key(7 + j), x.shape, x.dtype) if k != "a" else x
             for k, x in params.items()}
        tangent = vector_field(loss_fn, mdl.learning_rates(1.0))(0.0, p, None)
        _, dC = jax.jvp(lambda q: q["W_V"].T @ q["W_V"], (p,), (tangent,))
        err = jnp.maximum(err, jnp.abs(th.e3_rate_dxd(p, data) - dC).max() / jnp.abs(dC).max())
    return err
