"""The optimiser: one SGD-with-momentum per network, over the labels `encoder` / `decoder`.

`optax.multi_transform` gives each network its own partition (and, if wanted, its own learning
rate). Together with the stop-gradients of `objectives/` this reproduces the original code,
which applies grad(enc_loss, phi) and grad(dec_loss, theta) with one MomentumOptimizer(lr, 0.9).
Every parameter leaf must carry a label: `param_labels` asserts it.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

NETWORKS = ("encoder", "decoder")


def param_labels(params) -> dict:
    """{'encoder': ..., 'decoder': ...} -> the same tree with each leaf replaced by its network.

    Raises ValueError if the top level is not exactly the two networks or a leaf is unlabelled.
    """
    if set(params) != set(NETWORKS):
        raise ValueError(
            f"params must have exactly the top-level keys {NETWORKS}, got {sorted(params)}"
        )
    labels = {net: jax.tree.map(lambda _, n=net: n, params[net]) for net in NETWORKS}
    leaves, _ = jax.tree.flatten(labels)
    n_params = len(jax.tree.leaves(params))
    if len(leaves) != n_params or not all(label in NETWORKS for label in leaves):
        raise ValueError("every parameter leaf must be labelled 'encoder' or 'decoder'")
    return labels


def make_optimizer(optim: ml_collections.ConfigDict, params) -> optax.GradientTransformation:
    """SGD(lr * scale, momentum) for each network (constant lr, not Nesterov, as the original)."""

    def sgd(scale):
        return optax.sgd(optim.learning_rate * scale, momentum=optim.momentum)

    return optax.multi_transform(
        {"encoder": sgd(optim.encoder_lr_scale), "decoder": sgd(optim.decoder_lr_scale)},
        param_labels(params),
    )
