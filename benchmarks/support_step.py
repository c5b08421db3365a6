"""The support-restricted step of Scan and Snap against the dense one, measured side by side in one run.

    python benchmarks/support_step.py [--json out.json]

1. Per vocabulary size of the Fig-6 sweep (M = 33, 79, 125, 240; S = 20 support tokens per class): the time of
   one value-and-gradient of all 160 runs (blocks of 4, vmap inside, one CPU device), dense (`model.loss` on
   `data.expand`) and support (`model.support_loss`), and the arithmetic each does: dense 3 GEMMs of
   B x M x M multiply-adds per run, support 3 products of B x S x M (the forward gather-product, df and dY
   restricted to the support) -- so the arithmetic limit of each is its FLOPs over this machine's measured
   GEMM rate (one large float32 matmul).
2. The whole Fig-6 sweep (`configs/scan_snap_fig6.yaml`, 640 runs, in this process) with the default
   ``model.arithmetic=dense`` and with ``support``: run seconds per M, and
   the Fig-6 table cell by cell: every cell's difference must lie within 2 standard errors (the dense cell's
   across-seed SE), 64/64 cells.

Not a test: the seconds depend on the machine and its load (printed); compare the rows of one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scan_snap_fig6.yaml"


def _best(f, *args) -> float:
    from profile_step import _time  # the best of a few calls after a warm-up (benchmarks/profile_step.py)

    return _time(f, *args, n=5)


def gemm_rate() -> float:
    """This machine's float32 GEMM rate on one device (FLOP/s): a 1024^3 matmul, best of 5."""
    a = jax.random.normal(jax.random.PRNGKey(0), (1024, 1024), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    return 2 * 1024**3 / _best(f, a)


def value_and_grad_times(num_last: int, runs: int = 160, block: int = 4, B: int = 128, T: int = 128) -> dict:
    from scanflow.engine.config import config_from_dict
    from scanflow.papers.scan_snap import data, model as yz
    from scanflow.papers.scan_snap.checks.sweep_checks import FIG6

    spec = data.from_config(config_from_dict(FIG6, [f"data.num_last={num_last}"]).data)
    M, S = spec.M, spec.support_cdf[0].shape[1]
    sc = data.sample_support_counts(jax.random.PRNGKey(0), spec, B, T)
    params = {g: jax.random.uniform(jax.random.PRNGKey(i), (runs, M, M), minval=-1, maxval=1) / np.sqrt(M)
              for i, g in enumerate("YZ")}
    out = {"M": M, "S": S}
    for name, loss in (("dense", lambda p: yz.loss(p, data.expand(sc, spec))),
                       ("support", lambda p: yz.support_loss(p, sc, spec))):
        vg = jax.vmap(jax.value_and_grad(loss))
        f = jax.jit(lambda P: jax.lax.map(vg, jax.tree.map(lambda a: a.reshape(runs // block, block, M, M), P)))
        out[f"{name}_ms"] = 1e3 * _best(f, params)
    out["dense_flop"] = runs * 3 * 2 * B * M * M
    out["support_flop"] = runs * 3 * 2 * B * S * M
    return out


def sweep(arithmetic: str) -> tuple[dict, list]:
    import scanflow
    from scanflow.engine.dataset import manifest_of, split_parts
    from scanflow.papers.scan_snap.tables import fig6_table

    t = time.perf_counter()
    ds = scanflow.run(CONFIG, [f"model.arithmetic={arithmetic}"])
    wall = time.perf_counter() - t
    parts = manifest_of(ds).get("parts") or []
    return ({"wall_s": wall, "run_s_by_M": [p["timings"]["run_s"] for p in parts],
             "compile_s_by_M": [p["timings"]["compile_s"] for p in parts]},
            [fig6_table(part) for _, part in split_parts(ds)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    res = {"load_average_before": os.getloadavg(), "device": str(jax.devices()[0]), "gemm_flops": gemm_rate()}
    res["value_and_grad"] = [value_and_grad_times(L) for L in (1, 3, 5, 10)]
    res["sweep_dense"], dense = sweep("dense")
    res["sweep_support"], auto = sweep("support")
    cells = []
    for d, s in zip(dense, auto):
        diff = np.abs(s["mean"] - d["mean"])
        cells.append({"M": d["M"], "max_diff": float(diff.max()), "max_diff_over_se": float((diff / d["sem"]).max()),
                      "within_2se": int((diff <= 2 * d["sem"]).sum()), "cells": int(diff.size)})
    res["fig6_cells"] = cells
    res["load_average_after"] = os.getloadavg()
    rate = res["gemm_flops"]
    print(f"GEMM rate (one device, float32 1024^3): {rate / 1e9:.1f} GFLOP/s; load {res['load_average_before']}")
    print("value-and-gradient of 160 runs (B = T = 128), one device:")
    print("| M | S | dense (ms) | support (ms) | dense / support | dense limit (ms) | support limit (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in res["value_and_grad"]:
        print(f"| {r['M']} | {r['S']} | {r['dense_ms']:.1f} | {r['support_ms']:.1f} | {r['dense_ms'] / r['support_ms']:.2f} | "
              f"{1e3 * r['dense_flop'] / rate:.1f} | {1e3 * r['support_flop'] / rate:.1f} |")
    for k in ("sweep_dense", "sweep_support"):
        s = res[k]
        print(f"{k}: {s['wall_s']:.1f} s in process; run s by M {[round(x, 2) for x in s['run_s_by_M']]}; "
              f"compile s by M {[round(x, 2) for x in s['compile_s_by_M']]}")
    n_ok = sum(c["within_2se"] for c in cells)
    n = sum(c["cells"] for c in cells)
    print(f"Fig-6 table, support against dense: {n_ok}/{n} cells within 2 SE; "
          + "; ".join(f"M={c['M']}: max |diff| {c['max_diff']:.2e} = {c['max_diff_over_se']:.3f} SE" for c in cells))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
