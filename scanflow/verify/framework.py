"""Check declarations, the registry, the runner and the report writer."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class Context:
    """What a check may use: quick mode (fewer seeds, steps and grid points), where figures go, and
    an input data path for checks that need one (the real-text corpus, ``verify --data``)."""

    quick: bool
    fig_dir: Path
    data: Path | None = None

    def seeds(self, full: int, quick: int = 2) -> int:
        return quick if self.quick else full

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    def save_figure(self, fig, name: str, dpi: int = 110) -> str:
        """Save `fig` into the report's figure directory (atomically, then closed); return the file
        name for `Result.figure`. The one figure-saving helper of every check."""
        from scanflow.engine.figures import save

        self.fig_dir.mkdir(parents=True, exist_ok=True)
        save(fig, self.fig_dir / name, dpi=dpi, tight=True)
        return name


@dataclass
class Result:
    """The outcome of one check. `predicted` and `measured` map a quantity name to a number
    (or a short string); `tolerance` says how close is close enough and why."""

    predicted: dict[str, Any]
    measured: dict[str, Any]
    tolerance: str
    passed: bool
    setting: str = ""
    notes: str = ""
    figure: str | None = None  # file name inside the report's figures/
    seeds: int | None = None


@dataclass(frozen=True)
class Check:
    paper: str
    name: str
    claim: str  # the paper's claim with its theorem/lemma reference
    mode: str  # "P" population, "C" code-faithful, "T" theory-only (no simulation)
    fn: Callable[[Context], Result]
    expected: str = "pass"  # "pass" | "fail"
    why_fail: str = ""  # for expected == "fail": why the paper does not support the claim here


REGISTRY: dict[str, dict[str, Check]] = {}


def check(paper: str, name: str, claim: str, mode: str, expected: str = "pass", why_fail: str = ""):
    """Decorator registering a check function ``fn(ctx) -> Result``."""
    if expected not in ("pass", "fail"):
        raise ValueError(f"expected: 'pass' or 'fail', got {expected!r}")

    def deco(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
        REGISTRY.setdefault(paper, {})[name] = Check(paper, name, claim, mode, fn, expected, why_fail)
        return fn

    return deco


@dataclass
class Outcome:
    check: Check
    result: Result | None
    seconds: float
    error: str = ""

    @property
    def verdict(self) -> str:
        return verdict(self)


def verdict(o: Outcome) -> str:
    """PASS / FAIL (expected pass, failed) / XFAIL (expected fail, failed) / XPASS / ERROR."""
    if o.result is None:
        return "ERROR"
    if o.check.expected == "pass":
        return "PASS" if o.result.passed else "FAIL"
    return "XPASS" if o.result.passed else "XFAIL"


def exit_code(outcomes: list[Outcome]) -> int:
    """Non-zero when a check expected to pass failed or raised."""
    return 1 if any(o.verdict in ("FAIL", "ERROR") for o in outcomes) else 0


def load_paper(paper: str) -> dict[str, Check]:
    """Import the module that registers a paper's checks (built-in or installed through the
    ``scanflow.papers`` entry points); return them in declaration order."""
    from scanflow.engine.registry import load_paper_module

    if paper not in REGISTRY:
        load_paper_module(paper)  # KeyError naming the known papers if unknown
    if paper not in REGISTRY:
        raise KeyError(f"paper {paper!r}: its module registered no checks under that name")
    return REGISTRY[paper]


def papers() -> list[str]:
    """Every paper `scanflow verify` can run: built-in and installed."""
    from scanflow.engine.registry import paper_names

    return paper_names()


class ChecksInterrupted(KeyboardInterrupt):
    """Ctrl-C during `run_checks`: `outcomes` holds the checks that finished before it."""

    def __init__(self, outcomes: list, total: int):
        super().__init__(f"interrupted after {len(outcomes)} of {total} checks")
        self.outcomes, self.total = outcomes, total


def run_checks(paper: str, ctx: Context, only: list[str] | None = None, log=print) -> list[Outcome]:
    checks = load_paper(paper)
    if only:
        unknown = [n for n in only if n not in checks]
        if unknown:
            raise KeyError(f"--only: unknown check(s) {unknown} for {paper}; expected some of {list(checks)}")
        checks = {n: checks[n] for n in only}
    outcomes = []
    import sys

    live = log is print and sys.stdout.isatty()  # a terminal sees which check is running (no minutes of silence)
    for i, (name, c) in enumerate(checks.items()):
        t0 = time.perf_counter()
        if live:
            print(f"  ...   {paper} {name} ({i + 1}/{len(checks)}) running", end="\r", flush=True)
        try:
            res, err = c.fn(ctx), ""
        except KeyboardInterrupt:
            raise ChecksInterrupted(outcomes, len(checks)) from None
        except Exception:  # a crashing check is reported, the others still run
            res, err = None, traceback.format_exc(limit=6)
        o = Outcome(c, res, time.perf_counter() - t0, err)
        outcomes.append(o)
        if log:
            log(f"\033[2K  {o.verdict:5s} {paper} {name} ({o.seconds:.1f} s): {c.claim}" if live else
                f"  {o.verdict:5s} {paper} {name} ({o.seconds:.1f} s): {c.claim}")
    return outcomes


# ----------------------------------------------------------------------------- report


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_fmt(x) for x in np.asarray(v).ravel().tolist()) + "]"
    return str(v)


def _kv(d: dict) -> str:
    return "<br>".join(f"{k} = {_fmt(v)}" for k, v in d.items())


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if np.isfinite(x) else str(x)
    return x


def _row(*cells: str) -> str:
    """One markdown table row; a '|' inside a cell (e.g. a norm ||u||) is escaped so the table keeps its columns."""
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def write_report(out: Path, title: str, outcomes: list[Outcome], fig_src: Path, header: str = "") -> Path:
    """Write report.md, verdicts.json and figures/ into `out`, atomically (temp dir + rename)."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"report directory {out} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        if fig_src.is_dir():
            shutil.copytree(fig_src, tmp / "figures")
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        lines = [f"# {title}", "", header, ""] if header else [f"# {title}", ""]
        lines.append("Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        lines += [
            "",
            "PASS/FAIL: the claim is expected to hold and did / did not. XFAIL: the paper does not support the "
            "claim in this setting (reason given) and it indeed fails; XPASS: it held anyway. ERROR: the check crashed.",
            "",
            "| check | verdict | claim | mode | predicted | measured | tolerance | figure |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for o in outcomes:
            r = o.result
            fig = f"[{r.figure}](figures/{r.figure})" if r and r.figure else ""
            if r is None:
                lines.append(_row(o.check.name, "ERROR", o.check.claim, o.check.mode, "", "", "", ""))
                continue
            lines.append(
                _row(o.check.name, f"**{o.verdict}**", o.check.claim, o.check.mode, _kv(r.predicted),
                     _kv(r.measured), r.tolerance, fig)
            )
        lines += ["", "## Details", ""]
        for o in outcomes:
            r = o.result
            lines.append(f"### {o.check.name}: {o.verdict} ({o.seconds:.1f} s)")
            lines.append("")
            lines.append(f"*Claim:* {o.check.claim}")
            if o.check.expected == "fail":
                lines.append(f"\n*Expected to fail:* {o.check.why_fail}")
            if r is not None:
                if r.setting:
                    lines.append(f"\n*Setting:* {r.setting}")
                if r.seeds:
                    lines.append(f"\n*Seeds:* {r.seeds}")
                lines.append(f"\n*Tolerance:* {r.tolerance}")
                if r.notes:
                    lines.append(f"\n{r.notes}")
                if r.figure:
                    lines.append(f"\n![{o.check.name}](figures/{r.figure})")
            else:
                lines.append(f"\n```\n{o.error}\n```")
            lines.append("")
        (tmp / "report.md").write_text("\n".join(lines))
        verdicts = [
            {
                "paper": o.check.paper,
                "check": o.check.name,
                "claim": o.check.claim,
                "mode": o.check.mode,
                "expected": o.check.expected,
                "verdict": o.verdict,
                "seconds": round(o.seconds, 3),
                **({"error": o.error} if o.result is None else _jsonable(asdict(o.result))),
            }
            for o in outcomes
        ]
        (tmp / "verdicts.json").write_text(json.dumps(verdicts, indent=2))
        from scanflow.engine.results import provenance

        prov = {"title": title, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **provenance()}
        (tmp / "provenance.json").write_text(json.dumps(_jsonable(prov), indent=2))
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
