"""Check declarations, the registry, the runner and the report writer."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


_RUNS: dict = {}  # Context.run's results in this process, by (config hash, block size)


@dataclass
class Context:
    """What a check may use: quick mode (fewer seeds, steps and grid points), where figures go, and
    an input data path for checks that need one (the real-text corpus, ``verify --data``)."""

    quick: bool
    fig_dir: Path
    data: Path | None = None
    formats: tuple = ("png",)  # what save_figure writes (a sims script asks for ("png", "pdf"))
    progress: bool = False  # `run` shows the engine's progress bar (scanflow verify: when stderr is a terminal)

    def seeds(self, full: int, quick: int = 2) -> int:
        return quick if self.quick else full

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    def run(self, config, *overrides: str, runs_per_block: int | None = None):
        """Run a config (a `Config`, a mapping or a YAML path, with dotted ``key=value`` overrides) in memory
        and return its `xarray.Dataset`, the same object `scanflow.load_run` gives for a run directory
        (metrics over point, seed, record; points labelled ``ds.sel(lr_Y=10)``; the config in attrs).
        Figures take this Dataset too, so a check, ``scanflow plot`` and a notebook draw with one function.
        A config run before in this process (same resolved config, same block) is not run again: checks
        that share a setting share its Dataset, so treat it as read-only."""
        from scanflow.engine.identity import config_hash
        from scanflow.engine.run import as_config, run

        cfg = as_config(config, overrides)
        key = (config_hash(cfg), runs_per_block)
        if key not in _RUNS:  # checks that share a setting share its run (one process = one simulator)
            _RUNS[key] = run(cfg, runs_per_block=runs_per_block, progress=self.progress)
        return _RUNS[key]

    def save_figure(self, fig, name: str, dpi: int = 110) -> str:
        """Save `fig` into the report's figure directory (atomically, then closed); return the file
        name for `Result.figure`. The one figure-saving helper of every check."""
        from scanflow.engine.figures import save_all

        self.fig_dir.mkdir(parents=True, exist_ok=True)
        save_all(fig, self.fig_dir / name, dpi=dpi, tight=True, formats=self.formats)
        return name


@dataclass
class Observation:
    """An extra observation beside a check's home-setting verdict: the same claim measured in a setting
    outside the theorem's assumptions (named). It informs; it never decides the verdict."""

    setting: str
    passed: bool
    tolerance: str  # the gate text with its numbers
    unmet: list = field(default_factory=list)  # the assumptions not met there, as "name = value (needs ...)"

    def text(self) -> str:
        state = "holds" if self.passed else "fails"
        return f"{self.setting}: {state} ({self.tolerance})" + (
            f"; outside: {'; '.join(self.unmet)}" if self.unmet else "")


def observe(setting: str, gate, assumptions=()) -> Observation:
    """An `Observation` from a gate (`scanflow.verify.compare`) and the meters of its setting."""
    from scanflow.verify.regime import Assumption

    metered = [a if isinstance(a, Assumption) else Assumption(**a) for a in assumptions]
    return Observation(setting, bool(gate.passed), gate.text, [a.text() for a in metered if not a.met])


@dataclass
class Result:
    """The outcome of one check. `predicted` and `measured` map a quantity name to a number
    (or a short string); `tolerance` says how close is close enough and why; `terms` are the gate's
    comparisons (`Gate.result_fields()` fills passed, tolerance and terms together)."""

    predicted: dict[str, Any]
    measured: dict[str, Any]
    tolerance: str
    passed: bool
    setting: str = ""
    notes: str = ""
    figure: str | None = None  # file name inside the report's figures/
    seeds: int | None = None
    # The theorem's assumptions measured on this setting (`scanflow.verify.regime.meter`): all met is the
    # check's home setting, where PASS / FAIL are decided.
    assumptions: list = field(default_factory=list)
    # A path deeper into the theorem's regime (`scanflow.verify.regime.trend`) for a setting with an unmet
    # meter: CONVERGES when it measures a failed gate term, has >= 3 points and reaches the claim.
    regime: Any = None
    # Where each predicted value comes from: {quantity: "theory function, equation" or "paper text/figure"}.
    sources: dict = field(default_factory=dict)
    # The gate's comparisons: [name, rule, measured, ok, ours] (from `Gate.result_fields()`).
    terms: list = field(default_factory=list)
    # Extra observations outside the assumptions (`observe`): shown as OUTSIDE beside the verdict.
    outside: list = field(default_factory=list)

    def __post_init__(self):
        from scanflow.verify.regime import Assumption, Regime

        self.assumptions = [a if isinstance(a, Assumption) else Assumption(**a) for a in self.assumptions]
        if isinstance(self.regime, dict):
            self.regime = Regime(**self.regime)
        self.outside = [o if isinstance(o, Observation) else Observation(**o) for o in self.outside]
        self.terms = [list(t) + [""] * (5 - len(t)) for t in self.terms]

    @property
    def unmet(self) -> list:
        return [a for a in self.assumptions if not a.met]

    @property
    def failed_terms(self) -> list[str]:
        return [t[0] for t in self.terms if not t[3]]


@dataclass(frozen=True)
class Check:
    paper: str
    name: str
    claim: str  # the paper's claim with its theorem/lemma reference
    # What the check compares. "P" (prediction): a simulation in the theorem's own setting (assumptions
    # metered) against the theory's prediction: a population quantity, an expectation over seeds, an exact
    # trajectory or a limit. "C" (code-faithful): a reproduction of the paper's own experiment (its sizes,
    # data, sampling, step counts) against what the paper reports. "T" (theory only): no simulation; the
    # theory's own statements checked numerically (an identity, a closed form against its ODE, a bound).
    mode: str
    fn: Callable[[Context], Result]
    expected: str = "pass"  # "pass" | "fail"
    why_fail: str = ""  # for expected == "fail": why the paper does not support the claim here
    # The check's home setting (every assumption meter met), or, for a check that has none within
    # reach, why not: such a check is not a test of the theorem and is never counted as verified.
    home: str = ""
    no_home: str = ""


REGISTRY: dict[str, dict[str, Check]] = {}


def check(paper: str, name: str, claim: str, mode: str, expected: str = "pass", why_fail: str = "",
          home: str = "", no_home: str = ""):
    """Decorator registering a check function ``fn(ctx) -> Result``. `home`: the setting in which every
    assumption meter is met (where PASS / FAIL are decided); `no_home`: why the check has no such setting
    within reach (it is then reported as not a test of the theorem, never as verified)."""
    if expected not in ("pass", "fail"):
        raise ValueError(f"expected: 'pass' or 'fail', got {expected!r}")
    if mode not in ("P", "C", "T"):
        raise ValueError(f"mode: 'P', 'C' or 'T', got {mode!r}")

    def deco(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
        REGISTRY.setdefault(paper, {})[name] = Check(paper, name, claim, mode, fn, expected, why_fail, home, no_home)
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


VERDICTS = ("PASS", "FAIL", "CONVERGES", "UNTESTED", "XFAIL", "XPASS", "ERROR")
FAILING = ("FAIL", "ERROR", "XPASS")  # the verdicts that make `scanflow verify` exit non-zero
VERDICT_SCALE = (
    "PASS: the claim holds in the check's home setting, every assumption meter met. FAIL: the claim fails there "
    "(a counterexample), or fails where an assumption is not met (named beside it) and no regime path shows it "
    "reaching the claim. CONVERGES: it fails at a setting with an unmet assumption, and a path of at least 3 points "
    "deeper into the theorem's regime, measured on the quantity that failed, reaches the claim. UNTESTED: it holds, "
    "but not in a setting inside the theorem's assumptions, so it is not a test of the theorem and is not counted "
    "as verified. XFAIL: a control or a claim the paper disclaims here fails as expected (XPASS: it held, which is "
    "news). ERROR: the check crashed. OUTSIDE is an extra observation beside a verdict (the claim measured outside "
    "the assumptions), never a verdict of its own. The exit code is non-zero on FAIL, ERROR and XPASS.")


def verdict(o: Outcome) -> str:
    """The verdict scale (`VERDICT_SCALE`), decided once, here:

    - no result: ERROR; a check declared ``expected="fail"``: XFAIL if it failed, else XPASS;
    - gate passed: PASS when every meter is met and the check has a home setting, else UNTESTED;
    - gate failed with every meter met: FAIL (a regime path cannot excuse a failure in the home setting);
    - gate failed with a meter unmet: CONVERGES when the regime path decides (>= 3 points, shrinking,
      reaching the claim) and measures a gate term that failed; else FAIL."""
    r = o.result
    if r is None:
        return "ERROR"
    if o.check.expected == "fail":
        return "XPASS" if r.passed else "XFAIL"
    unmet = bool(r.unmet) or bool(o.check.no_home)
    if r.passed:
        return "UNTESTED" if unmet else "PASS"
    if unmet and converges(r):
        return "CONVERGES"
    return "FAIL"


def converges(r: Result) -> bool:
    """A regime path that may carry CONVERGES: it `decides` and measures a gate term that failed."""
    p = r.regime
    return p is not None and p.decides and p.gate in r.failed_terms


def why(o: Outcome) -> str:
    """One line: why this verdict (what failed, what is not met, what the path did)."""
    r, v = o.result, o.verdict
    if r is None:
        return "the check raised (traceback below)"
    if v in ("XFAIL", "XPASS"):
        return o.check.why_fail
    unmet = [a.name for a in r.unmet]
    parts = []
    if v in ("FAIL", "CONVERGES"):
        parts.append("failed: " + (", ".join(r.failed_terms) or "the gate"))
    if o.check.no_home:
        parts.append(f"no home setting: {o.check.no_home}")
    if unmet:
        parts.append("not met: " + ", ".join(unmet))
    if v in ("FAIL", "CONVERGES") and unmet:
        p = r.regime
        if p is None:
            parts.append("no regime path")
        elif not converges(r):
            lacks = [w for w, bad in (("has fewer than 3 points", len(p.xs) < 3), ("does not shrink", not p.shrinks),
                                      ("does not reach the claim", not p.reaches),
                                      (f"measures '{p.gate or '?'}', not a failed term", p.gate not in r.failed_terms))
                     if bad]
            parts.append("regime path " + ", ".join(lacks))
        else:
            parts.append(f"the path along {p.axis} reaches the claim")
    return "; ".join(parts) or "every assumption met"


def exit_code(outcomes: list[Outcome]) -> int:
    """Non-zero on FAIL, ERROR and XPASS (an unexpected pass of a control or a disclaimed claim is news)."""
    return 1 if any(o.verdict in FAILING for o in outcomes) else 0


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
    """Ctrl-C during `run_checks`: `outcomes` holds the checks that finished before it (recorded ones included)."""

    def __init__(self, outcomes: list, total: int, signum: int | None = None):
        super().__init__(f"interrupted after {len(outcomes)} of {total} checks")
        self.outcomes, self.total = outcomes, total
        if signum is not None:  # the signal that stopped them (SIGINT, SIGTERM): the exit status is 128 + it
            self.signum = signum


def select_checks(paper: str, only: list[str] | None = None) -> dict[str, Check]:
    """The checks a run covers, in the order they run: all of the paper's, or the --only ones."""
    checks = load_paper(paper)
    if not only:
        return dict(checks)
    unknown = [n for n in only if n not in checks]
    if unknown:
        raise KeyError(f"--only: unknown check(s) {unknown} for {paper}; expected some of {list(checks)}")
    return {n: checks[n] for n in only}


def run_checks(paper: str, ctx: Context, only: list[str] | None = None, log=print,
               done: dict[str, Outcome] | None = None) -> list[Outcome]:
    """Run the selected checks in order. A check in `done` (recorded by an interrupted earlier run,
    resumed) is not run again: its recorded outcome takes its place, so the list is the same as one
    uninterrupted run's."""
    checks = select_checks(paper, only)
    done = done or {}
    outcomes = []
    import sys

    live = log is print and sys.stdout.isatty()  # a terminal sees which check is running (no minutes of silence)
    for i, (name, c) in enumerate(checks.items()):
        if name in done:
            outcomes.append(done[name])
            if log:
                log(f"  {done[name].verdict:5s} {paper} {name} (recorded earlier): {c.claim}")
            continue
        t0 = time.perf_counter()
        if live:
            print(f"  ...   {paper} {name} ({i + 1}/{len(checks)}) running", end="\r", flush=True)
        try:
            res, err = c.fn(ctx), ""
        except KeyboardInterrupt as e:
            raise ChecksInterrupted(outcomes, len(checks), getattr(e, "signum", None)) from None
        except Exception:  # a crashing check is reported, the others still run
            res, err = None, traceback.format_exc(limit=6)
        o = Outcome(c, res, time.perf_counter() - t0, err)
        outcomes.append(o)
        if log:
            log(f"\033[2K  {o.verdict:5s} {paper} {name} ({o.seconds:.1f} s): {c.claim}" if live else
                f"  {o.verdict:5s} {paper} {name} ({o.seconds:.1f} s): {c.claim}")
    return outcomes


# ----------------------------------------------------------------------------- resume

OPTIONS_FILE = "verify.json"  # in every report: the options it was started with, its checks and its status


def read_options(report: Path) -> dict:
    """A report's verify.json: paper, quick, only, data (absolute path or None), checks (the selected
    names in order), status ("complete" or "interrupted") and wall_s (seconds over all invocations)."""
    path = Path(report) / OPTIONS_FILE
    try:
        opts = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{report}: not a report of scanflow verify (no {OPTIONS_FILE})") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: damaged ({e.__class__.__name__}); run the checks again in a new report") from None
    missing = [k for k in ("paper", "quick", "only", "data", "checks", "status") if k not in opts]
    if missing:
        raise ValueError(f"{path}: damaged (missing {missing}); run the checks again in a new report")
    return opts


def recorded_outcomes(report: Path, paper: str) -> dict[str, Outcome]:
    """The outcomes verdicts.json holds, keyed by check name, rebuilt against the paper's current
    declarations (claim, mode, expected), so a resumed report is written as one run would write it."""
    checks = load_paper(paper)
    path = Path(report) / "verdicts.json"
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: damaged or missing ({e.__class__.__name__}); run the checks again in a new "
                         "report") from None
    fields = set(Result.__dataclass_fields__)
    done = {}
    for row in rows:
        c = checks.get(row.get("check"))
        if c is None:
            raise KeyError(f"{path}: check {row.get('check')!r} is recorded, but {paper} declares no such check "
                           "now; run the checks again in a new report")
        res = None if "error" in row else Result(**{k: v for k, v in row.items() if k in fields})
        done[c.name] = Outcome(c, res, float(row.get("seconds", 0.0)), row.get("error", ""))
    return done


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


def verdict_counts(outcomes: list[Outcome]) -> str:
    """'Verdicts: PASS 12, FAIL 0, CONVERGES 1, ...': every kind of the scale, in its order, then the
    OUTSIDE observations beside them."""
    counts = {k: 0 for k in VERDICTS}
    for o in outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    outside = sum(len(o.result.outside) for o in outcomes if o.result is not None)
    return "Verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; OUTSIDE observations {outside}"


def _row(*cells: str) -> str:
    """One markdown table row; a '|' inside a cell (e.g. a norm ||u||) is escaped so the table keeps its columns."""
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _verdict_cell(o: Outcome) -> str:
    r = o.result
    extra = f" + OUTSIDE ({len(r.outside)})" if r is not None and r.outside else ""
    return f"**{o.verdict}**{extra}"


def _section(o: Outcome) -> list[str]:
    """One check, top to bottom on one screen: claim, assumptions, prediction, measurement, verdict;
    then the gate, the regime path, the observations outside, and the details."""
    c, r = o.check, o.result
    lines = [f"### {c.name}: {o.verdict} ({o.seconds:.1f} s)", "", f"**Claim.** {c.claim}", ""]
    if c.home or c.no_home:
        lines += [f"**Home setting.** {c.home}" if c.home else
                  f"**No home setting** (not a test of the theorem, never counted as verified): {c.no_home}", ""]
    if r is None:
        return lines + ["**Verdict: ERROR.**", "", f"```\n{o.error}\n```", ""]
    lines.append("**Assumptions.**" + ("" if r.assumptions else " none declared"))
    if r.assumptions:
        lines += ["", "| assumption | measured | needs | met | source |", "|---|---|---|---|---|"]
        lines += [_row(a.name, a.value if isinstance(a.value, str) else _fmt(a.value),
                       a.required + (f" (ours: {a.ours})" if a.ours else ""), "yes" if a.met else "**NO**",
                       a.ref + (f"; {a.note}" if a.note else "")) for a in r.assumptions]
    lines += ["", "**Prediction.** " + _inline(r.predicted), "", "**Measurement.** " + _inline(r.measured), ""]
    lines += [f"**Verdict: {o.verdict}** ({why(o)}).", ""]
    if r.terms:
        lines += ["| gate | rule | measured | ok |", "|---|---|---|---|"]
        lines += [_row(t[0], t[1] + (f" (ours: {t[4]})" if t[4] else ""), _fmt(t[2]), "yes" if t[3] else "**NO**")
                  for t in r.terms]
        lines.append("")
    else:
        lines += [f"*Tolerance:* {r.tolerance}", ""]
    if r.regime is not None:
        lines += [f"*Regime path:* {r.regime.text()}", ""]
    if r.outside:
        lines += ["*OUTSIDE (observations outside the assumptions; they do not decide the verdict):*", ""]
        lines += [f"- {ob.text()}" for ob in r.outside] + [""]
    if c.expected == "fail":
        lines += [f"*Expected to fail:* {c.why_fail}", ""]
    for label, text in (("Setting", r.setting), ("Seeds", r.seeds)):
        if text:
            lines += [f"*{label}:* {text}", ""]
    if r.sources:
        lines += ["*Sources of the predicted values:* " + "; ".join(f"{k}: {v}" for k, v in r.sources.items()), ""]
    if r.notes:
        lines += [r.notes, ""]
    if r.figure:
        lines += [f"![{c.name}](figures/{r.figure})", ""]
    return lines


def _inline(d: dict) -> str:
    return "; ".join(f"{k} = {_fmt(v)}" for k, v in d.items()) or "(none)"


def write_report(out: Path, title: str, outcomes: list[Outcome], fig_src: Path, header: str = "",
                 options: dict | None = None, replace: Path | None = None) -> Path:
    """Write report.md, verdicts.json, provenance.json, figures/ and (given `options`) verify.json into
    `out`, atomically (temp dir + rename). `replace`: the interrupted report this one supersedes
    (resume); it is removed only once the new one is in place, so the checks it holds are never lost."""
    out = Path(out)
    replace = Path(replace) if replace is not None else None
    if out.exists() and out != replace:
        raise FileExistsError(f"report directory {out} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        if fig_src.is_dir():
            shutil.copytree(fig_src, tmp / "figures")
        lines = [f"# {title}", "", header, ""] if header else [f"# {title}", ""]
        lines += [verdict_counts(outcomes), "", VERDICT_SCALE, ""]
        sim = [o for o in outcomes if o.check.mode != "T"]
        theory = [o for o in outcomes if o.check.mode == "T"]
        for heading, group in (("Simulation against theory", sim),
                               ("Theory self-consistency (no simulation: the theory module against itself)", theory)):
            if not group:
                continue
            lines += [f"## {heading}", "", "| check | verdict | why | claim | mode |", "|---|---|---|---|---|"]
            lines += [_row(o.check.name, _verdict_cell(o), why(o), o.check.claim, o.check.mode) for o in group]
            lines.append("")
        lines += ["## Checks", ""]
        for o in outcomes:
            lines += _section(o)
        (tmp / "report.md").write_text("\n".join(lines))
        verdicts = [
            {
                "paper": o.check.paper,
                "check": o.check.name,
                "claim": o.check.claim,
                "mode": o.check.mode,
                "expected": o.check.expected,
                "home": o.check.home,
                "no_home": o.check.no_home,
                "verdict": o.verdict,
                "why": why(o),
                "seconds": round(o.seconds, 3),
                **({"error": o.error} if o.result is None else _jsonable(asdict(o.result))),
            }
            for o in outcomes
        ]
        from scanflow.engine.results import provenance

        prov = {"title": title, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **provenance()}
        for v in verdicts:  # each verdict carries where it came from: the commit and every version
            v["provenance"] = {"git": prov.get("git"), "versions": prov.get("versions")}
        (tmp / "verdicts.json").write_text(json.dumps(_jsonable(verdicts), indent=2))
        (tmp / "provenance.json").write_text(json.dumps(_jsonable(prov), indent=2))
        if options is not None:
            (tmp / OPTIONS_FILE).write_text(json.dumps(_jsonable(options), indent=2))
        _publish(tmp, out, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _publish(tmp: Path, out: Path, replace: Path | None) -> None:
    """Rename the written temp directory to `out`. When `out` is the report being replaced (an
    interrupted resume writes NAME.partial again), the old one steps aside first and goes last."""
    if replace is not None and out == replace:
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    tmp.rename(out)
    if replace is not None:
        shutil.rmtree(replace, ignore_errors=True)
