"""LPGA (Eq. 9) on CIFAR-10: the original code's README command for CIFAR-10.

Paper, Table 1: CIFAR-10 FID 55.87 ± 0.25.
Data: tfds cifar10 (prepare it first: python -m pga_jax.data prepare --dataset=cifar10).

Run:
    python -m pga_jax.main --config=experiments/cifar_lpga.py --workdir=runs/cifar_lpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_lpga.py:smoke --workdir=/tmp/cifar_lpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("cifar10", "lpga")
    config.objective.update(alpha=0.03, gamma=0.015)
    return configs.finalize(config, arg)
