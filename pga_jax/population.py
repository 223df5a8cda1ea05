"""Populations: runs that differ only in seed and in the objective's numbers, trained as one.

Their states are stacked on a leading member axis and one compiled program steps them all
(`dispatch.make_dispatch(..., members=...)`). Everything else must be equal: the structure of
the networks and the program (dataset, architecture, batch size, optimiser, ...) and the
loop's schedule (steps, logging, checkpoints). `check_members` says which key differs.

The objective's structure is the union of the members' (`shared_objective`): LPGA and its
alpha = beta = 0 ablation share one program, the ablation computing L_lr,H with weight 0
(L_lr,H draws no noise, and a 0-weighted term adds exactly 0 to every gradient).
"""

from __future__ import annotations

import ml_collections

from pga_jax import config_fields, configs, dispatch, errors, objectives
from pga_jax.cpu import policy


class PopulationError(errors.UserError, ValueError):
    """Runs that cannot train as one population, or members that failed; names which
    (`failed`: the failed members' workdirs)."""

    def __init__(self, message: str, failed: tuple[str, ...] = ()):
        super().__init__(message)
        self.failed = tuple(failed)


def may_differ(key: str) -> bool:
    """Whether members may differ in the dotted config key (config_fields' `member` fields: the
    seed and the objective's hyper-parameters)."""
    row = config_fields.field(key)
    return row is not None and row.member


def check_members(member_configs: list[ml_collections.ConfigDict]) -> None:
    """PopulationError (one line, naming the key) unless the configs may form a population."""
    if not member_configs:
        raise PopulationError("a population needs at least one run")
    flats = [configs.flatten(c.to_dict()) for c in member_configs]
    first = flats[0]
    for i, flat in enumerate(flats[1:], 1):
        # the objective first: members of other objectives differ in many fields
        for key in ["objective.name", *sorted(first.keys() | flat.keys())]:
            a, b = first.get(key), flat.get(key)
            if a != b and not may_differ(key):
                raise PopulationError(
                    f"runs 0 and {i} differ in {key} ({a!r} vs {b!r}); a population's runs may "
                    "differ only in seed and config.objective's numbers: train them separately "
                    "(without --population)"
                )


def shared_objective(member_configs: list[ml_collections.ConfigDict]) -> objectives.Objective:
    """The objective that computes every term any member computes."""
    cls = configs.objective_class(member_configs[0].objective.name)
    present = frozenset().union(*(configs.objective(c).present_terms for c in member_configs))
    return cls(present)


def member_axis(name: str) -> str:
    """config.population.member_axis: `auto` resolved, others checked."""
    if name == "auto":
        return policy.member_axis()
    if name not in dispatch.MEMBER_AXES:
        raise configs.ConfigError(
            f"member axis {name!r} is unknown; choose auto or one of {dispatch.MEMBER_AXES}"
        )
    return name
