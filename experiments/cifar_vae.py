"""The VAE baseline on CIFAR-10: the original code's README command for CIFAR-10.

Paper, Table 1: CIFAR-10 FID 115.74 ± 0.63.
The original repository has no VAE script: Gaussian VAE, decoder sigma = vae_sigma
(tuned in the paper; sweep --config.objective.vae_sigma).
Data: tfds cifar10 (prepare it first: python -m pga_jax.data prepare --dataset=cifar10).

Run:
    python -m pga_jax.main --config=experiments/cifar_vae.py --workdir=runs/cifar_vae
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_vae.py:smoke --workdir=/tmp/cifar_vae
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("cifar10", "vae")
    return configs.finalize(config, arg)
