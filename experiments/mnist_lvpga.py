"""LVPGA (Eq. 16) on MNIST: the original code's argparse defaults (MNIST).

Paper, Table 1: MNIST FID 6.32 ± 0.16.
Data: tfds mnist (python -m pga_jax.data prepare --dataset=mnist) or IDX files:
--config.data.source=idx --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/mnist_lvpga.py --workdir=runs/mnist_lvpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/mnist_lvpga.py:smoke --workdir=/tmp/mnist_lvpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("mnist", "lvpga")
    config.objective.update(alpha=0.06, gamma_prime=0.02, eta=0.02, gamma=0.0)
    return configs.finalize(config, arg)
