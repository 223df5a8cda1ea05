"""Evaluate a trained run: FID, sample grid (Fig. 2), reconstructions, interpolations (Fig. 7).

    python -m pga_jax.evaluate --workdir=runs/cifar_vpga [--fid_ref_stats=ref.npz] \
        [--num_samples=5000] [--seed=0]
    python -m pga_jax.evaluate --workdir=runs/cifar_vpga --workdir='runs/cifar_lpga/*' ...

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
- with ``log_det_latents=N`` (``--log_det_latents=1000``), Proposition 1 measured
  (``log_det.py``): the exact log|det dh/dz| next to the surrogate L_nll^theta trains with, at
  z = mu_phi(x) of N held-out images and at N latents z ~ N(0, I), in eval.json's ``log_det``
  and in ``log_det.png`` (the surrogate against eps beside the exact value);
- TensorBoard events with the same images and the FID (``tensorboard --logdir WORKDIR/eval``).

The FID is of ``--num_samples`` samples (the paper's 5,000 by default; FID is biased by N, so
compare at equal N), generated ``config.fid_batch_size`` at a time like the trainer's. Real
images come from the dataset's test split (CelebA: the training split, as the paper uses every
image). With BatchNorm (CIFAR-10, CelebA) every network call normalises with its own batch's
statistics, as in training, so there an image depends slightly on the batch it is decoded in.

Several workdirs (`evaluate_many`; the flag repeated, or a quoted glob standing for the
training workdirs it matches) are each evaluated as alone, with the same flags, and written
as above, but the feature network runs once over all their FID samples (one pass per
reference statistics file and protocol) and each is scored on its own features. Every
workdir is checked and sampled before any feature is computed and nothing is written before
all are scored: one that cannot be evaluated is a one-line error naming it, and no workdir's
eval/ is touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import types
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from pga_jax import (
    atomic,
    checkpointing,
    configs,
    data,
    errors,
    images,
    sharding,
    training,
    workdirs,
    writers,
)
from pga_jax.evaluate import log_det

_NO_REF = (
    "no FID reference statistics: make them with python -m pga_jax.fid stats --dataset={dataset} "
    "(then they are found in the cache), or pass {argument}=FILE.npz, or set "
    "config.fid_ref_stats"
)
# How to make a statistics file from images in Python (the API's errors add it).
MAKE_REF_IN_PYTHON = (
    "from images: pga_jax.fid.score.save_stats('FILE.npz', pga_jax.fid.score.compute_stats("
    "images, pga_jax.fid.score.get_feature_fn()))"
)

_NO_CHECKPOINT = "{workdir} has no checkpoint; train (or resume) it first"


class EvaluationError(errors.UserError, RuntimeError):
    """A run that cannot be evaluated as asked; the message says what to change."""


class WorkdirError(EvaluationError):
    """One of several workdirs cannot be evaluated; the message names it (``.workdir``)."""

    def __init__(self, workdir: str, message: str):
        super().__init__(message)
        self.workdir = workdir


@dataclasses.dataclass(frozen=True)
class RestoredRun:
    """A trained run restored from its workdir: config, state (latest checkpoint), model."""

    workdir: str
    config: ml_collections.ConfigDict
    state: training.TrainState
    model: training.Model
    verified: bool = True  # False: its checkpoint had no checksums (allow_unverified)

    @property
    def step(self) -> int:
        return int(self.state.step)


def expand_workdirs(patterns: Sequence[str]) -> list[str]:
    """The workdirs of `patterns`, each a workdir or a shell glob (``runs/cifar_lpga/*``,
    ``**`` allowed) standing for the training workdirs (folders with a config.json) it matches,
    sorted; a glob that matches none is an EvaluationError. A pattern that is an existing
    folder is that folder. Each workdir is kept once, in the order first given."""
    found: dict[str, str] = {}  # normalised path -> as first given
    for pattern in patterns:
        matches = [pattern]
        if glob.has_magic(pattern) and not os.path.isdir(pattern):
            candidates = glob.glob(pattern, recursive=True)
            matches = sorted(
                m for m in candidates if os.path.isfile(os.path.join(m, "config.json"))
            )
            if not matches:
                raise EvaluationError(
                    f"--workdir={pattern} matches no training workdir (a folder with config.json)"
                )
        for workdir in matches:
            found.setdefault(os.path.normpath(workdir), workdir)
    return list(found.values())


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


def load_run(
    workdir: str,
    config: ml_collections.ConfigDict | None = None,
    step: int | None = None,
    allow_unverified: bool = False,
) -> RestoredRun:
    """The latest checkpoint of `workdir` (or that of `step`), restored with `config`
    (default: config.json's settings in force at that step). A checkpoint without checksums
    is a CheckpointError unless `allow_unverified` (then `verified` is False)."""
    config = read_config(workdir, step) if config is None else config
    _require_checkpoint(workdir)
    # the networks only: no optimiser state
    loaded = training.load_for_inference(config, workdir, step, allow_unverified)
    if loaded is None:
        raise EvaluationError(_NO_CHECKPOINT.format(workdir=workdir))
    state, model = loaded
    verified = checkpointing.has_checksums(workdir, int(state.step))
    return RestoredRun(workdir, config, state, model, verified)


def _require_checkpoint(workdir: str) -> None:
    if workdirs.latest_checkpoint_step(workdir) is None:
        raise EvaluationError(_NO_CHECKPOINT.format(workdir=workdir))


def interpolate(z_a: np.ndarray, z_b: np.ndarray, steps: int) -> np.ndarray:
    """[K, steps, Z] latents (1 - t) z_a + t z_b, t = 0, 1/(steps-1), ..., 1, row k from pair k.

    The first and last columns are z_a and z_b exactly.
    """
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z_a, z_b = np.asarray(z_a, np.float32)[:, None], np.asarray(z_b, np.float32)[:, None]
    return (1.0 - t) * z_a + t * z_b


def decode_interpolations(run: RestoredRun, generate, z_a, z_b, steps: int) -> np.ndarray:
    """[K, steps, H, W, C]: g_theta of `interpolate(z_a, z_b, steps)`, decoded as one batch."""
    z = interpolate(z_a, z_b, steps)
    k = z.shape[0]
    out = np.asarray(generate(run.state, jnp.asarray(z.reshape(k * steps, -1))))
    return out.reshape(k, steps, *out.shape[1:])


def encoded_interpolations(run: RestoredRun, encode, generate, x_a, x_b, steps: int) -> np.ndarray:
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
    pool = training.load_training_images(cfg)
    if len(pool) < num:
        raise EvaluationError(
            f"split {split!r} of {config.dataset} has {len(pool)} images, fewer than the {num} "
            "needed; lower --num_images / --num_interpolations or pick another --split"
        )
    idx = np.sort(np.random.default_rng(seed).choice(len(pool), num, replace=False))
    return np.asarray(pool[idx]).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def default_split(config: ml_collections.ConfigDict) -> str:
    """The split of the real images: the dataset's evaluation split ("test"; CelebA: the run's
    training split, the paper trains on every CelebA image)."""
    return data.get(config.dataset).eval_split or config.data.split


def reference_split(config: ml_collections.ConfigDict) -> str:
    """The split of the FID reference statistics: the dataset's reference split ("train", all
    training images as the paper; CelebA: the run's training split)."""
    return data.get(config.dataset).reference_split or config.data.split


def load_ref_stats(
    flag_value: str,
    config: ml_collections.ConfigDict,
    protocol: str | None = None,
    argument: str = "--fid_ref_stats",
    allow_unverified: bool = False,
):
    """(statistics dict, path, None), or (None, None, why the FID is skipped).

    The statistics are, in order: `flag_value`, the config's `fid_ref_stats`, else those that
    ``python -m pga_jax.fid stats --dataset=<the run's dataset>`` caches for the paper's
    reference split (all training images; CelebA: the run's split) and `protocol`. Runs on
    synthetic data have no cached reference. An explicitly given file must exist and be
    readable; the config's may be unset or absent (e.g. a run copied from another machine),
    which skips the FID. `argument` is how the caller's user gave `flag_value` (the command
    line's --fid_ref_stats, the API's `ref`), named in the messages. Statistics without a
    protocol or weights checksum are refused unless `allow_unverified` (--allow_unverified_ref).
    """
    from pga_jax.fid import reference, resize, score  # noqa: PLC0415

    no_ref = _NO_REF.format(dataset=config.dataset, argument=argument)
    path = flag_value
    if not path:
        path = config.get("fid_ref_stats", "")
        if path and not os.path.isfile(path):
            return None, None, f"config.fid_ref_stats={path} does not exist; {no_ref}"
    if not path and config.data.source != "synthetic":
        cached = reference.default_stats_path(
            config.dataset,
            reference_split(config),
            protocol or resize.DEFAULT_PROTOCOL,
            celeba_crop=configs.load_options(config)["celeba_crop"],
        )
        path = str(cached) if cached.is_file() else ""
    if not path:
        return None, None, no_ref
    if not os.path.isfile(path):
        raise EvaluationError(f"{argument}={path} does not exist; {no_ref[len('no FID ') :]}")
    try:
        return score.load_stats(path, allow_unverified), path, None
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
    if feature_fn is None:
        feature_fn = _reference_feature_fn(ref, protocol, weights_path, feature_batch_size)
    _check_scorable(samples, ref, feature_fn)
    return _score_features(feature_fn(samples), ref, feature_fn)


def _reference_feature_fn(ref: dict, protocol, weights_path, batch_size):
    from pga_jax.fid import score  # noqa: PLC0415  (loads Inception only when needed)

    return score.reference_feature_fn(ref, protocol, weights_path, batch_size)


def _check_scorable(samples: np.ndarray, ref: dict, feature_fn, crop: int | None = None) -> None:
    """EvaluationError, before any feature is computed, for samples the FID would refuse
    (`crop`: the run's CelebA crop, compared with the statistics')."""
    from pga_jax.fid import resize, score  # noqa: PLC0415

    try:
        resize.check_images(samples)
        score.check_scorable(score.image_shape_of(samples), ref, feature_fn, crop)
    except ValueError as e:  # protocol / weights / image shape of the reference differ
        raise EvaluationError(f"FID: {e}") from e


def _score_features(features, ref: dict, feature_fn) -> dict:
    """FID dict (+ KID, precision / recall) of the samples' `features` against `ref`."""
    from pga_jax.fid import score  # noqa: PLC0415

    try:
        result = score.score_features(
            features, ref, protocol=feature_fn.protocol, weights_sha256=feature_fn.weights_sha256
        )
    except ValueError as e:
        raise EvaluationError(f"FID: {e}") from e
    if result["n"] != score.PAPER_N:
        logging.warning("FID of N=%d samples: the paper used N=%d", result["n"], score.PAPER_N)
    return result


def evaluate(workdir: str, **options) -> dict:
    """Writes WORKDIR/eval/ (see the module docstring) and returns the eval.json dict.

    `options`: the keyword arguments of `evaluate_many` (num_samples=5000, fid_ref_stats, ...,
    feature_fn), declared there once.
    """
    return evaluate_many([workdir], **options)[0]


@dataclasses.dataclass
class _Job:
    """One workdir's evaluation in `evaluate_many`, kept in memory until all are scored."""

    workdir: str
    config: ml_collections.ConfigDict
    split: str
    ref: dict | None
    ref_path: str | None
    skipped: str | None  # why there is no FID (ref_path is None)
    feature_fn: object = None  # the FID's, when there is a reference
    step: int = -1
    grids: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    samples: np.ndarray | None = None  # the FID's, when scored or saved
    fid: dict | None = None
    log_det: dict | None = None  # Prop. 1's numbers, when asked (log_det_latents > 0)
    verified: bool = True  # whether the checkpoint had checksums


def evaluate_many(
    workdir_list: Sequence[str],
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
    log_det_latents: int = 0,
    tensorboard: bool = True,
    allow_unverified_checkpoint: bool = False,
    allow_unverified_ref: bool = False,
) -> list[dict]:
    """`evaluate` of each workdir (the same options for all): writes what it writes and
    returns the eval.json dicts, in order, each the same as `evaluate(workdir, ...)`'s.

    Every workdir is checked first (config, checkpoint, reference statistics), then each one's
    grids and FID samples are made, then the feature network runs once over the samples of all
    workdirs that share reference statistics and protocol (one pass per such group), and each
    workdir is scored on its own rows of the features. Nothing is written before every score
    is known: a workdir that cannot be evaluated is one `WorkdirError` naming it (with a single
    workdir, the error `evaluate` raises), and no workdir's eval/ is touched.

    `feature_fn` (a ``fid.inception.FeatureFn`` or any callable images -> features with
    ``protocol`` and ``weights_sha256`` attributes) replaces the real Inception network.
    `allow_unverified_checkpoint`: evaluate checkpoints without checksums (eval.json records
    checkpoint_verified: false); `allow_unverified_ref`: score against statistics without a
    protocol / weights checksum (the FID records ref_verified: false).
    """
    opts = types.SimpleNamespace(**locals())  # first: the arguments only
    if isinstance(workdir_list, str | os.PathLike):
        raise TypeError("evaluate_many takes a list of workdirs; evaluate takes one")
    workdir_list = list(workdir_list)
    _check_options(opts)
    _check_distinct(workdir_list)
    many = len(workdir_list) > 1
    jobs, refs = [], {}
    for workdir in workdir_list:
        with _naming(workdir, many):
            jobs.append(_prepare(workdir, opts, refs))
    for job in jobs:
        with _naming(job.workdir, many):
            _generate(job, opts)
    _score_in_groups(jobs, many)
    return [_write(job, opts) for job in jobs]


def _check_options(opts) -> None:
    for name in ("num_samples", "num_images", "num_interpolations"):
        if getattr(opts, name) <= 0:
            raise EvaluationError(f"--{name}={getattr(opts, name)} must be positive")
    if opts.log_det_latents < 0:
        raise EvaluationError(f"--log_det_latents={opts.log_det_latents} must be 0 (off) or more")
    if opts.interpolation_steps < 2:
        raise EvaluationError(
            f"--interpolation_steps={opts.interpolation_steps} must be at least 2"
        )


def _check_distinct(workdir_list: Sequence[str]) -> None:
    if not workdir_list:
        raise EvaluationError("no workdir to evaluate")
    seen: dict[str, str] = {}
    for workdir in workdir_list:
        key = os.path.realpath(workdir)
        if key in seen:
            raise EvaluationError(f"{workdir} is given twice (also as {seen[key]})")
        seen[key] = workdir


@contextlib.contextmanager
def _naming(workdir: str, many: bool):
    """Re-raises a UserError of one of several workdirs as a one-line WorkdirError naming it."""
    try:
        yield
    except errors.UserError as e:
        if not many or isinstance(e, WorkdirError):
            raise
        text = " ".join(str(e).split())
        raise WorkdirError(workdir, text if workdir in text else f"{workdir}: {text}") from e


def _prepare(workdir: str, opts, refs: dict) -> _Job:
    """The checks of `workdir` that need no model: its config, checkpoint and reference
    statistics (those of one file are kept once: `refs`, by path), and the FID's features."""
    config = read_config(workdir)
    ref, ref_path, skipped = load_ref_stats(
        opts.fid_ref_stats, config, opts.protocol, allow_unverified=opts.allow_unverified_ref
    )
    _require_checkpoint(workdir)
    feature_fn = None
    if ref_path is not None:
        ref = refs.setdefault(os.path.abspath(ref_path), ref)
        feature_fn = opts.feature_fn
        if feature_fn is None:
            feature_fn = _reference_feature_fn(
                ref, opts.protocol, opts.fid_weights, opts.feature_batch_size
            )
    split = opts.split or default_split(config)
    return _Job(workdir, config, split, ref, ref_path, skipped, feature_fn)


def _generate(job: _Job, opts) -> None:
    """Restores the run of `job` and makes its grids and, when scored or saved, FID samples."""
    run = load_run(job.workdir, job.config, allow_unverified=opts.allow_unverified_checkpoint)
    model, job.step, job.verified = run.model, run.step, run.verified
    generate, reconstruct = training.make_generate(model), training.make_reconstruct(model)
    encode = training.make_encode(model)
    key_fid, key_grid, key_prior = jax.random.split(jax.random.PRNGKey(opts.seed), 3)
    logging.info("Evaluating %s at step %d", job.workdir, run.step)

    num_images, num_interpolations = opts.num_images, opts.num_interpolations
    steps = opts.interpolation_steps
    z = jax.random.normal(key_grid, (num_images, model.z_dim))
    samples = np.asarray(generate(run.state, z))
    job.grids["samples"] = images.make_grid(samples, ncols=int(math.sqrt(num_images)))

    num_recon = max(num_images // 2, 1)
    real = held_out_images(job.config, job.split, num_recon + 2 * num_interpolations, opts.seed)
    recon_x, x_a, x_b = np.split(real, [num_recon, num_recon + num_interpolations])
    recons = np.asarray(reconstruct(run.state, jnp.asarray(recon_x)))
    ncols = 2 * max(int(math.sqrt(num_recon * 2)) // 2, 1)
    job.grids["reconstructions"] = images.make_grid(images.interleave(recon_x, recons), ncols)

    strips = encoded_interpolations(run, encode, generate, x_a, x_b, steps)
    rows = np.concatenate([x_a[:, None], strips, x_b[:, None]], axis=1)
    job.grids["interpolations_data"] = images.make_grid(
        rows.reshape(-1, *rows.shape[2:]), ncols=steps + 2
    )
    z_ab = jax.random.normal(key_prior, (2, num_interpolations, model.z_dim))
    strips = decode_interpolations(run, generate, z_ab[0], z_ab[1], steps)
    job.grids["interpolations_prior"] = images.make_grid(
        strips.reshape(-1, *strips.shape[2:]), ncols=steps
    )

    if opts.log_det_latents:
        _measure_log_det(job, run, opts)
    if job.ref_path is None:
        logging.warning("FID skipped: %s", job.skipped)
    if job.ref_path is not None or opts.save_samples:
        batch = min(job.config.fid_batch_size, opts.num_samples)
        job.samples = training.generate_samples(  # split over this process's devices
            run.state, model, generate, opts.num_samples, batch, key_fid, sharding.data_placement()
        )
    if job.ref_path is not None:
        _check_scorable(job.samples, job.ref, job.feature_fn, configs.celeba_crop(job.config))


def measure_log_det(model, state, config, split: str, n: int, seed: int) -> dict:
    """Prop. 1 (log_det.py) at z = mu_phi(x) of n held-out images of `split` and at n latents
    z ~ N(0, I), drawn from `seed`: what `evaluate(log_det_latents=n)` and `Run.log_det` give."""
    x = held_out_images(config, split, n, seed + 1)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 3)
    return log_det.measure_run(model, state, config, x, key)


def _measure_log_det(job: _Job, run: RestoredRun, opts) -> None:
    n = opts.log_det_latents
    logging.info("Proposition 1: log|det dh/dz| at 2 x %d latents", n)
    job.log_det = measure_log_det(run.model, run.state, job.config, job.split, n, opts.seed)
    c = job.config
    title = f"{c.objective.name} / {c.dataset} / {c.model.arch}, step {job.step}"
    job.grids["log_det"] = log_det.figure(job.log_det, title)


def _score_in_groups(jobs: list[_Job], many: bool) -> None:
    """Sets each scored job's FID: one feature pass over the samples of all the jobs with the
    same reference statistics, protocol and image shape, split back into each job's rows."""
    groups: dict[tuple, list[_Job]] = {}
    for job in jobs:
        if job.ref_path is not None:
            key = (os.path.abspath(job.ref_path), job.feature_fn.protocol, job.samples.shape[1:])
            groups.setdefault(key, []).append(job)
    for group in groups.values():
        feature_fn = group[0].feature_fn
        samples = [job.samples for job in group]
        features = feature_fn(samples[0] if len(samples) == 1 else np.concatenate(samples))
        ends = np.cumsum([len(s) for s in samples])[:-1]
        for job, rows in zip(group, np.split(np.asarray(features), ends), strict=True):
            with _naming(job.workdir, many):
                job.fid = _score_features(rows, job.ref, feature_fn)
            job.fid["ref_stats"] = os.path.abspath(job.ref_path)


def _write(job: _Job, opts) -> dict:
    """Writes WORKDIR/eval/ of a scored job; returns its eval.json dict."""
    eval_dir = os.path.join(job.workdir, workdirs.EVAL_DIR)
    os.makedirs(eval_dir, exist_ok=True)
    for name, grid in job.grids.items():
        images.save_png(os.path.join(eval_dir, f"{name}.png"), grid)
    if opts.save_samples:
        with atomic.replacing(os.path.join(eval_dir, "samples.npz")) as tmp:
            np.savez_compressed(tmp, images=images.to_uint8(job.samples))
    config = job.config
    result = {
        "workdir": os.path.abspath(job.workdir),
        "step": job.step,
        "dataset": config.dataset,
        "arch": config.model.arch,
        "setting": configs.setting_label(config),  # "" for Table 1's settings
        "z_dim": config.model.z_dim,
        "objective": config.objective.to_dict(),
        "config_seed": config.seed,
        "sample_seed": opts.seed,
        "split": job.split,
        "num_samples": opts.num_samples,
        "fid": job.fid,
        "images": {name: f"{name}.png" for name in job.grids},
        "backend": jax.default_backend(),
    }
    if not job.verified:  # --allow_unverified_checkpoint
        result["checkpoint_verified"] = False
    if job.fid is None:
        result["fid_skipped"] = job.skipped
    if job.log_det is not None:
        result["log_det"] = job.log_det
    atomic.write_json(workdirs.eval_json(job.workdir), result)
    if opts.tensorboard:
        _write_tensorboard(eval_dir, job.step, job.grids, job.fid, job.log_det)
    return result


def _write_tensorboard(eval_dir: str, step: int, grids: dict, fid, log_det_result) -> None:
    writer = writers.create_writer(eval_dir)
    writer.write_images(step, {f"eval/{k}": v[None] for k, v in grids.items()})
    scalars = {} if fid is None else {"eval/fid": fid["fid"]}
    if log_det_result is not None:
        scalars.update(log_det.scalars(log_det_result, "eval/log_det/"))
    if scalars:
        writer.write_scalars(step, scalars)
    writer.flush()
    writer.close()
