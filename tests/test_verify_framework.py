"""The check framework: verdict logic, exit codes, the report files, the verify CLI."""

import json
import subprocess
import sys

import pytest

import numpy as np

from scanflow.verify import REGISTRY, Context, Result, check, exit_code, meter, run_checks, trend, write_report
from scanflow.verify.framework import recorded_outcomes


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
    met, unmet = meter("n / L^2", 4.0, ">=", 1.0, ref="Thm 2"), meter("(K-1) rho", 0.62, "<", 0.5, ref="A2")
    rng = np.random.default_rng(0)
    shrinking = trend("n", [60, 120, 240, 480], [0.2 / 2**i + 0.005 * rng.standard_normal(8) for i in range(4)])
    flat = trend("n", [60, 120, 240, 480], [0.2 + 0.005 * rng.standard_normal(8) for _ in range(4)])

    def sim(ok, assumptions, regime=None):
        return lambda ctx: Result({"x": 1.0}, {"x": 2.0}, "exact", ok, assumptions=assumptions, regime=regime)

    check(paper, "F", "fails outside A2", "P")(sim(False, [met, unmet]))
    check(paper, "G", "fails, converges along n", "P")(sim(False, [met, unmet], shrinking))
    check(paper, "H", "fails inside every assumption", "P")(sim(False, [met], flat))
    check(paper, "I", "holds outside A2", "P")(sim(True, [unmet]))
    yield paper
    REGISTRY.pop(paper, None)


def test_verdicts_exit_code_and_report(toy_paper, tmp_path):
    ctx = Context(quick=True, fig_dir=tmp_path / "figs")
    outcomes = run_checks(toy_paper, ctx, log=None)
    verdicts = ["PASS", "FAIL", "XFAIL", "XPASS", "ERROR", "OUTSIDE", "CONVERGES", "FAIL", "PASS"]
    assert [o.verdict for o in outcomes] == verdicts
    assert exit_code(outcomes) == 1
    assert exit_code([o for o in outcomes if o.check.name in ("A", "C", "D", "F", "G", "I")]) == 0  # only FAIL, ERROR
    out = write_report(tmp_path / "report", "toy", outcomes, ctx.fig_dir)
    md = (out / "report.md").read_text()
    assert "| A | **PASS** |" in md and "| C | **XFAIL** |" in md and "paper assumes X" in md
    assert "ZeroDivisionError" in md
    row_B = next(line for line in md.splitlines() if line.startswith("| B |"))
    assert "breaks \\|\\|u\\|\\|" in row_B  # a pipe inside a cell is escaped ...
    assert row_B.replace("\\|", "").count("|") == 10  # ... so the row keeps its 9 columns
    assert "Verdicts: PASS 2, FAIL 2, OUTSIDE 1, CONVERGES 1, XFAIL 1, XPASS 1, ERROR 1" in md
    sim_part, theory_part = md.index("## Simulation against theory"), md.index("## Theory self-consistency")
    assert sim_part < md.index("| F | **OUTSIDE** |") < theory_part < md.index("| A | **PASS** |")
    assert "NOT MET: (K-1) rho = 0.62 (needs < 0.5)" in md and "shrinks" in md and "does not shrink" in md
    assert (out / "figures" / "a.png").is_file() and "(figures/a.png)" in md
    v = json.loads((out / "verdicts.json").read_text())
    assert [x["verdict"] for x in v] == verdicts
    again = recorded_outcomes(out, toy_paper)  # a resumed report rebuilds meters and paths: same verdicts
    assert [again[o.check.name].verdict for o in outcomes] == verdicts
    assert v[1]["measured"] == {"x": 2.0} and v[1]["predicted"] == {"x": 1.0}
    with pytest.raises(FileExistsError):
        write_report(out, "toy", outcomes, ctx.fig_dir)


def test_trend_statistics():
    """The slope and its standard error come from the seed means (least squares against log10 x): a
    violation halving per doubling of n has slope log10(0.5)/log10(2) * v0 per decade at v0 ... it
    shrinks; a flat one with noise does not; a path that ends at 0 within 2 se reaches zero."""
    xs = [1, 10, 100]
    exact = trend("n", xs, [np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([0.0, 0.0])])
    assert abs(exact.slope + 0.5) < 1e-12 and exact.slope_se == 0.0 and exact.shrinks and exact.reaches_zero
    noisy = trend("n", xs, [np.array([1.0, 1.2]), np.array([1.1, 0.9]), np.array([1.0, 1.1])])
    assert not noisy.shrinks
    assert not trend("n", xs, [np.array([1.0]), np.array([2.0]), np.array([3.0])]).shrinks  # grows
    assert meter("x", 10.0, ">>", 1.0).met and not meter("x", 9.0, ">>", 1.0).met  # >> reads as >= 10x
    assert not meter("x", float("nan"), "<", 1.0).met


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
