"""Named input protocols for FID: quantisation, bilinear resize to 299 x 299, normalisation.

The resize rule is part of the metric: torch-style and TF1-style bilinear differ by ~20% in
per-image features on 28-32 px inputs (FID 3.5 apart on small digit images). So every score
records the protocol name, and the two protocols are implemented exactly:

* ``tf1_bilinear`` (default; what the original code measured): TTUR's ``inception-2015-12-05``
  graph casts to float, resizes with TF1 ``resize_bilinear(align_corners=False)`` without
  half-pixel centres (source = dest * in/out), then normalises ``(x - 128) / 128``.
* ``torch_bilinear`` (pytorch-fid): pixels scaled to [0, 1], torch ``F.interpolate(mode=
  'bilinear', align_corners=False)`` (half-pixel centres: source = (dest + 0.5) * in/out - 0.5,
  clamped at 0; no antialiasing, also when downsampling), then ``2x - 1``.

Bilinear resizing is separable, so each rule is one small (out x in) interpolation matrix per
axis, applied with two einsums at full float32 precision: exact, jittable and fast.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

INCEPTION_SIZE = 299


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How images become network input: resize rule plus affine normalisation.

    Attributes:
      name: the name recorded with every score.
      sampling: ``"legacy"`` (TF1: src = dst * in/out) or ``"half_pixel"`` (torch).
      divide: divide pixels (0..255) by this before resizing (torch's ToTensor: x / 255).
      subtract, multiply: after resizing, network input = (x - subtract) * multiply.
    """

    name: str
    sampling: str
    divide: float
    subtract: float
    multiply: float


PROTOCOLS: dict[str, Protocol] = {
    # TTUR graph: Cast -> ResizeBilinear -> Sub(128) -> Mul(1/128).
    "tf1_bilinear": Protocol("tf1_bilinear", "legacy", 1.0, 128.0, 1.0 / 128.0),
    # pytorch-fid: ToTensor (x/255) -> interpolate -> 2x - 1 (== (x - 0.5) * 2 bit for bit).
    "torch_bilinear": Protocol("torch_bilinear", "half_pixel", 255.0, 0.5, 2.0),
}
DEFAULT_PROTOCOL = "tf1_bilinear"


def get_protocol(name: str) -> Protocol:
    """Returns the protocol called ``name``; one-line ValueError listing the valid names."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown FID protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def interpolation_matrix(in_size: int, out_size: int, sampling: str) -> np.ndarray:
    """(out_size, in_size) float32 matrix M with resized = M @ signal along one axis.

    Row i holds the two bilinear weights of output sample i, computed in float32 like the
    TF1 / torch CPU kernels:
      legacy:     src = i * (in/out)
      half_pixel: src = max((i + 0.5) * (in/out) - 0.5, 0)
    lo = floor(src), hi = min(lo + 1, in - 1), weights (1 - frac, frac) with frac = src - lo.
    """
    if sampling not in ("legacy", "half_pixel"):
        raise ValueError(f"unknown sampling {sampling!r}; use 'legacy' or 'half_pixel'")
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32)
    if sampling == "legacy":
        src = dst * scale
    else:
        src = np.maximum((dst + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = (src - lo.astype(np.float32)).astype(np.float32)
    mat = np.zeros((out_size, in_size), np.float32)
    rows = np.arange(out_size)
    np.add.at(mat, (rows, lo), np.float32(1) - frac)
    np.add.at(mat, (rows, hi), frac)
    return mat


def resize_bilinear(x: jax.Array, out_hw: tuple[int, int], sampling: str) -> jax.Array:
    """Bilinear resize of NHWC float images with the given sampling rule (jittable)."""
    _, h, w, _ = x.shape
    rows = jnp.asarray(interpolation_matrix(h, out_hw[0], sampling))
    cols = jnp.asarray(interpolation_matrix(w, out_hw[1], sampling))
    hp = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", rows, x, precision=hp)
    return jnp.einsum("pw,nowc->nopc", cols, x, precision=hp)


def check_images(images: np.ndarray) -> None:
    """Refuses (ValueError, one line) images the FID would score silently wrong: float pixels
    that are NaN / inf or outside [-1, 1] (e.g. 0..255 floats, which quantise to white), and
    integers that are not uint8. uint8 images and [-1, 1] floats pass."""
    if np.issubdtype(images.dtype, np.floating):
        finite = np.isfinite(images)
        if not finite.all():
            raise ValueError(
                f"{int(images.size - finite.sum())} pixels are NaN or inf; FID needs finite "
                "images (check the model that made them)"
            )
        lo, hi = float(images.min()), float(images.max())
        if lo < -1.0 - RANGE_SLACK or hi > 1.0 + RANGE_SLACK:
            hint = " (0..255 floats: pass uint8, or x / 127.5 - 1)" if hi > 2 else ""
            raise ValueError(
                f"float images must lie in [-1, 1], these span [{lo:.4g}, {hi:.4g}]{hint}"
            )
    elif images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255) or float ([-1, 1]), got {images.dtype}")


RANGE_SLACK = 2 / 255  # one quantisation step: pixels within it of [-1, 1] quantise to 0 / 255


def quantize_to_uint8(x):
    """Original code's ``im2uint``: ``((x + 1) / 2 * 255).astype(uint8)`` for [-1, 1] images.

    Truncates toward zero like the cast. Values are clipped to [0, 255] first, which changes
    nothing for in-range inputs and keeps out-of-range ones defined. Works on numpy arrays
    (returns uint8) and on traced JAX arrays (returns uint8).
    """
    xp = np if isinstance(x, np.ndarray) else jnp
    y = (x + 1) / 2 * 255
    return xp.clip(y, 0, 255).astype(xp.uint8)


def preprocess(images: jax.Array, protocol: str | Protocol, size: int = INCEPTION_SIZE):
    """uint8 (0..255) or float ([-1, 1]) NHWC images with 1 or 3 channels -> network input.

    Steps: float images are quantised with :func:`quantize_to_uint8`; pixels cast to float32;
    resized to ``size`` x ``size`` by the protocol's rule; normalised; grey repeated to RGB.
    """
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected NHWC images with 1 or 3 channels, got shape {images.shape}")
    if jnp.issubdtype(images.dtype, jnp.floating):  # float16/bfloat16: quantise in float32
        images = quantize_to_uint8(images.astype(jnp.float32))
    elif images.dtype != jnp.uint8:
        raise ValueError(f"images must be uint8 (0..255) or float ([-1, 1]), got {images.dtype}")
    x = images.astype(jnp.float32)
    if proto.divide != 1.0:
        x = x / np.float32(proto.divide)
    x = resize_bilinear(x, (size, size), proto.sampling)
    x = (x - np.float32(proto.subtract)) * np.float32(proto.multiply)
    if x.shape[-1] == 1:
        x = jnp.broadcast_to(x, x.shape[:-1] + (3,))
    return x
