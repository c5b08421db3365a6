"""Multi-host in CI: a small sweep as two local processes (`--distributed --coordinator 127.0.0.1:PORT
--num-processes 2 --process-id {0,1}`, one CPU device each, gloo CPU collectives) against one process.

Four CLI subprocesses run at once (about 25 s on 2 cores): the two processes of the distributed run and
two one-process references of the same config, the same `--runs-per-block`:

* one process with 2 (fake) CPU devices;
* one process with 1 device (what `scanflow run` does on a laptop).

Both must hold bit-identical arrays: every device, in every process, runs the same single-device
program (`scanflow.engine.sharding.PerDevice`), so neither the process count nor the device count
changes a bit. (Until the multi-device program stopped going through XLA's SPMD partitioner, the
1-device reference differed by 1 float32 ulp.)

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

from scanflow.engine.dataset import RESULTS_FILE, manifest_of
from scanflow.engine.results import load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_small.yaml"
OVERRIDES = ["train.steps=8", "train.record_every=2", "sweep.seeds=3", "data.seq_len=16", "data.batch_size=8",
             "data.num_common=4", "data.num_unique=4"]
BLOCK = "2"
DEADLINE_S = 300  # all four processes; nominal 25 s (a lost peer would otherwise wait JAX's 300-s init timeout)
PORT_TRIES = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(n_devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COORDINATOR_ADDRESS")}
    env["JAX_PLATFORMS"] = "cpu"
    env["SCANFLOW_CPU_DEVICES"] = str(n_devices)  # the CLI would otherwise give each process one device per core
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
    deadline = time.monotonic() + DEADLINE_S
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
    finally:
        for p in alive:
            p.kill()
    dirs = {name: sorted((tmp / name).iterdir()) for name in ("two", "one_2dev", "one_1dev")}
    return {"dirs": dirs, "dist": dist}


def _only_dir(runs, name) -> Path:
    d = runs["dirs"][name]
    assert len(d) == 1 and not d[0].name.endswith(".partial"), d
    return d[0]


def test_two_processes_write_one_complete_run_directory(runs):
    path, ref = _only_dir(runs, "two"), _only_dir(runs, "one_2dev")
    names = sorted(f.name for f in path.iterdir())
    assert names == sorted(f.name for f in ref.iterdir())  # no records/ or checkpoint-pNNN left behind
    assert RESULTS_FILE in names and not any("records" in n or "checkpoint" in n for n in names), names
    m = manifest_of(load_run(path))
    assert len(m["devices"]) == 2 and m["timings"]["devices"] == 2
    assert m["timings"]["runs_per_block"] == int(BLOCK)
    assert (m["n_points"], m["n_seeds"]) == (2, 3)
    assert yaml.safe_load((path / "config.yaml").read_text()) == yaml.safe_load((ref / "config.yaml").read_text())
    p0, p1 = runs["dist"]
    assert f"wrote {path}" in p0.stdout.read_text()  # process 0 writes the results and the summary ...
    assert "wrote" not in p1.stdout.read_text()  # ... process 1 only its records


def _pairs(runs, ref_name):
    a, b = load_run(_only_dir(runs, "two")), load_run(_only_dir(runs, ref_name))
    assert sorted(a.data_vars) == sorted(b.data_vars) and sorted(a.coords) == sorted(b.coords)
    for k in a.coords:
        np.testing.assert_array_equal(a[k].values, b[k].values, err_msg=k)
    assert np.isfinite(b["loss"].values).any()
    for k in sorted(a.data_vars):
        assert a[k].dims == b[k].dims, k
        x, y = a[k].values, b[k].values
        assert x.dtype == y.dtype and x.shape == y.shape, k
        yield k, x, y


def test_two_processes_bit_identical_to_one_process_on_two_devices(runs):
    for k, x, y in _pairs(runs, "one_2dev"):
        np.testing.assert_array_equal(x, y, err_msg=k)


def test_two_processes_bit_identical_to_one_process_on_one_device(runs):
    for k, x, y in _pairs(runs, "one_1dev"):
        np.testing.assert_array_equal(x, y, err_msg=k)


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
