"""Command line: ``scanflow run CONFIG [dotted.key=value ...]`` and ``scanflow plot RUN_DIR``.

``scanflow run RUN_DIR.partial`` resumes an interrupted run (Ctrl-C or a kill) from its last chunk.

Bad input (unknown key, wrong type, impossible value, bad argument) prints one line naming the
field and what was expected, exits with status 2, and leaves no run directory behind.
"""

from __future__ import annotations

import argparse
import sys

from scanflow.engine.config import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"scanflow: error: {message}\n")


def _paper_names() -> list[str]:
    from scanflow.engine.registry import paper_names

    return paper_names()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scanflow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a sweep config and write a run directory")
    r.add_argument("config", help="YAML config, e.g. configs/scan_snap_small.yaml, or an unfinished run "
                                  "directory RUN_DIR.partial to resume")
    r.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. train.steps=200")
    r.add_argument("--out", default=None, help="parent directory of the run directory (default: config out_dir)")
    r.add_argument("--no-plot", action="store_true", help="do not draw figures after the run")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--devices", type=int, default=None, metavar="N",
                   help="shard the runs over the first N devices (default: all devices)")
    r.add_argument("--runs-per-block", type=int, default=None, metavar="B",
                   help="vmap B runs at a time (default: ceil(runs/8)); results do not depend on --devices "
                        "at a fixed B")
    r.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help="checkpoint the carried state after a chunk at most this often (default 60; 0: every chunk)")
    r.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() first (one process per host)")
    v = sub.add_parser("verify", help="run a paper's numerical checks and write a report")
    v.add_argument("paper", nargs="?", default="all",
                   help=f"one of {', '.join(_paper_names())}, built-in or installed (default: all)")
    v.add_argument("--quick", action="store_true", help="fewer seeds, steps and grid points (what the tests run)")
    v.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this check (repeatable)")
    v.add_argument("--out", default=None, help="report directory (default: reports/PAPER-YYYYmmdd-HHMMSS)")
    v.add_argument("--data", default=None, metavar="PATH",
                   help="real-text corpus: a directory with train.txt + valid.txt (or test.txt + valid.txt), or one "
                        "text file, e.g. ../shared/data/wikitext-2")
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
    except KeyboardInterrupt as e:
        run_dir = getattr(e, "run_dir", None)
        if run_dir is not None and run_dir.exists():
            print(f"scanflow: interrupted; finished chunks are kept in {run_dir}; resume with: "
                  f"scanflow run {run_dir}", file=sys.stderr)
        else:
            print("scanflow: interrupted before a run directory was started; nothing was written", file=sys.stderr)
        return 130


def _run(args) -> int:
    from scanflow.engine.config import load_config

    from pathlib import Path

    from scanflow.engine.results import is_unfinished

    resume = Path(args.config) if is_unfinished(args.config) else None
    if resume is not None and (args.overrides or args.out):
        raise ConfigError(f"{args.config}: an unfinished run resumes with its own config; expected no overrides or --out")
    for flag, v in (("--devices", args.devices), ("--runs-per-block", args.runs_per_block)):
        if v is not None and v < 1:
            raise ConfigError(f"{flag}: expected an integer >= 1, got {v}")
    if not args.checkpoint_every >= 0:
        raise ConfigError(f"--checkpoint-every: expected a number of seconds >= 0, got {args.checkpoint_every}")
    cfg = load_config(resume / "config.yaml" if resume else args.config, args.overrides)  # validate before JAX
    import jax

    if args.distributed:
        jax.distributed.initialize()  # before anything touches a device
    if args.devices is not None and args.devices > jax.device_count():
        raise ConfigError(f"--devices: expected at most {jax.device_count()} (devices available), got {args.devices}")
    from scanflow.engine.run import execute
    from scanflow.engine.sweep import check_devices

    check_devices(cfg, args.devices or jax.device_count())  # before the run directory exists

    path = execute(cfg, out_dir=args.out, progress=not args.quiet, plot=not args.no_plot, resume=resume,
                   n_devices=args.devices, runs_per_block=args.runs_per_block,
                   checkpoint_every_s=args.checkpoint_every)
    if jax.process_index() != 0:
        return 0
    _summary(path)
    return 0


def _summary(path) -> None:
    import numpy as np

    from scanflow.engine.results import load_run

    r = load_run(path)
    t = r.manifest["timings"]
    n_runs = r.manifest["n_points"] * r.manifest["n_seeds"]
    print(f"wrote {path}")
    print(f"  {n_runs} runs ({r.manifest['n_points']} points x {r.manifest['n_seeds']} seeds), "
          f"compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s")
    loss_name = "loss" if "loss" in r.arrays else "train_loss"  # the workload's loss metric, if it records one
    loss = r[loss_name][..., -1]
    for p in range(loss.shape[0]):
        ok = ~r["diverged"][p]
        med = float(np.median(loss[p][ok])) if ok.any() else float("nan")
        lrs = " ".join(f"{k}={r[k][p]:g}" for k in r.arrays if k.startswith("lr_"))  # the workload's lr groups
        print(f"  point {p}: {lrs}  final {loss_name} (median over seeds) {med:.3g}")
    bad = r.manifest["diverged_runs"]
    if bad:
        print(f"  WARNING: {len(bad)} run(s) diverged (NaN/inf), flagged in arrays['diverged']:")
        for b in bad:
            lrs = ", ".join(f"{k}={v:g}" for k, v in b.items() if k.startswith("lr_"))
            print(f"    point {b['point']} ({lrs}) seed {b['seed']} at step {b['step']}")
    if "solver_status" in r.arrays:
        from scanflow.engine.flow import STATUS_NAMES

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
    names = _paper_data(names, args)
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
                ctx = Context(quick=args.quick, fig_dir=Path(figs), data=Path(args.data) if args.data else None)
                outcomes = run_checks(name, ctx, only=args.only or None)
            except KeyError as e:
                raise ConfigError(str(e).strip("'\"")) from None
            header = (
                f"Paper: {name}. Mode: {'quick' if args.quick else 'full'}. Wall time: "
                f"{time.perf_counter() - t0:.0f} s. Modes: P = exact/population setting (no sampling noise: "
                "T -> inf, or full-batch in the theory regime), C = code-faithful or the paper's own setting (sampled, "
                "finite T, or the paper's figure settings), T = theory only (or small exact identities)."
            )
            write_report(out, f"scanflow verify {name}", outcomes, Path(figs), header)
        counts = {}
        for o in outcomes:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        print(f"  {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}; report {out / 'report.md'}")
        code = max(code, exit_code(outcomes))
    return code


def _paper_data(names: list[str], args) -> list[str]:
    """Hand --data to the papers that take input data. A paper's check module declares it with
    ``DATA_REQUIRED`` (the message when --data is missing) and ``check_data(path)`` (raises on a bad
    path, before any check runs). Without --data, ``verify NAME`` of such a paper is an error and
    ``verify all`` skips it."""
    from scanflow.engine.registry import load_paper_module

    needing = {n: load_paper_module(n) for n in names}
    needing = {n: m for n, m in needing.items() if getattr(m, "DATA_REQUIRED", None)}
    if not needing:
        if args.data is not None:
            raise ConfigError(f"--data: none of {names} takes input data")
        return names
    if args.data is None:
        if len(names) == 1:
            raise ConfigError(f"--data: {needing[names[0]].DATA_REQUIRED}")
        for n in needing:
            print(f"verify {n}: skipped (needs --data PATH)")
        return [n for n in names if n not in needing]
    for n, mod in needing.items():
        try:
            mod.check_data(args.data)  # one line on a bad path, before any check runs
        except ValueError as e:
            raise ConfigError(f"--data: {e}") from None
    return names


def _plot(args) -> int:
    from pathlib import Path

    from scanflow.engine.figures import plot_run

    for f in plot_run(Path(args.run_dir), out_dir=args.out):
        print(f"figure {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
