"""Multi-host in CI: a small sweep as two local processes (`--distributed --coordinator 127.0.0.1:PORT
--num-processes 2 --process-id {0,1}`, one CPU device each, gloo CPU collectives) against one process.

Four CLI subprocesses run at once (about 25 s on 2 cores): the two processes of the distributed run and
two one-process references of the same config, the same `--runs-per-block`:

* one process with 2 (fake) CPU devices: the same 2-device program, so the run directory must hold
  bit-identical arrays (the process count does not matter);
* one process with 1 device (what `scanflow run` does on a laptop): the issue-12 goal is bit-identity
  too, but today XLA compiles a 1-device program without SPMD partitioning and rewrites a few divisions
  (see `test_sharding.py`), which changes float32 results by a few ulp. That test is a strict xfail
  that expects exactly this `NotBitIdentical` gap: it fails loudly when the gap closes (remove the
  marker then) and when the arrays differ by more than round-off. "Round-off" there is
  |a - b| <= 2**-18 * max|a| per array (32 float32 ulp of the array's scale; measured: 15 arrays
  differ, max |diff| 1.9e-6, at most 1 ulp of the scale), only to tell a rounding gap from a wrong
  record (a race once filled half the runs with uninitialised memory), never a pass.

The distributed run checkpoints every chunk (`--checkpoint-every 0`) and pads its last block
(6 runs on 2 devices x 2 runs per block: process 1 holds 2 runs and 2 padding rows).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from scanflow.engine.results import load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_small.yaml"
OVERRIDES = ["train.steps=8", "train.record_every=2", "sweep.seeds=3", "data.seq_len=16", "data.batch_size=8",
             "data.num_common=4", "data.num_unique=4"]
BLOCK = "2"
DEADLINE_S = 300  # all four processes; nominal 25 s (a lost peer would otherwise wait JAX's 300-s init timeout)
PORT_TRIES = 3


class NotBitIdentical(AssertionError):
    """Arrays equal to round-off but not bit for bit."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(n_devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COORDINATOR_ADDRESS")}
    env["JAX_PLATFORMS"] = "cpu"
    if n_devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    return env


class _Proc:
    """A CLI subprocess with its output in files (no pipe to fill up)."""

    def __init__(self, name: str, out: Path, logs: Path, n_devices: int, *extra: str):
        self.name, self.out = name, out
        self.stdout, self.stderr = logs / f"{name}.out", logs / f"{name}.err"
        cmd = [sys.executable, "-m", "scanflow.cli", "run", str(CONFIG), *OVERRIDES, "--out", str(out), "--no-plot",
               "--quiet", "--runs-per-block", BLOCK, "--checkpoint-every", "0", *extra]
        with open(self.stdout, "w") as o, open(self.stderr, "w") as e:
            self.p = subprocess.Popen(cmd, cwd=ROOT, env=_env(n_devices), stdout=o, stderr=e, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()

    def log(self) -> str:
        return f"--- {self.name} (exit {self.p.poll()}):\n{self.stdout.read_text()}{self.stderr.read_text()[-3000:]}"


def _wait(procs: list[_Proc], deadline: float) -> _Proc | None:
    """Wait until all exit or one fails (returns it); pytest.fail at the deadline."""
    while True:
        codes = [p.p.poll() for p in procs]
        for p, c in zip(procs, codes):
            if c not in (None, 0):
                return p
        if all(c == 0 for c in codes):
            return None
        if time.monotonic() > deadline:
            pytest.fail(f"not finished after {DEADLINE_S} s:\n" + "\n".join(p.log() for p in procs))
        time.sleep(0.1)


def _distributed(out: Path, logs: Path, port: int, attempt: int) -> list[_Proc]:
    coord = ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    return [_Proc(f"p{i}-try{attempt}", out, logs, 1, *coord, "--process-id", str(i)) for i in (0, 1)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multihost")
    t0 = time.monotonic()
    deadline = t0 + DEADLINE_S
    refs = [_Proc("one_2dev", tmp / "one_2dev", tmp, 2), _Proc("one_1dev", tmp / "one_1dev", tmp, 1)]
    alive = list(refs)
    try:
        for attempt in range(PORT_TRIES):
            dist = _distributed(tmp / "two", tmp, _free_port(), attempt)
            alive += dist
            failed = _wait(dist + refs, deadline)
            if failed is None:
                break
            port_lost = failed in dist and "could not join" in failed.stderr.read_text()
            if not (port_lost and attempt + 1 < PORT_TRIES):  # the free port was taken meanwhile: try another
                pytest.fail("a process failed:\n" + "\n".join(p.log() for p in dist + refs))
            for p in dist:
                p.kill()
        wall = time.monotonic() - t0
    finally:
        for p in alive:
            p.kill()
    dirs = {name: sorted((tmp / name).iterdir()) for name in ("two", "one_2dev", "one_1dev")}
    return {"dirs": dirs, "dist": dist, "wall": wall}


def _only_dir(runs, name) -> Path:
    d = runs["dirs"][name]
    assert len(d) == 1 and not d[0].name.endswith(".partial"), d
    return d[0]


def test_two_processes_write_one_complete_run_directory(runs):
    path, ref = _only_dir(runs, "two"), _only_dir(runs, "one_2dev")
    names = sorted(f.name for f in path.iterdir())
    assert names == sorted(f.name for f in ref.iterdir())  # no records/ or checkpoint-pNNN left behind
    assert "arrays.npz" in names and not any("records" in n or "checkpoint" in n for n in names), names
    r = load_run(path)
    assert len(r.manifest["devices"]) == 2 and r.manifest["timings"]["devices"] == 2
    assert r.manifest["timings"]["runs_per_block"] == int(BLOCK)
    assert (r.manifest["n_points"], r.manifest["n_seeds"]) == (2, 3)
    assert yaml.safe_load((path / "config.yaml").read_text()) == yaml.safe_load((ref / "config.yaml").read_text())
    p0, p1 = runs["dist"]
    assert f"wrote {path}" in p0.stdout.read_text()  # process 0 writes the results and the summary ...
    assert "wrote" not in p1.stdout.read_text()  # ... process 1 only its records
    assert runs["wall"] < 120, f"{runs['wall']:.0f} s"  # nominal 25 s on 2 cores


def _pairs(runs, ref_name):
    a, b = load_run(_only_dir(runs, "two")), load_run(_only_dir(runs, ref_name))
    assert sorted(a.arrays) == sorted(b.arrays)
    assert a.dims == b.dims
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k], err_msg=k)
    assert np.isfinite(b["loss"]).any()
    for k in sorted(a.arrays):
        x, y = a[k], b[k]
        assert x.dtype == y.dtype and x.shape == y.shape, k
        yield k, x, y


def test_two_processes_bit_identical_to_one_process_on_two_devices(runs):
    for k, x, y in _pairs(runs, "one_2dev"):
        np.testing.assert_array_equal(x, y, err_msg=k)


@pytest.mark.xfail(raises=NotBitIdentical, strict=True,
                   reason="1 device vs 2 differs by a few float32 ulp until run invariance (issue 12 item 2)")
def test_two_processes_bit_identical_to_one_process_on_one_device(runs):
    gaps = {}
    for k, x, y in _pairs(runs, "one_1dev"):
        if x.dtype.kind != "f":
            np.testing.assert_array_equal(x, y, err_msg=k)
            continue
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=k)
        fin = np.isfinite(y)
        scale = float(np.abs(y[fin]).max(initial=0.0))
        gap = float(np.abs(x[fin].astype(np.float64) - y[fin]).max(initial=0.0))
        assert gap <= 2.0**-18 * scale, f"{k}: max |diff| {gap:.3g} > round-off 2**-18 * {scale:.3g}"
        if not np.array_equal(x, y, equal_nan=True):
            gaps[k] = (gap, gap / (scale * np.finfo(y.dtype).eps) if scale else 0.0)
    if gaps:
        worst = max(gaps, key=lambda k: gaps[k][1])
        raise NotBitIdentical(f"{len(gaps)} arrays differ; max |diff| {max(g for g, _ in gaps.values()):.3g}, "
                              f"worst {worst}: {gaps[worst][1]:.1f} ulp of its scale")


C, N, I = "--coordinator", "--num-processes", "--process-id"
GOOD = [C, "127.0.0.1:1234", N, "2"]


@pytest.mark.parametrize(
    "args, needle",
    [
        ([*GOOD, I, "0"], "--coordinator: only with --distributed"),
        (["--distributed", C, "127.0.0.1:1234"], "--num-processes: missing"),
        (["--distributed", N, "2", I, "1"], "--coordinator: missing"),
        (["--distributed", *GOOD], "--process-id: missing"),
        (["--distributed", *GOOD, I, "2"], "--process-id: expected 0..1"),
        (["--distributed", *GOOD, I, "-1"], "--process-id: expected 0..1"),
        (["--distributed", C, "h:1", N, "0", I, "0"], "--num-processes: expected an integer >= 1"),
        (["--distributed", C, "h:1", N, "two", I, "0"], "--num-processes: invalid int"),
        *[(["--distributed", C, addr, N, "2", I, "0"], "--coordinator: expected HOST:PORT")
          for addr in ("127.0.0.1", "host:99999", "host:0", "a:b:1", ":1234", "host:", "[::1]")],
    ],
)
def test_bad_cluster_arguments_one_line_exit_2(args, needle, tmp_path, capsys):
    """Checked before JAX starts: exit 2, one line naming the flag, nothing written."""
    from scanflow.cli import main

    out = tmp_path / "out"
    try:
        code = main(["run", str(CONFIG), "--out", str(out), "--no-plot", "--quiet", *args])
    except SystemExit as e:  # argparse's own errors (a non-integer)
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not out.exists()
