"""XLA:CPU compile options for pga_jax's jitted network functions, set only where measured faster.

jaxlib 0.10 hands both convolutions and dots to YNNPACK by default (the DebugOptions field
`xla_cpu_experimental_ynn_fusion_type` = individual dot + individual convolution). On every x86
CPU measured, XLA's own Eigen convolutions are faster for the conv_mnist step's strided
convolution, its transpose and its kernel gradient, while YNNPACK's dots are as fast as any. Per
op, ms, two independent calls at once as the step runs them, batch 256, one process
(benchmarks/conv_ops.py; benchmarks/results/conv_ops_cpu_zen{3,5}.txt hold the same ops
against TensorFlow's):

                                            AVX-512 Zen 5        AVX2 Zen 3
                                            YNNPACK  Eigen       YNNPACK  Eigen
  5x5 stride-2 conv, 14x14x64 -> 7x7x128     19.9    14.3          62.5    45.2
  its kernel gradient                          -       -          102.1    70.4
  its transpose, sub-pixel form (36 taps)    28.4    20.6          90.3    67.5
  its transpose, row-phase form (30 taps)    32.6    16.5         115.1    65.0

and the LPGA / VPGA conv_mnist steps run 10-33% faster (docs/benchmarks.md). So on such
machines the jitted train step, generation, reconstruction and encoding are compiled with dots
only in YNNPACK (`EIGEN_CONVOLUTIONS`), and layers.up takes its row-phase form, which is the
faster one there (on the image side, at most 4 channels, every CPU uses its col2im form).
Applied only where all of these hold:

- the default backend is the CPU and the CPU has AVX2 (`avx2` in /proc/cpuinfo's flags: the
  x86 machines measured, AVX2 Zen 3 and AVX-512 Zen 4 / Zen 5; elsewhere, e.g. ARM CPUs or a
  system without /proc/cpuinfo, XLA's defaults stand, not measured);
- XLA_FLAGS does not name the option (a user's own flag wins);
- this jaxlib accepts the option (a tiny probe compile), so a later jaxlib that renames it
  keeps working with its defaults;
- PGA_JAX_CPU_EIGEN_CONVOLUTIONS is not 0 (0: XLA's defaults everywhere; 1: Eigen on any CPU,
  to measure a machine of another kind).

Both forms are exact: the options and the form change the order of float32 sums, not the
function (tests/layers_test.py checks each form of up against XLA's own transpose of the
strided convolution, and the layers, in whichever form, against flax's nn.Conv / ConvTranspose).
A run's numbers then differ from XLA's defaults by rounding, which the smoke runs amplify (see
tests/same_run.py: the equivalence tests compare the first steps closely and the end as the
same run, because a closer tolerance there holds only while two programs happen to round
alike, as YNNPACK's vmapped, sharded and scanned programs mostly do and Eigen's do not).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp

from pga_jax.cpu.identity import cpu_identity

FIELD = "xla_cpu_experimental_ynn_fusion_type"
# Dots stay in YNNPACK; convolutions go to XLA's Eigen runtime.
EIGEN_CONVOLUTIONS = {FIELD: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
SWITCH = "PGA_JAX_CPU_EIGEN_CONVOLUTIONS"  # unset: where measured; 0: nowhere; 1: any CPU
MEASURED_FLAG = "avx2"  # the CPU flag every machine measured faster has


def _has_measured_flag(cpuinfo: str = "/proc/cpuinfo") -> bool:
    return MEASURED_FLAG in cpu_identity(cpuinfo).flags


@functools.cache
def compiler_options() -> dict | None:
    """`EIGEN_CONVOLUTIONS` where it applies (see the module docstring), else None."""
    switch = os.environ.get(SWITCH)
    if switch == "0" or FIELD in os.environ.get("XLA_FLAGS", ""):
        return None
    if jax.default_backend() != "cpu" or (switch != "1" and not _has_measured_flag()):
        return None
    try:
        jax.jit(jnp.negative, compiler_options=EIGEN_CONVOLUTIONS).lower(jnp.zeros(())).compile()
    except Exception:  # noqa: BLE001 - an unknown field or value: keep XLA's defaults
        return None
    return dict(EIGEN_CONVOLUTIONS)


def eigen_convolutions() -> bool:
    """Whether network functions are compiled with convolutions in Eigen (layers.up's form)."""
    return compiler_options() is not None
