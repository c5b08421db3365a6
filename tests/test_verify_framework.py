"""The check framework: verdict logic, exit codes, the report files, the verify CLI."""

import json
import subprocess
import sys

import pytest

from scanflow.verify import REGISTRY, Context, Result, check, exit_code, run_checks, write_report


@pytest.fixture
def toy_paper(tmp_path):
    paper = "toy-paper"
    REGISTRY.pop(paper, None)

    def res(ok, ctx=None, fig=None):
        return Result(predicted={"x": 1.0}, measured={"x": 1.0 if ok else 2.0}, tolerance="exact", passed=ok, figure=fig)

    @check(paper, "A", "holds", "T")
    def a(ctx):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1])
        ctx.fig_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(ctx.fig_dir / "a.png")
        plt.close(fig)
        return res(True, fig="a.png")

    check(paper, "B", "breaks ||u||", "T")(lambda ctx: res(False))
    check(paper, "C", "unsupported", "T", expected="fail", why_fail="paper assumes X")(lambda ctx: res(False))
    check(paper, "D", "unsupported but holds", "T", expected="fail", why_fail="Y")(lambda ctx: res(True))
    check(paper, "E", "crashes", "T")(lambda ctx: 1 / 0)
    yield paper
    REGISTRY.pop(paper, None)


def test_verdicts_exit_code_and_report(toy_paper, tmp_path):
    ctx = Context(quick=True, fig_dir=tmp_path / "figs")
    outcomes = run_checks(toy_paper, ctx, log=None)
    assert [o.verdict for o in outcomes] == ["PASS", "FAIL", "XFAIL", "XPASS", "ERROR"]
    assert exit_code(outcomes) == 1
    assert exit_code([o for o in outcomes if o.check.name in ("A", "C", "D")]) == 0  # XFAIL/XPASS do not fail
    out = write_report(tmp_path / "report", "toy", outcomes, ctx.fig_dir)
    md = (out / "report.md").read_text()
    assert "| A | **PASS** |" in md and "| C | **XFAIL** |" in md and "paper assumes X" in md
    assert "ZeroDivisionError" in md
    row_B = next(line for line in md.splitlines() if line.startswith("| B |"))
    assert "breaks \\|\\|u\\|\\|" in row_B  # a pipe inside a cell is escaped ...
    assert row_B.replace("\\|", "").count("|") == 9  # ... so the row keeps its 8 columns
    assert (out / "figures" / "a.png").is_file() and "(figures/a.png)" in md
    v = json.loads((out / "verdicts.json").read_text())
    assert [x["verdict"] for x in v] == ["PASS", "FAIL", "XFAIL", "XPASS", "ERROR"]
    assert v[1]["measured"] == {"x": 2.0} and v[1]["predicted"] == {"x": 1.0}
    with pytest.raises(FileExistsError):
        write_report(out, "toy", outcomes, ctx.fig_dir)


def test_only_and_unknown_names(toy_paper, tmp_path):
    ctx = Context(quick=True, fig_dir=tmp_path)
    assert [o.check.name for o in run_checks(toy_paper, ctx, only=["C"], log=None)] == ["C"]
    with pytest.raises(KeyError, match="unknown check"):
        run_checks(toy_paper, ctx, only=["Z9"], log=None)
    with pytest.raises(KeyError, match="unknown paper"):
        run_checks("no-such-paper", ctx, log=None)


def test_verify_cli_bad_input(tmp_path):
    for args, word in ((["verify", "nopaper"], "unknown paper"), (["verify", "scan-snap", "--only", "S99"], "S99")):
        p = subprocess.run([sys.executable, "-m", "scanflow.cli", *args, "--out", str(tmp_path / "r")],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 2 and word in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "r").exists()
