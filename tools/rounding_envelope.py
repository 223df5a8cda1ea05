"""How far float32 rounding alone moves a smoke run: the basis of the equivalence tests'
tolerances (tests/same_run.py).

    python tools/rounding_envelope.py --experiments=mnist_vpga,cifar_vpga,mnist_lpga \
        --steps=1,2,4,8 --seeds=0,1,2,3

For each experiment's smoke config and each data seed, the same run (the config's init, its
train_step on `steps` synthetic uniform batches) is taken three ways: in float32 as this
process compiles it (with Eigen's convolutions on AVX-512 CPUs, with XLA's default ones under
PGA_JAX_CPU_EIGEN_CONVOLUTIONS=0: pga_jax/cpu/xla_options.py), in float32 from parameters nudged
by one
ulp, and in float64 (the same random draws: they are sampled in float32 and widened). Printed
per step count: the largest difference of any parameter leaf over that leaf's largest |value|
(the tests' scaled difference), nudged vs float32 and float32 vs float64, worst over the seeds,
and the smallest of a run with another config seed (what a different run looks like).
"""

from __future__ import annotations

import argparse
import contextlib
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from pga_jax import configs, models, training  # noqa: E402
from pga_jax.cpu import xla_options  # noqa: E402


def scaled_difference(a, b) -> float:
    """max over leaves of max |a - b| / max |b|."""
    return max(
        float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max())
        / (float(np.abs(np.asarray(y, np.float64)).max()) + 1e-30)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _widened(tree):
    return jax.tree.map(
        lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a,
        tree,
    )


@contextlib.contextmanager
def _float32_draws():
    """jax.random.normal / uniform sample in float32 and widen, so that float64 runs draw the
    same numbers (only inside the context)."""
    originals = {name: getattr(jax.random, name) for name in ("normal", "uniform")}
    for name, draw in originals.items():

        def widened(key, shape=(), dtype=None, *args, _draw=draw, **kwargs):
            return _draw(key, shape, jnp.float32, *args, **kwargs).astype(jnp.float64)

        setattr(jax.random, name, widened)
    try:
        yield
    finally:
        for name, draw in originals.items():
            setattr(jax.random, name, draw)


def runs(experiment: str, steps: list[int], seeds: list[int]) -> dict:
    """{step: {"nudged": worst, "float64": worst, "other_seed": worst}} over the data seeds."""
    config = configs.load_experiment(experiment, "smoke")
    shape = models.output_shape(config.model.arch)
    state, model = training.create_train_state(config, shape)
    other = configs.load_experiment(experiment, "smoke")
    other.seed = config.seed + 1
    other_state, _ = training.create_train_state(other, shape)
    hparams = configs.objective_hparams(config)
    step32 = training.make_train_step(model)
    copy = lambda s: jax.tree.map(jnp.array, s)  # noqa: E731 - the step donates its state
    nudge = lambda p: jax.tree.map(lambda a: jnp.nextafter(a, jnp.inf), p)  # noqa: E731
    batches = {}
    for s in seeds:
        draw = np.random.default_rng(s)
        batches[s] = [
            draw.uniform(-1, 1, (config.batch_size, *shape)).astype(np.float32)
            for _ in range(max(steps))
        ]
    f32, nudged, others = {}, {}, {}
    for s in seeds:
        a, b = copy(state), copy(state.replace(params=nudge(state.params)))
        c = copy(other_state)
        for t, x in enumerate(batches[s], 1):
            a, _ = step32(a, jnp.asarray(x), hparams)
            b, _ = step32(b, jnp.asarray(x), hparams)
            c, _ = step32(c, jnp.asarray(x), hparams)
            if t in steps:
                f32[s, t], nudged[s, t], others[s, t] = (
                    jax.device_get(u.params) for u in (a, b, c)
                )
    with jax.enable_x64(True), _float32_draws():
        step64 = jax.jit(lambda st, x, h: training.train_step(st, x, h, model))
        out = {t: {"nudged": 0.0, "float64": 0.0, "other_seed": np.inf} for t in steps}
        for s in seeds:
            a = _widened(state)
            for t, x in enumerate(batches[s], 1):
                a, _ = step64(a, jnp.asarray(x, jnp.float64), _widened(hparams))
                if t in steps:
                    row, ref = out[t], jax.device_get(a.params)
                    row["nudged"] = max(row["nudged"], scaled_difference(nudged[s, t], f32[s, t]))
                    row["float64"] = max(row["float64"], scaled_difference(f32[s, t], ref))
                    row["other_seed"] = min(
                        row["other_seed"], scaled_difference(others[s, t], f32[s, t])
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="mnist_vpga,cifar_vpga,mnist_lpga")
    parser.add_argument("--steps", default="1,2,4,8")
    parser.add_argument("--seeds", default="0,1,2,3")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    eigen = xla_options.eigen_convolutions()
    print(f"convolutions: {'Eigen' if eigen else 'XLA default (YNNPACK)'}; seeds {seeds}")
    print("experiment    steps  nudged-vs-f32  f32-vs-f64  other-seed (min)")
    for experiment in args.experiments.split(","):
        for t, row in runs(experiment, steps, seeds).items():
            print(
                f"{experiment:12s} {t:5d}  {row['nudged']:13.3g}  {row['float64']:10.3g}  "
                f"{row['other_seed']:10.3g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
