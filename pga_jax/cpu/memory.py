"""The CPU backend's per-call buffers in reused memory, not in fresh pages every call.

XLA:CPU allocates each call's temporary buffer (the LPGA conv_mnist train step's activations:
278 MB at batch 256, 130 MB at 64) with malloc, and jax's CPU client runs the call on its
dispatch thread. glibc serves so large an allocation there with a fresh mmap (a thread's own
arena cannot hold it), and returns it at free: every step the kernel faults in and zero-fills
each page again. Measured on a 2-vCPU Intel Xeon (family 6 model 167): 68,000 page faults and
0.11 s of kernel time per LPGA step at batch 256, where TensorFlow's allocator keeps its memory.
`reuse()` makes two process settings:

- `jax_cpu_enable_async_dispatch=False`: the CPU client runs a single-device call on the
  calling thread (whose allocations come from glibc's main heap), returning when it is done;
- glibc's mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, 2 GiB): large allocations come
  from the heap and freed memory stays there for the next call.

Steps/s, same session, one process each (benchmarks/train_step.py, docs/benchmarks.md), glibc's
defaults -> reuse: LPGA conv_mnist 3.92 -> 4.50 at batch 64, 1.27 -> 1.40 at 256; VPGA
3.91 -> 4.41, 1.33 -> 1.38; no page faults left in the step. The cost: the process keeps the
heap it has grown (up to 2 GiB free at its top) instead of returning it, and jax's CPU calls no
longer run ahead of Python (a step, which waits for its inputs anyway, gains nothing from that
on a CPU).

Both settings must be made before jax starts its CPU client (the dispatch thread's arena and the
client's options are fixed then). Nothing makes them on import: `pga_jax.cpu.setup()` calls
`reuse()`, and the command-line tools and `pga_jax.train` call that first. Applied only where
all of these hold:

- the C library is glibc (Linux) and PGA_JAX_CPU_REUSE_MEMORY is not 0;
- the CPU will be the default backend: JAX_PLATFORMS, if set, starts with `cpu`, or no
  accelerator plugin (a `jax_plugins` entry point or package, libtpu) is installed;
- jax's backends are not started yet (otherwise nothing changes; an info log says so).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import importlib.util
import os
import platform

import jax
from absl import logging
from jax._src import xla_bridge  # backends_are_initialized: no public equivalent in jax 0.10

SWITCH = "PGA_JAX_CPU_REUSE_MEMORY"  # unset: where it applies (above); 0: never
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: keep up to 2 GiB free at the heap's top


def _cpu_will_be_default() -> bool:
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    if importlib.metadata.entry_points(group="jax_plugins"):
        return False  # e.g. jax[cuda12]'s plugin
    return all(importlib.util.find_spec(name) is None for name in ("jax_plugins", "libtpu"))


@functools.cache
def reuse() -> bool:
    """Makes the two settings where they apply (see the module docstring); whether it did."""
    if os.environ.get(SWITCH) == "0" or platform.libc_ver()[0] != "glibc":
        return False
    if not _cpu_will_be_default():
        return False
    started = getattr(xla_bridge, "backends_are_initialized", lambda: True)
    if started():
        logging.info("jax started before pga_jax: the CPU calls' memory is not reused")
        return False
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True
