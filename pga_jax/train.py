"""Training: `create_train_state`, the pure jitted `train_step`, and the loop:
`train_and_evaluate` (one run) and `train_population` (many runs as one, population.py).

The step is `(state, batch, hparams) -> (state, metrics)`, a pure function jitted with the state
donated. Per-step randomness is `fold_in(state.rng, state.step)` and the data order is a
function of (seed, step) only (`data.batch_indices`), so a run resumed from a checkpoint
continues the very stream an uninterrupted run would have seen.

The loop keeps the uint8 training images on the device and runs `config.steps_per_dispatch`
steps per jitted call (dispatch.py), gathering the batches there; the host acts only at the
steps where it logs, writes images, scores FID or saves a checkpoint (each call ends at the
next of them), with at most one call in flight. A population is the same loop over a state
with a leading member axis; members may stand at different steps after a restart (the lagging
ones train alone until they catch up).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import signal
import sys
import threading
import time
import types
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
    dispatch,
    distributed,
    errors,
    images,
    models,
    objectives,
    optim,
    population,
    sharding,
    writers,
    xla_cpu,
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
    tx: optax.GradientTransformation | None  # None: inference only (load_for_inference)
    image_shape: tuple[int, int, int]
    z_dim: int

    def networks(self, state_or_params, batch_stats=None, train=True) -> objectives.Networks:
        if isinstance(state_or_params, TrainState):
            params, batch_stats = state_or_params.params, state_or_params.batch_stats
        else:
            params = state_or_params
        return objectives.Networks(self.encoder, self.decoder, params, batch_stats, train)


def build_networks(config: ml_collections.ConfigDict):
    """(encoder, decoder, objective) of a config: the Flax modules and the static objective."""
    obj = configs.objective(config)
    encoder, decoder = models.build_models(
        config.model.arch,
        config.model.z_dim,
        bn=config.model.bn,
        variational=obj.variational,
        resnet_dim=config.model.resnet_dim,
        fast_layers=config.model.fast_layers,
        width=config.model.width,
    )
    return encoder, decoder, obj


def create_train_state(
    config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]
) -> tuple[TrainState, Model]:
    """Initial state (Xavier-uniform weights, zero momentum) and the static model."""
    encoder, decoder, obj = build_networks(config)
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


def load_for_inference(
    config: ml_collections.ConfigDict, workdir: str, step: int | None = None
) -> tuple[TrainState, Model] | None:
    """The networks of `workdir`'s latest checkpoint (or that of `step`: parameters, BatchNorm
    statistics, step), verified against its manifest, as a TrainState without optimiser state
    or rng and a Model without optimiser (`tx` None): nothing of the optimiser is built or
    read. None if the workdir has no checkpoint."""
    encoder, decoder, obj = build_networks(config)
    shape = models.OUTPUT_SHAPES[config.model.arch]
    variables = jax.eval_shape(  # shapes only: nothing is initialised
        lambda: models.init_variables(
            encoder, decoder, jax.random.PRNGKey(0), shape, config.model.z_dim
        )
    )
    template = {**variables, "step": jax.ShapeDtypeStruct((), jnp.int32)}
    checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
    try:
        if step is None:
            restored = checkpointer.restore_latest(template, partial=True)
        else:
            restored = checkpointer.restore(step, template, partial=True)
    finally:
        checkpointer.close()
    if restored is None:
        return None
    state = TrainState(
        step=restored["step"],
        params=restored["params"],
        batch_stats=restored["batch_stats"],
        opt_state=None,
        rng=None,
    )
    return state, Model(encoder, decoder, obj, None, tuple(shape), config.model.z_dim)


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
    return xla_cpu.jit(functools.partial(train_step, model=model), donate_argnums=0)


def make_generate(model: Model):
    """jitted (state, z) -> g_theta(z); BatchNorm uses the batch's own statistics (original)."""

    def generate(state, z):
        return model.networks(state).decode(z)

    return xla_cpu.jit(generate)


def make_reconstruct(model: Model):
    """jitted (state, x) -> g_theta(mu_phi(x))."""

    def reconstruct(state, x):
        nets = model.networks(state)
        return nets.decode(nets.encode(x)[0])

    return xla_cpu.jit(reconstruct)


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
        celeba_crop=config.data.celeba_crop,
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
    "model.width",
    "data.celeba_crop",
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
            return configs.ADDED_FIELDS.get(dotted) if d == {} else d  # an older run's

        for key in _STRUCTURAL_KEYS:
            if get(saved, key) != get(current, key):
                raise configs.ConfigError(
                    f"{workdir} holds a run with {key}={get(saved, key)!r}, not "
                    f"{get(current, key)!r}; use a new --workdir to start a different run"
                )
    elif distributed.is_primary():
        os.makedirs(workdir, exist_ok=True)
        atomic.write_json(path, current)
    distributed.barrier("config.json")  # the other processes read it next


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
        if diff and distributed.is_primary():  # nothing trained: the new settings apply
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
    if distributed.is_primary():
        atomic.write_json(path, saved)
    logging.warning(
        "Settings changed from step %d on: %s (recorded in %s)", start + 1, listed, path
    )


def _member_means(calls: list, i: int) -> dict[str, float]:
    """Member i's per-step mean of each metric over `calls` ((metrics averaged over L steps,
    with a leading member axis; L; scheduled) of each call)."""
    rows = [(m, n) for m, n, scheduled in calls if scheduled[i]]
    if not rows:
        return {}
    fetched = [{k: v[i] for k, v in m.items()} for m in sharding.fetch([m for m, _ in rows])]
    counts = np.array([n for _, n in rows], np.float64)
    return {k: float(np.dot([m[k] for m in fetched], counts) / counts.sum()) for k in fetched[0]}


def _non_finite_error(metrics: dict[str, float], step: int, last_good: int | None):
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    return NonFiniteLossError(
        f"non-finite {', '.join(bad) or 'loss'} by step {step}; the last good checkpoint "
        f"(step {last_good}) is intact: lower --config.optim.learning_rate and rerun"
    )


def write_images(state, model, step, workdir, writer, fixed_z, fixed_x, generate, reconstruct):
    """Sample grid (Dec(N(0, I)), fixed noise) and reconstructions, as PNG and to TensorBoard."""
    like = state.step
    samples = sharding.to_host(generate(state, sharding.alongside(fixed_z, like)))
    recons = sharding.to_host(reconstruct(state, sharding.alongside(fixed_x, like)))
    n = len(fixed_z)
    grids = {
        "samples": images.make_grid(samples, ncols=int(math.sqrt(n))),
        "reconstructions": images.make_grid(
            images.interleave(fixed_x, recons), ncols=2 * int(math.sqrt(len(fixed_x) * 2) // 2)
        ),
    }
    for name, grid in grids.items():
        if distributed.is_primary():
            images.save_png(os.path.join(workdir, "images", f"{name}_{step:07d}.png"), grid)
            images.save_png(os.path.join(workdir, "images", f"{name}_latest.png"), grid)
    writer.write_images(step, {k: v[None] for k, v in grids.items()})


def generate_samples(
    state, model, generate, num: int, batch_size: int, rng, placement=None
) -> np.ndarray:
    """`num` images g_theta(z), z ~ N(0, I), generated `batch_size` at a time, as float32;
    with a `placement` (sharding.py), each batch that divides over its `data` devices is
    split over them."""
    out = []
    if placement is not None:
        state = sharding.put(state, placement.replicated)
    for i in range(0, num, batch_size):
        z = jax.random.normal(jax.random.fold_in(rng, i), (min(batch_size, num - i), model.z_dim))
        if placement is not None and len(z) % placement.data_size == 0:
            z = sharding.global_array(z, placement.batch)
        out.append(sharding.to_host(generate(state, z)))
    return np.concatenate(out)


def evaluate_fid(state, model, config, generate, step: int, placement=None) -> dict:
    """FID of `fid_num_samples` samples against `fid_ref_stats` (original: every 2,000 steps)."""
    from pga_jax.fid import score  # noqa: PLC0415  (loads Inception only when FID is on)

    rng = jax.random.fold_in(jax.random.PRNGKey(config.seed + 2), step)
    samples = generate_samples(
        state, model, generate, config.fid_num_samples, config.fid_batch_size, rng, placement
    )
    return score.score_arrays(
        samples, config.fid_ref_stats, kid=False, pr=False, celeba_crop=configs.celeba_crop(config)
    )


# config.steps_per_dispatch = 0: one step per call on a CPU (see dispatch.py), else this many.
ACCELERATOR_STEPS_PER_DISPATCH = 50


def steps_per_dispatch(config: ml_collections.ConfigDict) -> int:
    if config.steps_per_dispatch > 0:
        return config.steps_per_dispatch
    return 1 if jax.default_backend() == "cpu" else ACCELERATOR_STEPS_PER_DISPATCH


def images_on_device(config: ml_collections.ConfigDict, nbytes: int) -> bool:
    """config.data.images_on: `device`, `host`, or `auto`: the device unless the images take
    more than a quarter of its memory (where it reports its memory; a CPU's is the host's)."""
    if config.data.images_on != "auto":
        return config.data.images_on == "device"
    limit = (jax.local_devices()[0].memory_stats() or {}).get("bytes_limit")
    return limit is None or nbytes <= limit // 4


@dataclasses.dataclass
class _Member:
    """The host's side of one run of the loop: its workdir, writers and where it stands."""

    config: ml_collections.ConfigDict
    workdir: str
    checkpointer: checkpointing.Checkpointer
    writer: Any
    progress: Any
    fixed_z: jax.Array
    fixed_x: np.ndarray
    step: int  # steps taken (as scheduled; a frozen member's device state may be behind)
    saved: int  # the step of its latest checkpoint (or where it started)
    failure: str | None = None  # why it was frozen

    @property
    def finished(self) -> bool:
        return self.failure is not None or self.step >= self.config.num_steps


def _open_member(config, workdir, allow_changed_settings, train_images, placement):
    """Checks the workdir, restores the latest checkpoint (replicated on the mesh):
    (member, state, model)."""
    _check_same_run(config, workdir)
    state, model = create_train_state(config, train_images.shape[1:])
    state = sharding.put(state, placement.replicated)
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
    progress = writers.report_progress(
        num_train_steps=config.num_steps, writer=writer, every_steps=config.log_every
    )
    fixed_z = jax.random.normal(
        jax.random.PRNGKey(config.seed + 1), (config.num_images, config.model.z_dim)
    )
    fixed_x = data.batch_at(train_images, 0, max(config.num_images // 2, 1), config.seed + 1)
    member = _Member(
        config, workdir, checkpointer, writer, progress, fixed_z, fixed_x, start, start
    )
    return member, state, model


def _check_fid_reference(config: ml_collections.ConfigDict) -> None:
    """Before training: the FID statistics of a CelebA run are of its crop (ConfigError)."""
    crop = configs.celeba_crop(config)
    if not config.fid_every or crop is None:
        return
    from pga_jax.fid import score  # noqa: PLC0415

    try:
        score.check_crop(score.load_stats(config.fid_ref_stats), crop)
    except ValueError as e:
        raise configs.ConfigError(f"config.fid_ref_stats: {e}") from None


def _periods(config: ml_collections.ConfigDict) -> dict[str, int]:
    """Every how many steps the host acts: {action: period} (FID only when on)."""
    periods = {
        "log": config.log_every,
        "images": config.image_every,
        "fid": config.fid_every,
        "checkpoint": config.checkpoint_every,
    }
    return {action: every for action, every in periods.items() if every}


def _actions_at(config: ml_collections.ConfigDict, step: int) -> dict[str, bool]:
    """{action: whether the host does it after `step`}: at its period and at the last step."""
    return {
        action: step % every == 0 or step == config.num_steps
        for action, every in _periods(config).items()
    }


def _schedule_end(members: list[_Member], t: int, k: int) -> int:
    """The step the next call ends at: t + k, or the first step after t where the host acts
    (`_periods`, the last step) or a lagging member catches up."""
    c = members[0].config
    ends = [t + k, c.num_steps] + [(t // e + 1) * e for e in _periods(c).values()]
    ends += [m.step for m in members if not m.finished and m.step > t]
    return min(ends)


def _train(
    member_configs: list[ml_collections.ConfigDict],
    member_workdirs: list[str],
    *,
    allow_changed_settings: bool,
    members: str | None,
    scan: bool | None = None,
) -> tuple[list[TrainState], list[_Member]]:
    """The loop, for one run (`members=None`) or a population (see train_population;
    `members="auto"`: vmap where the mesh splits the members, else population.member_axis)."""
    for config in member_configs:
        configs.validate(config)
    if members is not None:
        population.check_members(member_configs)
    config = member_configs[0]
    _check_fid_reference(config)
    placement = sharding.Placement(
        sharding.make_mesh(config, len(member_configs)), population=members is not None
    )
    if members == "auto":
        split = placement.mesh.shape[sharding.MEMBERS] > 1
        members = "vmap" if split else population.member_axis("auto")
    train_images = load_training_images(config)
    opened = [
        _open_member(c, w, allow_changed_settings, train_images, placement)
        for c, w in zip(member_configs, member_workdirs, strict=True)
    ]
    group = [m for m, _, _ in opened]
    model = opened[0][2]
    if members is not None:
        model = dataclasses.replace(model, objective=population.shared_objective(member_configs))
    states = [s for _, s, _ in opened]
    member_hparams = [configs.objective_hparams(c) for c in member_configs]
    state = states[0] if members is None else dispatch.stack(states)
    hparams = member_hparams[0] if members is None else dispatch.stack(member_hparams)
    state, hparams = sharding.put(state, placement.state), sharding.put(hparams, placement.state)

    k = steps_per_dispatch(config)
    scan = (k > 1 or jax.default_backend() != "cpu") if scan is None else scan
    step_fn = dispatch.make_dispatch(
        functools.partial(train_step, model=model),
        scan=scan,
        members=members,
        placement=placement,
    )
    if not scan:
        k = 1
    generate, reconstruct = make_generate(model), make_reconstruct(model)
    on_device = images_on_device(config, train_images.nbytes)
    device_images = sharding.global_array(train_images, placement.replicated) if on_device else None
    n_members = len(group)

    def member_state(i):
        return state if members is None else dispatch.member(state, i)

    def check_failures():
        """Reads which members froze (a sync) and records why: their last good checkpoint
        stays the latest, and the others go on."""
        alive_now = sharding.to_host(alive)
        for i, m in enumerate(group):
            if m.failure is None and not alive_now[i]:
                frozen = int(sharding.to_host(member_state(i).step))
                scalars = _member_means(calls, i)
                error = _non_finite_error(scalars, frozen + 1, m.checkpointer.latest_step())
                m.failure = str(error)
                m.step = frozen
                if distributed.is_primary():
                    atomic.write_json(
                        os.path.join(m.workdir, FAILURE_FILE),
                        {"step": frozen + 1, "error": m.failure, "metrics": scalars},
                    )
                logging.error("%s: %s", m.workdir, m.failure)
                if members is None:
                    raise error

    def save(m: _Member, i: int):
        m.checkpointer.save(m.step, member_state(i))
        m.saved = m.step

    logging.info(
        "Training %s / %s / %s (%d run%s, %d step%s per call, images on the %s, %s) to step %d",
        config.objective.name,
        config.dataset,
        config.model.arch,
        n_members,
        "s" if n_members > 1 else "",
        k,
        "s" if k > 1 else "",
        "device" if on_device else "host",
        placement.describe(),
        config.num_steps,
    )
    alive = sharding.global_array(np.ones((n_members,), bool), placement.per_member)
    calls: list = []  # (metrics, L, scheduled) of each call since the last log
    t0, first = time.time(), min(m.step for m in group)
    last_log = (first, time.perf_counter())  # (step, time) of the last log
    with contextlib.ExitStack() as stack:
        for m in group:
            stack.callback(m.writer.flush)
            stack.callback(m.checkpointer.close)
            stack.callback(m.checkpointer.wait)
        requested = stack.enter_context(stop_requests())
        in_flight = None
        while not all(m.finished for m in group):
            if requested:  # SIGINT / SIGTERM: save every member's last step (checked), stop
                check_failures()
                for i, m in enumerate(group):
                    if m.failure is None and m.saved < m.step:
                        save(m, i)
                raise Stopped(min(m.step for m in group if m.failure is None), requested[0])
            t = min(m.step for m in group if not m.finished)
            end = _schedule_end(group, t, k)
            scheduled = np.array([not m.finished and m.step == t for m in group])
            indices = np.stack(
                [
                    data.batch_indices(
                        len(train_images), config.batch_size, m.config.seed, m.step, end - t
                    )
                    for m in group
                ]
            )
            if on_device:
                images_arg = device_images
            else:  # this call's batches, gathered here
                images_arg = sharding.global_array(
                    train_images[indices.reshape(-1)], placement.replicated
                )
                indices = np.arange(indices.size, dtype=np.int32).reshape(indices.shape)
            state, alive, metrics = step_fn(
                state,
                images_arg,
                sharding.global_array(indices, placement.indices),
                hparams,
                alive,
                sharding.global_array(scheduled, placement.per_member),
            )
            if in_flight is not None:  # at most one call in flight: honest steps/s
                jax.block_until_ready(in_flight)
            in_flight = alive
            calls.append((metrics, end - t, scheduled))
            for i, m in enumerate(group):
                if scheduled[i]:
                    for done in range(m.step + 1, end + 1):  # clu's hook wants every step
                        m.progress(done)
                    m.step = end
            at = _actions_at(config, end)
            if not any(at.values()):
                continue
            check_failures()
            if at["log"]:  # each member's steps per second since the last log (a sync above)
                now = time.perf_counter()
                rate = (end - last_log[0]) / max(now - last_log[1], 1e-9)
                last_log = (end, now)
            for i, m in enumerate(group):
                if not scheduled[i] or m.failure is not None:
                    continue
                if at["log"]:
                    scalars = {**_member_means(calls, i), STEPS_PER_SEC: rate}
                    m.writer.write_scalars(end, scalars)
                    if distributed.is_primary():
                        curves.append_metrics(m.workdir, end, scalars)
                if at["images"]:
                    write_images(
                        member_state(i),
                        model,
                        end,
                        m.workdir,
                        m.writer,
                        m.fixed_z,
                        m.fixed_x,
                        generate,
                        reconstruct,
                    )
                if at.get("fid"):
                    result = evaluate_fid(
                        member_state(i), model, m.config, generate, end, placement
                    )
                    m.writer.write_scalars(end, {"fid": result["fid"]})
                    if distributed.is_primary():
                        curves.append_metrics(m.workdir, end, result, name="fid.jsonl")
                if at["checkpoint"]:
                    save(m, i)
            if at["log"]:
                calls = []
    if any(m.step > first for m in group):
        for m in group:
            if m.failure is None and distributed.is_primary():
                curves.plot_curves(m.workdir)
        logging.info("Done: to step %d in %.1f s", config.num_steps, time.time() - t0)
    return [member_state(i) for i in range(n_members)], group


# The logged training speed (metrics.jsonl): each member's steps per second (the first log
# of a process includes compiling).
STEPS_PER_SEC = "steps_per_sec"
# Written to a frozen member's workdir: the step whose loss was not finite and why.
FAILURE_FILE = "failure.json"


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, allow_changed_settings: bool = False
) -> TrainState:
    """Trains (or resumes) a run in `workdir` to `config.num_steps`; returns the final state.

    Resuming with other objective / optimiser settings than the run's is refused unless
    `allow_changed_settings` (then config.json records each change with its step). A NaN/inf
    loss raises NonFiniteLossError; the last good checkpoint is kept."""
    states, _ = _train(
        [config], [workdir], allow_changed_settings=allow_changed_settings, members=None
    )
    return states[0]


def train_population(
    member_configs: list[ml_collections.ConfigDict],
    member_workdirs: list[str],
    *,
    allow_changed_settings: bool = False,
    member_axis: str = "auto",
) -> list[TrainState]:
    """Trains (or resumes) runs that differ only in seed and objective numbers as one
    population (population.py): one stacked state, one program per call. Each member writes
    an ordinary workdir, exactly as `train_and_evaluate(config_i, workdir_i)` would, and
    resumes from its own latest checkpoint. A member whose loss goes NaN/inf is frozen (its
    workdir gets failure.json and keeps its last good checkpoint) and the others go on; then
    PopulationError names the failed members at the end. Returns the members' final states.
    """
    if len(set(map(os.path.abspath, member_workdirs))) != len(member_workdirs):
        raise population.PopulationError("two members share a workdir; give each its own")
    states, group = _train(
        member_configs,
        member_workdirs,
        allow_changed_settings=allow_changed_settings,
        members=member_axis if member_axis == "auto" else population.member_axis(member_axis),
    )
    failed = [m for m in group if m.failure is not None]
    if failed:
        raise population.PopulationError(
            f"{len(failed)} of {len(group)} members failed (non-finite loss; each kept its last "
            "good checkpoint, see its failure.json): "
            + ", ".join(f"{m.workdir} at step {m.step + 1}" for m in failed),
            failed=[m.workdir for m in failed],
        )
    return states


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


class _CallableModule(types.ModuleType):
    """This module, callable: `pga_jax.train(config, workdir)` is `train_and_evaluate`."""

    def __call__(self, config, workdir, **kwargs):
        return train_and_evaluate(config, workdir, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
