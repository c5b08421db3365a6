"""scanflow-linear-net: config validation, the closed forms, the inits, discovery, the bounds'
power to fail, and both checks through scanflow's engine (`python -m pytest -q examples/linear_net/tests`)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
import yaml

pytest.importorskip("scanflow_linear_net", reason="the example is not installed (pip install -e examples/linear_net)")

from scanflow.engine.config import ConfigError, config_from_dict, to_dict  # noqa: E402
from scanflow.engine.registry import get_workload  # noqa: E402
from scanflow_linear_net import theory as th  # noqa: E402
from scanflow_linear_net.checks import conservation_table  # noqa: E402
from scanflow_linear_net.workload import WORKLOAD, build, hyperparams  # noqa: E402

REF = "scanflow_linear_net.workload:WORKLOAD"


def cfg_of(**sections):
    raw = {"workload": REF, "x64": True, "train": {"method": "flow", "steps": 10, "record_every": 1}}
    raw.update(sections)
    return config_from_dict(raw)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "sections, words",
    [
        ({"data": {"singular_values": []}}, ["data.singular_values", "non-empty"]),
        ({"data": {"singular_values": [3.0, -1.0]}}, ["data.singular_values[1]", "positive"]),
        ({"data": {"singular_values": "3"}}, ["data.singular_values", "list"]),
        ({"data": {"input_dim": 2, "singular_values": [3.0, 2.0, 1.0]}}, ["data.singular_values", "at most", "2"]),
        ({"data": {"input_dim": 0}}, ["data.input_dim", ">= 1"]),
        ({"data": {"basis": "eye"}}, ["data.basis", "identity"]),
        ({"model": {"hidden_dim": 2}}, ["model.hidden_dim", "decoupled"]),  # 4 modes, decoupled init
        ({"model": {"init": "orthogonal"}}, ["model.init", "balanced"]),
        ({"model": {"init_scale": 0.0}}, ["model.init_scale", "positive"]),
        ({"model": {"hidden": 3}}, ["model.hidden", "unknown key", "hidden_dim"]),
        ({"sweep": {"lr": {"W1": [0.1]}}}, ["sweep.lr", "eta", "W1, W2"]),
    ],
)
def test_bad_config_is_one_line_naming_the_field(sections, words):
    with pytest.raises(ConfigError) as e:
        cfg_of(**sections)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_singular_values_from_yaml_strings_and_hashable():
    cfg = config_from_dict({"workload": REF, "data": {"singular_values": ["3", "1e-1"]}, "model": {"hidden_dim": 2}})
    assert cfg.data.singular_values == (3.0, 0.1)
    hash(cfg)  # configs pick compiled programs by hash


def test_lr_grid_and_dynamic_init_scale():
    cfg = cfg_of(sweep={"seeds": 1, "lr": {"W1": [0.1, 0.2], "W2": [0.05]}}, model={"init_scale": 0.01})
    hp = hyperparams(cfg, {})
    assert hp["lr"]["W1"].tolist() == [0.1, 0.2] and hp["lr"]["W2"].tolist() == [0.05, 0.05]
    assert hp["init_scale"]["product"].tolist() == [0.01, 0.01]
    assert WORKLOAD.dynamic_model_fields == ("init_scale",)


# ----------------------------------------------------------------------------- theory


def test_conserved_form_has_zero_derivative_for_any_matrices():
    rng = np.random.default_rng(0)
    W1, W2, E = rng.standard_normal((4, 6)), rng.standard_normal((5, 4)), rng.standard_normal((5, 6))
    for eta1, eta2 in ((1.0, 1.0), (0.3, 0.07)):
        assert np.abs(th.conserved_rate(W1, W2, E, eta1, eta2)).max() < 1e-12
    # the unweighted form is not conserved at unequal rates
    dW1, dW2 = 0.3 * W2.T @ E, 0.07 * E @ W1.T
    assert np.abs((dW1 @ W1.T + W1 @ dW1.T) - (dW2.T @ W2 + W2.T @ dW2)).max() > 0.1


def test_sigmoid_solves_the_logistic_equation():
    s, a0, eta = 2.0, 1e-3, 0.05
    t = np.linspace(0.0, 150.0, 20001)
    a = th.mode_strength(t, s, a0, eta)
    assert a[0] == pytest.approx(a0, rel=1e-14)
    da = np.gradient(a, t)
    assert np.abs(da - 2 * eta * a * (s - a))[5:-5].max() < 1e-6
    t_half = th.half_time(s, a0, eta)
    assert th.mode_strength(t_half, s, a0, eta) == pytest.approx(s / 2, rel=1e-13)
    assert th.half_time_measured(t[::50], a[::50], s) == pytest.approx(t_half, rel=1e-10)  # logit is linear
    assert th.half_time_approx(s, a0, eta) == pytest.approx(t_half, rel=1e-3)


# ----------------------------------------------------------------------------- inits


def _init(cfg, seed=0):
    with jax.enable_x64(True):
        problem = build(cfg)
        hp = jax.tree.map(lambda x: jnp.asarray(x[0]), hyperparams(cfg, problem.info))
        params = problem.init(jax.random.PRNGKey(seed), hp)
        return problem, hp, params


def test_decoupled_init_starts_every_mode_at_a0_without_coupling():
    cfg = cfg_of(model={"hidden_dim": 5, "init": "decoupled", "init_scale": 1e-3})
    problem, hp, params = _init(cfg)
    with jax.enable_x64(True):
        m = problem.metrics(params, _rec(hp))
    np.testing.assert_allclose(m["mode_strength"], 1e-3, rtol=1e-12)
    assert float(m["offdiag"]) < 1e-17
    assert np.abs(m["balance"]).max() < 1e-17


def test_balanced_init_is_balanced_and_random_init_is_not():
    _, hp, params = _init(cfg_of(model={"init": "balanced", "init_scale": 0.1}))
    W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
    np.testing.assert_allclose(W1 @ W1.T, W2.T @ W2, atol=1e-15)
    assert np.linalg.norm(W2 @ W1) > 0.05
    _, hp, params = _init(cfg_of(model={"init": "random", "init_scale": 0.1}))
    W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
    assert np.abs(W1 @ W1.T - W2.T @ W2).max() > 1e-3


def _rec(hp):
    from scanflow.engine.workload import Recording

    return Recording(jnp.zeros(()), None, None, hp)


# ----------------------------------------------------------------------------- discovery


def test_found_by_module_reference_without_an_entry_point():
    assert get_workload(REF) is WORKLOAD


def test_found_by_entry_points_when_installed():
    from importlib.metadata import entry_points

    if "linear_net" not in {e.name for e in entry_points(group="scanflow.workloads")}:
        pytest.skip("scanflow-linear-net is not installed (pip install -e examples/linear_net)")
    from scanflow.engine.registry import load_paper_module, paper_names

    assert get_workload("linear_net") is WORKLOAD
    assert "linear-net" in paper_names()
    load_paper_module("linear-net")
    from scanflow.verify.framework import REGISTRY

    assert list(REGISTRY["linear-net"]) == ["L1-conservation", "L2-saxe-sigmoid"]


# ----------------------------------------------------------------------------- the bound can fail


def _fake_run(cfg, Q, eta=(0.1, 0.1), steps=100):
    """A run's Dataset (one point, one seed, records along "time", as `ctx.run` / `scanflow.load_run` give)
    with a given balancedness trajectory Q (record, h, h), the config `cfg` and n_params = 20."""
    R = Q.shape[0]
    one = lambda x: np.asarray(x, np.float64).reshape(1, 1, *np.shape(x))
    run, hh = ("point", "seed", "time"), ("hidden_i", "hidden_j")
    return xr.Dataset(
        {
            "solver_accepted_steps": (("point", "seed"), np.array([[steps]])),
            "norm_W1": (run, one(np.full(R, 1.0))),
            "norm_W2": (run, one(np.full(R, 1.0))),
            "max_abs_param": (run, one(np.full(R, 0.5))),
            "balance": (run + hh, one(Q)),
            "balance_lr": (run + hh, one(Q / eta[0])),
        },
        coords={"lr_W1": ("point", [eta[0]]), "lr_W2": ("point", [eta[1]]), "time": np.arange(R, dtype=np.float64)},
        attrs={"record_label": "time", "config": yaml.safe_dump(to_dict(cfg), sort_keys=False),
               "manifest": json.dumps({"workload_info": {"n_params": 20}})},
    )


def test_conservation_bound_flags_a_drift_above_it():
    cfg = cfg_of(data={"input_dim": 4, "output_dim": 3, "singular_values": [1.0]}, model={"hidden_dim": 2})
    Q = np.tile(np.array([[0.2, 0.0], [0.0, -0.1]]), (11, 1, 1))
    row = conservation_table(_fake_run(cfg, Q))[0]
    assert row["balance_drift"] == 0.0 and row["balance_drift"] <= row["balance_bound"]
    bound = row["balance_bound"]
    e = np.sqrt(20) * (1e-8 + (1e-6 + 4 * th.EPS64) * 0.5)  # rtol, atol: the FlowConfig defaults here
    assert bound == pytest.approx(101 * (2 * np.sqrt(2) * 1.0 * e + e * e), rel=1e-6)  # + rounding ~1e-15
    Q2 = Q.copy()
    Q2[7, 0, 1] += 10 * bound  # a drift ten times the solver-derived bound
    bad = conservation_table(_fake_run(cfg, Q2))[0]
    assert bad["balance_drift"] > bad["balance_bound"]
    tight = dataclasses.replace(cfg, flow=dataclasses.replace(cfg.flow, rtol=1e-12, atol=1e-14))
    assert conservation_table(_fake_run(tight, Q))[0]["balance_bound"] < bound / 100  # scales with tol


# ----------------------------------------------------------------------------- the checks, through the engine


def test_quick_checks_pass_through_the_engine(tmp_path):
    import scanflow_linear_net.checks  # noqa: F401  registers the paper (also without the entry point)
    from scanflow.verify.framework import Context, run_checks

    outcomes = run_checks("linear-net", Context(quick=True, fig_dir=tmp_path), log=None)
    assert [o.verdict for o in outcomes] == ["PASS", "PASS"], [o.error for o in outcomes]
    l1, l2 = (o.result.measured for o in outcomes)
    assert l1["max drift / bound, equal rates"] < 1
    assert l1["max drift / bound, weighted form, unequal rates"] < 1
    assert l1["min drift / bound, unweighted form, unequal rates (control, must be > 100)"] > 100
    assert l2["max_t |a - a_theory| / bound (all modes and runs)"] < 1
    assert l2["max |t_half - t_half_theory| / tolerance"] < 1
    assert {p.name for p in tmp_path.iterdir()} == {"L1_conservation.png", "L2_saxe_sigmoid.png"}


# ----------------------------------------------------------------------------- figures


def test_plots_are_figures_of_a_dataset(tmp_path):
    """`Workload.plots(ds)` returns {name: Figure} (a view: nothing saved); `plot_run` saves PNG and PDF."""
    from matplotlib.figure import Figure

    from scanflow.engine.figures import plot_run, plt
    from scanflow.engine.run import run
    from scanflow_linear_net import plots

    cfg = cfg_of(data={"input_dim": 3, "output_dim": 3, "singular_values": [2.0, 1.0]}, model={"hidden_dim": 2},
                 sweep={"seeds": 1, "lr": {"W1": [0.1, 0.2], "W2": [0.1]}})
    ds = run(cfg)  # in memory: the Dataset `scanflow.load_run` gives for a run directory
    assert ds.attrs["record_label"] == "time"
    figs = WORKLOAD.plots(ds)
    assert list(figs) == ["modes_point0", "modes_point1"] and all(isinstance(f, Figure) for f in figs.values())
    plt.close("all")
    assert isinstance(plots.modes_figure(ds, point=1, seed=0, title="point 1"), Figure)
    plt.close("all")
    paths = plot_run(ds, out_dir=tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"modes_point{p}.{x}" for p in (0, 1) for x in ("png", "pdf"))
