"""The VAE baseline on Fashion-MNIST: the original code's MNIST settings.

The original repository has no VAE script: Gaussian VAE, decoder sigma = vae_sigma
(tuned in the paper; sweep --config.objective.vae_sigma).
Data: the IDX files of Debian's dataset-fashion-mnist when present, else tfds.

Run:
    python -m pga_jax.main --config=experiments/fashion_mnist_vae.py --workdir=runs/fashion_mnist_vae
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/fashion_mnist_vae.py:smoke --workdir=/tmp/fashion_mnist_vae
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("fashion_mnist", "vae")
    return configs.finalize(config, arg)
