"""The tfds source: prepared TensorFlow Datasets splits, read without downloading."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pga_jax.data.cache import read_cache, safe_name, write_cache
from pga_jax.data.celeba import (
    CELEBA_SIZE,
    DEFAULT_CELEBA_CROP,
    celeba_crop_resize,
    crop_tag,
)
from pga_jax.data.datasets import DataError, Dataset, prepare_cmd

logger = logging.getLogger(__name__)

_TFDS_CHUNK = 1000  # examples per tf.data batch when reading a split.


def import_tfds():
    """Imports tensorflow_datasets lazily; keeps TensorFlow off the GPUs JAX uses."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataError(
            f"tensorflow-datasets is not installed ({e}); run `pip install -e .[tfds]`, or use "
            "another source (idx / folder / synthetic)"
        ) from e
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except ImportError as e:
        raise DataError(f"TensorFlow is not installed ({e}); run `pip install -e .[tfds]`") from e
    except RuntimeError:  # Devices already initialised by someone else: leave them.
        pass
    return tfds


def tfds_images(dataset: Dataset, split: str, tfds_data_dir: str | None) -> Iterator[np.ndarray]:
    """Yields uint8 image chunks of a prepared tfds split, in order."""
    tfds = import_tfds()
    name = dataset.name
    try:
        ds = tfds.load(dataset.tfds_name, split=split, download=False, data_dir=tfds_data_dir)
    except AssertionError as e:  # tfds's way of saying "not prepared".
        raise DataError(
            f"tfds dataset {name} is not prepared in {tfds_data_dir or 'the default tfds data_dir'}"
            f"; run `{prepare_cmd(name, tfds_data_dir)}` on a machine with internet access"
        ) from e
    except ImportError as e:
        raise DataError(f"tfds needs a missing package ({e}); run `pip install -e .[tfds]`") from e
    except ValueError as e:  # e.g. an unknown split name.
        raise DataError(f"tfds cannot load {name} split {split!r}: {e}".replace("\n", " ")) from e
    # Not batch_size=-1: that batches by the split's recorded size, which is unknown under
    # tfds.testing.mock_data (TF then aborts the process), and it would hold all of CelebA's
    # 218x178 images (~19 GB) at once.
    ds = ds.map(lambda example: example["image"]).batch(_TFDS_CHUNK)
    for chunk in tfds.as_numpy(ds):
        yield np.asarray(chunk, dtype=np.uint8)


def load_tfds(
    dataset: Dataset,
    split: str,
    tfds_data_dir: str | None,
    cache: Path,
    celeba_crop: int = DEFAULT_CELEBA_CROP,
) -> np.ndarray:
    if dataset.name != "celeb_a":
        chunks = list(tfds_images(dataset, split, tfds_data_dir))
        images = np.concatenate(chunks) if chunks else None
        if images is None or len(images) == 0:
            raise DataError(f"tfds split {dataset.name}[{split}] is empty; choose another split")
        return images

    tag = crop_tag(celeba_crop)
    cache_file = cache / f"celeb_a_tfds_{safe_name(split)}{tag}_{CELEBA_SIZE}x{CELEBA_SIZE}.npy"
    cached = read_cache(cache_file, dataset.shape)
    if cached is not None:
        return cached
    logger.info("Building %s from tfds celeb_a[%s] (one-off).", cache_file, split)

    def resized_chunks() -> Iterator[np.ndarray]:
        done = 0
        for chunk in tfds_images(dataset, split, tfds_data_dir):
            where = f"celeb_a[{split}]"
            yield np.stack([celeba_crop_resize(img, where, celeba_crop) for img in chunk])
            done += len(chunk)
            logger.info("celeb_a: %d images cropped and resized", done)

    return write_cache(cache_file, resized_chunks(), f"celeb_a[{split}] from tfds")
