"""The FID Inception-v3 (TF ``inception-2015-12-05``, "pool_3" features) in Flax Linen.

Architecture as pytorch-fid's FID variant of torchvision's Inception3, which reproduces the TF
graph used by TTUR:
  * every convolution is conv (no bias) -> BatchNorm(eps=1e-3, no scale, frozen statistics)
    -> ReLU;
  * the 3x3 / stride-1 average pools inside Mixed_5b-5d (A), Mixed_6b-6e (C) and Mixed_7b (E_1)
    exclude the zero padding from the divisor (``count_include_pad=False``);
  * Mixed_7c (E_2) uses a 3x3 / stride-1 **max** pool (padding = -inf) in its pool branch;
  * pool_3 = global mean of Mixed_7c's 8x8x2048 map.
Module and parameter names follow torchvision (``Mixed_5b/branch1x1/kernel``), so pytorch-fid's
state-dict keys map one to one. Inference only: each conv layer holds ``kernel`` (HWIO),
``bias`` (BN beta), ``mean`` and ``var`` (BN moving statistics) as ordinary parameters.

``make_feature_fn`` wraps the network in a jitted, batched feature extractor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from pga_jax import progress as bars
from pga_jax.fid import progress, resize

BN_EPS = 1e-3
FEATURE_DIMS = (64, 192, 768, 2048)
_PRECISIONS = {
    "highest": jax.lax.Precision.HIGHEST,
    "high": jax.lax.Precision.HIGH,
    "default": jax.lax.Precision.DEFAULT,
}


class ConvBN(nn.Module):
    """relu((conv(x, kernel) - mean) / sqrt(var + 1e-3) + bias): TF conv + scale-free BN."""

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)  # symmetric zero padding (rows, cols)
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        mean = self.param("mean", nn.initializers.zeros, (self.features,))
        var = self.param("var", nn.initializers.ones, (self.features,))
        ph, pw = self.padding
        # A stride-1 convolution with less than "same" padding (the stem's 3x3 VALID convs) is
        # computed as the "same" convolution cropped: the identical sums, but XLA:CPU runs the
        # padded form 3-5x faster (10-20 vs 50-60 GFLOP/s measured), for 3-6% more FLOPs.
        crop_h, crop_w = (kh - 1) // 2 - ph, (kw - 1) // 2 - pw
        if self.strides == 1 and min(crop_h, crop_w) >= 0 and (crop_h, crop_w) != (0, 0):
            ph, pw = ph + crop_h, pw + crop_w
        else:
            crop_h = crop_w = 0
        if (kh, kw, self.strides, ph, pw) == (1, 1, 1, 0, 0):
            # A 1x1 convolution is a matmul over channels; XLA:CPU runs the dot 1.5-3x faster.
            y = jnp.dot(x, kernel[0, 0], precision=self.precision)
        else:
            y = jax.lax.conv_general_dilated(
                x,
                kernel,
                window_strides=(self.strides, self.strides),
                padding=((ph, ph), (pw, pw)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                precision=self.precision,
            )
            y = y[:, crop_h : y.shape[1] - crop_h, crop_w : y.shape[2] - crop_w]
        y = (y - mean) * jax.lax.rsqrt(var + BN_EPS) + bias
        return nn.relu(y)


# The pools are written as elementwise max / sum of shifted slices, rows then columns: the same
# values as lax.reduce_window (bit-identical for max), 2-4x faster on XLA:CPU.


def _window3(x, axis: int, stride: int):
    """The three taps x[s*i], x[s*i + 1], x[s*i + 2] of every length-3 window along ``axis``."""
    n_out = (x.shape[axis] - 3) // stride + 1
    return [
        jax.lax.slice_in_dim(x, t, t + stride * (n_out - 1) + 1, stride, axis) for t in range(3)
    ]


def _max3(x, axis: int, stride: int):
    a, b, c = _window3(x, axis, stride)
    return jnp.maximum(jnp.maximum(a, b), c)


def max_pool_3x3_s2(x):
    """3x3 / stride-2 max pool without padding (stem and Mixed_6a / 7a)."""
    return _max3(_max3(x, 1, 2), 2, 2)


def avg_pool_3x3_exclude_pad(x):
    """3x3 / stride-1 average pool, padding 1, divisor = number of real pixels in the window."""
    sums = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for axis in (1, 2):
        a, b, c = _window3(sums, axis, 1)
        sums = a + b + c
    h, w = x.shape[1:3]
    # Window size along one axis: 3 inside, 2 at the borders (or 1 for a length-1 axis).
    rows = np.minimum(np.arange(h) + 1, h - 1) - np.maximum(np.arange(h) - 1, 0) + 1
    cols = np.minimum(np.arange(w) + 1, w - 1) - np.maximum(np.arange(w) - 1, 0) + 1
    counts = np.outer(rows, cols).astype(np.float32)[None, :, :, None]
    return sums / counts


def max_pool_3x3_same(x):
    """3x3 / stride-1 max pool, padding 1 with -inf (Mixed_7c's pool branch)."""
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
    return _max3(_max3(x, 1, 1), 2, 1)


class InceptionA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool(excl. pad)-1x1."""

    pool_features: int
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        c = lambda f, k, p, name: ConvBN(f, k, 1, p, self.precision, name=name)
        b1 = c(64, (1, 1), (0, 0), "branch1x1")(x)
        b5 = c(48, (1, 1), (0, 0), "branch5x5_1")(x)
        b5 = c(64, (5, 5), (2, 2), "branch5x5_2")(b5)
        b3 = c(64, (1, 1), (0, 0), "branch3x3dbl_1")(x)
        b3 = c(96, (3, 3), (1, 1), "branch3x3dbl_2")(b3)
        b3 = c(96, (3, 3), (1, 1), "branch3x3dbl_3")(b3)
        bp = c(self.pool_features, (1, 1), (0, 0), "branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17): 3x3/s2 | 1x1-3x3-3x3/s2 | maxpool/s2."""

    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        c = lambda f, k, s, p, name: ConvBN(f, k, s, p, self.precision, name=name)
        b3 = c(384, (3, 3), 2, (0, 0), "branch3x3")(x)
        bd = c(64, (1, 1), 1, (0, 0), "branch3x3dbl_1")(x)
        bd = c(96, (3, 3), 1, (1, 1), "branch3x3dbl_2")(bd)
        bd = c(96, (3, 3), 2, (0, 0), "branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b-6e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool(excl. pad)-1x1."""

    channels_7x7: int
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        c = lambda f, k, p, name: ConvBN(f, k, 1, p, self.precision, name=name)
        c7 = self.channels_7x7
        b1 = c(192, (1, 1), (0, 0), "branch1x1")(x)
        b7 = c(c7, (1, 1), (0, 0), "branch7x7_1")(x)
        b7 = c(c7, (1, 7), (0, 3), "branch7x7_2")(b7)
        b7 = c(192, (7, 1), (3, 0), "branch7x7_3")(b7)
        bd = c(c7, (1, 1), (0, 0), "branch7x7dbl_1")(x)
        bd = c(c7, (7, 1), (3, 0), "branch7x7dbl_2")(bd)
        bd = c(c7, (1, 7), (0, 3), "branch7x7dbl_3")(bd)
        bd = c(c7, (7, 1), (3, 0), "branch7x7dbl_4")(bd)
        bd = c(192, (1, 7), (0, 3), "branch7x7dbl_5")(bd)
        bp = c(192, (1, 1), (0, 0), "branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8): 1x1-3x3/s2 | 1x1-1x7-7x1-3x3/s2 | maxpool/s2."""

    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        c = lambda f, k, s, p, name: ConvBN(f, k, s, p, self.precision, name=name)
        b3 = c(192, (1, 1), 1, (0, 0), "branch3x3_1")(x)
        b3 = c(320, (3, 3), 2, (0, 0), "branch3x3_2")(b3)
        b7 = c(192, (1, 1), 1, (0, 0), "branch7x7x3_1")(x)
        b7 = c(192, (1, 7), 1, (0, 3), "branch7x7x3_2")(b7)
        b7 = c(192, (7, 1), 1, (3, 0), "branch7x7x3_3")(b7)
        b7 = c(192, (3, 3), 2, (0, 0), "branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b (pool="avg", excl. pad) / Mixed_7c (pool="max"):
    1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1."""

    pool: str
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        c = lambda f, k, p, name: ConvBN(f, k, 1, p, self.precision, name=name)
        b1 = c(320, (1, 1), (0, 0), "branch1x1")(x)
        b3 = c(384, (1, 1), (0, 0), "branch3x3_1")(x)
        b3a = c(384, (1, 3), (0, 1), "branch3x3_2a")(b3)
        b3b = c(384, (3, 1), (1, 0), "branch3x3_2b")(b3)
        bd = c(448, (1, 1), (0, 0), "branch3x3dbl_1")(x)
        bd = c(384, (3, 3), (1, 1), "branch3x3dbl_2")(bd)
        bda = c(384, (1, 3), (0, 1), "branch3x3dbl_3a")(bd)
        bdb = c(384, (3, 1), (1, 0), "branch3x3dbl_3b")(bd)
        pooled = avg_pool_3x3_exclude_pad(x) if self.pool == "avg" else max_pool_3x3_same(x)
        bp = c(192, (1, 1), (0, 0), "branch_pool")(pooled)
        return jnp.concatenate([b1, b3a, b3b, bda, bdb, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """FID Inception-v3 on normalised NHWC input (299 x 299 x 3 for the standard metric).

    Returns {dims: (N, dims) float32} for each requested block, each the spatial mean of that
    block's output (as pytorch-fid pools its 64/192/768 blocks): 64 after the first max pool,
    192 after the second, 768 after Mixed_6e, 2048 = pool_3 after Mixed_7c.
    """

    output_dims: Sequence[int] = (2048,)
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        for d in self.output_dims:
            if d not in FEATURE_DIMS:
                raise ValueError(f"output_dims must be among {FEATURE_DIMS}, got {d}")
        p = self.precision
        out = {}
        pool = lambda h: jnp.mean(h, axis=(1, 2))
        x = ConvBN(32, (3, 3), 2, (0, 0), p, name="Conv2d_1a_3x3")(x)
        x = ConvBN(32, (3, 3), 1, (0, 0), p, name="Conv2d_2a_3x3")(x)
        x = ConvBN(64, (3, 3), 1, (1, 1), p, name="Conv2d_2b_3x3")(x)
        x = max_pool_3x3_s2(x)
        out[64] = pool(x)
        x = ConvBN(80, (1, 1), 1, (0, 0), p, name="Conv2d_3b_1x1")(x)
        x = ConvBN(192, (3, 3), 1, (0, 0), p, name="Conv2d_4a_3x3")(x)
        x = max_pool_3x3_s2(x)
        out[192] = pool(x)
        x = InceptionA(32, p, name="Mixed_5b")(x)
        x = InceptionA(64, p, name="Mixed_5c")(x)
        x = InceptionA(64, p, name="Mixed_5d")(x)
        x = InceptionB(p, name="Mixed_6a")(x)
        x = InceptionC(128, p, name="Mixed_6b")(x)
        x = InceptionC(160, p, name="Mixed_6c")(x)
        x = InceptionC(160, p, name="Mixed_6d")(x)
        x = InceptionC(192, p, name="Mixed_6e")(x)
        out[768] = pool(x)
        x = InceptionD(p, name="Mixed_7a")(x)
        x = InceptionE("avg", p, name="Mixed_7b")(x)
        x = InceptionE("max", p, name="Mixed_7c")(x)
        out[2048] = pool(x)
        return {d: out[d] for d in self.output_dims}


def param_shapes() -> dict:
    """Nested dict of the parameter shapes (no computation: traced with ``jax.eval_shape``)."""
    model = FIDInceptionV3()
    x = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    tree = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)["params"]
    return jax.tree_util.tree_map(lambda s: tuple(s.shape), tree)


def init_random_params(seed: int = 0) -> dict:
    """Random float32 numpy parameters with the real structure (tests, benchmarks).

    kernel ~ N(0, 1 / fan_in); BN beta, mean ~ N(0, 0.1^2); var ~ U(0.5, 1.5). Drawn with numpy
    from ``param_shapes()``, which is much faster than compiling ``model.init`` on CPU.
    """
    rng = np.random.default_rng(seed)

    def draw(path, shape):
        name = path[-1].key
        if name == "kernel":
            fan_in = shape[0] * shape[1] * shape[2]
            return rng.standard_normal(shape, np.float32) / np.float32(np.sqrt(fan_in))
        if name == "var":
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return (0.1 * rng.standard_normal(shape, np.float32)).astype(np.float32)

    is_shape = lambda x: isinstance(x, tuple)
    return jax.tree_util.tree_map_with_path(draw, param_shapes(), is_leaf=is_shape)


def default_batch_size() -> int:
    """Images per network call: 10 on CPU, 50 on accelerators.

    On a 2-core CPU, batch 10 ran 6.8 img/s and batch 50 5.5 img/s (the 299 x 299 stem tensors
    of 50 images, ~300 MB each, no longer stay in cache); GPUs want large batches.
    """
    return 10 if jax.default_backend() == "cpu" else 50


class FeatureFn:
    """Jitted, batched FID feature extractor; see :func:`make_feature_fn`.

    Calling it on images (N, H, W[, C]) — uint8 0..255 or float [-1, 1], C in {1, 3}, any H, W
    — returns float32 numpy features (N, dims), or {dim: features} when ``dims`` is a tuple.
    Images go through in fixed-size batches (the last one padded), so the network compiles once
    per batch size; preprocessing (quantise, resize, normalise) compiles once per input shape.
    A call that runs longer than ``log_every_s`` logs its progress (images/s, ETA) that often;
    where ``pga_jax.progress.showing()`` (the Python API, a notebook) it shows a bar instead.
    """

    def __init__(
        self, params, protocol, batch_size, dims, precision, weights_sha256, log_every_s=60.0
    ):
        self.protocol = resize.get_protocol(protocol).name
        # Each batch is split over this process's devices (a multiple of their count); the
        # network sees every image alone (inference BatchNorm), so the split changes nothing.
        devices = jax.local_devices()
        self.batch_size = -(-int(batch_size) // len(devices)) * len(devices)
        mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
        self._split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
        self.dims = dims
        self.weights_sha256 = weights_sha256 or "unknown"
        self.log_every_s = log_every_s
        out_dims = tuple(dims) if isinstance(dims, tuple | list) else (int(dims),)
        self._out_dims = out_dims
        model = FIDInceptionV3(output_dims=out_dims, precision=_PRECISIONS[precision])
        self._params = jax.device_put(
            params, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        )
        self._net = jax.jit(lambda p, x: model.apply({"params": p}, x))
        self._prep = jax.jit(lambda im: resize.preprocess(im, self.protocol))

    def _batches(self, images: np.ndarray):
        n, bs = images.shape[0], self.batch_size
        for start in range(0, n, bs):
            chunk = images[start : start + bs]
            if chunk.shape[0] < bs:  # pad with copies of the last image; dropped afterwards
                pad = np.repeat(chunk[-1:], bs - chunk.shape[0], axis=0)
                chunk = np.concatenate([chunk, pad], axis=0)
            yield chunk

    def __call__(self, images) -> np.ndarray | dict[int, np.ndarray]:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
            raise ValueError(f"expected (N, H, W[, 1|3]) images with N > 0, got {images.shape}")
        resize.check_images(images)
        if images.dtype == np.float64:  # quantise on the host, bit-exact with the original
            images = resize.quantize_to_uint8(images)
        n, outs = images.shape[0], []
        if bars.showing():  # the Python API, a notebook: a bar on stderr
            bar = bars.Bar(n, "FID features", "images")
        else:  # the command lines: absl INFO lines
            bar = progress.Progress(n, "Inception features", logging.info, self.log_every_s)
        try:
            for chunk in self._batches(images):
                chunk = jax.device_put(chunk, self._split)
                outs.append(self._net(self._params, self._prep(chunk)))
                if len(outs) > 1:  # wait for the previous batch: honest progress, one queued
                    jax.block_until_ready(outs[-2])
                    bar.update((len(outs) - 1) * self.batch_size)
            feats = {
                d: np.concatenate([np.asarray(o[d]) for o in outs])[:n] for d in self._out_dims
            }
            if isinstance(bar, bars.Bar):
                bar.update(n)
        finally:
            bar.close()
        return feats if isinstance(self.dims, tuple | list) else feats[self._out_dims[0]]


def make_feature_fn(
    params,
    protocol: str = resize.DEFAULT_PROTOCOL,
    *,
    batch_size: int | None = None,
    dims: int | tuple[int, ...] = 2048,
    precision: str = "highest",
    weights_sha256: str | None = None,
    log_every_s: float = 60.0,
) -> FeatureFn:
    """Returns a :class:`FeatureFn` for ``params`` (the ``params`` collection, plain pytree).

    Args:
      params: FID Inception parameters, e.g. from ``weights.load_inception_params``.
      protocol: input protocol name (see ``resize.PROTOCOLS``); recorded with every score.
      batch_size: images per network call; None: :func:`default_batch_size`.
      dims: 2048 for pool_3, or 64 / 192 / 768, or a tuple of them (then a dict is returned).
      precision: matmul / conv precision; "highest" keeps float32 on GPUs/TPUs too.
      weights_sha256: checksum of ``params`` to record with scores.
      log_every_s: a long call logs progress (absl INFO) at most this often.
    """
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}")
    batch_size = default_batch_size() if batch_size is None else batch_size
    return FeatureFn(params, protocol, batch_size, dims, precision, weights_sha256, log_every_s)
