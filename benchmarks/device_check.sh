#!/bin/bash
# The device check on a lent GPU machine (docs/devices.md), from the repository root, with
# .dev/device carried (benchmarks/device_prepare.sh made it here). One call:
#   bash benchmarks/device_check.sh        (the device tool: carry [".dev/device"], timeout 600)
# Writes $OUT/device_check.{json,md,log}, $OUT/table1.md and $OUT/table1_runs.csv.
set -u
T0=$(date +%s)
BUDGET_S=${BUDGET_S:-520}
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .dev/device/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /usr/share/datasets/fashion-mnist
cp .dev/device/data/*.gz /usr/share/datasets/fashion-mnist/
W=""
[ -f .dev/device/fid_weights.npz ] && W="--fid_weights=.dev/device/fid_weights.npz"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/device_check.log"
LEFT=$(( BUDGET_S - ($(date +%s) - T0) ))
echo "setup took $(( $(date +%s) - T0 )) s; $LEFT s for the parts" | tee -a "$OUT/device_check.log"
timeout $(( LEFT + 60 )) python3 -m benchmarks.device_check --out="$OUT" --budget_s="$LEFT" $W \
  2>&1 | tee -a "$OUT/device_check.log"
