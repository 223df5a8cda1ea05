"""`load_arrays`: a split of a dataset from the source asked for (or chosen), as uint8 NHWC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pga_jax.data.cache import cache_dir_for
from pga_jax.data.celeba import DEFAULT_CELEBA_CROP, load_celeba_folder
from pga_jax.data.datasets import SOURCES, DataError, Dataset, get
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
      name: a registered dataset (`datasets.names()`).
      split: "train" or "test" for IDX files; any tfds split string for tfds (e.g. "train",
        "test", "all", "train[:10%]"); ignored by the folder source (all images); for
        synthetic data it selects an independent stream of images.
      source: one of `SOURCES`.
      path: a directory: IDX files (mnist / fashion_mnist) or CelebA JPEGs (celeb_a).
      tfds_data_dir: tfds's data directory (default: tfds's own default).
      synthetic_shape: (H, W, C) of synthetic images; default the dataset's shape.
      synthetic_size: number of synthetic images.
      seed: seed of the synthetic images.
      cache_dir: where CelebA 64x64 caches go (default: see the module docstring).
      celeba_crop: CelebA: the side of the centred square crop resized to 64x64 (108; the
        paper's Appendix C: 140); each crop has its own cache.
    """
    dataset = get(name)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
    if path is not None and not Path(path).is_dir():
        raise DataError(
            f"path {path!r} is not an existing directory; pass the directory that holds the "
            f"{name} files, or leave path unset"
        )

    if source == "auto":
        source = auto_source(dataset, split, path)
    if source == "synthetic":
        shape = dataset.shape if synthetic_shape is None else synthetic_shape
        return synthetic_images(shape, synthetic_size, seed, split)
    if source not in dataset.sources:
        valid = ", ".join(("auto", *dataset.sources, "synthetic"))
        raise DataError(f"source {source!r} does not serve {name}; valid sources: {valid}")
    if path is not None and source == "tfds":
        local = [s for s in dataset.sources if s != "tfds"]
        use = f"use source={local[0]!r} to read it" if local else "tfds is its only source"
        raise DataError(f"path is not used by source='tfds'; drop path={path!r}, or {use}")

    if source == "loader":
        return checked(dataset, dataset.load(split, path), f"{name}'s loader")
    if source == "idx":
        return load_idx(dataset, split, path)
    cache = cache_dir_for(cache_dir, tfds_data_dir)
    if source == "folder":
        if path is None:
            raise DataError(
                "source='folder' needs path=DIR, the folder of aligned CelebA JPEGs "
                "(img_align_celeba/*.jpg from the CelebA website)"
            )
        return load_celeba_folder(path, cache, celeba_crop)
    return load_tfds(dataset, split, tfds_data_dir, cache, celeba_crop)


def auto_source(dataset: Dataset, split: str, path: str | None) -> str:
    """The source `auto` means: the dataset's own loader; else its local files (idx / folder)
    at `path`, or at its default place if they are there; else tfds."""
    if dataset.name == "synthetic":
        return "synthetic"
    if "loader" in dataset.sources:
        return "loader"
    local = [s for s in dataset.sources if s in ("idx", "folder")]
    if path is not None:
        # An explicit path is never silently ignored: the local source reports missing files.
        if not local:
            raise DataError(f"{dataset.name} is read only from tfds; drop path={path!r}")
        return local[0]
    if "idx" in local and dataset.default_path and find_idx_file(dataset.default_path, split):
        return "idx"
    return "tfds"


def checked(dataset: Dataset, images, where: str) -> np.ndarray:
    """`images` if they are uint8 (N, H, W, C) of the dataset's shape; else a DataError."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != dataset.shape:
        raise DataError(
            f"{where} returned {images.dtype} images of shape {images.shape}, not uint8 "
            f"(N, {', '.join(map(str, dataset.shape))}); fix the loader or the entry's shape"
        )
    if len(images) == 0:
        raise DataError(f"{where} returned no images; check its files")
    return images
