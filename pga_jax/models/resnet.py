"""resnet_32: the ResNet of Miyato et al. (2018) in the original code (models.py:85-133 of
zj10/PGA; LPGA only, the paper's Appendix C), `model.resnet_dim` filters wide."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import flax.linen as nn
import jax.numpy as jnp

from pga_jax import data
from pga_jax.models import registry
from pga_jax.models.blocks import _Heads, batch_norm, lrelu, xavier

RESNET_DIM = 512  # the original's width (config.model.resnet_dim)


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
            h = batch_norm(train)(h)
        h = self.act(h)
        if self.resample == "up":
            h = unpool_zeros_2x2(h)
        h = conv3(self.features, use_bias=not self.bn)(h)
        if self.bn:
            h = batch_norm(train)(h)
        h = self.act(h)
        h = conv3(self.features)(h)
        if self.resample == "down":
            h = avg_pool_2x2(h)
        return shortcut + h


class ResNetEncoder(nn.Module):
    """resnet_32 encoder: 32x32 -> 16 -> 8 -> 4 with widths dim/2 -> dim -> 2 dim -> 4 dim."""

    z_dim: int
    dim: int = RESNET_DIM
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

    dim: int = RESNET_DIM
    bn: bool = False

    @nn.compact
    def __call__(self, z, train: bool = True):
        d = self.dim
        x = nn.Dense(4 * 4 * 4 * d, kernel_init=xavier)(z).reshape((z.shape[0], 4, 4, 4 * d))
        for features in (2 * d, d, d // 2):
            x = _ResBlock(features, "up", nn.relu, self.bn)(x, train)
        if self.bn:
            x = batch_norm(train)(x)
        x = nn.relu(x)
        x = nn.Conv(3, (3, 3), padding="SAME", kernel_init=xavier)(x)
        return jnp.tanh(x)


def build(model: Mapping, variational: bool) -> tuple[nn.Module, nn.Module]:
    dim, bn = model["resnet_dim"], model["bn"]
    return ResNetEncoder(model["z_dim"], dim, bn, variational), ResNetDecoder(dim, bn)


registry.register(
    registry.Architecture(
        "resnet_32",
        build,
        data.image_shape("cifar10"),
        setting=lambda model: f"ResNet {model['resnet_dim']}",
    )
)
