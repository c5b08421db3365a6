"""The command line: a tiny run end to end (in a subprocess, x64 off, as users run it) writes a loadable
run directory. Bad input (one clear line, exit 2, nothing written) is tests/test_bad_input.py."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.results import load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_small.yaml"


def scanflow(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "scanflow.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


# Bad input (overrides, files, flags): the table in tests/test_bad_input.py, checked in-process, plus
# its test_module_entry_point through `python -m scanflow.cli`.


def test_tiny_run_end_to_end(tmp_path):
    out = tmp_path / "runs"
    p = scanflow(
        "run", CONFIG, "train.steps=12", "train.record_every=2", "sweep.seeds=3", "data.batch_size=16",
        "data.seq_len=32", "--out", out, "--quiet",
    )
    assert p.returncode == 0, p.stderr
    assert "compile" in p.stdout and "run" in p.stdout
    (run_dir,) = out.iterdir()
    ds = load_run(run_dir)
    manifest = manifest_of(ds)
    assert ds["loss"].shape == (2, 3, 7) and ds["loss"].dims == ("point", "seed", "step")
    assert ds["attn"].shape == (2, 3, 7, 2, 34)
    assert ds["loss"].dtype == np.float32 and manifest["x64"] is False
    np.testing.assert_allclose(ds["loss"].sel(step=0).values, np.log(34), rtol=1e-6)  # zero init: ln M
    assert ds["step"].values.tolist() == list(range(0, 13, 2))
    assert config_of(ds)["train"]["steps"] == 12  # the resolved config, overrides applied
    for key in ("provenance", "devices", "timings", "diverged_runs"):
        assert key in manifest
    assert "versions" not in manifest  # written once, in the provenance
    assert manifest["timings"]["compile_s"] > 0 and manifest["timings"]["run_s"] > 0
    versions = manifest["provenance"]["versions"]
    assert versions["jax"] != "not installed" and versions["xarray"] != "not installed"
    assert versions["h5netcdf"] != "not installed" and "scanflow-linear-net" in versions  # an installed plug-in
    lr_Y = float(ds["lr_Y"].values[1])
    np.testing.assert_array_equal(ds["loss"].sel(lr_Y=lr_Y, seed=2).squeeze().values, ds["loss"].values[1, 2])
    figs = sorted(f.name for f in (run_dir / "figures").iterdir())
    assert figs == ["attention.pdf", "attention.png", "loss.pdf", "loss.png"]
    # plot re-draws from the saved arrays only
    replot = tmp_path / "replot"  # --out: the parent of the new figure directory RUN_NAME-figures
    p = scanflow("plot", run_dir, "--out", replot)
    assert p.returncode == 0, p.stderr
    assert [f.name for f in replot.iterdir()] == [f"{run_dir.name}-figures"]
    assert sorted(f.name for f in (replot / f"{run_dir.name}-figures").iterdir()) == [
        "attention.pdf", "attention.png", "loss.pdf", "loss.png"]
    # (a second plot never overwrites the first: test_cli_traps.py::test_plot_out_is_the_parent_of_a_new_figure_directory)
    # the saved config re-runs as is
    p = scanflow("run", run_dir / "config.yaml", "--out", out, "--quiet", "--no-plot")
    assert p.returncode == 0, p.stderr
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    np.testing.assert_array_equal(load_run(runs[1])["loss"].values, ds["loss"].values)  # same seeds -> same numbers
