"""Command line: ``scanflow run CONFIG [dotted.key=value ...]`` and ``scanflow plot RUN_DIR``.

Bad input (unknown key, wrong type, impossible value, bad argument) prints one line naming the
field and what was expected, exits with status 2, and leaves no run directory behind.
"""

from __future__ import annotations

import argparse
import sys

from scanflow.config import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"scanflow: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scanflow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a sweep config and write a run directory")
    r.add_argument("config", help="YAML config, e.g. configs/scan_snap_small.yaml")
    r.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. train.steps=200")
    r.add_argument("--out", default=None, help="parent directory of the run directory (default: config out_dir)")
    r.add_argument("--no-plot", action="store_true", help="do not draw figures after the run")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    v = sub.add_parser("verify", help="run a paper's numerical checks and write a report")
    v.add_argument("paper", nargs="?", default="all", help="scan-snap (default: all papers)")
    v.add_argument("--quick", action="store_true", help="fewer seeds, steps and grid points (what the tests run)")
    v.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this check (repeatable)")
    v.add_argument("--out", default=None, help="report directory (default: reports/PAPER-YYYYmmdd-HHMMSS)")
    pl = sub.add_parser("plot", help="re-draw the figures of a run directory")
    pl.add_argument("run_dir")
    pl.add_argument("--out", default=None, help="write figures here instead of RUN_DIR/figures")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "verify":
            return _verify(args)
        return _plot(args)
    except ConfigError as e:
        print(f"scanflow: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError) as e:
        print(f"scanflow: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scanflow: interrupted; nothing was written (results appear only when a run completes)", file=sys.stderr)
        return 130


def _run(args) -> int:
    from scanflow.config import load_config

    cfg = load_config(args.config, args.overrides)  # validate before touching JAX
    if cfg.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    from scanflow.run import execute

    path = execute(cfg, out_dir=args.out, progress=not args.quiet, plot=not args.no_plot)
    _summary(path)
    return 0


def _summary(path) -> None:
    import numpy as np

    from scanflow.results import load_run

    r = load_run(path)
    t = r.manifest["timings"]
    n_runs = r.manifest["n_points"] * r.manifest["n_seeds"]
    print(f"wrote {path}")
    print(f"  {n_runs} runs ({r.manifest['n_points']} points x {r.manifest['n_seeds']} seeds), "
          f"compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s")
    loss = r["loss"][..., -1]
    for p in range(loss.shape[0]):
        ok = ~r["diverged"][p]
        med = float(np.median(loss[p][ok])) if ok.any() else float("nan")
        print(f"  point {p}: lr_Y={r['lr_Y'][p]:g} lr_Z={r['lr_Z'][p]:g}  final loss (median over seeds) {med:.3g}")
    bad = r.manifest["diverged_runs"]
    if bad:
        print(f"  WARNING: {len(bad)} run(s) diverged (NaN/inf), flagged in arrays['diverged']:")
        for b in bad:
            print(f"    point {b['point']} (lr_Y={b['lr_Y']:g}, lr_Z={b['lr_Z']:g}) seed {b['seed']} at step {b['step']}")
    if "solver_status" in r.arrays:
        from scanflow.dynamics.flow import STATUS_NAMES

        st = r["solver_status"]
        print(f"  solver: {int((st == 0).sum())}/{st.size} successful; steps {int(r['solver_steps'].min())}"
              f"..{int(r['solver_steps'].max())}")
        for code in sorted(set(np.unique(st)) - {0}):
            print(f"    {int((st == code).sum())} run(s): {STATUS_NAMES[int(code)]}")
    figs = sorted((path / "figures").glob("*.png")) if (path / "figures").is_dir() else []
    for f in figs:
        print(f"  figure {f}")


def _verify(args) -> int:
    import tempfile
    import time
    from pathlib import Path

    from scanflow.verify.framework import Context, exit_code, papers, run_checks, write_report

    names = papers() if args.paper == "all" else [args.paper.replace("_", "-")]
    for name in names:
        if name not in papers():
            raise ConfigError(f"verify: unknown paper {args.paper!r}; expected one of {papers()} or all")
    if args.only and len(names) != 1:
        raise ConfigError("--only: name one paper, e.g. scanflow verify scan-snap --only S1")
    import jax

    jax.config.update("jax_enable_x64", True)  # exact identities are checked in float64
    code = 0
    for name in names:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path("reports") / f"{name}{'-quick' if args.quick else ''}-{stamp}"
        if out.exists():
            raise FileExistsError(f"report directory {out} already exists")
        print(f"verify {name}{' (quick)' if args.quick else ''}:")
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as figs:
            try:
                outcomes = run_checks(name, Context(quick=args.quick, fig_dir=Path(figs)), only=args.only or None)
            except KeyError as e:
                raise ConfigError(str(e).strip("'\"")) from None
            header = (
                f"Paper: {name}. Mode: {'quick' if args.quick else 'full'}. Wall time: "
                f"{time.perf_counter() - t0:.0f} s. Modes: P = population (T -> inf, exact), C = code-faithful "
                "(sampled, finite T), T = theory only."
            )
            write_report(out, f"scanflow verify {name}", outcomes, Path(figs), header)
        counts = {}
        for o in outcomes:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        print(f"  {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}; report {out / 'report.md'}")
        code = max(code, exit_code(outcomes))
    return code


def _plot(args) -> int:
    from pathlib import Path

    from scanflow.plots import plot_run

    for f in plot_run(Path(args.run_dir), out_dir=args.out):
        print(f"figure {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
