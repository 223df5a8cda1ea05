"""LVPGA (Eq. 16) on CelebA: the original code's README command for CelebA.

Paper, Table 1: CelebA FID 13.80 ± 0.20.
Data: tfds celeb_a (prepare it first: python -m pga_jax.data prepare --dataset=celeb_a)
or a folder of aligned JPEGs: --config.data.source=folder --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/celeba_lvpga.py --workdir=runs/celeba_lvpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba_lvpga.py:smoke --workdir=/tmp/celeba_lvpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("celeb_a", "lvpga")
    config.objective.update(alpha=0.03, beta=0.01, gamma_prime=0.01, eta=0.005, gamma=0.01)
    return configs.finalize(config, arg)
