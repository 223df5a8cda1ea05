"""The fast layers equal flax's nn.Conv / nn.ConvTranspose / nn.Dense: outputs and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import layers
from pga_jax.cpu import onednn

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


@pytest.mark.parametrize("in_oneDNN", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("n_in,n_out", [(6272, 1024), (12, 7), (1, 3)])
def test_fast_dense_equals_nn_dense(monkeypatch, n_in, n_out, use_bias, in_oneDNN):
    if in_oneDNN:
        try:
            onednn.build()
        except onednn.OneDNNUnavailable as e:
            pytest.skip(str(e))
    monkeypatch.setattr(onednn, "enabled", lambda: in_oneDNN)
    kwargs = dict(use_bias=use_bias, bias_init=nn.initializers.normal(1.0))
    fast, plain = layers.FastDense(n_out, **kwargs), nn.Dense(n_out, **kwargs)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, n_in))
    params = plain.init(jax.random.PRNGKey(1), x)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, fast.init(jax.random.PRNGKey(1), x), params))
    _check(fast, plain, x, params)


def test_fast_dense_refuses_other_ranks():
    with pytest.raises(ValueError, match="batch, features"):
        layers.FastDense(3).init(jax.random.PRNGKey(0), jnp.zeros((2, 4, 5)))


def test_space_to_depth_round_trip():
    x = jnp.arange(2 * 4 * 6 * 3.0).reshape(2, 4, 6, 3)
    np.testing.assert_array_equal(layers.depth_to_space(layers.space_to_depth(x)), x)
    assert layers.space_to_depth(x)[0, 0, 0, 3:6].tolist() == x[0, 0, 1].tolist()


def test_odd_input_is_refused():
    with pytest.raises(ValueError, match="even"):
        layers.FastConv(4).init(jax.random.PRNGKey(0), jnp.zeros((1, 7, 7, 1)))


@pytest.mark.parametrize("n,c_u,c_z", [(14, 64, 128), (28, 1, 64), (8, 3, 5)])
def test_up_and_wgrad_are_the_transposes_of_down(n, c_u, c_z):
    """<up(z, w), u> = <z, down(u, w)> = <wgrad(u, z), w>: the three maps of one bilinear form."""
    ku, kz, kw = jax.random.split(jax.random.PRNGKey(3), 3)
    u = jax.random.normal(ku, (2, n, n, c_u), jnp.float32)
    z = jax.random.normal(kz, (2, n // 2, n // 2, c_z), jnp.float32)
    w = jax.random.normal(kw, (5, 5, c_u, c_z), jnp.float32)
    form = float(jnp.vdot(z, layers.down(u, w)))
    np.testing.assert_allclose(float(jnp.vdot(layers.up(z, w), u)), form, rtol=2e-4)
    np.testing.assert_allclose(float(jnp.vdot(layers.wgrad(u, z), w)), form, rtol=2e-4)
    # and down itself is flax's strided convolution
    ref = nn.Conv(c_z, (5, 5), strides=(2, 2), padding="SAME", use_bias=False)
    np.testing.assert_allclose(
        layers.down(u, w), ref.apply({"params": {"kernel": w}}, u), rtol=1e-4, atol=1e-4
    )


def test_swap_is_an_involution_that_flips_and_transposes():
    k = jax.random.normal(jax.random.PRNGKey(0), (5, 5, 3, 2))
    np.testing.assert_array_equal(layers.swap(layers.swap(k)), k)
    assert layers.swap(k).shape == (5, 5, 2, 3)
    np.testing.assert_array_equal(layers.swap(k)[0, 1, 1, 2], k[4, 3, 2, 1])


@pytest.mark.parametrize("form", [layers.up_subpixel, layers.up_rows, layers.up_patches])
@pytest.mark.parametrize("n,c_in,c_out", CASES)
def test_every_up_form_is_the_transpose_of_the_strided_conv(form, n, c_in, c_out):
    """Each form of up equals XLA's own transpose of the 5x5 stride-2 SAME convolution."""
    w = jax.random.normal(jax.random.PRNGKey(3), (5, 5, c_in, c_out))
    z = jax.random.normal(jax.random.PRNGKey(4), (3, n // 2, n // 2, c_out))

    def conv(u):
        return jax.lax.conv_general_dilated(
            u, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    u_shape = jax.ShapeDtypeStruct((3, n, n, c_in), jnp.float32)
    expected = jax.linear_transpose(conv, u_shape)(z)[0]
    scale = float(jnp.max(jnp.abs(expected)))
    np.testing.assert_allclose(form(z, w), expected, rtol=1e-5, atol=1e-6 * scale)
