"""Resume integrity and interrupts that keep their promise (issue 12, items 1, 4, 5).

A ``RUN.partial`` records the hash of its resolved config (``run.json``) and its shape (``layout.json``)
when it starts; a resume recomputes them and refuses any difference in one line. A lock file refuses a
second writer. Missing or damaged records and checkpoints are named with the fix, before any work.
SIGINT/SIGTERM finish the chunk in flight and checkpoint it whatever the checkpoint interval.
Every comparison of arrays is exact: a resumed run replays the same keys from the same state.
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

from scanflow import cli
from scanflow.engine.dataset import config_of
from scanflow.engine.results import is_unfinished, load_run
from scanflow.engine.store import RecordStore, RunDirError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
SMALL = [CONFIG, "train.steps=12", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=2",
         "data.batch_size=8", "data.seq_len=16", "--quiet", "--no-plot"]


def _listing(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in sorted(d.rglob("*"))} if d.exists() else {}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert cli.main(["run", *SMALL, "--out", str(out)]) == 0
    (ref_dir,) = out.iterdir()
    return load_run(ref_dir)


def _partial(tmp_path, monkeypatch, stop_at: int = 4) -> Path:
    """An unfinished run directory: a KeyboardInterrupt while chunk `stop_at`'s records are written."""
    put = RecordStore.put_records

    def interrupted(self, k, rows, recs):
        if k == stop_at:
            raise KeyboardInterrupt
        return put(self, k, rows, recs)

    monkeypatch.setattr(RecordStore, "put_records", interrupted)
    out = tmp_path / "runs"
    assert cli.main(["run", *SMALL, "--out", str(out), "--checkpoint-every", "0"]) == 130
    monkeypatch.setattr(RecordStore, "put_records", put)
    (partial,) = out.iterdir()
    assert is_unfinished(partial) and (partial / "run.json").is_file() and not (partial / "lock").exists()
    return partial


def _resume(partial: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["run", str(partial), "--quiet", "--no-plot"])
    return code, capsys.readouterr().err.strip()


def _finished(partial: Path):
    return load_run(partial.with_name(partial.name.removesuffix(".partial")))


def _same(r, ref) -> None:
    assert sorted(r.data_vars) == sorted(ref.data_vars)
    for name in ref.data_vars:
        np.testing.assert_array_equal(r[name].values, ref[name].values, err_msg=name)
    xr.testing.assert_equal(r, ref)  # values, dimensions and coordinates (not attrs: the timings differ)


@pytest.mark.parametrize("edit", [("steps: 12", "steps: 24"), ("- 10.0", "- 20.0")], ids=["train.steps", "sweep.lr.Y"])
def test_an_edited_config_is_refused(tmp_path, monkeypatch, capsys, reference, edit):
    partial = _partial(tmp_path, monkeypatch)
    cfg = partial / "config.yaml"
    text = cfg.read_text()
    assert edit[0] in text
    cfg.write_text(text.replace(edit[0], edit[1]))
    before = _listing(partial)
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "changed since the run started" in err, err
    assert _listing(partial) == before  # nothing computed, nothing written
    cfg.write_text(text)  # restored: the resume goes on and matches the uninterrupted run
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_a_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path, monkeypatch, capsys, reference):
    partial = _partial(tmp_path, monkeypatch)
    import socket

    (partial / "lock").write_text(f"{os.getpid()} {socket.gethostname()}")  # a live writer (this process)
    before = _listing(partial)
    code, err = _resume(partial, capsys)
    assert code == 2 and "being written by pid" in err and str(partial / "lock") in err, err
    assert _listing(partial) == before
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (partial / "lock").write_text(f"{int(dead.stdout)} {socket.gethostname()}")  # its writer is gone
    code, err = _resume(partial, capsys)
    assert code == 0, err
    done = partial.with_name(partial.name.removesuffix(".partial"))
    assert not (done / "lock").exists()
    _same(load_run(done), reference)


def test_missing_records_are_found_before_any_work(tmp_path, monkeypatch, capsys):
    partial = _partial(tmp_path, monkeypatch)
    (partial / "records" / "p000-c00001.npz").unlink()
    before = _listing(partial)
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "[1]" in err and "records" in err, err
    assert _listing(partial) == before


def test_a_damaged_checkpoint_names_the_file_and_the_fix(tmp_path, monkeypatch, capsys, reference):
    partial = _partial(tmp_path, monkeypatch)
    ckpt = partial / "checkpoint-p000.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and str(ckpt) in err and "delete" in err, err
    ckpt.unlink()  # the fix the message gives: the run restarts at chunk 0 with the same bits
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_a_damaged_layout_is_named_and_the_advice_keeps_the_finished_chunks(tmp_path, monkeypatch, capsys, reference):
    partial = _partial(tmp_path, monkeypatch)
    layout = partial / "layout.json"
    layout.write_text("{not json")
    before = _listing(partial)
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and f"{layout}: damaged" in err and "delete it" in err, err
    assert "every finished chunk is kept" in err and _listing(partial) == before
    layout.unlink()  # the advice: the block size comes back from run.json, the chunks are kept
    calls, put = [], RecordStore.put_records

    def counted(self, k, *a):
        calls.append(k)
        return put(self, k, *a)

    monkeypatch.setattr(RecordStore, "put_records", counted)
    code, err = _resume(partial, capsys)
    assert code == 0, err
    assert calls and min(calls) >= 4, calls  # resumed after the 3 checkpointed chunks: none recomputed
    _same(_finished(partial), reference)


def test_damaged_records_are_found_before_any_work_and_the_advice_resumes(tmp_path, monkeypatch, capsys, reference):
    partial = _partial(tmp_path, monkeypatch)
    rec = partial / "records" / "p000-c00002.npz"
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) // 2])  # truncated, e.g. a disk that filled up under another tool
    before = _listing(partial)
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and f"{rec}: damaged records of chunk 2" in err, err
    assert _listing(partial) == before  # nothing recomputed before the damage was found
    assert "delete" in err and "records" in err and "checkpoint-p*.npz" in err
    import shutil

    shutil.rmtree(partial / "records")  # the advice: restart at chunk 0, same bits
    for f in partial.glob("checkpoint-p*.npz"):
        f.unlink()
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_records_are_never_filled_from_uninitialised_memory():
    store = RecordStore(None)
    store.put_records(0, np.array([0]), {"loss": np.zeros((1, 1), np.float32)})  # run 1 never written
    with pytest.raises(RunDirError, match="missing"):
        store.gather(n_runs=2, n_chunks=0, per_chunk=1)


def test_a_write_error_is_one_line_and_the_run_stays_resumable(tmp_path, monkeypatch, capsys, reference):
    import errno

    put = RecordStore.put_records

    def full_disk(self, k, rows, recs):
        if k == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.work / "records" / f"p000-c{k:05d}.npz"))
        return put(self, k, rows, recs)

    monkeypatch.setattr(RecordStore, "put_records", full_disk)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *SMALL, "--out", str(out), "--checkpoint-every", "0"]) == 2
    err = capsys.readouterr().err.strip()
    (partial,) = out.iterdir()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and f"scanflow run {partial}" in err, err
    monkeypatch.setattr(RecordStore, "put_records", put)
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_ctrl_c_while_drawing_figures_says_the_run_is_complete(tmp_path, monkeypatch, capsys):
    import scanflow.engine.figures as figures

    def slow_plot(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "plot_run", slow_plot)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *[a for a in SMALL if a != "--no-plot"], "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    (done,) = out.iterdir()
    assert not is_unfinished(done) and "loss" in load_run(done)
    assert "is complete" in err and f"scanflow plot {done}" in err, err


def test_a_finished_run_directory_is_explained(tmp_path, reference, capsys):
    capsys.readouterr()
    ref_dir = Path(reference.attrs["run_dir"])
    assert cli.main(["run", str(ref_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "finished run directory" in err and f"{ref_dir / 'config.yaml'}" in err
    gone = tmp_path / "x.partial"
    gone.mkdir()
    assert cli.main(["run", str(gone)]) == 2
    assert "cannot be resumed" in capsys.readouterr().err


def test_a_build_failure_leaves_no_directory(tmp_path, capsys):
    """Anything a workload's builder rejects is a one-line error before the run directory exists."""
    from scanflow.engine.config import ConfigError, config_from_dict
    from scanflow.engine.registry import get_workload, register_workload
    from scanflow.engine.run import execute
    import dataclasses

    base = get_workload("scan_snap")

    def build(cfg):
        raise ValueError("data.num_unique: the sampler cannot draw these sizes")

    register_workload(dataclasses.replace(base, name="broken_build", build=build))
    cfg = config_from_dict({"name": "b", "workload": "broken_build"})
    with pytest.raises(ConfigError, match="cannot be built: data.num_unique"):
        execute(cfg, out_dir=tmp_path / "runs", plot=False)
    assert not (tmp_path / "runs").exists()


SIG_ARGS = ["train.steps=400", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=3",
            "data.batch_size=16", "data.seq_len=32", "--quiet", "--no-plot"]  # default --checkpoint-every 60 s


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_checkpoints_the_last_chunk_whatever_the_interval(tmp_path, sig, code):
    """With the default 60-s checkpoint interval a short run has no checkpoint yet; the signal makes one."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path.parent / "sig-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "scanflow.cli", "run", CONFIG, *SIG_ARGS, "--out", str(out)]
    p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300:  # wait for the records of a few chunks (no checkpoint exists yet)
        recs = list(out.glob("*.partial/records/p000-c*.npz")) if out.exists() else []
        if len(recs) >= 4 or p.poll() is not None:
            break
        time.sleep(0.01)
    assert p.poll() is None, "the run ended before it could be interrupted"
    (partial,) = out.glob("*.partial")
    assert not (partial / "checkpoint-p000.npz").exists()
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    with np.load(partial / "checkpoint-p000.npz") as z:
        done = int(z["__chunks__"])
    assert 3 <= done < 200
    assert f"a checkpoint of {done} of 200 chunks" in err and f"scanflow run {partial}" in err, err
    assert len(list((partial / "records").glob("p000-c*.npz"))) == done + 1  # records 0..done, nothing half-written


@pytest.mark.parametrize("damage", ["results.nc", "manifest.json", "config.yaml"])
def test_a_damaged_result_is_named_by_load_run_and_plot(tmp_path, reference, capsys, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference.attrs["run_dir"], run)
    f = run / damage
    f.write_bytes(f.read_bytes()[:40] if damage != "config.yaml" else b"- [unclosed\n")
    with pytest.raises(RunDirError, match=str(f)):
        load_run(run)
    capsys.readouterr()
    assert cli.main(["plot", str(run), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(f) in err and "damaged" in err, err


def test_a_checkpoint_missing_runs_is_refused(tmp_path, monkeypatch, capsys):
    """A process's checkpoint file is gone (its rows are missing): never continue from uninitialised state."""
    partial = _partial(tmp_path, monkeypatch)
    ckpt = partial / "checkpoint-p000.npz"
    with np.load(ckpt) as z:
        arrays = {k: z[k] for k in z.files}
    keep = arrays["__rows__"] != 1  # run 1's state disappears
    arrays = {k: (v[keep] if k.startswith("leaf") or k == "__rows__" else v) for k, v in arrays.items()}
    np.savez(ckpt, **arrays)
    code, err = _resume(partial, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "runs" in err and "delete every checkpoint" in err, err


def test_ctrl_c_while_the_results_are_written_leaves_a_resumable_directory(tmp_path, monkeypatch, capsys, reference):
    import scanflow.engine.results as results

    finish = results.finish_run

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "finish_run", interrupted)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *SMALL, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    (partial,) = out.iterdir()
    assert is_unfinished(partial) and f"scanflow run {partial}" in err and "nothing was written" not in err, err
    monkeypatch.setattr(results, "finish_run", finish)
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_optimizer_arguments_written_as_yaml_strings_are_numbers(tmp_path, capsys):
    """PyYAML reads 1e-4 as a string: it must reach optax as a number (else the run fails after it started)."""
    out = tmp_path / "runs"
    args = [*SMALL, "train.optimizer=adamw", "train.optimizer_args={weight_decay: 1e-4}", "--out", str(out)]
    assert cli.main(["run", *args]) == 0
    (run,) = out.iterdir()
    assert config_of(load_run(run))["train"]["optimizer_args"] == {"weight_decay": 1e-4}


def test_ctrl_c_during_start_up_exits_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """Loading the config imports JAX; a Ctrl-C arriving then is recorded and stops the command."""
    import scanflow.engine.config as config

    load = config.load_config

    def interrupted_load(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)  # delivered while the start-up guard is active
        return load(*a, **k)

    monkeypatch.setattr(config, "load_config", interrupted_load)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *SMALL, "--out", str(out)]) == 130
    assert "nothing was written" in capsys.readouterr().err and not out.exists()


def test_an_empty_lock_left_by_a_kill_is_taken_over(tmp_path, monkeypatch, capsys, reference):
    """A kill between creating the lock and writing its pid leaves an empty lock: once it is older than a live
    writer could leave it empty (lock.EMPTY_LOCK_STALE_S), a resume takes it over."""
    from scanflow.engine.lock import EMPTY_LOCK_STALE_S

    partial = _partial(tmp_path, monkeypatch)
    lock = partial / "lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 2 * EMPTY_LOCK_STALE_S,) * 2)
    code, err = _resume(partial, capsys)
    assert code == 0, err
    _same(_finished(partial), reference)


def test_a_run_started_with_no_plot_resumes_without_figures(tmp_path, monkeypatch, capsys, reference):
    """The options a run was started with are kept by its resume: --no-plot (run.json's options)."""
    partial = _partial(tmp_path, monkeypatch)  # started with --no-plot (SMALL)
    capsys.readouterr()
    assert cli.main(["run", str(partial), "--quiet"]) == 0, capsys.readouterr().err  # no --no-plot given
    done = _finished(partial)
    assert not (Path(done.attrs["run_dir"]) / "figures").exists()
    _same(done, reference)
