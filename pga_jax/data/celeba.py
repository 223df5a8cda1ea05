"""CelebA: the paper's crop and resize, and the source of a folder of aligned JPEGs."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pga_jax.data.cache import read_cache, write_cache
from pga_jax.data.datasets import DataError, image_shape

logger = logging.getLogger(__name__)

# A centred square crop of the 218x178 aligned images, resized to 64x64 (bicubic): 108x108 at
# (55, 35) == ((218 - 108) // 2, (178 - 108) // 2) in the paper's Table 1 and the original code;
# 140x140 at (39, 19) in its Appendix C (Fig. 6), "centred the same way".
CELEBA_RAW_SHAPE = (218, 178, 3)
DEFAULT_CELEBA_CROP = 108
CELEBA_SIZE = image_shape("celeb_a")[0]


def celeba_crop_box(size: int = DEFAULT_CELEBA_CROP) -> tuple[int, int, int]:
    """(top, left, size) of the centred size x size crop of a 218x178 image."""
    height, width, _ = CELEBA_RAW_SHAPE
    if not CELEBA_SIZE <= size <= min(height, width):
        raise DataError(
            f"config.data.celeba_crop={size}: the crop must lie between {CELEBA_SIZE} (the "
            f"resized size) and {min(height, width)} (the image's width)"
        )
    return (height - size) // 2, (width - size) // 2, size


CELEBA_CROP = celeba_crop_box()  # (55, 35, 108)


def crop_tag(size: int) -> str:
    """The cache-file tag of a crop: "" for the default 108 (the caches' old names), else
    "_crop140"."""
    return "" if size == DEFAULT_CELEBA_CROP else f"_crop{size}"


_LOG_EVERY = 10000  # progress log interval (images) when building a CelebA cache.


def celeba_crop_resize(
    image: np.ndarray, where: str = "image", crop: int = DEFAULT_CELEBA_CROP
) -> np.ndarray:
    """(218, 178, 3) uint8 -> (64, 64, 3) uint8: the centred crop x crop square (108: at
    (55, 35)), bicubic resize."""
    from PIL import Image

    image = np.asarray(image)
    if image.shape != CELEBA_RAW_SHAPE or image.dtype != np.uint8:
        raise DataError(
            f"{where} has shape {image.shape} and dtype {image.dtype}, expected aligned CelebA "
            f"uint8 {CELEBA_RAW_SHAPE} (img_align_celeba)"
        )
    top, left, size = celeba_crop_box(crop)
    crop = Image.fromarray(image[top : top + size, left : left + size])
    resized = crop.resize((CELEBA_SIZE, CELEBA_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


def load_celeba_folder(path: str, cache: Path, crop: int = DEFAULT_CELEBA_CROP) -> np.ndarray:
    from PIL import Image

    folder = Path(path).resolve()
    files = sorted(p.name for p in folder.glob("*.jpg"))
    if not files:
        raise DataError(
            f"no *.jpg files in {folder}; download img_align_celeba.zip from the CelebA website "
            "and pass its unzipped img_align_celeba folder as path"
        )
    key = hashlib.sha1("\n".join([str(folder), *files]).encode()).hexdigest()[:12]
    name = f"celeb_a_folder_{key}{crop_tag(crop)}_{CELEBA_SIZE}x{CELEBA_SIZE}.npy"
    cache_file = cache / name
    cached = read_cache(cache_file, image_shape("celeb_a"), expected_len=len(files))
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
            yield celeba_crop_resize(rgb, str(file), crop)[None]
            if (i + 1) % _LOG_EVERY == 0 or i + 1 == len(files):
                logger.info("celeb_a folder: %d / %d images", i + 1, len(files))

    return write_cache(cache_file, resized_chunks(), str(folder))
