"""CLI traps (issue 13 item 6) and provenance (item 7): each trap found by a new user has a test.

- options and overrides in any order;
- `scanflow verify` without a paper lists the papers and their durations instead of starting work;
- `verify --help` lists every paper, built-in or installed;
- Ctrl-C during `verify` keeps every finished check in a report REPORT_DIR.partial, and
  `scanflow verify REPORT_DIR.partial` runs only the others (same options, or refused in one line);
- `--out DIR` is the parent directory of the new directory each command creates (run, verify, plot);
- a closed pipe (`scanflow verify | head`) ends quietly, without a traceback;
- a "compiling..." line before the first chunk;
- manifests and reports carry provenance (versions, git commit and dirty flag, device kind, XLA flags, times).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scanflow import cli
from scanflow.engine.registry import paper_names, register_paper
from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.results import load_run
from scanflow.verify import Result, check

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
TINY = ["sweep.seeds=2", "train.steps=4", "train.record_every=2", "data.batch_size=8", "data.seq_len=16"]


RAN: list[str] = []  # the trap checks that ran, in order
CTRL_C = {"T2"}  # the trap checks that raise KeyboardInterrupt (as Ctrl-C would) while named here


def _trap(name: str):
    def fn(ctx):
        if name in CTRL_C:
            raise KeyboardInterrupt
        RAN.append(name)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1])
        return Result(predicted={"x": 1}, measured={"x": 1}, tolerance="exact", passed=True,
                      figure=ctx.save_figure(fig, f"{name}.png"))

    return fn


for _name, _claim in (("T1", "a check that passes"), ("T2", "a check interrupted by Ctrl-C (while CTRL_C names it)"),
                      ("T3", "a check that runs only once T2 passes")):
    check("trap-paper", _name, _claim, "T")(_trap(_name))

register_paper("trap-paper", __name__)


@pytest.fixture
def traps():
    """RAN emptied, T2 interrupting: the state every test of the trap paper starts from."""
    RAN.clear()
    CTRL_C.clear()
    CTRL_C.add("T2")
    yield RAN
    CTRL_C.clear()
    CTRL_C.add("T2")


def _report(parent: Path, pattern: str = "trap-paper-*") -> Path:
    (path,) = parent.glob(pattern)
    return path


def test_options_and_overrides_in_any_order(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["run", CONFIG, "--out", str(a), *TINY, "--quiet", "--no-plot"]) == 0
    assert cli.main(["run", "--no-plot", *TINY[:2], "--out", str(b), CONFIG, *TINY[2:], "--quiet"]) == 0
    (ra,), (rb,) = a.iterdir(), b.iterdir()
    assert config_of(load_run(ra)) == config_of(load_run(rb)) and config_of(load_run(ra))["sweep"]["seeds"] == 2


def test_verify_without_a_paper_lists_papers_and_durations(capsys):
    assert cli.main(["verify"]) == 0
    out = capsys.readouterr().out
    for name in ("scan-snap", "cooccurrence", "norm-growth", "real-text"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name))
        assert "min" in line or " s " in line, line
    assert "needs --data" in next(ln for ln in out.splitlines() if "real-text" in ln)


def test_the_listing_reads_the_papers_without_importing_them():
    """`scanflow verify` lists from the entry points and the papers' source: no JAX, no paper imported, and
    what it reads statically (durations, --data, mutations) is what importing the papers registers."""
    code = ("import sys; from scanflow.cli import main; main(['verify']); "
            "print(sorted(m for m in sys.modules if m == 'jax' or m.startswith('scanflow.papers.') and '.checks' in m))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().splitlines()[-1] == "[]", (p.stdout, p.stderr)
    from scanflow.engine.registry import load_paper_module, paper_facts
    from scanflow.verify.mutation import mutations

    for name in paper_names():
        if name == "trap-paper":  # registered in this process only, no source to read
            continue
        facts, mod = paper_facts(name), load_paper_module(name)
        assert facts["duration"] == getattr(mod, "EXPECTED_DURATION", None), name
        assert facts["data_required"] == getattr(mod, "DATA_REQUIRED", None), name
        assert sorted(facts["mutations"]) == sorted(mutations(name)), name


def test_verify_help_lists_every_paper():
    p = subprocess.run([sys.executable, "-m", "scanflow.cli", "verify", "--help"], capture_output=True, text=True)
    text = " ".join(p.stdout.split())
    for name in paper_names():
        if name != "trap-paper":  # registered in this process only
            assert name.replace("-", "- ") in text or name in text, (name, text)


def test_ctrl_c_during_verify_keeps_the_finished_checks(tmp_path, capsys, traps):
    assert cli.main(["verify", "trap-paper", "--out", str(tmp_path)]) == 130
    out = _report(tmp_path)
    assert out.name.endswith(".partial")  # recognisable as interrupted
    err = capsys.readouterr().err
    assert f"interrupted after 1 of 3 checks; {out} keeps the finished ones; resume with: scanflow verify {out}" in err
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert [v["check"] for v in verdicts] == ["T1"] and verdicts[0]["verdict"] == "PASS"
    assert "INTERRUPTED (Ctrl-C) after 1 of 3 checks" in (out / "report.md").read_text()
    opts = json.loads((out / "verify.json").read_text())
    assert opts == {**opts, "paper": "trap-paper", "quick": False, "only": [], "data": None,
                    "checks": ["T1", "T2", "T3"], "status": "interrupted"}
    assert traps == ["T1"]


def test_resume_runs_only_the_unfinished_checks(tmp_path, capsys, traps):
    assert cli.main(["verify", "trap-paper", "--quick", "--out", str(tmp_path)]) == 130
    partial = _report(tmp_path)
    first = json.loads((partial / "verdicts.json").read_text())
    CTRL_C.clear()
    traps.clear()
    capsys.readouterr()
    assert cli.main(["verify", str(partial)]) == 0
    assert traps == ["T2", "T3"]  # T1 kept, not run again
    done = _report(tmp_path)
    assert done.name == partial.name.removesuffix(".partial") and not partial.exists()
    v = json.loads((done / "verdicts.json").read_text())
    assert [x["check"] for x in v] == ["T1", "T2", "T3"] and {x["verdict"] for x in v} == {"PASS"}
    assert v[0] == first[0]  # the recorded result, as it was
    assert sorted(f.name for f in (done / "figures").iterdir()) == ["T1.png", "T2.png", "T3.png"]
    opts = json.loads((done / "verify.json").read_text())
    assert opts["status"] == "complete" and opts["quick"] is True
    md = (done / "report.md").read_text()
    assert "Resumed: 1 of 3 checks" in md and "INTERRUPTED" not in md and "Mode: quick" in md
    assert "T1 (recorded earlier)" in capsys.readouterr().out
    # resuming a complete report (or the .partial that became it) says so and runs nothing
    for arg in (done, partial):
        assert cli.main(["verify", str(arg)]) == 0
        assert "complete" in capsys.readouterr().out and traps == ["T2", "T3"]


def test_a_resume_interrupted_again_stays_resumable(tmp_path, capsys, traps):
    CTRL_C.add("T3")
    assert cli.main(["verify", "trap-paper", "--out", str(tmp_path)]) == 130
    partial = _report(tmp_path)
    CTRL_C.discard("T2")
    assert cli.main(["verify", str(partial)]) == 130  # T2 done, T3 interrupts again
    assert _report(tmp_path) == partial and [p.name for p in tmp_path.iterdir()] == [partial.name]
    assert [x["check"] for x in json.loads((partial / "verdicts.json").read_text())] == ["T1", "T2"]
    assert f"resume with: scanflow verify {partial}" in capsys.readouterr().err
    CTRL_C.clear()
    assert cli.main(["verify", str(partial)]) == 0 and traps == ["T1", "T2", "T3"]


@pytest.mark.parametrize("extra,word", [
    (["--quick"], "--quick"),
    (["--only", "T3"], "--only"),
    (["--data", "."], "--data"),
    (["--out", "elsewhere"], "--out"),
])
def test_a_resume_with_other_options_is_refused(extra, word, tmp_path, capsys, traps):
    assert cli.main(["verify", "trap-paper", "--out", str(tmp_path)]) == 130
    partial = _report(tmp_path)
    before = sorted(p.name for p in partial.rglob("*"))
    capsys.readouterr()
    assert cli.main(["verify", str(partial), *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"scanflow: error: {word}") and str(partial) in lines[0], lines
    assert sorted(p.name for p in partial.rglob("*")) == before and traps == ["T1"]


def test_a_resume_with_the_same_options_runs(tmp_path, capsys, traps):
    assert cli.main(["verify", "trap-paper", "--only", "T2", "--only", "T3", "--out", str(tmp_path)]) == 130
    CTRL_C.clear()
    assert cli.main(["verify", str(_report(tmp_path)), "--only", "T2", "--only", "T3"]) == 0
    assert traps == ["T2", "T3"]


def test_what_verify_is_given_to_resume(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    for arg, words in ((tmp_path / "plain", ["not a report", "verify.json"]),
                       (tmp_path / "gone.partial", ["gone.partial", "not found"])):
        assert cli.main(["verify", str(arg)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_verify_out_is_the_parent_of_one_report_per_paper(tmp_path, capsys, monkeypatch, traps):
    """`verify all --out X` writes one report directory per paper under X (here two fake papers)."""
    import scanflow.verify.framework as fw

    CTRL_C.clear()
    check("trap-paper-2", "U1", "another paper's check", "T")(_trap("U1"))
    register_paper("trap-paper-2", __name__)
    monkeypatch.setattr(fw, "papers", lambda: ["trap-paper", "trap-paper-2"])
    (tmp_path / "keep.txt").write_text("an existing --out directory is fine: it is a parent\n")
    assert cli.main(["verify", "all", "--quick", "--out", str(tmp_path)]) == 0
    a, b = _report(tmp_path, "trap-paper-quick-*"), _report(tmp_path, "trap-paper-2-quick-*")
    assert json.loads((a / "verify.json").read_text())["checks"] == ["T1", "T2", "T3"]
    assert [v["check"] for v in json.loads((b / "verdicts.json").read_text())] == ["U1"]
    assert cli.main(["verify", "trap-paper", "--out", str(tmp_path / "keep.txt")]) == 2
    assert "--out" in capsys.readouterr().err


def test_plot_out_is_the_parent_of_a_new_figure_directory(tmp_path, monkeypatch, capsys):
    """`plot RUN --out X` writes X/RUN_NAME-figures (then -1, ...: never over an earlier one); a failing
    plot leaves nothing under X. The drawing itself is stubbed: only the CLI's placement is tested here."""
    from scanflow.engine import figures

    def fake_plot_run(run_dir, out_dir=None, prefix=""):
        out = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
        out.mkdir(parents=True, exist_ok=True)
        (out / "loss.png").write_bytes(b"png")
        return [out / "loss.png"]

    run = tmp_path / "scan_snap_small-20250101-000000"
    run.mkdir()
    monkeypatch.setattr(figures, "plot_run", fake_plot_run)
    out = tmp_path / "figs"
    for k, name in enumerate([f"{run.name}-figures", f"{run.name}-figures-1"]):
        assert cli.main(["plot", str(run), "--out", str(out)]) == 0
        assert f"figure {out / name / 'loss.png'}" in capsys.readouterr().out
        assert sorted(p.name for p in out.iterdir())[k] == name and (out / name / "loss.png").is_file()
    assert cli.main(["plot", str(run)]) == 0 and (run / "figures" / "loss.png").is_file()  # no --out: in place

    def broken(run_dir, out_dir=None, prefix=""):
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "half.png").write_bytes(b"")
        raise FileNotFoundError("a damaged run")

    monkeypatch.setattr(figures, "plot_run", broken)
    assert cli.main(["plot", str(run), "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_out_help_has_one_meaning():
    text = {c: " ".join(cli._parser()._subparsers._group_actions[0].choices[c].format_help().split())
            for c in ("run", "verify", "plot")}
    for c, made in (("run", "run"), ("verify", "report"), ("plot", "figure")):
        assert f"parent directory of the {made} directory that this command creates" in text[c], text[c]


def test_a_closed_pipe_ends_quietly():
    p = subprocess.run(f"{sys.executable} -m scanflow.cli verify | head -c 0", shell=True, capture_output=True,
                       text=True, cwd=ROOT)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_compiling_line_and_provenance(tmp_path, capsys):
    assert cli.main(["run", CONFIG, *TINY, "--out", str(tmp_path), "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "compiling 4 runs (2 points x 2 seeds)" in err
    (run_dir,) = tmp_path.iterdir()
    m = manifest_of(load_run(run_dir))
    prov = m["provenance"]
    assert m["started"] <= m["ended"]
    assert prov["versions"]["jax"] and prov["device_kind"] == ["cpu"] and "xla_flags" in prov
    assert prov["git"] is None or (len(prov["git"]["commit"]) == 40 and isinstance(prov["git"]["dirty"], bool))
    assert m["timings"]["compile_cache"]["programs_from"] in ("compiled", "persistent cache", "mixed", "in-process")


def test_reports_carry_provenance(tmp_path, capsys, traps):
    assert cli.main(["verify", "trap-paper", "--only", "T1", "--out", str(tmp_path / "r")]) == 0
    prov = json.loads((_report(tmp_path / "r") / "provenance.json").read_text())
    assert prov["versions"]["scanflow"] and "git" in prov and prov["title"] == "scanflow verify trap-paper"
    rows = json.loads((_report(tmp_path / "r") / "verdicts.json").read_text())
    assert rows and all(r["provenance"]["versions"] == prov["versions"] and r["provenance"]["git"] == prov["git"]
                        for r in rows)
