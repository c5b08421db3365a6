"""The mutation matrix: every declared mutation against its paper's quick verify, check by check.

    python sims/mutation_matrix.py                          # every paper that needs no --data
    python sims/mutation_matrix.py --paper scan-snap        # one paper (repeatable)
    python sims/mutation_matrix.py --paper real-text --data data/wikitext-2
    python sims/mutation_matrix.py --render                 # only rewrite docs/mutations.md from the JSON

For each paper it runs ``scanflow verify PAPER --quick`` once unmodified and once per mutation
(``--mutant NAME``), each in a fresh process, and writes the verdicts with the exit codes to
docs/mutations/PAPER.json; docs/mutations.md is then drawn from every JSON there. A paper is
re-run only when named, so the matrix of one paper can be refreshed on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
JSON_DIR = DOCS / "mutations"


def _verify(paper: str, mutant: str | None, data: str | None, out: Path) -> dict:
    cmd = [sys.executable, "-m", "scanflow.cli", "verify", paper, "--quick", "--out", str(out)]
    cmd += ["--data", data] if data else []
    cmd += ["--mutant", mutant] if mutant else []
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    reports = sorted(out.glob(f"{paper}-quick*"), key=lambda d: d.stat().st_mtime)
    if not reports or not (reports[-1] / "verdicts.json").is_file():
        raise RuntimeError(f"{' '.join(cmd)}: no report (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    rows = json.loads((reports[-1] / "verdicts.json").read_text())
    for d in reports:  # the next run's glob must find only its own report
        d.rename(d.with_name(f"done-{d.name}"))
    return {"exit": p.returncode, "wall_s": round(wall, 1),
            "verdicts": {r["check"]: r["verdict"] for r in rows},
            "rows": [_rule_fields(r) for r in rows],
            "modes": {r["check"]: r["mode"] for r in rows},
            "expected": {r["check"]: r["expected"] for r in rows}}


def _rule_fields(r: dict) -> dict:
    """What the verdict rules read, kept so a test can re-check them (tests/test_verify_framework.assert_rules)."""
    if "error" in r:
        return {"check": r["check"], "verdict": r["verdict"], "error": r["error"][-300:]}
    keep = ("check", "verdict", "passed", "no_home", "expected", "why")
    return {**{k: r.get(k) for k in keep},
            "assumptions": [{"name": a["name"], "met": a["met"]} for a in r["assumptions"]],
            "terms": [t[:2] + [None, t[3]] for t in r["terms"]],
            "regime": None if r["regime"] is None else {k: r["regime"][k] for k in ("xs", "gate", "shrinks", "reaches")},
            "outside": [o["setting"] for o in r["outside"]]}


def run_paper(paper: str, data: str | None) -> dict:
    from scanflow.verify.mutation import mutations

    muts = mutations(paper)
    with tempfile.TemporaryDirectory() as tmp:
        base = _verify(paper, None, data, Path(tmp))
        print(f"{paper}: unmodified: exit {base['exit']} ({base['wall_s']} s)", flush=True)
        cols = {}
        for name, m in muts.items():
            cols[name] = {k: v for k, v in _verify(paper, name, data, Path(tmp)).items()
                          if k in ("exit", "wall_s", "verdicts")}  # the rules' fields are kept for the unmodified run
            fails = [c for c, v in cols[name]["verdicts"].items() if v == "FAIL"]
            print(f"{paper}: {name}: exit {cols[name]['exit']} ({cols[name]['wall_s']} s); FAIL: {fails}", flush=True)
    return {"paper": paper, "written": time.strftime("%Y-%m-%d"), "data": Path(data).name if data else None,
            "unmodified": base, "mutations": {n: {"bug": muts[n].bug, "kills": list(muts[n].kills), **cols[n]}
                                              for n in muts}}


def render() -> str:
    lines = [
        "# Mutations: the simulator broken on purpose",
        "",
        "A verdict that cannot fail is not evidence. Each mutation below is a small, realistic bug, declared in the",
        "folder of the paper whose simulator it breaks (`scanflow/papers/*/mutations.py`, with `scanflow.verify.mutation`).",
        "`scanflow verify PAPER --quick --mutant NAME` runs the paper's checks against the broken simulator: a check that",
        "catches the bug says **FAIL**, and the exit code is non-zero. The matrices below are written by",
        "`python sims/mutation_matrix.py` (each cell: the check's verdict in the quick verify under that mutation; the",
        "first column is the unmodified simulator). `tests/test_mutations.py` asserts the declared kills (`-m slow` runs",
        "every mutation) and that every check that simulates (mode P or C) is killed by at least one mutation here.",
        "Theory self-consistency checks (mode T: the theory module against itself, no simulation) are exempt: no",
        "simulator bug reaches them. Controls declared `expected=\"fail\"` (XFAIL) are listed for completeness.",
        "",
    ]
    for path in sorted(JSON_DIR.glob("*.json")):
        m = json.loads(path.read_text())
        base, muts = m["unmodified"], m["mutations"]
        names = list(muts)
        lines += [f"## {m['paper']}", "",
                  f"Measured {m['written']}" + (f" on {m['data']}" if m.get("data") else "") +
                  f"; quick mode. Exit codes: unmodified {base['exit']}, " +
                  ", ".join(f"{n} {muts[n]['exit']}" for n in names) + ".", "",
                  "| mutation | the bug | checks that say FAIL |", "|---|---|---|"]
        for n in names:
            fails = [c for c, v in muts[n]["verdicts"].items() if v == "FAIL"]
            lines.append(f"| `{n}` | {muts[n]['bug']} | {', '.join(fails) or '**none**'} |")
        lines += ["", "| check | mode | unmodified | " + " | ".join(f"`{n}`" for n in names) + " | killed by |",
                  "|---|---|---|" + "---|" * len(names) + "---|"]
        for c, v in base["verdicts"].items():
            mode = base["modes"][c]
            cells = [muts[n]["verdicts"].get(c, "") for n in names]
            killers = [n for n in names if muts[n]["verdicts"].get(c) == "FAIL"]
            exempt = "exempt (T)" if mode == "T" else ("control (XFAIL)" if base["expected"][c] == "fail" else "**none**")
            lines.append(f"| {c} | {mode} | {v} | " + " | ".join(f"**{x}**" if x == "FAIL" else x for x in cells) +
                         f" | {', '.join(killers) or exempt} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="append", default=[], help="a paper to (re)run; default: every paper without data")
    ap.add_argument("--data", default=None, help="the corpus for real-text")
    ap.add_argument("--render", action="store_true", help="only rewrite docs/mutations.md from docs/mutations/*.json")
    args = ap.parse_args(argv)
    if not args.render:
        from scanflow.engine.registry import load_paper_module
        from scanflow.verify.framework import papers

        chosen = args.paper or [p for p in papers() if not getattr(load_paper_module(p), "DATA_REQUIRED", None)]
        JSON_DIR.mkdir(parents=True, exist_ok=True)
        for paper in chosen:
            needs = bool(getattr(load_paper_module(paper), "DATA_REQUIRED", None))
            result = run_paper(paper, args.data if needs else None)
            tmp = JSON_DIR / f".{paper}.json.tmp"
            tmp.write_text(json.dumps(result, indent=1, separators=(",", ":")))
            tmp.replace(JSON_DIR / f"{paper}.json")
    text = render()
    tmp = DOCS / ".mutations.md.tmp"
    tmp.write_text(text)
    tmp.replace(DOCS / "mutations.md")
    print(f"wrote {DOCS / 'mutations.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
