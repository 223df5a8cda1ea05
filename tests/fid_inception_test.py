"""The Flax FID Inception-v3 with random weights: shapes, parameter count, pools, fast conv
forms, batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax.fid import inception


@pytest.fixture(scope="module")
def params():
    return inception.init_random_params(seed=0)


def _count(tree):
    return sum(int(np.prod(s)) for s in jax.tree_util.tree_leaves(tree, is_leaf=_is_shape))


def _is_shape(x):
    return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


def test_parameter_count_matches_reference_network():
    shapes = inception.param_shapes()
    # default_1.pt (no classifier): 94 conv layers with weight + beta + mean + var.
    assert _count(shapes) == 21_802_784
    assert len(jax.tree_util.tree_leaves(shapes, is_leaf=_is_shape)) == 94 * 4
    assert shapes["Mixed_7c"]["branch_pool"]["kernel"] == (1, 1, 2048, 192)
    assert shapes["Mixed_6b"]["branch7x7_2"]["kernel"] == (1, 7, 128, 128)


def test_random_network_output_shapes(params):
    model = inception.FIDInceptionV3(output_dims=(64, 192, 768, 2048))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 75, 75, 3))
    out = jax.jit(lambda p, x: model.apply({"params": p}, x))(params, x)
    assert {d: o.shape for d, o in out.items()} == {d: (2, d) for d in (64, 192, 768, 2048)}
    assert all(bool(jnp.all(jnp.isfinite(o))) for o in out.values())
    assert all(bool(jnp.all(o >= 0)) for o in out.values())  # means of ReLU outputs


def test_avg_pool_excludes_padding():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    ours = np.asarray(inception.avg_pool_3x3_exclude_pad(jnp.asarray(x)))
    ref = np.zeros_like(x)
    for i in range(4):
        for j in range(5):
            win = x[:, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            ref[:, i, j] = win.mean(axis=(1, 2))
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    neg = -np.ones((1, 3, 3, 1), np.float32)
    assert np.all(np.asarray(inception.max_pool_3x3_same(jnp.asarray(neg))) == -1)  # -inf pad


@pytest.mark.parametrize("shape", [(2, 9, 9, 3), (1, 8, 7, 2), (1, 1, 5, 1)])
def test_pools_equal_their_window_definitions(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    h, w = shape[1:3]
    ref_same = np.full(shape, -np.inf, np.float32)
    for i in range(h):
        for j in range(w):
            win = x[:, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            ref_same[:, i, j] = win.max(axis=(1, 2))
    same = inception.max_pool_3x3_same(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(same), ref_same)
    if min(h, w) >= 3:
        oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
        ref_s2 = np.stack(
            [
                np.stack(
                    [x[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max((1, 2)) for j in range(ow)], 1
                )
                for i in range(oh)
            ],
            1,
        )
        np.testing.assert_array_equal(np.asarray(inception.max_pool_3x3_s2(jnp.asarray(x))), ref_s2)


@pytest.mark.parametrize(
    "kernel_size,strides,padding",
    [((3, 3), 1, (0, 0)), ((1, 1), 1, (0, 0)), ((1, 7), 1, (0, 3)), ((3, 3), 2, (0, 0))],
)
def test_conv_bn_fast_forms_equal_plain_convolution(kernel_size, strides, padding):
    """3x3 VALID (computed padded + cropped) and 1x1 (computed as a dot) == lax convolution."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 11, 10, 5)), jnp.float32)
    layer = inception.ConvBN(6, kernel_size, strides, padding)
    variables = layer.init(jax.random.PRNGKey(0), x)
    p = variables["params"]
    p = {**p, "mean": jnp.asarray(rng.standard_normal(6), jnp.float32)}
    ph, pw = padding
    conv = jax.lax.conv_general_dilated(
        x,
        p["kernel"],
        (strides, strides),
        ((ph, ph), (pw, pw)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    ref = jax.nn.relu((conv - p["mean"]) / jnp.sqrt(p["var"] + inception.BN_EPS) + p["bias"])
    ours = layer.apply({"params": p}, x)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_feature_fn_batching_dtypes_grey_and_progress(params, monkeypatch):
    fn = inception.make_feature_fn(params, batch_size=4, dims=(64, 2048))
    rng = np.random.default_rng(0)
    grey_f = rng.uniform(-1, 1, (6, 28, 28)).astype(np.float32)  # N=6: one padded batch
    grey_u8 = ((grey_f + 1) / 2 * 255).astype(np.uint8)
    rgb_u8 = np.repeat(grey_u8[..., None], 3, axis=-1)
    a, b, c = fn(grey_f), fn(grey_u8), fn(rgb_u8)
    assert a[2048].shape == (6, 2048) and a[64].shape == (6, 64)
    assert a[2048].dtype == np.float32
    np.testing.assert_array_equal(a[2048], b[2048])  # [-1, 1] floats quantised like uint8
    np.testing.assert_allclose(b[2048], c[2048], rtol=1e-6, atol=1e-6)  # grey == RGB copies
    # Batch composition does not change a row: the first 4 again, alone.
    np.testing.assert_allclose(fn(grey_u8[:4])[2048], b[2048][:4], rtol=1e-6, atol=1e-6)
    assert fn.protocol == "tf1_bilinear" and fn.weights_sha256 == "unknown"
    # A call longer than log_every_s logs how far it is (here: after the first of 2 batches).
    lines = []
    monkeypatch.setattr(inception.logging, "info", lines.append)
    fn.log_every_s = 0
    np.testing.assert_array_equal(fn(grey_u8)[2048], b[2048])
    assert len(lines) == 1 and lines[0].startswith("Inception features 4/6 (67%), ")


def test_feature_fn_rejects_bad_input(params):
    fn = inception.make_feature_fn(params, batch_size=2)
    with pytest.raises(ValueError, match="expected"):
        fn(np.zeros((2, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="precision"):
        inception.make_feature_fn(params, precision="bf16")
