"""Pictures people look at: image grids and interpolation strips, written as PNG."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from pga_jax import atomic


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images as uint8: [-1, 1] floats as the original code converts them
    (`((x+1)/2*255).astype(uint8)`, truncating); uint8 images as they are. Any other dtype
    (e.g. int64 pixel values, whose range is not known) is a ValueError."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images of dtype {images.dtype}: give uint8 [0, 255] or floats in [-1, 1]"
        )
    images = np.clip(images.astype(np.float32), -1.0, 1.0)
    return ((images + 1.0) / 2.0 * 255.0).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """[N, H, W, C] images (uint8, or floats in [-1, 1]: `to_uint8`) -> one uint8
    [rows*(H+pad)+pad, ..., C] grid, row by row, white between the tiles."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[a0, b0, a1, b1, ...] as uint8: originals next to their reconstructions.

    Each of `a` and `b` may be uint8 or floats in [-1, 1] (the data's uint8 images next to a
    run's float reconstructions, say): both are converted to uint8 (`to_uint8`) first, so
    neither is cast into the other's dtype."""
    a, b = to_uint8(a), to_uint8(b)
    if a.shape != b.shape:
        raise ValueError(f"interleave: {a.shape} and {b.shape} images; give as many of each")
    out = np.empty((2 * len(a), *a.shape[1:]), np.uint8)
    out[0::2], out[1::2] = a, b
    return out


def tiles(grid: np.ndarray, n: int, shape: tuple[int, int, int], ncols: int, pad: int = 1):
    """The `n` [H, W, C] images of a `make_grid` grid, in order (its inverse)."""
    h, w, _ = shape
    out = []
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out.append(grid[y : y + h, x : x + w])
    return np.stack(out)


def save_png(path: str, grid: np.ndarray) -> None:
    """Writes a uint8 [H, W, 1 or 3] grid atomically (no half-written file on interruption)."""
    img = grid[..., 0] if grid.shape[-1] == 1 else grid
    with atomic.replacing(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
