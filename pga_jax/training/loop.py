"""The training loop: `train_and_evaluate` (one run) and `train_population` (many runs as one,
population.py), both the same `_train` over an explicit `Loop` state.

The loop keeps the uint8 training images on the device and runs `config.steps_per_dispatch`
steps per jitted call (dispatch.py), gathering the batches there; the host acts only at the
steps where it logs, writes images, scores FID or saves a checkpoint (actions.py; each call
ends at the next of them), with at most one call in flight. The data order is a function of
(seed, step) only (`data.batch_indices`), so a run resumed from a checkpoint continues the very
stream an uninterrupted run would have seen. A population is the same loop over a state with a
leading member axis; members may stand at different steps after a restart (the lagging ones
train alone until they catch up).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from pga_jax import (
    atomic,
    checkpointing,
    configs,
    cpu,
    curves,
    data,
    dispatch,
    distributed,
    population,
    progress,
    sharding,
    workdir_lock,
    writers,
)
from pga_jax.cpu import policy
from pga_jax.training import actions, inputs, run_record, stopping
from pga_jax.training import state as state_fns
from pga_jax.training.step import train_step


@dataclasses.dataclass
class Member:
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


def _open_member(config, workdir, allow, train_images, placement):
    """Checks the workdir, restores the latest checkpoint (replicated on the mesh):
    (member, state, model). `allow`: the run's Allowances."""
    run_record.check_same_run(config, workdir)
    state, model = state_fns.create_train_state(config, train_images.shape[1:])
    state = sharding.put(state, placement.replicated)
    checkpointer = checkpointing.Checkpointer(
        workdir, config.keep_checkpoints, allow.unverified_checkpoint
    )
    restored = checkpointer.restore_latest(state, fallback=True)
    if restored is not None:
        state = restored
        logging.info("Resumed from step %d in %s", int(state.step), checkpointer.directory)
    start = int(state.step)
    if start in checkpointer.unverified:
        run_record.record_unverified_checkpoint(workdir, start)
    run_record.check_same_settings(config, workdir, start, allow.changed_settings)
    if distributed.is_primary():
        curves.drop_rolled_back(workdir, start)
    run_record.record_runtime(workdir, start, cpu.paths())
    writer = writers.create_writer(workdir, just_logging=jax.process_index() > 0)
    if start == 0:
        writer.write_hparams(run_record.flat_hparams(config))
    progress = writers.report_progress(
        num_train_steps=config.num_steps, writer=writer, every_steps=config.log_every
    )
    fixed_z = jax.random.normal(
        jax.random.PRNGKey(config.seed + 1), (config.num_images, config.model.z_dim)
    )
    fixed_x = data.batch_at(train_images, 0, max(config.num_images // 2, 1), config.seed + 1)
    member = Member(config, workdir, checkpointer, writer, progress, fixed_z, fixed_x, start, start)
    return member, state, model


@dataclasses.dataclass(frozen=True)
class Allowances:
    """What the user allowed on resuming: other settings than the run's, a checkpoint
    without checksums (each recorded in config.json)."""

    changed_settings: bool = False
    unverified_checkpoint: bool = False


@dataclasses.dataclass
class Loop:
    """Everything the loop carries from one call to the next."""

    config: ml_collections.ConfigDict  # the first member's (the schedule is shared)
    members: list[Member]
    axis: dispatch.MemberAxis
    placement: sharding.Placement
    model: Any
    state: Any  # on the device, with the member axis of `axis`
    hparams: Any
    alive: jax.Array  # bool [M]: False once a member's loss was not finite
    train_images: np.ndarray
    device_images: jax.Array | None  # the training set on the device, or None: gathered per call
    stop_on_failure: bool  # one run stops at a non-finite loss; a population freezes the member
    calls: list = dataclasses.field(default_factory=list)  # (metrics, L, scheduled) since a log
    last_log: tuple[int, float] = (0, 0.0)  # (step, time) of the last log
    in_flight: Any = None  # the last call's output, awaited before the next is read
    bar: Any = dataclasses.field(default_factory=progress.Quiet)  # the API's progress bar

    def member_state(self, i: int):
        return self.axis.member(self.state, i)

    def save(self, i: int) -> None:
        m = self.members[i]
        m.checkpointer.save(m.step, self.member_state(i))
        m.saved = m.step


def _start(member_configs, member_workdirs, allow: Allowances, axis_name, locks) -> Loop:
    """Validates the configs, loads the data, takes each member's workdir lock (entered into
    the ExitStack `locks`: nothing is written before), opens every member's workdir and puts
    the state on the mesh."""
    for config in member_configs:
        configs.validate(config)
    config = member_configs[0]
    if axis_name is not None:
        population.check_members(member_configs)
    actions.check_fid_reference(config)
    placement = sharding.Placement(
        sharding.make_mesh(config, len(member_configs)), population=axis_name is not None
    )
    if axis_name == "auto":
        split = placement.mesh.shape[sharding.MEMBERS] > 1
        axis_name = "vmap" if split else population.member_axis("auto")
    axis = dispatch.MemberAxis(axis_name)
    train_images = inputs.load_training_images(config)
    for workdir in member_workdirs:
        locks.enter_context(workdir_lock.hold(workdir))
    opened = [
        _open_member(c, w, allow, train_images, placement)
        for c, w in zip(member_configs, member_workdirs, strict=True)
    ]
    model = opened[0][2]
    if axis_name is not None:
        model = dataclasses.replace(model, objective=population.shared_objective(member_configs))
    state = axis.stack([s for _, s, _ in opened])
    hparams = axis.stack([configs.objective_hparams(c) for c in member_configs])
    on_device = inputs.images_on_device(config, train_images.nbytes)
    members = [m for m, _, _ in opened]
    return Loop(
        config=config,
        members=members,
        axis=axis,
        placement=placement,
        model=model,
        state=sharding.put(state, placement.state),
        hparams=sharding.put(hparams, placement.state),
        alive=sharding.global_array(np.ones((len(members),), bool), placement.per_member),
        train_images=train_images,
        device_images=(
            sharding.global_array(train_images, placement.replicated) if on_device else None
        ),
        stop_on_failure=axis_name is None,
    )


def _check_failures(loop: Loop) -> None:
    """Reads which members froze (a sync) and records why: their last good checkpoint stays
    the latest, and the others go on (one run: NonFiniteLossError)."""
    alive_now = sharding.to_host(loop.alive)
    for i, m in enumerate(loop.members):
        if m.failure is None and not alive_now[i]:
            frozen = int(sharding.to_host(loop.member_state(i).step))
            scalars = actions.member_means(loop.calls, i)
            error = stopping.non_finite_error(scalars, frozen + 1, m.checkpointer.latest_step())
            m.failure, m.step = str(error), frozen
            if distributed.is_primary():
                atomic.write_json(
                    os.path.join(m.workdir, run_record.FAILURE_FILE),
                    {"step": frozen + 1, "error": m.failure, "metrics": scalars},
                )
            logging.error("%s: %s", m.workdir, m.failure)
            if loop.stop_on_failure:
                raise error


def _stop(loop: Loop, signum: int):
    """SIGINT / SIGTERM: saves every member's last step (checked), then Stopped."""
    _check_failures(loop)
    for i, m in enumerate(loop.members):
        if m.failure is None and m.saved < m.step:
            loop.save(i)
    return stopping.Stopped(min(m.step for m in loop.members if m.failure is None), signum)


def _dispatch(loop: Loop, step_fn, k: int) -> tuple[int, np.ndarray]:
    """Runs one call: from the lagging members' step t to the next stop; (end, scheduled)."""
    waiting = [m.step for m in loop.members if not m.finished]
    t = min(waiting)
    end = actions.next_stop(loop.config, t, k, waiting)
    scheduled = np.array([not m.finished and m.step == t for m in loop.members])
    indices = np.stack(
        [
            data.batch_indices(
                len(loop.train_images), loop.config.batch_size, m.config.seed, m.step, end - t
            )
            for m in loop.members
        ]
    )
    p = loop.placement
    images_arg = loop.device_images
    if images_arg is None:  # this call's batches, gathered here
        images_arg = sharding.global_array(loop.train_images[indices.reshape(-1)], p.replicated)
        indices = np.arange(indices.size, dtype=np.int32).reshape(indices.shape)
    loop.state, loop.alive, metrics = step_fn(
        loop.state,
        images_arg,
        sharding.global_array(indices, p.indices),
        loop.hparams,
        loop.alive,
        sharding.global_array(scheduled, p.per_member),
    )
    if loop.in_flight is not None:  # at most one call in flight: honest steps/s
        jax.block_until_ready(loop.in_flight)
    loop.in_flight = loop.alive
    loop.calls.append((metrics, end - t, scheduled))
    for i, m in enumerate(loop.members):
        if scheduled[i]:
            for done in range(m.step + 1, end + 1):  # clu's hook wants every step
                m.progress(done)
            m.step = end
    return end, scheduled


def _act(loop: Loop, at: dict[str, bool], end: int, scheduled: np.ndarray, fns) -> None:
    """The host's actions due after step `end` (actions.py), for each member just trained."""
    _check_failures(loop)
    if at["log"]:  # each member's steps per second since the last log (a sync above)
        now = time.perf_counter()
        rate = (end - loop.last_log[0]) / max(now - loop.last_log[1], 1e-9)
        loop.last_log = (end, now)
    generate, reconstruct = fns
    losses = []
    for i, m in enumerate(loop.members):
        if not scheduled[i] or m.failure is not None:
            continue
        state = loop.member_state(i)
        if at["log"]:
            scalars = {**actions.member_means(loop.calls, i), actions.STEPS_PER_SEC: rate}
            losses.append(scalars.get("loss", float("nan")))
            m.writer.write_scalars(end, scalars)
            if distributed.is_primary():
                curves.append_metrics(m.workdir, end, scalars)
        if at["images"]:
            actions.write_images(
                state, loop.model, end, m.workdir, m.writer, m.fixed_z, m.fixed_x, *fns
            )
        if at.get("fid"):
            result = actions.evaluate_fid(
                state, loop.model, m.config, generate, end, loop.placement
            )
            m.writer.write_scalars(end, {"fid": result["fid"]})
            if distributed.is_primary():
                curves.append_metrics(m.workdir, end, result, name="fid.jsonl")
        if at["checkpoint"]:
            loop.save(i)
    if at["log"]:
        loop.calls = []
    if losses:  # the bar's note: the loss of the steps since the last log
        spread = f"{min(losses):.4g}..{max(losses):.4g}" if len(losses) > 1 else f"{losses[0]:.4g}"
        loop.bar.note = f"loss {spread}"


def _train(
    member_configs: list[ml_collections.ConfigDict],
    member_workdirs: list[str],
    *,
    allow: Allowances,
    members: str | None,
    scan: bool | None = None,
    show_progress: bool = False,
) -> tuple[list, list[Member]]:
    """The loop, for one run (`members=None`: no member axis) or a population (see
    train_population; `members="auto"`: vmap where the mesh splits the members, else
    population.member_axis), each workdir held (workdir_lock) from its first read to the end.
    `show_progress`: a progress bar (progress.py) of the steps, steps/s, ETA and the last logged
    loss, on stderr."""
    with contextlib.ExitStack() as locks:
        return _train_held(
            member_configs, member_workdirs, allow, members, scan, show_progress, locks
        )


def _train_held(member_configs, member_workdirs, allow, members, scan, show_progress, locks):
    loop = _start(member_configs, member_workdirs, allow, members, locks)
    config = loop.config
    k = policy.steps_per_dispatch(config.steps_per_dispatch)
    scan = policy.scan(k) if scan is None else scan
    step_fn = dispatch.make_dispatch(
        functools.partial(train_step, model=loop.model),
        scan=scan,
        members=loop.axis.name,
        placement=loop.placement,
    )
    k = k if scan else 1
    fns = (state_fns.make_generate(loop.model), state_fns.make_reconstruct(loop.model))
    n = len(loop.members)
    logging.info(
        "Training %s / %s / %s (%d run%s, %d step%s per call, images on the %s, %s) to step %d",
        config.objective.name,
        config.dataset,
        config.model.arch,
        n,
        "s" if n > 1 else "",
        k,
        "s" if k > 1 else "",
        "host" if loop.device_images is None else "device",
        loop.placement.describe(),
        config.num_steps,
    )
    t0, first = time.time(), min(m.step for m in loop.members)
    loop.last_log = (first, time.perf_counter())
    if show_progress and distributed.is_primary() and first < config.num_steps:
        loop.bar = progress.Bar(config.num_steps, "train", "steps", start=first)
    with contextlib.ExitStack() as stack:
        for m in loop.members:
            stack.callback(m.writer.flush)
            stack.callback(m.checkpointer.close)
            stack.callback(m.checkpointer.wait)
        stack.callback(loop.bar.close)
        requested = stack.enter_context(stopping.stop_requests())
        while not all(m.finished for m in loop.members):
            if requested:
                raise _stop(loop, requested[0])
            end, scheduled = _dispatch(loop, step_fn, k)
            at = actions.actions_at(config, end)
            if any(at.values()):
                _act(loop, at, end, scheduled, fns)
            loop.bar.update(min(m.step for m in loop.members))
    if any(m.step > first for m in loop.members):
        for m in loop.members:
            if m.failure is None and distributed.is_primary():
                curves.plot_curves(m.workdir)
        logging.info("Done: to step %d in %.1f s", config.num_steps, time.time() - t0)
    return [loop.member_state(i) for i in range(n)], loop.members


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    allow_changed_settings: bool = False,
    allow_unverified_checkpoint: bool = False,
    *,
    progress: bool = False,
):
    """Trains (or resumes) a run in `workdir` to `config.num_steps`; returns the final state.

    Resuming with other objective / optimiser settings than the run's is refused unless
    `allow_changed_settings` (then config.json records each change with its step); resuming
    from a checkpoint without checksums (older runs) is refused unless
    `allow_unverified_checkpoint` (then config.json records its step under
    "unverified_checkpoints"). Another process training in `workdir` is a WorkdirBusyError. A
    NaN/inf loss raises NonFiniteLossError; the last good checkpoint is kept. `progress`: a
    progress bar on stderr (`pga_jax.train` shows it; the command line logs instead)."""
    allow = Allowances(allow_changed_settings, allow_unverified_checkpoint)
    states, _ = _train([config], [workdir], allow=allow, members=None, show_progress=progress)
    return states[0]


def train_population(
    member_configs: list[ml_collections.ConfigDict],
    member_workdirs: list[str],
    *,
    allow_changed_settings: bool = False,
    allow_unverified_checkpoint: bool = False,
    member_axis: str = "auto",
    progress: bool = False,
) -> list:
    """Trains (or resumes) runs that differ only in seed and objective numbers as one
    population (population.py): one stacked state, one program per call. Each member writes
    an ordinary workdir, exactly as `train_and_evaluate(config_i, workdir_i)` would, and
    resumes from its own latest checkpoint. A member whose loss goes NaN/inf is frozen (its
    workdir gets failure.json and keeps its last good checkpoint) and the others go on; then
    PopulationError names the failed members at the end. Returns the members' final states.
    `progress`: one progress bar of the population's steps (the loss: the members' range).
    """
    if len(set(map(os.path.abspath, member_workdirs))) != len(member_workdirs):
        raise population.PopulationError("two members share a workdir; give each its own")
    states, group = _train(
        member_configs,
        member_workdirs,
        allow=Allowances(allow_changed_settings, allow_unverified_checkpoint),
        members=member_axis if member_axis == "auto" else population.member_axis(member_axis),
        show_progress=progress,
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
