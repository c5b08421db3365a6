"""Reproduce the Fig-4 analogue of Scan and Snap (Syn-Small, SGD momentum, eta_Z = 1, eta_Y in {1, 10}).

    python sims/scan_snap_fig4.py [--config configs/scan_snap_small.yaml] [--figures figures] [overrides ...]

Runs the config (one vmapped program), writes the run directory under runs/, and draws
figures/scan_snap_small_attention.png (c_n heatmaps at iterations 0, 2, ..., 10 and final, per
class and eta_Y) and figures/scan_snap_small_loss.png (loss and entropy, seed median and range),
each also as PDF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "scan_snap_small.yaml"))
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("--runs", default=None, help="parent of the run directory (default: config out_dir)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)

    from scanflow.engine.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"scan_snap_fig4: error: {e}", file=sys.stderr)
        return 2
    from scanflow.engine.run import run_to_figures

    run_to_figures(cfg, args.runs, args.figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
