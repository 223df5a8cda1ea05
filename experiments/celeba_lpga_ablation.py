"""Ablation of the paper's Fig. 4 on CelebA: LPGA (experiments/celeba_lpga.py) with alpha = beta = 0.

Without the latent reconstruction losses L_lr,N and L_lr,H only L_r and the NLL terms remain;
every other setting is that of celeba_lpga.py.

Run:
    python -m pga_jax.main --config=experiments/celeba_lpga_ablation.py --workdir=runs/celeba_lpga_ablation
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba_lpga_ablation.py:smoke --workdir=/tmp/celeba_lpga_ablation
"""

import os

from pga_jax import configs


def get_config(arg=None):
    lpga = os.path.join(os.path.dirname(os.path.abspath(__file__)), "celeba_lpga.py")
    config = configs.load_experiment(lpga, arg)
    config.objective.update(alpha=0.0, beta=0.0)
    return config
