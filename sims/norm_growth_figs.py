"""Reproduce the norm-growth figures in figures/norm_growth/ (issue 5; spec norm_growth §4, §5).

Runs the norm-growth checks that produce the README figures (C7 random-walk null, C8 norm growth and
direction cosines of the trained toy transformer, C9 scale curves, C10 head support sizes, the Scan-and-Snap
and co-occurrence sections) and keeps their figures, each as PNG and PDF. The figures are views of the
Datasets the checks get from `Context.run` (drawn by `scanflow.papers.norm_growth.plots`).

    python sims/norm_growth_figs.py            # full size (about 6 min on 2 CPU cores)
    python sims/norm_growth_figs.py --quick    # the reduced form (what the slow smoke test runs)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

FIG_CHECKS = ("C7", "C8", "C9", "C10", "NG-scan-snap", "NG-cooccurrence")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced steps and seeds")
    ap.add_argument("--out", default="figures/norm_growth", help="figure directory")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    import scanflow.papers.norm_growth.checks  # noqa: F401  registers the checks
    from scanflow.verify import REGISTRY

    out = Path(args.out)
    for name in FIG_CHECKS:
        from scanflow.verify import Context

        r = REGISTRY["norm-growth"][name].fn(Context(quick=args.quick, fig_dir=out, formats=("png", "pdf")))
        print(f"{name}: {'pass' if r.passed else 'FAIL'} -> {out / (r.figure or '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
