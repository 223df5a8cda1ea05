"""Resize protocols vs plain-numpy loop implementations of their definitions; quantisation."""

import jax
import numpy as np
import pytest

from pga_jax.fid import resize


def _tf1_bilinear_loop(img, out_h, out_w):
    """TF1 resize_bilinear(align_corners=False, half_pixel_centers=False), pixel by pixel:
    source coordinate = dest * (in / out); neighbours floor and min(floor + 1, in - 1).
    Like TF's kernel, scale and source coordinates are float32; the blend is float64."""
    in_h, in_w, ch = img.shape
    f = np.float32
    out = np.zeros((out_h, out_w, ch))
    for i in range(out_h):
        sy = float(f(i) * (f(in_h) / f(out_h)))
        y0 = int(np.floor(sy))
        y1 = min(y0 + 1, in_h - 1)
        wy = sy - y0
        for j in range(out_w):
            sx = float(f(j) * (f(in_w) / f(out_w)))
            x0 = int(np.floor(sx))
            x1 = min(x0 + 1, in_w - 1)
            wx = sx - x0
            top = img[y0, x0] * (1 - wx) + img[y0, x1] * wx
            bottom = img[y1, x0] * (1 - wx) + img[y1, x1] * wx
            out[i, j] = top * (1 - wy) + bottom * wy
    return out


def _torch_bilinear_loop(img, out_h, out_w):
    """torch F.interpolate(mode='bilinear', align_corners=False, antialias=False), pixel by
    pixel: source = max((dest + 0.5) * (in / out) - 0.5, 0); neighbours as above.
    Like torch's CPU kernel, scale and source coordinates are float32."""
    in_h, in_w, ch = img.shape
    f = np.float32
    out = np.zeros((out_h, out_w, ch))
    for i in range(out_h):
        sy = float(max((f(i) + f(0.5)) * (f(in_h) / f(out_h)) - f(0.5), f(0)))
        y0 = min(int(sy), in_h - 1)
        y1 = min(y0 + 1, in_h - 1)
        wy = sy - y0
        for j in range(out_w):
            sx = float(max((f(j) + f(0.5)) * (f(in_w) / f(out_w)) - f(0.5), f(0)))
            x0 = min(int(sx), in_w - 1)
            x1 = min(x0 + 1, in_w - 1)
            wx = sx - x0
            top = img[y0, x0] * (1 - wx) + img[y0, x1] * wx
            bottom = img[y1, x0] * (1 - wx) + img[y1, x1] * wx
            out[i, j] = top * (1 - wy) + bottom * wy
    return out


_LOOPS = {"legacy": _tf1_bilinear_loop, "half_pixel": _torch_bilinear_loop}


@pytest.mark.parametrize("sampling", ["legacy", "half_pixel"])
@pytest.mark.parametrize(
    "in_hw, out_hw",
    [((28, 28), (299, 299)), ((7, 5), (13, 11)), ((64, 48), (29, 37)), ((299, 299), (299, 299))],
)
def test_resize_matches_loop_definition(sampling, in_hw, out_hw):
    rng = np.random.default_rng(sum(in_hw) + sum(out_hw))
    img = rng.integers(0, 256, in_hw + (2,)).astype(np.float64)
    ref = _LOOPS[sampling](img, *out_hw)
    ours = np.asarray(resize.resize_bilinear(img[None].astype(np.float32), out_hw, sampling))[0]
    # Same float32 coordinates; float32 vs float64 blending: ~1e-5 grey levels.
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_same_size_is_identity_and_protocols_differ():
    img = np.random.default_rng(0).integers(0, 256, (1, 299, 299, 3)).astype(np.float32)
    for sampling in ("legacy", "half_pixel"):
        np.testing.assert_array_equal(resize.resize_bilinear(img, (299, 299), sampling), img)
    a = resize.interpolation_matrix(32, 299, "legacy")
    b = resize.interpolation_matrix(32, 299, "half_pixel")
    np.testing.assert_allclose(a.sum(1), 1, atol=1e-6)
    assert np.abs(a - b).max() > 0.4  # the two rules really differ when upsampling


def test_quantization_is_truncation_like_original():
    x = np.linspace(-1, 1, 10001, dtype=np.float32)
    want = ((x + 1) / 2 * 255).astype(np.uint8)  # the original code's im2uint
    np.testing.assert_array_equal(resize.quantize_to_uint8(x), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(resize.quantize_to_uint8)(x)), want)
    assert resize.quantize_to_uint8(np.float32(0.999)) == 254  # truncates, no rounding
    out_of_range = resize.quantize_to_uint8(np.array([-1.5, 1.5], np.float32))
    np.testing.assert_array_equal(out_of_range, [0, 255])


@pytest.mark.parametrize("protocol", sorted(resize.PROTOCOLS))
def test_preprocess_float_grey_and_normalisation(protocol):
    rng = np.random.default_rng(1)
    xf = rng.uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    xu = ((xf + 1) / 2 * 255).astype(np.uint8)
    prep = jax.jit(lambda im: resize.preprocess(im, protocol))
    a, b = np.asarray(prep(xf)), np.asarray(prep(xu))
    assert a.shape == (2, 299, 299, 3)
    np.testing.assert_array_equal(a, b)  # float input == its quantised uint8 version
    np.testing.assert_array_equal(a[..., 0], a[..., 2])  # grey repeated to RGB
    # Normalisation of constant images: TF maps 0 -> -1 and 255 -> 127/128; torch 0..255 -> +-1.
    ends = np.asarray(
        prep(np.stack([np.zeros((8, 8, 3)), np.full((8, 8, 3), 255)]).astype(np.uint8))
    )
    hi = 127 / 128 if protocol == "tf1_bilinear" else 1.0
    np.testing.assert_allclose(ends[0], -1.0, atol=1e-6)
    np.testing.assert_allclose(ends[1], hi, atol=1e-6)


def test_preprocess_errors():
    with pytest.raises(ValueError, match="unknown FID protocol"):
        resize.get_protocol("bicubic")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        resize.preprocess(np.zeros((1, 8, 8, 4), np.uint8), "tf1_bilinear")
    with pytest.raises(ValueError, match="uint8"):
        resize.preprocess(np.zeros((1, 8, 8, 3), np.int32), "tf1_bilinear")
