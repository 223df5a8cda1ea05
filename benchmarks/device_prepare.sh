#!/bin/bash
# Prepares, on this machine (with PyPI), what benchmarks/device_check.sh needs on a lent GPU
# machine, which has no package index: .dev/device/ (git-ignored; ~32 MB, carried by the call).
#   bash benchmarks/device_prepare.sh
# - whl/: the packages pga_jax needs that the GPU image lacks (ml-collections, clu), for its
#   Python 3.12 (the image's packages: /work/.library/device/KINDS.md);
# - data/: Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist, as the CPU runs use).
# The FID weights (87 MB) do not fit the 64 MiB a call carries beside the data: the Table 1
# part then trains, evaluates and reports without FID (docs/devices.md).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.dev/' .git/info/exclude 2>/dev/null || echo '/.dev/' >> .git/info/exclude
rm -rf .dev/device && mkdir -p .dev/device/whl .dev/device/data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 -d .dev/device/whl \
  ml-collections==1.1.0 clu==0.0.12
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist
fi
cp /usr/share/datasets/fashion-mnist/*.gz .dev/device/data/
du -sh .dev/device
