"""The VAE baseline on MNIST: the original code's argparse defaults (MNIST).

Paper, Table 1: MNIST FID 13.83 ± 0.06.
The original repository has no VAE script: Gaussian VAE, decoder sigma = vae_sigma
(tuned in the paper; sweep --config.objective.vae_sigma).
Data: tfds mnist (python -m pga_jax.data prepare --dataset=mnist) or IDX files:
--config.data.source=idx --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/mnist_vae.py --workdir=runs/mnist_vae
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/mnist_vae.py:smoke --workdir=/tmp/mnist_vae
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("mnist", "vae")
    return configs.finalize(config, arg)
