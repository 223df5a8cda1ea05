"""Where the loop's arrays live: one `jax.sharding.Mesh` over the devices, axes
("members", "data"), and the `NamedSharding` of each argument of the dispatch (dispatch.py).

- The batch is split over `data`: the step's indices [M, L, B] are sharded P(members, -, data),
  so each device gathers (from the replicated uint8 images) and runs its slice of the batch.
- A single run's state and hyper-parameters are replicated; a population's, which carry a
  leading member axis, are split over `members` (and replicated along `data`).
- Everything inside the jitted step is GSPMD's: a mean over the batch (BatchNorm's batch
  statistics, VPGA's batch RMS of mu, every loss term's batch mean) is a mean over the global
  batch, as one device computes it; only the order of the sums differs (float tolerance).

The mesh shape is `config.mesh.members` x `config.mesh.data` (0 = automatic): a single run puts
every device on `data`; a population of M runs puts gcd(M, devices) on `members` (all of them
when M is a multiple of the device count) and the rest on `data`. A mesh smaller than the
devices uses the first ones.

With several processes (`jax.distributed`, distributed.py) the mesh spans every process's
devices, and each host array becomes a global one from the shards of this process's devices
(`global_array`): every process holds the same full state and index arrays (same seed, same
checkpoint), so nothing is sent between hosts to build them, and each device gathers only its
slice of the batch from the training images every process holds.
"""

from __future__ import annotations

import math

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pga_jax import configs

MEMBERS, DATA = "members", "data"


def mesh_shape(
    n_devices: int, n_members: int, batch_size: int, members: int = 0, data: int = 0
) -> tuple[int, int]:
    """(members, data) of the mesh, checked: ConfigError (one line, naming the fix) unless it
    fits the devices, the population and the batch. 0 = automatic (see the module docstring)."""
    if not members:  # a population: as many as divide it, of the devices `data` leaves
        free = n_devices // data if data else n_devices
        members = math.gcd(n_members, max(free, 1))
    if not data:
        data = max(n_devices // members, 1)
    if members * data > n_devices:
        raise configs.ConfigError(
            f"config.mesh = {members} members x {data} data needs {members * data} devices, but "
            f"JAX sees {n_devices} ({jax.default_backend()}): lower config.mesh.members / "
            "config.mesh.data (0 = automatic)"
        )
    if n_members % members:
        raise configs.ConfigError(
            f"{n_members} run{'s' if n_members > 1 else ''} cannot be split over "
            f"config.mesh.members={members} devices: use a population size that is a multiple of "
            f"{members}, or another config.mesh.members"
        )
    if batch_size % data:
        raise configs.ConfigError(
            f"config.batch_size={batch_size} cannot be split over config.mesh.data={data} "
            f"devices: use a multiple of {data}, or another config.mesh.data"
        )
    return members, data


def make_mesh(config: ml_collections.ConfigDict, n_members: int) -> Mesh:
    """The mesh of a run (n_members = 1) or a population, over the first members x data
    devices of `jax.devices()` (every process's, in process order)."""
    devices = jax.devices()
    members, data = mesh_shape(
        len(devices), n_members, config.batch_size, config.mesh.members, config.mesh.data
    )
    grid = np.array(devices[: members * data]).reshape(members, data)
    return Mesh(grid, (MEMBERS, DATA))


class Placement:
    """The shardings of the dispatch's arguments on `mesh`, for one run (`population=False`:
    no member axis on the state) or a population."""

    def __init__(self, mesh: Mesh, population: bool):
        self.mesh, self.population = mesh, population
        self.replicated = NamedSharding(mesh, P())
        self.per_member = NamedSharding(mesh, P(MEMBERS))  # alive, scheduled, metrics
        self.state = self.per_member if population else self.replicated  # and hparams
        self.indices = NamedSharding(mesh, P(MEMBERS, None, DATA))  # [M, L, B]
        self.batch = NamedSharding(mesh, P(DATA))  # [B, ...]: generation, FID

    @property
    def data_size(self) -> int:
        return self.mesh.shape[DATA]

    def describe(self) -> str:
        m, d = self.mesh.shape[MEMBERS], self.mesh.shape[DATA]
        return f"{m} x {d} (members x data) mesh of {m * d} {jax.default_backend()} device(s)"


def data_placement() -> Placement:
    """Every device of this process on `data` (evaluation: generation split over them)."""
    devices = np.array(jax.local_devices()).reshape(1, -1)
    return Placement(Mesh(devices, (MEMBERS, DATA)), population=False)


def global_array(x, sharding: NamedSharding) -> jax.Array:
    """The global jax.Array of `sharding` whose value is `x`, a host array (or a jax.Array)
    that every process holds whole: each process places only its own devices' shards."""
    if isinstance(x, jax.Array) and x.sharding == sharding:  # already there (e.g. restored)
        return x
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    host = to_host(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def alongside(x, like: jax.Array):
    """`x` (a host or local array) where it can meet the global array `like` in one jitted
    call: with several processes, replicated on `like`'s mesh; else `x` itself."""
    if jax.process_count() == 1:
        return x
    return global_array(x, NamedSharding(like.sharding.mesh, P()))


def put(tree, sharding: NamedSharding):
    """`global_array` of every leaf of `tree`."""
    return jax.tree.map(lambda x: global_array(x, sharding), tree)


def to_host(x) -> np.ndarray:
    """The value of a jax.Array on this host, also when it spans other processes' devices
    (replicated: this process's copy; sharded: gathered from every process)."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.sharding.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def fetch(tree):
    """`to_host` of every leaf of `tree` (jax.device_get for global arrays)."""
    return jax.tree.map(to_host, tree)
