"""VPGA (Eq. 13) on CelebA: the original code's README command for CelebA.

Paper, Table 1: CelebA FID 24.73 ± 1.25.
Data: tfds celeb_a (prepare it first: python -m pga_jax.data prepare --dataset=celeb_a)
or a folder of aligned JPEGs: --config.data.source=folder --config.data.path=DIR.

Run:
    python -m pga_jax.main --config=experiments/celeba_vpga.py --workdir=runs/celeba_vpga
Smoke test (tiny, synthetic data):
    python -m pga_jax.main --config=experiments/celeba_vpga.py:smoke --workdir=/tmp/celeba_vpga
"""

from pga_jax import configs


def get_config(arg=None):
    config = configs.base_config("celeb_a", "vpga")
    config.objective.update(alpha=0.03, beta=0.01, vrec=0.01, eta=0.002)
    config.num_steps = configs.steps_for_epochs(
        "celeb_a", 60, config.get_ref("batch_size")
    )  # 60 epochs
    return configs.finalize(config, arg)
