"""The prepared check for a lent accelerator (issue 38): one call, parts in order, each within
its own time budget, each saved as it ends (a call cut off still leaves every finished part).

    python -m benchmarks.device_check --out=DIR [--budget_s=540] [--fid_weights=W.npz]
    python -m benchmarks.device_check --out=DIR --smoke     # the same parts at toy sizes (CPU)

On a lent GPU: `bash benchmarks/device_check.sh` (docs/devices.md: what to prepare here first).
Parts (LPGA on conv_mnist at batch 64 with every term on, synthetic images of Fashion-MNIST's
shape, unless said otherwise):

1. `devices`: the devices, jax's version, the GPU's name.
2. `loop`: the bare jitted step against the training loop at K = 1, 10, 50, 200 steps per call,
   at each config.precision ('auto', 'default': TF32 on Ampere-or-later GPUs, 'highest').
   Target on a GPU: loop >= 0.90 x bare.
3. `precision`: for one state and batch, each loss term and its gradient (over both networks)
   at each precision against a float64 computation on the host CPU (flax's plain layers):
   relative errors |t - t64| / |t64| and ||g - g64|| / ||g64||, for LPGA, VPGA and LVPGA.
4. `populations`: M = 1, 2, 4, 8, 16 members as one vmapped program: member-steps/s against
   one run's. Target on a GPU: M = 8 >= 4 x one run.
5. `fid_features`: Inception features per second (random weights: the speed is the same).
6. `table1`: Fashion-MNIST's Table 1 (VAE, LPGA, VPGA, LVPGA, LPGA with alpha = beta = 0; 3
   seeds each, one population per objective) trained for as many steps as the budget left
   allows (at most 6,000, the committed runs' length; the steps are in the output), then
   `evaluate` at 5,000 samples against the 60,000 training images' statistics and `report`
   (mean +- standard error over the seeds). Needs the real FID weights (`--fid_weights`, else
   the cached ones); without them the runs are trained and the FID is skipped, saying so.

Output in DIR (at most 8 files, as the device tool returns them): `device_check.json` (every
part's rows, its seconds, or its error) and `device_check.md` (the tables), rewritten after each
part; `table1.md` and `table1_runs.csv` from `report`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from benchmarks import population
from pga_jax import configs, data, training
from pga_jax.config_fields import PRECISIONS

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Folder for the results.", required=True)
flags.DEFINE_integer("budget_s", 540, "Seconds for all parts together.")
flags.DEFINE_bool("smoke", False, "Toy sizes: a CPU checks that every part runs.")
flags.DEFINE_string("fid_weights", "", "FID Inception weights .npz (default: the cache).")
flags.DEFINE_string("parts", "", "Comma-separated parts to run (default: all).")

# (name, share of the budget): a part may use what earlier parts left unused
SHARES = {
    "devices": 0.02,
    "loop": 0.2,
    "precision": 0.08,
    "populations": 0.15,
    "fid_features": 0.05,
    "table1": 0.5,
}
TABLE1 = ("vae", "lpga", "vpga", "lvpga", "lpga_ablation")
SEEDS = (0, 1, 2)


class Sizes:
    """Steps and sizes of the parts: full, or toy (`--smoke`)."""

    def __init__(self, smoke: bool, fid_weights: str = ""):
        self.smoke = smoke
        self.fid_weights = fid_weights or None  # None: the cached weights
        self.steps = 2 if smoke else 50  # per timed block
        self.repeats = 1 if smoke else 3
        self.ks = (2,) if smoke else (1, 10, 50, 200)  # toy: the scan, as on a GPU
        self.members = (1, 2) if smoke else (1, 2, 4, 8, 16)
        self.batch_size = 8 if smoke else 64
        self.fid_images = 8 if smoke else 2000
        self.objectives = ("lpga",) if smoke else ("lpga", "vpga", "lvpga")  # precision part
        self.table1_steps = 2 if smoke else 6000
        self.fid_samples = 16 if smoke else 5000
        self.ref_images = 32 if smoke else None  # None: every training image


# ---- the measurements -------------------------------------------------------------------------


def lpga_config(sizes: Sizes, precision: str = "auto", k: int = 0):
    """LPGA, conv_mnist, every term on, synthetic Fashion-MNIST-shaped images."""
    config = configs.all_terms_on(configs.load_experiment("fashion_mnist_lpga"))
    config.dataset = config.data.source = "synthetic"
    config.data.synthetic_size = 64 if sizes.smoke else 2048
    config.batch_size = sizes.batch_size
    config.num_steps = sizes.steps * (sizes.repeats + 1)
    config.log_every = sizes.steps
    config.image_every = config.checkpoint_every = config.num_steps
    config.steps_per_dispatch = k
    config.optim.learning_rate = 0.01  # every seed stable with all terms on from step 0
    config.precision = precision
    return config


def bare_steps_per_s(config, sizes: Sizes) -> float:
    return population.time_bare_step(config, sizes.steps, sizes.repeats)


def loop_steps_per_s(member_configs: list) -> float:
    """The training loop's own steps/s (metrics.jsonl), median over the logs after the first
    (which includes compiling); a population when there are several configs."""
    from pga_jax import curves  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as root:
        workdirs = [os.path.join(root, str(i)) for i in range(len(member_configs))]
        if len(member_configs) == 1:
            training.train_and_evaluate(member_configs[0], workdirs[0])
        else:
            training.train_population(member_configs, workdirs, member_axis="vmap")
        rows = list(curves.read_metrics(workdirs[0]).values())
    rates = [r[training.STEPS_PER_SEC] for r in rows[1:]] or [rows[-1][training.STEPS_PER_SEC]]
    return statistics.median(rates)


def part_devices(sizes: Sizes, deadline: float) -> list[dict]:
    import flax  # noqa: PLC0415

    dev = jax.devices()
    return [
        {
            "backend": jax.default_backend(),
            "devices": [str(d) for d in dev],
            "device_kind": dev[0].device_kind,
            "jax": jax.__version__,
            "flax": flax.__version__,
            "python": sys.version.split()[0],
        }
    ]


def part_loop(sizes: Sizes, deadline: float) -> list[dict]:
    rows = []
    for precision in PRECISIONS:
        if time.time() > deadline:
            break
        bare = bare_steps_per_s(lpga_config(sizes, precision), sizes)
        rows.append({"precision": precision, "k": "bare", "steps_per_s": bare, "vs_bare": 1.0})
        for k in sizes.ks:
            if time.time() > deadline:
                break
            rate = loop_steps_per_s([lpga_config(sizes, precision, k)])
            rows.append(
                {"precision": precision, "k": k, "steps_per_s": rate, "vs_bare": rate / bare}
            )
    return rows


def _widened(tree):
    def widen(a):
        return jnp.asarray(a, jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(widen, tree)


def _terms_and_grads(model, state, batch, hparams, rng):
    """{term: (value, gradient over both networks)} of one state and batch (one compiled
    function: the terms and their Jacobian, a gradient per term)."""

    def terms(params):
        nets = model.networks(params, state.batch_stats)
        return model.objective.compute_terms(hparams, nets, batch, rng)

    def both(params):
        with model.precision_scope():
            return terms(params), jax.jacrev(terms)(params)

    values, grads = jax.jit(both)(state.params)
    return {
        k: (np.asarray(values[k], np.float64), jax.tree.map(np.asarray, grads[k])) for k in values
    }


def _relative(a, b) -> float:
    la = [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(a)]
    lb = [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(b)]
    diff = math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(la, lb, strict=True)))
    norm = math.sqrt(sum(float(np.sum(y**2)) for y in lb))
    return diff / norm if norm else float("nan")


def part_precision(sizes: Sizes, deadline: float) -> list[dict]:
    rows = []
    for objective in sizes.objectives:
        if time.time() > deadline:
            break
        config = configs.all_terms_on(configs.load_experiment(f"fashion_mnist_{objective}"))
        config.batch_size = sizes.batch_size
        shape = data.image_shape(config.dataset)
        batch = np.random.default_rng(0).uniform(-1, 1, (config.batch_size, *shape))
        batch = batch.astype(np.float32)
        hparams, rng = configs.objective_hparams(config), jax.random.PRNGKey(1)
        results = {}
        for precision in PRECISIONS:
            config.precision = precision
            state, model = training.create_train_state(config, shape)
            results[precision] = _terms_and_grads(model, state, jnp.asarray(batch), hparams, rng)
        config.model.fast_layers, config.precision = False, "default"
        _, plain = training.create_train_state(config, shape)
        cpu = jax.devices("cpu")[0]
        with jax.enable_x64(True), jax.default_device(cpu):
            exact = _terms_and_grads(
                plain,
                _widened(jax.device_put(state, cpu)),
                jnp.asarray(batch, jnp.float64),
                _widened(jax.device_put(hparams, cpu)),
                jax.device_put(rng, cpu),
            )
        for name, (value64, grad64) in exact.items():
            row = {"objective": objective, "term": name}
            for precision, res in results.items():
                value, grad = res[name]
                row[f"value_{precision}"] = float(abs(value - value64) / max(abs(value64), 1e-30))
                row[f"grad_{precision}"] = _relative(grad, grad64)
            rows.append(row)
    return rows


def part_populations(sizes: Sizes, deadline: float) -> list[dict]:
    rows, single = [], None
    for m in sizes.members:
        if time.time() > deadline:
            break
        member_configs = []
        for seed in range(m):
            config = lpga_config(sizes)
            config.seed = seed
            member_configs.append(config)
        rate = loop_steps_per_s(member_configs)
        single = rate if m == 1 else single
        rows.append(
            {
                "members": m,
                "steps_per_s": rate,
                "member_steps_per_s": m * rate,
                "vs_one_run": m * rate / single if single else None,
            }
        )
    return rows


def part_fid_features(sizes: Sizes, deadline: float) -> list[dict]:
    from pga_jax.fid import inception  # noqa: PLC0415

    fn = inception.make_feature_fn(inception.init_random_params(seed=0))
    images = np.random.default_rng(0).integers(0, 256, (sizes.fid_images, 28, 28, 1), np.uint8)
    fn(images[: max(1, len(images) // 4)])  # compiles
    t = time.perf_counter()
    fn(images)
    seconds = time.perf_counter() - t
    return [{"images": len(images), "seconds": seconds, "images_per_s": len(images) / seconds}]


def _table1_configs(sizes: Sizes, objective: str, steps: int) -> list:
    out = []
    for seed in SEEDS:
        config = configs.load_experiment(
            f"fashion_mnist_{objective}", "smoke" if sizes.smoke else None
        )
        config.seed, config.num_steps = seed, steps
        config.checkpoint_every = config.image_every = steps
        config.log_every = max(1, min(config.log_every, steps))
        out.append(config)
    return out


def _train_table1(root: str, sizes: Sizes, steps: int) -> dict[str, list[str]]:
    workdirs = {}
    for objective in TABLE1:
        dirs = [os.path.join(root, f"fashion_mnist_{objective}", f"seed={s}") for s in SEEDS]
        training.train_population(_table1_configs(sizes, objective, steps), dirs)
        workdirs[objective] = dirs
    return workdirs


def _fid_feature_fn(sizes: Sizes):
    """The real Inception network (None where its weights are missing), or, at toy sizes, a
    random one (the pipeline runs; the number means nothing)."""
    from pga_jax.fid import inception, score  # noqa: PLC0415

    if sizes.smoke:
        return inception.make_feature_fn(inception.init_random_params(seed=0))
    try:
        return score.get_feature_fn(weights_path=sizes.fid_weights)
    except Exception as e:  # missing or unreadable weights: train and report without FID
        logging.warning("FID skipped: %s", e)
        return None


def part_table1(sizes: Sizes, deadline: float, out: str) -> list[dict]:
    from pga_jax import evaluate, report  # noqa: PLC0415
    from pga_jax.fid import score  # noqa: PLC0415

    root = tempfile.mkdtemp(prefix="table1_")
    t = time.time()
    first = min(sizes.table1_steps, 2 if sizes.smoke else 200)
    _train_table1(root, sizes, first)  # compiles, and times the steps
    per_step = (time.time() - t) / first
    reserve = 30 if sizes.smoke else 150  # statistics, 15 evaluations, the report
    steps = first
    if deadline - time.time() > reserve:
        fits = int((deadline - time.time() - reserve) / per_step * 0.9) + first
        steps = max(first, min(sizes.table1_steps, fits // 100 * 100 if fits > 100 else fits))
    if steps > first:  # the populations resume from their checkpoints
        workdirs = _train_table1(root, sizes, steps)
    else:
        workdirs = _train_table1(root, sizes, first)
    row = {"steps": steps, "seeds": len(SEEDS), "train_s": time.time() - t}
    feature_fn = _fid_feature_fn(sizes)
    all_dirs = [d for dirs in workdirs.values() for d in dirs]
    if feature_fn is None:
        row["fid_skipped"] = "no FID weights (see docs/devices.md)"
    else:
        config = configs.load_experiment("fashion_mnist_lpga", "smoke" if sizes.smoke else None)
        images = training.load_training_images(config)
        images = images if sizes.ref_images is None else images[: sizes.ref_images]
        ref_path = os.path.join(root, "fashion_mnist_train_stats.npz")
        score.save_stats(ref_path, score.compute_stats(images, feature_fn, keep_features=0))
        evaluate.evaluate_many(
            all_dirs,
            num_samples=sizes.fid_samples,
            fid_ref_stats=ref_path,
            feature_fn=feature_fn,
            num_images=4,
            num_interpolations=2,
            interpolation_steps=2,
            tensorboard=False,
            allow_unverified_ref=sizes.smoke,  # toy sizes: random Inception weights
        )
        report.write_report(all_dirs, os.path.join(root, "report"))
        shutil.copy(os.path.join(root, "report", "table.md"), os.path.join(out, "table1.md"))
        shutil.copy(os.path.join(root, "report", "runs.csv"), os.path.join(out, "table1_runs.csv"))
    row["seconds"] = time.time() - t
    shutil.rmtree(root, ignore_errors=True)
    return [row]


PARTS = {
    "devices": part_devices,
    "loop": part_loop,
    "precision": part_precision,
    "populations": part_populations,
    "fid_features": part_fid_features,
    "table1": part_table1,
}


# ---- output -----------------------------------------------------------------------------------


def _markdown(results: dict) -> str:
    lines = ["# device check", ""]
    for name, result in results.items():
        lines += [f"## {name} ({result['seconds']:.0f} s)", ""]
        if "error" in result:
            lines += ["error: " + result["error"], ""]
        rows = result.get("rows", [])
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            lines.append("| " + " | ".join(keys) + " |")
            lines.append("|" + "---|" * len(keys))
            for r in rows:
                cells = [r.get(k, "") for k in keys]
                cells = [f"{c:.3g}" if isinstance(c, float) else str(c) for c in cells]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _save(out: str, results: dict) -> None:
    with open(os.path.join(out, "device_check.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    with open(os.path.join(out, "device_check.md"), "w") as f:
        f.write(_markdown(results))


def run(
    out: str, budget_s: float, smoke: bool, parts: list[str] | None = None, fid_weights: str = ""
) -> dict:
    """Runs the parts in order within `budget_s`; returns (and saves) every part's result."""
    os.makedirs(out, exist_ok=True)
    sizes, start, results = Sizes(smoke, fid_weights), time.time(), {}
    names = parts or list(PARTS)
    shares = {n: SHARES[n] for n in names}
    for i, name in enumerate(names):
        left = budget_s - (time.time() - start)
        share = shares[name] / sum(shares[n] for n in names[i:])
        deadline = time.time() + left * share
        t = time.time()
        logging.info("device check: %s (%.0f s of %.0f s left)", name, left * share, left)
        try:
            args = (sizes, deadline, out) if name == "table1" else (sizes, deadline)
            results[name] = {"rows": PARTS[name](*args)}
        except Exception as e:  # a part that fails leaves the others' results
            results[name] = {"error": f"{type(e).__name__}: {e}", "rows": []}
            traceback.print_exc()
        results[name]["seconds"] = time.time() - t
        _save(out, results)
    return results


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    parts = [p for p in FLAGS.parts.split(",") if p] or None
    unknown = set(parts or []) - set(PARTS)
    if unknown:
        raise app.UsageError(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    results = run(FLAGS.out, FLAGS.budget_s, FLAGS.smoke, parts, FLAGS.fid_weights)
    print(_markdown(results))


if __name__ == "__main__":
    app.run(main)
