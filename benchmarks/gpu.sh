#!/usr/bin/env bash
# GPU benchmarks (one call on a GPU machine): PYTHONPATH=. bash benchmarks/gpu.sh OUT_DIR
# Writes one JSON per part to OUT_DIR and prints them. Targets: 1e6 population-mode runs x 1000 steps in
# < 60 s (compile included); the Fig-6 sweep in < 5 s warm (dense, then the support-restricted step, whose
# gathers are cheap on a GPU: benchmarks/support_step.py).
set -u
OUT=${1:-gpu_bench}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee -a "$OUT/device.txt"
B=benchmarks/compare.py
part() { name=$1; shift; echo "== $name"; timeout ${T:-150} python3 $B --child "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"; tail -c 1500 "$OUT/$name.json"; echo; tail -3 "$OUT/$name.err"; }
# in order of priority (a time limit on the whole call keeps the parts already written)
part population_1e6_x1000 population --runs 1000000 --steps 1000 --runs-per-block 250000
part population_1e5_x1000 population --runs 100000 --steps 1000 --runs-per-block 100000
T=150 part scanflow_fig6 fig6 --runs-per-block 160
echo "== support_step"; timeout 200 python3 benchmarks/support_step.py --json "$OUT/support_step.json" 2>&1 | tail -12
T=100 part flow flow --seeds 4
T=80 part naive naive --runs 2
T=100 part population_1e5_x1000_blocks8 population --runs 100000 --steps 1000
