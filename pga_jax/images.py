"""Pictures people look at: image grids and interpolation strips, written as PNG."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from pga_jax import atomic


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8 as the original code (`((x+1)/2*255).astype(uint8)`, truncating)."""
    images = np.clip(np.asarray(images, np.float32), -1.0, 1.0)
    return ((images + 1.0) / 2.0 * 255.0).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """[N, H, W, C] images in [-1, 1] -> one uint8 [rows*(H+pad)+pad, ..., C] grid."""
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
    """[a0, b0, a1, b1, ...]: originals next to their reconstructions."""
    out = np.empty((2 * len(a), *a.shape[1:]), a.dtype)
    out[0::2], out[1::2] = a, b
    return out


def save_png(path: str, grid: np.ndarray) -> None:
    """Writes a uint8 [H, W, 1 or 3] grid atomically (no half-written file on interruption)."""
    img = grid[..., 0] if grid.shape[-1] == 1 else grid
    with atomic.replacing(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
