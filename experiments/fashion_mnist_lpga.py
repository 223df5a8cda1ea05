"""LPGA (Eq. 9) on Fashion-MNIST: the original code's MNIST settings.

Not the original: the terms switch on over 1,000 steps after the warm-up (ramp_steps), since the
original's abrupt switch at step 3,000 diverged to NaN within 10 steps here (lr 0.1; the
autoencoder's latents had grown to RMS 7.6). --config.objective.ramp_steps=0 restores it.

Data: the IDX files of Debian's dataset-fashion-mnist when present, else tfds.

Run:
    python -m pga_jax.main --config=experiments/fashion_mnist_lpga.py --workdir=runs/fashion_mnist_lpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/fashion_mnist_lpga.py:smoke --workdir=/tmp/fashion_mnist_lpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("fashion_mnist", "lpga")
    config.objective.update(alpha=0.06, gamma=0.015)
    config.objective.ramp_steps = 1000
    return configs.finalize(config, arg)
