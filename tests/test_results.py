"""Run directories are written atomically and read back in one call."""

import numpy as np
import pytest

from scanflow.engine.results import load_run, new_run_dir, write_run


def _arrays():
    arrays = {"loss": np.arange(12.0).reshape(2, 3, 2), "lr_Y": np.array([1.0, 10.0])}
    dims = {"loss": ("point", "seed", "record"), "lr_Y": ("point",)}
    coords = {"point": np.arange(2), "seed": np.arange(3), "record": np.array([0, 5])}
    return arrays, dims, coords


def test_roundtrip(tmp_path):
    arrays, dims, coords = _arrays()
    path = write_run(tmp_path / "r", {"name": "x"}, arrays, dims, coords, {"x64": False})
    r = load_run(path)
    np.testing.assert_array_equal(r["loss"], arrays["loss"])
    assert r.dims["loss"] == ("point", "seed", "record")
    np.testing.assert_array_equal(r.coords["record"], [0, 5])
    np.testing.assert_array_equal(r.sel("loss", seed=1), arrays["loss"][:, 1])
    with pytest.raises(KeyError):
        r.sel("loss", token=0)
    assert r.config == {"name": "x"} and r.manifest["x64"] is False


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    arrays, dims, coords = _arrays()
    dims["loss"] = ("point", "seed")  # wrong rank -> rejected before anything is written
    with pytest.raises(ValueError):
        write_run(tmp_path / "r", {}, arrays, dims, coords, {})
    arrays, dims, coords = _arrays()
    arrays["bad"], dims["bad"] = np.array(["a"]), ("x",)  # not numeric
    with pytest.raises(ValueError, match="numeric"):
        write_run(tmp_path / "r", {}, arrays, dims, coords, {})
    arrays, dims, coords = _arrays()

    def boom(*a, **k):  # the disk fills up midway: the temp dir is removed, nothing appears
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        write_run(tmp_path / "r", {}, arrays, dims, coords, {})
    assert list(tmp_path.iterdir()) == []


def test_never_overwrites(tmp_path):
    arrays, dims, coords = _arrays()
    write_run(tmp_path / "r", {}, arrays, dims, coords, {})
    with pytest.raises(FileExistsError):
        write_run(tmp_path / "r", {}, arrays, dims, coords, {})
    assert new_run_dir(tmp_path, "r") != tmp_path / "r"
