"""Command line: ``scanflow run CONFIG [dotted.key=value ...]``, ``scanflow verify PAPER`` and ``scanflow plot RUN_DIR``.

``scanflow run RUN_DIR.partial`` resumes an interrupted run (Ctrl-C or a kill) from its last chunk;
``scanflow verify REPORT_DIR.partial`` runs the checks an interrupted verify did not finish.
``--out DIR`` means the same in every command: the parent directory of the new directory the
command creates (run: DIR/NAME-STAMP, verify: DIR/PAPER-STAMP, plot: DIR/RUN_NAME-figures).

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
    r.add_argument("--out", default=None, metavar="DIR",
                   help="parent directory of the run directory that this command creates, NAME-YYYYmmdd-HHMMSS "
                        "(default: the config's out_dir)")
    r.add_argument("--no-plot", action="store_true", help="do not draw figures after the run")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--devices", type=int, default=None, metavar="N",
                   help="shard the runs over the first N devices (default: all devices)")
    r.add_argument("--runs-per-block", type=int, default=None, metavar="B",
                   help="vmap B runs at a time (default: the config's sweep.runs_per_block, else 1 on CPU, 256 on an "
                        "accelerator); a run's bits depend on B "
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
                   help=f"one of {', '.join(_paper_names())} (built-in or installed), or all; or an interrupted "
                        "report directory REPORT_DIR.partial to run its unfinished checks (resume); without it, list "
                        "the papers and their expected durations")
    v.add_argument("--quick", action="store_true", help="fewer seeds, steps and grid points (what the tests run)")
    v.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this check (repeatable)")
    v.add_argument("--out", default=None, metavar="DIR",
                   help="parent directory of the report directory that this command creates, one per paper: "
                        "PAPER[-quick]-YYYYmmdd-HHMMSS (default: reports)")
    v.add_argument("--data", default=None, metavar="PATH",
                   help="real-text corpus: a directory with train.txt + valid.txt (or test.txt + valid.txt), or one "
                        "text file, e.g. data/wikitext-2")
    v.add_argument("--mutant", default=None, metavar="NAME",
                   help="break the simulator on purpose with a declared mutation (docs/mutations.md) and run the "
                        "checks against it: a check that catches it says FAIL and the exit code is non-zero")
    pl = sub.add_parser("plot", help="re-draw the figures of a run directory")
    pl.add_argument("run_dir")
    pl.add_argument("--out", default=None, metavar="DIR",
                   help="parent directory of the figure directory that this command creates, RUN_NAME-figures "
                        "(default: no new directory; the figures are re-drawn into RUN_DIR/figures)")
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
    args.own_process = argv is None  # the command line itself (not main([...]) called from Python)
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
        if args.command in ("run", "verify") and args.own_process:
            from scanflow.engine.sharding import use_host_cores

            use_host_cores()  # one CPU device per core, before JAX starts
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
    if _is_finished_run(Path(args.config)):
        return _extend(args)
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

    if args.distributed:
        device_checks(cfg)  # the workload checks skipped before the cluster was joined
    from scanflow.engine.sweep import default_block

    check_resources(cfg, args.runs_per_block or cfg.sweep.runs_per_block or default_block())  # with the real vmapped block of this backend

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


def _is_finished_run(path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file() and (path / "manifest.json").is_file() and (
        (path / "results.nc").is_file() or (path / "arrays.npz").is_file())


def _extend(args) -> int:
    """``scanflow run RUN_DIR sweep.seeds=20``: the finished sweep with more seeds, learning rates or axis
    values; only the new runs are computed, into a new run directory (`scanflow.engine.run.extend`)."""
    from pathlib import Path

    if not args.overrides:
        raise ConfigError(f"{args.config}: a finished run directory; to extend it give what grows, e.g. "
                          f"sweep.seeds=20 or 'sweep.lr.Y=[1, 10, 100]'; to run its config again: "
                          f"scanflow run {Path(args.config) / 'config.yaml'}")
    if args.distributed:
        raise ConfigError("--distributed: extending a finished run runs in one process; drop --distributed")
    if args.out is not None:
        _check_out_dir("--out", args.out)
    with _startup_interrupts():
        from scanflow.engine.run import extend

    path = extend(args.config, args.overrides, out_dir=args.out, progress=not args.quiet, plot=not args.no_plot,
                  n_devices=args.devices, runs_per_block=args.runs_per_block)
    _summary(path)
    from scanflow.engine.dataset import manifest_of
    from scanflow.engine.results import load_run

    m = manifest_of(load_run(path))
    print(f"  extended {m['extended_from']}: computed {m['computed_runs']} new run(s), reused {m['reused_runs']}")
    return 0


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
    """What `scanflow run` prints: sizes, timings, the final loss per grid point (median over seeds),
    diverged runs, solver status, the workload's own summary (`Workload.summary`) and the figures."""
    import numpy as np

    from scanflow.engine.dataset import config_of, manifest_of, point_levels, static_axes
    from scanflow.engine.registry import get_workload
    from scanflow.engine.results import load_run

    ds = load_run(path)
    m = manifest_of(ds)
    t = m["timings"]
    static = static_axes(ds)
    n_parts = int(np.prod([ds.sizes[d] for d in static])) if static else 1
    n_runs = m["n_points"] * m["n_seeds"] * n_parts
    print(f"wrote {path}")
    shape = f"{m['n_points']} points x {m['n_seeds']} seeds" + "".join(f" x {ds.sizes[d]} {d}" for d in static)
    print(f"  {n_runs} runs ({shape}), compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s")
    loss_name = "loss" if "loss" in ds else "train_loss"  # the workload's loss metric, if it records one
    final = ds[loss_name].isel({ds.attrs["record_label"]: -1}).where(~ds["diverged"])
    med = final.median("seed")
    lr_names = [k for k in point_levels(ds) if k in ds.coords and ds[k].dims == ("point",)  # what labels a point
                and (k.startswith("lr_") or np.unique(ds[k].values).size > 1)]
    for where in (np.ndindex(*[ds.sizes[d] for d in static]) if static else [()]):
        sub = med.isel(dict(zip(static, where)))
        head = ", ".join(f"{d}={ds[d].values[i]}" for d, i in zip(static, where))
        if head:
            print(f"  {head}:")
        for p in range(ds.sizes["point"]):
            lrs = " ".join(f"{k}={ds[k].values[p]:g}" for k in lr_names)  # the workload's lr groups
            print(f"  {'  ' if head else ''}point {p}: {lrs}  final {loss_name} (median over seeds) "
                  f"{float(sub.isel(point=p)):.3g}")
    bad = m["diverged_runs"]
    if bad:
        print(f"  WARNING: {len(bad)} run(s) diverged (NaN/inf), flagged in the variable 'diverged':")
        for b in bad:
            lrs = ", ".join(f"{k}={v:g}" for k, v in b.items() if k.startswith("lr_"))
            extra = "".join(f" {d}={b[d]}" for d in static if d in b)
            print(f"    point {b['point']} ({lrs}){extra} seed {b['seed']} at step {b['step']}")
    if "solver_status" in ds:
        from scanflow.engine.flow import STATUS_NAMES

        st, steps = ds["solver_status"].values, ds["solver_steps"].values
        print(f"  solver: {int((st == 0).sum())}/{st.size} successful; steps {int(np.nanmin(steps))}"
              f"..{int(np.nanmax(steps))}")
        for code in sorted(set(np.unique(st[np.isfinite(st)]).astype(int).tolist()) - {0}):
            print(f"    {int((st == code).sum())} run(s): {STATUS_NAMES[int(code)]}")
    text = get_workload(config_of(ds).get("workload", "scan_snap")).summary(ds)
    if text:
        print(text)
    figs = sorted((path / "figures").glob("*.png")) if (path / "figures").is_dir() else []
    for f in figs:
        print(f"  figure {f}")


REPORTS = "reports"  # verify's default --out


def _verify(args) -> int:
    from pathlib import Path

    from scanflow.verify.framework import papers

    if args.paper is None:
        given = [f for f, v in (("--out", args.out), ("--only", args.only), ("--quick", args.quick),
                                ("--data", args.data), ("--mutant", args.mutant)) if v]
        if given:
            raise ConfigError(f"paper: {given[0]} needs a paper name or all; scanflow verify alone lists the papers")
        return _list_papers(args)
    report = _report_arg(args.paper)
    if report is not None:
        return _verify_resume(args, report)
    names = papers() if args.paper == "all" else [args.paper.replace("_", "-")]
    for name in names:
        if name not in papers():
            raise ConfigError(f"verify: unknown paper {args.paper!r}; expected one of {papers()} or all, or a "
                              "report directory REPORT_DIR.partial to resume")
    if args.only and len(names) != 1:
        raise ConfigError("--only: name one paper, e.g. scanflow verify scan-snap --only S1")
    names = _paper_data(names, args)
    if args.out is not None:  # before any check runs
        _check_out_dir("--out", args.out)
    else:
        _check_out_dir(f"--out (default {REPORTS})", REPORTS)
    if args.only:
        _known_checks(names[0], args.only)
    if args.mutant is not None:
        _known_mutant(args.mutant, names)
    _x64()
    code = 0
    for i, name in enumerate(names):
        data = args.data if args.data and _takes_data(name) else None  # `all --data`: only the papers that read it
        options = {"paper": name, "quick": bool(args.quick), "only": list(args.only),
                   "data": str(Path(data).resolve()) if data else None, "mutant": args.mutant}
        tag = f"{'-quick' if args.quick else ''}{f'-mutant-{args.mutant}' if args.mutant else ''}"
        code = max(code, _verify_paper(options, _new_report_dir(args.out, name, tag), later=names[i + 1:]))
        if code == 130:
            break
    return code


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


def _report_arg(arg: str):
    """The report directory `scanflow verify ARG` resumes, or None when ARG names a paper (or all).
    A paper name always wins; a directory that is not a verify report, or a missing path, is one line."""
    from pathlib import Path

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


def _verify_resume(args, report) -> int:
    """``scanflow verify REPORT_DIR.partial``: run only the checks without a recorded verdict, with the
    options the report was started with, and write the whole report again (the .partial goes)."""
    from scanflow.engine.results import UNFINISHED_SUFFIX, final_dir
    from scanflow.verify.framework import papers, read_options, recorded_outcomes

    opts = read_options(report)
    if opts["status"] == "complete":
        print(f"{report}: the report is complete ({len(opts['checks'])} check(s)); nothing to re-run; see "
              f"{report / 'report.md'}")
        return 0
    _same_options(args, opts, report)
    if opts["paper"] not in papers():
        raise ConfigError(f"{report}: paper {opts['paper']!r} is not available now; expected one of {papers()}")
    import argparse

    _paper_data([opts["paper"]], argparse.Namespace(data=opts["data"]))  # the recorded data is still there
    _known_checks(opts["paper"], opts["only"])
    try:
        done = recorded_outcomes(report, opts["paper"])
    except KeyError as e:
        raise ConfigError(str(e).strip("'\"")) from None
    final = final_dir(report) if report.name.endswith(UNFINISHED_SUFFIX) else report
    _x64()
    return _verify_paper(opts, final, done=done, replace=report)


def _same_options(args, opts: dict, report) -> None:
    """A resume runs with the options the report was started with: an option given again must be
    the same; one that differs is refused, naming it (the report would mix two settings)."""
    from pathlib import Path

    how = "resume it with the options it was started with, or none"
    if args.out is not None:
        raise ConfigError(f"--out: a resumed report is finished in place ({report}); expected no --out")
    if args.quick and not opts["quick"]:
        raise ConfigError(f"--quick: {report} was started without --quick; {how}")
    if args.only and list(args.only) != list(opts["only"]):
        was = " ".join(f"--only {n}" for n in opts["only"]) or "no --only (every check)"
        raise ConfigError(f"--only: {report} was started with {was}, got {' '.join(f'--only {n}' for n in args.only)}; "
                          f"{how}")
    if args.mutant is not None and args.mutant != opts.get("mutant"):
        raise ConfigError(f"--mutant: {report} was started with --mutant {opts.get('mutant')}, got {args.mutant}; {how}")
    if args.data is not None and str(Path(args.data).resolve()) != opts["data"]:
        was = f"--data {opts['data']}" if opts["data"] else "no --data"
        raise ConfigError(f"--data: {report} was started with {was}, got --data {args.data}; {how}")


def _verify_paper(opts: dict, final, done: dict | None = None, replace=None, later: list[str] = ()) -> int:
    """Run one paper's checks (those not in `done`) and write its report to `final`, or to
    `final`.partial when Ctrl-C stops them: that one records the options and prints how to resume."""
    import shutil
    import tempfile
    import time
    from pathlib import Path

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
        ctx = Context(quick=quick, fig_dir=figs, data=Path(opts["data"]) if opts["data"] else None)
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
        return 130
    return exit_code(outcomes)


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
        f"{wall:.0f} s. Modes: P = exact/population setting (no sampling noise: "
        "T -> inf, or full-batch in the theory regime), C = code-faithful or the paper's own setting (sampled, "
        "finite T, or the paper's figure settings), T = theory only (or small exact identities)."
    )


def _mutant_bug(name: str) -> str:
    from scanflow.verify.mutation import MUTATIONS

    return MUTATIONS[name].bug if name in MUTATIONS else name


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
        from scanflow.verify.mutation import MUTATIONS

        muts = sorted(n for n, m in MUTATIONS.items() if m.paper == name)
        if muts:
            print(f"  {'':14s} mutations (--mutant NAME): {', '.join(muts)}")
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
    from scanflow.engine.figures import plot_run

    if args.out is None:
        figures = plot_run(run_dir)  # re-drawn in place: RUN_DIR/figures
    else:
        _check_out_dir("--out", args.out)
        figures = _plot_into(run_dir, Path(args.out))
    for f in figures:
        print(f"figure {f}")
    return 0


def _plot_into(run_dir, out) -> list:
    """Draw the figures into a new directory OUT/RUN_NAME-figures[-k], whole or not at all: drawn in a
    temporary directory first, so a damaged run or a Ctrl-C leaves nothing under OUT."""
    import shutil
    import tempfile
    from pathlib import Path

    from scanflow.engine.figures import plot_run

    name = f"{run_dir.resolve().name}-figures"
    with tempfile.TemporaryDirectory() as tmp:
        drawn = plot_run(run_dir, out_dir=Path(tmp) / "figures")
        if not drawn:
            return []
        out.mkdir(parents=True, exist_ok=True)
        final, k = out / name, 1
        while final.exists():
            final, k = out / f"{name}-{k}", k + 1
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=out))
        try:
            shutil.copytree(Path(tmp) / "figures", staging, dirs_exist_ok=True)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return [final / Path(f).relative_to(Path(tmp) / "figures") for f in drawn]


if __name__ == "__main__":
    sys.exit(main())
