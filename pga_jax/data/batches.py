"""Batches: seeded epoch order as a pure function of (seed, step), images to [-1, 1]."""

from __future__ import annotations

import functools

import numpy as np

from pga_jax.data.datasets import DataError


def num_batches_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder is dropped)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return n // batch_size


@functools.lru_cache(maxsize=4)
def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    perm.flags.writeable = False
    return perm


def _check_images(images: np.ndarray) -> None:
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")


def _steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch; DataError if there is none (a batch larger than the data)."""
    steps = num_batches_per_epoch(n, batch_size)
    if steps == 0:
        raise DataError(
            f"batch_size {batch_size} is larger than the dataset ({n} images); "
            "use a smaller batch size or more data"
        )
    return steps


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1]: x / 127.5 - 1 (in numpy's float32 rounding)."""
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


# to_unit_range of every uint8 value: a device gathers from it (exactly numpy's numbers; XLA
# computes x / 127.5 as x * (1 / 127.5), which differs in the last bit for some x).
UNIT_RANGE_TABLE = to_unit_range(np.arange(256, dtype=np.uint8))


def batch_indices(n: int, batch_size: int, seed: int, step: int, count: int = 1) -> np.ndarray:
    """int32 [count, batch_size]: the image indices of batches `step` .. `step + count - 1`.

    A pure function of (seed, step): epoch = step // steps_per_epoch, the epoch's order is
    `np.random.default_rng([seed, epoch]).permutation(n)`, and the last partial batch of each
    epoch is dropped.
    """
    if step < 0:
        raise ValueError(f"step must be non-negative, got {step}")
    steps = _steps_per_epoch(n, batch_size)
    out = np.empty((count, batch_size), np.int32)
    for i in range(count):
        epoch, index = divmod(int(step) + i, steps)
        perm = _epoch_permutation(n, int(seed), epoch)
        out[i] = perm[index * batch_size : (index + 1) * batch_size]
    return out


def batch_at(images: np.ndarray, step: int, batch_size: int, seed: int) -> np.ndarray:
    """Batch number `step`, float32 (B, H, W, C) in [-1, 1] (`to_unit_range`), of the images
    `batch_indices(len(images), batch_size, seed, step)`."""
    _check_images(images)
    idx = batch_indices(len(images), batch_size, seed, step)[0]
    return to_unit_range(np.asarray(images[idx]))


class EpochIterator:
    """Endless iterator over `batch_at(images, step, batch_size, seed)`, step = start_step, ..."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, start_step: int = 0):
        if start_step < 0:
            raise ValueError(f"start_step must be non-negative, got {start_step}")
        _check_images(images)
        self.steps_per_epoch = _steps_per_epoch(len(images), batch_size)
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.step = int(start_step)  # The step of the next batch.

    @property
    def epoch(self) -> int:
        """Epoch of the next batch."""
        return self.step // self.steps_per_epoch

    def __iter__(self) -> EpochIterator:
        return self

    def __next__(self) -> np.ndarray:
        batch = batch_at(self.images, self.step, self.batch_size, self.seed)
        self.step += 1
        return batch
