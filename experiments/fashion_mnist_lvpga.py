"""LVPGA (Eq. 16) on Fashion-MNIST: the original code's MNIST settings.

Not the original: the terms switch on over 1,000 steps after the warm-up (ramp_steps), since the
original's abrupt switch at step 3,000 diverged to NaN within 10 steps here (lr 0.1; the
autoencoder's latents had grown to RMS 7.6). --config.objective.ramp_steps=0 restores it.

Data: the IDX files of Debian's dataset-fashion-mnist when present, else tfds.

Run:
    python -m pga_jax.main --config=experiments/fashion_mnist_lvpga.py --workdir=runs/fashion_mnist_lvpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/fashion_mnist_lvpga.py:smoke --workdir=/tmp/fashion_mnist_lvpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("fashion_mnist", "lvpga")
    config.objective.update(alpha=0.06, gamma_prime=0.02, eta=0.02, gamma=0.0)
    config.objective.ramp_steps = 1000
    return configs.finalize(config, arg)
