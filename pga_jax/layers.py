"""Stride-2 convolutions as stride-1 convolutions on rearranged tensors (exact, faster).

XLA's CPU backend computes the weight gradient of a strided transposed convolution very
slowly (see benchmarks/train_step.py). The layers here compute *the same function with the same
parameters* as `nn.Conv` / `nn.ConvTranspose` with a 5x5 kernel, stride 2 and SAME padding, but
as one stride-1 3x3 convolution between a space-to-depth / depth-to-space rearrangement:

Conv (SAME pads 1 before, 2 after for even n):  y[m] = sum_t k[t] x[2m + t - 1],  t = 0..4.
Writing x[2j + p] = X_p[j], the taps for phase p = 0 are j = m, m+1 (t = 1, 3) and for
p = 1 they are j = m-1, m, m+1 (t = 0, 2, 4): a 3-tap stride-1 convolution of the
space-to-depth input X with kernel rows  p=0: [0, k1, k3],  p=1: [k0, k2, k4].

ConvTranspose (lax.conv_transpose SAME: input dilated by 2, padded 3 before, 2 after):
y[o] = sum_t k[t] x[(o + t - 3) / 2] over even (o + t - 3).  For o = 2m the taps are
x[m-1], x[m] (t = 1, 3); for o = 2m + 1 they are x[m-1], x[m], x[m+1] (t = 0, 2, 4): one
3-tap stride-1 convolution with 4x the output channels, kernel rows  even: [k1, k3, 0],
odd: [k0, k2, k4], followed by depth-to-space.

The 3x3 kernels are gathered from the stored 5x5 kernel inside the forward pass, so the
parameter is the same (5, 5, C_in, C_out) array and checkpoints are interchangeable with the
plain layers. Spatial sizes must be even (all architectures here); tests/layers_test.py proves
equality of outputs and gradients against flax.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

_ZERO = 5  # index of the zero row appended to the 5-tap kernel
# For each phase, which of the 5 taps (or the zero tap) multiplies window positions -1, 0, +1.
_CONV_TAPS = ((_ZERO, 1, 3), (0, 2, 4))
_CONV_TRANSPOSE_TAPS = ((1, 3, _ZERO), (0, 2, 4))


def _phase_kernel(kernel: jax.Array, taps) -> jax.Array:
    """(5, 5, I, O) -> (3, 3, 2, 2, I, O): w[a, b, py, px] = k[taps[py][a], taps[px][b]]."""
    k = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # tap 5 is zero
    idx = jnp.asarray(taps)  # [phase, window]
    k = k[idx]  # (2, 3, 6, I, O)  [py, a, x, ...]
    k = k[:, :, idx]  # (2, 3, 2, 3, I, O) [py, a, px, b]
    return k.transpose(1, 3, 0, 2, 4, 5)  # (3, 3, 2, 2, I, O)


def space_to_depth(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, 4C), channel order (py, px, c)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // 2, w // 2, 4 * c)


def depth_to_space(x: jax.Array) -> jax.Array:
    """(B, H, W, 4C) with channel order (py, px, c) -> (B, 2H, 2W, C)."""
    b, h, w, c4 = x.shape
    c = c4 // 4
    x = x.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, 2 * h, 2 * w, c)


def _conv3x3(x, w):
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


class FastConv(nn.Module):
    """== nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME') for even input sizes."""

    features: int
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        c_in = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (5, 5, c_in, self.features))
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"FastConv needs even spatial sizes, got {x.shape[1:3]}")
        w = _phase_kernel(kernel, _CONV_TAPS).reshape(3, 3, 4 * c_in, self.features)
        y = _conv3x3(space_to_depth(x), w)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y


class FastConvTranspose(nn.Module):
    """== nn.ConvTranspose(features, (5, 5), strides=(2, 2), padding='SAME')."""

    features: int
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        c_in = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (5, 5, c_in, self.features))
        w = _phase_kernel(kernel, _CONV_TRANSPOSE_TAPS)  # (3, 3, py, px, I, O)
        w = w.transpose(0, 1, 4, 2, 3, 5).reshape(3, 3, c_in, 4 * self.features)
        y = depth_to_space(_conv3x3(x, w))
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y
