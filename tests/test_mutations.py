"""Mutation testing: the simulator broken on purpose must make `scanflow verify` say FAIL.

The default suite checks the declarations (every paper has mutations, each names the checks it
kills, each patch is undone) and the published matrix (docs/mutations/*.json, written by
sims/mutation_matrix.py): it lists every check the paper declares now, the unmodified simulator
gives no FAIL and no ERROR, every mutation gives a FAIL and a non-zero exit, and every check that
simulates is killed by at least one mutation. One mutation per paper runs for real on its killed
checks; ``pytest -m slow`` runs every mutation that way.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanflow.verify.framework import load_paper
from test_verify_framework import assert_rules
from scanflow.verify.mutation import Patch, mutations

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ["scan-snap", "cooccurrence", "norm-growth", "real-text"]
ALL = mutations()
BUILT_IN = {n: m for n, m in ALL.items() if m.paper in PAPERS}


def test_each_paper_declares_mutations_that_name_their_kills():
    assert len(BUILT_IN) >= 8
    for paper in PAPERS:
        checks = load_paper(paper)
        mine = [m for m in BUILT_IN.values() if m.paper == paper]
        assert mine, f"{paper} declares no mutation"
        for m in mine:
            assert m.bug and m.kills, m.name
            assert set(m.kills) <= set(checks), (m.name, m.kills)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_mutation_patches_something_and_is_undone(name):
    patch = Patch()
    BUILT_IN[name].apply(patch)
    replaced = [(target, attr, old) for target, attr, old in patch._undo]
    assert replaced, f"{name} replaces nothing"
    assert all(getattr(t, a) is not old for t, a, old in replaced)
    patch.undo()
    assert all(getattr(t, a) is old for t, a, old in replaced)


def _matrix(paper: str) -> dict:
    path = ROOT / "docs" / "mutations" / f"{paper}.json"
    assert path.is_file(), f"{path}: run python sims/mutation_matrix.py --paper {paper}"
    return json.loads(path.read_text())


@pytest.mark.parametrize("paper", PAPERS)
def test_the_published_matrix_kills_every_simulating_check(paper):
    m, checks = _matrix(paper), load_paper(paper)
    base = m["unmodified"]["verdicts"]
    assert list(base) == list(checks), "the matrix is stale: re-run sims/mutation_matrix.py"
    assert set(m["mutations"]) == {n for n, x in BUILT_IN.items() if x.paper == paper}
    assert not [c for c, v in base.items() if v in ("FAIL", "ERROR", "XPASS")], base
    assert m["unmodified"]["exit"] == 0
    assert_rules(m["unmodified"]["rows"])  # every CONVERGES and OUTSIDE of the unmodified quick report obeys the rules
    for name, col in m["mutations"].items():
        fails = {c for c, v in col["verdicts"].items() if v == "FAIL"}
        assert col["exit"] == 1 and fails, (name, col["verdicts"])
        assert set(BUILT_IN[name].kills) <= fails, (name, BUILT_IN[name].kills, fails)
    for c, check in checks.items():
        if check.mode == "T" or check.expected == "fail":
            continue
        assert any(col["verdicts"].get(c) == "FAIL" for col in m["mutations"].values()), f"{paper} {c}: no mutation kills it"
    text = (ROOT / "docs" / "mutations.md").read_text()
    assert f"## {paper}" in text and all(f"`{n}`" in text for n in m["mutations"])


def _corpus(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_real_text import write_skip_bigram_text

    d = tmp_path / "text"
    d.mkdir()
    write_skip_bigram_text(d / "test.txt", 1000, seed=0)
    write_skip_bigram_text(d / "valid.txt", 200, seed=1)
    return d


def _run_mutant(name: str, tmp_path: Path, only: tuple = ()) -> None:
    """`scanflow verify PAPER --quick --mutant NAME --only K...` over the checks it kills: exit 1, each K FAIL.
    real-text's kills are measured on WikiText-2: with $SCANFLOW_CORPUS pointing at a copy they are asserted
    check by check; without it the tests' written text stands in, and at least one check must FAIL."""
    m = ALL[name]
    cmd = [sys.executable, "-m", "scanflow.cli", "verify", m.paper, "--quick", "--mutant", name,
           "--out", str(tmp_path / "r")]
    corpus = os.environ.get("SCANFLOW_CORPUS")
    if m.paper == "real-text":
        cmd += ["--data", corpus or str(_corpus(tmp_path))]
    kills = only or m.kills
    for c in kills:
        cmd += ["--only", c]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    (report,) = (tmp_path / "r").iterdir()
    rows = {r["check"]: r["verdict"] for r in json.loads((report / "verdicts.json").read_text())}
    assert p.returncode == 1, (p.returncode, rows, p.stderr[-2000:])
    if m.paper == "real-text" and not corpus:
        assert "FAIL" in rows.values(), rows
    else:
        assert all(rows[c] == "FAIL" for c in kills), rows
    assert "MUTANT" in (report / "report.md").read_text()


# In the default suite: the external example's (a plug-in's own mutation, found through its entry point) and a
# cheap killing run for the papers whose own tests run none (scan-snap's and real-text's tests run theirs).
QUICK = [("ln-w2-rate-half", ()), ("ng-lr-fiftieth", ("C8",)), ("co-frozen-attention", ("7",))]


@pytest.mark.parametrize("name,only", [q for q in QUICK if q[0] in ALL])
def test_a_mutation_makes_verify_fail(name, only, tmp_path):
    _run_mutant(name, tmp_path, only)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_mutation_makes_verify_fail(name, tmp_path):
    _run_mutant(name, tmp_path)


def test_mutant_bad_input_is_one_line(tmp_path, capsys):
    from scanflow.cli import main

    out = tmp_path / "r"
    for args, words in ((["verify", "linear-net", "--mutant", "nope"], ["--mutant", "nope", "ln-w2-rate-half"]),
                        (["verify", "all", "--mutant", "ln-w2-rate-half"], ["--mutant", "one paper"]),
                        (["verify", "--mutant", "ln-w2-rate-half"], ["needs a paper name"]),
                        (["verify", "scan-snap", "--mutant", "ln-w2-rate-half"], ["--mutant", "scan-snap"])):
        assert main([*args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and all(w in err for w in words), (args, err)
    assert not out.exists()
