"""LVPGA (Eq. 16) on CIFAR-10: the original code's README command for CIFAR-10.

Paper, Table 1: CIFAR-10 FID 52.94 ± 0.89.
Data: tfds cifar10 (prepare it first: python -m pga_jax.data prepare --dataset=cifar10).

Run:
    python -m pga_jax.main --config=experiments/cifar_lvpga.py --workdir=runs/cifar_lvpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_lvpga.py:smoke --workdir=/tmp/cifar_lvpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("cifar10", "lvpga")
    config.objective.update(alpha=0.03, gamma_prime=0.015, eta=0.05, gamma=0.02)
    return configs.finalize(config, arg)
