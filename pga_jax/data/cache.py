"""The image cache: preprocessed splits (CelebA 64x64) saved once as ``.npy``, memory-mapped."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pga_jax.data.datasets import DataError

logger = logging.getLogger(__name__)


def cache_dir_for(cache_dir: str | None, tfds_data_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    if tfds_data_dir:
        return Path(tfds_data_dir) / "pga_jax_cache"
    return Path.home() / ".cache" / "pga_jax"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def read_cache(file: Path, shape: tuple, expected_len: int | None = None) -> np.ndarray | None:
    """The cached images of `file` ((N, *shape) uint8), or None (missing or unusable: rebuild)."""
    if not file.is_file():
        return None
    try:
        images = np.load(file, mmap_mode="r")
    except (OSError, ValueError) as e:
        logger.warning("Ignoring unreadable cache %s (%s); rebuilding it.", file, e)
        return None
    if (
        images.dtype != np.uint8
        or images.shape[1:] != tuple(shape)
        or len(images) == 0
        or (expected_len is not None and len(images) != expected_len)
    ):
        logger.warning("Ignoring cache %s of shape %s; rebuilding it.", file, images.shape)
        return None
    logger.info("Memory-mapping cached images %s %s.", file, images.shape)
    return images


def write_cache(file: Path, chunks: Iterable[np.ndarray], what: str) -> np.ndarray:
    """Saves the concatenated chunks as `file` (atomically) and returns its memory map."""
    parts = list(chunks)
    total = sum(len(p) for p in parts)
    if total == 0:
        raise DataError(f"{what} holds no images; check the split or folder")
    shape = (total, *parts[0].shape[1:])
    tmp = file.with_name(f"{file.stem}.tmp{os.getpid()}.npy")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    except OSError as e:
        logger.warning("Cannot write cache %s (%s); keeping images in memory only.", file, e)
        return np.concatenate(parts)
    start = 0
    while parts:  # Copy and free chunk by chunk: peak memory is one copy of the data.
        part = parts.pop(0)
        out[start : start + len(part)] = part
        start += len(part)
    out.flush()
    del out
    os.replace(tmp, file)
    logger.info("Cached %s images in %s.", shape, file)
    return np.load(file, mmap_mode="r")
