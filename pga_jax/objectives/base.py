"""What every objective is made of: terms that declare their networks, hyper-parameters as data.

An objective is a subclass of `Objective` in a module of its own (`vae.py`, `lpga.py`, ...),
registered with `@register`. It declares, in one place:

- `name` (the config's `objective.name`), `label` and `report_rank` (its row in reports and
  where that row goes), `variational` (whether
  the encoder has a log-variance head), `z_dim` (latent sizes per dataset where they differ
  from the dataset's own), `legacy_fields` (config names of older versions, still read);
- `terms`: each loss term with the equation it implements and the network(s) it trains
  (`Term`). The routing test differentiates every term and checks it against these
  declarations;
- `Hparams`: a `flax.struct.dataclass` of its numeric hyper-parameters, each a `hparam(...)`
  with its default, meaning and bounds. The config's `objective` block is made from it, and
  the jitted step receives it as a pytree of arrays, so one compiled step serves every value;
- `compute_terms(hp, nets, x, rng)`: every term of one step, gradient-routed with
  `jax.lax.stop_gradient` (see `Networks`), by name;
- `weights(hp, step, image_size, z_dim)`: the weight w_k of each term at `step`.

The step minimises  sum_k w_k term_k  over both networks at once; because every term routes
its own gradient, the encoder's gradient is d(encoder loss)/d(phi) and the decoder's
d(decoder loss)/d(theta), the original code's two losses (`combine`).

Only structure is static: which objective, and which of its terms are computed
(`present_terms`, e.g. LPGA computes L_lr,H only when beta > 0, as the original does).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, ClassVar

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

ENCODER, DECODER = "encoder", "decoder"
NETWORKS = (ENCODER, DECODER)
BOTH = (ENCODER, DECODER)


@dataclasses.dataclass(frozen=True)
class Term:
    """One loss term: its logged name (`terms/<name>`), the equation, the networks it trains."""

    name: str
    equation: str
    trains: tuple[str, ...]
    doc: str = ""

    def __post_init__(self):
        unknown = set(self.trains) - set(NETWORKS)
        if not self.trains or unknown:
            raise ValueError(f"term {self.name!r} must train some of {NETWORKS}, not {unknown}")


def hparam(default, doc: str, *, minimum=0, positive: bool = False):
    """A numeric hyper-parameter field: its default, what it means, and its bounds.

    `minimum` (inclusive) or `positive` (> 0) are checked by `Objective.validate`. The type
    of `default` (float or int) is the config field's type.
    """
    return flax.struct.field(
        default=default, metadata={"doc": doc, "minimum": minimum, "positive": positive}
    )


class Networks:
    """The encoder and decoder applied as pure functions, with per-call gradient routing.

    `frozen=True` applies a network with `stop_gradient(params)`: the call passes gradients to
    its *input* but not to its own parameters (the original's `no_enc_grad` trick).
    `update_stats=True` keeps the call's BatchNorm running-average update (data path only);
    every call normalises with its own batch's statistics, as the original does.
    `differenced_precision` ('highest', or None: the device's default) is the matmul and
    convolution precision of the passes `h(..., differenced=True)`: those whose outputs a term
    subtracts from each other (h(z + delta) - h(z)), where TF32's ~3 digits would be amplified.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        params,
        batch_stats,
        train=True,
        differenced_precision: str | None = None,
    ):
        self.modules = {ENCODER: encoder, DECODER: decoder}
        self.params = params
        self.batch_stats = dict(batch_stats)
        self.train = train
        self.differenced_precision = differenced_precision

    def _apply(self, name, inputs, frozen, update_stats):
        params = self.params[name]
        if frozen:
            params = jax.lax.stop_gradient(params)
        variables = {"params": params}
        stats = self.batch_stats.get(name)
        if not stats:  # no BatchNorm in this network
            return self.modules[name].apply(variables, inputs, train=self.train)
        variables["batch_stats"] = stats
        if not self.train:
            return self.modules[name].apply(variables, inputs, train=False)
        out, mutated = self.modules[name].apply(
            variables, inputs, train=True, mutable=["batch_stats"]
        )
        if update_stats:
            self.batch_stats[name] = mutated["batch_stats"]
        return out

    def encode(self, x, *, frozen=False, update_stats=False):
        """(mu, logvar) = f_phi(x); logvar is None for a deterministic encoder."""
        return self._apply(ENCODER, x, frozen, update_stats)

    def decode(self, z, *, frozen=False, update_stats=False):
        return self._apply(DECODER, z, frozen, update_stats)

    def h(self, z, *, frozen_encoder=False, frozen_decoder=False, differenced=False):
        """h(z) = f_phi(g_theta(z)), the mean head of the encoder; `differenced=True` for a
        pass whose output is subtracted from another's (at `differenced_precision`)."""
        precision = self.differenced_precision if differenced else None
        with jax.default_matmul_precision(precision) if precision else contextlib.nullcontext():
            x = self.decode(z, frozen=frozen_decoder)
            return self.encode(x, frozen=frozen_encoder)[0]


@flax.struct.dataclass
class NoHparams:
    """An objective without numeric hyper-parameters."""


class Objective:
    """Base of every objective; see the module docstring for what a subclass declares.

    Instances are static (hashable) and hold only structure: the names of the terms computed.
    """

    name: ClassVar[str]
    label: ClassVar[str | None] = None  # report row label (default: name)
    report_rank: ClassVar[int] = 100  # rows in reports by rank (the paper's: 0-3)
    variational: ClassVar[bool] = False
    terms: ClassVar[tuple[Term, ...]]
    Hparams: ClassVar[type] = NoHparams
    z_dim: ClassVar[dict[str, int]] = {}  # dataset -> latent size, where not the dataset's
    legacy_fields: ClassVar[dict[str, str]] = {}  # old config field -> current field

    def __init__(self, present_terms: frozenset[str] | None = None):
        names = {t.name for t in self.terms}
        present = frozenset(names if present_terms is None else present_terms)
        if not present <= names:
            raise ValueError(f"{self.name} has no terms {sorted(present - names)}")
        self.present_terms = present

    def __eq__(self, other):
        return type(self) is type(other) and self.present_terms == other.present_terms

    def __hash__(self):
        return hash((type(self), self.present_terms))

    def __repr__(self):
        return f"{type(self).__name__}(present_terms={sorted(self.present_terms)})"

    # ---- declarations, as tables ------------------------------------------------------------

    @classmethod
    def term_networks(cls) -> dict[str, tuple[str, ...]]:
        """{term name: networks it trains}, from `terms`."""
        return {t.name: t.trains for t in cls.terms}

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls.Hparams)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """{hyper-parameter: default}: the config's `objective` block, less `name`."""
        return {f.name: f.default for f in cls.fields()}

    @classmethod
    def structure(cls, settings) -> frozenset[str]:
        """The terms computed for these settings (a mapping of hyper-parameters): all of them
        unless a subclass drops a term whose weight is fixed at 0 (e.g. L_lr,H when beta = 0)."""
        del settings
        return frozenset(t.name for t in cls.terms)

    @classmethod
    def from_settings(cls, settings) -> Objective:
        return cls(cls.structure(settings))

    @classmethod
    def make(cls, **overrides):
        """(objective, hparams) of the defaults with `overrides`, validated: for tests and
        notebooks, e.g. `objectives.get("lpga").make(alpha=0.1, warmup_steps=0)`."""
        settings = {"name": cls.name, **cls.defaults(), **overrides}
        cls.validate(settings, where="objective")
        return cls.from_settings(settings), cls.hparams(settings)

    # ---- hyper-parameters -------------------------------------------------------------------

    @classmethod
    def validate(cls, settings, where: str = "config.objective") -> None:
        """Raises ValueError (one line, naming the field) for a missing, unknown or
        out-of-range hyper-parameter in `settings` (a mapping with `name` and every field)."""
        given = set(settings) - {"name"}
        declared = {f.name for f in cls.fields()}
        for old in sorted(given - declared):
            new = cls.legacy_fields.get(old)
            hint = f"; it is now {where}.{new}" if new else f"; its fields are {sorted(declared)}"
            raise ValueError(f"{where}.{old} is not a field of objective {cls.name!r}{hint}")
        for f in cls.fields():
            if f.name not in given:
                raise ValueError(f"{where}.{f.name} is missing (default {f.default!r})")
            value = settings[f.name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}.{f.name}={value!r} must be a number")
            if f.metadata["positive"] and not value > 0:
                raise ValueError(f"{where}.{f.name}={value} must be positive")
            minimum = f.metadata["minimum"]
            if minimum is not None and not value >= minimum:
                raise ValueError(f"{where}.{f.name}={value} must be >= {minimum}")

    @classmethod
    def hparams(cls, settings):
        """The `Hparams` pytree of `settings`: float fields as float32, int fields as int32
        scalars. Passed to the jitted step as data, so any value reuses the compiled step."""
        values = {}
        for f in cls.fields():
            dtype = jnp.int32 if isinstance(f.default, int) else jnp.float32
            values[f.name] = jnp.asarray(settings[f.name], dtype)
        return cls.Hparams(**values)

    @classmethod
    def upgrade(cls, settings: dict) -> dict:
        """Settings written by an older pga_jax (e.g. a run's config.json) in today's names:
        renamed fields take their new name; fields this objective never read are dropped."""
        settings = dict(settings)
        for old, new in cls.legacy_fields.items():
            if old in settings and new not in settings:
                settings[new] = settings.pop(old)
        declared = {f.name for f in cls.fields()} | {"name"}
        return {k: v for k, v in settings.items() if k in declared}

    @classmethod
    def report_label(cls, settings) -> str:
        """Its row in reports; subclasses may mark ablations from the settings."""
        del settings
        return cls.label or cls.name

    # ---- one step ---------------------------------------------------------------------------

    def compute_terms(self, hp, nets: Networks, x: jax.Array, rng: jax.Array) -> dict:
        """Every present term of one step, by name, each with its gradient routing."""
        raise NotImplementedError

    def weights(self, hp, step, image_size: int, z_dim: int) -> dict:
        """w_k of every term at `step` (traced: `hp` and `step` are arrays)."""
        raise NotImplementedError


def combine(objective: Objective, terms: dict, weights: dict) -> tuple[jax.Array, dict]:
    """The minimised scalar sum_k w_k term_k and the metrics: each term, the encoder's loss
    (the weighted terms that train phi), the decoder's (those that train theta), the total."""
    trains = objective.term_networks()
    total = sum(weights[k] * v for k, v in terms.items())
    metrics = {f"terms/{k}": v for k, v in terms.items()}
    for net in NETWORKS:
        metrics[f"{net}_loss"] = sum(weights[k] * v for k, v in terms.items() if net in trains[k])
    metrics["loss"] = total
    return total, metrics


def in_warmup(warmup_steps, step):
    """Whether `step` (the steps taken before it, 0 for the first) trains the plain autoencoder:
    while `step <= warmup_steps`, as the original code's `global_step <= init_steps`
    (train_lpga.py, train_lvpga.py), i.e. warmup_steps + 1 steps (3,001 for its 3,000);
    `warmup_steps = 0` is no warm-up at all. Traced."""
    return (warmup_steps > 0) & (step <= warmup_steps)


def warmup_factor(warmup_steps, ramp_steps, step):
    """Multiplier of every weight but L_r's (original code, not in the paper): 0 during the
    warm-up (`in_warmup`: steps 0 .. warmup_steps), then 1 at once (`ramp_steps` = 0, the
    original) or rising linearly over `ramp_steps` steps (1/ramp_steps at the first step after
    the warm-up). Traced."""
    warm = in_warmup(warmup_steps, step)
    first_on = jnp.where(warmup_steps > 0, warmup_steps + 1, 0)
    ramp = jnp.clip((step - first_on + 1) / jnp.maximum(ramp_steps, 1), 0.0, 1.0)
    return jnp.where(warm, 0.0, jnp.where(ramp_steps > 0, ramp, 1.0))
