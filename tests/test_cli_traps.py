"""CLI traps (issue 13 item 6) and provenance (item 7): each trap found by a new user has a test.

- options and overrides in any order;
- `scanflow verify` without a paper lists the papers and their durations instead of starting work;
- `verify --help` lists every paper, built-in or installed;
- Ctrl-C during `verify` keeps every finished check in a report;
- a closed pipe (`scanflow verify | head`) ends quietly, without a traceback;
- a "compiling..." line before the first chunk;
- manifests and reports carry provenance (versions, git commit and dirty flag, device kind, XLA flags, times).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scanflow import cli
from scanflow.engine.registry import paper_names, register_paper
from scanflow.engine.results import load_run
from scanflow.verify import Result, check

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
TINY = ["sweep.seeds=2", "train.steps=4", "train.record_every=2", "data.batch_size=8", "data.seq_len=16"]


@check("trap-paper", "T1", "a check that passes", "T")
def _t1(ctx):
    return Result(predicted={"x": 1}, measured={"x": 1}, tolerance="exact", passed=True)


@check("trap-paper", "T2", "a check interrupted by Ctrl-C", "T")
def _t2(ctx):
    raise KeyboardInterrupt


@check("trap-paper", "T3", "a check that never runs", "T")
def _t3(ctx):
    raise AssertionError("T3 must not run after Ctrl-C")


register_paper("trap-paper", __name__)


def test_options_and_overrides_in_any_order(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["run", CONFIG, "--out", str(a), *TINY, "--quiet", "--no-plot"]) == 0
    assert cli.main(["run", "--no-plot", *TINY[:2], "--out", str(b), CONFIG, *TINY[2:], "--quiet"]) == 0
    (ra,), (rb,) = a.iterdir(), b.iterdir()
    assert load_run(ra).config == load_run(rb).config and load_run(ra).config["sweep"]["seeds"] == 2


def test_verify_without_a_paper_lists_papers_and_durations(capsys):
    assert cli.main(["verify"]) == 0
    out = capsys.readouterr().out
    for name in ("scan-snap", "cooccurrence", "norm-growth", "real-text"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name))
        assert "min" in line or " s " in line, line
    assert "needs --data" in next(ln for ln in out.splitlines() if "real-text" in ln)


def test_verify_help_lists_every_paper():
    p = subprocess.run([sys.executable, "-m", "scanflow.cli", "verify", "--help"], capture_output=True, text=True)
    text = " ".join(p.stdout.split())
    for name in paper_names():
        if name != "trap-paper":  # registered in this process only
            assert name.replace("-", "- ") in text or name in text, (name, text)


def test_ctrl_c_during_verify_keeps_the_finished_checks(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["verify", "trap-paper", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "1 finished check" in err and str(out / "report.md") in err
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert [v["check"] for v in verdicts] == ["T1"] and verdicts[0]["verdict"] == "PASS"
    assert "INTERRUPTED (Ctrl-C) after 1 of 3 checks" in (out / "report.md").read_text()


def test_a_closed_pipe_ends_quietly():
    p = subprocess.run(f"{sys.executable} -m scanflow.cli verify | head -c 0", shell=True, capture_output=True,
                       text=True, cwd=ROOT)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_compiling_line_and_provenance(tmp_path, capsys):
    assert cli.main(["run", CONFIG, *TINY, "--out", str(tmp_path), "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "compiling 4 runs (2 points x 2 seeds)" in err
    (run_dir,) = tmp_path.iterdir()
    m = load_run(run_dir).manifest
    prov = m["provenance"]
    assert m["started"] <= m["ended"]
    assert prov["versions"]["jax"] and prov["device_kind"] == ["cpu"] and "xla_flags" in prov
    assert prov["git"] is None or (len(prov["git"]["commit"]) == 40 and isinstance(prov["git"]["dirty"], bool))
    assert m["timings"]["compile_cache"]["programs_from"] in ("compiled", "persistent cache", "mixed", "in-process")


def test_reports_carry_provenance(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["verify", "trap-paper", "--only", "T1", "--out", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["versions"]["scanflow"] and "git" in prov and prov["title"] == "scanflow verify trap-paper"
