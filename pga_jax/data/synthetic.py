"""The synthetic source: deterministic smooth images of any shape, for tests and smoke runs."""

from __future__ import annotations

import functools
import zlib

import numpy as np

from pga_jax.data.datasets import DataError


def _uniform(rng: np.random.Generator, m: int, lo: float, hi: float, *dims: int) -> np.ndarray:
    return rng.uniform(lo, hi, (m, *dims)).astype(np.float32)


def synthetic_images(shape, size: int, seed: int, split: str) -> np.ndarray:
    """Smooth deterministic images: a colour gradient plus three Gaussian blobs each."""
    try:
        h, w, c = (int(v) for v in shape)
    except (TypeError, ValueError) as e:
        raise DataError(f"synthetic_shape must be (H, W, C), got {shape!r}") from e
    if min(h, w, c) <= 0 or size <= 0:
        raise DataError(f"synthetic_shape {shape!r} and synthetic_size {size} must be positive")
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    out = np.empty((size, h, w, c), np.uint8)
    blobs, step = 3, 256
    for start in range(0, size, step):
        m = min(step, size - start)
        u = functools.partial(_uniform, rng, m)
        img = u(0.3, 0.7, 1, 1, c) + u(-0.2, 0.2, 1, 1, c) * ys[..., None]
        img = img + u(-0.2, 0.2, 1, 1, c) * xs[..., None]
        cy, cx, sigma = u(-0.7, 0.7, blobs), u(-0.7, 0.7, blobs), u(0.15, 0.45, blobs)
        dist2 = (ys - cy[..., None, None]) ** 2 + (xs - cx[..., None, None]) ** 2
        bumps = np.exp(-dist2 / (2.0 * sigma[..., None, None] ** 2))  # (m, blobs, h, w)
        img = img + np.einsum("mkhw,mkc->mhwc", bumps, u(-0.5, 0.5, blobs, c))
        out[start : start + m] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out
