"""cpu.memory: a CPU call's temporary buffer stops being faulted in afresh every call, the
settings are made only where they apply, and never once jax has started."""

import os
import platform
import subprocess
import sys

import jax
import pytest

from pga_jax.cpu import memory as cpu_memory

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

# A fresh process: pga_jax.cpu.setup() (as the CLIs and pga_jax.train call) makes the settings; then
# the median page faults per call, after some calls, of a program whose temporaries take
# 128 MiB (the median: the heap may still grow once for a call that overlaps another's free).
PROBE = """
import resource, statistics
import jax, jax.numpy as jnp
from pga_jax import cpu
from pga_jax.cpu import memory as cpu_memory
cpu.setup()
f = jax.jit(lambda x: jnp.sum(jnp.sin(x)[::-1] * jnp.cos(x)))  # two 64 MiB temporaries
x = jnp.ones(16 * 2**20)
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(cpu_memory.reuse(), int(statistics.median(faults[4:])))
"""


def _huge_pages_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


def _faults_per_call(switch: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != cpu_memory.SWITCH}
    env.update(JAX_PLATFORMS="cpu", **({cpu_memory.SWITCH: switch} if switch else {}))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    applied, faults = out.stdout.split()
    return applied, int(faults)


@glibc
def test_calls_reuse_the_memory_of_the_calls_before():
    pages = 128 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    applied, faults = _faults_per_call(None)
    assert applied == "True" and faults < pages // 10
    applied, faults = _faults_per_call("0")  # glibc's defaults: fresh pages every call
    assert applied == "False"
    if not _huge_pages_always():  # with 2 MiB pages there are few faults, but as many zeroings
        assert faults > pages // 2


def test_nothing_changes_once_jax_has_started(monkeypatch):
    jax.devices()  # started
    monkeypatch.delenv(cpu_memory.SWITCH, raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    was = jax.config.read("jax_cpu_enable_async_dispatch")
    cpu_memory.reuse.cache_clear()
    try:
        assert cpu_memory.reuse() is False
        assert jax.config.read("jax_cpu_enable_async_dispatch") == was
    finally:
        cpu_memory.reuse.cache_clear()


def test_the_cpu_is_recognised_as_the_coming_default(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert cpu_memory._cpu_will_be_default()
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert not cpu_memory._cpu_will_be_default()
    monkeypatch.delenv("JAX_PLATFORMS")
    monkeypatch.setattr(cpu_memory.importlib.metadata, "entry_points", lambda group: ["cuda"])
    assert not cpu_memory._cpu_will_be_default()  # an accelerator plugin is installed
    monkeypatch.setattr(cpu_memory.importlib.metadata, "entry_points", lambda group: [])
    monkeypatch.setattr(cpu_memory.importlib.util, "find_spec", lambda name: None)
    assert cpu_memory._cpu_will_be_default()
