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


def _steps_per_epoch(images: np.ndarray, batch_size: int) -> int:
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    steps = num_batches_per_epoch(len(images), batch_size)
    if steps == 0:
        raise DataError(
            f"batch_size {batch_size} is larger than the dataset ({len(images)} images); "
            "use a smaller batch size or more data"
        )
    return steps


def batch_at(images: np.ndarray, step: int, batch_size: int, seed: int) -> np.ndarray:
    """Batch number `step`, float32 (B, H, W, C) in [-1, 1] (x / 127.5 - 1).

    A pure function of (step, seed): epoch = step // steps_per_epoch, the epoch's order is
    `np.random.default_rng([seed, epoch]).permutation(n)`, and the last partial batch of each
    epoch is dropped.
    """
    if step < 0:
        raise ValueError(f"step must be non-negative, got {step}")
    epoch, index = divmod(int(step), _steps_per_epoch(images, batch_size))
    perm = _epoch_permutation(len(images), int(seed), epoch)
    batch = np.asarray(images[perm[index * batch_size : (index + 1) * batch_size]])
    return batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class EpochIterator:
    """Endless iterator over `batch_at(images, step, batch_size, seed)`, step = start_step, ..."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, start_step: int = 0):
        if start_step < 0:
            raise ValueError(f"start_step must be non-negative, got {start_step}")
        self.steps_per_epoch = _steps_per_epoch(images, batch_size)
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
