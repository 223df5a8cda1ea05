"""Many steps per jitted call, on the device: the training loop's one program.

    dispatch(state, images, indices, hparams, alive, scheduled) -> (state, alive, metrics)

- `images`: uint8 [N, H, W, C] on the device: the training set, or (when it does not fit) the
  batches of this call gathered on the host;
- `indices`: int32 [L, B] into `images`, the batches of the next L steps
  (`data.batch_indices`: the same (seed, step) order as ever, so runs resume identically);
- `alive`: bool, False once the run diverged; `scheduled`: bool, whether this call trains it
  at all. A step whose metrics are not all finite leaves the state as it was and clears
  `alive`: a run that diverges is frozen at its last good step, on the device, and the host
  learns of it from the returned `alive` (which the next call takes as it is);
- `metrics`: each metric averaged over the L steps.

Images reach [-1, 1] through `data.UNIT_RANGE_TABLE` (the host's float32 numbers, exactly).

With L > 1 the steps are a `jax.lax.scan` (`scan=True`), so the host acts only between calls.
Every L and a scan of L = 1 run the same compiled loop body, hence the same numbers: a run
with K = 1 and K = 50 steps per call ends with identical parameters. `scan=False` (L = 1)
calls the step directly: XLA's CPU backend runs convolutions inside a loop body 10-20x slower
than outside one (jax-ml/jax#12868; measured here: LPGA conv_mnist 0.32 vs 5.2 steps/s), so
on a CPU one step per call is the fast way; it is compiled apart from the scan, so its numbers
differ from the scan's by rounding (tests/same_run.py: close at the first step, then amplified).

`indices`, `alive`, `scheduled` and the returned `alive` and `metrics` always have a leading
member axis ([M, L, B], [M], ...): M = 1 for one run (`members=None`), whose state and
`hparams` have none, so the loop treats one run and a population alike without slicing on the
host. A population's state and `hparams` have that axis too (`images` is shared):
`members="vmap"` maps the program over it with `jax.vmap` (the way for GPUs and TPUs),
`members="unrolled"` runs each member's program in turn inside the one call (XLA's CPU
backend runs the grouped convolutions vmap makes of per-member weights 3-4x slower than
separate ones).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from pga_jax import data, sharding
from pga_jax.cpu import policy

MEMBER_AXES = ("vmap", "unrolled")


def all_finite(metrics: dict) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(metrics)]))


def _run(step: Callable, state, images, indices, hparams, alive, scheduled, *, scan: bool):
    """L steps of one run (see the module docstring)."""
    table = jnp.asarray(data.UNIT_RANGE_TABLE)
    active = alive & scheduled

    def one(carry, idx):
        state, active = carry
        new, metrics = step(state, table[images[idx]], hparams)
        ok = active & all_finite(metrics)
        state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
        return (state, ok), metrics

    if not scan:
        if indices.shape[0] != 1:
            raise ValueError(f"scan=False runs one step per call, not {indices.shape[0]}")
        (state, active), metrics = one((state, active), indices[0])
    else:
        (state, active), metrics = jax.lax.scan(one, (state, active), indices)
        metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
    return state, jnp.where(scheduled, active, alive), metrics


def member(tree, i: int):
    """Member `i` of a tree with a leading member axis."""
    return jax.tree.map(lambda x: x[i], tree)


def stack(trees: list):
    """Trees of equal structure as one tree with a leading member axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@dataclasses.dataclass(frozen=True)
class MemberAxis:
    """How the members' trees (states, hparams) are one tree: `name` None for one run (no
    member axis: the tree is the run's own), else one of MEMBER_AXES (a leading axis)."""

    name: str | None

    def stack(self, trees: list):
        return trees[0] if self.name is None else stack(trees)

    def member(self, tree, i: int):
        return tree if self.name is None else member(tree, i)


def make_dispatch(
    step: Callable,
    *,
    scan: bool,
    members: str | None = None,
    donate: bool = True,
    placement: sharding.Placement | None = None,
) -> Callable:
    """The jitted dispatch of `step` ((state, batch, hparams) -> (state, metrics)): one run
    (`members=None`) or a population (`members` in MEMBER_AXES); the state is donated. With a
    `placement` (sharding.py) its arguments and results are sharded on that mesh (the batch
    over `data`, a population's members over `members`); without, they stay where they are."""
    run = functools.partial(_run, step, scan=scan)
    if members is None:
        one_run = run

        def run(state, images, indices, hparams, alive, scheduled):
            state, alive, metrics = one_run(
                state, images, indices[0], hparams, alive[0], scheduled[0]
            )
            return state, alive[None], jax.tree.map(lambda m: m[None], metrics)

    elif members == "vmap":
        run = jax.vmap(run, in_axes=(0, None, 0, 0, 0, 0))
    elif members == "unrolled":
        single = run

        def run(state, images, indices, hparams, alive, scheduled):
            outs = [
                single(
                    member(state, i), images, indices[i], member(hparams, i), alive[i], scheduled[i]
                )
                for i in range(indices.shape[0])
            ]
            return stack(outs)

    else:
        raise ValueError(f"members={members!r}: use one of {MEMBER_AXES} or None")
    donate_argnums = 0 if donate else ()
    if placement is None:
        return policy.jit(run, donate_argnums=donate_argnums)
    p = placement
    return policy.jit(
        run,
        donate_argnums=donate_argnums,
        in_shardings=(p.state, p.replicated, p.indices, p.state, p.per_member, p.per_member),
        out_shardings=(p.state, p.per_member, p.per_member),
    )
