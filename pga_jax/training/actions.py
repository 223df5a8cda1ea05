"""What the host does between the loop's calls, and when: logs (metrics.jsonl, TensorBoard),
image grids, FID and checkpoints, each every so many steps and at the last step."""

from __future__ import annotations

import math
import os

import jax
import ml_collections
import numpy as np

from pga_jax import configs, distributed, images, sharding

# The logged training speed (metrics.jsonl): each member's steps per second (the first log
# of a process includes compiling).
STEPS_PER_SEC = "steps_per_sec"


def periods(config: ml_collections.ConfigDict) -> dict[str, int]:
    """Every how many steps the host acts: {action: period} (FID only when on)."""
    every = {
        "log": config.log_every,
        "images": config.image_every,
        "fid": config.fid_every,
        "checkpoint": config.checkpoint_every,
    }
    return {action: n for action, n in every.items() if n}


def actions_at(config: ml_collections.ConfigDict, step: int) -> dict[str, bool]:
    """{action: whether the host does it after `step`}: at its period and at the last step."""
    return {
        action: step % every == 0 or step == config.num_steps
        for action, every in periods(config).items()
    }


def next_stop(config: ml_collections.ConfigDict, t: int, k: int, waiting: list[int]) -> int:
    """The step the next call ends at: t + k, or the first step after t where the host acts
    (`periods`, the last step) or a lagging member at a step in `waiting` catches up."""
    ends = [t + k, config.num_steps] + [(t // e + 1) * e for e in periods(config).values()]
    return min(ends + [s for s in waiting if s > t])


def member_means(calls: list, i: int) -> dict[str, float]:
    """Member i's per-step mean of each metric over `calls` ((metrics averaged over L steps,
    with a leading member axis; L; scheduled) of each call)."""
    rows = [(m, n) for m, n, scheduled in calls if scheduled[i]]
    if not rows:
        return {}
    fetched = [{k: v[i] for k, v in m.items()} for m in sharding.fetch([m for m, _ in rows])]
    counts = np.array([n for _, n in rows], np.float64)
    return {k: float(np.dot([m[k] for m in fetched], counts) / counts.sum()) for k in fetched[0]}


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
        samples,
        config.fid_ref_stats,
        kid=False,
        pr=False,
        celeba_crop=configs.celeba_crop(config),
        allow_unverified_ref=config.get("fid_ref_unverified", False),
    )


def check_fid_reference(config: ml_collections.ConfigDict) -> None:
    """Before training, when FID is on: the statistics record their protocol and weights
    checksum (unless config.fid_ref_unverified), and those of a CelebA run are of its crop
    (ConfigError)."""
    if not config.fid_every:
        return
    from pga_jax.fid import score  # noqa: PLC0415

    try:
        ref = score.load_stats(config.fid_ref_stats, config.get("fid_ref_unverified", False))
        score.check_crop(ref, configs.celeba_crop(config))
    except ValueError as e:
        text = str(e).replace(score.UNVERIFIED_FLAG, "--config.fid_ref_unverified=true")
        raise configs.ConfigError(f"config.fid_ref_stats: {text}") from None
