"""The train step: `(state, batch, hparams) -> (state, metrics)`, pure, jitted with the state
donated. Per-step randomness is `fold_in(state.rng, state.step)`; the objective's
hyper-parameters are a pytree of arrays, so any value reuses the compiled step."""

from __future__ import annotations

import functools
import math

import jax
import optax

from pga_jax import objectives
from pga_jax.cpu import policy
from pga_jax.training.state import Model, TrainState


def loss_fn(params, state: TrainState, model: Model, batch: jax.Array, hparams, rng: jax.Array):
    """sum_k w_k term_k (gradient-routed terms, see objectives/) and its metrics."""
    nets = model.networks(params, state.batch_stats)
    terms = model.objective.compute_terms(hparams, nets, batch, rng)
    weights = model.objective.weights(
        hparams, state.step, math.prod(model.image_shape), model.z_dim
    )
    total, metrics = objectives.combine(model.objective, terms, weights)
    return total, (metrics, nets.batch_stats)


def train_step(
    state: TrainState, batch: jax.Array, hparams, model: Model
) -> tuple[TrainState, dict]:
    """One SGD step on a [B, H, W, C] batch in [-1, 1], with the objective's hyper-parameters
    `hparams` (a pytree of arrays: any value reuses the compiled step). Pure; jit with
    `donate_argnums=0`."""
    rng = jax.random.fold_in(state.rng, state.step)
    with model.precision_scope():  # config.precision
        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(
            state.params, state, model, batch, hparams, rng
        )
    updates, opt_state = model.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm/encoder"] = optax.tree.norm(grads["encoder"])
    metrics["grad_norm/decoder"] = optax.tree.norm(grads["decoder"])
    new_state = state.replace(
        step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
    )
    return new_state, metrics


def make_train_step(model: Model):
    return policy.jit(functools.partial(train_step, model=model), donate_argnums=0)
