"""The VAE baseline on CelebA: the original code's README command for CelebA.

Paper, Table 1: CelebA FID 43.60 ± 0.33.
The original repository has no VAE script: Gaussian VAE, decoder sigma = vae_sigma
(tuned in the paper; sweep --config.objective.vae_sigma).
Data: tfds celeb_a (prepare it first: python -m pga_jax.data prepare --dataset=celeb_a)
or a folder of aligned JPEGs: --config.data.source=folder --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/celeba_vae.py --workdir=runs/celeba_vae
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba_vae.py:smoke --workdir=/tmp/celeba_vae
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("celeb_a", "vae")
    return configs.finalize(config, arg)
