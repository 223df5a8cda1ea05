"""conv_mnist / conv_32 / conv_64: the DCGAN-style networks of the original code
(models.py:20-82, 136-168 of zj10/PGA), each for the image shape of the dataset it was made
for, at DCGAN width `model.width`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import flax.linen as nn
import jax.numpy as jnp

from pga_jax import data
from pga_jax.models import registry
from pga_jax.models.blocks import (
    _Block,
    _Heads,
    fast_conv,
    fast_conv_transpose,
    fast_dense,
    lrelu,
    plain_conv,
    plain_conv_transpose,
    plain_dense,
)

# The dataset each architecture was made for: its images are the architecture's.
MADE_FOR = {"conv_mnist": "mnist", "conv_32": "cifar10", "conv_64": "celeb_a"}

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
        channels = data.image_shape(MADE_FOR[self.arch])[-1]
        x = self.dconv(channels, name="out")(x)
        return jnp.tanh(x)


def build(model: Mapping, variational: bool) -> tuple[nn.Module, nn.Module]:
    """model.fast_layers: the 5x5 stride-2 (transposed) convolutions and the dense layers in
    layers.py's forms (same function, same parameters); False: flax's own layers."""
    conv, dconv, dense = (
        (fast_conv, fast_conv_transpose, fast_dense)
        if model["fast_layers"]
        else (plain_conv, plain_conv_transpose, plain_dense)
    )
    arch, width = model["arch"], model["width"]
    return (
        ConvEncoder(
            arch, model["z_dim"], model["bn"], variational, conv=conv, width=width, dense=dense
        ),
        ConvDecoder(arch, model["bn"], dconv=dconv, width=width, dense=dense),
    )


def setting(model: Mapping) -> str:
    return f"DCGAN {model['width']}" if model["width"] != DCGAN_WIDTH else ""


for _name, _dataset in MADE_FOR.items():
    registry.register(
        registry.Architecture(_name, build, data.image_shape(_dataset), setting=setting)
    )
