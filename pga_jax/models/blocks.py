"""The building blocks every architecture shares, following the original TF-slim code
(models.py of zj10/PGA):

- 5x5 kernels, stride 2, SAME padding for every (transposed) convolution of the conv_* nets;
- leaky ReLU 0.2 in the encoder, ReLU in the decoder, `tanh` output in [-1, 1];
- Xavier-uniform kernels, zero biases, and no bias on a layer followed by BatchNorm;
- BatchNorm (decay 0.999, eps 1e-3, with scale and offset) only where the reference puts it,
  and only when `bn=True` (off for MNIST, on for CIFAR-10 / CelebA);
- the variational encoders have a second head, log sigma^2, whose bias starts at 2 ln 0.1
  (so sigma ~ 0.1 at initialisation).

The strided (transposed) convolutions and the dense layers are passed to the networks as
factories (`plain_*`: flax's own layers; `fast_*`: layers.py's, the same function with the
same parameters), so a faster form never changes a parameter's shape or name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn

from pga_jax import layers

LOGVAR_BIAS_INIT = 2.0 * math.log(0.1)  # sigma_phi ~ 0.1 at initialisation

xavier = nn.initializers.xavier_uniform()


def lrelu(x):
    return nn.leaky_relu(x, negative_slope=0.2)


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
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
            x = batch_norm(train)(x)
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
