"""The architectures follow the original code's conventions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import models


def _variables(arch, bn, variational=True, z_dim=8):
    enc, dec = models.build_models(arch, z_dim, bn=bn, variational=variational, resnet_dim=16)
    return (
        enc,
        dec,
        models.init_variables(enc, dec, jax.random.PRNGKey(0), models.output_shape(arch), z_dim),
    )


def _paths(tree):
    return [
        "/".join(str(k.key) for k in path)
        for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
    ]


@pytest.mark.parametrize("arch", models.names())
def test_shapes_and_tanh_range(arch):
    enc, dec, v = _variables(arch, bn=True)
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, *models.output_shape(arch)), minval=-1)
    # Jitted: one compile per network instead of one per op (this test took ~55 s op by op).
    encode = jax.jit(lambda v, x: enc.apply(v, x, mutable=["batch_stats"]))
    decode = jax.jit(lambda v, z: dec.apply(v, z, mutable=["batch_stats"]))
    (mu, logvar), _ = encode(
        {"params": v["params"]["encoder"], "batch_stats": v["batch_stats"]["encoder"]}, x
    )
    assert mu.shape == logvar.shape == (4, 8)
    y, _ = decode(
        {"params": v["params"]["decoder"], "batch_stats": v["batch_stats"]["decoder"]}, 30 * mu
    )
    assert y.shape == x.shape and float(jnp.max(jnp.abs(y))) <= 1.0


# Number of BatchNorm layers with bn=True (models.py of the original code).
BN_COUNT = {"conv_mnist": (2, 1), "conv_32": (2, 1), "conv_64": (2, 2)}


@pytest.mark.parametrize("arch", sorted(BN_COUNT))
def test_batchnorm_only_where_the_reference_puts_it(arch):
    _, _, v = _variables(arch, bn=True)
    for net, want in zip(("encoder", "decoder"), BN_COUNT[arch], strict=True):
        assert len(v["batch_stats"][net]) == want, net
        # no bias on a layer followed by BatchNorm; BN has scale and offset
        for block, params in v["params"][net].items():
            if "BatchNorm_0" in params:
                assert "bias" not in params["layer"], block
                assert set(params["BatchNorm_0"]) == {"scale", "bias"}
    _, _, plain = _variables(arch, bn=False)
    assert plain["batch_stats"] == {"encoder": {}, "decoder": {}}


def test_conv_mnist_layout_and_initialisation():
    _, _, v = _variables("conv_mnist", bn=False, z_dim=12)
    p = v["params"]
    shapes = [p["encoder"][f"_Block_{i}"]["layer"]["kernel"].shape for i in range(3)]
    assert shapes == [(5, 5, 1, 64), (5, 5, 64, 128), (7 * 7 * 128, 1024)]
    assert p["decoder"]["_Block_1"]["layer"]["kernel"].shape == (1024, 7 * 7 * 128)
    assert p["decoder"]["out"]["kernel"].shape == (5, 5, 64, 1)
    # Xavier-uniform: |w| <= sqrt(6 / (fan_in + fan_out)), and it fills that range
    k = np.asarray(p["encoder"]["_Block_1"]["layer"]["kernel"])
    limit = math.sqrt(6 / (25 * 64 + 25 * 128))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
    assert all(
        float(jnp.abs(b).max()) == 0
        for path, b in zip(_paths(p), jax.tree.leaves(p), strict=True)
        if path.endswith("bias") and "logvar" not in path
    )
    np.testing.assert_allclose(p["encoder"]["_Heads_0"]["logvar"]["bias"], 2 * math.log(0.1))


def test_deterministic_encoder_has_no_logvar_head():
    enc, _, v = _variables("conv_mnist", bn=False, variational=False)
    assert "logvar" not in v["params"]["encoder"]["_Heads_0"]
    assert enc.apply({"params": v["params"]["encoder"]}, jnp.zeros((1, 28, 28, 1)))[1] is None


def _init_shapes(enc, dec, arch):
    """The shapes `init_variables` gives, traced without computing any value."""

    def init(key):
        return models.init_variables(enc, dec, key, models.output_shape(arch), 8)

    return jax.tree.map(jnp.shape, jax.eval_shape(init, jax.random.PRNGKey(0)))


def test_fast_and_plain_layers_give_the_same_network():
    for arch in ("conv_mnist", "conv_64"):
        fast = models.build_models(arch, 8, bn=True, variational=True, fast_layers=True)
        plain = models.build_models(arch, 8, bn=True, variational=True, fast_layers=False)
        v = models.init_variables(*plain, jax.random.PRNGKey(0), models.output_shape(arch), 8)
        assert jax.tree.map(jnp.shape, v) == _init_shapes(*fast, arch)
        x = jax.random.uniform(jax.random.PRNGKey(1), (3, *models.output_shape(arch)))
        outs = []
        for enc, dec in (fast, plain):
            vars_e = {"params": v["params"]["encoder"], "batch_stats": v["batch_stats"]["encoder"]}
            vars_d = {"params": v["params"]["decoder"], "batch_stats": v["batch_stats"]["decoder"]}
            (mu, _), _ = enc.apply(vars_e, x, mutable=["batch_stats"])
            y, _ = dec.apply(vars_d, mu, mutable=["batch_stats"])
            outs.append((mu, y))
        np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-5)


def test_unpool_inserts_zeros():
    x = jnp.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    y = models.unpool_zeros_2x2(x)[0, ..., 0]
    np.testing.assert_array_equal(y, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
