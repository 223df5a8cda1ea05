"""LPGA (Eq. 9) on MNIST: the original code's argparse defaults (MNIST).

Paper, Table 1: MNIST FID 10.34 ± 0.15.
Data: tfds mnist (python -m pga_jax.data prepare --dataset=mnist) or IDX files:
--config.data.source=idx --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/mnist_lpga.py --workdir=runs/mnist_lpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/mnist_lpga.py:smoke --workdir=/tmp/mnist_lpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("mnist", "lpga")
    config.objective.update(alpha=0.06, gamma=0.015)
    return configs.finalize(config, arg)
