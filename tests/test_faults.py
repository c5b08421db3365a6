"""Faults from outside (issue 21): signals at any moment of a command, failed writes, missing files.

* SIGINT or SIGTERM at any moment of a `scanflow` command, from interpreter start to exit: one line
  on stderr, exit 130 / 143, no traceback, never exit 0 after the signal, and whatever directory it
  leaves is complete or resumes. The subprocess tests wait for a state of the command (its handlers
  in place, a run directory started, records written, the run renamed) and then send the signal: the
  moment it lands varies, so each assert holds for every moment (the contract does).
* A write that fails (a file size limit, a full disk, no permission) is one line naming the file,
  keeps what was finished, and the next command resumes; HDF5 never gets the chance to crash.
* A run directory that lost results.nc, manifest.json or config.yaml: one line naming the file.

The broad sweep of moments is `@pytest.mark.slow`.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scanflow import cli
from scanflow.engine.dataset import manifest_of
from scanflow.engine.results import is_unfinished, load_run
from scanflow.engine.store import RunDirError, check_file

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
SCRIPT = Path(sys.executable).parent / "scanflow"  # the console script (pyproject: scanflow.cli:main)
# 200 chunks of one record: seconds of chunks, long enough to be interrupted among them
LONG = ["train.steps=400", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=3",
        "data.batch_size=16", "data.seq_len=32", "--quiet", "--no-plot"]
# a short run that draws its figures
DRAWN = ["train.steps=20", "train.record_every=2", "sweep.seeds=2", "data.batch_size=8", "data.seq_len=16", "--quiet"]
SMALL = [CONFIG, "train.steps=12", "train.record_every=2", "train.records_per_chunk=1", "sweep.seeds=2",
         "data.batch_size=8", "data.seq_len=16", "--quiet", "--no-plot"]
NOTICE = "received: finishing the current chunk"  # the chunk loop's own notice of a first signal (sweep.py)
# the subprocess tests tell when the command's handlers are in from /proc/PID/status (Linux)
signals = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc/PID/status (Linux)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax-cache")  # one compile serves every subprocess of this file
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def _start(args, env, script: bool = False) -> subprocess.Popen:
    cmd = [str(SCRIPT)] if script else [sys.executable, "-m", "scanflow.cli"]
    return subprocess.Popen([*cmd, *map(str, args)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _handlers_in(pid: int) -> bool:
    """The command's own handlers are in place: SIGTERM is caught (Python alone never catches it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _wait(p: subprocess.Popen, ready, limit: float = 300) -> bool:
    """Poll `ready()` until it holds (True) or the command ends (False)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if ready():
            return True
        if p.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the command neither reached the state nor ended")


def _lines(err: str) -> list[str]:
    """stderr without blank lines and without the chunk loop's notice of a first signal."""
    return [x for x in err.splitlines() if x.strip() and NOTICE not in x]


def _resume(partial: Path, env) -> None:
    p = subprocess.run([sys.executable, "-m", "scanflow.cli", "run", str(partial), "--quiet", "--no-plot"], env=env,
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    done = partial.with_name(partial.name.removesuffix(".partial"))
    assert not partial.exists() and "loss" in load_run(done)


def _holds(p: subprocess.Popen, sig: int, out: Path, env, ended: tuple | None = None) -> str:
    """The contract after `sig` was sent to a running command: exit 128 + sig, one line, no traceback,
    and what it left is complete (loads) or resumable (resumes to exit 0). Returns the line.
    `ended`: (exit status, stderr) when the caller already waited for the command."""
    code, err = ended if ended is not None else (None, p.communicate(timeout=300)[1])
    code = p.returncode if ended is None else code
    assert code == 128 + sig, (code, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = _lines(err)
    assert len(lines) == 1 and lines[0].startswith("scanflow: interrupted"), err
    left = sorted(out.iterdir()) if out.exists() else []
    assert len(left) <= 1, left
    listing = sorted(str(f.relative_to(out)) for f in out.rglob("*")) if left else []
    if not left:
        assert "nothing was written" in lines[0], err
    elif is_unfinished(left[0]) or left[0].name.endswith(".partial"):
        assert f"scanflow run {left[0]}" in lines[0] and "nothing was written" not in lines[0], (err, listing)
        _resume(left[0], env)
    else:
        assert f"{left[0]} is complete" in lines[0], err
        assert "loss" in load_run(left[0])
    return lines[0]


# ----------------------------------------------------------------------------- signals


@signals
@pytest.mark.skipif(not SCRIPT.is_file(), reason="the scanflow console script is not installed beside this Python")
def test_sigterm_right_after_start(tmp_path, env):
    """The console script, SIGTERM 0.05 s after it started. Before Python runs scanflow's first line
    nothing can answer: the process dies of the signal (what a shell shows as 143) and writes nothing;
    from then on the contract holds."""
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *LONG, "--out", out], env, script=True)
    time.sleep(0.05)
    ours = _handlers_in(p.pid)
    p.send_signal(signal.SIGTERM)
    if ours:
        _holds(p, signal.SIGTERM, out, env)
    else:
        _, err = p.communicate(timeout=300)
        assert p.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), (p.returncode, err)
        assert "Traceback" not in err and len(_lines(err)) <= 1 and not out.exists(), err


@signals
def test_sigint_while_jax_is_imported(tmp_path, env):
    """SIGINT as soon as the handlers are in: modules (JAX's among them) are being imported. An interrupt
    there used to give a KeyboardInterrupt traceback, a 45-line ImportError, or be swallowed by JAX's gc
    callback ("Exception ignored in _xla_gc_callback") with the run going on to exit 0."""
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *LONG, "--out", out], env)
    assert _wait(p, lambda: _handlers_in(p.pid))
    p.send_signal(signal.SIGINT)
    line = _holds(p, signal.SIGINT, out, env)
    assert "nothing was written" in line and not out.exists()


@signals
def test_sigterm_among_the_chunks_resumes(tmp_path, env):
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *LONG, "--out", out], env)
    assert _wait(p, lambda: len(list(out.glob("*.partial/records/p000-c*.npz"))) >= 3)
    p.send_signal(signal.SIGTERM)
    line = _holds(p, signal.SIGTERM, out, env)
    assert "checkpoint of" in line  # the chunk in flight was finished and checkpointed


@signals
def test_sigint_while_the_figures_are_drawn(tmp_path, env):
    """The run directory is renamed into place, then its figures are drawn: an interrupt from then on
    says the run is complete and how to draw the figures (never "nothing was written")."""
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *DRAWN, "--out", out], env)
    done = lambda: out.exists() and any(not d.name.endswith(".partial") and not d.name.startswith(".")  # noqa: E731
                                        for d in out.iterdir())
    if not _wait(p, done):
        pytest.fail(f"the run ended before it was renamed: {p.communicate()}")
    if p.poll() is not None:
        pytest.skip("the figures were drawn before the signal could be sent")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    if p.returncode == 0 and not err:  # it finished in the meantime: nothing to check but that
        return
    line = _holds(p, signal.SIGINT, out, env, ended=(p.returncode, err))
    assert "scanflow plot" in line


@signals
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1, 0.2, 0.4, 0.8, 1.5, 2.5, 4.0])
def test_a_signal_at_any_moment(tmp_path, env, sig, delay):
    """A sweep of fixed delays: each lands somewhere in start-up, import, config, compile or the chunks.
    A SIGINT is sent only once the handlers are in (before, Python itself answers it with a traceback);
    a SIGTERM before them kills the process silently, writing nothing."""
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *LONG, "--out", out], env, script=delay < 0.1)
    time.sleep(delay)
    if sig == signal.SIGINT:
        assert _wait(p, lambda: _handlers_in(p.pid))
    ours = _handlers_in(p.pid)
    if p.poll() is not None:
        pytest.fail(f"ended before the signal: {p.communicate()}")
    p.send_signal(sig)
    if ours:
        _holds(p, sig, out, env)
    else:
        _, err = p.communicate(timeout=300)
        assert p.returncode in (-sig, 128 + sig) and "Traceback" not in err and not out.exists(), err


@signals
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_compiling(tmp_path, env, sig):
    """The run directory exists, no record yet: the chunk program is being traced and compiled."""
    out = tmp_path / "runs"
    fresh = [a if a != "data.seq_len=32" else "data.seq_len=24" for a in LONG]  # a program not in the cache
    p = _start(["run", CONFIG, *fresh, "--out", out], env)
    assert _wait(p, lambda: bool(list(out.glob("*.partial"))))
    p.send_signal(sig)
    _holds(p, sig, out, env)


@signals
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_as_the_command_exits(tmp_path, env, sig):
    """After the summary's last line: the command ends with 128 + sig (one line) or had ended with 0."""
    out = tmp_path / "runs"
    p = _start(["run", CONFIG, *SMALL[1:], "--out", out], env)
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.lstrip().startswith("point 1:"):  # the summary's last line
            break
    p.send_signal(sig)
    _, err = p.communicate(timeout=300)
    assert p.returncode in (0, 128 + sig) and "Traceback" not in err, (p.returncode, err)
    assert len(_lines(err)) == (p.returncode != 0), err
    (done,) = out.iterdir()
    assert "loss" in load_run(done)


def test_the_message_after_the_rename_says_the_run_is_complete(tmp_path):
    """Interrupted right after RUN.partial became RUN (the exception still names the .partial):
    the run is complete, the message says so."""
    from scanflow.engine.run import Interrupted

    final = tmp_path / "r"
    (final / "figures").mkdir(parents=True)
    msg = cli._interrupt_message(Interrupted(tmp_path / "r.partial", 3, 5), None)
    assert f"{final} is complete" in msg and "nothing was written" not in msg


def test_the_signal_is_found_behind_a_wrapper():
    """`Interrupted(...)` raised from a SIGTERM keeps 143: the original exception is its cause."""
    from scanflow.engine.run import Interrupted

    try:
        try:
            raise cli.Signalled(signal.SIGTERM)
        except KeyboardInterrupt as e:
            raise Interrupted(Path("x.partial")) from e
    except KeyboardInterrupt as e:
        assert cli._signum(e) == signal.SIGTERM
    try:
        try:
            raise cli.Signalled(signal.SIGINT)
        except KeyboardInterrupt:
            raise AttributeError("argparse's clean-up failing under the interrupt")  # noqa: B904
    except AttributeError as e:
        assert cli._interrupted(e) and cli._signum(e) == signal.SIGINT
    assert not cli._interrupted(ValueError("x"))


# ----------------------------------------------------------------------------- failed writes

ULIMITED = [CONFIG, "train.steps=200", "train.record_every=2", "train.records_per_chunk=25", "sweep.seeds=2",
            "data.batch_size=8", "data.seq_len=16", "--quiet", "--no-plot", "--checkpoint-every", "0"]


def _ulimited(limit_kb: int, out: Path, env) -> subprocess.CompletedProcess:
    cmd = " ".join([sys.executable, "-m", "scanflow.cli", "run", *ULIMITED, "--out", str(out)])
    # no compilation cache: JAX would leave truncated entries in it, read (and recompiled) by every later run
    bare = {k: v for k, v in env.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")}
    return subprocess.run(["bash", "-c", f"ulimit -f {limit_kb}; exec {cmd}"], env={**bare, "SCANFLOW_COMPILE_CACHE": "off"},
                          cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("limit_kb,victim", [(200, "results.nc"), (4, "records/p000-c00000.npz")],
                         ids=["results.nc", "records"])
def test_a_file_size_limit_names_the_file_and_the_run_resumes(tmp_path, env, limit_kb, victim):
    """`ulimit -f`: the kernel's SIGXFSZ is ignored, so the write fails with EFBIG; HDF5 (results.nc) used to
    print its errors and die with signal 11. Now: one line naming the file, exit 2, the finished chunks
    kept, and the next command (without the limit) resumes."""
    out = tmp_path / "runs"
    p = _ulimited(limit_kb, out, env)
    (partial,) = out.iterdir()
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = _lines(p.stderr)
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith(f"scanflow: error: {partial / victim}: File too large"), p.stderr
    assert f"scanflow run {partial}" in lines[0]
    assert not list(partial.rglob(".*.tmp")) and not (partial / "lock").exists()  # nothing half-written
    _resume(partial, env)
    if victim == "results.nc":  # every chunk was kept: the resume only gathered them
        done = partial.with_name(partial.name.removesuffix(".partial"))
        assert manifest_of(load_run(done))["timings"]["resumed_at_chunk"] == 4


def test_a_full_disk_names_the_records_file_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    """ENOSPC while chunk 2's records are written (in-process): the message names that file."""
    import scanflow.engine.store as store

    savez, writes = store.np.savez, []

    def full(f, **arrays):
        if "__chunks__" not in arrays:  # a records file
            writes.append(1)
            if len(writes) == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as f.write raises it: no file name
        return savez(f, **arrays)

    monkeypatch.setattr(store.np, "savez", full)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert cli.main(["run", *SMALL, "--out", str(out), "--checkpoint-every", "0"]) == 2
    err = capsys.readouterr().err.strip()
    (partial,) = out.iterdir()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"scanflow: error: {partial / 'records' / 'p000-c00002.npz'}: No space left on device"), err
    assert f"scanflow run {partial}" in err
    monkeypatch.setattr(store.np, "savez", savez)
    assert cli.main(["run", str(partial)]) == 0
    assert manifest_of(load_run(partial.with_name(partial.name.removesuffix(".partial"))))["timings"][
        "resumed_at_chunk"] == 1


def test_a_directory_that_refuses_a_file_is_named(tmp_path, monkeypatch, capsys):
    """No permission to create the temp file of a figure (a read-only run directory; as root chmod cannot
    make one, so the refusal is simulated): one line naming the figure."""
    import tempfile

    import scanflow.engine.results as results

    run = tmp_path / "runs"
    assert cli.main(["run", *SMALL, "--out", str(run)]) == 0
    (run_dir,) = run.iterdir()
    capsys.readouterr()

    def refuse(*a, dir=None, prefix="", **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(dir, prefix + "xyz"))

    monkeypatch.setattr(results.tempfile, "mkstemp", refuse)
    assert cli.main(["plot", str(run_dir)]) == 2
    monkeypatch.setattr(results.tempfile, "mkstemp", tempfile.mkstemp)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Permission denied" in err, err
    assert f"{run_dir / 'figures'}/" in err and ".xyz" not in err and err.split(": ")[2].endswith((".png", ".pdf")), err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_named(tmp_path, capsys):
    run = tmp_path / "runs"
    assert cli.main(["run", *SMALL, "--out", str(run)]) == 0
    (run_dir,) = run.iterdir()
    (run_dir / "figures").mkdir(exist_ok=True)
    os.chmod(run_dir / "figures", 0o555)
    try:
        capsys.readouterr()
        assert cli.main(["plot", str(run_dir)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(run_dir / "figures") in err and "Permission denied" in err, err
    finally:
        os.chmod(run_dir / "figures", 0o755)


def test_a_failed_netcdf_write_is_an_error_not_a_crash(tmp_path):
    """HDF5 dies with signal 11 after a failed write; `write_netcdf` hands it a file that never fails and
    raises the OSError (naming the target) afterwards. A subprocess with a 64 KiB file size limit."""
    target = tmp_path / "results.nc"
    code = (
        "import resource, signal\n"
        "import numpy as np, xarray as xr\n"
        "from scanflow.engine.dataset import write_netcdf\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "ds = xr.Dataset({'a': (('x', 'y'), np.random.default_rng(0).random((200, 200)))})\n"
        "try:\n"
        f"    write_netcdf(ds, {str(target)!r})\n"
        "except OSError as e:\n"
        "    print('OSError', e.errno, e.filename)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)
    assert p.stdout.split() == ["OSError", str(errno.EFBIG), str(target)], p.stdout
    assert list(tmp_path.iterdir()) == []  # the temp file is gone, nothing half-written


def test_the_same_writer_writes_what_hdf5_reads(tmp_path):
    import xarray as xr

    from scanflow.engine.dataset import read_netcdf, write_netcdf

    ds = xr.Dataset({"a": (("x", "y"), np.arange(12.0).reshape(3, 4))}, attrs={"note": "n"})
    write_netcdf(ds, tmp_path / "r.nc")
    check_file(tmp_path / "r.nc", "results", "fix")
    xr.testing.assert_identical(read_netcdf(tmp_path / "r.nc"), ds)


@pytest.mark.parametrize("keep", [0, 7, 40, 4096, -1])
def test_a_truncated_hdf5_file_is_caught_before_hdf5_opens_it(tmp_path, keep):
    import xarray as xr

    from scanflow.engine.dataset import write_netcdf

    good = tmp_path / "good.nc"
    write_netcdf(xr.Dataset({"a": ("x", np.arange(3000.0))}), good)
    data = good.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[:keep])
    with pytest.raises(RunDirError, match=f"^{cut}: damaged results .*(empty|truncated|signature).*; fix$"):
        check_file(cut, "results", "fix")


# ----------------------------------------------------------------------------- missing files


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    assert cli.main(["run", *SMALL, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.parametrize("gone", ["results.nc", "manifest.json", "config.yaml"])
def test_a_missing_file_of_a_run_directory_is_named(tmp_path, finished, capsys, gone):
    """`load_run`, `scanflow plot RUN` and an extension `scanflow run RUN sweep.seeds=3`: one line naming
    the missing file (they used to say only "not a scanflow run directory" or "a finished run directory")."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / gone).unlink()
    with pytest.raises(FileNotFoundError, match=f"^{run / gone}: missing from the run directory"):
        load_run(run)
    for argv in (["plot", str(run)], ["run", str(run), "sweep.seeds=3", "--quiet", "--no-plot"]):
        capsys.readouterr()
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"scanflow: error: {run / gone}: missing"), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written beside it
