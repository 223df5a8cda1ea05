"""`prepare`: the only place datasets are downloaded (``python -m pga_jax.data prepare``)."""

from __future__ import annotations

import logging

from pga_jax.data.datasets import DataError, get
from pga_jax.data.sources import load_arrays
from pga_jax.data.tfds_source import import_tfds

logger = logging.getLogger(__name__)


def prepare(
    name: str,
    data_dir: str | None = None,
    split: str = "train",
    folder: str | None = None,
    cache_dir: str | None = None,
) -> None:
    """Downloads and prepares a tfds dataset (the only place downloads happen).

    For celeb_a it also builds the 64x64 cache of `split`; with `folder` it builds the cache of
    a local JPEG folder instead and touches neither tfds nor the network.
    """
    dataset = get(name)
    if name == "synthetic" or dataset.tfds_name is None:
        logger.info("%s is not read from tfds; nothing to prepare.", name)
        return
    if folder is not None:
        if name != "celeb_a":
            raise DataError("--folder is only for celeb_a")
        images = load_arrays(name, source="folder", path=folder, cache_dir=cache_dir)
        logger.info("celeb_a folder ready: %s", images.shape)
        return
    tfds = import_tfds()
    try:
        import importlib_resources  # noqa: F401  (tfds needs it to prepare, undeclared)
    except ImportError as e:
        raise DataError(
            "tfds needs importlib_resources to prepare; run `pip install -e .[tfds]`"
        ) from e
    builder = tfds.builder(dataset.tfds_name, data_dir=data_dir)
    logger.info("Downloading and preparing %s into %s ...", name, builder.data_dir)
    try:
        builder.download_and_prepare()
    except Exception as e:
        hint = "check the internet connection and rerun"
        if name == "celeb_a":
            hint = (
                "Google Drive often refuses automatic CelebA downloads: download "
                "img_align_celeba.zip by hand, unzip it and run `python -m pga_jax.data prepare "
                "--dataset=celeb_a --folder=DIR`, then train with path=DIR"
            )
        message = f"preparing {name} failed ({type(e).__name__}: {e}); {hint}"
        raise DataError(message.replace("\n", " ")) from e
    logger.info("%s prepared.", name)
    if name == "celeb_a":
        images = load_arrays(
            name, split, source="tfds", tfds_data_dir=data_dir, cache_dir=cache_dir
        )
        logger.info("celeb_a[%s] cached: %s", split, images.shape)
