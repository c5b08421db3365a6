"""Sweep axes beyond the learning rates (`scanflow.engine.grid`).

* A dynamic field given as a list (``model.init_scale``, ``train.momentum``) adds grid points to the
  ONE compiled program, and every point's arrays are bit-identical to a sweep of that point alone
  (run invariance: a run's bits depend on its static config, hyperparameters and seed only).
* A static field given as a list (``data.num_unique``) runs one program per value into one result
  with a dimension per static axis; each part is bit-identical to a sweep of that value alone, and
  the in-memory Dataset equals the one loaded from the run directory.
* Every value is validated at construction, with the field's own rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import scanflow
from scanflow.engine import grid
from scanflow.engine.config import ConfigError, config_from_dict, to_dict
from scanflow.engine.dataset import manifest_of, static_axes
from scanflow.engine.sweep import TRACE_COUNT

TINY = {"workload": "scan_snap", 
    "name": "tiny_grid",
    "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "model": {"init": "uniform"},
    "train": {"steps": 6, "record_every": 3},
    "sweep": {"seeds": 2, "lr": {"Y": [1.0, 4.0], "Z": [0.5]}},
}


def test_dynamic_axes_share_one_program_and_equal_single_point_sweeps():
    cfg = config_from_dict(TINY, ["model.init_scale=[0.05, 0.2]", "train.momentum=[0, 0.9]"])
    assert cfg.sweep.grid == {"model.init_scale": (0.05, 0.2), "train.momentum": (0, 0.9)}
    assert cfg.model.init_scale == 0.05 and cfg.train.momentum == 0.0  # the fields hold the first values
    assert config_from_dict(to_dict(cfg)) == cfg  # the resolved config re-runs as it is
    before = dict(TRACE_COUNT)
    ds = scanflow.run(cfg)
    assert TRACE_COUNT["chunk"] - before["chunk"] == 1  # 2 x 2 axis values x 2 learning rates: one program
    assert ds.sizes["point"] == 8
    for scale in (0.05, 0.2):
        for mu in (0.0, 0.9):
            alone = scanflow.run(TINY, [f"model.init_scale={scale}", f"train.momentum={mu}"])
            got = ds.sel(init_scale=scale, momentum=mu)
            for k in ("loss", "train_loss", "attn"):
                np.testing.assert_array_equal(got[k].values, alone[k].values, err_msg=f"{k} {scale} {mu}")


def test_static_axis_one_run_directory(tmp_path):
    ds = scanflow.run(TINY, ["data.num_unique=[4, 6]"], out_dir=tmp_path)
    assert static_axes(ds) == ["num_unique"] and ds.num_unique.values.tolist() == [4, 6]
    assert len(list(tmp_path.iterdir())) == 1  # one run directory for both programs
    for M in (4, 6):
        alone = scanflow.run(TINY, [f"data.num_unique={M}"])
        part = ds.sel(num_unique=M).dropna("token", how="all")  # the smaller vocabulary is padded with NaN
        for k in ("loss", "train_loss", "attn"):
            np.testing.assert_array_equal(part[k].values, alone[k].values, err_msg=f"{k} M={M}")
    assert np.isnan(ds.attn.sel(num_unique=4).isel(token=-1)).all()
    assert len(manifest_of(ds)["parts"]) == 2
    mem = scanflow.run(TINY, ["data.num_unique=[4, 6]"])  # the same Dataset in memory
    xr.testing.assert_equal(mem, ds)


@pytest.mark.parametrize("override, field", [
    ("train.momentum=[0.5, 1.5]", "train.momentum"),
    ("data.num_unique=[4, 0]", "data.num_unique"),
    ("model.init_scale=[0.1, -1]", "model.init_scale"),
    ("train.steps=[6, 7]", "train"),  # 7 is not a multiple of record_every=3
    ("sweep.grid={model.init_scale: []}", "sweep.grid.model.init_scale"),
    ("sweep.grid={model.init_scale: [0.1, 0.1]}", "sweep.grid.model.init_scale"),
    ("sweep.grid={nosection.x: [1]}", "sweep.grid.nosection.x"),
    ("sweep.grid={model.nofield: [1, 2]}", "sweep.grid.model.nofield"),
    ("sweep.grid={sweep.seeds: [1, 2]}", "sweep.grid.sweep.seeds"),
])
def test_bad_axis_values_are_one_line_errors(override, field):
    with pytest.raises(ConfigError) as e:
        config_from_dict(TINY, [override])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(field), msg


def test_static_and_dynamic_classification():
    cfg = config_from_dict(TINY, ["data.num_unique=[4, 6]", "model.init_scale=[0.1, 0.2]", "train.momentum=[0, 0.5]"])
    assert set(grid.axes(cfg, dynamic=True)) == {"model.init_scale", "train.momentum"}
    assert set(grid.axes(cfg, dynamic=False)) == {"data.num_unique"}
    parts = grid.static_parts(cfg)
    assert [v for v, _ in parts] == [{"data.num_unique": 4}, {"data.num_unique": 6}]
    assert all(set(p.sweep.grid) == {"model.init_scale", "train.momentum"} for _, p in parts)
    adam = config_from_dict(TINY, ["train.optimizer=adam", "train.momentum=[0, 0.5]"])
    assert not grid.is_dynamic(adam, "train.momentum")  # adam does not use it: a static axis (same program)


def test_extend_a_finished_sweep_is_bit_identical_to_a_fresh_larger_one(tmp_path):
    """4 seeds extended to 8, with a third learning rate and a third value of a static axis, equals a
    fresh sweep of the larger grid bit for bit, computing only the new runs; the old run directory is
    kept."""
    from scanflow.engine.extend import extend

    small = scanflow.run(TINY, ["sweep.seeds=4", "data.num_unique=[4, 5]"], out_dir=tmp_path / "a")
    old_dir = small.attrs["run_dir"]
    more = ["sweep.seeds=8", "sweep.lr.Y=[1.0, 4.0, 2.0]", "data.num_unique=[4, 5, 6]"]
    path = extend(old_dir, more, out_dir=tmp_path / "b", plot=False)
    big = scanflow.load_run(path)
    fresh = scanflow.run(TINY, more)
    big.attrs.clear()
    fresh.attrs.clear()
    xr.testing.assert_identical(big, fresh)
    m = manifest_of(scanflow.load_run(path))
    # M = 4, 5: 3 x 8 runs of which 2 x 4 exist; M = 6: all 3 x 8 new
    assert m["computed_runs"] == 2 * (3 * 8 - 2 * 4) + 3 * 8 and m["reused_runs"] == 2 * 2 * 4
    assert m["extended_from"] == old_dir
    assert scanflow.load_run(old_dir).sizes["seed"] == 4  # untouched


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return scanflow.run(TINY, ["sweep.seeds=4", "train.steps=3", "train.record_every=3"],
                        out_dir=tmp_path_factory.mktemp("small")).attrs["run_dir"]


@pytest.mark.parametrize("override, field", [
    ("train.steps=12", "train.steps"),
    ("sweep.seeds=2", "sweep.seeds"),
    ("sweep.seeds=4", "overrides"),  # nothing new to compute
])
def test_extend_refuses_what_is_not_an_extension(small_run, tmp_path, override, field):
    from scanflow.engine.extend import extend

    with pytest.raises(ConfigError) as e:
        extend(small_run, [override], out_dir=tmp_path / "x", plot=False)
    assert str(e.value).startswith(field) and "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_cli_sweeps_a_list_and_extends(tmp_path, capsys):
    """`scanflow run CONFIG 'model.init_scale=[0.1, 0.2]'` writes one run directory; `scanflow run RUN_DIR
    sweep.seeds=3` extends it into a new one; a finished run directory without overrides is a one-line
    error (exit 2)."""
    import yaml

    from scanflow import cli

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {"steps": 3, "record_every": 3}}))
    assert cli.main(["run", str(config), "model.init_scale=[0.1, 0.2]", "--out", str(tmp_path / "a"), "--quiet",
                     "--no-plot"]) == 0
    (run_dir,) = list((tmp_path / "a").iterdir())
    assert sorted(set(scanflow.load_run(run_dir).init_scale.values.tolist())) == [0.1, 0.2]
    capsys.readouterr()
    assert cli.main(["run", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "finished run directory" in err and "sweep.seeds=" in err
    assert cli.main(["run", str(run_dir), "sweep.seeds=3", "--out", str(tmp_path / "b"), "--quiet", "--no-plot"]) == 0
    assert "computed 4 new run(s), reused 8" in capsys.readouterr().out  # 2 scales x 2 points x 1 new seed
    (ext,) = list((tmp_path / "b").iterdir())
    assert scanflow.load_run(ext).sizes["seed"] == 3


def test_run_sweep_refuses_static_axes():
    """The engine's raw `run_sweep` runs one program: a config with a static axis is refused in one line
    instead of silently running its first value."""
    from scanflow.engine.sweep import run_sweep

    with pytest.raises(ConfigError, match="^sweep.grid.data.num_unique: a static axis"):
        run_sweep(config_from_dict(TINY, ["data.num_unique=[4, 6]"]))
