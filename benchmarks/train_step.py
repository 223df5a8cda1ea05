"""Train-step throughput: compile time, steps/s, images/s, FLOP/s against a matmul ceiling.

For each objective (vae, lpga, vpga, lvpga), architecture (conv_mnist, conv_32, conv_64) and
batch size (64, 256), builds the state and the jitted step exactly as training does
(`training.create_train_state` + `training.make_train_step`; config from
`experiments/mnist_<obj>.py` with `config.model.arch` overridden, every other setting as is, and
no warm-up, so that every loss term is active) and runs it on random
images in [-1, 1] of the architecture's `models.output_shape(arch)`.

  python -m benchmarks.train_step --compare_layers --json=train_step.json   # full run
  python -m benchmarks.train_step --quick --compare_layers --json=quick.json  # ~1-2 minutes
  python benchmarks/train_step.py ...                                          # same thing

Restrict with --objectives=lpga,vpga --archs=conv_mnist --batches=64. `--quick` only changes
the defaults (LPGA x conv_mnist at batch 64 and 256, 5 steps x 3 repeats); explicit flags win.

What each row measures
- compile_s: `jit(step).lower(state, batch)` + `.compile()` wall time (lower_s + xla_compile_s),
  with no persistent compilation cache involved unless the environment sets one up.
- steps_per_s: `--warmup` untimed calls, then `--repeats` timed blocks of `--steps` calls of
  the compiled step, each block ended by `jax.block_until_ready`; steps / median block time.
  images_per_s = batch * steps_per_s.
- flops_per_step: XLA's cost analysis ('flops') of the same step built with the plain flax
  layers (`model.fast_layers = False`) and compiled for the CPU backend, whichever layers and
  device the row times, so rows with either layers, on any device, share one count of the
  work. (The fast form multiplies some structural zeros; its own count, on the row's device,
  is reported as flops_per_step_own.) achieved_gflops = flops_per_step * steps_per_s.
- ceiling_gflops: a jitted n x n @ n x n float32 matmul (`precision=HIGHEST`, or the step's own
  default precision with --ceiling_precision=default; n = --ceiling_n, default 2048),
  2 n^3 / median time per matmul, measured in the same run just before and just after the
  row's timing (`ceiling_gflops_row`); the higher of the two is the row's ceiling, so a shared
  machine whose speed drifts is compared with itself. The header shows the ceiling at
  the start of the run (`ceiling_gflops_run_start`).
  fraction_of_ceiling = achieved_gflops / ceiling_gflops. On a GPU the step runs at XLA's
  default float32 precision (TF32 tensor cores on Ampere and newer) unless
  JAX_DEFAULT_MATMUL_PRECISION=highest is set, so there a row's fraction of the HIGHEST ceiling
  can exceed 1; --ceiling_precision=default measures the ceiling at the step's precision.
- peak_memory_bytes: XLA's static memory analysis of the compiled step (`memory_analysis()`):
  argument + output + temp - aliased (donated) bytes, i.e. what the step needs live on the
  device. Also reported: xla_peak_memory_bytes (the analysis' own `peak_memory_in_bytes`),
  process_max_rss_bytes (`resource.getrusage` max RSS of the whole process so far: monotone
  over rows, includes Python/JAX) and, on GPUs, device_peak_bytes_in_use (also monotone).
- layers: the (transposed) convolution implementation actually timed, 'plain' (flax
  nn.Conv / nn.ConvTranspose) or 'fast' (layers.FastConv / FastConvTranspose). `--layers`
  takes a comma list of config | plain | fast (default: config = the experiment file's
  `config.model.fast_layers`); `--compare_layers` = `--layers=plain,fast`.

Output: a table on stdout and, with --json=FILE, a JSON list of objects, one per row (the file
is rewritten after every row, so an interrupted run keeps its finished rows). Every row holds
objective, arch, batch, layers, steps_per_s, images_per_s, compile_s, flops_per_step,
achieved_gflops, ceiling_gflops, fraction_of_ceiling, peak_memory_bytes, device (device_kind),
backend, jax_version, jaxlib_version, xla_flags (the XLA_FLAGS environment variable, "" if
unset), the CPU (cpu_model, cpu_family, cpu_model_number and its avx / amx / fma cpu_flags from
lscpu, where there is one: benchmarks/cpu_info.py), cores_busy (the process's CPU seconds per
wall second over a timed block, median; the table's "busy": 2.00 on two cores is none idle)
and more. A value that could not be measured is null.

Timings are only meaningful on an otherwise idle machine. XLA_FLAGS must be set in the
environment before the process starts, e.g.
  XLA_FLAGS=--xla_cpu_prefer_vector_width=512 python -m benchmarks.train_step ...
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from benchmarks import cpu_info
from pga_jax import configs, models, objectives, training

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
ALL_OBJECTIVES = objectives.names()
ALL_ARCHS = ("conv_mnist", "conv_32", "conv_64")
ALL_BATCHES = (64, 256)
LAYER_CHOICES = ("config", "plain", "fast")

# Keys every row has (the test checks them).
REQUIRED_KEYS = (
    "objective",
    "arch",
    "batch",
    "layers",
    "steps_per_s",
    "images_per_s",
    "compile_s",
    "flops_per_step",
    "achieved_gflops",
    "ceiling_gflops",
    "fraction_of_ceiling",
    "peak_memory_bytes",
    "device",
    "jax_version",
    "xla_flags",
)


# ----------------------------------------------------------------------------------------------
# Config and model
# ----------------------------------------------------------------------------------------------


# --experiment=NAME: rows of that experiment file alone, with its own objective, arch and model
# settings (e.g. the Appendix C configs: cifar_lpga_resnet, celeba140_lpga, celeba140_vae).
EXPERIMENT: list[str] = []


def experiment_path(objective: str) -> Path:
    return EXPERIMENTS / (f"{EXPERIMENT[0]}.py" if EXPERIMENT else f"mnist_{objective}.py")


def load_config(objective: str, arch: str, fast_layers: bool | None):
    """The experiment's config, arch overridden, warm-up off; fast_layers=None keeps its own."""
    config = configs.load_experiment(str(experiment_path(objective)))
    if not EXPERIMENT:
        config.model.arch = arch
    configs.all_terms_on(config)
    if fast_layers is not None:
        config.model.fast_layers = fast_layers
    return config


def model_layers(model: training.Model) -> str:
    """'fast' | 'plain' | 'unknown': which conv and dense implementations the model holds."""
    conv = getattr(model.encoder, "conv", None)
    dconv = getattr(model.decoder, "dconv", None)
    dense = getattr(model.encoder, "dense", None)
    if (conv, dconv, dense) == (models.fast_conv, models.fast_conv_transpose, models.fast_dense):
        return "fast"
    if (conv, dconv, dense) == (models.plain_conv, models.plain_conv_transpose, models.plain_dense):
        return "plain"
    return "unknown"


def build(config, image_shape):
    """(state, model, hparams, layers) exactly as training builds them."""
    state, model = training.create_train_state(config, image_shape)
    return state, model, configs.objective_hparams(config), model_layers(model)


def random_batch(arch: str, batch: int, seed: int = 0) -> jax.Array:
    shape = (batch, *models.output_shape(arch))
    return jax.random.uniform(jax.random.PRNGKey(seed), shape, jnp.float32, -1.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------


def compile_step(model, state, batch, hparams):
    """(compiled, lower_s, xla_compile_s) of `training.make_train_step(model)`; call the compiled
    step as compiled(state, batch, hparams)."""
    step = training.make_train_step(model)
    t0 = time.perf_counter()
    lowered = step.lower(state, batch, hparams)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return compiled, t1 - t0, t2 - t1


def xla_flops(compiled) -> float | None:
    """'flops' of XLA's cost analysis (a dict, or a list of per-program dicts in some jax)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # not every backend implements it
        return None
    entries = analysis if isinstance(analysis, list | tuple) else [analysis]
    total = sum(float(e.get("flops", 0.0)) for e in entries if e)
    return total if total > 0 else None


def plain_step_flops(objective: str, arch: str, batch) -> float | None:
    """XLA's count of the step built with the plain flax layers, compiled for the CPU backend
    wherever the row runs: GPU backends hand convolutions to cuDNN custom calls, which their
    cost analysis does not count (on an H100 it gave 6.0 GFLOP for the LPGA step that the CPU
    backend counts as 36.9), so a GPU row's fraction of the ceiling would be far too low."""
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        state, model, hparams, layers = build(load_config(objective, arch, False), batch.shape[1:])
        compiled, _, _ = compile_step(model, state, jax.device_put(batch, cpu), hparams)
    return xla_flops(compiled) if layers == "plain" else None


def memory(compiled) -> dict:
    """XLA's static memory analysis of the compiled step (None where unavailable)."""
    out = {"peak_memory_bytes": None, "xla_peak_memory_bytes": None, "temp_bytes": None}
    try:
        m = compiled.memory_analysis()
    except Exception:
        m = None
    if m is None:
        return out
    live = (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )
    out["peak_memory_bytes"] = int(live)
    out["temp_bytes"] = int(m.temp_size_in_bytes)
    peak = getattr(m, "peak_memory_in_bytes", 0)
    out["xla_peak_memory_bytes"] = int(peak) if peak else None
    return out


def process_memory() -> dict:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss *= 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    out = {"process_max_rss_bytes": int(rss), "device_peak_bytes_in_use": None}
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        out["device_peak_bytes_in_use"] = int(stats["peak_bytes_in_use"])
    return out


def time_steps(compiled, state, batch, hparams, steps: int, repeats: int, warmup: int):
    """(first_call_s, block times, the blocks' cores busy, the last loss): warm-up calls, then
    `repeats` blocks of `steps` calls."""
    t0 = time.perf_counter()
    state, metrics = compiled(state, batch, hparams)
    jax.block_until_ready((state, metrics))
    first_call_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        state, metrics = compiled(state, batch, hparams)
    jax.block_until_ready((state, metrics))
    times, busy = [], []
    for _ in range(repeats):
        with cpu_info.BusyClock() as clock:
            for _ in range(steps):
                state, metrics = compiled(state, batch, hparams)
            jax.block_until_ready((state, metrics))
        times.append(clock.wall_s)
        busy.append(clock.cores_busy)
    loss = float(metrics["loss"])
    return first_call_s, times, busy, loss


CEILING_PRECISIONS = {"highest": jax.lax.Precision.HIGHEST, "default": None}


def matmul_ceiling(n: int, repeats: int, precision: str = "highest", min_block_s=0.2) -> dict:
    """GFLOP/s of a jitted float32 n x n matmul, median of repeats. precision 'default' is the
    one the step runs at (JAX_DEFAULT_MATMUL_PRECISION; TF32 on recent GPUs if unset)."""
    ka, kb = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    level = CEILING_PRECISIONS[precision]
    matmul = jax.jit(lambda a, b: jnp.matmul(a, b, precision=level))
    matmul(a, b).block_until_ready()  # compile + warm
    t0 = time.perf_counter()
    matmul(a, b).block_until_ready()
    once = max(time.perf_counter() - t0, 1e-9)
    calls = max(1, math.ceil(min_block_s / once))  # several calls per block on fast devices
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = matmul(a, b)
        out.block_until_ready()
        per_call.append((time.perf_counter() - t0) / calls)
    t = statistics.median(per_call)
    return {
        "ceiling_gflops": 2 * n**3 / t / 1e9,
        "ceiling_n": n,
        "ceiling_precision": precision,
        "ceiling_matmul_s": t,
        "ceiling_calls_per_block": calls,
    }


# ----------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------


def environment() -> dict:
    import flax
    import jaxlib

    dev = jax.devices()[0]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {
        "device": dev.device_kind,
        "backend": jax.default_backend(),
        "num_devices": jax.device_count(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "flax_version": flax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "cpu_count": cpus,
        "machine": platform.machine(),
        "python_version": platform.python_version(),
        **cpu_info.cpu(),
    }


def measure_row(objective, arch, batch_size, layers_request, plain_flops_cache, args, common):
    fast = {"config": None, "plain": False, "fast": True}[layers_request]
    config = load_config(objective, arch, fast)
    image_shape = models.output_shape(arch)
    batch = random_batch(arch, batch_size)
    state, model, hparams, layers = build(config, image_shape)
    compiled, lower_s, xla_compile_s = compile_step(model, state, batch, hparams)
    own_flops = xla_flops(compiled)

    key = (objective, arch, batch_size)
    if layers == "plain" and jax.default_backend() == "cpu":
        plain_flops_cache.setdefault(key, own_flops)
    if key not in plain_flops_cache:
        plain_flops_cache[key] = plain_step_flops(objective, arch, batch)
    flops = plain_flops_cache[key]

    mem = memory(compiled)
    # The ceiling is measured again just before and just after this row's timing, so that a
    # machine whose speed drifts (shared VMs) is compared with itself; the higher one counts.
    measure_ceiling = functools.partial(
        matmul_ceiling, args.ceiling_n, args.ceiling_repeats, args.ceiling_precision
    )
    before = measure_ceiling()["ceiling_gflops"]
    first_call_s, times, busy, loss = time_steps(
        compiled, state, batch, hparams, args.steps, args.repeats, args.warmup
    )
    after = measure_ceiling()["ceiling_gflops"]
    ceiling = max(before, after)
    block_s = statistics.median(times)
    steps_per_s = args.steps / block_s
    achieved = flops * steps_per_s / 1e9 if flops else None
    row = {
        "experiment": EXPERIMENT[0] if EXPERIMENT else f"mnist_{objective}",
        "setting": configs.setting_label(config),
        "objective": objective,
        "arch": arch,
        "batch": batch_size,
        "layers": layers,
        "layers_requested": layers_request,
        "steps_per_s": steps_per_s,
        "images_per_s": steps_per_s * batch_size,
        "compile_s": lower_s + xla_compile_s,
        "lower_s": lower_s,
        "xla_compile_s": xla_compile_s,
        "first_call_s": first_call_s,
        "flops_per_step": flops,
        "flops_per_step_own": own_flops,
        "flops_source": "xla cost_analysis of the step with plain flax layers, compiled for cpu",
        "achieved_gflops": achieved,
        "fraction_of_ceiling": achieved / ceiling if achieved else None,
        "steps": args.steps,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "block_times_s": times,
        "cores_busy": statistics.median(busy),
        "final_loss": loss,
        "loss_finite": math.isfinite(loss),
        "config_file": str(experiment_path(objective).relative_to(EXPERIMENTS.parent)),
        "z_dim": config.model.z_dim,
        "bn": config.model.bn,
        **mem,
        "peak_memory_source": "xla memory_analysis: argument + output + temp - alias bytes",
        **process_memory(),
        **common,
        "ceiling_gflops_run_start": common["ceiling_gflops"],
        "ceiling_gflops_row": [before, after],
        "ceiling_gflops": ceiling,
    }
    del state, compiled
    return row


def _clean(value):
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_json(path: str, rows: list[dict]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump([{k: _clean(v) for k, v in r.items()} for r in rows], f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_header(common: dict) -> None:
    print(
        f"device: {common['device']} ({common['backend']}), jax {common['jax_version']}, "
        f"XLA_FLAGS={common['xla_flags']!r}\n{cpu_info.describe(common)}\n"
        f"ceiling: {common['ceiling_n']}^3 float32 matmul, {common['ceiling_gflops']:.1f} GFLOP/s"
    )
    print(
        f"{'objective':<9} {'arch':<10} {'batch':>5} {'layers':<6} {'compile_s':>9} "
        f"{'steps/s':>8} {'images/s':>9} {'GFLOP/step':>10} {'GFLOP/s':>8} {'ceil':>6} "
        f"{'%ceil':>6} {'mem MiB':>8} {'busy':>5}"
    )


def print_row(r: dict) -> None:
    frac = r["fraction_of_ceiling"]
    mem = r["peak_memory_bytes"]
    print(
        f"{r['objective']:<9} {r['arch']:<10} {r['batch']:>5} {r['layers']:<6} "
        f"{r['compile_s']:>9.2f} {r['steps_per_s']:>8.3f} {r['images_per_s']:>9.1f} "
        f"{_fmt(r['flops_per_step'] and r['flops_per_step'] / 1e9, '10.3f'):>10} "
        f"{_fmt(r['achieved_gflops'], '8.1f'):>8} {r['ceiling_gflops']:>6.1f} "
        f"{_fmt(frac and 100 * frac, '5.1f'):>6} "
        f"{_fmt(mem and mem / 2**20, '8.1f'):>8} {r['cores_busy']:>5.2f}",
        flush=True,
    )


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def _csv(kind, choices=None):
    def parse(text):
        items = [kind(t.strip()) for t in text.split(",") if t.strip()]
        bad = [i for i in items if choices is not None and i not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(choices)}")
        return items

    return parse


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objectives", type=_csv(str, ALL_OBJECTIVES), default=None)
    p.add_argument("--archs", type=_csv(str, ALL_ARCHS), default=None)
    p.add_argument("--batches", type=_csv(int), default=None)
    p.add_argument(
        "--layers",
        type=_csv(str, LAYER_CHOICES),
        default=None,
        help="comma list of config|plain|fast (default: config)",
    )
    p.add_argument("--compare_layers", action="store_true", help="= --layers=plain,fast")
    p.add_argument("--quick", action="store_true", help="LPGA x conv_mnist at batch 64, 256")
    p.add_argument("--steps", type=int, default=None, help="steps per timed block (10; quick 5)")
    p.add_argument("--repeats", type=int, default=None, help="timed blocks (5; quick 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (>= 1)")
    p.add_argument("--ceiling_n", type=int, default=2048, help="matmul size of the ceiling")
    p.add_argument("--ceiling_repeats", type=int, default=5)
    p.add_argument(
        "--ceiling_precision",
        choices=sorted(CEILING_PRECISIONS),
        default="highest",
        help="the ceiling matmul's precision: highest (true float32) or default (the step's)",
    )
    p.add_argument("--json", default="", help="write the rows as a JSON list to this file")
    p.add_argument(
        "--experiment",
        default="",
        help="rows of experiments/NAME.py alone (its objective, arch, width): e.g. celeba140_lpga",
    )
    args = p.parse_args(argv)

    args.objectives = args.objectives or (["lpga"] if args.quick else list(ALL_OBJECTIVES))
    args.archs = args.archs or (["conv_mnist"] if args.quick else list(ALL_ARCHS))
    args.batches = args.batches or list(ALL_BATCHES)
    if args.compare_layers:
        if args.layers is not None:
            p.error("give --layers or --compare_layers, not both")
        args.layers = ["plain", "fast"]
    args.layers = args.layers or ["config"]
    args.steps = args.steps or (5 if args.quick else 10)
    args.repeats = args.repeats or (3 if args.quick else 5)
    for name in ("steps", "repeats", "warmup", "ceiling_n", "ceiling_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if any(b < 1 for b in args.batches):
        p.error("--batches must be positive")
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.experiment:
        EXPERIMENT[:] = [args.experiment]
        config = configs.load_experiment(str(experiment_path("")))
        args.objectives, args.archs = [config.objective.name], [config.model.arch]
    common = {
        **environment(),
        **matmul_ceiling(args.ceiling_n, args.ceiling_repeats, args.ceiling_precision),
    }
    print_header(common)
    rows: list[dict] = []
    plain_flops: dict = {}
    for objective in args.objectives:
        for arch in args.archs:
            for batch_size in args.batches:
                for layers in args.layers:
                    row = measure_row(
                        objective, arch, batch_size, layers, plain_flops, args, common
                    )
                    rows.append(row)
                    print_row(row)
                    if args.json:
                        write_json(args.json, rows)
    if args.json:
        print(f"wrote {len(rows)} row(s) to {args.json}")
    return rows


if __name__ == "__main__":
    from pga_jax import cpu

    cpu.setup()  # the CPU process settings a training run makes (pga_jax.cpu)
    main()
