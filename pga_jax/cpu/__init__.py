"""Everything that exists only to make XLA:CPU faster, behind one seam.

- identity.py: what the CPU is (vendor, family, flags);
- xla_options.py: XLA:CPU compile options measured faster;
- memory.py: the CPU calls' buffers in reused memory (process settings);
- onednn.py + onednn_conv.cc: oneDNN's convolution maps (opt-in: PGA_JAX_CPU_ONEDNN=1);
- policy.py: the one place the layers and the loop ask "which form, how many steps per call,
  which member axis here".

Importing pga_jax (or this package) changes no global setting. `setup()` makes the process
settings that help a CPU run; the command-line tools and `pga_jax.train` call it first.
"""

from __future__ import annotations


def setup() -> dict[str, bool]:
    """Makes the process settings measured faster on a CPU where they apply (memory.py: glibc's
    malloc and jax's synchronous CPU dispatch, only before jax's backends start); safe to call
    more than once. Returns what it did, e.g. {"reuse_memory": True}."""
    from pga_jax.cpu import memory  # noqa: PLC0415

    return {"reuse_memory": memory.reuse()}


def paths() -> dict[str, object]:
    """How this process computes the networks, for the run record: the backend and, on a CPU,
    XLA's compile options and whether oneDNN's maps are on."""
    import jax  # noqa: PLC0415

    from pga_jax.cpu import onednn, xla_options  # noqa: PLC0415

    backend = jax.default_backend()
    if backend != "cpu":
        return {"backend": backend}
    return {
        "backend": backend,
        "xla_compile_options": xla_options.compiler_options(),
        "onednn": onednn.enabled(),
    }
