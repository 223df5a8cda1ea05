"""The registry of objectives: `@register` a subclass of `Objective`; `get(name)` finds it.

The four objectives of the paper register themselves when `pga_jax.objectives` is imported.
A new objective is one module that defines and registers a subclass; it is found by every
part of pga_jax (configs, validation, the train step, reports, benchmarks) once imported,
e.g. from the experiment config that uses it.
"""

from __future__ import annotations

from pga_jax.objectives.base import Objective

_REGISTRY: dict[str, type[Objective]] = {}


def register(cls: type[Objective]) -> type[Objective]:
    """Class decorator: makes `cls` available as `config.objective.name = cls.name`."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise TypeError(f"{cls!r} is not a subclass of pga_jax.objectives.Objective")
    known = _REGISTRY.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise ValueError(f"objective {cls.name!r} is already registered by {known.__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Removes an objective (tests that register a toy one clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered objective names in report order: by `report_rank` (the paper's four first),
    then in registration order."""
    order = sorted(enumerate(_REGISTRY.values()), key=lambda ic: (ic[1].report_rank, ic[0]))
    return tuple(cls.name for _, cls in order)


def get(name: str) -> type[Objective]:
    """The objective class registered as `name`; ValueError (one line) if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown objective {name!r}; choose one of {names()} "
            "(or import the module that registers it)"
        ) from None
