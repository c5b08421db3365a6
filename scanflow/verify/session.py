"""`scanflow verify` as a Python function: check the options, run each paper's checks, write its report.

``verify("scan-snap", quick=True)`` does what ``scanflow verify scan-snap --quick`` does and returns its exit
status: 0 when every verdict is the expected one, 1 when a check says FAIL, ERROR or XPASS, 130/143 when
SIGINT/SIGTERM stopped it (the report is then left as REPORT_DIR.partial, resumable with
``verify("REPORT_DIR.partial")``). Bad options raise `ConfigError` (one line naming the option) before any check
runs. ``list_papers()`` prints what can be verified, read from the installed entry points and the papers' source
without importing them.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from scanflow.engine.validation import ConfigError, check_out_dir

REPORTS = "reports"  # verify's default --out


def verify(paper: str | None = None, *, quick: bool = False, only=(), out: str | None = None,
           data: str | None = None, mutant: str | None = None) -> int:
    """Run the checks of `paper` (a name, ``"all"``, or an interrupted report directory to resume) and write one
    report per paper under `out` (default ``reports``): OUT/PAPER[-quick][-mutant-NAME]-STAMP/report.md with its
    figures and verdicts.json. `only`: check names; `data`: the input some papers need (the real-text corpus);
    `mutant`: a declared mutation to break the simulator with. Without a paper, list the papers."""
    only = list(only)
    if paper is None:
        given = [f for f, v in (("--out", out), ("--only", only), ("--quick", quick), ("--data", data),
                                ("--mutant", mutant)) if v]
        if given:
            raise ConfigError(f"paper: {given[0]} needs a paper name or all; scanflow verify alone lists the papers")
        return list_papers()
    from scanflow.verify.framework import papers

    report = _report_arg(paper)
    if report is not None:
        return _resume(report, quick=quick, only=only, out=out, data=data, mutant=mutant)
    names = papers() if paper == "all" else [paper.replace("_", "-")]
    for name in names:
        if name not in papers():
            raise ConfigError(f"verify: unknown paper {paper!r}; expected one of {papers()} or all, or a "
                              "report directory REPORT_DIR.partial to resume")
    if only and len(names) != 1:
        raise ConfigError("--only: name one paper, e.g. scanflow verify scan-snap --only S1")
    names = _paper_data(names, data)
    if out is not None:  # before any check runs
        check_out_dir("--out", out)
    else:
        check_out_dir(f"--out (default {REPORTS})", REPORTS)
    if only:
        _known_checks(names[0], only)
    if mutant is not None:
        _known_mutant(mutant, names)
    _x64()
    code = 0
    for i, name in enumerate(names):
        given = data if data and _takes_data(name) else None  # `all --data`: only the papers that read it
        options = {"paper": name, "quick": bool(quick), "only": only,
                   "data": str(Path(given).resolve()) if given else None, "mutant": mutant}
        tag = f"{'-quick' if quick else ''}{f'-mutant-{mutant}' if mutant else ''}"
        code = max(code, verify_paper(options, _new_report_dir(out, name, tag), later=names[i + 1:]))
        if code in (130, 143):  # interrupted (SIGINT, SIGTERM): the later papers do not start
            break
    return code


def verify_paper(opts: dict, final, done: dict | None = None, replace=None, later: list[str] = ()) -> int:
    """Run one paper's checks (those not in `done`) and write its report to `final`, or to
    `final`.partial when Ctrl-C stops them: that one records the options and prints how to resume."""
    from scanflow.engine.results import unfinished_dir
    from scanflow.verify.framework import ChecksInterrupted, Context, exit_code, run_checks, verdict_counts, write_report
    from scanflow.verify.mutation import mutated

    name, quick, done, mutant = opts["paper"], opts["quick"], done or {}, opts.get("mutant")
    print(f"verify {name}{' (quick)' if quick else ''}{f' (MUTANT {mutant})' if mutant else ''}"
          f"{f' (resumed: {len(done)} recorded)' if replace else ''}:")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        figs = Path(tmp) / "figures"
        if replace is not None and (Path(replace) / "figures").is_dir():
            shutil.copytree(Path(replace) / "figures", figs)  # the finished checks' figures stay
        interrupted = None
        ctx = Context(quick=quick, fig_dir=figs, data=Path(opts["data"]) if opts["data"] else None,
                      progress=sys.stderr.isatty())  # a long check shows its sweep's progress on a terminal
        try:
            with mutated(mutant):
                outcomes = run_checks(name, ctx, only=opts["only"] or None, done=done)
        except ChecksInterrupted as e:  # Ctrl-C: keep every finished check in a resumable report
            outcomes, interrupted = e.outcomes, e
        wall = opts.get("wall_s", 0.0) + time.perf_counter() - t0
        total = interrupted.total if interrupted else len(outcomes)
        record = {**opts, "checks": _selected(name, opts["only"]), "wall_s": round(wall, 3),
                  "status": "interrupted" if interrupted else "complete"}
        out = unfinished_dir(final) if interrupted else final
        header = _header(opts, outcomes, total, wall, done, out if interrupted else None)
        title = f"scanflow verify {name}" + (f" (MUTANT {mutant}: the simulator broken on purpose)" if mutant else "")
        write_report(out, title, outcomes, figs, header, record, replace)
    print(f"  {verdict_counts(outcomes) if outcomes else 'no checks finished'}; report {out / 'report.md'}")
    if interrupted:
        rest = f"; not started: {', '.join(later)}" if later else ""
        print(f"scanflow: interrupted after {len(outcomes)} of {total} checks; {out} keeps the finished ones; resume "
              f"with: scanflow verify {out}{rest}", file=sys.stderr)
        return 128 + _signum(interrupted)  # 130 for SIGINT, 143 for SIGTERM
    return exit_code(outcomes)


def _signum(e: BaseException) -> int:
    """The signal behind an interrupt: the first exception of its chain that carries one, else SIGINT."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(getattr(e, "signum", None), int):
            return int(e.signum)
        e = e.__cause__ or e.__context__
    return int(signal.SIGINT)


def list_papers() -> int:
    """``scanflow verify`` without a paper: what can be verified, how long it takes, what it needs and which
    mutations it declares, read statically (`scanflow.engine.registry.paper_facts`): no paper is imported."""
    from scanflow.engine.registry import paper_facts, paper_names

    print("papers (scanflow verify PAPER [--quick], or all):")
    for name in paper_names():
        facts = paper_facts(name)
        if "error" in facts:
            print(f"  {name:14s} cannot be read ({facts['error']})")
            continue
        needs = " (needs --data PATH)" if facts.get("data_required") else ""
        print(f"  {name:14s} {facts.get('duration') or 'duration not declared'}{needs}")
        if facts.get("mutations"):
            print(f"  {'':14s} mutations (--mutant NAME): {', '.join(sorted(facts['mutations']))}")
    return 0


def _resume(report, *, quick: bool, only: list, out, data, mutant) -> int:
    """``scanflow verify REPORT_DIR.partial``: run only the checks without a recorded verdict, with the
    options the report was started with, and write the whole report again (the .partial goes)."""
    from scanflow.engine.results import UNFINISHED_SUFFIX, final_dir
    from scanflow.verify.framework import papers, read_options, recorded_outcomes

    opts = read_options(report)
    if opts["status"] == "complete":
        print(f"{report}: the report is complete ({len(opts['checks'])} check(s)); nothing to re-run; see "
              f"{report / 'report.md'}")
        return 0
    _same_options(opts, report, quick=quick, only=only, out=out, data=data, mutant=mutant)
    if opts["paper"] not in papers():
        raise ConfigError(f"{report}: paper {opts['paper']!r} is not available now; expected one of {papers()}")
    _paper_data([opts["paper"]], opts["data"])  # the recorded data is still there
    _known_checks(opts["paper"], opts["only"])
    try:
        done = recorded_outcomes(report, opts["paper"])
    except KeyError as e:
        raise ConfigError(str(e).strip("'\"")) from None
    final = final_dir(report) if report.name.endswith(UNFINISHED_SUFFIX) else report
    _x64()
    return verify_paper(opts, final, done=done, replace=report)


def _same_options(opts: dict, report, *, quick, only, out, data, mutant) -> None:
    """A resume runs with the options the report was started with: an option given again must be
    the same; one that differs is refused, naming it (the report would mix two settings)."""
    how = "resume it with the options it was started with, or none"
    if out is not None:
        raise ConfigError(f"--out: a resumed report is finished in place ({report}); expected no --out")
    if quick and not opts["quick"]:
        raise ConfigError(f"--quick: {report} was started without --quick; {how}")
    if only and list(only) != list(opts["only"]):
        was = " ".join(f"--only {n}" for n in opts["only"]) or "no --only (every check)"
        raise ConfigError(f"--only: {report} was started with {was}, got {' '.join(f'--only {n}' for n in only)}; "
                          f"{how}")
    if mutant is not None and mutant != opts.get("mutant"):
        raise ConfigError(f"--mutant: {report} was started with --mutant {opts.get('mutant')}, got {mutant}; {how}")
    if data is not None and str(Path(data).resolve()) != opts["data"]:
        was = f"--data {opts['data']}" if opts["data"] else "no --data"
        raise ConfigError(f"--data: {report} was started with {was}, got --data {data}; {how}")


def _report_arg(arg: str):
    """The report directory `scanflow verify ARG` resumes, or None when ARG names a paper (or all).
    A paper name always wins; a directory that is not a verify report, or a missing path, is one line."""
    from scanflow.engine.results import UNFINISHED_SUFFIX, final_dir
    from scanflow.verify.framework import OPTIONS_FILE, papers

    if arg == "all" or arg.replace("_", "-") in papers():
        return None
    path = Path(arg)
    if path.is_dir():
        if not (path / OPTIONS_FILE).is_file():
            raise ConfigError(f"{arg}: a directory, but not a report of scanflow verify (no {OPTIONS_FILE}); "
                              "expected a paper name or a report directory REPORT_DIR.partial to resume")
        return path
    if path.exists():
        raise ConfigError(f"{arg}: a file; expected a paper name or a report directory REPORT_DIR.partial to resume")
    if path.name.endswith(UNFINISHED_SUFFIX) and (final_dir(path) / OPTIONS_FILE).is_file():
        return final_dir(path)  # resumed already: said so below, exit 0
    if path.name.endswith(UNFINISHED_SUFFIX) or "/" in arg or "\\" in arg:
        raise ConfigError(f"{arg}: not found; expected a report directory REPORT_DIR.partial to resume")
    return None


def _paper_data(names: list[str], data) -> list[str]:
    """Hand --data to the papers that take input data. A paper's check module declares it with
    ``DATA_REQUIRED`` (the message when --data is missing) and ``check_data(path)`` (raises on a bad
    path, before any check runs). Without --data, ``verify NAME`` of such a paper is an error and
    ``verify all`` skips it."""
    from scanflow.engine.registry import load_paper_module

    needing = {n: load_paper_module(n) for n in names}
    needing = {n: m for n, m in needing.items() if getattr(m, "DATA_REQUIRED", None)}
    if not needing:
        if data is not None:
            raise ConfigError(f"--data: none of {names} takes input data")
        return names
    if data is None:
        if len(names) == 1:
            raise ConfigError(f"--data: {needing[names[0]].DATA_REQUIRED}")
        for n in needing:
            print(f"verify {n}: skipped (needs --data PATH)")
        return [n for n in names if n not in needing]
    for n, mod in needing.items():
        try:
            mod.check_data(data)  # one line on a bad path, before any check runs
        except ValueError as e:
            raise ConfigError(f"--data: {e}") from None
    return names


def _takes_data(paper: str) -> bool:
    from scanflow.engine.registry import load_paper_module

    return bool(getattr(load_paper_module(paper), "DATA_REQUIRED", None))


def _x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)  # exact identities are checked in float64


def _known_checks(paper: str, only: list[str]) -> None:
    """--only names checks the paper declares: one line before anything is written, if not."""
    from scanflow.verify.framework import select_checks

    try:
        select_checks(paper, only)
    except KeyError as e:
        raise ConfigError(str(e).strip("'\"")) from None


def _known_mutant(name: str, papers: list[str]) -> None:
    """--mutant names a mutation declared for the paper: one line before anything is written, if not."""
    from scanflow.verify.mutation import mutations

    if len(papers) != 1:
        raise ConfigError("--mutant: name one paper, e.g. scanflow verify scan-snap --quick --mutant lr-half")
    known = mutations(papers[0])
    if name not in known:
        raise ConfigError(f"--mutant: unknown mutation {name!r} for {papers[0]}; expected one of {sorted(known)}")


def _new_report_dir(out, paper: str, tag: str):
    """OUT/PAPER[-quick][-mutant-NAME]-YYYYmmdd-HHMMSS[-k]: a fresh name, taken neither finished nor interrupted."""
    from scanflow.engine.results import new_run_dir

    return new_run_dir(out if out is not None else REPORTS, f"{paper}{tag}")


def _selected(paper: str, only: list[str]) -> list[str]:
    from scanflow.verify.framework import select_checks

    return list(select_checks(paper, only or None))


def _header(opts: dict, outcomes: list, total: int, wall: float, done: dict, partial) -> str:
    """report.md's opening paragraph: interrupted (`partial`: where) or resumed, the mode, the wall
    time (over every invocation), the legend."""
    name, quick, mutant = opts["paper"], opts["quick"], opts.get("mutant")
    return (
        (f"MUTANT {mutant}: the simulator is broken on purpose ({_mutant_bug(mutant)}); a check that catches it "
         "says FAIL. " if mutant else "") +
        (f"INTERRUPTED (Ctrl-C) after {len(outcomes)} of {total} checks; the others did not run (resume with "
         f"`scanflow verify {partial}`). " if partial else "") +
        (f"Resumed: {len(done)} of {total} checks were recorded by an earlier, interrupted invocation. "
         if done else "") +
        f"Paper: {name}. Mode: {'quick' if quick else 'full'}. Wall time: "
        f"{wall:.0f} s. Modes: P = prediction (a simulation in the theorem's own setting against the theory: a "
        "population quantity, a seed expectation, an exact trajectory or a limit), C = code-faithful (the paper's "
        "own experiment against what the paper reports), T = theory only (no simulation: identities, closed "
        "forms, bounds)."
    )


def _mutant_bug(name: str) -> str:
    from scanflow.verify.mutation import MUTATIONS

    return MUTATIONS[name].bug if name in MUTATIONS else name


__all__ = ["REPORTS", "list_papers", "verify"]
