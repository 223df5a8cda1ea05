"""The one place that answers "which form is fastest here": the layers, the loop and the
population ask it, and only it looks at the backend and the CPU.

- `jit`: jax.jit with the XLA:CPU compile options measured faster (xla_options.py; none
  elsewhere, GPUs and TPUs included);
- `conv_form(op, ...)`: the form of the 5x5 stride-2 maps down / up / wgrad of layers.py
  ("onednn", "patches", "rows", "subpixel" or "lax"), `dense_wgrad_form`: a dense layer's
  kernel gradient ("onednn" or "lax"). Every form computes the same linear map (the layers'
  tests check each against flax and lax);
- `steps_per_dispatch` / `scan` / `member_axis`: the loop's defaults where the config says 0 /
  "auto".

Nothing here changes a global setting; `pga_jax.cpu.setup()` does that, explicitly.
"""

from __future__ import annotations

import jax

from pga_jax.cpu import onednn, xla_options

# down / wgrad through an im2col matrix product when the image side has this few channels
# (measured faster on every backend measured, see layers.py); up too, on the CPU (col2im).
PATCHES_MAX_CHANNELS = 4
# config.steps_per_dispatch = 0: one step per call on a CPU (XLA:CPU runs convolutions inside
# a loop body 10-20x slower, dispatch.py), else this many.
ACCELERATOR_STEPS_PER_DISPATCH = 50


def jit(fun, **kwargs):
    """jax.jit with the measured CPU compile options: every jitted function that runs the
    networks."""
    return jax.jit(fun, compiler_options=xla_options.compiler_options(), **kwargs)


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def conv_form(op: str, x: jax.Array, image_size: int, image_channels: int) -> str:
    """The form of map `op` (down, up, wgrad) with operand x, for an image side of that size
    and channels (see layers.py for each form and the measurements behind the choice)."""
    if op == "up" and image_channels <= PATCHES_MAX_CHANNELS and _on_cpu():
        return "patches"
    if onednn.applies(op, x, image_size, image_channels):
        return "onednn"
    if op == "up":
        return "rows" if xla_options.eigen_convolutions() else "subpixel"
    return "patches" if image_channels <= PATCHES_MAX_CHANNELS else "lax"


def dense_wgrad_form(x: jax.Array) -> str:
    """The form of a dense layer's kernel gradient x^T y_bar: oneDNN's sgemm or XLA's."""
    return "onednn" if onednn.applies_dense(x) else "lax"


def steps_per_dispatch(configured: int) -> int:
    """Steps per jitted call: `configured` if positive, else this backend's default."""
    if configured > 0:
        return configured
    return 1 if _on_cpu() else ACCELERATOR_STEPS_PER_DISPATCH


def scan(steps_per_call: int) -> bool:
    """Whether the loop's call runs its steps as a lax.scan: always for several steps, and for
    one step too except on a CPU (there the step is called directly, see dispatch.py)."""
    return steps_per_call > 1 or not _on_cpu()


def member_axis() -> str:
    """How a population's members run in one program by default: one after another on a CPU
    (XLA:CPU runs vmap's grouped convolutions 3-4x slower), vmapped elsewhere."""
    return "unrolled" if _on_cpu() else "vmap"
