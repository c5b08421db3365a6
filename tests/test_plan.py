"""A config is resolved once per `scanflow run` (issue 22): one `Plan` (engine/plan.py), the workload's
build called once per static part, the static parts expanded once by the plan, one resource check with
the real block size beside the config's own (a lower bound at construction), and no import cycle or
oversized module in scanflow/engine. Counts come from wrapping the functions, not from timing."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from scanflow import cli

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "scan_snap_small.yaml")
SMALL = ["train.steps=4", "train.record_every=2", "sweep.seeds=2", "data.seq_len=16", "data.batch_size=8",
         "--quiet", "--no-plot"]


@pytest.mark.parametrize("extra, parts", [([], 1), (["data.num_unique=[10, 12]"], 2)], ids=["one-part", "static-axis"])
def test_one_scanflow_run_resolves_its_config_once(tmp_path, monkeypatch, extra, parts):
    from scanflow.engine import plan, registry, resources

    counts = collections.Counter()

    def counted(module, name, key):
        real = getattr(module, name)

        def wrapper(*a, **k):
            counts[key] += 1
            return real(*a, **k)

        monkeypatch.setattr(module, name, wrapper)

    wl = registry.get_workload("scan_snap")
    real_build = wl.build

    def build(cfg):
        counts["build"] += 1
        return real_build(cfg)

    object.__setattr__(wl, "build", build)  # a frozen Workload: restored below
    counted(plan, "resolve", "resolve")
    counted(resources, "check_resources", "check_resources")
    try:
        assert cli.main(["run", CONFIG, *SMALL, *extra, "--out", str(tmp_path), "--runs-per-block", "3"]) == 0
    finally:
        object.__setattr__(wl, "build", real_build)
    assert plan.RESOLVED["plans"] >= 1
    resolves = counts["resolve"]
    assert resolves == 1 + 1, counts  # the CLI's resolve, and sweep_parts re-reading the Plan it was given
    assert counts["build"] <= parts, counts  # once per static part (programs are cached across runs too)
    # the config's lower bound (block 1) and the plan's real block; with static axes the config also checks
    # each part as a whole config when it is built (its own rules, once)
    assert counts["check_resources"] == 2 + (parts if parts > 1 else 0), counts


def test_no_import_cycle_and_no_long_module_in_the_engine():
    engine = ROOT / "scanflow" / "engine"
    mods = {p.stem for p in engine.glob("*.py")} - {"__init__"}
    graph = {}
    for p in engine.glob("*.py"):
        if p.stem == "__init__":
            continue
        tree = ast.parse(p.read_text())
        typing_only = {id(x) for n in ast.walk(tree) if isinstance(n, ast.If) and getattr(n.test, "id", "") ==
                       "TYPE_CHECKING" for b in n.body for x in ast.walk(b)}
        deps = set()
        for n in ast.walk(tree):
            if id(n) in typing_only:
                continue
            if isinstance(n, ast.ImportFrom) and n.module:
                if n.module.startswith("scanflow.engine."):
                    deps.add(n.module.split(".")[2])
                elif n.module == "scanflow.engine":
                    deps |= {a.name for a in n.names if a.name in mods}
        graph[p.stem] = deps - {p.stem}
        assert len(p.read_text().splitlines()) <= 420, f"{p.name}: {len(p.read_text().splitlines())} lines"
    seen, stack = set(), []

    def visit(v):
        if v in stack:
            raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(v):] + [v])}")
        if v in seen:
            return
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            visit(w)
        stack.pop()
        seen.add(v)

    for v in sorted(graph):
        visit(v)


def test_the_engine_names_no_paper():
    """No string literal in scanflow/engine names a built-in paper or its parameter groups (docstrings and
    comments may use them as examples)."""
    names = {"scan_snap", "cooccurrence", "norm_growth", "real_text", "scan-snap", "norm-growth", "real-text",
             "CorpusError"}
    for p in (ROOT / "scanflow" / "engine").glob("*.py"):
        tree = ast.parse(p.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                hit = [w for w in names if w in n.value]
                assert not hit, f"{p.name}:{n.lineno}: {hit} in {n.value[:80]!r}"
