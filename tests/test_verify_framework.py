"""The check framework: verdict logic, exit codes, the report files, the verify CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import numpy as np

from scanflow.verify import (REGISTRY, Context, Result, all_of, at_least, at_most, check, close, exit_code, holds, meter,
                             observe, run_checks, trend, write_report)
from scanflow.verify.framework import recorded_outcomes, why


@pytest.fixture
def toy_paper(tmp_path):
    """One check per branch of the verdict rules (`scanflow.verify.framework.verdict`)."""
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
    xs = [60, 120, 240, 480]
    to_zero = [0.2 / 4**i - 0.01 + 0.002 * rng.standard_normal(8) for i in range(4)]  # ends inside the claim
    shrinking = trend("n", xs, to_zero, gate="gap")
    not_reaching = trend("n", xs, [0.4 + 0.2 / 2**i + 0.005 * rng.standard_normal(8) for i in range(4)], gate="gap")
    flat = trend("n", xs, [0.2 + 0.005 * rng.standard_normal(8) for _ in range(4)], gate="gap")
    two_points = trend("n", xs[:2], to_zero[:2], gate="gap")
    other_gate = trend("n", xs, to_zero, gate="slope")

    def sim(ok, assumptions, regime=None, outside=()):
        gate = all_of(at_most("gap", 0.0 if ok else 0.3, 0.1), at_least("slope", 1.0, 0.5))
        return lambda ctx: Result({"x": 1.0}, {"x": 2.0}, assumptions=assumptions, regime=regime, outside=list(outside),
                                  **gate.result_fields())

    check(paper, "F", "fails outside A2, no path", "P")(sim(False, [met, unmet]))
    check(paper, "G", "fails outside A2, converges along n", "P")(sim(False, [met, unmet], shrinking))
    check(paper, "H", "fails inside every assumption (a path cannot excuse it)", "P")(sim(False, [met], shrinking))
    check(paper, "I", "holds outside A2", "P")(sim(True, [unmet]))
    check(paper, "J", "fails outside A2, the path shrinks but stops short", "P")(sim(False, [unmet], not_reaching))
    check(paper, "K", "fails outside A2, flat path", "P")(sim(False, [unmet], flat))
    check(paper, "L", "fails outside A2, a 2-point path", "P")(sim(False, [unmet], two_points))
    check(paper, "M", "fails outside A2, the path measures a gate that passed", "P")(sim(False, [unmet], other_gate))
    outside = observe("a smaller n", at_most("gap", 0.3, 0.1), [unmet])
    check(paper, "N", "holds at home, fails outside (observed)", "P", home="n = 480")(sim(True, [met], outside=[outside]))
    check(paper, "O", "holds, but no home setting exists", "P", no_home="n >> L^2 is out of reach")(sim(True, [met]))
    yield paper
    REGISTRY.pop(paper, None)


VERDICTS = {"A": "PASS", "B": "FAIL", "C": "XFAIL", "D": "XPASS", "E": "ERROR", "F": "FAIL", "G": "CONVERGES",
            "H": "FAIL", "I": "UNTESTED", "J": "FAIL", "K": "FAIL", "L": "FAIL", "M": "FAIL", "N": "PASS",
            "O": "UNTESTED"}


def test_each_branch_of_the_verdict_rules(toy_paper, tmp_path):
    ctx = Context(quick=True, fig_dir=tmp_path / "figs")
    outcomes = run_checks(toy_paper, ctx, log=None)
    assert {o.check.name: o.verdict for o in outcomes} == VERDICTS
    by = {o.check.name: o for o in outcomes}
    assert "no regime path" in why(by["F"]) and "(K-1) rho" in why(by["F"])  # the unmet assumption is named
    assert "does not reach the claim" in why(by["J"]) and "does not shrink" in why(by["K"])
    assert "fewer than 3 points" in why(by["L"]) and "'slope', not a failed term" in why(by["M"])
    assert "reaches the claim" in why(by["G"])
    assert exit_code(outcomes) == 1
    for name, bad in (("B", "FAIL"), ("D", "XPASS"), ("E", "ERROR"), ("F", "FAIL")):
        assert exit_code([by["A"], by[name]]) == 1, bad  # each failing verdict alone fails the run
    assert exit_code([by[n] for n in "ACGINO"]) == 0  # PASS, XFAIL, CONVERGES, UNTESTED do not


def test_report_reads_top_to_bottom(toy_paper, tmp_path):
    ctx = Context(quick=True, fig_dir=tmp_path / "figs")
    outcomes = run_checks(toy_paper, ctx, log=None)
    out = write_report(tmp_path / "report", "toy", outcomes, ctx.fig_dir)
    md = (out / "report.md").read_text()
    assert "| A | **PASS** |" in md and "| C | **XFAIL** |" in md and "paper assumes X" in md
    assert "| N | **PASS** + OUTSIDE (1) |" in md and "a smaller n: fails" in md
    assert "ZeroDivisionError" in md
    row_B = next(line for line in md.splitlines() if line.startswith("| B |"))
    assert "breaks \\|\\|u\\|\\|" in row_B  # a pipe inside a cell is escaped ...
    assert row_B.replace("\\|", "").count("|") == 6  # ... so the row keeps its 5 columns
    assert "Verdicts: PASS 2, FAIL 7, CONVERGES 1, UNTESTED 2, XFAIL 1, XPASS 1, ERROR 1; OUTSIDE observations 1" in md
    sim_part, theory_part = md.index("## Simulation against theory"), md.index("## Theory self-consistency")
    assert sim_part < md.index("| F | **FAIL** |") < theory_part < md.index("| A | **PASS** |")
    g = md[md.index("### G: CONVERGES"):md.index("### H:")]  # claim, assumptions, prediction, measurement, verdict
    order = [g.index(k) for k in ("**Claim.**", "**Assumptions.**", "**Prediction.**", "**Measurement.**", "**Verdict:")]
    assert order == sorted(order)
    assert "| (K-1) rho | 0.62 | < 0.5 | **NO** | A2 |" in g and "| gap | <= 0.1 | 0.3 | **NO** |" in g
    assert "No home setting" in md and "n >> L^2 is out of reach" in md
    assert (out / "figures" / "a.png").is_file() and "(figures/a.png)" in md
    v = json.loads((out / "verdicts.json").read_text())
    assert {x["check"]: x["verdict"] for x in v} == VERDICTS
    again = recorded_outcomes(out, toy_paper)  # a resumed report rebuilds meters, paths and terms: same verdicts
    assert {n: o.verdict for n, o in again.items()} == VERDICTS
    assert v[1]["measured"] == {"x": 2.0} and v[1]["predicted"] == {"x": 1.0}
    with pytest.raises(FileExistsError):
        write_report(out, "toy", outcomes, ctx.fig_dir)


def test_trend_statistics():
    """The slope and its standard error come from the seed means (least squares against log10 x): a
    violation halving per decade shrinks; a flat one with noise does not; a path whose last mean is
    inside the claim (<= 0) reaches it, one whose fitted trend stays above 0 does not."""
    xs = [1, 10, 100]
    exact = trend("n", xs, [np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([0.0, 0.0])], gate="g")
    assert abs(exact.slope + 0.5) < 1e-12 and exact.slope_se == 0.0 and exact.shrinks and exact.reaches
    assert exact.decides and not trend("n", xs[:2], [np.ones(2), np.zeros(2)], gate="g").decides  # >= 3 points
    assert not trend("n", xs, [np.ones(2), 0.5 * np.ones(2), np.zeros(2)]).decides  # no gate named
    short = trend("n", xs, [np.array([1.0, 1.0]), np.array([0.8, 0.8]), np.array([0.6, 0.6])], gate="g")
    assert short.shrinks and not short.reaches  # the line at x = 100 is 0.6 > 0
    crossing = trend("n", xs, [np.array([1.0, 1.1]), np.array([0.5, 0.4]), np.array([0.05, 0.1])], gate="g")
    assert crossing.shrinks and crossing.reaches  # last mean 0.075 > 0, but the fit minus 2 se crosses 0
    noisy = trend("n", xs, [np.array([1.0, 1.2]), np.array([1.1, 0.9]), np.array([1.0, 1.1])])
    assert not noisy.shrinks and not noisy.reaches
    assert not trend("n", xs, [np.array([1.0]), np.array([2.0]), np.array([3.0])]).shrinks  # grows
    assert meter("x", 10.0, ">>", 1.0).met and not meter("x", 9.0, ">>", 1.0).met  # >> reads as >= 10x
    assert not meter("x", float("nan"), "<", 1.0).met
    with pytest.raises(TypeError, match="computed from the run"):
        holds("a literal", "yes", "yes")


def test_gates_record_terms_and_our_thresholds():
    g = all_of(at_most("ratio", 1.5, 2.0, ours="x2 is our band for O(1)"), close("t", 10.0, 10.0, rtol=0.1))
    f = g.result_fields()
    assert f["passed"] and [t[0] for t in f["terms"]] == ["ratio", "t"]
    assert f["terms"][0][4] == "x2 is our band for O(1)" and "[our threshold: x2 is our band for O(1)]" in f["tolerance"]
    bad = all_of(at_most("ratio", 2.5, 2.0), close("t", 10.0, 10.0, rtol=0.1))
    assert not bad.passed and bad.failed == ["ratio"]
    r = Result({}, {}, **bad.result_fields())
    assert r.failed_terms == ["ratio"]


def test_every_converges_and_outside_in_a_report_obeys_the_rules(toy_paper, tmp_path):
    """The rules of the verdict scale, read back off verdicts.json (what a reviewer would check):
    CONVERGES has an unmet meter and a >= 3-point path on a failed term reaching the claim; OUTSIDE
    observations sit beside a verdict, never alone; PASS has every meter met."""
    outcomes = run_checks(toy_paper, Context(quick=True, fig_dir=tmp_path / "f"), log=None)
    out = write_report(tmp_path / "rep", "toy", outcomes, tmp_path / "f")
    assert_rules(json.loads((out / "verdicts.json").read_text()))


def assert_rules(rows: list[dict]) -> None:
    """Shared with the paper tests: every row of a verdicts.json obeys the verdict scale."""
    for x in rows:
        v = x["verdict"]
        if "error" in x:
            assert v == "ERROR"
            continue
        unmet = [a for a in x["assumptions"] if not a["met"]]
        failed = [t[0] for t in x["terms"] if not t[3]]
        if v == "CONVERGES":
            p = x["regime"]
            assert unmet and not x["passed"] and len(p["xs"]) >= 3 and p["gate"] in failed, x["check"]
            assert p["shrinks"] and p["reaches"], x["check"]
        if v == "PASS":
            assert x["passed"] and not unmet and not x["no_home"], x["check"]
        if v == "UNTESTED":
            assert x["passed"] and (unmet or x["no_home"]), x["check"]
        if v == "FAIL":
            assert not x["passed"], x["check"]
        if x["outside"]:
            assert v in ("PASS", "FAIL", "CONVERGES", "UNTESTED", "XFAIL", "XPASS"), x["check"]


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


def test_no_meter_in_the_code_base_is_a_literal():
    """A meter measures: no `holds(name, True/False, ...)` and no `meter(name, <constant>, ...)` anywhere in
    scanflow or the example (a literal measures nothing, so a check behind it cannot fail)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in [*(root / "scanflow").rglob("*.py"), *(root / "examples").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            value = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg in ("ok", "value")), None)
            if name in ("holds", "meter") and isinstance(value, ast.Constant):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, found


def test_ready_made_gates_pass_and_fail_on_their_own_numbers():
    """Each ready-made gate: a case that holds and one that fails, with the number it rests on."""
    import xarray as xr

    from scanflow.verify.compare import exact, ratio_within, seed_mean, trend_sign

    rng = np.random.default_rng(0)
    draws = xr.DataArray(1.0 + 0.1 * rng.standard_normal((400, 3)), dims=("seed", "record"))
    # 400 seeds of N(1, 0.1): se = 0.005 per record; alpha = 1e-3: this true prediction fails 1 time in 1000
    assert seed_mean("mean", draws, 1.0, alpha=1e-3).passed
    off = seed_mean("mean", draws, [1.0, 1.0, 1.05], alpha=1e-3)  # 10 se away at the last record only
    assert not off.passed and off.terms[0][2] > 5 and "(2,)" in off.text
    assert seed_mean("mean", draws, 1.05, slack=0.06, alpha=1e-3).passed  # a band the claim allows
    with pytest.raises(ValueError, match="2 seeds"):
        seed_mean("one seed", draws[:1], 1.0)
    x = np.arange(6.0)
    y = np.stack([2 * x + rng.standard_normal(6) * 0.1 for _ in range(3)], axis=1)
    assert trend_sign("up", x, y).passed and not trend_sign("down", x, y, sign=-1).passed
    assert not trend_sign("flat", x, np.ones((6, 3)) + rng.standard_normal((6, 3))).passed
    assert exact("identity", 0.1 + 0.2, 0.3).passed  # one rounding: 1 ulp
    assert not exact("identity", np.float32(0.1) + np.float32(0.2), 0.3).passed  # float32 rounding is no identity
    assert ratio_within("law", 3.0, 2.0, factor=2).passed and not ratio_within("law", 5.0, 2.0, factor=2).passed
    assert not ratio_within("law", float("nan"), 2.0, factor=2).passed


def test_context_run_returns_the_dataset_load_run_gives(tmp_path):
    import scanflow
    from scanflow.verify import Context

    small = ["train.steps=4", "train.record_every=2", "sweep.seeds=2", "data.seq_len=16", "data.batch_size=8"]
    config = Path(__file__).resolve().parents[1] / "configs" / "scan_snap_small.yaml"
    ds = Context(quick=True, fig_dir=tmp_path).run(config, *small)
    on_disk = scanflow.run(config, small, out_dir=tmp_path / "runs")
    assert set(ds.dims) == set(on_disk.dims) and list(ds.data_vars) == list(on_disk.data_vars)
    np.testing.assert_array_equal(ds.train_loss.values, on_disk.train_loss.values)


def test_seed_mean_fails_a_true_prediction_at_its_stated_rate():
    """Calibration of the per-record gate: over 1000 synthetic sweeps of a true prediction (10 seeds,
    20 records) it fails at rate alpha = 0.05; the binomial se of the rate is 0.0069, so [0.03, 0.07]
    is +- 2.9 se. A per-record 2-se rule would fail ~50% (1 - 0.93^20 with t tails) and is caught here."""
    from scanflow.verify.compare import seed_mean

    rng = np.random.default_rng(1)
    rate = np.mean([not seed_mean("m", 1 + 0.1 * rng.standard_normal((10, 20)), 1.0).passed for _ in range(1000)])
    assert 0.03 <= rate <= 0.07, rate


def test_no_check_writes_its_pass_bit_by_hand():
    """Every built-in and example check takes passed, tolerance and terms from one gate
    (``**gate.result_fields()``): no ``Result(passed=...)`` beside a separate tolerance text."""
    import ast

    root = Path(__file__).resolve().parents[1]
    files = [*(root / "scanflow" / "papers").rglob("*.py"), *(root / "examples").rglob("*.py")]
    bad = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Result":
                if any(k.arg == "passed" for k in node.keywords):
                    bad.append(f"{f.relative_to(root)}:{node.lineno}")
    assert not bad, bad


def test_context_run_shares_a_setting_and_a_mutant_does_not_reuse_it(tmp_path, monkeypatch):
    """Two checks asking for one resolved config get one run (the same Dataset object); a config that differs
    in one field, or the same config under a mutation, is run again."""
    from scanflow.engine import run as run_module
    from scanflow.verify import Context
    from scanflow.verify.framework import _RUNS
    from scanflow.verify.mutation import MUTATIONS, Mutation, mutated

    _RUNS.clear()  # an earlier test may have run this setting
    calls = []
    real = run_module.run
    monkeypatch.setattr(run_module, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    ctx = Context(quick=True, fig_dir=tmp_path)
    config = Path(__file__).resolve().parents[1] / "configs" / "scan_snap_small.yaml"
    small = ["train.steps=4", "train.record_every=2", "sweep.seeds=2", "data.seq_len=16", "data.batch_size=8"]
    a = ctx.run(config, *small)
    assert ctx.run(config, *reversed(small)) is a and len(calls) == 1
    assert ctx.run(config, *small, "train.steps=6") is not a and len(calls) == 2
    monkeypatch.setitem(MUTATIONS, "noop-test", Mutation("scan-snap", "noop-test", "nothing", lambda patch: None, ()))
    with mutated("noop-test"):
        assert ctx.run(config, *small) is not a and len(calls) == 3


def test_verify_from_python_writes_the_report_the_command_writes(tmp_path, capsys):
    """`scanflow.verify.verify` is the command's orchestration: the exit status, one report directory per paper
    with report.md and verdicts.json; bad options raise one-line ConfigErrors before anything is written."""
    import json

    from scanflow.engine.validation import ConfigError
    from scanflow.verify import verify

    assert verify("online-sgd", quick=True, only=["O3-gradient-flow-prediction"], out=str(tmp_path / "r")) == 0
    (report,) = (tmp_path / "r").iterdir()
    assert report.name.startswith("online-sgd-quick-") and (report / "report.md").is_file()
    assert [v["verdict"] for v in json.loads((report / "verdicts.json").read_text())] == ["XFAIL"]
    for kwargs, word in (({"paper": "nopaper"}, "unknown paper"), ({"paper": None, "quick": True}, "needs a paper name"),
                         ({"paper": "online-sgd", "only": ["O9"]}, "O9"),
                         ({"paper": "online-sgd", "mutant": "nomutant"}, "nomutant")):
        with pytest.raises(ConfigError, match=word):
            verify(**kwargs, out=str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
