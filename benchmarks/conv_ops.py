"""The conv_mnist step's linear maps timed alone: pga_jax's forms against TensorFlow's ops.

Every conv_mnist layer is one of three linear maps or a dense matmul (pga_jax/layers.py):

  S1: 28x28x1 <-> 14x14x64 (the image-side layers: encoder conv 1, decoder's last ConvTranspose)
  S2: 14x14x64 <-> 7x7x128 (encoder conv 2, decoder ConvTranspose 1)
  D:  6272 <-> 1024 (encoder fc, decoder fc)

  down  = the 5x5 stride-2 SAME convolution   TF: Conv2D
  up    = its transpose w.r.t. the image      TF: Conv2DBackpropInput (slim's conv2d_transpose)
  wgrad = its transpose w.r.t. the kernel     TF: Conv2DBackpropFilter
  D: fwd x @ W, dx = g @ W^T, dw = x^T @ g    TF: MatMul (with transpose flags)

Each (framework, op, batch) is timed in its own subprocess (no shared thread pools): a function
that applies the op to two independent operand sets, as the training step runs independent
network calls side by side on the two cores, jitted as pga_jax jits its networks
(`cpu.policy.jit`: its CPU compile options where they apply) or as a tf.function (TF, grappler +
oneDNN, as the original's graph runs). It is called `--warmup` times, then `--repeats` blocks
of `--calls` calls are timed; the median block time per op (half a call) is reported, with
GFLOP/s (2 x multiply-adds of the map). XLA_FLAGS in the environment applies to the jax
measurements (and, naming the option, replaces pga_jax's own), so one run can compare XLA
settings with the same TF row:

  python -m benchmarks.conv_ops --json=ops.json
  XLA_FLAGS=--xla_cpu_use_onednn=true python -m benchmarks.conv_ops --frameworks=jax
  python -m benchmarks.conv_ops --ops=S2.up_subpixel,S2.up_rows,S1.up_patches   # forms of up

Timings are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# (name, image side H, image channels C_u, code channels C_z); the code side is H/2.
CONVS = (("S1", 28, 1, 64), ("S2", 14, 64, 128))
DENSE = (("D", 6272, 1024),)
OPS = tuple(f"{s[0]}.{m}" for s in CONVS for m in ("down", "up", "wgrad")) + tuple(
    f"{d[0]}.{m}" for d in DENSE for m in ("fwd", "dx", "dw")
)


def operands(op: str, batch: int, rng: np.random.Generator) -> tuple[list, float]:
    """The op's float32 operands (numpy) and its FLOPs (2 x multiply-adds)."""
    name, kind = op.split(".")

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    for n, h, cu, cz in CONVS:
        if n == name:
            u, z = normal(batch, h, h, cu), normal(batch, h // 2, h // 2, cz)
            w = normal(5, 5, cu, cz)
            flops = 2.0 * batch * (h // 2) ** 2 * 25 * cu * cz
            return {"down": [u, w], "wgrad": [u, z]}.get(kind, [z, w]), flops
    for n, i, o in DENSE:
        if n == name:
            x, g, w = normal(batch, i), normal(batch, o), normal(i, o)
            return {"fwd": [x, w], "dx": [g, w], "dw": [x, g]}[kind], 2.0 * batch * i * o
    raise ValueError(op)


def jax_fn(op: str):
    import jax.numpy as jnp  # noqa: PLC0415

    from pga_jax import layers  # noqa: PLC0415

    name, kind = op.split(".")
    if name.startswith("S"):
        forms = {f: getattr(layers, f) for f in ("up_subpixel", "up_rows", "up_patches")}
        return {"down": layers.down, "up": layers.up, "wgrad": layers.wgrad, **forms}[kind]
    return {
        "fwd": lambda x, w: x @ w,
        "dx": lambda g, w: g @ w.T,
        "dw": lambda x, g: jnp.einsum("bi,bo->io", x, g),
    }[kind]


def tf_fn(op: str, batch: int):
    import tensorflow as tf  # noqa: PLC0415

    name, kind = op.split(".")
    for n, h, cu, cz in CONVS:
        if n == name:
            if kind == "down":
                return lambda u, w: tf.nn.conv2d(u, w, 2, "SAME")
            if kind.startswith("up"):
                return lambda z, w: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=[batch, h, h, cu], filter=w, out_backprop=z,
                    strides=[1, 2, 2, 1], padding="SAME",
                )  # fmt: skip
            return lambda u, z: tf.raw_ops.Conv2DBackpropFilter(
                input=u, filter_sizes=[5, 5, cu, cz], out_backprop=z,
                strides=[1, 2, 2, 1], padding="SAME",
            )  # fmt: skip
    return {
        "fwd": lambda x, w: tf.matmul(x, w),
        "dx": lambda g, w: tf.matmul(g, w, transpose_b=True),
        "dw": lambda x, g: tf.matmul(x, g, transpose_a=True),
    }[kind]


def measure(framework: str, op: str, batch: int, args) -> dict:
    """One row, in this process."""
    rng = np.random.default_rng(0)
    arrays, flops = operands(op, batch, rng)
    arrays += operands(op, batch, rng)[0]
    half = len(arrays) // 2
    if framework == "jax":
        import jax  # noqa: PLC0415

        from pga_jax.cpu import policy  # noqa: PLC0415

        one = jax_fn(op)
        fn = policy.jit(lambda *a: (one(*a[:half]), one(*a[half:])))
        xs = [jax.device_put(a) for a in arrays]

        def call():
            return fn(*xs)

        def sync(y):
            jax.block_until_ready(y)
    else:
        import tensorflow as tf  # noqa: PLC0415

        one = tf_fn(op, batch)
        fn = tf.function(lambda *a: (one(*a[:half]), one(*a[half:])))
        xs = [tf.constant(a) for a in arrays]

        def call():
            return fn(*xs)

        def sync(y):
            y[0].numpy(), y[1].numpy()

    for _ in range(args.warmup):
        sync(call())
    blocks = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.calls):
            y = call()
        sync(y)
        blocks.append((time.perf_counter() - t0) / args.calls / 2)
    sec = statistics.median(blocks)
    return {
        "framework": framework,
        "op": op,
        "batch": batch,
        "ms": 1e3 * sec,
        "gflops": flops / sec / 1e9,
        "xla_flags": os.environ.get("XLA_FLAGS", "") if framework == "jax" else "",
        "compiler_options": _compiler_options() if framework == "jax" else None,
    }


def _compiler_options():
    from pga_jax.cpu import xla_options  # noqa: PLC0415

    return xla_options.compiler_options()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--batches", default="64,256")
    p.add_argument("--frameworks", default="tf,jax")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default="")
    p.add_argument("--one", default="", help=argparse.SUPPRESS)  # framework:op:batch
    args = p.parse_args(argv)
    if args.one:
        framework, op, batch = args.one.split(":")
        print(json.dumps(measure(framework, op, int(batch), args)))
        return 0
    from benchmarks import cpu_info, population  # noqa: PLC0415 - not in the measuring subprocesses

    machine = population.machine()
    rows = []
    print(f"# {cpu_info.describe(machine)}; XLA_FLAGS={machine['xla_flags']!r}")
    print(
        f"{'op':10s} {'batch':>5s} "
        + " ".join(f"{f + ' ms':>9s}" for f in args.frameworks.split(","))
    )
    for batch in map(int, args.batches.split(",")):
        for op in args.ops.split(","):
            cells = []
            for framework in args.frameworks.split(","):
                cmd = [
                    sys.executable,
                    "-m",
                    "benchmarks.conv_ops",
                    f"--one={framework}:{op}:{batch}",
                ]
                cmd += [
                    f"--warmup={args.warmup}",
                    f"--calls={args.calls}",
                    f"--repeats={args.repeats}",
                ]
                env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
                if out.returncode:
                    sys.stderr.write(out.stderr[-2000:])
                    cells.append(f"{'error':>9s}")
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append({**row, "machine": machine})
                cells.append(f"{row['ms']:9.3f}")
            print(f"{op:10s} {batch:5d} " + " ".join(cells), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    from pga_jax import cpu

    cpu.setup()  # the CPU process settings a training run makes (pga_jax.cpu)
    raise SystemExit(main())
