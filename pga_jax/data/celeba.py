"""CelebA: the paper's crop and resize, and the source of a folder of aligned JPEGs."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pga_jax.data.cache import read_cache, write_cache
from pga_jax.data.datasets import SHAPES, DataError

logger = logging.getLogger(__name__)

# 108x108 crop at (55, 35) == ((218 - 108) // 2, (178 - 108) // 2), then 64x64.
CELEBA_RAW_SHAPE = (218, 178, 3)
CELEBA_CROP = (55, 35, 108)  # (top, left, size)
CELEBA_SIZE = SHAPES["celeb_a"][0]
_LOG_EVERY = 10000  # progress log interval (images) when building a CelebA cache.


def celeba_crop_resize(image: np.ndarray, where: str = "image") -> np.ndarray:
    """(218, 178, 3) uint8 -> (64, 64, 3) uint8: 108x108 crop at (55, 35), bicubic resize."""
    from PIL import Image

    image = np.asarray(image)
    if image.shape != CELEBA_RAW_SHAPE or image.dtype != np.uint8:
        raise DataError(
            f"{where} has shape {image.shape} and dtype {image.dtype}, expected aligned CelebA "
            f"uint8 {CELEBA_RAW_SHAPE} (img_align_celeba)"
        )
    top, left, size = CELEBA_CROP
    crop = Image.fromarray(image[top : top + size, left : left + size])
    resized = crop.resize((CELEBA_SIZE, CELEBA_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


def load_celeba_folder(path: str, cache: Path) -> np.ndarray:
    from PIL import Image

    folder = Path(path).resolve()
    files = sorted(p.name for p in folder.glob("*.jpg"))
    if not files:
        raise DataError(
            f"no *.jpg files in {folder}; download img_align_celeba.zip from the CelebA website "
            "and pass its unzipped img_align_celeba folder as path"
        )
    key = hashlib.sha1("\n".join([str(folder), *files]).encode()).hexdigest()[:12]
    cache_file = cache / f"celeb_a_folder_{key}_{CELEBA_SIZE}x{CELEBA_SIZE}.npy"
    cached = read_cache(cache_file, SHAPES["celeb_a"], expected_len=len(files))
    if cached is not None:
        return cached
    logger.info("Building %s from %d JPEGs in %s (one-off).", cache_file, len(files), folder)

    def resized_chunks() -> Iterator[np.ndarray]:
        for i, file_name in enumerate(files):
            file = folder / file_name
            try:
                with Image.open(file) as img:
                    rgb = np.asarray(img.convert("RGB"))
            except OSError as e:
                raise DataError(f"cannot read {file} ({e}); delete or replace the file") from e
            yield celeba_crop_resize(rgb, str(file))[None]
            if (i + 1) % _LOG_EVERY == 0 or i + 1 == len(files):
                logger.info("celeb_a folder: %d / %d images", i + 1, len(files))

    return write_cache(cache_file, resized_chunks(), str(folder))
