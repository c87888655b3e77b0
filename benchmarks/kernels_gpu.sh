#!/usr/bin/env bash
# Measure kernel tables for DiT-XL/2, Open-Sora 2.0 and Wan2.1-14B on this machine's GPU
# (docs/kernels.md), into cluster_specs/kernels/<gpu>-<model>.yaml. One CUDA GPU; about 3-5
# minutes on an H100, and never more than 8: each model gets what is left of the budget.
#   bash benchmarks/kernels_gpu.sh            # then: parplan kernels show --cluster <spec>
# Needs torch with CUDA (pip install 'parplan[smoke]' installs the CPU wheel: use your own).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-cluster_specs/kernels}"
BUDGET_S="${BUDGET_S:-480}"
REPEATS="${REPEATS:-3}"
mkdir -p "$OUT"
GPU="$(python -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "-"))')"
START=$SECONDS
measure() {  # model workload
  local left=$((BUDGET_S - (SECONDS - START)))
  if ((left < 20)); then echo "budget spent: $1 not measured" >&2; return 1; fi
  timeout --foreground "$left" parplan kernels measure --model "$1" --workload "$2" \
    --device cuda --repeats "$REPEATS" --out "$OUT/$GPU-$1.yaml"
}
measure dit-xl-2 imagenet-256
measure open-sora-2.0 video-256px-51f
measure wan2.1-14b video-480p-81f
echo "tables in $OUT ($((SECONDS - START)) s); point a cluster spec at one with 'kernels: FILE'"
