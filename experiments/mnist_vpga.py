"""VPGA (Eq. 13) on MNIST: the original code's argparse defaults (MNIST).

Paper, Table 1: MNIST FID 4.97 ± 0.07.
Data: tfds mnist (python -m pga_jax.data prepare --dataset=mnist) or IDX files:
--config.data.source=idx --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/mnist_vpga.py --workdir=runs/mnist_vpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/mnist_vpga.py:smoke --workdir=/tmp/mnist_vpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("mnist", "vpga")
    config.objective.update(alpha=0.06, vrec=0.01, eta=0.02)
    return configs.finalize(config, arg)
