"""Command line: ``scanflow run CONFIG [dotted.key=value ...]`` and ``scanflow plot RUN_DIR``.

``scanflow run RUN_DIR.partial`` resumes an interrupted run (Ctrl-C or a kill) from its last chunk.

Bad input (unknown key, wrong type, impossible value, bad argument) prints one line naming the
field and what was expected, exits with status 2, and leaves no run directory behind.
"""

from __future__ import annotations

import argparse
import contextlib
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
                   help="vmap B runs at a time (default: 1 on CPU, 256 on an accelerator); a run's bits depend on B "
                        "but not on the grid around it or on the number of devices at a fixed B")
    r.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help="checkpoint the carried state after a chunk at most this often (default 60; 0: every chunk)")
    r.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() first (one process per host); the "
                        "cluster (SLURM, Open MPI, ...) is detected unless the next three flags are given")
    r.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="with --distributed: process 0's address and a free port, reachable from every process")
    r.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="with --distributed --coordinator: the number of processes")
    r.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="with --distributed --coordinator: this process's id, 0..N-1 (0 runs the coordinator)")
    v = sub.add_parser("verify", help="run a paper's numerical checks and write a report")
    v.add_argument("paper", nargs="?", default=None,
                   help=f"one of {', '.join(_paper_names())} (built-in or installed), or all; without it, list the "
                        "papers and their expected durations")
    v.add_argument("--quick", action="store_true", help="fewer seeds, steps and grid points (what the tests run)")
    v.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this check (repeatable)")
    v.add_argument("--out", default=None, help="report directory (default: reports/PAPER-YYYYmmdd-HHMMSS)")
    v.add_argument("--data", default=None, metavar="PATH",
                   help="real-text corpus: a directory with train.txt + valid.txt (or test.txt + valid.txt), or one "
                        "text file, e.g. data/wikitext-2")
    pl = sub.add_parser("plot", help="re-draw the figures of a run directory")
    pl.add_argument("run_dir")
    pl.add_argument("--out", default=None, help="write figures here instead of RUN_DIR/figures")
    return p


def _parse(argv: list[str] | None):
    """Options and overrides in any order: each subcommand's arguments are parsed intermixed
    (``scanflow run CONFIG --out X sweep.seeds=2`` and ``scanflow run --out X CONFIG sweep.seeds=2``)."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if argv and argv[0] in subs.choices:
        ns = subs.choices[argv[0]].parse_intermixed_args(argv[1:])
        ns.command = argv[0]
        if ns.command == "run":  # the config is the one positional that is not key=value (or is a path)
            from pathlib import Path

            pos = [ns.config, *ns.overrides]
            configs = [x for x in pos if "=" not in x or Path(x).exists()]
            if len(configs) == 1:
                ns.config, ns.overrides = configs[0], [x for x in pos if x is not configs[0]]
            elif not configs:
                ns.config, ns.overrides = "", pos  # reported below as a missing config
        return ns
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        return _main(args)
    except BrokenPipeError:  # `scanflow ... | head`: the reader left; end quietly, as other tools do
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second BrokenPipeError when Python flushes at exit
        except (OSError, ValueError):
            pass
        return 141


def _main(args) -> int:
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
        print(f"scanflow: {_interrupt_message(e)}", file=sys.stderr)
        return 143 if getattr(e, "signum", 2) == 15 else 130
    except BrokenPipeError:
        raise
    except OSError as e:  # a full disk, a read-only or missing directory: one line, the run stays resumable
        print(f"scanflow: error: {_os_error_message(e)}", file=sys.stderr)
        return 2
    except ValueError as e:  # a damaged run directory (RunDirError), a bad corpus path: one line naming the file
        if type(e).__name__ not in ("RunDirError", "CorpusError"):
            raise
        print(f"scanflow: error: {e}", file=sys.stderr)
        return 2


def _interrupt_message(e: KeyboardInterrupt) -> str:
    """Say exactly what exists after an interrupt."""
    from pathlib import Path

    name = type(e).__name__
    run_dir = getattr(e, "run_dir", None)
    if name == "PlotInterrupted":
        return (f"interrupted while drawing figures; the run directory {run_dir} is complete; draw them with: "
                f"scanflow plot {run_dir}")
    if run_dir is None or not Path(run_dir).exists():
        return "interrupted before a run directory was started; nothing was written"
    done, total = getattr(e, "chunks_done", 0), getattr(e, "n_chunks", None)
    if done:
        of = f" of {total}" if total else ""
        return (f"interrupted; {run_dir} holds the records and a checkpoint of {done}{of} chunks; resume with: "
                f"scanflow run {run_dir}")
    return (f"interrupted; {run_dir} holds no checkpoint yet, so a resume starts again at chunk 0 (with the same "
            f"bits); resume with: scanflow run {run_dir}")


def _os_error_message(e: OSError) -> str:
    where = e.filename or "a file"
    what = e.strerror or str(e)
    work = getattr(e, "work", None)
    hint = "check the path, its permissions and the free space"
    if work is not None:
        hint += f"; the run is resumable: scanflow run {work}"
    return f"{where}: {what}; {hint}"


def _run(args) -> int:
    from scanflow.engine.config import load_config

    from pathlib import Path

    from scanflow.engine.results import is_unfinished

    if not args.config:
        raise ConfigError(f"config: expected a YAML config file among the arguments, got only overrides {args.overrides}")

    resume = Path(args.config) if is_unfinished(args.config) else None
    _explain_run_dir(Path(args.config))
    if resume is not None and (args.overrides or args.out):
        raise ConfigError(f"{args.config}: an unfinished run resumes with its own config; expected no overrides or --out")
    for flag, v in (("--devices", args.devices), ("--runs-per-block", args.runs_per_block)):
        if v is not None and v < 1:
            raise ConfigError(f"{flag}: expected an integer >= 1, got {v}")
    if not args.checkpoint_every >= 0:
        raise ConfigError(f"--checkpoint-every: expected a number of seconds >= 0, got {args.checkpoint_every}")
    cluster = _cluster_args(args)
    if args.out is not None:
        _check_out_dir("--out", args.out)
    from scanflow.engine.config import check_resources, device_checks, host_only_checks

    with _startup_interrupts():  # loading the config imports JAX (through optax): Ctrl-C there is not lost
        with host_only_checks() if args.distributed else contextlib.nullcontext():  # no JAX before the cluster
            cfg = load_config(resume / "config.yaml" if resume else args.config, args.overrides)
        import jax
    if args.out is None and resume is None:
        _check_out_dir("out_dir", cfg.out_dir)

    if args.distributed:
        _join_cluster(cluster)  # before anything touches a device
    if args.devices is not None and args.devices > jax.device_count():
        raise ConfigError(f"--devices: expected at most {jax.device_count()} (devices available), got {args.devices}")
    from scanflow.engine.run import execute
    from scanflow.engine.sweep import check_devices

    check_devices(cfg, args.devices or jax.device_count())  # before the run directory exists
    if args.distributed:
        device_checks(cfg)  # the workload checks skipped before the cluster was joined
    from scanflow.engine.sweep import default_block

    check_resources(cfg, args.runs_per_block or default_block())  # with the real vmapped block of this backend

    path = execute(cfg, out_dir=args.out, progress=not args.quiet, plot=not args.no_plot, resume=resume,
                   n_devices=args.devices, runs_per_block=args.runs_per_block,
                   checkpoint_every_s=args.checkpoint_every)
    if jax.process_index() != 0:
        return 0
    _summary(path)
    return 0


def _check_out_dir(flag: str, out) -> None:
    """`out` can be (or become) a writable directory: one line naming `flag` if not, before anything runs."""
    import os
    from pathlib import Path

    if not isinstance(out, str) or not out.strip() or "\0" in out:
        raise ConfigError(f"{flag}: expected a directory path, got {out!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}: expected a directory, got the existing file {out}")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{flag}: expected a directory path, but {parent} is a file")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: expected a writable directory, but {parent} is not writable")


@contextlib.contextmanager
def _startup_interrupts():
    """Record Ctrl-C while JAX is imported and the config loaded, then stop: an interrupt during
    start-up exits 130 instead of being lost. Outside the main thread nothing changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit = []
    old = signal.signal(signal.SIGINT, lambda *_: hit.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if hit:
        raise KeyboardInterrupt


def _explain_run_dir(path) -> None:
    """A directory given to `scanflow run` that is not a config and not resumable: say what it is."""
    from scanflow.engine.results import UNFINISHED_SUFFIX, final_dir

    if not path.is_dir() or (path / "config.yaml").is_file() and path.name.endswith(UNFINISHED_SUFFIX):
        return
    if path.name.endswith(UNFINISHED_SUFFIX):
        done = final_dir(path)
        extra = f" (it finished: {done})" if done.is_dir() else ""
        raise ConfigError(f"{path}: an unfinished run directory without config.yaml cannot be resumed{extra}")
    if (path / "config.yaml").is_file() and (path / "manifest.json").is_file():
        raise ConfigError(f"{path}: a finished run directory; to run its config again (a new run directory): "
                          f"scanflow run {path / 'config.yaml'}")
    raise ConfigError(f"{path}: a directory; expected a YAML config file or an unfinished run directory NAME.partial")


def _cluster_args(args) -> dict:
    """--coordinator, --num-processes, --process-id checked (one-line errors, before JAX): {} to detect
    the cluster, or jax.distributed.initialize's three arguments."""
    import re

    given = {"--coordinator": args.coordinator, "--num-processes": args.num_processes, "--process-id": args.process_id}
    named = [f for f, v in given.items() if v is not None]
    if not named:
        return {}
    if not args.distributed:
        raise ConfigError(f"{named[0]}: only with --distributed")
    missing = [f for f, v in given.items() if v is None]
    if missing:
        raise ConfigError(f"{missing[0]}: missing; --coordinator, --num-processes and --process-id go together "
                          "(or give none of them to detect the cluster)")
    n, i, addr = args.num_processes, args.process_id, args.coordinator
    if n < 1:
        raise ConfigError(f"--num-processes: expected an integer >= 1, got {n}")
    if not 0 <= i < n:
        raise ConfigError(f"--process-id: expected 0..{n - 1} (--num-processes {n}), got {i}")
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):([0-9]{1,5})", addr)
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise ConfigError(f"--coordinator: expected HOST:PORT with a port 1..65535 (e.g. 10.0.0.1:29500 or "
                          f"[::1]:29500), got {addr!r}")
    return {"coordinator_address": addr, "num_processes": n, "process_id": i}


def _join_cluster(cluster: dict) -> None:
    """jax.distributed.initialize: with `cluster` (explicit coordinator), cluster detection is off; CPU
    collectives between processes use gloo unless JAX_CPU_COLLECTIVES_IMPLEMENTATION names another."""
    import jax

    if not jax.config.jax_cpu_collectives_implementation:  # gloo is JAX 0.10's default; older JAX had none
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        if cluster:
            jax.distributed.initialize(**cluster, cluster_detection_method="deactivate")
        else:
            jax.distributed.initialize()
    except ValueError as e:
        if cluster:
            raise ConfigError(f"--distributed: {str(e).strip().splitlines()[0]}") from None
        raise ConfigError("--distributed: no cluster detected (SLURM, Open MPI, Kubernetes, ...); run under a "
                          "launcher or give --coordinator HOST:PORT --num-processes N --process-id I") from None
    except RuntimeError as e:  # XLA's: the coordinator's port is taken, or it was not reached in time
        where = cluster.get("coordinator_address", "the detected coordinator")
        raise ConfigError(f"--distributed: could not join {where}: {str(e).strip().splitlines()[0]}") from None


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

    from scanflow.verify.framework import ChecksInterrupted, Context, exit_code, papers, run_checks, write_report

    if args.paper is None:
        given = [f for f, v in (("--out", args.out), ("--only", args.only), ("--quick", args.quick),
                                ("--data", args.data)) if v]
        if given:
            raise ConfigError(f"paper: {given[0]} needs a paper name or all; scanflow verify alone lists the papers")
        return _list_papers(args)
    names = papers() if args.paper == "all" else [args.paper.replace("_", "-")]
    for name in names:
        if name not in papers():
            raise ConfigError(f"verify: unknown paper {args.paper!r}; expected one of {papers()} or all")
    if args.only and len(names) != 1:
        raise ConfigError("--only: name one paper, e.g. scanflow verify scan-snap --only S1")
    names = _paper_data(names, args)
    if args.out is not None:  # one report directory: refused up front, not after a first report was written
        from pathlib import Path as _Path

        if len(names) > 1:
            raise ConfigError(f"--out: one report directory holds one paper's report; expected one paper, got {names}")
        if _Path(args.out).exists():
            kind = "directory" if _Path(args.out).is_dir() else "file"
            raise ConfigError(f"--out: expected a new report directory, got the existing {kind} {args.out}")
        _check_out_dir("--out", args.out)
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
            interrupted = None
            try:
                ctx = Context(quick=args.quick, fig_dir=Path(figs), data=Path(args.data) if args.data else None)
                outcomes = run_checks(name, ctx, only=args.only or None)
            except KeyError as e:
                raise ConfigError(str(e).strip("'\"")) from None
            except ChecksInterrupted as e:  # Ctrl-C: keep every finished check in a report
                outcomes, interrupted = e.outcomes, e
            header = (
                (f"INTERRUPTED (Ctrl-C) after {len(outcomes)} of {interrupted.total} checks; the others did not run. "
                 if interrupted else "") +
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
        if interrupted:
            print(f"scanflow: interrupted; the {len(outcomes)} finished check(s) are in {out / 'report.md'}; run the "
                  f"rest with --only NAME", file=sys.stderr)
            return 130
        code = max(code, exit_code(outcomes))
    return code


def _list_papers(args) -> int:
    """``scanflow verify`` without a paper: what can be verified and how long it takes."""
    from scanflow.engine.registry import load_paper_module, paper_names

    print("papers (scanflow verify PAPER [--quick], or all):")
    for name in paper_names():
        try:
            mod = load_paper_module(name)
        except Exception as e:  # noqa: BLE001 - an installed paper that fails to import is listed, not fatal
            print(f"  {name:14s} cannot be loaded ({e.__class__.__name__}: {e})")
            continue
        dur = getattr(mod, "EXPECTED_DURATION", "duration not declared")
        needs = " (needs --data PATH)" if getattr(mod, "DATA_REQUIRED", None) else ""
        print(f"  {name:14s} {dur}{needs}")
    return 0


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

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        what = "a file" if run_dir.exists() else "nothing (not found)"
        raise ConfigError(f"{args.run_dir}: expected a run directory, got {what}")
    if args.out is not None:
        _check_out_dir("--out", args.out)
    from scanflow.engine.figures import plot_run

    for f in plot_run(Path(args.run_dir), out_dir=args.out):
        print(f"figure {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
