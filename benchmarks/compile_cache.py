"""Cold vs warm compile of the main job (`configs/scan_snap_small.yaml`), in one invocation.

    python benchmarks/compile_cache.py [--config CONFIG] [--repeats N]

Each repeat runs ``scanflow run CONFIG`` twice as fresh processes sharing a new, empty persistent
compilation cache (``SCANFLOW_COMPILE_CACHE``): the first compiles (cold), the second loads the
programs from the cache (warm). Prints compile and run seconds from each run's manifest, the
cache hits and misses, and the cold/warm ratio of the compile times, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(config: str, cache: Path, out: Path) -> dict:
    env = {**os.environ, "SCANFLOW_COMPILE_CACHE": str(cache)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    before = set(out.glob("*")) if out.exists() else set()
    subprocess.run([sys.executable, "-m", "scanflow.cli", "run", config, "--out", str(out), "--no-plot", "--quiet"],
                   env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    (new,) = set(out.glob("*")) - before
    return json.loads((new / "manifest.json").read_text())["timings"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "scan_snap_small.yaml"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    ratios = []
    print(f"{'repeat':>6} {'cold compile s':>15} {'warm compile s':>15} {'ratio':>7}   cache (cold -> warm)")
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = Path(tmp) / "cache", Path(tmp) / "runs"
            cold = run_once(args.config, cache, out)
            warm = run_once(args.config, cache, out)
        r = cold["compile_s"] / warm["compile_s"]
        ratios.append(r)
        cc, wc = cold["compile_cache"], warm["compile_cache"]
        print(f"{i:>6} {cold['compile_s']:>15.2f} {warm['compile_s']:>15.2f} {r:>7.2f}   "
              f"{cc['programs_from']} ({cc['misses']} misses) -> {wc['programs_from']} ({wc['hits']} hits)")
    ratios.sort()
    print(f"median cold/warm compile ratio: {ratios[len(ratios) // 2]:.2f} over {len(ratios)} repeats; "
          f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
