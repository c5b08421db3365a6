"""The package layout is a contract: the engine and the shared modules never import a paper, and a paper
is one folder. These tests read the source (AST), so they fail on a new import, not on a convention."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "scanflow"
PAPER_AGNOSTIC = ["engine", "verify", "measure", "models", "__init__.py", "cli.py"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module name imported by `path` (absolute; relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(), str(path))
    pkg = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _files(entry: str) -> list[Path]:
    p = PKG / entry
    return [p] if p.is_file() else sorted(p.rglob("*.py"))


@pytest.mark.parametrize("entry", PAPER_AGNOSTIC)
def test_paper_agnostic_modules_never_import_a_paper(entry):
    offenders = [f"{f.relative_to(PKG.parent)}:{line} imports {name}"
                 for f in _files(entry) for line, name in _imports(f)
                 if name == "scanflow.papers" or name.startswith("scanflow.papers.")]
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_imports():
    """The scanner itself must find an import of a paper (so the test above can fail)."""
    src = PKG / "papers" / "scan_snap" / "workload.py"
    assert any(n.startswith("scanflow.papers.scan_snap") for _, n in _imports(src))


# Two deliberate exceptions. Norm growth's report has sections that look at the other two papers'
# models through its lens (NG-scan-snap, NG-cooccurrence); they live in one file and use those papers'
# public modules. Real text is Scan and Snap's own real-text experiment (Figs 7, 10): its measurements
# take the snap time and frozen-phase rate from Scan and Snap's theory, in one file. Anything else
# crossing papers fails.
CROSS_PAPER_ALLOWED = {("papers/norm_growth/checks/other_papers.py", "scan_snap"),
                       ("papers/norm_growth/checks/other_papers.py", "cooccurrence"),
                       ("papers/real_text/measure.py", "scan_snap")}


def test_papers_do_not_import_each_other():
    papers = [p.name for p in (PKG / "papers").iterdir() if (p / "__init__.py").is_file()]
    assert {"scan_snap", "cooccurrence", "norm_growth", "real_text"} <= set(papers)
    offenders = []
    for paper in papers:
        for f in _files(f"papers/{paper}"):
            for line, name in _imports(f):
                other = name.split(".")[2] if name.startswith("scanflow.papers.") else None
                rel = str(f.relative_to(PKG))
                if other and other != paper and other in papers and (rel, other) not in CROSS_PAPER_ALLOWED:
                    offenders.append(f"{f.relative_to(PKG.parent)}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_no_backend_selection_at_import():
    """`matplotlib.use(...)` at import would stop inline figures in a notebook."""
    offenders = [str(f.relative_to(PKG.parent)) for f in PKG.rglob("*.py") if "matplotlib.use(" in f.read_text()]
    assert not offenders, offenders


def test_import_has_no_side_effects():
    """Importing scanflow and every paper leaves x64 and the matplotlib backend as they were."""
    import subprocess
    import sys

    code = (
        "import matplotlib; b = matplotlib.get_backend(); import jax; x = jax.config.jax_enable_x64\n"
        "import scanflow, scanflow.engine.sweep, scanflow.engine.figures\n"
        "from scanflow.engine.registry import workload_names, get_workload, paper_names, load_paper_module\n"
        "[get_workload(n) for n in workload_names()]; [load_paper_module(n) for n in paper_names()]\n"
        "assert jax.config.jax_enable_x64 == x, 'x64 changed'\n"
        "assert matplotlib.get_backend() == b, (b, matplotlib.get_backend())\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"MPLBACKEND": "svg",
                       **{k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}})
    assert p.returncode == 0, p.stderr[-2000:]
