"""Every state a run directory can be left in by a kill is resumable, or explained (issue 21).

One run records a copy of its directory after every step of the write sequence, exactly as a kill
(SIGKILL: no clean-up, the lock left behind with a dead writer's pid) would leave it:

    created (run.json only) -> config.yaml -> lock -> layout.json -> records of chunk 0 ->
    records of chunk k / checkpoint after chunk k (k = 1..n) -> results.nc -> manifest.json ->
    records and checkpoints removed -> (rename) finished

Each copy is then resumed with ``scanflow run COPY`` and must give the uninterrupted run bit for bit;
the one state that holds nothing computed (no config.yaml yet) must be explained in one line. The
same with a static axis, whose parts stream to ``parts/NNN/``: a finished directory keeps no parts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from scanflow import cli
from scanflow.engine import results
from scanflow.engine.results import load_run
from scanflow.engine.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
SMALL = [CONFIG, "train.steps=6", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=2",
         "data.batch_size=8", "data.seq_len=16", "--quiet", "--no-plot", "--checkpoint-every", "0"]
STATIC = ["data.num_unique=[10, 12]"]  # a static axis: one program per value, parts/000 and parts/001


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def _record_states(tmp_path: Path, monkeypatch, extra: list[str]) -> tuple[Path, list[tuple[str, Path]]]:
    """Run once, copying the unfinished directory after every write; return (finished dir, copies)."""
    states: list[tuple[str, Path]] = []
    dead = _dead_pid()

    def snap(what: str, any_path) -> None:
        p = Path(any_path)
        work = next((q for q in [p, *p.parents] if q.name.endswith(".partial")), None)
        if work is None or not work.is_dir():
            return
        copy = tmp_path / "states" / f"{len(states):02d}" / work.name
        shutil.copytree(work, copy)
        lock = copy / "lock"
        if lock.exists():  # the writer was killed: its pid is gone
            lock.write_text(f"{dead} {lock.read_text().split(maxsplit=1)[1]}")
        states.append((what, copy))

    def after(fn, what, where):
        def wrapped(*a, **k):
            out = fn(*a, **k)
            snap(what(a), where(a))
            return out
        return wrapped

    from scanflow.engine import dataset, run as run_mod

    from scanflow.engine import sweep

    for module in (results, sweep):  # run.json, config.yaml and the manifest; layout.json
        monkeypatch.setattr(module, "atomic_write_bytes", after(module.atomic_write_bytes, lambda a: Path(a[0]).name,
                                                                lambda a: a[0]))
    monkeypatch.setattr(RecordStore, "put_records", after(RecordStore.put_records, lambda a: f"records {a[1]}",
                                                          lambda a: a[0].work))
    monkeypatch.setattr(RecordStore, "put_checkpoint", after(RecordStore.put_checkpoint,
                                                             lambda a: f"checkpoint {a[1]}", lambda a: a[0].work))
    monkeypatch.setattr(dataset, "write_netcdf", after(dataset.write_netcdf, lambda a: "results.nc", lambda a: a[1]))
    lock = run_mod._acquire_lock
    monkeypatch.setattr(run_mod, "_acquire_lock", after(lock, lambda a: "lock", lambda a: a[0]))
    rename = results.os.rename

    def renaming(src, dst):
        if str(src).endswith(".partial"):
            snap("cleaned, before the rename", src)
        return rename(src, dst)

    monkeypatch.setattr(results.os, "rename", renaming)
    out = tmp_path / "runs"
    assert cli.main(["run", *SMALL, *extra, "--out", str(out)]) == 0
    monkeypatch.undo()
    (done,) = out.iterdir()
    return done, states


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in b.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    xr.testing.assert_equal(a, b)


@pytest.mark.parametrize("extra", [[], STATIC], ids=["one-program", "static-axis"])
def test_a_kill_at_every_state_of_the_write_sequence_resumes_bit_identically(tmp_path, monkeypatch, capsys, extra):
    done, states = _record_states(tmp_path, monkeypatch, extra)
    reference = load_run(done)
    assert sorted(p.name for p in done.iterdir()) == ["config.yaml", "manifest.json", "results.nc"]  # no parts/
    names = [w for w, _ in states]
    n_chunks = 3
    parts = 2 if extra else 1
    # the whole sequence was seen: each chunk's records and checkpoint of each part, then the results
    assert names[:3] == ["run.json", "config.yaml", "lock"], names
    assert names.count("layout.json") == parts and names.count("records 0") == parts, names
    assert all(names.count(f"records {k}") == parts and names.count(f"checkpoint {k}") == parts
               for k in range(1, n_chunks + 1)), names
    assert names[-3:] == ["results.nc", "manifest.json", "cleaned, before the rename"], names
    written = []
    put = RecordStore.put_records
    monkeypatch.setattr(RecordStore, "put_records", lambda self, k, *a: (written.append(k), put(self, k, *a))[1])
    for what, copy in states:
        capsys.readouterr()
        written.clear()
        code = cli.main(["run", str(copy), "--quiet", "--no-plot"])
        err = capsys.readouterr().err.strip()
        if what in ("manifest.json", "cleaned, before the rename"):  # complete: only the rename is left
            assert code == 0 and not written and not err, (what, written, err)
        if what == "run.json":  # killed before config.yaml: nothing computed, and the message says so
            assert code == 2 and len(err.splitlines()) == 1 and "delete it and start the run again" in err, err
            continue
        assert code == 0, (what, err)
        finished = copy.with_name(copy.name.removesuffix(".partial"))
        assert not copy.exists() and sorted(p.name for p in finished.iterdir()) == [
            "config.yaml", "manifest.json", "results.nc"], (what, list(finished.iterdir()))
        _same(load_run(finished), reference)
