"""Training: `create_train_state`, the pure jitted `train_step`, and `train_and_evaluate`.

The step is `(state, batch) -> (state, metrics)`, a pure function jitted with the state donated.
Per-step randomness is `fold_in(state.rng, state.step)` and the data order is a function of
(seed, step) only, so a run resumed from a checkpoint continues the very stream an uninterrupted
run would have seen. The batch is an ordinary array argument, ready to be sharded over devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import signal
import threading
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from pga_jax import (
    atomic,
    checkpointing,
    configs,
    curves,
    data,
    errors,
    images,
    models,
    objectives,
    optim,
    writers,
)


class Stopped(errors.UserError):
    """SIGINT / SIGTERM stopped the run between two steps, after saving a checkpoint of the
    last step; the process should exit with `exit_code` (128 + the signal: 130, 143)."""

    def __init__(self, step: int, signum: int):
        super().__init__(f"stopped at step {step}; the same command resumes")
        self.step, self.exit_code = step, 128 + signum


@contextlib.contextmanager
def stop_requests():
    """While inside, SIGINT / SIGTERM only record a request (yielded list of signal numbers)
    that the loop honours between steps, so a checkpoint save in flight is always finished;
    a second signal acts at once (KeyboardInterrupt / SystemExit). Main thread only."""
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signums}

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
        requested.append(signum)
        logging.warning("%s: stopping after this step", signal.Signals(signum).name)

    for s in signums:
        signal.signal(s, handler)
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class NonFiniteLossError(errors.UserError, FloatingPointError):
    """Training produced a NaN/inf loss; the last good checkpoint is left intact."""


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: steps taken
    params: Any  # {'encoder': ..., 'decoder': ...}
    batch_stats: Any  # {'encoder': ..., 'decoder': ...} ({} without BatchNorm)
    opt_state: optax.OptState
    rng: jax.Array  # base key (uint32[2]); step key = fold_in(rng, step)


@dataclasses.dataclass(frozen=True)
class Model:
    """Everything static about a run: the modules, the objective and the optimiser."""

    encoder: flax.linen.Module
    decoder: flax.linen.Module
    objective: objectives.Objective  # structure only; hyper-parameters are the step's data
    tx: optax.GradientTransformation
    image_shape: tuple[int, int, int]
    z_dim: int

    def networks(self, state_or_params, batch_stats=None, train=True) -> objectives.Networks:
        if isinstance(state_or_params, TrainState):
            params, batch_stats = state_or_params.params, state_or_params.batch_stats
        else:
            params = state_or_params
        return objectives.Networks(self.encoder, self.decoder, params, batch_stats, train)


def create_train_state(
    config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]
) -> tuple[TrainState, Model]:
    """Initial state (Xavier-uniform weights, zero momentum) and the static model."""
    obj = configs.objective(config)
    encoder, decoder = models.build_models(
        config.model.arch,
        config.model.z_dim,
        bn=config.model.bn,
        variational=obj.variational,
        resnet_dim=config.model.resnet_dim,
        fast_layers=config.model.fast_layers,
    )
    init_rng, train_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    variables = models.init_variables(encoder, decoder, init_rng, image_shape, config.model.z_dim)
    tx = optim.make_optimizer(config.optim, variables["params"])
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        opt_state=tx.init(variables["params"]),
        rng=train_rng,
    )
    model = Model(encoder, decoder, obj, tx, tuple(image_shape), config.model.z_dim)
    return state, model


def loss_fn(params, state: TrainState, model: Model, batch: jax.Array, hparams, rng: jax.Array):
    """sum_k w_k term_k (gradient-routed terms, see objectives/) and its metrics."""
    nets = model.networks(params, state.batch_stats)
    terms = model.objective.compute_terms(hparams, nets, batch, rng)
    weights = model.objective.weights(
        hparams, state.step, math.prod(model.image_shape), model.z_dim
    )
    total, metrics = objectives.combine(model.objective, terms, weights)
    return total, (metrics, nets.batch_stats)


def train_step(
    state: TrainState, batch: jax.Array, hparams, model: Model
) -> tuple[TrainState, dict]:
    """One SGD step on a [B, H, W, C] batch in [-1, 1], with the objective's hyper-parameters
    `hparams` (a pytree of arrays: any value reuses the compiled step). Pure; jit with
    `donate_argnums=0`."""
    rng = jax.random.fold_in(state.rng, state.step)
    grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(
        state.params, state, model, batch, hparams, rng
    )
    updates, opt_state = model.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm/encoder"] = optax.tree.norm(grads["encoder"])
    metrics["grad_norm/decoder"] = optax.tree.norm(grads["decoder"])
    new_state = state.replace(
        step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
    )
    return new_state, metrics


def make_train_step(model: Model):
    return jax.jit(functools.partial(train_step, model=model), donate_argnums=0)


def make_generate(model: Model):
    """jitted (state, z) -> g_theta(z); BatchNorm uses the batch's own statistics (original)."""

    def generate(state, z):
        return model.networks(state).decode(z)

    return jax.jit(generate)


def make_reconstruct(model: Model):
    """jitted (state, x) -> g_theta(mu_phi(x))."""

    def reconstruct(state, x):
        nets = model.networks(state)
        return nets.decode(nets.encode(x)[0])

    return jax.jit(reconstruct)


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------


def load_training_images(config: ml_collections.ConfigDict) -> np.ndarray:
    """uint8 NHWC training images of config.dataset (synthetic: the architecture's shape)."""
    shape = models.OUTPUT_SHAPES[config.model.arch]
    imgs = data.load_arrays(
        config.dataset,
        config.data.split,
        source=config.data.source,
        path=config.data.path or None,
        tfds_data_dir=config.data.tfds_data_dir or None,
        synthetic_shape=shape,
        synthetic_size=config.data.synthetic_size,
        seed=config.seed,
    )
    if tuple(imgs.shape[1:]) != shape:
        raise configs.ConfigError(
            f"dataset {config.dataset!r} has {tuple(imgs.shape[1:])} images but "
            f"config.model.arch={config.model.arch!r} makes {shape}; pick a matching arch"
        )
    return imgs


# What a checkpoint's meaning depends on (model.fast_layers may change: same parameters).
_STRUCTURAL_KEYS = (
    "dataset",
    "model.arch",
    "model.z_dim",
    "model.bn",
    "model.resnet_dim",
    "objective.name",
    "seed",
    "batch_size",
)


def _check_same_run(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json once; refuses to resume a workdir trained with another model."""
    path = os.path.join(workdir, "config.json")
    current = json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)

        def get(d, dotted):
            for part in dotted.split("."):
                d = d.get(part, {}) if isinstance(d, dict) else None
            return d

        for key in _STRUCTURAL_KEYS:
            if get(saved, key) != get(current, key):
                raise configs.ConfigError(
                    f"{workdir} holds a run with {key}={get(saved, key)!r}, not "
                    f"{get(current, key)!r}; use a new --workdir to start a different run"
                )
    else:
        os.makedirs(workdir, exist_ok=True)
        atomic.write_json(path, current)


def _check_same_settings(
    config: ml_collections.ConfigDict, workdir: str, start: int, allow_changes: bool
) -> None:
    """Refuses to resume at step `start` with other objective / optimiser values than the run
    had, unless `allow_changes`: then config.json records the change with its step."""
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        saved = json.load(f)
    current = json.loads(config.to_json_best_effort())
    diff = configs.changed_settings(configs.in_force(saved, start + 1).to_dict(), current)
    if not diff or start == 0 and not saved.get(configs.CHANGES):
        if diff:  # nothing trained yet: the run starts with the new settings
            atomic.write_json(path, current)
        return
    listed = ", ".join(f"{k}={old!r} -> {new!r}" for k, (old, new) in diff.items())
    if not allow_changes:
        raise configs.ConfigError(
            f"{workdir} was trained to step {start} with other settings ({listed}); pass "
            "--allow_changed_settings to change them from here on (config.json records it), "
            "or use a new --workdir"
        )
    saved.setdefault(configs.CHANGES, []).append(
        {"step": start, "set": {k: new for k, (_, new) in diff.items()}}
    )
    atomic.write_json(path, saved)
    logging.warning(
        "Settings changed from step %d on: %s (recorded in %s)", start + 1, listed, path
    )


def _mean_metrics(history: list[dict]) -> dict[str, float]:
    stacked = jax.device_get(history)
    return {k: float(np.mean([m[k] for m in stacked])) for k in stacked[0]}


def _check_finite(metrics: dict[str, float], step: int, checkpointer) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        last = checkpointer.latest_step()
        raise NonFiniteLossError(
            f"non-finite {', '.join(sorted(bad))} by step {step}; the last good checkpoint "
            f"(step {last}) is intact: lower --config.optim.learning_rate and rerun"
        )


def write_images(state, model, step, workdir, writer, fixed_z, fixed_x, generate, reconstruct):
    """Sample grid (Dec(N(0, I)), fixed noise) and reconstructions, as PNG and to TensorBoard."""
    samples = np.asarray(generate(state, fixed_z))
    recons = np.asarray(reconstruct(state, fixed_x))
    n = len(fixed_z)
    grids = {
        "samples": images.make_grid(samples, ncols=int(math.sqrt(n))),
        "reconstructions": images.make_grid(
            images.interleave(fixed_x, recons), ncols=2 * int(math.sqrt(len(fixed_x) * 2) // 2)
        ),
    }
    for name, grid in grids.items():
        images.save_png(os.path.join(workdir, "images", f"{name}_{step:07d}.png"), grid)
        images.save_png(os.path.join(workdir, "images", f"{name}_latest.png"), grid)
    writer.write_images(step, {k: v[None] for k, v in grids.items()})


def generate_samples(state, model, generate, num: int, batch_size: int, rng) -> np.ndarray:
    """`num` images g_theta(z), z ~ N(0, I), generated `batch_size` at a time, as float32."""
    out = []
    for i in range(0, num, batch_size):
        z = jax.random.normal(jax.random.fold_in(rng, i), (min(batch_size, num - i), model.z_dim))
        out.append(np.asarray(generate(state, z)))
    return np.concatenate(out)


def evaluate_fid(state, model, config, generate, step: int) -> dict:
    """FID of `fid_num_samples` samples against `fid_ref_stats` (original: every 2,000 steps)."""
    from pga_jax.fid import score  # noqa: PLC0415  (loads Inception only when FID is on)

    rng = jax.random.fold_in(jax.random.PRNGKey(config.seed + 2), step)
    samples = generate_samples(
        state, model, generate, config.fid_num_samples, config.fid_batch_size, rng
    )
    return score.score_arrays(samples, config.fid_ref_stats, kid=False, pr=False)


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, allow_changed_settings: bool = False
) -> TrainState:
    """Trains (or resumes) a run in `workdir` to `config.num_steps`; returns the final state.

    Resuming with other objective / optimiser settings than the run's is refused unless
    `allow_changed_settings` (then config.json records each change with its step)."""
    configs.validate(config)
    train_images = load_training_images(config)
    _check_same_run(config, workdir)
    state, model = create_train_state(config, train_images.shape[1:])

    checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
    restored = checkpointer.restore_latest(state, fallback=True)
    if restored is not None:
        state = restored
        logging.info("Resumed from step %d in %s", int(state.step), checkpointer.directory)
    start = int(state.step)
    _check_same_settings(config, workdir, start, allow_changed_settings)

    writer = writers.create_writer(workdir, just_logging=jax.process_index() > 0)
    if start == 0:
        writer.write_hparams(_flat_hparams(config))

    step_fn = make_train_step(model)
    hparams = configs.objective_hparams(config)
    generate, reconstruct = make_generate(model), make_reconstruct(model)
    fixed_rng = jax.random.PRNGKey(config.seed + 1)
    fixed_z = jax.random.normal(fixed_rng, (config.num_images, config.model.z_dim))
    fixed_x = data.batch_at(train_images, 0, max(config.num_images // 2, 1), config.seed + 1)

    progress = writers.report_progress(
        num_train_steps=config.num_steps, writer=writer, every_steps=config.log_every
    )
    batches = data.EpochIterator(train_images, config.batch_size, config.seed, start_step=start)
    history: list[dict] = []
    logging.info(
        "Training %s / %s / %s from step %d to %d",
        config.objective.name,
        config.dataset,
        config.model.arch,
        start,
        config.num_steps,
    )
    t0 = time.time()
    saved = start
    with contextlib.ExitStack() as stack:
        stack.callback(writer.flush)
        stack.callback(checkpointer.close)
        stack.callback(checkpointer.wait)
        requested = stack.enter_context(stop_requests())
        for step in range(start + 1, config.num_steps + 1):
            if requested:  # SIGINT / SIGTERM: save the last step (checked) and stop
                if saved < step - 1:
                    if history:
                        _check_finite(_mean_metrics(history[-1:]), step - 1, checkpointer)
                    checkpointer.save(step - 1, state)
                raise Stopped(step - 1, requested[0])
            batch = next(batches)
            state, metrics = step_fn(state, batch, hparams)
            if history:  # at most one step in flight: honest steps/s, bounded queue
                jax.block_until_ready(history[-1]["loss"])
            history.append(metrics)
            progress(step)
            if step % config.log_every == 0 or step == config.num_steps:
                scalars = _mean_metrics(history)
                history = []
                _check_finite(scalars, step, checkpointer)
                writer.write_scalars(step, scalars)
                curves.append_metrics(workdir, step, scalars)
            if step % config.image_every == 0 or step == config.num_steps:
                write_images(
                    state, model, step, workdir, writer, fixed_z, fixed_x, generate, reconstruct
                )
            if config.fid_every and (step % config.fid_every == 0 or step == config.num_steps):
                result = evaluate_fid(state, model, config, generate, step)
                writer.write_scalars(step, {"fid": result["fid"]})
                curves.append_metrics(workdir, step, result, name="fid.jsonl")
            if step % config.checkpoint_every == 0 or step == config.num_steps:
                if history:  # never save a state whose recent losses were not checked
                    _check_finite(_mean_metrics(history[-1:]), step, checkpointer)
                checkpointer.save(step, state)
                saved = step
    if config.num_steps > start:
        curves.plot_curves(workdir)
        logging.info("Done: %d steps in %.1f s", config.num_steps - start, time.time() - t0)
    return state


def _flat_hparams(config: ml_collections.ConfigDict) -> dict:
    flat = {}

    def visit(prefix, node):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, ml_collections.ConfigDict):
                visit(key + ".", v)
            elif isinstance(v, int | float | str | bool):
                flat[key] = v

    visit("", config)
    return flat
