"""The command line: a tiny run end to end (in a subprocess, x64 off, as users run it) writes a loadable
run directory. Bad input (one clear line, exit 2, nothing written) is tests/test_bad_input.py."""

import subprocess
import sys
from pathlib import Path

import numpy as np

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
    r = load_run(run_dir)
    assert r["loss"].shape == (2, 3, 7) and r.dims["loss"] == ("point", "seed", "record")
    assert r["attn"].shape == (2, 3, 7, 2, 34)
    assert r["loss"].dtype == np.float32 and r.manifest["x64"] is False
    np.testing.assert_allclose(r["loss"][:, :, 0], np.log(34), rtol=1e-6)  # zero init: ln M
    assert list(r.coords["record"]) == list(range(0, 13, 2))
    assert r.config["train"]["steps"] == 12  # the resolved config, overrides applied
    for key in ("versions", "devices", "timings", "diverged_runs"):
        assert key in r.manifest
    assert r.manifest["timings"]["compile_s"] > 0 and r.manifest["timings"]["run_s"] > 0
    assert r.manifest["versions"]["jax"] != "not installed"
    np.testing.assert_array_equal(r.sel("loss", point=1, seed=2), r["loss"][1, 2])
    figs = sorted(f.name for f in (run_dir / "figures").iterdir())
    assert figs == ["attention.png", "loss.png"]
    # plot re-draws from the saved arrays only
    replot = tmp_path / "replot"  # --out: the parent of the new figure directory RUN_NAME-figures
    p = scanflow("plot", run_dir, "--out", replot)
    assert p.returncode == 0, p.stderr
    assert [f.name for f in replot.iterdir()] == [f"{run_dir.name}-figures"]
    assert sorted(f.name for f in (replot / f"{run_dir.name}-figures").iterdir()) == ["attention.png", "loss.png"]
    p = scanflow("plot", run_dir, "--out", replot)  # never over an earlier one
    assert p.returncode == 0 and (replot / f"{run_dir.name}-figures-1" / "loss.png").is_file(), p.stderr
    # the saved config re-runs as is
    p = scanflow("run", run_dir / "config.yaml", "--out", out, "--quiet", "--no-plot")
    assert p.returncode == 0, p.stderr
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    np.testing.assert_array_equal(load_run(runs[1])["loss"], r["loss"])  # same seeds -> same numbers
