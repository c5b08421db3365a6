"""Run directories hold an xarray.Dataset (results.nc), written atomically and read back in one call;
grid points are selected by their hyperparameter values and records by step, never by position
under a label's name (the bug of the old positional `sel`: record=10 returned step 20)."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from scanflow.engine import dataset
from scanflow.engine.results import load_run, new_run_dir, write_run


def _ds(label="step"):
    arrays = {
        "loss": np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4),
        "attn": np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5),
        "diverged": np.array([[False, True, False], [False, False, False]]),
        "lr_Y": np.array([1.0, 0.1]),
        "lr_Z": np.array([0.5, 0.5]),
    }
    dims = {"loss": ("point", "seed", "record"), "attn": ("point", "seed", "record", "token"),
            "diverged": ("point", "seed"), "lr_Y": ("point",), "lr_Z": ("point",)}
    coords = {"point": np.arange(2), "seed": np.arange(3), "record": np.array([0, 10, 20, 30]),
              "token": np.array([3, 4, 7, 8, 9])}
    return dataset.to_dataset(arrays, dims, coords, record_label=label, config={"name": "x", "workload": "w"},
                              manifest={"x64": False, "diverged_runs": [{"point": 0, "seed": 1}]}), arrays


def test_label_selection():
    ds, arrays = _ds()
    assert ds.loss.dims == ("point", "seed", "step")
    one = ds.loss.sel(lr_Y=0.1)  # 0.1: the config value; the remaining level lr_Z becomes the dim (pandas)
    assert one.dims == ("lr_Z", "seed", "step") and one.lr_Z.values.tolist() == [0.5]
    np.testing.assert_array_equal(one.values[0], arrays["loss"][1])
    np.testing.assert_array_equal(ds.loss.sel(lr_Y=1.0, lr_Z=0.5).values, arrays["loss"][0])
    np.testing.assert_array_equal(ds.loss.sel(step=10).values, arrays["loss"][:, :, 1])  # by step, not position
    with pytest.raises(KeyError):
        ds.loss.sel(step=15)  # no such record: an error, never a neighbouring one
    assert "record" not in ds.dims  # positions are isel(step=...); no unlabelled axis for sel to index by position
    np.testing.assert_array_equal(ds.attn.sel(token=7).values, arrays["attn"][..., 2])
    assert bool(ds.diverged.sel(lr_Y=1.0, seed=1))
    assert dataset.manifest_of(ds)["diverged_runs"] == [{"point": 0, "seed": 1}]
    assert dataset.config_of(ds) == {"name": "x", "workload": "w"}
    assert ds.unstack("point").loss.dims == ("seed", "step", "lr_Y", "lr_Z")


def test_roundtrip_is_identical(tmp_path):
    ds, _ = _ds()
    path = write_run(tmp_path / "r", ds)
    back = load_run(path)
    assert back.attrs.pop("run_dir") == str(path)
    xr.testing.assert_identical(back, ds)
    assert back.diverged.dtype == bool and back.loss.dtype == np.float32
    assert json.loads((path / "manifest.json").read_text())["x64"] is False
    plain = xr.open_dataset(path / dataset.RESULTS_FILE, engine="h5netcdf")  # a standard file: one call
    np.testing.assert_array_equal(plain.lr_Y.values, [1.0, 0.1])
    plain.close()


def test_flow_records_are_labelled_by_time(tmp_path):
    ds, arrays = _ds("time")
    back = load_run(write_run(tmp_path / "r", ds))
    np.testing.assert_array_equal(back.loss.sel(time=20).values, arrays["loss"][:, :, 2])
    assert back.loss.dims == ("point", "seed", "time") and "step" not in back.coords


def test_legacy_run_directory_loads(tmp_path):
    """A run directory of scanflow <= 0.1 (arrays.npz, dims and coords in manifest.json) loads as the
    same Dataset."""
    ds, arrays = _ds()
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("name: x\nworkload: w\n")
    np.savez(old / "arrays.npz", **arrays)
    dims = {k: ["record" if d == "step" else d for d in v.dims] for k, v in ds.variables.items() if k in arrays}
    assert dims["loss"] == ["point", "seed", "record"]
    coords = {"point": [0, 1], "seed": [0, 1, 2], "record": [0, 10, 20, 30], "token": [3, 4, 7, 8, 9]}
    (old / "manifest.json").write_text(json.dumps({"x64": False, "diverged_runs": [{"point": 0, "seed": 1}],
                                                   "dims": dims, "coords": coords}))
    back = load_run(old)
    back.attrs.pop("run_dir")
    xr.testing.assert_equal(back, ds)
    np.testing.assert_array_equal(back.loss.sel(lr_Y=0.1, lr_Z=0.5, step=30).values, arrays["loss"][1, :, 3])


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ds, _ = _ds()

    def boom(*a, **k):  # the disk fills up midway: the temp dir is removed, nothing appears
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError):
        write_run(tmp_path / "r", ds)
    assert list(tmp_path.iterdir()) == []


def test_never_overwrites(tmp_path):
    ds, _ = _ds()
    write_run(tmp_path / "r", ds)
    with pytest.raises(FileExistsError):
        write_run(tmp_path / "r", ds)
    assert new_run_dir(tmp_path, "r") != tmp_path / "r"


def test_a_selected_static_axis_gives_that_values_config_and_save_round_trips(tmp_path):
    """`config_of(ds.sel(batch_size=4))` is the config of batch 4 (not of the first value), and it re-runs to
    the same numbers; `scanflow.save` writes a Dataset plain `to_netcdf` cannot (the point MultiIndex)."""
    import scanflow
    from scanflow.engine.config import config_from_dict

    tiny = {"workload": "scan_snap", "name": "tiny_sel", "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": [8, 4]},
            "train": {"steps": 4, "record_every": 2}, "sweep": {"seeds": 2, "lr": {"Y": [1.0, 4.0], "Z": [0.5]}}}
    ds = scanflow.run(tiny)
    assert dataset.config_of(ds)["sweep"]["grid"] == {"data.batch_size": [8, 4]}
    one = ds.sel(batch_size=4)
    cfg = dataset.config_of(one)
    assert cfg["data"]["batch_size"] == 4 and not cfg["sweep"]["grid"]
    again = scanflow.run(config_from_dict(cfg))
    np.testing.assert_array_equal(again.train_loss.values, one.train_loss.values)
    with pytest.raises(NotImplementedError):
        ds.to_netcdf(tmp_path / "plain.nc")
    path = scanflow.save(one, tmp_path / "sub" / "one.nc")
    back = scanflow.load_run(path)  # the one loader: run directories and saved files
    xr.testing.assert_identical(back.drop_attrs(), one.drop_attrs())
    assert dataset.config_of(back)["data"]["batch_size"] == 4


def test_an_axis_that_changes_nothing_is_warned_about(tmp_path, capsys):
    """model.init_scale under model.init: zero changes nothing (the init is zero): `scanflow run` says so;
    under model.init: uniform the same axis changes the runs and nothing is said."""
    from scanflow import cli

    config = str(Path(__file__).resolve().parents[1] / "configs" / "scan_snap_small.yaml")
    small = ["train.steps=4", "train.record_every=2", "sweep.seeds=2", "data.seq_len=16", "data.batch_size=8",
             "model.init_scale=[0.05, 0.2]", "--no-plot", "--quiet", "--out", str(tmp_path)]
    for init, warned in (("zero", True), ("uniform", False)):
        capsys.readouterr()
        assert cli.main(["run", config, f"model.init={init}", *small]) == 0
        err = capsys.readouterr().err
        assert ("the axis init_scale changed nothing" in err) == warned, (init, err)


@pytest.mark.parametrize("args, kw, words", [
    ((42,), {}, "config: expected a Config, a mapping or a YAML path, got int"),
    (("configs/scan_snap_small.yaml", "train.steps=10"), {}, "got the string 'train.steps=10'"),
    (("configs/scan_snap_small.yaml", [3]), {}, "expected 'key=value' strings, got int 3"),
    (("configs/scan_snap_small.yaml",), {"out_dir": 3}, "out_dir: expected a directory path"),
    (("configs/scan_snap_small.yaml",), {"runs_per_block": 0}, "runs_per_block: expected an integer >= 1"),
])
def test_scanflow_run_names_a_wrong_argument(args, kw, words):
    import scanflow

    with pytest.raises(TypeError) as e:
        scanflow.run(*args, **kw)
    assert words in str(e.value) and "\n" not in str(e.value)
