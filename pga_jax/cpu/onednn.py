"""The CPU's 5x5 stride-2 convolution maps and dense kernel gradients through oneDNN (XLA FFI
custom calls), where faster.

TensorFlow runs the original code's convolutions and matmuls in oneDNN, whose kernels are
generated at run time for the host (AVX-512 here); XLA:CPU runs them in Eigen or YNNPACK. For the
conv_mnist step's 14x14x64 <-> 7x7x128 maps, per op, ms, two independent calls at once, batch
256, Intel Xeon with AVX-512 and AMX (lscpu family 6 model 167), docs/benchmarks.md:

                        XLA (Eigen)   oneDNN 2.6 here   TensorFlow 2.21 (oneDNN 3)
  down (strided conv)      19.2           17.1              17.5
  up (its transpose)       24.5           21.3              18.0
  wgrad (kernel grad.)     28.9           22.6              21.4

`onednn_conv.cc` holds the three maps and a matmul (oneDNN's sgemm) as FFI handlers (see its
header); this module compiles it once per source, jaxlib and oneDNN install into a cache
directory (~3 s, `c++` and the oneDNN 2.x or 3.x headers: Debian's `libdnnl-dev`; $DNNLROOT for
another install, linked with its lib/ as the run path), loads it and registers the targets.
layers.down / up / wgrad call `down` / `up` / `wgrad` here when `applies`: enabled, float32, and
a map measured faster in oneDNN:

- the grey / RGB image layers (at most `FEW_CHANNELS` image channels): down and wgrad, not up
  (layers.up_patches, col2im, is faster). Batch 64, ms, XLA's form (im2col) / oneDNN:

                            down          up            wgrad
  28x28x1  -> 14x14x64    0.53 / 0.47   -             0.76 / 0.31     conv_mnist
  32x32x3  -> 16x16x64    1.27 / 1.12   2.70 / 4.05   2.09 / 0.69     conv_32
  64x64x3  -> 32x32x64   14.8 / 3.8    14.9 / 15.3   20.8 / 3.3       conv_64

  (batch 256: 28x28x1 down 1.87 / 2.33, wgrad 3.93 / 0.84; 32x32x3 down 14.0 / 3.9, wgrad
  21.5 / 2.7);
- the image sides of at least 14x14 with at most 64 channels (`MEASURED_FASTER`): all three.
  Smaller, wider maps were measured slower in oneDNN (batch 64, ms, XLA / oneDNN):

                            down          up            wgrad
  14x14x64  -> 7x7x128     4.9 / 4.1    6.6 / 5.0    6.0 / 6.0     conv_mnist
  16x16x64  -> 8x8x128     6.6 / 6.0    8.8 / 7.0    8.4 / 6.8     conv_32
  32x32x64  -> 16x16x128  24.7 / 21.8  33.3 / 32.0  37.0 / 24.7    conv_64
  16x16x128 -> 8x8x256    24.0 / 21.8  31.4 / 28.4  27.5 / 29.9    conv_64 (XLA's)
  8x8x128   -> 4x4x256     6.1 / 8.5    8.4 / 7.7    6.8 / 10.4    conv_32 (XLA's)
  8x8x256   -> 4x4x512    23.1 / 37.3  39.8 / 33.5  25.0 / 46.9    conv_64 (XLA's)

layers.dense_wgrad (a dense layer's kernel gradient x^T y_bar, contracting the batch) calls
`matmul` when `applies_dense`. XLA runs that product in Eigen, 6272 x 1024 at batch 256 in
14-19 ms (two at once; it varied between processes) against sgemm's 12.8-13.6 and TF's 12.9;
8.9 against 6.4 at batch 64; 1024 x 6272: 19.2 / 13.7 and 6.5 / 5.9. The forward and input
products stay in YNNPACK (4.5 against sgemm's 5.4 ms at batch 64).

`enabled()` follows PGA_JAX_CPU_ONEDNN: unset or 0, never (the default); 1, wherever it builds
(an error naming the fix where it does not); auto, only on the kinds of CPU measured faster
(`MEASURED`: Intel CPUs with AVX-512, and AMD's Zen 4, whose conv_mnist steps ran 1.01-1.30x
faster with them than with XLA's forms; docs/benchmarks.md), falling back to XLA's
convolutions where it does not build (one warning says so).

Opt-in, because a program that calls them cannot be serialized with `jax.export` (custom
calls are not portable); the default keeps that. Their precision is that of XLA's forms: the
LPGA conv_32 + BatchNorm gradient is 1.3e-4 from a float64 computation with them, 8.8e-5
without (tests/accuracy_test.py, docs/cpu_performance.md).
Every other transformation composes: the layers differentiate these maps by their own rules
(layers.py), never through the custom call, so jvp, a gradient of a gradient and vmap work with
them on. tests/onednn_test.py checks them against lax's convolution and its transposes, the
matmul against float64, and the layers against flax's nn.Conv / nn.ConvTranspose / nn.Dense.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
from absl import logging

from pga_jax.cpu.identity import cpu_identity

SWITCH = "PGA_JAX_CPU_ONEDNN"  # unset or 0: never; 1: wherever it builds; auto: where measured
SOURCE = Path(__file__).with_name("onednn_conv.cc")
TARGETS = {
    "down": "PgaConvDown",
    "up": "PgaConvUp",
    "wgrad": "PgaConvWgrad",
    "matmul": "PgaMatmul",
}
# (vendor_id, cpu family or None for any, flag) of the kinds of CPU measured faster: Intel's with
# AVX-512 (family 6 model 167), AMD's Zen 4 (family 25, the Zen family that has AVX-512; Zen 3,
# also family 25, has not). Zen 5 (family 26) is not measured.
MEASURED = (("GenuineIntel", None, "avx512f"), ("AuthenticAMD", 25, "avx512f"))
# (smallest image side, most image channels) of the maps measured faster there; see above.
MEASURED_FASTER = (14, 64)
FEW_CHANNELS = 4  # the grey / RGB image layers: down and wgrad measured faster at every size
FIX = "apt-get install libdnnl-dev (or set DNNLROOT), or set PGA_JAX_CPU_ONEDNN=0"


class OneDNNUnavailable(RuntimeError):
    """The oneDNN convolutions were asked for (PGA_JAX_CPU_ONEDNN=1) but cannot be built."""


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "pga_jax"


def _dnnl_dirs() -> tuple[list[str], list[str]]:
    """(include, lib) directories of $DNNLROOT, else none (the compiler's default paths)."""
    root = os.environ.get("DNNLROOT")
    return ([os.path.join(root, "include")], [os.path.join(root, "lib")]) if root else ([], [])


def _header() -> Path | None:
    dirs = _dnnl_dirs()[0] + ["/usr/include", "/usr/local/include"]
    return next((Path(d) / "dnnl.hpp" for d in dirs if (Path(d) / "dnnl.hpp").exists()), None)


def _dnnl_key(header: Path) -> list[bytes]:
    """What a build depends on in the oneDNN install: its directories and its headers' text.
    dnnl.hpp itself only includes oneapi/dnnl/dnnl.hpp, the same stub in 2.x and 3.x."""
    real = header.parent / "oneapi" / "dnnl"
    names = ("dnnl.hpp", "dnnl_version.h", "dnnl_config.h")
    headers = [header, *(real / n for n in names)]
    return [repr((str(header), _dnnl_dirs())).encode()] + [
        h.read_bytes() for h in headers if h.exists()
    ]


def build(out_dir: Path | None = None) -> Path:
    """Compiles onednn_conv.cc (once per source, jaxlib and oneDNN install) and returns the .so.

    Raises OneDNNUnavailable with the fix when there is no compiler or no oneDNN header.
    """
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    header = _header()
    if compiler is None or header is None:
        missing = "a C++ compiler" if compiler is None else "oneDNN's dnnl.hpp"
        raise OneDNNUnavailable(f"oneDNN convolutions need {missing}: {FIX}")
    include = jax.ffi.include_dir()
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), jax.__version__.encode(), *_dnnl_key(header)):
        key.update(part)
    out_dir = out_dir or _cache_dir()
    lib = out_dir / f"onednn_conv-{key.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    inc_dirs, lib_dirs = _dnnl_dirs()
    inc = [f"-I{d}" for d in inc_dirs]
    link = [flag for d in lib_dirs for flag in (f"-L{d}", f"-Wl,-rpath,{d}")]
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_lib = Path(tmp) / lib.name
        cmd = [compiler, "-O2", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-w"]
        cmd += [f"-I{include}", *inc, str(SOURCE), "-o", str(tmp_lib), *link, "-ldnnl"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            lines = done.stderr.strip().splitlines()  # the first error, else the last line
            why = next((ln for ln in lines if "error" in ln), lines[-1] if lines else "")
            raise OneDNNUnavailable(f"building {SOURCE.name} failed ({why.strip()}): {FIX}")
        os.replace(tmp_lib, lib)  # atomic: concurrent builders each install a whole file
    return lib


@functools.cache
def _load() -> None:
    lib = ctypes.cdll.LoadLibrary(str(build()))
    for symbol in TARGETS.values():
        jax.ffi.register_ffi_target(symbol, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")


def _cpu_measured(cpuinfo: str = "/proc/cpuinfo") -> bool:
    cpu = cpu_identity(cpuinfo)
    return any(
        cpu.vendor == vendor and family in (None, cpu.family) and flag in cpu.flags
        for vendor, family, flag in MEASURED
    )


@functools.cache
def enabled() -> bool:
    """Whether layers' convolution maps and dense kernel gradients may run in oneDNN (see the
    module docstring)."""
    switch = os.environ.get(SWITCH, "0")
    if switch not in ("1", "auto") or jax.default_backend() != "cpu":
        return False
    if switch == "auto" and not _cpu_measured():
        return False
    try:
        _load()
    except (OneDNNUnavailable, OSError) as e:
        if switch == "1":
            raise OneDNNUnavailable(f"{SWITCH}=1: {e}") from e
        logging.warning("%s=auto: XLA's convolutions, not oneDNN's: %s", SWITCH, e)
        return False
    return True


def _measured_faster(op: str, image_size: int, image_channels: int) -> bool:
    """Whether oneDNN's map `op` was measured faster than XLA's form for that image side (the
    tables above): the grey / RGB layers' down and wgrad, every map of the 14x14 to 32x32 sides
    with at most 64 channels."""
    if image_channels <= FEW_CHANNELS:
        return op != "up"  # col2im (layers.up_patches) is faster there
    min_size, max_channels = MEASURED_FASTER
    return image_size >= min_size and image_channels <= max_channels


def applies(op: str, x: jax.Array, image_size: int, image_channels: int) -> bool:
    """Whether the map `op` (down, up, wgrad) with operand x and an image side of that size and
    channels runs in oneDNN: float32, measured faster there, and enabled."""
    faster = _measured_faster(op, image_size, image_channels)
    return x.dtype == jnp.float32 and faster and enabled()


def applies_dense(x: jax.Array) -> bool:
    """Whether a dense layer's kernel gradient with input x runs in oneDNN's sgemm."""
    return x.dtype == jnp.float32 and x.ndim == 2 and enabled()


def _call(op: str, shape: tuple, *args: jax.Array, **attributes) -> jax.Array:
    _load()
    result = jax.ShapeDtypeStruct(shape, jnp.float32)
    # vmap (populations) runs the call once per member.
    return jax.ffi.ffi_call(TARGETS[op], result, vmap_method="sequential")(*args, **attributes)


def down(u: jax.Array, w: jax.Array) -> jax.Array:
    """layers.down: [B, H, W, C_u] x (5, 5, C_u, C_z) -> [B, ceil(H/2), ceil(W/2), C_z]."""
    b, h, w_, _ = u.shape
    return _call("down", (b, -(-h // 2), -(-w_ // 2), w.shape[3]), u, w)


def up(z: jax.Array, w: jax.Array) -> jax.Array:
    """layers.up: [B, n, m, C_z] x (5, 5, C_u, C_z) -> [B, 2n, 2m, C_u]."""
    b, n, m, _ = z.shape
    return _call("up", (b, 2 * n, 2 * m, w.shape[2]), z, w)


def wgrad(u: jax.Array, z_bar: jax.Array) -> jax.Array:
    """layers.wgrad: the (5, 5, C_u, C_z) kernel gradient of down at u, cotangent z_bar."""
    return _call("wgrad", (5, 5, u.shape[3], z_bar.shape[3]), u, z_bar)


def matmul(a: jax.Array, b: jax.Array, trans_a: bool = False, trans_b: bool = False) -> jax.Array:
    """op(a) @ op(b), op the transpose where asked: float32 matrices."""
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    return _call("matmul", (m, n), a, b, trans_a=trans_a, trans_b=trans_b)
