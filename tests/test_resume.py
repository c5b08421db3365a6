"""Resumable runs: a sweep interrupted by Ctrl-C or killed (SIGKILL) mid-sweep, then resumed with
``scanflow run RUN_DIR.partial``, gives arrays bit-identical to an uninterrupted run.

The SIGKILL runs are CLI subprocesses sharing a persistent compilation cache, so only the first
compiles; the Ctrl-C test runs in-process.
Exact equality is the right tolerance: the resumed run restores the carried state bit for bit and
replays the same per-step keys (fold_in(run key, global step)).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from scanflow.engine.dataset import manifest_of
from scanflow.engine.results import is_unfinished, load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
# 200 chunks of one record each: long enough (seconds) to be killed mid-sweep.
N_CHUNKS = 200
ARGS = ["train.steps=400", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=3",
        "data.batch_size=16", "data.seq_len=32", "--quiet", "--no-plot", "--checkpoint-every", "0"]


def _env(cache: Path) -> dict:
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def _cmd(*args) -> list[str]:
    return [sys.executable, "-m", "scanflow.cli", "run", *map(str, args)]


def _chunks_done(partial: Path) -> int:
    f = partial / "checkpoint-p000.npz"
    if not f.is_file():
        return 0
    try:
        with np.load(f) as z:
            return int(z["__chunks__"])
    except (OSError, ValueError, KeyError):
        return 0


def _interrupt(cmd, env, out: Path, sig: int, after_chunks: int = 3) -> tuple[subprocess.CompletedProcess, Path]:
    """Start a run, wait until `after_chunks` chunks are checkpointed, send `sig`."""
    p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    partial = None
    while time.monotonic() - t0 < 300:
        parts = list(out.glob("*.partial")) if out.exists() else []
        if parts and _chunks_done(parts[0]) >= after_chunks:
            partial = parts[0]
            break
        if p.poll() is not None:
            break
        time.sleep(0.005)
    assert partial is not None, "the run finished or failed before it could be interrupted"
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr), partial


def test_kill_then_resume_is_bit_identical(tmp_path):
    """SIGKILL mid-sweep (no chance to clean up), resume: the arrays equal an uninterrupted run."""
    env = _env(tmp_path / "cache")
    ref_out = tmp_path / "ref"
    p = subprocess.run(_cmd(CONFIG, *ARGS, "--out", ref_out), env=env, cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (ref_dir,) = ref_out.iterdir()
    ref = load_run(ref_dir)

    out = tmp_path / "runs"
    p, partial = _interrupt(_cmd(CONFIG, *ARGS, "--out", out), env, out, signal.SIGKILL)
    assert p.returncode == -signal.SIGKILL
    n_killed = _chunks_done(partial)
    assert 3 <= n_killed < N_CHUNKS  # really mid-sweep
    assert is_unfinished(partial)
    with pytest.raises(FileNotFoundError, match="unfinished"):
        load_run(partial)  # readers can tell an unfinished run from a complete one

    p = subprocess.run(_cmd(partial, "--quiet", "--no-plot"), env=env, cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (done,) = out.iterdir()  # the .partial directory was renamed: complete
    assert done.name == partial.name.removesuffix(".partial")
    r = load_run(done)
    assert manifest_of(r)["timings"]["resumed_at_chunk"] >= n_killed
    assert sorted(r.data_vars) == sorted(ref.data_vars)
    for name in ref.data_vars:
        np.testing.assert_array_equal(r[name].values, ref[name].values, err_msg=name)
    xr.testing.assert_equal(r, ref)  # values, dimensions and coordinates (not attrs: the timings differ)
    assert not list(done.glob("checkpoint-*")) and not (done / "records").exists()


def test_ctrl_c_leaves_a_resumable_directory(tmp_path, monkeypatch, capsys):
    """Ctrl-C (KeyboardInterrupt, as SIGINT raises it) after 3 chunks: exit 130, a message naming the
    directory to resume, and resuming it gives the uninterrupted arrays bit for bit (in-process:
    one compiled program serves all three runs)."""
    from scanflow import cli
    from scanflow.engine.store import RecordStore

    args = [CONFIG, "train.steps=12", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=2",
            "data.batch_size=8", "data.seq_len=16", "--quiet", "--no-plot"]
    assert cli.main(["run", *args, "--out", str(tmp_path / "ref")]) == 0
    (ref_dir,) = (tmp_path / "ref").iterdir()

    put = RecordStore.put_records

    def interrupted(self, k, rows, recs):
        if k == 4:
            raise KeyboardInterrupt
        return put(self, k, rows, recs)

    monkeypatch.setattr(RecordStore, "put_records", interrupted)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *args, "--out", str(out), "--checkpoint-every", "0"]) == 130
    err = capsys.readouterr().err
    (partial,) = out.iterdir()
    assert is_unfinished(partial) and _chunks_done(partial) == 3
    assert err.strip() == (f"scanflow: interrupted; {partial} holds the records and a checkpoint of 3 chunks; "
                           f"resume with: scanflow run {partial}")
    monkeypatch.setattr(RecordStore, "put_records", put)
    assert cli.main(["run", str(partial), "--quiet", "--no-plot"]) == 0
    r, ref = load_run(partial.with_name(partial.name.removesuffix(".partial"))), load_run(ref_dir)
    assert manifest_of(r)["timings"]["resumed_at_chunk"] == 3
    for name in ref.data_vars:
        np.testing.assert_array_equal(r[name].values, ref[name].values, err_msg=name)
    xr.testing.assert_equal(r, ref)


def test_resume_refuses_overrides(tmp_path):
    part = tmp_path / "x.partial"
    part.mkdir()
    (part / "config.yaml").write_text("name: x\n")
    p = subprocess.run(_cmd(part, "train.steps=4"), cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "expected no overrides" in p.stderr
