"""cpu.xla_options.compiler_options: applied only where measured faster, and it takes effect."""

import os
import shutil
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from pga_jax import layers
from pga_jax.cpu import identity, onednn, policy, xla_options


@pytest.fixture(autouse=True)
def _fresh_cache():
    xla_options.compiler_options.cache_clear()
    yield
    xla_options.compiler_options.cache_clear()


@pytest.fixture(autouse=True)
def _default_environment(monkeypatch):
    monkeypatch.delenv(xla_options.SWITCH, raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)


def test_switched_off_by_zero_and_a_user_flag_wins(monkeypatch):
    monkeypatch.setattr(xla_options, "_has_measured_flag", lambda: True)
    assert xla_options.compiler_options() == xla_options.EIGEN_CONVOLUTIONS  # on by default there
    xla_options.compiler_options.cache_clear()
    monkeypatch.setenv(xla_options.SWITCH, "0")
    assert xla_options.compiler_options() is None
    xla_options.compiler_options.cache_clear()
    monkeypatch.delenv(xla_options.SWITCH)
    monkeypatch.setenv("XLA_FLAGS", f"--{xla_options.FIELD}=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT")
    assert xla_options.compiler_options() is None
    assert not xla_options.eigen_convolutions()


def test_not_applied_on_an_unmeasured_cpu_unless_asked(monkeypatch):
    monkeypatch.setattr(xla_options, "_has_measured_flag", lambda: False)
    assert xla_options.compiler_options() is None
    xla_options.compiler_options.cache_clear()
    monkeypatch.setenv(xla_options.SWITCH, "1")
    assert xla_options.compiler_options() == xla_options.EIGEN_CONVOLUTIONS


def test_the_measured_flag_is_read_as_a_whole_word(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert xla_options._has_measured_flag(str(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2x fma\n")  # not avx2
    assert not xla_options._has_measured_flag(str(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd sve\n")  # an ARM CPU
    assert not xla_options._has_measured_flag(str(cpuinfo))
    assert not xla_options._has_measured_flag(str(tmp_path / "missing"))


def test_the_cpu_identity_agrees_with_lscpu():
    lscpu = shutil.which("lscpu")
    if lscpu is None or not Path("/proc/cpuinfo").exists():
        pytest.skip("needs lscpu and /proc/cpuinfo")
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in _lscpu(lscpu).splitlines())
    )
    cpu = identity.cpu_identity()
    assert cpu.vendor == fields["Vendor ID"]
    assert cpu.family == int(fields["CPU family"])
    assert cpu.flags == frozenset(fields["Flags"].split())


def _lscpu(lscpu: str) -> str:
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run([lscpu], capture_output=True, text=True, check=True, env=env).stdout


def test_a_rejected_option_keeps_xla_defaults(monkeypatch):
    monkeypatch.setattr(xla_options, "_has_measured_flag", lambda: True)
    monkeypatch.setattr(xla_options, "EIGEN_CONVOLUTIONS", {xla_options.FIELD: "NOT_A_FUSION_TYPE"})
    assert xla_options.compiler_options() is None


def test_where_applied_convolutions_leave_ynnpack_and_dots_stay(monkeypatch):
    monkeypatch.setattr(xla_options, "_has_measured_flag", lambda: True)
    monkeypatch.setattr(onednn, "enabled", lambda: False)  # XLA's convolution, not a custom call
    assert xla_options.compiler_options() == xla_options.EIGEN_CONVOLUTIONS

    def net(u, w, m):
        return layers.down(u, w).reshape(u.shape[0], -1) @ m

    args = (jnp.ones((2, 14, 14, 64)), jnp.ones((5, 5, 64, 128)), jnp.ones((7 * 7 * 128, 8)))
    default = jax.jit(net).lower(*args).compile().as_text()
    ours = policy.jit(net).lower(*args).compile().as_text()
    if default.count("__ynn_fusion") != 2:  # jaxlib 0.10's default: the conv and the dot
        pytest.skip("this jaxlib does not hand convolutions and dots to YNNPACK by default")
    assert ours.count("__ynn_fusion") == 1 and "convolution(" in ours
    assert jnp.allclose(jax.jit(net)(*args), policy.jit(net)(*args), rtol=1e-5)
