"""Encoder f_phi and decoder g_theta of the original code's four architectures.

Modules are plain Flax Linen; the trainer uses them only through `apply`, i.e. as pure
functions of (variables, inputs). No loss lives inside a module.

Conventions of the original TF-slim code (models.py of zj10/PGA), followed here:
- 5x5 kernels, stride 2, SAME padding for every (transposed) convolution of the conv_* nets;
- leaky ReLU 0.2 in the encoder, ReLU in the decoder, `tanh` output in [-1, 1];
- Xavier-uniform kernels, zero biases, and no bias on a layer followed by BatchNorm;
- BatchNorm (decay 0.999, eps 1e-3, with scale and offset) only where the reference puts it,
  and only when `bn=True` (off for MNIST, on for CIFAR-10 / CelebA);
- the variational encoders have a second head, log sigma^2, whose bias starts at 2 ln 0.1
  (so sigma ~ 0.1 at initialisation).

BatchNorm state. The original always runs BatchNorm in training mode, even for sampling and FID:
every Enc/Dec call normalises with the statistics of its own batch. Here, `train=True` does the
same, and the running averages live in the explicit `batch_stats` collection. The train step
(see `objectives/base.py`) keeps the running-average update of the data-path calls Enc(x) and Dec(z)
only; every other call of the step (h(z_n), h(z), h(z + delta), ...) normalises with its own
batch statistics and its `batch_stats` update is discarded. `train=False` uses the running
averages (not what the paper's numbers used; offered for experiments).

The strided (transposed) convolutions are module attributes (`conv`, `dconv`), so that a
faster, exactly equivalent formulation can replace `nn.Conv` / `nn.ConvTranspose` without
changing parameter shapes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from pga_jax import data, layers

ARCHITECTURES = ("conv_mnist", "conv_32", "conv_64", "resnet_32")

# Image shape each architecture's decoder produces (H, W, C): that of the dataset it is for.
OUTPUT_SHAPES = {
    "conv_mnist": data.image_shape("mnist"),
    "conv_32": data.image_shape("cifar10"),
    "conv_64": data.image_shape("celeb_a"),
    "resnet_32": data.image_shape("cifar10"),
}

LOGVAR_BIAS_INIT = 2.0 * math.log(0.1)  # sigma_phi ~ 0.1 at initialisation

xavier = nn.initializers.xavier_uniform()


def lrelu(x):
    return nn.leaky_relu(x, negative_slope=0.2)


def _batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
    """slim.batch_norm(scale=True): decay 0.999, eps 1e-3."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.999, epsilon=1e-3, name=name)


class _Block(nn.Module):
    """Layer -> optional BatchNorm -> activation, with no layer bias when BN follows."""

    layer: Callable[..., nn.Module]
    features: int
    act: Callable | None
    bn: bool

    @nn.compact
    def __call__(self, x, train: bool):
        # Named "layer" whichever implementation builds it, so checkpoints are interchangeable.
        x = self.layer(self.features, use_bias=not self.bn, kernel_init=xavier, name="layer")(x)
        if self.bn:
            x = _batch_norm(train)(x)
        return self.act(x) if self.act is not None else x


def plain_conv(features, use_bias=True, kernel_init=xavier, name=None):
    """5x5 stride-2 SAME convolution (flax's own; layers.FastConv is the same function)."""
    return nn.Conv(
        features,
        (5, 5),
        strides=(2, 2),
        padding="SAME",
        use_bias=use_bias,
        kernel_init=kernel_init,
        name=name,
    )


def plain_conv_transpose(features, use_bias=True, kernel_init=xavier, name=None):
    return nn.ConvTranspose(
        features,
        (5, 5),
        strides=(2, 2),
        padding="SAME",
        use_bias=use_bias,
        kernel_init=kernel_init,
        name=name,
    )


def fast_conv(features, use_bias=True, kernel_init=xavier, name=None):
    return layers.FastConv(features, use_bias=use_bias, kernel_init=kernel_init, name=name)


def fast_conv_transpose(features, use_bias=True, kernel_init=xavier, name=None):
    return layers.FastConvTranspose(features, use_bias=use_bias, kernel_init=kernel_init, name=name)


def plain_dense(
    features, use_bias=True, kernel_init=xavier, bias_init=nn.initializers.zeros, name=None
):
    return nn.Dense(
        features, use_bias=use_bias, kernel_init=kernel_init, bias_init=bias_init, name=name
    )


def fast_dense(
    features, use_bias=True, kernel_init=xavier, bias_init=nn.initializers.zeros, name=None
):
    return layers.FastDense(features, use_bias, kernel_init, bias_init, name=name)


class _Heads(nn.Module):
    """The encoder's output: mu (and log sigma^2 when variational)."""

    z_dim: int
    variational: bool
    dense: Callable = plain_dense

    @nn.compact
    def __call__(self, h):
        mu = self.dense(self.z_dim, kernel_init=xavier, name="mu")(h)
        if not self.variational:
            return mu, None
        logvar = self.dense(
            self.z_dim,
            kernel_init=xavier,
            bias_init=nn.initializers.constant(LOGVAR_BIAS_INIT),
            name="logvar",
        )(h)
        return mu, logvar


# --------------------------------------------------------------------------------------------
# conv_mnist / conv_32 / conv_64 (DCGAN-style, models.py:20-82, 136-168)
# --------------------------------------------------------------------------------------------

# The DCGAN width: filters of the first convolution (the original code's `dim`, 64). The
# specs below are written at it; every hidden layer scales with `model.width` (Appendix C's
# "full DCGAN" on 140x140 CelebA crops: 128).
DCGAN_WIDTH = 64


def _widened(features: int, width: int) -> int:
    """A spec's hidden features at DCGAN width `width`."""
    return features * width // DCGAN_WIDTH


# Each spec row: (kind, features, uses_bn_when_enabled). kind: conv | dense.
_ENCODER_SPECS = {
    "conv_mnist": [("conv", 64, False), ("conv", 128, True), ("dense", 1024, True)],
    "conv_32": [("conv", 64, False), ("conv", 128, True), ("conv", 256, True)],
    "conv_64": [
        ("conv", 64, False),
        ("conv", 128, False),
        ("conv", 256, True),
        ("conv", 512, True),
    ],
}

# Decoder: (fc features, reshape (h, w, c), fc-bn), then (dconv features, bn) rows; the last
# dconv to the image channels has no BN and a tanh.
_DECODER_SPECS = {
    "conv_mnist": dict(
        dense=[(1024, False), (7 * 7 * 128, True)], reshape=(7, 7, 128), dconv=[(64, False)]
    ),
    "conv_32": dict(
        dense=[(4 * 4 * 256, False)], reshape=(4, 4, 256), dconv=[(128, True), (64, False)]
    ),
    "conv_64": dict(
        dense=[(4 * 4 * 512, False)],
        reshape=(4, 4, 512),
        dconv=[(256, True), (128, True), (64, False)],
    ),
}


class ConvEncoder(nn.Module):
    """conv_mnist / conv_32 / conv_64 encoder: x in [-1,1]^{HxWxC} -> (mu, logvar | None)."""

    arch: str
    z_dim: int
    bn: bool = False
    variational: bool = False
    conv: Callable = plain_conv
    width: int = DCGAN_WIDTH
    dense: Callable = plain_dense

    @nn.compact
    def __call__(self, x, train: bool = True):
        for kind, features, has_bn in _ENCODER_SPECS[self.arch]:
            if kind == "dense":
                x = x.reshape((x.shape[0], -1))
            layer = self.conv if kind == "conv" else self.dense
            features = _widened(features, self.width)
            x = _Block(layer, features, lrelu, self.bn and has_bn)(x, train)
        x = x.reshape((x.shape[0], -1))
        return _Heads(self.z_dim, self.variational, self.dense)(x)


class ConvDecoder(nn.Module):
    """conv_mnist / conv_32 / conv_64 decoder: z in R^H -> image in [-1, 1]."""

    arch: str
    bn: bool = False
    dconv: Callable = plain_conv_transpose
    width: int = DCGAN_WIDTH
    dense: Callable = plain_dense

    @nn.compact
    def __call__(self, z, train: bool = True):
        spec = _DECODER_SPECS[self.arch]
        x = z
        for features, has_bn in spec["dense"]:
            x = _Block(self.dense, _widened(features, self.width), nn.relu, self.bn and has_bn)(
                x, train
            )
        h, w, c = spec["reshape"]
        x = x.reshape((x.shape[0], h, w, _widened(c, self.width)))
        for features, has_bn in spec["dconv"]:
            features = _widened(features, self.width)
            x = _Block(self.dconv, features, nn.relu, self.bn and has_bn)(x, train)
        channels = OUTPUT_SHAPES[self.arch][-1]
        x = self.dconv(channels, name="out")(x)
        return jnp.tanh(x)


# --------------------------------------------------------------------------------------------
# resnet_32 (models.py:85-133; LPGA only, App. C of the paper)
# --------------------------------------------------------------------------------------------


def avg_pool_2x2(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


def unpool_zeros_2x2(x):
    """Zero-insertion upsampling (tflib layers.py `unpool`): out[2i, 2j] = x[i, j], else 0."""
    b, h, w, c = x.shape
    out = jnp.zeros((b, h, 2, w, 2, c), x.dtype).at[:, :, 0, :, 0, :].set(x)
    return out.reshape(b, 2 * h, 2 * w, c)


class _ResBlock(nn.Module):
    """Pre-activation residual block: [BN]-act-conv3x3-[BN]-act-conv3x3, resampled.

    Shortcut: resample then a 1x1 convolution. `resample` is 'down' (2x2 average pool after
    the second convolution), 'up' (zero-insertion unpool before the first) or None.
    """

    features: int
    resample: str | None
    act: Callable
    bn: bool

    @nn.compact
    def __call__(self, x, train: bool):
        conv3 = functools.partial(nn.Conv, kernel_size=(3, 3), padding="SAME", kernel_init=xavier)
        shortcut = x
        if self.resample == "up":
            shortcut = unpool_zeros_2x2(shortcut)
        elif self.resample == "down":
            shortcut = avg_pool_2x2(shortcut)
        shortcut = nn.Conv(self.features, (1, 1), kernel_init=xavier, name="shortcut")(shortcut)

        h = x
        if self.bn:
            h = _batch_norm(train)(h)
        h = self.act(h)
        if self.resample == "up":
            h = unpool_zeros_2x2(h)
        h = conv3(self.features, use_bias=not self.bn)(h)
        if self.bn:
            h = _batch_norm(train)(h)
        h = self.act(h)
        h = conv3(self.features)(h)
        if self.resample == "down":
            h = avg_pool_2x2(h)
        return shortcut + h


class ResNetEncoder(nn.Module):
    """resnet_32 encoder: 32x32 -> 16 -> 8 -> 4 with widths dim/2 -> dim -> 2 dim -> 4 dim."""

    z_dim: int
    dim: int = 512
    bn: bool = False
    variational: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        d = self.dim
        x = nn.Conv(d // 2, (3, 3), padding="SAME", kernel_init=xavier)(x)
        for features in (d, 2 * d, 4 * d):
            x = _ResBlock(features, "down", lrelu, self.bn)(x, train)
        x = lrelu(x).reshape((x.shape[0], -1))
        return _Heads(self.z_dim, self.variational)(x)


class ResNetDecoder(nn.Module):
    """resnet_32 decoder: fc -> 4x4x(4 dim) -> 8 -> 16 -> 32 -> conv3x3 -> tanh."""

    dim: int = 512
    bn: bool = False

    @nn.compact
    def __call__(self, z, train: bool = True):
        d = self.dim
        x = nn.Dense(4 * 4 * 4 * d, kernel_init=xavier)(z).reshape((z.shape[0], 4, 4, 4 * d))
        for features in (2 * d, d, d // 2):
            x = _ResBlock(features, "up", nn.relu, self.bn)(x, train)
        if self.bn:
            x = _batch_norm(train)(x)
        x = nn.relu(x)
        x = nn.Conv(3, (3, 3), padding="SAME", kernel_init=xavier)(x)
        return jnp.tanh(x)


def build_models(
    arch: str,
    z_dim: int,
    *,
    bn: bool,
    variational: bool,
    resnet_dim: int = 512,
    fast_layers: bool = True,
    width: int = DCGAN_WIDTH,
) -> tuple[nn.Module, nn.Module]:
    """Returns (encoder, decoder) modules for `arch`; `width`: the DCGAN width of conv_*.

    fast_layers: compute the 5x5 stride-2 (transposed) convolutions and the dense layers with
    `layers.py` (same function, same parameters, each direction of the forward and backward
    pass in its fastest exact form); False: flax's own layers.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if arch == "resnet_32":
        return (ResNetEncoder(z_dim, resnet_dim, bn, variational), ResNetDecoder(resnet_dim, bn))
    conv, dconv, dense = (
        (fast_conv, fast_conv_transpose, fast_dense)
        if fast_layers
        else (plain_conv, plain_conv_transpose, plain_dense)
    )
    return (
        ConvEncoder(arch, z_dim, bn, variational, conv=conv, width=width, dense=dense),
        ConvDecoder(arch, bn, dconv=dconv, width=width, dense=dense),
    )


@functools.partial(jax.jit, static_argnums=0)
def _init(module: nn.Module, rng: jax.Array, x: jax.Array) -> dict:
    """`module.init` jitted: one compile per network configuration instead of one per op
    (conv_mnist: ~3 s instead of ~11 s on 2 CPU cores), with bit-identical values."""
    return module.init(rng, x, train=True)


def init_variables(
    encoder: nn.Module, decoder: nn.Module, rng: jax.Array, image_shape, z_dim: int
) -> dict:
    """Initial {'params': {'encoder', 'decoder'}, 'batch_stats': {...}} (batch_stats may be {})."""
    k_enc, k_dec = jax.random.split(rng)
    x = jnp.zeros((2, *image_shape), jnp.float32)
    z = jnp.zeros((2, z_dim), jnp.float32)
    enc_vars = _init(encoder, k_enc, x)
    dec_vars = _init(decoder, k_dec, z)
    return {
        "params": {"encoder": enc_vars["params"], "decoder": dec_vars["params"]},
        "batch_stats": {
            "encoder": enc_vars.get("batch_stats", {}),
            "decoder": dec_vars.get("batch_stats", {}),
        },
    }
