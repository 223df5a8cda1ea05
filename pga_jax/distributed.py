"""Many processes (hosts) as one run: `jax.distributed`, and which process writes.

    python -m pga_jax.main --config=... --workdir=SHARED_DIR \
        --coordinator_address=HOST0:1234 --num_processes=2 --process_id=0   # on host 0
        ...                                                  --process_id=1   # on host 1

Where JAX detects the cluster itself (SLURM's `srun`, a Cloud TPU VM slice, Open MPI), the
flags may be left out: `--distributed=auto` calls `jax.distributed.initialize()` without
arguments. Every process runs the same program on the same global arrays (sharding.py); the
workdir must be one folder all of them see (orbax writes each array's shards from the
process that holds them). Logs, images, metric files, config.json and evaluation artefacts
are written by process 0 only (`is_primary`); every process resumes from the same step (the
latest checkpoint, read by all).

A process that cannot reach the coordinator fails after `timeout_s` with one line, not a hang.
"""

from __future__ import annotations

import os
import socket
import time

import jax

from pga_jax import errors


class DistributedError(errors.UserError, RuntimeError):
    """The processes could not be joined; the message says what to check."""


# Environment variables by which a cluster tells JAX its processes (jax's own cluster
# detection: SLURM, Open MPI, Cloud TPU); with one of these set, `auto` initialises.
CLUSTER_ENV = (
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
)


def is_primary() -> bool:
    """Whether this process writes the run's files (process 0)."""
    return jax.process_index() == 0


def initialize(
    coordinator_address: str = "",
    num_processes: int = 0,
    process_id: int = -1,
    *,
    mode: str = "auto",
    timeout_s: int = 300,
    cpu_collectives: str = "gloo",
) -> bool:
    """Joins this process to the others, before any other JAX call. Returns whether it did.

    `mode`: `off` (one process), `on` (always: from the arguments or the cluster's
    environment), `auto` (when an address is given or a cluster's environment is present).
    On CPUs the processes exchange arrays through `cpu_collectives` (gloo).
    """
    if mode not in ("auto", "on", "off"):
        raise DistributedError(f"--distributed={mode!r}: use auto, on or off")
    explicit = bool(coordinator_address)
    if mode == "off" or (
        mode == "auto" and not explicit and not any(v in os.environ for v in CLUSTER_ENV)
    ):
        return False
    if explicit and (num_processes <= 0 or process_id < 0 or process_id >= num_processes):
        raise DistributedError(
            f"--coordinator_address={coordinator_address} needs --num_processes >= 1 and "
            f"0 <= --process_id < --num_processes (got {num_processes}, {process_id})"
        )
    if explicit and process_id > 0:  # jax aborts the process when it cannot register
        _wait_for_coordinator(coordinator_address, timeout_s)
    if cpu_collectives:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    kwargs = {"initialization_timeout": timeout_s}
    if explicit:
        kwargs.update(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as e:  # jax raises XlaRuntimeError / ValueError / RuntimeError
        first = " ".join(str(e).split())[:240]
        where = coordinator_address or "the coordinator of the cluster's environment"
        raise DistributedError(
            f"could not join the other processes through {where} within {timeout_s} s "
            f"({type(e).__name__}: {first}); check that process 0 runs and the address and "
            "port are reachable"
        ) from None
    return True


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Returns once `address` (host:port) accepts a TCP connection; DistributedError (one
    line) after `timeout_s`. jax's own client ends the process with a C++ fatal error and a
    stack dump instead, so a process other than 0 checks first."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(f"--coordinator_address={address!r}: expected host:port")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"could not join the other processes through {address} within "
                    f"{timeout_s:g} s ({e.strerror or e}); check that process 0 runs and the "
                    "address and port are reachable"
                ) from None
            time.sleep(0.5)


def barrier(name: str) -> None:
    """Waits until every process reaches `name` (nothing with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices(name)
