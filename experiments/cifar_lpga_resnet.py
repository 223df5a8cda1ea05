"""LPGA (Eq. 9) on CIFAR-10 with the ResNet of Miyato et al. (2018) widened to 512 filters:
the paper's Appendix C, Fig. 5.

Paper, Fig. 5: CIFAR-10 FID 31.36 (one run; Table 1's DCGAN-style LPGA: 55.87 ± 0.25).
The original code has the architecture (resnet_32, dim 512) but no command for it: every other
setting is that of experiments/cifar_lpga.py (the README command for CIFAR-10).
Data: tfds cifar10 (prepare it first: python -m pga_jax.data prepare --dataset=cifar10).

Run:
    python -m pga_jax.main --config=experiments/cifar_lpga_resnet.py --workdir=runs/cifar_lpga_resnet
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_lpga_resnet.py:smoke --workdir=/tmp/cifar_lpga_resnet
"""

import os

from pga_jax import configs


def get_config(arg=None):
    lpga = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cifar_lpga.py")
    config = configs.load_experiment(lpga, arg)
    config.model.arch = "resnet_32"  # model.resnet_dim: 512 (the :smoke variant: 16)
    return config
