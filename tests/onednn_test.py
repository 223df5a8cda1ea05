"""onednn: the three oneDNN maps equal lax's strided convolution and its two transposes, the
layers built on them equal flax's, and the switch is read as documented."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import layers
from pga_jax.cpu import onednn

_DIMS = ("NHWC", "HWIO", "NHWC")
# (batch, spatial size, C_u, C_z): conv_mnist's S2 layer, the other >4-channel layer shapes, and
# batches that split unevenly or not at all over the threads.
CASES = [(3, 14, 64, 128), (5, 16, 8, 4), (1, 8, 5, 3), (2, 4, 6, 2), (4, 2, 3, 3)]


def _built() -> bool:
    try:
        onednn.build()
    except onednn.OneDNNUnavailable as e:
        pytest.skip(str(e))
    return True


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(onednn.SWITCH, raising=False)
    onednn.enabled.cache_clear()
    yield
    onednn.enabled.cache_clear()


def _lax_down(u, w):
    return jax.lax.conv_general_dilated(u, w, (2, 2), "SAME", dimension_numbers=_DIMS)


def _operands(b, n, c_u, c_z):
    ku, kz, kw = jax.random.split(jax.random.PRNGKey(n * c_u + b), 3)
    u = jax.random.normal(ku, (b, n, n, c_u), jnp.float32)
    z = jax.random.normal(kz, (b, n // 2, n // 2, c_z), jnp.float32)
    w = jax.random.normal(kw, (5, 5, c_u, c_z), jnp.float32)
    return u, z, w


def _close(a, b):
    scale = float(jnp.max(jnp.abs(b)))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize("b,n,c_u,c_z", CASES)
def test_maps_equal_lax_strided_conv_and_its_transposes(b, n, c_u, c_z):
    _built()
    u, z, w = _operands(b, n, c_u, c_z)
    _close(jax.jit(onednn.down)(u, w), _lax_down(u, w))
    up_ref = jax.linear_transpose(lambda v: _lax_down(v, w), u)(z)[0]
    _close(jax.jit(onednn.up)(z, w), up_ref)
    wgrad_ref = jax.linear_transpose(lambda k: _lax_down(u, k), w)(z)[0]
    _close(jax.jit(onednn.wgrad)(u, z), wgrad_ref)


def test_wgrad_is_deterministic_and_vmap_runs_each_member():
    _built()
    u, z, w = _operands(6, 14, 64, 128)
    first = np.asarray(jax.jit(onednn.wgrad)(u, z))
    for _ in range(5):  # the chunks' partial kernels are added in chunk order, whoever finishes
        np.testing.assert_array_equal(np.asarray(jax.jit(onednn.wgrad)(u, z)), first)
    ws = jnp.stack([w, 2 * w, -w])
    np.testing.assert_array_equal(
        np.asarray(jax.vmap(onednn.down, (None, 0))(u, ws)),
        np.stack([np.asarray(onednn.down(u, k)) for k in ws]),
    )


def _equal_through_onednn(fast, plain, x, target):
    """fast (through the custom call `target`) equals flax's plain: parameters at init, outputs
    and the gradients w.r.t. the parameters and the input."""
    params = plain.init(jax.random.PRNGKey(1), x)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, fast.init(jax.random.PRNGKey(1), x), params))
    cot = jax.random.normal(jax.random.PRNGKey(2), plain.apply(params, x).shape)

    def grads(module):
        return jax.grad(lambda p, v: jnp.sum(module.apply(p, v) * cot), argnums=(0, 1))(params, x)

    hlo = jax.jit(lambda p, v: grads(fast)).lower(params, x).as_text()
    assert target in hlo  # the layer really runs the custom call
    _close(fast.apply(params, x), plain.apply(params, x))
    for a, b in zip(jax.tree.leaves(grads(fast)), jax.tree.leaves(grads(plain)), strict=True):
        _close(a, b)


@pytest.mark.parametrize(
    "fast_cls,plain_cls,n,c_in,c_out",
    [
        (layers.FastConv, nn.Conv, 14, 64, 128),  # conv_mnist's S2: all three maps
        (layers.FastConvTranspose, nn.ConvTranspose, 7, 128, 64),
        (layers.FastConv, nn.Conv, 16, 3, 8),  # an RGB image side: down and wgrad
        (layers.FastConvTranspose, nn.ConvTranspose, 14, 8, 1),  # a grey one
    ],
)
def test_layers_through_onednn_equal_flax(monkeypatch, fast_cls, plain_cls, n, c_in, c_out):
    _built()
    monkeypatch.setenv(onednn.SWITCH, "1")
    x = jax.random.normal(jax.random.PRNGKey(0), (3, n, n, c_in))
    plain = plain_cls(c_out, (5, 5), strides=(2, 2), padding="SAME")
    _equal_through_onednn(fast_cls(c_out), plain, x, "PgaConv")


def test_switch(monkeypatch):
    monkeypatch.setattr(onednn, "_cpu_measured", lambda: True)
    assert not onednn.enabled()  # opt-in: off by default, even where measured faster
    onednn.enabled.cache_clear()
    monkeypatch.setenv(onednn.SWITCH, "0")
    assert not onednn.enabled()
    onednn.enabled.cache_clear()
    monkeypatch.setenv(onednn.SWITCH, "auto")
    monkeypatch.setattr(onednn, "_cpu_measured", lambda: False)
    assert not onednn.enabled()  # auto on an unmeasured CPU: XLA's convolutions
    onednn.enabled.cache_clear()
    monkeypatch.setattr(onednn, "_cpu_measured", lambda: True)

    def unbuildable():
        raise onednn.OneDNNUnavailable("no dnnl.hpp")

    monkeypatch.setattr(onednn, "_load", unbuildable)
    assert not onednn.enabled()  # auto, measured but not buildable: a fallback, logged
    onednn.enabled.cache_clear()
    monkeypatch.setenv(onednn.SWITCH, "1")
    with pytest.raises(onednn.OneDNNUnavailable, match="PGA_JAX_CPU_ONEDNN=1: no dnnl.hpp"):
        onednn.enabled()  # asked for: an error


def test_a_missing_header_or_compiler_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(onednn, "_header", lambda: None)
    with pytest.raises(onednn.OneDNNUnavailable, match="dnnl.hpp: apt-get install libdnnl-dev"):
        onednn.build(tmp_path)
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(onednn.OneDNNUnavailable, match="C\\+\\+ compiler"):
        onednn.build(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_the_measured_cpu_is_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"

    def measured(vendor: str, family: int, flags: str) -> bool:
        cpuinfo.write_text(
            f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\n"
            f"model\t\t: 17\nflags\t\t: {flags}\n"
        )
        return onednn._cpu_measured(str(cpuinfo))

    assert measured("GenuineIntel", 6, "fpu avx2 avx512f amx_tile")
    assert measured("AuthenticAMD", 25, "fpu avx2 avx512f avx512_bf16")  # Zen 4
    assert not measured("AuthenticAMD", 25, "fpu avx2")  # Zen 3: no AVX-512, not measured
    assert not measured("AuthenticAMD", 26, "fpu avx2 avx512f")  # Zen 5: not measured
    assert not measured("GenuineIntel", 6, "fpu avx2 avx512fx")
    assert not onednn._cpu_measured(str(tmp_path / "missing"))


def test_only_the_maps_measured_faster_apply(monkeypatch):
    _built()
    monkeypatch.setenv(onednn.SWITCH, "1")
    f32, f64 = jnp.zeros((), jnp.float32), np.zeros((), np.float64)
    for op in ("down", "up", "wgrad"):
        assert onednn.applies(op, f32, 14, 64) and onednn.applies(op, f32, 32, 64)
        assert not onednn.applies(op, f32, 8, 64)  # too small
        assert not onednn.applies(op, f32, 16, 128)  # too wide
        assert not onednn.applies(op, f64, 14, 64)  # float32 only
    for size, channels in ((28, 1), (32, 3), (64, 3)):  # the grey / RGB image layers
        assert onednn.applies("down", f32, size, channels)
        assert onednn.applies("wgrad", f32, size, channels)
        assert not onednn.applies("up", f32, size, channels)  # col2im is faster there
    u = jnp.zeros((2, 8, 8, 256))
    hlo = jax.jit(layers.down).lower(u, jnp.zeros((5, 5, 256, 512))).as_text()
    assert "PgaConv" not in hlo and "convolution" in hlo


@pytest.mark.parametrize("m,k,n", [(1, 3, 2), (7, 5, 9), (64, 33, 17)])
@pytest.mark.parametrize(
    "trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)]
)
def test_matmul_equals_numpy_in_float64(m, k, n, trans_a, trans_b):
    _built()
    ka, kb = jax.random.split(jax.random.PRNGKey(m * k + n))
    a = jax.random.normal(ka, (k, m) if trans_a else (m, k), jnp.float32)
    b = jax.random.normal(kb, (n, k) if trans_b else (k, n), jnp.float32)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    want = (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)
    got = jax.jit(onednn.matmul, static_argnums=(2, 3))(a, b, trans_a, trans_b)
    assert got.shape == (m, n)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_dense_layer_through_onednn_equals_flax(monkeypatch):
    _built()
    monkeypatch.setenv(onednn.SWITCH, "1")
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 37))
    _equal_through_onednn(layers.FastDense(11), nn.Dense(11), x, "PgaMatmul")
