"""Command line: ``scanflow run CONFIG [dotted.key=value ...]``, ``scanflow verify PAPER`` and ``scanflow plot RUN_DIR``.

``scanflow run RUN_DIR.partial`` resumes an interrupted run (Ctrl-C or a kill) from its last chunk;
``scanflow verify REPORT_DIR.partial`` runs the checks an interrupted verify did not finish.
``--out DIR`` means the same in every command: the parent directory of the new directory the
command creates (run: DIR/NAME-STAMP, verify: DIR/PAPER-STAMP, plot: DIR/RUN_NAME-figures).

Bad input (unknown key, wrong type, impossible value, bad argument) prints one line naming the
field and what was expected, exits with status 2, and leaves no run directory behind.

SIGINT (Ctrl-C) or SIGTERM at any moment of a command, from its first import to its exit, prints one
line saying what exists and exits with status 130 or 143; a failed write (a full disk, a file size
limit, a read-only directory) prints one line naming the path and exits with status 2.
"""

from __future__ import annotations

import os
import signal
import sys
import time


# ----------------------------------------------------------------------------- signals
# The handlers go in before anything else is imported, so that a signal at any moment is one line and
# one exit status. They are installed only when this module is the `scanflow` command (the console
# script, `python -m scanflow` or `python -m scanflow.cli`) or by `main()` without arguments; a
# program that imports scanflow keeps its own handlers.
#
# A signal is raised as `Signalled` only where raising is safe: inside `main` (`_armed`), outside any
# import (an exception inside an extension module's import becomes an ImportError, or leaves it half
# initialised) and outside code whose exceptions Python ignores (a gc callback such as JAX's
# `_xla_gc_callback`, a `__del__`: the interrupt would be printed and lost). Elsewhere it is handed
# back to the main thread a moment later, until it lands where it can be raised.

class Signalled(KeyboardInterrupt):
    """SIGINT or SIGTERM received by the command: a KeyboardInterrupt carrying `signum` (exit 128 + signum)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_CAUGHT = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals raised as `Signalled`, in order
_armed = False  # True while `main` runs the command: a signal may be raised
_SWALLOWING = frozenset({"_xla_gc_callback", "__del__"})  # functions whose exceptions Python only prints
_written: list = []  # the complete run directory the command wrote (for the message of a late interrupt)
_targets: list = []  # the directories the command writes into (--out, out_dir)


def _on_signal(signum, frame):
    if not _armed or _unsafe(frame):
        _deliver_later(signum)
        return
    _received.append(signum)
    raise Signalled(signum)


def _unsafe(frame) -> bool:
    """An import is running, or a function whose exceptions Python ignores, somewhere up the stack."""
    while frame is not None:
        code = frame.f_code
        if code.co_name in _SWALLOWING or code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _deliver_later(signum: int) -> None:
    """Give `signum` back to the main thread's handler in 10 ms (from a helper thread: a signal simulated
    from the main thread itself would be handled at once, where it could not be raised)."""
    import _thread

    def later():
        time.sleep(0.01)
        _thread.interrupt_main(signum)

    try:
        _thread.start_new_thread(later, ())
    except RuntimeError:  # no thread can start: raise it here rather than lose it
        _received.append(signum)
        raise Signalled(signum) from None


def _unraisable(u) -> None:
    """An interrupt raised where Python ignores exceptions (a weakref callback, a `__del__` not caught
    by `_unsafe`) prints nothing there and is not lost: it is delivered again, to the code running next."""
    if isinstance(u.exc_value, KeyboardInterrupt):
        _deliver_later(getattr(u.exc_value, "signum", None) or signal.SIGINT)
        return
    sys.__unraisablehook__(u)


def _catch_signals() -> dict:
    """SIGINT and SIGTERM raise `Signalled` (see above); SIGXFSZ (a file size limit, `ulimit -f`) is
    ignored, so a write past the limit fails with an OSError naming the file instead of killing the
    process. Returns the handlers it replaced ({} outside the main thread, where nothing changes)."""
    old = {}
    try:
        for s in (*_CAUGHT, *([signal.SIGXFSZ] if hasattr(signal, "SIGXFSZ") else [])):
            old[s] = signal.signal(s, signal.SIG_IGN if s not in _CAUGHT else _on_signal)
    except ValueError:  # not the main thread: signals cannot be caught here
        return {}
    old["unraisablehook"] = sys.unraisablehook
    sys.unraisablehook = _unraisable
    return old


def _restore_signals(old: dict) -> None:
    hook = old.pop("unraisablehook", None)
    if hook is not None:
        sys.unraisablehook = hook
    for s, h in old.items():
        signal.signal(s, h if h is not None else signal.SIG_DFL)


def _hold_signals() -> None:
    """While the outcome is reported: a second signal is ignored (one line, one exit status)."""
    try:
        for s in _CAUGHT:
            signal.signal(s, signal.SIG_IGN)
    except ValueError:
        pass


def _exit_on_signal(code: int) -> None:
    """After the command, while Python shuts down (JAX's exit hooks): a signal ends the process at once,
    with 128 + signum (and one line, when the command had succeeded and so printed nothing on stderr)."""

    def handler(signum, frame):
        try:
            sys.stdout.flush()
            if code == 0:
                sys.stderr.write("scanflow: interrupted while exiting; the command had finished\n")
            sys.stderr.flush()
        finally:
            os._exit(128 + signum if code == 0 else code)

    try:
        for s in _CAUGHT:
            signal.signal(s, handler)
    except ValueError:
        pass


def _launched_as_command() -> bool:
    """This process is the `scanflow` command: the console script, `python -m scanflow`, or `python -m scanflow.cli`."""
    f = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    name, parent = os.path.basename(f), os.path.basename(os.path.dirname(f))
    return name in ("scanflow", "scanflow.exe", "scanflow-script.py") or (
        parent == "scanflow" and name in ("__main__.py", "cli.py"))


_COMMAND = __name__ == "__main__" or _launched_as_command()
if _COMMAND:
    _catch_signals()

import argparse  # noqa: E402  (after the handlers)
import contextlib  # noqa: E402

from scanflow.engine.validation import ConfigError, check_out_dir  # noqa: E402  (no JAX: listing papers needs none)


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
    """The `scanflow` command; `argv` None: the command line of this process (which then also takes
    over SIGINT and SIGTERM, and ignores SIGXFSZ), else a list of arguments (called from Python)."""
    global _armed
    own = argv is None  # the command line itself (not main([...]) called from Python)
    previous = _catch_signals() if own else {}
    code = None
    try:
        code = _command(argv, own)
    finally:
        _armed = False
        if own and _COMMAND and code is not None:
            _exit_on_signal(code)  # until the process ends
        elif own and _COMMAND:
            _hold_signals()  # an argparse exit or an error on its way out: it has said what happened
        elif own:
            _restore_signals(previous)
    return code


def _command(argv, own: bool) -> int:
    global _armed
    args = None
    _written.clear()
    _targets.clear()
    if own:  # a full disk or a file size limit also fails JAX's compilation cache: harmless (it compiles
        import warnings  # again), and the one line about the run's own file says what to fix

        warnings.filterwarnings("ignore", message=r"Error (writing|reading) persistent compilation cache entry")
    try:
        args = _parse(argv)  # not armed: a signal waits for the end of parsing (argparse cannot be interrupted)
        args.own_process = own
        args.started = time.time()  # to tell what an interrupt left behind
        _armed = own
        code = _main(args)
        _armed = False
        return code
    except BrokenPipeError:  # `scanflow ... | head`: the reader left; end quietly, as other tools do
        _armed = False
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second BrokenPipeError when Python flushes at exit
        except (OSError, ValueError):
            pass
        return 141
    except BaseException as e:  # noqa: BLE001 - an interrupt anywhere: parsing (which imports JAX), the command, its clean-up
        _armed = False
        if not _interrupted(e):
            raise
        if own:
            _hold_signals()
        try:
            what = _interrupt_message(e, args)
        except Exception:  # noqa: BLE001 - e.g. a module half-imported when the signal came: still one line
            what = "interrupted"
        try:
            print(f"scanflow: {what}", file=sys.stderr)
        except OSError:  # stderr is a closed pipe: the exit status still says it
            pass
        return 128 + _signum(e)


def _interrupted(e: BaseException) -> bool:
    """`e` is an interrupt, or an error raised because one broke the code it hit (a library's clean-up
    failing, an extension module's import turning it into an ImportError): the interrupt is reported."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        if isinstance(e, (SystemExit, GeneratorExit)):
            return False
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _signum(e: BaseException) -> int:
    """The signal behind an interrupt: the innermost exception of the chain that names one (an engine's
    wrapper such as `Interrupted` keeps the original as its cause), else the last one received, else SIGINT."""
    found, seen = None, set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(getattr(e, "signum", None), int):
            found = e.signum
        e = e.__cause__ or e.__context__
    if found is None:
        found = _received[-1] if _received else signal.SIGINT
    return int(found)


def _main(args) -> int:
    try:
        listing = args.command == "verify" and args.paper is None  # reads the papers' source: no JAX
        if args.command in ("run", "verify") and args.own_process and not listing:
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
    except BrokenPipeError:
        raise
    except OSError as e:  # a full disk, a read-only or missing directory: one line, the run stays resumable
        print(f"scanflow: error: {_os_error_message(e)}", file=sys.stderr)
        return 2
    except ValueError as e:  # a damaged run directory (RunDirError), a bad corpus path: one line naming the file
        from scanflow.engine.validation import OneLineError

        if not isinstance(e, OneLineError):
            raise
        print(f"scanflow: error: {e}", file=sys.stderr)
        return 2


def _interrupt_message(e: KeyboardInterrupt, args=None) -> str:
    """Say exactly what exists after an interrupt (`args`: the command's, None if it was not parsed yet)."""
    from pathlib import Path

    UNFINISHED_SUFFIX = ".partial"  # scanflow.engine.results's, without importing it (numpy) before it is needed
    run_dir = getattr(e, "run_dir", None)
    drawn = args is None or not getattr(args, "no_plot", False)
    if _written and args is not None and args.command == "run":  # interrupted while the summary was printed
        return _complete(_written[-1], False)
    if run_dir is None and args is not None and args.command == "run" and args.config:
        given = Path(args.config)
        if given.name.endswith(UNFINISHED_SUFFIX):  # a resume stopped before its sweep began
            run_dir = given
        elif given.is_dir():  # an extension: its new run directory, if it was written
            run_dir = _extended_dir(given, args)
            if run_dir is not None:
                return _complete(run_dir, drawn, "the extended run directory")
            return f"interrupted; {given} is unchanged and no extended run directory was written"
    if type(e).__name__ == "PlotInterrupted" and run_dir is not None:
        return _complete(run_dir, True)
    if run_dir is None and args is not None and args.command == "run":
        run_dir = _started_here(args)
        if run_dir is not None and not (run_dir / "config.yaml").is_file():
            return _unstarted(run_dir)
    if run_dir is None:
        if args is not None and args.command == "plot":
            return _plot_interrupted(args)
        if args is not None and args.command == "verify":
            return "interrupted while no check was running; nothing was left half-written"
        return "interrupted before a run directory was started; nothing was written"
    from scanflow.engine.results import final_dir, has_results

    run_dir = Path(run_dir)
    if run_dir.name.endswith(UNFINISHED_SUFFIX) and not run_dir.exists() and final_dir(run_dir).is_dir():
        return _complete(final_dir(run_dir), drawn)  # renamed into place: the run is whole
    if not run_dir.exists():
        return "interrupted before a run directory was started; nothing was written"
    if not run_dir.name.endswith(UNFINISHED_SUFFIX):
        return _complete(run_dir, drawn)
    _drop_own_lock(run_dir, getattr(args, "started", None))
    if has_results(run_dir):
        return (f"interrupted while the run was being finished; {run_dir} holds its complete results; finish it "
                f"with: scanflow run {run_dir}")
    done, total = getattr(e, "chunks_done", None), getattr(e, "n_chunks", None)
    if done is None:
        done = _checkpoint_of(run_dir)
    if done:
        of = f" of {total}" if total else ""
        return (f"interrupted; {run_dir} holds the records and a checkpoint of {done}{of} chunks; resume with: "
                f"scanflow run {run_dir}")
    return (f"interrupted; {run_dir} holds no checkpoint yet, so a resume starts again at chunk 0 (with the same "
            f"bits); resume with: scanflow run {run_dir}")


def _started_here(args):
    """The run directory this command created, when an interrupt came where the engine could not name
    it: RUN.partial while it was being set up (in the command's output directory, locked by this process
    or, before the lock was written, changed since the command started; its lock goes, as this process
    ends: an empty one, cut between its creation and its write, would refuse the resume), or RUN between
    the rename and the figures (its manifest records this command line)."""
    from pathlib import Path

    import json

    started = getattr(args, "started", None)
    for out in dict.fromkeys(_targets):
        try:
            found = sorted(Path(out).glob("*.partial"))
            renamed = [d for d in Path(out).iterdir() if started is not None and not d.name.startswith(".")
                       and not d.name.endswith(".partial") and d.is_dir() and d.stat().st_mtime >= started - 1]
        except OSError:
            continue
        for d in renamed:  # complete already (the interrupt came between the rename and the figures)
            try:
                manifest = json.loads((d / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("command") == sys.argv:
                return d
        for d in found:
            try:
                lock = d / "lock"
                owner = lock.read_text().split()[:1] if lock.is_file() else []
                if owner == [str(os.getpid())] or not owner and started is not None and d.stat().st_mtime >= started - 1:
                    return d
            except OSError:
                continue
    return None


def _drop_own_lock(work, started) -> None:
    """This process is ending: the lock it took on `work` goes (an empty one too, cut between its creation
    and its write after the command started; left there it would refuse the resume)."""
    lock = work / "lock"
    try:
        owner = lock.read_text().split()[:1]
        if owner == [str(os.getpid())] or not owner and started is not None and lock.stat().st_mtime >= started - 1:
            lock.unlink()
    except OSError:
        pass


def _unstarted(work) -> str:
    """A RUN.partial interrupted while it was being created (no config.yaml: not resumable, nothing
    computed): removed, as if it had never been started, when it holds only what creation writes
    (run.json, the lock, temporary .NAME.* files)."""
    import shutil

    try:
        left = {p.name for p in work.iterdir()}
        if all(n in ("run.json", "lock") or n.startswith(".") for n in left):
            shutil.rmtree(work)
            return "interrupted before a run directory was started; nothing was written"
    except OSError:
        pass
    return f"interrupted while {work} was being created (nothing was computed); delete it and start the run again"


def _complete(run_dir, drawn: bool, what: str = "the run directory") -> str:
    if drawn:
        return f"interrupted; {what} {run_dir} is complete; draw its figures with: scanflow plot {run_dir}"
    return f"interrupted; {what} {run_dir} is complete"


def _checkpoint_of(work) -> int:
    """Chunks held by the checkpoint of an unfinished run directory (0 if none or unreadable; only for a message)."""
    from scanflow.engine.store import RecordStore

    try:
        ckpt = RecordStore(work).latest_checkpoint()
    except (ValueError, OSError):
        return 0
    return 0 if ckpt is None else int(ckpt[0])


def _extended_dir(run_dir, args):
    """The run directory an interrupted extension of `run_dir` wrote (None if it wrote none): written
    whole (temp + rename) after this command started, with `extended_from` in its manifest."""
    import json
    from pathlib import Path

    parent = Path(args.out) if args.out is not None else Path(run_dir).parent
    started = getattr(args, "started", None)
    try:
        candidates = [d for d in parent.iterdir() if d.is_dir() and not d.name.startswith(".")
                      and (started is None or d.stat().st_mtime >= started - 1)]
    except OSError:
        return None
    for d in sorted(candidates, key=lambda d: d.stat().st_mtime, reverse=True):
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("extended_from") == str(run_dir):
            return d
    return None


def _plot_interrupted(args) -> str:
    if args.out is not None:
        return f"interrupted; nothing was written under {args.out} (the figures are drawn elsewhere first)"
    return (f"interrupted; the figures of {args.run_dir} that were drawn are whole, others may be missing or "
            f"older; draw them again with: scanflow plot {args.run_dir}")


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
    from scanflow.engine.config import device_checks, host_only_checks

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
    from scanflow.engine import plan as plan_module

    # resolved once (workload, static parts and programs, resources at the real block, identity); a resume
    # resolves at the block size its run.json records, inside execute
    todo = cfg if resume is not None else plan_module.resolve(cfg, args.runs_per_block)
    path = execute(todo, out_dir=args.out, progress=not args.quiet, plot=not args.no_plot, resume=resume,
                   n_devices=args.devices, runs_per_block=args.runs_per_block,
                   checkpoint_every_s=args.checkpoint_every)
    if jax.process_index() != 0:
        return 0
    _summary(path)
    return 0


def _check_out_dir(flag: str, out) -> None:
    """`out` can be (or become) a writable directory (`validation.check_out_dir`); an interrupt's message
    looks there for what the command left."""
    check_out_dir(flag, out)
    _targets.append(out)


@contextlib.contextmanager
def _startup_interrupts():
    """Record SIGINT/SIGTERM while JAX is imported and the config loaded, then stop: an interrupt
    during start-up exits 130/143 instead of being lost (JAX's import runs code whose exceptions
    Python ignores). Outside the main thread nothing changes."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit: list[int] = []
    old = {s: signal.signal(s, lambda signum, _: hit.append(signum)) for s in _CAUGHT}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if hit:
        _received.extend(hit)
        raise Signalled(hit[0])


def _is_finished_run(path) -> bool:
    from scanflow.engine.results import UNFINISHED_SUFFIX

    return path.is_dir() and not path.name.endswith(UNFINISHED_SUFFIX) and (path / "config.yaml").is_file() and (path / "manifest.json").is_file() and (
        (path / "results.nc").is_file() or (path / "arrays.npz").is_file())


def _extend(args) -> int:
    """``scanflow run RUN_DIR sweep.seeds=20``: the finished sweep with more seeds, learning rates or axis
    values; only the new runs are computed, into a new run directory (`scanflow.engine.extend.extend`)."""
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
        from scanflow.engine.extend import extend

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
        if extra:
            raise ConfigError(f"{path}: an unfinished run directory without config.yaml cannot be resumed{extra}")
        raise ConfigError(f"{path}: an unfinished run directory without config.yaml cannot be resumed (stopped while it was being "
                          f"created, before anything was computed); delete it and start the run again")
    _check_run_files(path)  # a finished run directory that lost a file: named
    if (path / "config.yaml").is_file() and (path / "manifest.json").is_file():
        raise ConfigError(f"{path}: a finished run directory; to run its config again (a new run directory): "
                          f"scanflow run {path / 'config.yaml'}")
    raise ConfigError(f"{path}: a directory; expected a YAML config file or an unfinished run directory NAME.partial")


def _check_run_files(path) -> None:
    """A directory holding some of a finished run's files but not all: one line naming the missing one."""
    from scanflow.engine.results import RUN_FILES, missing_run_file

    if any((path / f).is_file() for f in (*RUN_FILES, "arrays.npz")):
        missing = missing_run_file(path)
        if missing:
            raise FileNotFoundError(missing)


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


def _optimizer_text(train: dict) -> str:
    """How the run was trained, from its resolved config: the optimizer is never implicit."""
    if train.get("method") == "flow":
        return "trained by gradient flow (train.method: flow)"
    opt = train.get("optimizer", "?")
    extra = {"sgd_momentum": ["momentum"], "adam": ["adam_b1", "adam_b2", "adam_eps"]}.get(opt, [])
    args = [f"{k}={train[k]:g}" for k in extra if isinstance(train.get(k), (int, float))]
    args += [f"{k}={v}" for k, v in (train.get("optimizer_args") or {}).items()]
    if train.get("clip_norm") is not None:
        args.append(f"clip_norm={train['clip_norm']:g}")
    return f"optimizer {opt}" + (f" ({', '.join(args)})" if args else "")


def _summary(path) -> None:
    """What `scanflow run` prints: sizes, timings, the final loss per grid point (median over seeds),
    diverged runs, solver status, the workload's own summary (`Workload.summary`) and the figures."""
    import numpy as np

    from scanflow.engine.dataset import config_of, manifest_of, point_levels, static_axes
    from scanflow.engine.registry import workload_hook
    from scanflow.engine.results import load_run

    _written.append(path)  # complete: an interrupt from here on says so
    ds = load_run(path)
    m = manifest_of(ds)
    t = m["timings"]
    static = static_axes(ds)
    n_parts = int(np.prod([ds.sizes[d] for d in static])) if static else 1
    n_runs = m["n_points"] * m["n_seeds"] * n_parts
    print(f"wrote {path}")
    shape = f"{m['n_points']} points x {m['n_seeds']} seeds" + "".join(f" x {ds.sizes[d]} {d}" for d in static)
    print(f"  {n_runs} runs ({shape}), compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s")
    print(f"  {_optimizer_text(config_of(ds).get('train') or {})}")
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
    wname = config_of(ds).get("workload")
    text = workload_hook(wname, "summary")(ds) if wname else ""
    if text:
        print(text)
    from scanflow.engine.dataset import inert_axes

    for name in inert_axes(ds):  # a grid over a field the run does not use repeats one run
        print(f"scanflow: warning: the axis {name} changed nothing: every recorded variable is identical across its "
              f"values (does the config use that field? e.g. model.init: zero ignores model.init_scale)",
              file=sys.stderr)
    figs = sorted((path / "figures").glob("*.png")) if (path / "figures").is_dir() else []
    for f in figs:
        print(f"  figure {f}")


def _verify(args) -> int:
    """``scanflow verify``: `scanflow.verify.session.verify` with the command's options."""
    from scanflow.verify.session import verify

    return verify(args.paper, quick=args.quick, only=args.only, out=args.out, data=args.data, mutant=args.mutant)


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
