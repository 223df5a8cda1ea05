"""Run one of pga_jax's command-line modules in a subprocess, as a user would."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_module(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m module *args` from the repository root (so it works uninstalled), on CPU."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
