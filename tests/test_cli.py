"""The command line: bad input gives one clear line and exit 2 with nothing written; a tiny run
end to end (in a subprocess, x64 off, as users run it) writes a loadable run directory."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scanflow.engine.results import load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_small.yaml"


def scanflow(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "scanflow.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


BAD = [
    # (overrides, words that must appear in the one-line error)
    (["data.seq_lenn=64"], ["data.seq_lenn", "unknown key", "seq_len"]),
    (["bogus=1"], ["bogus", "unknown key"]),
    (["train.steps=abc"], ["train.steps", "integer"]),
    (["train.steps=1.5"], ["train.steps", "integer"]),
    (["x64=maybe"], ["x64", "true or false"]),
    (["data.num_unique=0"], ["data.num_unique", "distinct"]),
    (["data.seq_len=1"], ["data.seq_len", "T >= 2"]),
    (["sweep.lr.Y=[-1.0]"], ["sweep.lr.Y", "positive"]),
    (["sweep.lr.Z=0"], ["sweep.lr.Z", "positive"]),
    (["sweep.lr.Z=[]"], ["sweep.lr.Z", "non-empty"]),
    (["sweep.lr.W=[1]"], ["sweep.lr", "Y, Z"]),
    (["train.record_every=3"], ["train.record_every", "divisor", "100"]),
    (["train.optimizer=rmsprp"], ["train.optimizer", "sgd_momentum", "adam", "optax"]),  # a typo: no such optax optimizer
    (["train.optimizer=l2_loss"], ["train.optimizer", "learning rate"]),  # an optax function, not an optimizer
    (["train.optimizer=adamw", "train.optimizer_args={bogus: 1}"], ["train.optimizer_args", "adamw"]),
    (["train.clip_norm=0"], ["train.clip_norm", "positive"]),
    (["train.method=flow"], ["data.mode", "population"]),
    (["data.mode=exact"], ["data.mode", "sampled"]),
    (["train.momentum=1.5"], ["train.momentum", "[0, 1)"]),
    (["nodots"], ["nodots", "dotted.key=value"]),
    (["sweep.seeds=0"], ["sweep.seeds", ">= 1"]),
]


@pytest.mark.parametrize("overrides,words", BAD, ids=[b[0][0] for b in BAD])
def test_bad_override_one_line_error(tmp_path, overrides, words):
    out = tmp_path / "runs"
    p = scanflow("run", CONFIG, *overrides, "--out", out)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("scanflow: error: ")
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists()  # nothing half-written, not even the parent
    assert "Traceback" not in p.stderr


def test_bad_config_files(tmp_path):
    missing = scanflow("run", tmp_path / "nope.yaml", "--out", tmp_path / "runs")
    assert missing.returncode == 2 and "not found" in missing.stderr
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("train:\n  steps: [1,\n")
    p = scanflow("run", bad_yaml)
    assert p.returncode == 2 and "invalid YAML" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    wrong_section = tmp_path / "wrong.yaml"
    wrong_section.write_text("train: 5\n")
    p = scanflow("run", wrong_section)
    assert p.returncode == 2 and "train: expected a mapping" in p.stderr
    p = scanflow("frobnicate")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    p = scanflow("plot", tmp_path)
    assert p.returncode == 2 and "not a scanflow run directory" in p.stderr


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
    replot = tmp_path / "replot"
    p = scanflow("plot", run_dir, "--out", replot)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in replot.iterdir()) == ["attention.png", "loss.png"]
    # the saved config re-runs as is
    p = scanflow("run", run_dir / "config.yaml", "--out", out, "--quiet", "--no-plot")
    assert p.returncode == 0, p.stderr
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    np.testing.assert_array_equal(load_run(runs[1])["loss"], r["loss"])  # same seeds -> same numbers
