"""The original code's training step in TensorFlow, timed against pga_jax's step on this machine.

Issue 4 asks that pga_jax not be slower than the code it replaces: zj10/PGA, TF1 graph code
with slim, trained with MNIST defaults (conv_mnist, 5x5 kernels, no BN, batch 64). That code
and its data pipeline are not available offline, so this module re-creates its step: the same
layers and TensorFlow ops (Conv2D; Conv2DBackpropInput for slim's conv2d_transpose; MatMul;
the kernel gradients Conv2DBackpropFilter / MatMul), the same network calls per step, the
original's gradient routing (grad of enc_loss w.r.t. the encoder's variables, of dec_loss w.r.t.
the decoder's, nothing else computed) and TF1's momentum kernel (ResourceApplyMomentum, 0.9),
as one `tf.function` graph: grappler and oneDNN, no XLA, as a TF1 session runs it.

  LPGA (train_lpga.py L:106-145, zh = 0): Enc(x), Dec(z), h(zn), h(sg z + delta), h(sg z).
  VPGA (train_vpga.py L:92-139): Enc(x), Dec(mu), h(zn), and two no_enc_grad calls
    h(sg mu) and h(sg mu + z_noise), each  z_rec - (Enc(sg img) - sg z_rec): one more encoder
    pass each, whose weight gradient the original computes and cancels. (pga_jax freezes the
    encoder's parameters instead, so its step does less work than this one.)

`tf_losses` takes the weights and noise as arguments, so tests/original_tf_step_test.py can
check that this step's gradients equal pga_jax's for the same weights and noise: the peer does
the same mathematics, and pga_jax agrees with an implementation in another framework.

  python -m benchmarks.original_tf_step --json=peer.json   # LPGA, VPGA x batch 64, 256, 3 rounds
  python -m benchmarks.original_tf_step --objectives=lpga --batches=64 --rounds=1
  python -m benchmarks.original_tf_step --jax_variants=PGA_JAX_CPU_ONEDNN=1  # + oneDNN forced on

Every measurement runs in its own subprocess, so TensorFlow's and XLA's thread pools never share
the cores: TF via `--one=OBJECTIVE:BATCH`, pga_jax via `benchmarks/train_step.py` (its row,
with the matmul ceiling measured beside it and XLA's FLOP count of the step). The rounds
alternate the two frameworks; the table gives each one's median steps/s over the rounds, the
ratio pga_jax / TF, and both as a fraction of pga_jax's row's ceiling, using pga_jax's FLOP
count of the step (for VPGA the original does more work than that count; see above), and each
one's cores busy (CPU seconds per wall second while timed: where a step leaves cores idle).
The table's first line and every JSON row name the CPU (lscpu: benchmarks/cpu_info.py).
Timings are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import cpu_info
from pga_jax import atomic, layers
from pga_jax.cpu import memory

ROOT = Path(__file__).resolve().parent.parent
OBJECTIVES = ("lpga", "vpga")
BATCHES = (64, 256)
ARCH = "conv_mnist"
LRELU_SLOPE = 0.2


# ----------------------------------------------------------------------------------------------
# The original step in TensorFlow
# ----------------------------------------------------------------------------------------------


def tf_layout(params: dict) -> dict:
    """pga_jax's conv_mnist params (numpy) -> the original's variables, by slim's layouts.

    Returns {'encoder': [...], 'decoder': [...]}, each a list of (kernel, bias) numpy pairs in
    call order (encoder: conv64, conv128, fc1024, mu[, logvar]; decoder: fc1024, fc6272,
    dconv64, dconv1). A flax ConvTranspose kernel (5, 5, in, out) becomes TF's conv2d_transpose
    filter (5, 5, out, in), spatially flipped (`layers.swap`); the map is its own inverse.
    """
    e, d = params["encoder"], params["decoder"]
    enc = [e["_Block_0"]["layer"], e["_Block_1"]["layer"], e["_Block_2"]["layer"]]
    enc += [e["_Heads_0"][h] for h in ("mu", "logvar") if h in e["_Heads_0"]]
    dec = [d["_Block_0"]["layer"], d["_Block_1"]["layer"], d["_Block_2"]["layer"], d["out"]]
    pairs = {
        "encoder": [(np.asarray(p["kernel"]), np.asarray(p["bias"])) for p in enc],
        "decoder": [(np.asarray(p["kernel"]), np.asarray(p["bias"])) for p in dec],
    }
    pairs["decoder"][2:] = [(np.asarray(layers.swap(k)), b) for k, b in pairs["decoder"][2:]]
    return pairs


def encoder(x, v):
    """slim conv_mnist encoder (models.py:20-34): (mu, logvar or None)."""
    import tensorflow as tf  # noqa: PLC0415

    def lrelu(t):
        return tf.nn.leaky_relu(t, LRELU_SLOPE)

    y = lrelu(tf.nn.conv2d(x, v[0][0], 2, "SAME") + v[0][1])
    y = lrelu(tf.nn.conv2d(y, v[1][0], 2, "SAME") + v[1][1])
    y = lrelu(tf.reshape(y, [-1, 7 * 7 * 128]) @ v[2][0] + v[2][1])
    mu = y @ v[3][0] + v[3][1]
    return mu, (y @ v[4][0] + v[4][1] if len(v) > 4 else None)


def decoder(z, v):
    """slim conv_mnist decoder (models.py:36-49)."""
    import tensorflow as tf  # noqa: PLC0415

    n = tf.shape(z)[0]
    y = tf.nn.relu(z @ v[0][0] + v[0][1])
    y = tf.reshape(tf.nn.relu(y @ v[1][0] + v[1][1]), [-1, 7, 7, 128])
    y = tf.nn.relu(tf.nn.conv2d_transpose(y, v[2][0], [n, 14, 14, 64], 2, "SAME") + v[2][1])
    return tf.tanh(tf.nn.conv2d_transpose(y, v[3][0], [n, 28, 28, 1], 2, "SAME") + v[3][1])


def tf_losses(objective: str, weights: dict, enc_v, dec_v, x, zn, noise):
    """(enc_loss, dec_loss) of the original scripts; zn, noise: [B, H] standard normals (noise
    is delta's direction for LPGA, z_noise's for VPGA). weights: alpha, gamma | vrec, vkld."""
    import tensorflow as tf  # noqa: PLC0415

    def mse(a, b):
        return tf.reduce_mean(tf.square(a - b))

    def h(z):
        return encoder(decoder(z, dec_v), enc_v)[0]

    def h_noenc(z):  # train_vpga.py V:98-99: the direct gradient to the encoder cancels
        img = decoder(z, dec_v)
        z_rec = encoder(img, enc_v)[0]
        return z_rec - (encoder(tf.stop_gradient(img), enc_v)[0] - tf.stop_gradient(z_rec))

    mu, logvar = encoder(x, enc_v)
    rec = mse(x, decoder(mu, dec_v))
    zn_rec = mse(zn, h(zn))
    enc_loss = rec + weights["alpha"] * zn_rec
    z_dim = int(mu.shape[-1])
    if objective == "lpga":
        nll_enc = 0.5 * tf.reduce_mean(tf.square(mu)) + 0.5 * math.log(2 * math.pi)
        z = tf.stop_gradient(mu)
        eps = 1e-2 * math.sqrt(z_dim)
        delta = noise / tf.norm(noise, axis=1, keepdims=True) * eps
        diff = (h(z + delta) - h(z)) / eps
        nll_dec = tf.reduce_mean(z_dim / 2 * tf.math.log(tf.reduce_sum(tf.square(diff), 1)))
        enc_loss += weights["gamma"] * nll_enc
        return enc_loss, rec + weights["gamma"] * nll_dec / z_dim
    mu_sg = tf.stop_gradient(mu)
    z_noise = tf.exp(0.5 * logvar) * noise
    s = tf.stop_gradient(tf.sqrt(tf.reduce_mean(tf.square(mu), 0)))
    vrec = mse(h_noenc(mu_sg) / s, h_noenc(mu_sg + z_noise) / s)
    vkld = -tf.reduce_mean(0.5 * (1 + logvar - tf.square(mu) - tf.exp(logvar)))
    enc_loss += weights["vrec"] * vrec + weights["vkld"] * vkld
    return enc_loss, rec + weights["vrec"] * vrec


def tf_variables(pairs: dict) -> tuple[list, list]:
    """(encoder, decoder) lists of (kernel, bias) tf.Variables from `tf_layout`'s numpy pairs."""
    import tensorflow as tf  # noqa: PLC0415

    enc_v = [(tf.Variable(k), tf.Variable(b)) for k, b in pairs["encoder"]]
    dec_v = [(tf.Variable(k), tf.Variable(b)) for k, b in pairs["decoder"]]
    return enc_v, dec_v


def tf_gradients(objective, weights, pairs, x, zn, noise):
    """grad(enc_loss, encoder variables), grad(dec_loss, decoder variables), as numpy pairs."""
    import tensorflow as tf  # noqa: PLC0415

    enc_v, dec_v = tf_variables(pairs)
    with tf.GradientTape(persistent=True) as tape:
        enc_loss, dec_loss = tf_losses(objective, weights, enc_v, dec_v, x, zn, noise)
    g_enc = tape.gradient(enc_loss, enc_v)
    g_dec = tape.gradient(dec_loss, dec_v)
    return {
        "encoder": [(k.numpy(), b.numpy()) for k, b in g_enc],
        "decoder": [(k.numpy(), b.numpy()) for k, b in g_dec],
    }


def make_tf_step(objective, weights, pairs, batch, z_dim, lr=0.1, momentum=0.9):
    """The original's whole step as one tf.function: losses, the two gradients, momentum."""
    import tensorflow as tf  # noqa: PLC0415

    enc_v, dec_v = tf_variables(pairs)
    variables = [v for pair in enc_v + dec_v for v in pair]
    accums = [tf.Variable(tf.zeros_like(v)) for v in variables]
    flat_enc = [v for pair in enc_v for v in pair]
    flat_dec = [v for pair in dec_v for v in pair]

    @tf.function
    def step(x):
        zn = tf.random.normal([batch, z_dim])
        noise = tf.random.normal([batch, z_dim])
        with tf.GradientTape(persistent=True) as tape:
            enc_loss, dec_loss = tf_losses(objective, weights, enc_v, dec_v, x, zn, noise)
        grads = tape.gradient(enc_loss, flat_enc) + tape.gradient(dec_loss, flat_dec)
        for v, a, g in zip(variables, accums, grads, strict=True):
            tf.raw_ops.ResourceApplyMomentum(
                var=v.handle, accum=a.handle, lr=lr, grad=g, momentum=momentum
            )
        return enc_loss + dec_loss

    return step


# ----------------------------------------------------------------------------------------------
# One measurement (run in its own process)
# ----------------------------------------------------------------------------------------------


def experiment_config(objective: str):
    from pga_jax import configs  # noqa: PLC0415

    return configs.load_experiment(str(ROOT / "experiments" / f"mnist_{objective}.py"))


def initial_pairs(objective: str, z_dim: int) -> dict:
    """pga_jax's own initial conv_mnist weights, in the original's layouts."""
    import jax  # noqa: PLC0415

    from pga_jax import models, objectives  # noqa: PLC0415

    enc, dec = models.build_models(
        ARCH, z_dim, bn=False, variational=objectives.get(objective).variational
    )
    variables = models.init_variables(enc, dec, jax.random.PRNGKey(0), (28, 28, 1), z_dim)
    return tf_layout(jax.device_get(variables["params"]))


def measure_tf(objective: str, batch: int, steps: int, repeats: int, warmup: int = 2) -> dict:
    """TF steps/s: `warmup` untimed calls, then the median of `repeats` blocks of `steps`."""
    import tensorflow as tf  # noqa: PLC0415

    config = experiment_config(objective)
    z_dim = config.model.z_dim
    o = config.objective
    # The original's flags: --zn_rec, --nll (LPGA), --vrec, --vkld (VPGA).
    weights = {"alpha": o.alpha, **({"gamma": o.gamma} if objective == "lpga" else {})}
    if objective == "vpga":
        weights.update(vrec=o.vrec, vkld=o.eta)
    step = make_tf_step(
        objective,
        weights,
        initial_pairs(objective, z_dim),
        batch,
        z_dim,
        config.optim.learning_rate,
        config.optim.momentum,
    )
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, 28, 28, 1)), tf.float32)
    t0 = time.perf_counter()
    loss = float(step(x))
    compile_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        loss = float(step(x))
    times, busy = [], []
    for _ in range(repeats):
        with cpu_info.BusyClock() as clock:
            for _ in range(steps):
                out = step(x)
            loss = float(out)  # waits for the last step
        times.append(clock.wall_s)
        busy.append(clock.cores_busy)
    steps_per_s = steps / statistics.median(times)
    return {
        "framework": "tensorflow",
        "objective": objective,
        "arch": ARCH,
        "batch": batch,
        "steps_per_s": steps_per_s,
        "images_per_s": steps_per_s * batch,
        "compile_s": compile_s,
        "block_times_s": times,
        "cores_busy": statistics.median(busy),
        "final_loss": loss,
        "tf_version": tf.__version__,
    }


# ----------------------------------------------------------------------------------------------
# The comparison (subprocesses, alternating)
# ----------------------------------------------------------------------------------------------


def _run(cmd: list[str], out: Path, **env_vars: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **env_vars}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed: {tail[0]}")
    rows = json.loads(out.read_text())
    return rows[-1] if isinstance(rows, list) else rows


def run_tf(objective, batch, args, tmp: Path) -> dict:
    out = tmp / f"tf_{objective}_{batch}.json"
    cmd = [sys.executable, "-m", "benchmarks.original_tf_step", f"--one={objective}:{batch}"]
    cmd += [f"--steps={args.steps}", f"--repeats={args.repeats}", f"--json={out}"]
    # pga_jax's host-memory settings (cpu/memory.py) stay out of TensorFlow's process: its
    # allocator keeps its own memory, under glibc's defaults, as the original runs.
    return _run(cmd, out, **{memory.SWITCH: "0"})


def run_jax(objective, batch, args, tmp: Path, env: dict | None = None) -> dict:
    """pga_jax's row, in a process with `env` (a --jax_variants setting) added."""
    out = tmp / f"jax_{objective}_{batch}.json"
    cmd = [sys.executable, "-m", "benchmarks.train_step", f"--objectives={objective}"]
    cmd += [f"--archs={ARCH}", f"--batches={batch}", f"--steps={args.steps}"]
    cmd += [f"--repeats={args.repeats}", f"--json={out}"]
    return _run(cmd, out, **(env or {}))


def summarise(objective: str, batch: int, tf_rows: list[dict], jax_rows: list[dict]) -> dict:
    """One table row from the rounds: medians, the ratio, fractions of the ceiling."""
    tf_sps = statistics.median(r["steps_per_s"] for r in tf_rows)
    jax_sps = statistics.median(r["steps_per_s"] for r in jax_rows)
    flops = jax_rows[0]["flops_per_step"]
    ceiling = statistics.median(r["ceiling_gflops"] for r in jax_rows)

    def fraction(sps):
        return flops * sps / 1e9 / ceiling if flops and ceiling else None

    return {
        "objective": objective,
        "arch": ARCH,
        "batch": batch,
        "tf_steps_per_s": tf_sps,
        "jax_steps_per_s": jax_sps,
        "tf_images_per_s": tf_sps * batch,
        "jax_images_per_s": jax_sps * batch,
        "jax_over_tf": jax_sps / tf_sps,
        "tf_compile_s": statistics.median(r["compile_s"] for r in tf_rows),
        "jax_compile_s": statistics.median(r["compile_s"] for r in jax_rows),
        "flops_per_step": flops,
        "ceiling_gflops": ceiling,
        "tf_fraction_of_ceiling": fraction(tf_sps),
        "jax_fraction_of_ceiling": fraction(jax_sps),
        "tf_cores_busy": statistics.median(r["cores_busy"] for r in tf_rows),
        "jax_cores_busy": statistics.median(r["cores_busy"] for r in jax_rows),
        "rounds": len(tf_rows),
        "tf_steps_per_s_rounds": [r["steps_per_s"] for r in tf_rows],
        "jax_steps_per_s_rounds": [r["steps_per_s"] for r in jax_rows],
        "jax_layers": jax_rows[0]["layers"],
        "tf_version": tf_rows[0]["tf_version"],
        "jax_version": jax_rows[0]["jax_version"],
        "device": jax_rows[0]["device"],
    }


def print_table(rows: list[dict], host: dict) -> None:
    print(cpu_info.describe(host))
    print(
        f"{'objective':<9} {'batch':>5} {'TF steps/s':>10} {'jax steps/s':>11} {'jax/TF':>6} "
        f"{'TF img/s':>8} {'jax img/s':>9} {'TF %ceil':>8} {'jax %ceil':>9} {'ceil':>6} "
        f"{'TF busy':>7} {'jax busy':>8} jax env"
    )
    for r in rows:
        tf_f, jax_f = r["tf_fraction_of_ceiling"], r["jax_fraction_of_ceiling"]
        print(
            f"{r['objective']:<9} {r['batch']:>5} {r['tf_steps_per_s']:>10.3f} "
            f"{r['jax_steps_per_s']:>11.3f} {r['jax_over_tf']:>6.2f} "
            f"{r['tf_images_per_s']:>8.1f} {r['jax_images_per_s']:>9.1f} "
            f"{'-' if tf_f is None else format(100 * tf_f, '8.1f'):>8} "
            f"{'-' if jax_f is None else format(100 * jax_f, '9.1f'):>9} "
            f"{r['ceiling_gflops']:>6.1f} {r['tf_cores_busy']:>7.2f} {r['jax_cores_busy']:>8.2f} "
            f"{r.get('jax_env') or '-'}",
            flush=True,
        )


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objectives", default=",".join(OBJECTIVES), help="comma list: lpga,vpga")
    p.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma list")
    p.add_argument("--rounds", type=int, default=3, help="alternations TF, jax per row")
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=3, help="timed blocks per measurement")
    p.add_argument(
        "--jax_variants",
        default="",
        help="comma list of ENV=VALUE: each round also times pga_jax with that setting, e.g. "
        "PGA_JAX_CPU_ONEDNN=1 (a row per setting, labelled jax_env)",
    )
    p.add_argument("--json", default="", help="write the rows as a JSON list to this file")
    p.add_argument("--one", default="", help="OBJECTIVE:BATCH: one TF measurement (internal)")
    args = p.parse_args(argv)
    args.objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    bad = [o for o in args.objectives if o not in OBJECTIVES]
    if bad or not args.objectives:
        p.error(f"--objectives: choose from {', '.join(OBJECTIVES)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        p.error("--batches must be a comma list of integers")
    for name in ("rounds", "steps", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if any(b < 1 for b in args.batches) or not args.batches:
        p.error("--batches must be positive")
    variants = [v.strip() for v in args.jax_variants.split(",") if v.strip()]
    if any(not v.partition("=")[0] or "=" not in v for v in variants):
        p.error("--jax_variants: a comma list of ENV=VALUE, e.g. PGA_JAX_CPU_ONEDNN=1")
    args.jax_variants = {v: dict([v.split("=", 1)]) for v in variants}  # label -> its env
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.one:
        objective, batch = args.one.split(":")
        row = measure_tf(objective, int(batch), args.steps, args.repeats)
        if args.json:
            atomic.write_json(args.json, row)
        return [row]
    rows = []
    host = cpu_info.cpu()
    with tempfile.TemporaryDirectory() as tmp:
        for objective in args.objectives:
            for batch in args.batches:
                # "": pga_jax as this process's environment runs it; then each variant.
                variants = {"": None, **args.jax_variants}
                tf_rows, jax_rows = [], {variant: [] for variant in variants}
                for _ in range(args.rounds):
                    tf_rows.append(run_tf(objective, batch, args, Path(tmp)))
                    for variant, env in variants.items():
                        jax_rows[variant].append(run_jax(objective, batch, args, Path(tmp), env))
                for variant, variant_rows in jax_rows.items():
                    row = summarise(objective, batch, tf_rows, variant_rows)
                    rows.append({**row, "jax_env": variant, **host})
                if args.json:
                    atomic.write_json(args.json, rows)
    print_table(rows, host)
    if args.json:
        print(f"wrote {len(rows)} row(s) to {args.json}")
    return rows


if __name__ == "__main__":
    main()
