"""Importing pga_jax, loading a config and building and running the networks change no global
setting: neither jax's config nor glibc's malloc (only `pga_jax.cpu.setup()` does, explicitly)."""

import os
import platform
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# A fresh process that records every mallopt call and jax's config around the work.
PROBE = """
import ctypes, sys
mallopts = []
real_cdll = ctypes.CDLL
class Spy:
    def __init__(self, *a, **k):
        self._lib = real_cdll(*a, **k)
    def __getattr__(self, name):
        attr = getattr(self._lib, name)
        if name != "mallopt":
            return attr
        def mallopt(*args):
            mallopts.append(args)
            return attr(*args)
        return mallopt
ctypes.CDLL = Spy
import jax, jax.numpy as jnp
before = dict(jax.config.values)
import pga_jax
from pga_jax import models, training
config = pga_jax.get_config("mnist_lpga:smoke")
state, model = training.create_train_state(config, models.output_shape(config.model.arch))
x = training.make_reconstruct(model)(state, jnp.zeros((2, 28, 28, 1)))
x.block_until_ready()
changed = sorted(k for k, v in jax.config.values.items() if before.get(k) != v)
if sys.argv[1] == "setup":
    from pga_jax import cpu
    from pga_jax.cpu import memory
    memory.reuse.cache_clear()
    # jax has started above: setup() must now leave everything as it is, too
    print("started", cpu.setup(), len(mallopts))
else:
    print(changed, len(mallopts))
"""

FRESH_SETUP = """
import ctypes, jax
from pga_jax import cpu
before = jax.config.values["jax_cpu_enable_async_dispatch"]
print(cpu.setup()["reuse_memory"], before, jax.config.values["jax_cpu_enable_async_dispatch"])
"""


def _run(code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGA_JAX_CPU")}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_import_config_and_networks_change_no_global_setting():
    assert _run(PROBE, "plain") == "[] 0"


def test_setup_after_jax_started_changes_nothing():
    assert _run(PROBE, "setup") == "started {'reuse_memory': False} 0"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_setup_makes_the_settings_before_jax_starts():
    # the control: the probe above would see these if importing made them
    assert _run(FRESH_SETUP) == "True True False"
