"""The VAE baseline on 140x140 CelebA crops with the full DCGAN architecture: the paper's Appendix C,
Fig. 6.

Paper, Fig. 6: CelebA (140x140 crops) FID 54.25 (one run; Table 1, 108x108 crops: 43.60 ± 0.33).
"We use the full DCGAN architecture (i.e., 128 filters for the first convolutional layer) ...
Other hyperparameter settings remain the same as for 108x108 crops": those of
experiments/celeba_vae.py, with the 140x140 crop centred as the 108x108 one (at (39, 19) of the
218x178 images) and resized to 64x64. The original code has neither setting.
Data: tfds celeb_a or a folder of aligned JPEGs (--config.data.source=folder
--config.data.path=DIR), cached apart from the 108x108 crops. FID: statistics of the same crop:
    python -m pga_jax.fid stats --dataset=celeb_a --split=all --celeba_crop=140

Run:
    python -m pga_jax.main --config=experiments/celeba140_vae.py --workdir=runs/celeba140_vae
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba140_vae.py:smoke --workdir=/tmp/celeba140_vae
"""

import os

from pga_jax import configs


def get_config(arg=None):
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "celeba_vae.py")
    config = configs.load_experiment(base, arg)
    config.data.celeba_crop = 140
    config.model.width = 128
    return config
