"""LPGA (Eq. 9) on CelebA: the original code's README command for CelebA.

Paper, Table 1: CelebA FID 14.53 ± 0.52.
Data: tfds celeb_a (prepare it first: python -m pga_jax.data prepare --dataset=celeb_a)
or a folder of aligned JPEGs: --config.data.source=folder --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/celeba_lpga.py --workdir=runs/celeba_lpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba_lpga.py:smoke --workdir=/tmp/celeba_lpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("celeb_a", "lpga")
    config.objective.update(alpha=0.03, beta=0.01, gamma=0.01)
    return configs.finalize(config, arg)
