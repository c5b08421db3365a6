"""The m-sweep of Yang et al. 2024 (word co-occurrence, TR): T1 sigma1^2 m m1 is constant in m (Thm 3.1).

    python sims/cooccurrence_msweep.py [--config configs/cooccurrence_tr.yaml] [--ms 64 128 256 512]
                                       [--figures figures] [overrides ...]

One vmapped program per m over the config's seeds (lr is given as tau per step, so every m runs on
the same tau grid). Prints T1 sigma1^2 m m1 per m and the fitted log-log slope with its standard
error, and draws figures/cooccurrence_msweep_T1.{png,pdf} and figures/cooccurrence_msweep_inverse_loss.{png,pdf}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "cooccurrence_tr.yaml"))
    ap.add_argument("--ms", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)

    from scanflow.engine.config import ConfigError, load_config

    try:
        if len(args.ms) < 2 or min(args.ms) < 1:
            raise ConfigError(f"--ms: expected at least two widths >= 1, got {args.ms}")
        cfgs = [load_config(args.config, [*args.overrides, f"model.m={m}"]) for m in args.ms]
        if cfgs[0].workload != "cooccurrence":
            raise ConfigError("--config: expected a cooccurrence config (workload: cooccurrence)")
    except ConfigError as e:
        print(f"cooccurrence_msweep: error: {e}", file=sys.stderr)
        return 2
    import numpy as np

    from scanflow.engine.dataset import manifest_of
    from scanflow.engine.figures import save_all
    from scanflow.engine.run import run
    from scanflow.papers.cooccurrence import plots as figs
    from scanflow.papers.cooccurrence.checks.common import T1_tau_S, loglog_slope

    runs, T1 = {}, []  # {m: Dataset}, as a check's Context.run gives it; T1 tau per (m, seed)
    for m, cfg in zip(args.ms, cfgs):
        runs[m] = ds = run(cfg, progress=True)
        T1.append(T1_tau_S(ds))
        timings = manifest_of(ds)["timings"]
        print(f"m={m:4d}: T1 sigma1^2 m m1 per seed {np.round(T1[-1], 3).tolist()}  "
              f"(compile {timings['compile_s']:.1f} s, run {timings['run_s']:.1f} s)")
    T1 = np.stack(T1)
    if not np.all(np.isfinite(T1)):
        print("cooccurrence_msweep: T1 not reached in some run; raise train.steps", file=sys.stderr)
        return 1
    slope, se = loglog_slope(args.ms, T1)
    print(f"slope of log(T1 sigma1^2 m m1) vs log m: {slope:+.4f} +- {se:.4f} (Thm 3.1: 0)")
    fig_dir = Path(args.figures)
    for path in save_all(figs.t1_scaling(runs, slope, se), fig_dir / "cooccurrence_msweep_T1"):
        print(f"figure {path}")
    T1_t = [t1[0] / ds["tau_per_t"].values[0] for t1, ds in zip(T1, runs.values())]  # seed 0, in t units
    fig = figs.inverse_loss({f"m={m}": ds for m, ds in runs.items()},
                            "TR, seed 0: 1/L against t (dots: T1); Phase-2 slope ~ sigma1^2 m m1", T1=T1_t)
    for path in save_all(fig, fig_dir / "cooccurrence_msweep_inverse_loss"):
        print(f"figure {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
