"""Figure 1 of Yang et al. 2024 (word co-occurrence) in the theory regime (TR) and the paper's setting (FIG).

    python sims/cooccurrence_fig1.py [--config configs/cooccurrence_tr.yaml ...] [--figures figures] [overrides ...]

Runs each config (one vmapped program over seeds; default: configs/cooccurrence_tr.yaml and
configs/cooccurrence_fig.yaml), writes its run directory, and draws figures/<name>_fig1.png
((a) score correlations with a red line at T1, (b) per-type losses), <name>_balancing.png
(S2/S3 and R(t) with the band (1, 2)) and <name>_inverse_loss.png (1/L against t) for seed 0, each
also as PDF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [str(ROOT / "configs" / "cooccurrence_tr.yaml"), str(ROOT / "configs" / "cooccurrence_fig.yaml")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", default=None, help="repeatable; default: TR and FIG")
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("--runs", default=None, help="parent of the run directories (default: config out_dir)")
    ap.add_argument("overrides", nargs="*", help="dotted.key=value, applied to every config")
    args = ap.parse_args(argv)

    from scanflow.engine.config import ConfigError, load_config

    try:
        cfgs = [load_config(c, args.overrides) for c in (args.config or DEFAULT)]
    except ConfigError as e:
        print(f"cooccurrence_fig1: error: {e}", file=sys.stderr)
        return 2
    if any(c.workload != "cooccurrence" for c in cfgs):
        print("cooccurrence_fig1: error: --config: expected a cooccurrence config (workload: cooccurrence)", file=sys.stderr)
        return 2
    from scanflow.engine.run import run_to_figures

    for cfg in cfgs:
        run_to_figures(cfg, args.runs, args.figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
