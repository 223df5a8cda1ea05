"""Test set-up: CPU only, float32, quiet TensorFlow, and one XLA compilation cache per run.

Many tests compile the same computation (a smoke config's train step, the networks' inits) in
several processes: the two xdist workers and the CLI subprocesses. JAX's persistent compilation
cache, in a fresh folder for each pytest run that all of them share (the environment is
inherited), compiles each one once; a hit returns the executable XLA compiled before, so no
result changes. Set JAX_COMPILATION_CACHE_DIR yourself to keep one between runs.
"""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:  # the controller (imported first) makes it; workers and subprocesses inherit it
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="pga_jax_test_xla_")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def pytest_unconfigure(config):
    if _OWN_CACHE and not hasattr(config, "workerinput"):  # the run that made it removes it
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
