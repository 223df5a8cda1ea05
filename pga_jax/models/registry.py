"""The architecture registry: an architecture is a builder of (encoder, decoder) from the
config's model block, the image shape it encodes and decodes, and the model-block knobs of
its own. Adding one is its module plus one `register(Architecture(...))`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn


def _table_1(model: Mapping) -> str:
    return ""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """`build(model, variational)` -> (encoder, decoder) Flax modules, where `model` is the
    config's model block (arch, z_dim, bn, fast_layers, ... and this architecture's `knobs`) and
    `variational` asks for the encoder's log sigma^2 head. `setting(model)` says how a model
    differs from the paper's Table 1 (e.g. "ResNet 512"; "" for Table 1's), for report."""

    name: str
    build: Callable[[Mapping, bool], tuple[nn.Module, nn.Module]]
    image_shape: tuple[int, int, int]  # (H, W, C) of the images it encodes and decodes
    knobs: Mapping[str, tuple[Any, str]] = dataclasses.field(default_factory=dict)
    setting: Callable[[Mapping], str] = _table_1


_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Adds `arch` (a name taken by another entry is refused)."""
    if _REGISTRY.get(arch.name, arch) is not arch:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    _REGISTRY[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Architecture:
    if name not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(names())}")
    return _REGISTRY[name]


def output_shape(name: str) -> tuple[int, int, int]:
    """(H, W, C) of the images architecture `name` encodes and its decoder makes."""
    return get(name).image_shape


def build(model: Mapping, variational: bool) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) of a config's model block; the architecture's knobs that the block
    lacks take their defaults."""
    arch = get(model["arch"])
    given = model.to_dict() if hasattr(model, "to_dict") else dict(model)
    block = {**{k: default for k, (default, _) in arch.knobs.items()}, **given}
    return arch.build(block, variational)
