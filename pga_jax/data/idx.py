"""The IDX source: MNIST / Fashion-MNIST ``{train,t10k}-images-idx3-ubyte[.gz]`` files, checked."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from pga_jax.data.datasets import DataError, Dataset, prepare_cmd

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions.
IDX_PREFIX = {"train": "train", "test": "t10k"}


def find_idx_file(directory: str | os.PathLike, split: str) -> Path | None:
    prefix = IDX_PREFIX.get(split)
    if prefix is None:
        return None
    for suffix in (".gz", ""):
        candidate = Path(directory) / f"{prefix}-images-idx3-ubyte{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_idx(dataset: Dataset, split: str, path: str | None) -> np.ndarray:
    name = dataset.name
    if split not in IDX_PREFIX:
        raise DataError(f"IDX files have splits 'train' and 'test', not {split!r}")
    directory = path or dataset.default_path
    if directory is None:
        raise DataError(
            f"source='idx' needs path=DIR holding the {name} IDX files "
            f"({IDX_PREFIX[split]}-images-idx3-ubyte[.gz]); or run "
            f"`{prepare_cmd(name, None)}` and use source='tfds'"
        )
    file = find_idx_file(directory, split)
    if file is None:
        raise DataError(
            f"no {IDX_PREFIX[split]}-images-idx3-ubyte[.gz] in {directory}; {dataset.advice()}"
        )
    images = read_idx_images(file, how_to_fix=dataset.advice())
    if images.shape[1:] != dataset.shape:
        h, w, _ = dataset.shape
        raise DataError(
            f"{file} holds {images.shape[1]}x{images.shape[2]} images, not {h}x{w} {name}; "
            f"{dataset.advice()}"
        )
    return images


def read_idx_images(file: str | os.PathLike, how_to_fix: str = "download it again") -> np.ndarray:
    """Reads an IDX3 uint8 image file (gzipped if it ends in .gz) as (N, rows, cols, 1)."""
    file = Path(file)
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as f:
                data = f.read()
        else:
            data = file.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        # Truncated gzip streams raise EOFError, corrupt ones BadGzipFile (an OSError).
        raise DataError(f"cannot read {file} ({e}); the file is damaged: {how_to_fix}") from e
    if len(data) < 16:
        raise DataError(
            f"{file} is truncated ({len(data)} bytes, shorter than the 16-byte IDX header); "
            f"{how_to_fix}"
        )
    magic, n, rows, cols = (int(v) for v in np.frombuffer(data, ">u4", count=4))
    if magic != _IDX_IMAGES_MAGIC:
        raise DataError(
            f"{file} is not an IDX image file (magic number {magic}, expected "
            f"{_IDX_IMAGES_MAGIC}); {how_to_fix}"
        )
    if n == 0 or rows == 0 or cols == 0:
        raise DataError(f"{file} has empty dimensions ({n}, {rows}, {cols}); {how_to_fix}")
    expected = 16 + n * rows * cols
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{file} is {state} ({len(data)} bytes, header says {expected} for {n} images of "
            f"{rows}x{cols}); {how_to_fix}"
        )
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols, 1)
