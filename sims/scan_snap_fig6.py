"""Reproduce the Fig-6, Fig-11 and Fig-12 analogues of Scan and Snap (Syn-Medium learning-rate sweep).

    python sims/scan_snap_fig6.py [--config configs/scan_snap_fig6.yaml] [--figures figures] [--runs runs]
                                  [--num-last 1 3 5 10] [--seeds N] [--steps N] [overrides ...]

For each vocabulary size (num_last = L in {1, 3, 5, 10}: K = 2L classes, M = 33, 79, 125, 240) the
whole grid eta_Z in {0.5, 1, 2, 3} x eta_Y/eta_Z in {1, 2, 5, 10} x seeds is ONE vmapped program
(`scanflow.engine.run.execute`), written as a run directory. The figures are then drawn from the saved
run directories only:

* figures/scan_snap_fig6_entropy.{png,pdf}: final distinct-token entropy vs eta_Y/eta_Z, one line per eta_Z;
* figures/scan_snap_fig11_recall_ratio.{png,pdf}: recall vs threshold, lines = eta_Y/eta_Z at eta_Z = 1;
* figures/scan_snap_fig12_recall_etaZ.{png,pdf}: recall vs threshold, lines = eta_Z at eta_Y/eta_Z = 1.

Recall figures have two rows. Top: attention = c_n of Eq. 5 (P-weighted, the spec's reading).
With P(l|n) >= 0.1/15.5 = 0.0065 for every distinct token, the M = 240 panel's thresholds
(0.004-0.005) lie below every distinct token's c and the recall is ~1 there. Bottom: attention =
softmax of the query row z_m over all M tokens, which sits at ~1/M at init -- the scale of the
paper's threshold ranges, so probably what the paper thresholded.

`--from-runs DIR ...` re-draws the figures from existing run directories without simulating.

Prints the wall time of the whole sweep and of each vocabulary size (compile and run split), and
the table of entropies. `--seeds 2 --steps 10 --num-last 1` is a smoke run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {  # each saved as NAME.png and NAME.pdf
    "entropy": "scan_snap_fig6_entropy",
    "recall_ratio": "scan_snap_fig11_recall_ratio",
    "recall_etaZ": "scan_snap_fig12_recall_etaZ",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "scan_snap_fig6.yaml"))
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("--runs", default=None, help="parent of the run directories (default: config out_dir)")
    ap.add_argument("--num-last", type=int, nargs="+", default=[1, 3, 5, 10], help="vocabulary sizes (L)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per grid point (default: config, 10)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: config, 100)")
    ap.add_argument("--fig11-eta-z", type=float, default=1.0, help="fixed eta_Z of the Fig-11 panel lines")
    ap.add_argument("--fig12-ratio", type=float, default=1.0, help="fixed eta_Y/eta_Z of the Fig-12 lines")
    ap.add_argument("--from-runs", nargs="+", default=None, metavar="RUN_DIR",
                    help="skip the simulation: draw the figures from these run directories")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. data.batch_size=64")
    args = ap.parse_args(argv)

    from scanflow.engine.config import ConfigError, load_config

    extra = []
    if args.seeds is not None:
        extra.append(f"sweep.seeds={args.seeds}")
    if args.steps is not None:
        # Only the final record is needed; recording at the end keeps every step count valid.
        extra += [f"train.steps={args.steps}", f"train.record_every={args.steps}"]
    if any(L < 1 for L in args.num_last):
        print("scan_snap_fig6: error: --num-last: expected integers >= 1", file=sys.stderr)
        return 2
    try:
        cfgs = [load_config(args.config, [*extra, *args.overrides, f"data.num_last={L}",
                                          f"name={load_config(args.config).name}_L{L}"])
                for L in args.num_last]
    except ConfigError as e:
        print(f"scan_snap_fig6: error: {e}", file=sys.stderr)
        return 2

    from scanflow.engine.dataset import manifest_of
    from scanflow.engine.figures import save_all
    from scanflow.engine.results import load_run
    from scanflow.engine.run import execute
    from scanflow.papers.scan_snap import plots_sweeps as sw

    run_dirs, lines = [], []
    t_all = time.perf_counter()
    if args.from_runs:
        run_dirs, cfgs = [Path(d) for d in args.from_runs], []
    for cfg in cfgs:
        t0 = time.perf_counter()
        run_dir = execute(cfg, out_dir=args.runs, progress=False, plot=False)
        wall = time.perf_counter() - t0
        manifest = manifest_of(load_run(run_dir))
        tm = manifest["timings"]
        M = manifest["workload_info"]["M"]
        n_runs = manifest["n_points"] * manifest["n_seeds"]
        line = (f"L={cfg.data.num_last:<3d} M={M:<4d} runs={n_runs:<4d} wall {wall:7.1f} s "
                f"(compile {tm['compile_s']:.1f} s, run {tm['run_s']:.1f} s), diverged {len(manifest['diverged_runs'])}")
        print(line, flush=True)
        lines.append(line)
        run_dirs.append(run_dir)
    total = time.perf_counter() - t_all
    if cfgs:
        print(f"whole sweep: {total:.1f} s for {len(cfgs)} vocabulary sizes")

    runs = sorted((load_run(d) for d in run_dirs), key=lambda r: manifest_of(r)["workload_info"]["M"])
    figs = Path(args.figures)
    paths = [
        *save_all(sw.fig6_entropy(runs), figs / FIGURES["entropy"]),
        *save_all(sw.recall_figure(runs, vary="ratio", fixed=args.fig11_eta_z), figs / FIGURES["recall_ratio"]),
        *save_all(sw.recall_figure(runs, vary="eta_Z", fixed=args.fig12_ratio), figs / FIGURES["recall_etaZ"]),
    ]
    print("\nfinal distinct-token entropy, mean ± std over seeds (initial %.4f):" % sw.H0)
    for r in runs:
        print(sw.format_fig6_table(sw.fig6_table(r)))
    for p in paths:
        print(f"figure {p}")
    for r in runs:
        print(f"run directory {r.attrs['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
