"""Evaluate a trained run: FID, sample grid (Fig. 2), reconstructions, interpolations (Fig. 7).

    python -m pga_jax.evaluate --workdir=runs/cifar_vpga [--fid_ref_stats=ref.npz] \
        [--num_samples=5000] [--seed=0]

Restores the latest checkpoint of WORKDIR with WORKDIR/config.json (nothing is trained) and
writes WORKDIR/eval/:

- ``eval.json``: the step, the run's dataset / architecture / objective settings, the sample
  seed, and the FID dict of ``pga_jax.fid.score`` (fid, n, protocol, weights_sha256, n_ref, and
  KID / precision / recall when the reference statistics hold features), or ``fid: null`` and
  ``fid_skipped``: why (no reference statistics were given or configured);
- ``samples.png``: g_theta(z), z ~ N(0, I) (Fig. 2);
- ``reconstructions.png``: held-out images next to g_theta(mu_phi(x));
- ``interpolations_data.png``: each row x_a, g((1 - t) mu_phi(x_a) + t mu_phi(x_b)) for
  t = 0 .. 1, x_b; the t = 0 and t = 1 images are the reconstructions of x_a and x_b;
- ``interpolations_prior.png``: each row g((1 - t) z_a + t z_b), z_a, z_b ~ N(0, I) (Fig. 7);
- TensorBoard events with the same images and the FID (``tensorboard --logdir WORKDIR/eval``).

The FID is of ``--num_samples`` samples (the paper's 5,000 by default; FID is biased by N, so
compare at equal N), generated ``config.fid_batch_size`` at a time like the trainer's. Real
images come from the dataset's test split (CelebA: the training split, as the paper uses every
image). With BatchNorm (CIFAR-10, CelebA) every network call normalises with its own batch's
statistics, as in training, so there an image depends slightly on the batch it is decoded in.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from pga_jax import (
    atomic,
    checkpointing,
    configs,
    errors,
    images,
    models,
    train,
    workdirs,
    writers,
)

_NO_REF = (
    "no FID reference statistics: make them with python -m pga_jax.fid stats --dataset={dataset} "
    "(then they are found in the cache), or pass --fid_ref_stats=FILE.npz, or set "
    "config.fid_ref_stats"
)


class EvaluationError(errors.UserError, RuntimeError):
    """A run that cannot be evaluated as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Run:
    """A trained run restored from its workdir: config, state (latest checkpoint), model."""

    workdir: str
    config: ml_collections.ConfigDict
    state: train.TrainState
    model: train.Model

    @property
    def step(self) -> int:
        return int(self.state.step)


def read_config(workdir: str, step: int | None = None) -> ml_collections.ConfigDict:
    """WORKDIR/config.json: the settings in force at training step `step` (default: those of
    the latest checkpoint), i.e. with the changes recorded before it applied."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise EvaluationError(
            f"{workdir} has no config.json: not a training workdir "
            "(train first: python -m pga_jax.main --config=... --workdir=...)"
        )
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise EvaluationError(f"{path} cannot be read as JSON ({e}); restore it from a copy") from e
    if step is None:
        step = workdirs.latest_checkpoint_step(workdir) or 0
    return configs.in_force(saved, step)  # older runs' names (LVPGA's vrec, ...) upgraded


def load_run(workdir: str, config: ml_collections.ConfigDict | None = None) -> Run:
    """The latest checkpoint of `workdir`, restored with `config` (default: config.json)."""
    config = read_config(workdir) if config is None else config
    if workdirs.latest_checkpoint_step(workdir) is None:
        raise EvaluationError(f"{workdir} has no checkpoint; train (or resume) it first")
    state, model = train.create_train_state(config, models.OUTPUT_SHAPES[config.model.arch])
    checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
    try:
        restored = checkpointer.restore_latest(state)
    finally:
        checkpointer.close()
    if restored is None:
        raise EvaluationError(f"{workdir} has no checkpoint; train (or resume) it first")
    return Run(workdir, config, restored, model)


def make_encode(model: train.Model):
    """jitted (state, x) -> mu_phi(x)."""

    def encode(state, x):
        return model.networks(state).encode(x)[0]

    return jax.jit(encode)


def interpolate(z_a: np.ndarray, z_b: np.ndarray, steps: int) -> np.ndarray:
    """[K, steps, Z] latents (1 - t) z_a + t z_b, t = 0, 1/(steps-1), ..., 1, row k from pair k.

    The first and last columns are z_a and z_b exactly.
    """
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z_a, z_b = np.asarray(z_a, np.float32)[:, None], np.asarray(z_b, np.float32)[:, None]
    return (1.0 - t) * z_a + t * z_b


def decode_interpolations(run: Run, generate, z_a, z_b, steps: int) -> np.ndarray:
    """[K, steps, H, W, C]: g_theta of `interpolate(z_a, z_b, steps)`, decoded as one batch."""
    z = interpolate(z_a, z_b, steps)
    k = z.shape[0]
    out = np.asarray(generate(run.state, jnp.asarray(z.reshape(k * steps, -1))))
    return out.reshape(k, steps, *out.shape[1:])


def encoded_interpolations(run: Run, encode, generate, x_a, x_b, steps: int) -> np.ndarray:
    """[K, steps, H, W, C] decoded between mu_phi(x_a[k]) and mu_phi(x_b[k]).

    x_a and x_b are encoded in one batch; the end columns are g(mu(x_a)) and g(mu(x_b)).
    """
    mu = np.asarray(encode(run.state, jnp.asarray(np.concatenate([x_a, x_b]))))
    k = len(x_a)
    return decode_interpolations(run, generate, mu[:k], mu[k:], steps)


def held_out_images(config: ml_collections.ConfigDict, split: str, num: int, seed: int):
    """`num` distinct images of `split` in [-1, 1], drawn with `seed` (float32 NHWC)."""
    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.data.split = split
    pool = train.load_training_images(cfg)
    if len(pool) < num:
        raise EvaluationError(
            f"split {split!r} of {config.dataset} has {len(pool)} images, fewer than the {num} "
            "needed; lower --num_images / --num_interpolations or pick another --split"
        )
    idx = np.sort(np.random.default_rng(seed).choice(len(pool), num, replace=False))
    return np.asarray(pool[idx]).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def default_split(config: ml_collections.ConfigDict) -> str:
    """The split of the real images: "test", or CelebA's training split (the paper trains on
    every CelebA image)."""
    return config.data.split if config.dataset == "celeb_a" else "test"


def reference_split(config: ml_collections.ConfigDict) -> str:
    """The split of the FID reference statistics: "train" (all training images, as the paper),
    or CelebA's training split."""
    return config.data.split if config.dataset == "celeb_a" else "train"


def load_ref_stats(flag_value: str, config: ml_collections.ConfigDict, protocol: str | None = None):
    """(statistics dict, path, None), or (None, None, why the FID is skipped).

    The statistics are, in order: `flag_value`, the config's `fid_ref_stats`, else those that
    ``python -m pga_jax.fid stats --dataset=<the run's dataset>`` caches for the paper's
    reference split (all training images; CelebA: the run's split) and `protocol`. Runs on
    synthetic data have no cached reference. An explicitly given file must exist and be
    readable; the config's may be unset or absent (e.g. a run copied from another machine),
    which skips the FID.
    """
    from pga_jax.fid import reference, resize, score  # noqa: PLC0415

    no_ref = _NO_REF.format(dataset=config.dataset)
    path = flag_value
    if not path:
        path = config.get("fid_ref_stats", "")
        if path and not os.path.isfile(path):
            return None, None, f"config.fid_ref_stats={path} does not exist; {no_ref}"
    if not path and config.data.source != "synthetic":
        cached = reference.default_stats_path(
            config.dataset, reference_split(config), protocol or resize.DEFAULT_PROTOCOL
        )
        path = str(cached) if cached.is_file() else ""
    if not path:
        return None, None, no_ref
    if not os.path.isfile(path):
        raise EvaluationError(f"--fid_ref_stats={path} does not exist")
    try:
        return score.load_stats(path), path, None
    except ValueError as e:
        raise EvaluationError(str(e)) from e


def compute_fid(
    samples: np.ndarray,
    ref: dict,
    *,
    feature_fn=None,
    protocol: str | None = None,
    weights_path: str | None = None,
    feature_batch_size: int | None = None,
) -> dict:
    """FID dict of `samples` against the statistics dict `ref` (see fid.score)."""
    from pga_jax.fid import resize, score  # noqa: PLC0415  (loads Inception only when needed)

    if feature_fn is None:
        if protocol is None:
            ref_protocol = ref["protocol"]
            protocol = resize.DEFAULT_PROTOCOL if ref_protocol == score.UNKNOWN else ref_protocol
        feature_fn = score.get_feature_fn(protocol, weights_path, None, feature_batch_size)
    try:
        result = score.score_arrays(samples, ref, feature_fn=feature_fn)
    except ValueError as e:  # protocol / weights of the reference differ from the samples'
        raise EvaluationError(f"FID: {e}") from e
    if result["n"] != score.PAPER_N:
        logging.warning("FID of N=%d samples: the paper used N=%d", result["n"], score.PAPER_N)
    return result


def evaluate(
    workdir: str,
    *,
    num_samples: int = 5000,
    fid_ref_stats: str = "",
    protocol: str | None = None,
    fid_weights: str | None = None,
    feature_batch_size: int | None = None,
    feature_fn=None,
    seed: int = 0,
    split: str = "",
    num_images: int = 64,
    num_interpolations: int = 8,
    interpolation_steps: int = 10,
    save_samples: bool = False,
    tensorboard: bool = True,
) -> dict:
    """Writes WORKDIR/eval/ (see the module docstring) and returns the eval.json dict.

    `feature_fn` (a ``fid.inception.FeatureFn`` or any callable images -> features with
    ``protocol`` and ``weights_sha256`` attributes) replaces the real Inception network.
    """
    for name, value in (("num_samples", num_samples), ("num_images", num_images)):
        if value <= 0:
            raise EvaluationError(f"--{name}={value} must be positive")
    if num_interpolations <= 0:
        raise EvaluationError(f"--num_interpolations={num_interpolations} must be positive")
    if interpolation_steps < 2:
        raise EvaluationError(f"--interpolation_steps={interpolation_steps} must be at least 2")
    config = read_config(workdir)
    ref, ref_path, skipped = load_ref_stats(fid_ref_stats, config, protocol)
    run = load_run(workdir, config)
    model = run.model
    split = split or default_split(config)
    eval_dir = os.path.join(workdir, workdirs.EVAL_DIR)
    generate, reconstruct = train.make_generate(model), train.make_reconstruct(model)
    encode = make_encode(model)
    key_fid, key_grid, key_prior = jax.random.split(jax.random.PRNGKey(seed), 3)
    logging.info("Evaluating %s at step %d", workdir, run.step)

    grids: dict[str, np.ndarray] = {}
    z = jax.random.normal(key_grid, (num_images, model.z_dim))
    samples = np.asarray(generate(run.state, z))
    grids["samples"] = images.make_grid(samples, ncols=int(math.sqrt(num_images)))

    num_recon = max(num_images // 2, 1)
    real = held_out_images(config, split, num_recon + 2 * num_interpolations, seed)
    recon_x, x_a, x_b = np.split(real, [num_recon, num_recon + num_interpolations])
    recons = np.asarray(reconstruct(run.state, jnp.asarray(recon_x)))
    ncols = 2 * max(int(math.sqrt(num_recon * 2)) // 2, 1)
    grids["reconstructions"] = images.make_grid(images.interleave(recon_x, recons), ncols)

    strips = encoded_interpolations(run, encode, generate, x_a, x_b, interpolation_steps)
    rows = np.concatenate([x_a[:, None], strips, x_b[:, None]], axis=1)
    grids["interpolations_data"] = images.make_grid(
        rows.reshape(-1, *rows.shape[2:]), ncols=interpolation_steps + 2
    )
    z_ab = jax.random.normal(key_prior, (2, num_interpolations, model.z_dim))
    strips = decode_interpolations(run, generate, z_ab[0], z_ab[1], interpolation_steps)
    grids["interpolations_prior"] = images.make_grid(
        strips.reshape(-1, *strips.shape[2:]), ncols=interpolation_steps
    )
    for name, grid in grids.items():
        images.save_png(os.path.join(eval_dir, f"{name}.png"), grid)

    fid = None
    if ref_path is None:
        logging.warning("FID skipped: %s", skipped)
    if ref_path is not None or save_samples:
        batch = min(config.fid_batch_size, num_samples)
        fid_samples = train.generate_samples(
            run.state, model, generate, num_samples, batch, key_fid
        )
        if save_samples:
            with atomic.replacing(os.path.join(eval_dir, "samples.npz")) as tmp:
                np.savez_compressed(tmp, images=images.to_uint8(fid_samples))
        if ref_path is not None:
            fid = compute_fid(
                fid_samples,
                ref,
                feature_fn=feature_fn,
                protocol=protocol,
                weights_path=fid_weights,
                feature_batch_size=feature_batch_size,
            )
            fid["ref_stats"] = os.path.abspath(ref_path)

    result = {
        "workdir": os.path.abspath(workdir),
        "step": run.step,
        "dataset": config.dataset,
        "arch": config.model.arch,
        "z_dim": config.model.z_dim,
        "objective": config.objective.to_dict(),
        "config_seed": config.seed,
        "sample_seed": seed,
        "split": split,
        "num_samples": num_samples,
        "fid": fid,
        "images": {name: f"{name}.png" for name in grids},
        "backend": jax.default_backend(),
    }
    if fid is None:
        result["fid_skipped"] = skipped
    os.makedirs(eval_dir, exist_ok=True)
    path = workdirs.eval_json(workdir)
    atomic.write_json(path, result)
    if tensorboard:
        _write_tensorboard(eval_dir, run.step, grids, fid)
    return result


def _write_tensorboard(eval_dir: str, step: int, grids: dict, fid: dict | None) -> None:
    writer = writers.create_writer(eval_dir)
    writer.write_images(step, {f"eval/{k}": v[None] for k, v in grids.items()})
    if fid is not None:
        writer.write_scalars(step, {"eval/fid": fid["fid"]})
    writer.flush()
    writer.close()
