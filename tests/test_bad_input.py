"""Bad input, table-driven: every malformed config, override, file and flag gives exit 2, exactly one
stderr line ``scanflow: error: ...`` naming the field, flag or path, and writes nothing (the whole
working directory, ``--out`` included, is listed before and after; no ``.partial`` anywhere).

Most cases run in-process through `scanflow.cli.main` (fast); `test_module_entry_point` checks the same
promise through ``python -m scanflow.cli`` in a subprocess, the way users run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from one_line import one_line_error


ROOT = Path(__file__).resolve().parents[1]
SCAN = ROOT / "configs" / "scan_snap_small.yaml"  # x64: false
COOC = ROOT / "configs" / "cooccurrence_tr.yaml"  # x64: true, gradient flow, distinct random words
COOC_FIG = ROOT / "configs" / "cooccurrence_fig.yaml"  # x64: false, repeated random words, d = 64
NG = ROOT / "configs" / "norm_growth_running_max.yaml"
RT = ROOT / "configs" / "real_text.yaml"
FLOW = ["train.method=flow", "data.mode=population"]  # scan_snap under gradient flow
EULER = [*FLOW, "flow.solver=euler"]


def run(config, *args):
    """``scanflow run CONFIG ARGS --out {out}`` (the output directory exists and holds a file)."""
    return ["run", str(config), *args, "--out", "{out}"]


def rt(*args):
    """real_text on the tiny corpus of this module."""
    return run(RT, "data.path={corpus}", *args)


# (id, argv with {out} {tmp} {corpus} placeholders, words that must all appear in the one line)
CASES = [
    # ---- scan_snap: types, values, dtype, resources
    ("unknown-key-typo", run(SCAN, "data.seq_lenn=64"), ["data.seq_lenn", "unknown key", "seq_len"]),
    ("unknown-top-key", run(SCAN, "bogus=1"), ["bogus", "unknown key"]),
    ("steps-string", run(SCAN, "train.steps=abc"), ["train.steps", "integer"]),
    ("steps-float", run(SCAN, "train.steps=1.5"), ["train.steps", "integer"]),
    ("steps-bool", run(SCAN, "train.steps=true"), ["train.steps", "integer", "bool"]),
    ("steps-null", run(SCAN, "train.steps="), ["train.steps", "integer", "null"]),
    ("steps-zero", run(SCAN, "train.steps=0"), ["train.steps", "[1, 2**31)"]),
    ("steps-1e12", run(SCAN, "train.steps=1000000000000"), ["train.steps", "2**31", "int32"]),
    ("steps-records-memory", run(SCAN, "train.steps=2000000000"), ["train.steps", "sweep.max_memory_gb", "GB"]),
    ("steps-run-steps", run(SCAN, "train.steps=2000000000", "train.record_every=2000000000"),
     ["train.steps", "sweep.max_run_steps"]),
    ("seeds-1e9", run(SCAN, "sweep.seeds=1000000000"), ["sweep.seeds", "sweep.max_memory_gb", "GB"]),
    ("seeds-zero", run(SCAN, "sweep.seeds=0"), ["sweep.seeds", ">= 1"]),
    ("seeds-float", run(SCAN, "sweep.seeds=2.5"), ["sweep.seeds", "integer"]),
    ("seq-len-1e12", run(SCAN, "data.seq_len=1000000000000"), ["data.seq_len", "sweep.max_memory_gb", "GB"]),
    ("batch-1e9", run(SCAN, "data.batch_size=1000000000"), ["data.batch_size", "sweep.max_memory_gb", "GB"]),
    ("num-unique-20000", run(SCAN, "data.num_unique=20000"), ["data.num_unique", "sweep.max_memory_gb", "GB"]),
    ("num-unique-zero", run(SCAN, "data.num_unique=0"), ["data.num_unique", "distinct"]),
    ("num-unique-float", run(SCAN, "data.num_unique=1.5"), ["data.num_unique", "integer"]),
    ("num-unique-bool", run(SCAN, "data.num_unique=true"), ["data.num_unique", "integer"]),
    ("num-padding-negative", run(SCAN, "data.num_padding=-1"), ["data.num_padding", ">= 0"]),
    ("seq-len-1", run(SCAN, "data.seq_len=1"), ["data.seq_len", "T >= 2"]),
    ("mode-exact", run(SCAN, "data.mode=exact"), ["data.mode", "sampled"]),
    ("common-weight-inf", run(SCAN, "data.common_weight=.inf"), ["data.common_weight", "finite"]),
    ("common-weight-huge", run(SCAN, "data.common_weight=1e308"), ["data.common_weight", "sum", "finite"]),
    ("unique-max-inf", run(SCAN, "data.unique_max=.inf"), ["data.unique_max", "finite"]),
    ("unique-max-huge", run(SCAN, "data.unique_max=1e308"), ["data.unique_max", "finite"]),
    ("unique-min-above-max", run(SCAN, "data.unique_min=2"), ["data.unique_min", "unique_max"]),
    ("unique-min-tiny-prob", run(SCAN, "data.unique_min=1e-37"), ["data.unique_min", "probability", "float32"]),
    ("model-init-unknown", run(SCAN, "model.init=normal"), ["model.init", "zero", "uniform"]),
    ("init-scale-huge-f32", run(SCAN, "model.init=uniform", "model.init_scale=1e300"), ["model.init_scale", "float32"]),
    ("init-scale-negative", run(SCAN, "model.init_scale=-1"), ["model.init_scale", ">= 0"]),
    ("lr-1e308-f32", run(SCAN, "sweep.lr.Y=[1e308]"), ["sweep.lr.Y", "float32"]),
    ("lr-underflow-f32", run(SCAN, "sweep.lr.Z=[1e-40]"), ["sweep.lr.Z", "float32"]),
    ("lr-ratio-product", run(SCAN, "sweep.lr={Z: [1e30], Y_over_Z: [1e30]}"), ["sweep.lr.Y_over_Z", "float32"]),
    ("lr-negative", run(SCAN, "sweep.lr.Y=[-1.0]"), ["sweep.lr.Y", "positive"]),
    ("lr-zero", run(SCAN, "sweep.lr.Z=0"), ["sweep.lr.Z", "positive"]),
    ("lr-nan", run(SCAN, "sweep.lr.Z=[.nan]"), ["sweep.lr.Z", "positive"]),
    ("lr-empty", run(SCAN, "sweep.lr.Z=[]"), ["sweep.lr.Z", "non-empty"]),
    ("lr-wrong-key", run(SCAN, "sweep.lr.W=[1]"), ["sweep.lr", "Y, Z"]),
    ("lr-not-mapping", run(SCAN, "sweep.lr=5"), ["sweep.lr", "mapping"]),
    ("root-seed-2-32", run(SCAN, "sweep.root_seed=4294967296"), ["sweep.root_seed", "2**32"]),
    ("root-seed-negative", run(SCAN, "sweep.root_seed=-1"), ["sweep.root_seed", "2**32"]),
    ("max-memory-zero", run(SCAN, "sweep.max_memory_gb=0"), ["sweep.max_memory_gb", "positive"]),
    ("max-memory-tiny", run(SCAN, "sweep.max_memory_gb=1e-6"), ["sweep.max_memory_gb=1e-06", "GB"]),
    ("max-run-steps-nan", run(SCAN, "sweep.max_run_steps=.nan"), ["sweep.max_run_steps", ">= 1"]),
    ("record-every-not-divisor", run(SCAN, "train.record_every=3"), ["train.record_every", "divisor", "100"]),
    ("record-every-zero", run(SCAN, "train.record_every=0"), ["train.record_every", ">= 1"]),
    ("records-per-chunk", run(SCAN, "train.records_per_chunk=7"), ["train.records_per_chunk", "divisor", "50"]),
    ("momentum-1.5", run(SCAN, "train.momentum=1.5"), ["train.momentum", "[0, 1)"]),
    ("momentum-nan", run(SCAN, "train.momentum=.nan"), ["train.momentum", "[0, 1)"]),
    ("adam-eps-inf", run(SCAN, "train.optimizer=adam", "train.adam_eps=.inf"), ["train.adam_eps", "finite"]),
    ("adam-eps-underflow", run(SCAN, "train.optimizer=adam", "train.adam_eps=1e-50"), ["train.adam_eps", "float32"]),
    ("adam-b2-one", run(SCAN, "train.optimizer=adam", "train.adam_b2=1"), ["train.adam_b2", "[0, 1)"]),
    ("optimizer-typo", run(SCAN, "train.optimizer=rmsprp"), ["train.optimizer", "sgd_momentum", "adam", "optax"]),
    ("optimizer-not-optimizer", run(SCAN, "train.optimizer=l2_loss"), ["train.optimizer", "learning rate"]),
    ("optimizer-args-bogus", run(SCAN, "train.optimizer=adamw", "train.optimizer_args={bogus: 1}"),
     ["train.optimizer_args", "adamw"]),
    ("optimizer-args-nan", run(SCAN, "train.optimizer=adamw", "train.optimizer_args={weight_decay: .nan}"),
     ["train.optimizer_args.weight_decay", "finite"]),
    ("clip-norm-zero", run(SCAN, "train.clip_norm=0"), ["train.clip_norm", "positive"]),
    ("flow-needs-population", run(SCAN, "train.method=flow"), ["data.mode", "population"]),
    ("method-unknown", run(SCAN, "train.method=adam"), ["train.method", "sgd", "flow"]),
    ("flow-pcoeff-nan", run(SCAN, *FLOW, "flow.pcoeff=.nan"), ["flow.pcoeff", "finite"]),
    ("flow-rtol-2", run(SCAN, *FLOW, "flow.rtol=2"), ["flow.rtol", "(0, 1)"]),
    ("flow-max-steps-1e10", run(SCAN, *FLOW, "flow.max_steps=10000000000"), ["flow.max_steps", "2**31"]),
    ("flow-solver-unknown", run(SCAN, *FLOW, "flow.solver=rk4"), ["flow.solver", "tsit5"]),
    ("euler-needs-dt0", run(SCAN, *EULER), ["flow.dt0", "euler"]),
    ("euler-dt0-inf", run(SCAN, *EULER, "flow.dt0=.inf"), ["flow.dt0", "finite"]),
    ("euler-dt0-above-record", run(SCAN, *EULER, "flow.dt0=1000"), ["flow.dt0", "train.record_every=2"]),
    ("name-escapes", run(SCAN, "name=../escaped"), ["name", "file-name-safe"]),
    ("name-slash", run(SCAN, "name=a/b"), ["name", "file-name-safe"]),
    ("name-too-long", run(SCAN, "name=" + "a" * 200), ["name", "128"]),
    ("name-empty", run(SCAN, "name=''"), ["name", "file-name-safe"]),
    ("x64-maybe", run(SCAN, "x64=maybe"), ["x64", "true or false"]),
    ("x64-int", run(SCAN, "x64=1"), ["x64", "true or false"]),
    ("out-dir-empty", run(SCAN, "out_dir=''"), ["out_dir", "directory"]),
    ("data-not-mapping", run(SCAN, "data=5"), ["data", "DataConfig"]),
    ("train-not-mapping", run(SCAN, "train=5"), ["train", "mapping"]),
    ("not-a-section", run(SCAN, "train.steps.x=1"), ["train.steps.x", "not a section"]),
    ("override-bad-yaml", run(SCAN, "train.steps=[1,"), ["train.steps", "not valid YAML"]),
    ("override-no-dots", run(SCAN, "nodots"), ["nodots", "dotted.key=value"]),
    ("workload-unknown", run(SCAN, "workload=nonesuch"), ["workload", "nonesuch"]),
    ("workload-not-workload", run(SCAN, "workload=os:path"), ["workload", "Workload"]),
    # ---- cooccurrence
    ("cooc-sigma1-zero", run(COOC, "model.sigma1=0"), ["model.sigma1", "positive"]),
    ("cooc-d-small", run(COOC, "data.d=5"), ["data.d", "164"]),
    ("cooc-d-no-unseen", run(COOC_FIG, "data.d=5"), ["data.d", "unseen", "data.seed=0"]),
    ("cooc-n-not-6", run(COOC, "data.n=7"), ["data.n", "multiple of 6"]),
    ("cooc-L-2", run(COOC, "data.L=2"), ["data.L", ">= 3"]),
    ("cooc-n-test", run(COOC, "data.n_test=5"), ["data.n_test", "multiple of 6"]),
    ("cooc-c0-inf", run(COOC, "model.c0=.inf"), ["model.c0", "finite"]),
    ("cooc-seed-2-32", run(COOC, "data.seed=4294967296"), ["data.seed", "2**32"]),
    ("cooc-a-init", run(COOC, "model.a_init=gauss"), ["model.a_init", "sign"]),
    ("cooc-m-zero", run(COOC, "model.m=0"), ["model.m", ">= 1"]),
    ("cooc-lr-f64-underflow", run(COOC, "sweep.lr={eta: [1e-320]}"), ["sweep.lr.eta", "float64"]),
    ("cooc-eta-tau-overflow", run(COOC_FIG, "sweep.lr={eta_tau: [1e38]}"), ["sweep.lr.eta_tau", "float32"]),
    ("cooc-sigma1-tiny-eta", run(COOC_FIG, "model.sigma1=1e-30", "sweep.lr={eta_tau: [0.02]}"),
     ["sweep.lr.eta_tau", "float32"]),
    ("cooc-lr-key", run(COOC, "sweep.lr={Y: [1]}"), ["sweep.lr", "eta"]),
    # ---- norm_growth
    ("ng-task", run(NG, "data.task=copy"), ["data.task", "running_max"]),
    ("ng-majority-vocab", run(NG, "data.task=majority"), ["data.vocab", "majority"]),
    ("ng-heads", run(NG, "model.n_heads=3"), ["model.n_heads", "divisor", "16"]),
    ("ng-eval-seed", run(NG, "data.eval_seed=-1"), ["data.eval_seed", "2**32"]),
    ("ng-batch-huge", run(NG, "data.batch=10000000"), ["data.batch", "sweep.max_memory_gb"]),
    ("ng-d-model-huge", run(NG, "model.d_model=100000"), ["sweep.max_memory_gb", "GB"]),
    ("ng-flow", run(NG, "train.method=flow"), ["train.method", "sgd"]),
    ("ng-qk-negative", run(NG, "model.qk_scale=-1"), ["model.qk_scale", ">= 0"]),
    ("ng-bias-int", run(NG, "model.bias=1"), ["model.bias", "true or false"]),
    ("ng-seq-len-zero", run(NG, "data.seq_len=0"), ["data.seq_len", ">= 1"]),
    ("ng-norm", run(NG, "model.norm=batch"), ["model.norm", "post"]),
    # ---- real_text (a tiny corpus)
    ("rt-no-path", run(RT), ["data.path", "corpus"]),
    ("rt-missing-path", run(RT, "data.path={tmp}/nope"), ["data.path"]),
    ("rt-bptt-long", rt("data.bptt=100000"), ["data", "bptt"]),
    ("rt-ffn-mult-product", rt("model.ffn_lr_mult=1e38", "sweep.lr.eta=[10]"), ["model.ffn_lr_mult", "float32"]),
    ("rt-probe", rt("data.probe=20"), ["data.probe", "eval_batch"]),
    ("rt-variant", rt("model.variant=big"), ["model.variant", "reference"]),
    ("rt-vocab-cap", rt("data.vocab_cap=2"), ["data.vocab_cap", ">= 3"]),
    ("rt-flow", rt("train.method=flow"), ["train.method", "sgd"]),
    ("rt-batch-huge", rt("data.batch=100000000"), ["data"]),
    # ---- files
    ("file-missing", run("{tmp}/nope.yaml"), ["nope.yaml", "not found"]),
    ("file-binary", run("{tmp}/binary.yaml"), ["binary.yaml", "binary"]),
    ("file-latin1", run("{tmp}/latin1.yaml"), ["latin1.yaml", "UTF-8"]),
    ("file-duplicate-key", run("{tmp}/dup.yaml"), ["dup.yaml", "duplicate key 'train'", "line 4"]),
    ("file-invalid-yaml", run("{tmp}/bad.yaml"), ["bad.yaml", "invalid YAML"]),
    ("file-list", run("{tmp}/list.yaml"), ["config", "mapping"]),
    ("file-empty", run("{tmp}/empty.yaml"), ["empty.yaml", "empty", "mapping"]),
    ("file-whitespace", run("{tmp}/blank.yaml"), ["blank.yaml", "empty"]),
    ("file-null", run("{tmp}/null.yaml"), ["null.yaml", "empty"]),
    ("file-document-marker", run("{tmp}/dashes.yaml"), ["dashes.yaml", "empty"]),
    ("optimizer-needs-more-than-gradients", run(SCAN, "train.optimizer=lbfgs"),
     ["train.optimizer", "lbfgs", "gradients alone"]),
    ("axis-equal-values", run(SCAN, "data.common_weight=[1, 1.0]"), ["data.common_weight", "distinct", "1.0"]),
    ("optimizer-args-float32-overflow", run(SCAN, "train.optimizer=adamw", "train.optimizer_args={weight_decay: 1e39}"),
     ["train.optimizer_args.weight_decay", "float32"]),
    ("override-duplicate-key", run(SCAN, "train.optimizer_args={nesterov: true, nesterov: false}"),
     ["train.optimizer_args", "duplicate key 'nesterov'"]),
    ("file-wrong-section", run("{tmp}/wrong.yaml"), ["train", "expected a mapping"]),
    ("file-directory", run("{tmp}/adir"), ["adir", "directory"]),
    ("file-finished-run", run("{tmp}/done-run"), ["done-run", "results.nc: missing from the", "run directory", "config.yaml"]),
    # ---- command-line flags
    ("out-is-file", ["run", str(SCAN), "--out", "{tmp}/afile.txt"], ["--out", "afile.txt", "file"]),
    ("out-under-file", ["run", str(SCAN), "--out", "{tmp}/afile.txt/sub"], ["--out", "afile.txt"]),
    ("out-empty", ["run", str(SCAN), "--out", ""], ["--out", "directory"]),
    ("devices-zero", run(SCAN, "--devices", "0"), ["--devices", ">= 1"]),
    ("devices-text", run(SCAN, "--devices", "abc"), ["--devices", "abc"]),
    ("runs-per-block-zero", run(SCAN, "--runs-per-block", "0"), ["--runs-per-block", ">= 1"]),
    ("config-runs-per-block-zero", run(SCAN, "sweep.runs_per_block=0"), ["sweep.runs_per_block", ">= 1"]),
    ("config-runs-per-block-float", run(SCAN, "sweep.runs_per_block=2.5"), ["sweep.runs_per_block", "integer"]),
    ("share-batches-text", run(SCAN, "sweep.share_batches=maybe"), ["sweep.share_batches", "maybe"]),
    ("metrics-unknown", run(SCAN, "train.metrics=[entropy, bogus]"), ["train.metrics", "'bogus'", "entropy"]),
    ("metrics-empty", run(SCAN, "train.metrics=[]"), ["train.metrics", "non-empty"]),
    ("metrics-repeated", run(SCAN, "train.metrics=[loss, loss]"), ["train.metrics", "distinct"]),
    ("metrics-not-names", run(SCAN, "train.metrics=3"), ["train.metrics", "string"]),
    ("runs-per-block-memory", run(SCAN, "data.num_unique=1000", "--runs-per-block", "16"),
     ["data.num_unique", "vmapped 16 at a time", "GB"]),
    ("checkpoint-negative", run(SCAN, "--checkpoint-every", "-1"), ["--checkpoint-every", ">= 0"]),
    ("checkpoint-nan", run(SCAN, "--checkpoint-every", "nan"), ["--checkpoint-every", "nan"]),
    ("unknown-flag", run(SCAN, "--bogus"), ["--bogus"]),
    ("unknown-command", ["frobnicate"], ["frobnicate"]),
    ("resume-with-override", ["run", "{tmp}/old.partial", "train.steps=4"], ["old.partial", "no overrides"]),
    ("plot-not-run", ["plot", "{tmp}/adir"], ["adir", "not a scanflow run directory"]),
    ("plot-file", ["plot", "{tmp}/afile.txt"], ["afile.txt", "run directory"]),
    ("plot-missing", ["plot", "{tmp}/nope"], ["nope", "not found"]),
    ("plot-out-file", ["plot", "{tmp}/done-run", "--out", "{tmp}/afile.txt"], ["--out", "afile.txt"]),
    ("verify-out-file", ["verify", "scan-snap", "--out", "{tmp}/afile.txt"], ["--out", "afile.txt"]),
    ("verify-resume-not-report", ["verify", "{tmp}/adir"], ["adir", "not a report"]),
    ("verify-resume-missing", ["verify", "{tmp}/gone.partial"], ["gone.partial", "not found"]),
    ("verify-data-binary", ["verify", "real-text", "--quick", "--data", "{tmp}/binary.yaml", "--out", "{tmp}/reports"],
     ["--data", "binary.yaml", "binary"]),
    ("verify-data-latin1", ["verify", "real-text", "--quick", "--data", "{tmp}/latin1.yaml", "--out", "{tmp}/reports"],
     ["--data", "latin1.yaml", "UTF-8"]),
    ("verify-data-empty", ["verify", "real-text", "--quick", "--data", "{tmp}/empty.yaml", "--out", "{tmp}/reports"],
     ["--data", "empty.yaml", "no words"]),
    ("verify-out-no-paper", ["verify", "--out", "{tmp}/reports"], ["paper", "scanflow verify"]),
    ("verify-unknown", ["verify", "nopaper"], ["nopaper", "unknown paper"]),
    ("verify-data-unused", ["verify", "scan-snap", "--data", "{corpus}"], ["--data"]),
    ("verify-only-all", ["verify", "all", "--only", "S1"], ["--only", "one paper"]),
]


def _corpus(d: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, n in (("train.txt", 300), ("valid.txt", 60)):
        lines = (" ".join(f"w{i}" for i in rng.integers(40, size=12)) for _ in range(n))
        (d / name).write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("corpus"))


def _files(tmp: Path) -> None:
    """The malformed files and directories the table refers to (written before the snapshot)."""
    (tmp / "runs").mkdir()
    (tmp / "runs" / "keep.txt").write_text("an existing output directory\n")
    (tmp / "binary.yaml").write_bytes(bytes(range(256)))
    (tmp / "latin1.yaml").write_bytes("name: caf\xe9\nworkload: scan_snap\n".encode("latin-1"))
    (tmp / "dup.yaml").write_text("workload: scan_snap\ntrain:\n  steps: 10\ntrain:\n  steps: 20\n")
    (tmp / "bad.yaml").write_text("train:\n  steps: [1,\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "empty.yaml").write_text("")
    (tmp / "blank.yaml").write_text("  \n\n")
    (tmp / "null.yaml").write_text("null\n")
    (tmp / "dashes.yaml").write_text("---\n")
    (tmp / "wrong.yaml").write_text("train: 5\n")
    (tmp / "afile.txt").write_text("a file\n")
    (tmp / "adir").mkdir()
    (tmp / "adir" / "notes.txt").write_text("not a run\n")
    done = tmp / "done-run"  # looks like a finished run directory to the CLI's checks
    done.mkdir()
    (done / "config.yaml").write_text(SCAN.read_text())
    (done / "manifest.json").write_text(json.dumps({}))
    old = tmp / "old.partial"
    old.mkdir()
    (old / "config.yaml").write_text(SCAN.read_text())


def _listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


@pytest.mark.parametrize("argv,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(argv, words, tmp_path, corpus, monkeypatch, capsys):
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative paths (out_dir: runs, reports/) land here too
    sub = {"{out}": str(tmp_path / "runs"), "{tmp}": str(tmp_path), "{corpus}": str(corpus)}
    args = []
    for a in argv:
        for k, v in sub.items():
            a = a.replace(k, v)
        args.append(a)
    before = _listing(tmp_path)
    line = one_line_error(args, capsys)
    for w in words:
        assert w.replace("{tmp}", str(tmp_path)) in line, (w, line)
    assert _listing(tmp_path) == before  # nothing written, nothing removed
    assert [p.name for p in tmp_path.rglob("*.partial*")] == ["old.partial"]  # the fixture's only


def test_table_size():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


def test_module_entry_point(tmp_path):
    """The same promise through ``python -m scanflow.cli`` (x64 off, no conftest): a binary config, a
    value that would become inf in float32, and an existing file as --out."""
    _files(tmp_path)
    before = _listing(tmp_path)
    for args, words in (
        (["run", tmp_path / "binary.yaml", "--out", tmp_path / "runs"], ["binary.yaml", "binary"]),
        (["run", SCAN, "sweep.lr.Y=[1e308]", "--out", tmp_path / "new"], ["sweep.lr.Y", "float32"]),
        (["run", SCAN, "--out", tmp_path / "afile.txt"], ["--out", "afile.txt"]),
        (["run", SCAN, "--out", tmp_path / "new", "SCANFLOW_CPU_DEVICES=two"], ["SCANFLOW_CPU_DEVICES", "two"]),
        (["run", SCAN, "--out", tmp_path / "new", "SCANFLOW_CPU_DEVICES=0"], ["SCANFLOW_CPU_DEVICES", "positive"]),
    ):
        env = {**os.environ, **dict(a.split("=", 1) for a in map(str, args) if a.startswith("SCANFLOW_"))}
        args = [a for a in args if not str(a).startswith("SCANFLOW_")]
        p = subprocess.run([sys.executable, "-m", "scanflow.cli", *map(str, args)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300, env=env)
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("scanflow: error: "), p.stderr
        for w in words:
            assert w in lines[0], (w, lines[0])
    assert _listing(tmp_path) == before


def test_check_types_python_configs():
    """Configs built in Python get the same one-line errors as YAML (no TypeError from a comparison)."""
    from scanflow.engine.config import ConfigError, SweepConfig, TrainConfig
    from scanflow.papers.scan_snap.config import DataConfig

    for build, field in ((lambda: TrainConfig(steps=1.5), "train.steps"), (lambda: TrainConfig(steps="10"), "train.steps"),
                         (lambda: SweepConfig(seeds=True), "sweep.seeds"), (lambda: DataConfig(num_unique="3"), "data.num_unique"),
                         (lambda: DataConfig(common_weight=None), "data.common_weight")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            build()
    assert TrainConfig(steps=np.int64(10), momentum=np.float32(0.5)).steps == 10  # NumPy scalars become Python numbers
    assert type(TrainConfig(steps=np.int64(10)).steps) is int


def test_records_per_chunk_is_fast():
    """The divisor search is O(sqrt(n)): a trillion records would take hours as a loop over candidates (the
    suite would hang here, not fail on a clock that a loaded machine can miss)."""
    from types import SimpleNamespace as NS

    from scanflow.engine.sweep import records_per_chunk

    assert records_per_chunk(NS(train=NS(steps=10**12, record_every=1, records_per_chunk=0))) == 10**11
    for n in (1, 7, 12, 97, 100, 360, 1001):
        want = max(d for d in range(1, max(1, n // 10) + 1) if n % d == 0)
        assert records_per_chunk(NS(train=NS(steps=n, record_every=1, records_per_chunk=0))) == want


def test_ceilings_can_be_raised():
    """A refused size runs once its ceiling is raised (.inf: no ceiling), and the ceilings are not part of the
    compiled program."""
    from scanflow.engine.config import estimate, load_config
    from scanflow.engine.sweep import static_part

    cfg = load_config(SCAN, ["data.num_unique=20000", "sweep.max_memory_gb=.inf"])
    e = estimate(cfg)
    assert e["device_bytes"] > 16e9 and e["runs"] == 16
    small = load_config(SCAN, ["sweep.max_memory_gb=8", "sweep.max_run_steps=1e6"])
    assert static_part(small) == static_part(load_config(SCAN))


def test_shipped_configs_fit(corpus):
    """Every shipped config is far below the default ceilings (the estimate refuses only absurd sizes)."""
    from scanflow.engine.config import estimate, load_config

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path, [f"data.path={json.dumps(str(corpus))}"] if "real_text" in path.name else [])
        e = estimate(cfg, runs_per_block=256)
        assert e["records_bytes"] < 1e8 and e["device_bytes"] < 1e9 and e["run_steps"] < 1e6, (path.name, e)


def test_host_only_checks_defer_the_data_draw():
    """Before jax.distributed.initialize() no JAX computation may run: inside `host_only_checks` the
    co-occurrence draw is skipped, and `device_checks` runs it once JAX is set up (as `scanflow run
    --distributed` does)."""
    from scanflow.engine.config import ConfigError, device_checks, host_only_checks, load_config

    with host_only_checks():
        cfg = load_config(COOC_FIG, ["data.d=5"])
    with pytest.raises(ConfigError, match="data.d: expected a vocabulary that leaves test words unseen"):
        device_checks(cfg)
