"""VPGA (Eq. 13) on Fashion-MNIST: the original code's MNIST settings.

Data: the IDX files of Debian's dataset-fashion-mnist when present, else tfds.

Run:
    python -m pga_jax.main --config=experiments/fashion_mnist_vpga.py --workdir=runs/fashion_mnist_vpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/fashion_mnist_vpga.py:smoke --workdir=/tmp/fashion_mnist_vpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("fashion_mnist", "vpga")
    config.objective.update(alpha=0.06, vrec=0.01, eta=0.02)
    return configs.finalize(config, arg)
