"""The speed levers do not change the numbers: Fig-6 table and Fig-4 curves, old path vs new.

    python benchmarks/same_numbers.py [--json out.json]

* Fig-6 (`configs/scan_snap_fig6.yaml`, 640 runs): the old path (every run draws its own batch,
  ``sweep.share_batches=false``, one run per block) against the config as shipped (shared batches,
  its ``sweep.runs_per_block``). The batches are the same integers; the block size changes XLA's
  float32 rounding, which chaotic SGD can amplify. Each of the 64 cells (M x eta_Z x eta_Y/eta_Z) is
  compared in units of its standard error over the 10 seeds, sqrt(sd_old^2 / 10 + sd_new^2 / 10).
* Fig-4 (`configs/scan_snap_small.yaml`): the loss and entropy curves of both paths at the default
  block: the largest absolute difference (0 means bit-identical).

Both paths run in this process on the same devices; pass SCANFLOW_CPU_DEVICES or XLA_FLAGS to change
them (bits do not depend on the device count).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OLD = ["sweep.share_batches=false", "sweep.runs_per_block=1"]


def fig6_cells(ds) -> np.ndarray:
    """Final distinct-token entropy per (num_last, point, seed), class mean."""
    return np.asarray(ds["entropy"].isel(step=-1).mean("cls").transpose("num_last", "point", "seed").values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from scanflow.engine.sharding import use_host_cores

    use_host_cores()
    import scanflow

    out: dict = {}
    fig6 = ROOT / "configs" / "scan_snap_fig6.yaml"
    new, old = fig6_cells(scanflow.run(fig6)), fig6_cells(scanflow.run(fig6, OLD))
    n = new.shape[-1]
    se = np.sqrt(new.std(-1, ddof=1) ** 2 / n + old.std(-1, ddof=1) ** 2 / n)
    z = (new.mean(-1) - old.mean(-1)) / se
    out["fig6"] = {"cells": int(z.size), "max_abs_diff_of_means": float(np.abs(new.mean(-1) - old.mean(-1)).max()),
                   "max_abs_z": float(np.abs(z).max()), "cells_beyond_2_se": int((np.abs(z) > 2).sum()),
                   "cells_beyond_3_se": int((np.abs(z) > 3).sum()), "median_se": float(np.median(se)),
                   "identical_cells": int((new.mean(-1) == old.mean(-1)).sum())}
    small = ROOT / "configs" / "scan_snap_small.yaml"
    a_new, a_old = scanflow.run(small), scanflow.run(small, ["sweep.share_batches=false"])
    out["fig4"] = {k: float(np.abs(a_new[k].values - a_old[k].values).max()) for k in ("loss", "train_loss", "entropy", "attn")}
    print(json.dumps(out, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
