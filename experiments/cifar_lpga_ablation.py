"""Ablation of the paper's Fig. 4 on CIFAR-10: LPGA (experiments/cifar_lpga.py) with alpha = beta = 0.

Without the latent reconstruction losses L_lr,N and L_lr,H only L_r and the NLL terms remain;
every other setting is that of cifar_lpga.py.

Run:
    python -m pga_jax.main --config=experiments/cifar_lpga_ablation.py --workdir=runs/cifar_lpga_ablation
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/cifar_lpga_ablation.py:smoke --workdir=/tmp/cifar_lpga_ablation
"""

import os

from pga_jax import configs


def get_config(arg=None):
    lpga = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cifar_lpga.py")
    config = configs.load_experiment(lpga, arg)
    config.objective.update(alpha=0.0, beta=0.0)
    return config
