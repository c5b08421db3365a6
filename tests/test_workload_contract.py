"""The workload contract asks nothing for the engine's sake (issue 22): a workload declared with the
`workload` decorator from a build function, with no model section, no hyperparams (the product grid of
``sweep.lr``), no ``train_loss`` or scalar entries in ``metric_dims``, no ``init_scale``, and a `Problem`
built from three keywords, runs end to end; its optimizer is the one it states (or the engine's plain
``sgd``), visible in the resolved config and in the run summary.

The toy: a scalar w trained on E (w - x)^2 / 2 with x ~ N(mu, 1); E w_t after t SGD steps of rate eta
from w_0 = 0 is mu (1 - (1 - eta)^t) exactly, so the numbers are checked too (mean of 64 seeds within
4 standard errors, per record)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow import cli
from scanflow.engine.workload import Problem, workload


@dataclass(frozen=True)
class MeanData:
    mu: float = 2.0


@workload("toy_mean", lr={"w": [0.1, 0.3]}, data=MeanData)
def TOY(cfg):
    mu = cfg.data.mu

    def loss(params, key, step):
        x = mu + jax.random.normal(key, ())
        return 0.5 * (params["w"] - x) ** 2

    return Problem(init=lambda key, hp: {"w": jnp.zeros(())}, loss=loss, metrics=lambda p, rec: {"w": p["w"]})


@workload("toy_mean_momentum", lr={"w": [0.1]}, data=MeanData, train={"optimizer": "sgd_momentum", "momentum": 0.5})
def TOY_MOMENTUM(cfg):
    return TOY.build(cfg)


def test_a_forty_line_workload_runs_and_its_numbers_are_right(tmp_path, capsys, monkeypatch):
    import scanflow

    monkeypatch.setitem(sys.modules, "toy_contract", sys.modules[__name__])
    ds = scanflow.run({"workload": "toy_contract:TOY", "train": {"steps": 20, "record_every": 5},
                       "sweep": {"seeds": 64}})
    assert sorted(ds.data_vars) == ["diverged", "diverged_step", "train_loss", "w"]
    assert ds.w.dims == ("point", "seed", "step")
    cfg = scanflow.config_from_dict({"workload": "toy_contract:TOY"})
    assert cfg.train.optimizer == "sgd" and dataclass_fields(cfg.model) == []
    for eta in (0.1, 0.3):
        w = ds.w.sel(lr_w=eta)
        t = w.step.values
        mean = w.mean("seed").values
        se = w.std("seed", ddof=1).values / np.sqrt(64)
        exact = 2.0 * (1 - (1 - eta) ** t)
        assert np.all(np.abs(mean - exact) <= 4 * se + 1e-6), (eta, mean, exact, se)
    capsys.readouterr()
    assert cli.main(["run", "--quiet", "--no-plot", "--out", str(tmp_path), _yaml(tmp_path, "toy_contract:TOY")]) == 0
    assert "optimizer sgd\n" in capsys.readouterr().out


def test_a_workloads_stated_optimizer_is_the_default_and_printed(tmp_path, capsys, monkeypatch):
    import scanflow

    monkeypatch.setitem(sys.modules, "toy_contract", sys.modules[__name__])
    cfg = scanflow.config_from_dict({"workload": "toy_contract:TOY_MOMENTUM"})
    assert cfg.train.optimizer == "sgd_momentum" and cfg.train.momentum == 0.5
    over = scanflow.config_from_dict({"workload": "toy_contract:TOY_MOMENTUM", "train": {"optimizer": "adam"}})
    assert over.train.optimizer == "adam"  # the config's own value wins
    capsys.readouterr()
    assert cli.main(["run", "--quiet", "--no-plot", "--out", str(tmp_path),
                     _yaml(tmp_path, "toy_contract:TOY_MOMENTUM")]) == 0
    assert "optimizer sgd_momentum (momentum=0.5)" in capsys.readouterr().out


def test_a_non_scalar_metric_needs_its_axes_named(monkeypatch, tmp_path, capsys):
    @workload("toy_vec", lr={"w": [0.1]})
    def VEC(cfg):
        return Problem(init=lambda key, hp: {"w": jnp.zeros((3,))}, loss=lambda p, k, s: jnp.sum(p["w"] ** 2),
                       metrics=lambda p, rec: {"w": p["w"]})

    module = type(sys)("toy_vec_mod")
    module.VEC = VEC
    monkeypatch.setitem(sys.modules, "toy_vec_mod", module)
    capsys.readouterr()
    assert cli.main(["run", "--quiet", "--no-plot", "--out", str(tmp_path), _yaml(tmp_path, "toy_vec_mod:VEC")]) == 2
    err = capsys.readouterr().err
    assert "metrics returned 'w' of shape (3,)" in err and "metric_dims" in err and len(err.strip().splitlines()) == 1


def dataclass_fields(obj) -> list:
    import dataclasses

    return [f.name for f in dataclasses.fields(obj)]


def _yaml(tmp_path, workload: str) -> str:
    path = tmp_path / f"{workload.replace(':', '_')}.yaml"
    path.write_text(f"workload: {workload!r}\nname: toy\ntrain:\n  steps: 4\n  record_every: 2\nsweep:\n  seeds: 2\n")
    return str(path)
