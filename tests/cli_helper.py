"""Run one of pga_jax's command-line modules in a subprocess, as a user would."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_module(
    module: str, *args: str, timeout: float = 300, hide: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """`python -m module *args` from the repository root (so it works uninstalled), on CPU.

    `hide`: packages made unimportable in that process, as if they were not installed."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", module, *args]
    if hide:
        command = [
            sys.executable,
            "-c",
            f"import runpy, sys; sys.modules.update(dict.fromkeys({list(hide)!r})); "
            f"sys.argv = {[module, *args]!r}; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)",
        ]
    return subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
