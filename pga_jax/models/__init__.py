"""Encoder f_phi and decoder g_theta: the architecture registry and the networks' variables.

Modules are plain Flax Linen; the trainer uses them only through `apply`, i.e. as pure
functions of (variables, inputs). No loss lives inside a module. `build(config.model,
variational)` makes a registered architecture's (encoder, decoder): `dcgan` (conv_mnist /
conv_32 / conv_64) and `resnet` (resnet_32) register the original code's four; `blocks` holds
what they share. Adding one: its module, registering an `Architecture`.

BatchNorm state. The original always runs BatchNorm in training mode, even for sampling and FID:
every Enc/Dec call normalises with the statistics of its own batch. Here, `train=True` does the
same, and the running averages live in the explicit `batch_stats` collection. The train step
(see `objectives/base.py`) keeps the running-average update of the data-path calls Enc(x) and Dec(z)
only; every other call of the step (h(z_n), h(z), h(z + delta), ...) normalises with its own
batch statistics and its `batch_stats` update is discarded. `train=False` uses the running
averages (not what the paper's numbers used; offered for experiments).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from pga_jax.models import dcgan, resnet  # noqa: F401  (register the built-in architectures)
from pga_jax.models.blocks import (
    LOGVAR_BIAS_INIT,
    fast_conv,
    fast_conv_transpose,
    fast_dense,
    plain_conv,
    plain_conv_transpose,
    plain_dense,
)
from pga_jax.models.dcgan import DCGAN_WIDTH, ConvDecoder, ConvEncoder
from pga_jax.models.registry import (
    Architecture,
    build,
    get,
    names,
    output_shape,
    register,
    unregister,
)
from pga_jax.models.resnet import RESNET_DIM, ResNetDecoder, ResNetEncoder, unpool_zeros_2x2

__all__ = [
    "DCGAN_WIDTH",
    "LOGVAR_BIAS_INIT",
    "RESNET_DIM",
    "Architecture",
    "ConvDecoder",
    "ConvEncoder",
    "ResNetDecoder",
    "ResNetEncoder",
    "build",
    "build_models",
    "fast_conv",
    "fast_conv_transpose",
    "fast_dense",
    "get",
    "init_variables",
    "names",
    "output_shape",
    "plain_conv",
    "plain_conv_transpose",
    "plain_dense",
    "register",
    "unpool_zeros_2x2",
    "unregister",
]


def build_models(
    arch: str,
    z_dim: int,
    *,
    bn: bool,
    variational: bool,
    fast_layers: bool = True,
    width: int = DCGAN_WIDTH,
    resnet_dim: int = RESNET_DIM,
    **knobs,
) -> tuple[nn.Module, nn.Module]:
    """`build` of a model block given as keywords (scripts and tests); the defaults are the
    config's (config_fields.FIELDS)."""
    model = dict(arch=arch, z_dim=z_dim, bn=bn, fast_layers=fast_layers, width=width)
    return build(dict(model, resnet_dim=resnet_dim, **knobs), variational)


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
