"""`load_arrays`: a split of a dataset from the source asked for (or chosen), as uint8 NHWC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pga_jax.data.cache import cache_dir_for
from pga_jax.data.celeba import DEFAULT_CELEBA_CROP, load_celeba_folder
from pga_jax.data.datasets import (
    FASHION_MNIST_DIR,
    SOURCES,
    VALID_SOURCES,
    DataError,
    check_name,
    image_shape,
)
from pga_jax.data.idx import find_idx_file, load_idx
from pga_jax.data.synthetic import synthetic_images
from pga_jax.data.tfds_source import load_tfds


def load_arrays(
    name: str,
    split: str = "train",
    *,
    source: str = "auto",
    path: str | None = None,
    tfds_data_dir: str | None = None,
    synthetic_shape=None,
    synthetic_size: int = 512,
    seed: int = 0,
    cache_dir: str | None = None,
    celeba_crop: int = DEFAULT_CELEBA_CROP,
) -> np.ndarray:
    """All images of a split, uint8 (N, H, W, C). See the module docstring for the sources.

    Args:
      name: one of `DATASETS`.
      split: "train" or "test" for IDX files; any tfds split string for tfds (e.g. "train",
        "test", "all", "train[:10%]"); ignored by the folder source (all images); for
        synthetic data it selects an independent stream of images.
      source: one of `SOURCES`.
      path: a directory: IDX files (mnist / fashion_mnist) or CelebA JPEGs (celeb_a).
      tfds_data_dir: tfds's data directory (default: tfds's own default).
      synthetic_shape: (H, W, C) of synthetic images; default `image_shape(name)`.
      synthetic_size: number of synthetic images.
      seed: seed of the synthetic images.
      cache_dir: where CelebA 64x64 caches go (default: see the module docstring).
      celeba_crop: CelebA: the side of the centred square crop resized to 64x64 (108; the
        paper's Appendix C: 140); each crop has its own cache.
    """
    check_name(name)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
    if path is not None and not Path(path).is_dir():
        raise DataError(
            f"path {path!r} is not an existing directory; pass the directory that holds the "
            f"{name} files, or leave path unset"
        )

    if source == "auto":
        source = auto_source(name, split, path)
    if source == "synthetic":
        shape = image_shape(name) if synthetic_shape is None else synthetic_shape
        return synthetic_images(shape, synthetic_size, seed, split)
    if source not in VALID_SOURCES[name]:
        valid = ", ".join(("auto", *VALID_SOURCES[name], "synthetic"))
        raise DataError(f"source {source!r} does not serve {name}; valid sources: {valid}")
    if path is not None and source == "tfds":
        raise DataError(
            f"path is not used by source='tfds'; drop path={path!r}, or use "
            f"source={'folder' if name == 'celeb_a' else 'idx'!r} to read it"
        )

    if source == "idx":
        return load_idx(name, split, path)
    cache = cache_dir_for(cache_dir, tfds_data_dir)
    if source == "folder":
        if path is None:
            raise DataError(
                "source='folder' needs path=DIR, the folder of aligned CelebA JPEGs "
                "(img_align_celeba/*.jpg from the CelebA website)"
            )
        return load_celeba_folder(path, cache, celeba_crop)
    return load_tfds(name, split, tfds_data_dir, cache, celeba_crop)


def auto_source(name: str, split: str, path: str | None) -> str:
    if name == "synthetic":
        return "synthetic"
    if name in ("mnist", "fashion_mnist"):
        if path is not None:
            # An explicit path is never silently ignored: load_idx reports missing files.
            return "idx"
        if name == "fashion_mnist" and find_idx_file(FASHION_MNIST_DIR, split) is not None:
            return "idx"
        return "tfds"
    if name == "celeb_a" and path is not None:
        return "folder"
    if path is not None:
        raise DataError(f"{name} is read only from tfds; drop path={path!r}")
    return "tfds"
