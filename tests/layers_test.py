"""The fast stride-2 layers equal flax's nn.Conv / nn.ConvTranspose: outputs and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import layers

CASES = [  # (spatial size, C_in, C_out): every stride-2 layer shape the architectures use
    (28, 1, 64),
    (14, 64, 128),
    (32, 3, 8),
    (16, 8, 4),
    (8, 5, 3),
    (4, 6, 2),
    (2, 3, 3),
]


def _pair(fast_cls, plain_cls, n, c_in, c_out, use_bias):
    fast = fast_cls(c_out, use_bias=use_bias, bias_init=nn.initializers.normal(1.0))
    plain = plain_cls(
        c_out,
        (5, 5),
        strides=(2, 2),
        padding="SAME",
        use_bias=use_bias,
        bias_init=nn.initializers.normal(1.0),
    )
    x = jax.random.normal(jax.random.PRNGKey(0), (3, n, n, c_in))
    params = plain.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, fast.init(jax.random.PRNGKey(1), x)) == jax.tree.map(
        jnp.shape, params
    )
    return fast, plain, x, params


def _check(fast, plain, x, params):
    np.testing.assert_allclose(fast.apply(params, x), plain.apply(params, x), rtol=1e-5, atol=1e-5)
    cot = jax.random.normal(jax.random.PRNGKey(2), plain.apply(params, x).shape)

    def grads(module):
        return jax.grad(lambda p, v: jnp.sum(module.apply(p, v) * cot), argnums=(0, 1))(params, x)

    for a, b in zip(jax.tree.leaves(grads(fast)), jax.tree.leaves(grads(plain)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("n,c_in,c_out", CASES)
def test_fast_conv_equals_nn_conv(n, c_in, c_out, use_bias):
    _check(*_pair(layers.FastConv, nn.Conv, n, c_in, c_out, use_bias))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("n,c_in,c_out", CASES)
def test_fast_conv_transpose_equals_nn_conv_transpose(n, c_in, c_out, use_bias):
    _check(*_pair(layers.FastConvTranspose, nn.ConvTranspose, n, c_in, c_out, use_bias))


def test_space_to_depth_round_trip():
    x = jnp.arange(2 * 4 * 6 * 3.0).reshape(2, 4, 6, 3)
    np.testing.assert_array_equal(layers.depth_to_space(layers.space_to_depth(x)), x)
    assert layers.space_to_depth(x)[0, 0, 0, 3:6].tolist() == x[0, 0, 1].tolist()


def test_odd_input_is_refused():
    with pytest.raises(ValueError, match="even"):
        layers.FastConv(4).init(jax.random.PRNGKey(0), jnp.zeros((1, 7, 7, 1)))
