"""Populations and the training loop against the bare jitted step (issue 14's targets).

    python -m benchmarks.population --json=population.json
    python -m benchmarks.population --members=1,2 --ks=1 --steps=8   # a quick look

LPGA on conv_mnist at batch 64 (experiments/fashion_mnist_lpga.py, every term on from step 0,
learning rate 0.01 so that no seed diverges (at 0.1 seed 1 does, by step 24), synthetic
images of Fashion-MNIST's shape so that no dataset is needed), all in one process:

- bare: `training.make_train_step` on one device batch, `--steps` calls per timed block ended by
  `block_until_ready`, median of `--repeats` blocks (the step alone: no data, no host work);
- loop K=k: `training.train_and_evaluate` itself, k steps per call (`config.steps_per_dispatch`),
  logging every `--steps` steps (K steps per call when k > 1: a lax.scan; k = 1 on a CPU: one
  step per call). Its steps/s is the loop's own `steps_per_sec` in metrics.jsonl, the median
  over the logs after the first (which includes compiling); loop / bare is the overhead;
- population M: `training.train_population` of M members (seeds 0..M-1, the loop at the
  default K); aggregate member-steps/s = M x steps/s, against one run's loop steps/s, i.e.
  M sequential runs (`vs_sequential` = member-steps/s / single-run steps/s).

- loop, n devices (`--devices=1,2`): the one-run loop with the batch split over n devices
  (`config.mesh.data`; the same global batch), each in its own process; on a CPU the devices
  are forced and share its cores, so this shows only the sharding's overhead (issue 15).

Targets: on a CPU, loop >= 0.95 x bare and M = 4 >= 1.0 x sequential; on a GPU, loop >= 0.90 x
bare and M = 8 >= 4 x one run. Output: a table on stdout, rows as JSON with --json, each with
the device, `lscpu`'s model name and flags (on Linux), jax's version and XLA_FLAGS.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import cpu_info
from pga_jax import configs, curves, data, training

FLAGS = flags.FLAGS
flags.DEFINE_string("members", "1,2,4,8", "Population sizes.")
flags.DEFINE_string("ks", "1,50", "Steps per call of the loop rows.")
flags.DEFINE_integer("steps", 20, "Steps per timed block / per log of the loop.")
flags.DEFINE_integer("repeats", 3, "Timed blocks (bare) / timed logs (loop) per row.")
flags.DEFINE_string("member_axis", "auto", "Population member axis: auto, vmap, unrolled.")
flags.DEFINE_string("json", "", "Write the rows here as JSON.")
flags.DEFINE_string(
    "devices",
    "",
    "Also the loop (one run) on these numbers of devices at the same global batch, e.g. 1,2; "
    "on a CPU they are forced (--xla_force_host_platform_device_count) and share its cores.",
)
flags.DEFINE_integer("loop_on_devices", 0, "Internal: print one loop row on this many devices.")


def _config(steps: int, repeats: int, k: int = 0):
    config = configs.all_terms_on(configs.load_experiment("fashion_mnist_lpga"))
    config.dataset = config.data.source = "synthetic"
    config.data.synthetic_size = 2048
    config.num_steps = steps * (repeats + 1)
    config.log_every = steps
    config.image_every = config.checkpoint_every = config.num_steps
    config.steps_per_dispatch = k
    config.optim.learning_rate = 0.01  # every seed stable with all terms on from step 0
    return config


def bare_steps_per_s(steps: int, repeats: int) -> float:
    return time_bare_step(_config(steps, repeats), steps, repeats)


def time_bare_step(config, steps: int, repeats: int) -> float:
    """Steps/s of `config`'s bare jitted step on one device batch: `steps` calls per timed
    block ended by block_until_ready, the median of `repeats` blocks (after a compiling call)."""
    images = training.load_training_images(config)
    state, model = training.create_train_state(config, images.shape[1:])
    step, hparams = training.make_train_step(model), configs.objective_hparams(config)
    batch = jnp.asarray(data.batch_at(images, 0, config.batch_size, 0))
    state, m = step(state, batch, hparams)
    jax.block_until_ready(m["loss"])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            state, m = step(state, batch, hparams)
        jax.block_until_ready(m["loss"])
        times.append(time.perf_counter() - t)
    return steps / statistics.median(times)


def loop_steps_per_s(workdirs: list[str]) -> float:
    """The median logged steps/s after the first log (which includes compiling)."""
    rows = curves.read_metrics(workdirs[0])
    rates = [r[training.STEPS_PER_SEC] for r in list(rows.values())[1:]]
    return statistics.median(rates)


def run_loop(
    k: int, members: int, steps: int, repeats: int, axis: str, data_devices: int = 0
) -> float:
    with tempfile.TemporaryDirectory() as root:
        workdirs = [os.path.join(root, str(i)) for i in range(members)]
        member_configs = []
        for i in range(members):
            config = _config(steps, repeats, k)
            config.seed = i
            config.mesh.data = data_devices
            member_configs.append(config)
        if members == 1 and axis == "single":
            training.train_and_evaluate(member_configs[0], workdirs[0])
        else:
            training.train_population(member_configs, workdirs, member_axis=axis)
        return loop_steps_per_s(workdirs)


def machine() -> dict:
    return {
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **cpu_info.cpu(),
    }


def loop_on_devices(n: int, steps: int, repeats: int) -> float:
    """The one-run loop's steps/s on `n` devices (the batch split over them), in a process
    of its own (on a CPU with `n` forced devices)."""
    env = dict(os.environ)
    if jax.default_backend() == "cpu":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.population",
            f"--loop_on_devices={n}",
            f"--steps={steps}",
            f"--repeats={repeats}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


def main(argv):
    del argv
    steps, repeats = FLAGS.steps, FLAGS.repeats
    if FLAGS.loop_on_devices:
        rate = run_loop(0, 1, steps, repeats, "single", data_devices=FLAGS.loop_on_devices)
        print(json.dumps({"steps_per_s": rate}))
        return
    rows, info = [], machine()

    def emit(row):
        rows.append({**row, **info})
        print(json.dumps(row), flush=True)
        if FLAGS.json:
            with open(FLAGS.json, "w") as f:
                json.dump(rows, f, indent=1)

    bare = bare_steps_per_s(steps, repeats)
    emit({"row": "bare step", "steps_per_s": bare})
    single = None
    for k in [int(x) for x in FLAGS.ks.split(",")]:
        rate = run_loop(k, 1, steps, repeats, "single")
        if single is None:
            single = rate  # the default-K loop of one run: the sequential reference
        emit({"row": f"loop K={k}", "steps_per_s": rate, "vs_bare": rate / bare})
    for m in [int(x) for x in FLAGS.members.split(",")]:
        rate = run_loop(0, m, steps, repeats, FLAGS.member_axis)
        emit(
            {
                "row": f"population M={m}",
                "member_axis": FLAGS.member_axis,
                "steps_per_s": rate,
                "member_steps_per_s": m * rate,
                "vs_sequential": m * rate / single,
            }
        )
    one_device = None
    for n in [int(x) for x in FLAGS.devices.split(",") if x]:
        rate = loop_on_devices(n, steps, repeats)
        one_device = one_device or rate
        emit({"row": f"loop, {n} devices", "steps_per_s": rate, "vs_one_device": rate / one_device})
    print(f"\n{info}\n")
    print(f"{'row':<22} {'steps/s':>9} {'member-steps/s':>15} {'ratio':>8}")
    for r in rows:
        ratio = r.get("vs_bare", r.get("vs_sequential", r.get("vs_one_device")))
        member = r.get("member_steps_per_s", r["steps_per_s"])
        print(f"{r['row']:<22} {r['steps_per_s']:>9.2f} {member:>15.2f} {ratio or 1:>8.2f}")


if __name__ == "__main__":
    from pga_jax import cpu

    cpu.setup()  # the CPU process settings a training run makes (pga_jax.cpu)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
