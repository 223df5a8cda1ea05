"""VPGA (Eq. 13) on CIFAR-10: the original code's README command for CIFAR-10.

Paper, Table 1: CIFAR-10 FID 51.51 ± 1.16.
Data: tfds cifar10 (prepare it first: python -m pga_jax.data prepare --dataset=cifar10).

Run:
    python -m pga_jax.main --config=experiments/cifar_vpga.py --workdir=runs/cifar_vpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_vpga.py:smoke --workdir=/tmp/cifar_vpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("cifar10", "vpga")
    config.objective.update(alpha=0.03, vrec=0.005, eta=0.03)
    return configs.finalize(config, arg)
