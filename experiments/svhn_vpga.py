"""VPGA (Eq. 13) on SVHN (tfds svhn_cropped, 73,257 training images): not in the paper.

SVHN shares CIFAR-10's 32x32x3 images, so this is experiments/cifar_vpga.py's setting (conv_32
with BatchNorm, the original code's README command for CIFAR-10) on SVHN's images; its
coefficients are untuned for SVHN.
Data: tfds svhn_cropped (prepare it first: python -m pga_jax.data prepare --dataset=svhn).

Run:
    python -m pga_jax.main --config=experiments/svhn_vpga.py --workdir=runs/svhn_vpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/svhn_vpga.py:smoke --workdir=/tmp/svhn_vpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("svhn", "vpga")
    config.objective.update(alpha=0.03, vrec=0.005, eta=0.03)
    return configs.finalize(config, arg)
