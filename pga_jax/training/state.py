"""The train state and the networks: building them from a config, creating a fresh state,
loading a checkpoint's networks for inference, and the jitted generate / reconstruct / encode
functions that training, evaluation and inference share."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging

from pga_jax import checkpointing, configs, models, objectives, optim
from pga_jax.cpu import policy


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: steps taken
    params: Any  # {'encoder': ..., 'decoder': ...}
    batch_stats: Any  # {'encoder': ..., 'decoder': ...} ({} without BatchNorm)
    opt_state: optax.OptState
    rng: jax.Array  # base key (uint32[2]); step key = fold_in(rng, step)


@dataclasses.dataclass(frozen=True)
class Model:
    """Everything static about a run: the modules, the objective and the optimiser."""

    encoder: flax.linen.Module
    decoder: flax.linen.Module
    objective: objectives.Objective  # structure only; hyper-parameters are the step's data
    tx: optax.GradientTransformation | None  # None: inference only (load_for_inference)
    image_shape: tuple[int, int, int]
    z_dim: int
    precision: str = "auto"  # config.precision: see config_fields

    def networks(self, state_or_params, batch_stats=None, train=True) -> objectives.Networks:
        if isinstance(state_or_params, TrainState):
            params, batch_stats = state_or_params.params, state_or_params.batch_stats
        else:
            params = state_or_params
        differenced = None if self.precision == "default" else "highest"
        return objectives.Networks(
            self.encoder, self.decoder, params, batch_stats, train, differenced
        )

    def precision_scope(self):
        """The precision of a whole step: 'highest' for precision='highest', else the device's
        default (the differenced passes choose their own: `networks`)."""
        if self.precision == "highest":
            return jax.default_matmul_precision("highest")
        return contextlib.nullcontext()


def build_networks(config: ml_collections.ConfigDict):
    """(encoder, decoder, objective) of a config: the Flax modules and the static objective."""
    obj = configs.objective(config)
    encoder, decoder = models.build(config.model, obj.variational)
    return encoder, decoder, obj


def create_train_state(
    config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]
) -> tuple[TrainState, Model]:
    """Initial state (Xavier-uniform weights, zero momentum) and the static model."""
    encoder, decoder, obj = build_networks(config)
    init_rng, train_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    variables = models.init_variables(encoder, decoder, init_rng, image_shape, config.model.z_dim)
    tx = optim.make_optimizer(config.optim, variables["params"])
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        opt_state=tx.init(variables["params"]),
        rng=train_rng,
    )
    model = Model(
        encoder, decoder, obj, tx, tuple(image_shape), config.model.z_dim, config.precision
    )
    return state, model


def load_for_inference(
    config: ml_collections.ConfigDict,
    workdir: str,
    step: int | None = None,
    allow_unverified: bool = False,
) -> tuple[TrainState, Model] | None:
    """The networks of `workdir`'s latest checkpoint (or that of `step`: parameters, BatchNorm
    statistics, step), verified against its manifest and checked to hold exactly the config's
    parameters, as a TrainState without optimiser state or rng and a Model without optimiser
    (`tx` None): nothing of the optimiser is built or read. None if the workdir has no
    checkpoint. A checkpoint without a manifest is a CheckpointError unless
    `allow_unverified` (then a warning says it was used unverified)."""
    encoder, decoder, obj = build_networks(config)
    shape = models.output_shape(config.model.arch)
    variables = jax.eval_shape(  # shapes only: nothing is initialised
        lambda: models.init_variables(
            encoder, decoder, jax.random.PRNGKey(0), shape, config.model.z_dim
        )
    )
    template = {**variables, "step": jax.ShapeDtypeStruct((), jnp.int32)}
    checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints, allow_unverified)
    try:
        if step is None:
            restored = checkpointer.restore_latest(template, partial=True)
        else:
            restored = checkpointer.restore(step, template, partial=True)
    finally:
        checkpointer.close()
    if restored is None:
        return None
    if int(restored["step"]) in checkpointer.unverified:
        logging.warning(
            "Checkpoint %s has no checksums: used unverified (%s)",
            checkpointer.path(int(restored["step"])),
            checkpointing.ALLOW_UNVERIFIED_FLAG,
        )
    state = TrainState(
        step=restored["step"],
        params=restored["params"],
        batch_stats=restored["batch_stats"],
        opt_state=None,
        rng=None,
    )
    model = Model(encoder, decoder, obj, None, tuple(shape), config.model.z_dim, config.precision)
    return state, model


def make_generate(model: Model):
    """jitted (state, z) -> g_theta(z); BatchNorm uses the batch's own statistics (original)."""

    def generate(state, z):
        return model.networks(state).decode(z)

    return policy.jit(generate)


def make_reconstruct(model: Model):
    """jitted (state, x) -> g_theta(mu_phi(x))."""

    def reconstruct(state, x):
        nets = model.networks(state)
        return nets.decode(nets.encode(x)[0])

    return policy.jit(reconstruct)


def make_encode(model: Model):
    """jitted (state, x) -> mu_phi(x)."""

    def encode(state, x):
        return model.networks(state).encode(x)[0]

    return policy.jit(encode)
