"""onednn: the three oneDNN maps equal lax's strided convolution and its two transposes, the
layers built on them equal flax's, and the switch is read as documented."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import layers, onednn

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


@pytest.mark.parametrize(
    "fast_cls,plain_cls", [(layers.FastConv, nn.Conv), (layers.FastConvTranspose, nn.ConvTranspose)]
)
def test_layers_through_onednn_equal_flax(monkeypatch, fast_cls, plain_cls):
    _built()
    monkeypatch.setenv(onednn.SWITCH, "1")
    c_in, c_out = (64, 128) if fast_cls is layers.FastConv else (128, 64)
    n = 14 if fast_cls is layers.FastConv else 7
    x = jax.random.normal(jax.random.PRNGKey(0), (3, n, n, c_in))
    fast = fast_cls(c_out)
    plain = plain_cls(c_out, (5, 5), strides=(2, 2), padding="SAME")
    params = plain.init(jax.random.PRNGKey(1), x)
    hlo = jax.jit(fast.apply).lower(params, x).as_text()
    assert "PgaConv" in hlo  # the layer really runs the custom calls
    cot = jax.random.normal(jax.random.PRNGKey(2), plain.apply(params, x).shape)

    def grads(module):
        return jax.grad(lambda p, v: jnp.sum(module.apply(p, v) * cot), argnums=(0, 1))(params, x)

    _close(fast.apply(params, x), plain.apply(params, x))
    for a, b in zip(jax.tree.leaves(grads(fast)), jax.tree.leaves(grads(plain)), strict=True):
        _close(a, b)


def test_switch(monkeypatch):
    monkeypatch.setenv(onednn.SWITCH, "0")
    assert not onednn.enabled()
    onednn.enabled.cache_clear()
    monkeypatch.delenv(onednn.SWITCH)
    monkeypatch.setattr(onednn, "_cpu_measured", lambda: False)
    assert not onednn.enabled()  # an unmeasured CPU: XLA's convolutions
    onednn.enabled.cache_clear()
    monkeypatch.setattr(onednn, "_cpu_measured", lambda: True)

    def unbuildable():
        raise onednn.OneDNNUnavailable("no dnnl.hpp")

    monkeypatch.setattr(onednn, "_load", unbuildable)
    assert not onednn.enabled()  # measured but not buildable: a quiet fallback
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
    cpuinfo.write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f amx_tile\n")
    assert onednn._cpu_measured(str(cpuinfo))
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f\n")
    assert not onednn._cpu_measured(str(cpuinfo))  # AVX-512 Zen: not measured
    cpuinfo.write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512fx\n")
    assert not onednn._cpu_measured(str(cpuinfo))
    assert not onednn._cpu_measured(str(tmp_path / "missing"))


def test_only_the_shapes_measured_faster_apply(monkeypatch):
    _built()
    monkeypatch.setenv(onednn.SWITCH, "1")
    f32, f64 = jnp.zeros((), jnp.float32), np.zeros((), np.float64)
    assert onednn.applies(f32, 14, 64) and onednn.applies(f32, 32, 64)
    assert not onednn.applies(f32, 8, 64)  # too small
    assert not onednn.applies(f32, 16, 128)  # too wide
    assert not onednn.applies(f64, 14, 64)  # float32 only
    u = jnp.zeros((2, 8, 8, 256))
    hlo = jax.jit(layers.down).lower(u, jnp.zeros((5, 5, 256, 512))).as_text()
    assert "PgaConv" not in hlo and "convolution" in hlo
