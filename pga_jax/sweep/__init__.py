"""Sweeps: a grid of config settings x seeds, one workdir per run: the library is `grid.py` (its
docstring: the flags, the workdirs, skipping and resuming), the command line `__main__.py`."""

from pga_jax.sweep.grid import (
    CONFIG_PREFIX,
    RunSpec,
    SweepError,
    apply_override,
    commands,
    execute,
    parse_set,
    plan,
    run_name,
    run_population,
    status,
)

__all__ = [
    "CONFIG_PREFIX",
    "RunSpec",
    "SweepError",
    "apply_override",
    "commands",
    "execute",
    "parse_set",
    "plan",
    "run_name",
    "run_population",
    "status",
]
