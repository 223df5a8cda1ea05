"""The train step and loop under `:smoke` configs (synthetic data, tiny steps)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pga_jax import checkpointing, configs, curves, data, models, objectives, train

DATASET_PREFIX = {
    "conv_mnist": "mnist",
    "conv_32": "cifar",
    "conv_64": "celeba",
    "resnet_32": "cifar",
}


def smoke_config(objective, arch="conv_mnist"):
    config = configs.load_experiment(f"{DATASET_PREFIX[arch]}_{objective}", "smoke")
    config.model.arch = arch
    return config


def batch_for(config, step=0):
    images = train.load_training_images(config)
    return jnp.asarray(data.batch_at(images, step, config.batch_size, config.seed))


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("arch", models.ARCHITECTURES)
@pytest.mark.parametrize("objective", objectives.OBJECTIVES)
def test_one_step_changes_both_networks_with_finite_losses(objective, arch):
    config = smoke_config(objective, arch)
    config.objective.warmup_steps = 0  # every term active from the first step
    state, model = train.create_train_state(config, models.OUTPUT_SHAPES[arch])
    before = jax.device_get(state.params)
    state, metrics = train.make_train_step(model)(state, batch_for(config))
    for k, v in metrics.items():
        assert np.isfinite(float(v)), k
    for net in ("encoder", "decoder"):
        changed = [
            not np.array_equal(a, b)
            for a, b in zip(_leaves(before[net]), _leaves(state.params[net]), strict=True)
        ]
        assert any(changed), f"{objective}/{arch}: the {net} did not move"
    assert int(state.step) == 1


def _plain_autoencoder_params(config, state0, model, batches):
    """Independent reference: SGD-momentum on mse(x, Dec(mu(Enc(x)))) over all parameters."""
    tx = optax.sgd(config.optim.learning_rate, momentum=config.optim.momentum)

    def loss(params, x):
        mu = model.encoder.apply({"params": params["encoder"]}, x)[0]
        return jnp.mean((x - model.decoder.apply({"params": params["decoder"]}, mu)) ** 2)

    params, opt_state = state0.params, tx.init(state0.params)
    for x in batches:
        updates, opt_state = tx.update(jax.grad(loss)(params, x), opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize(
    "objective,zero_weights",
    [
        ("lpga", True),
        ("vpga", True),
        ("lvpga", True),
        ("lpga", False),
        ("lvpga", False),  # warm-up: plain autoencoder for the first steps
    ],
)
def test_update_equals_plain_autoencoder_when_only_L_r_is_on(objective, zero_weights):
    config = smoke_config(objective)
    if zero_weights:
        config.objective.update(alpha=0.0, beta=0.0, gamma=0.0, vrec=0.0, vkld=0.0, warmup_steps=0)
    else:
        config.objective.update(alpha=0.5, beta=0.5, gamma=0.5, vrec=0.5, warmup_steps=10)
    state, model = train.create_train_state(config, (28, 28, 1))
    want = _plain_autoencoder_params(config, state, model, [batch_for(config, s) for s in range(3)])
    step_fn = train.make_train_step(model)
    for s in range(3):
        state, _ = step_fn(state, batch_for(config, s))
    for a, b in zip(_leaves(state.params), _leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_warmup_ends_and_the_update_then_differs_from_an_autoencoder():
    config = smoke_config("lpga")
    config.objective.warmup_steps = 1
    state, model = train.create_train_state(config, (28, 28, 1))
    batches = [batch_for(config, s) for s in range(2)]
    want = _plain_autoencoder_params(config, state, model, batches)
    step_fn = train.make_train_step(model)
    for x in batches:
        state, _ = step_fn(state, x)
    diffs = [
        np.max(np.abs(a - b)) for a, b in zip(_leaves(state.params), _leaves(want), strict=True)
    ]
    assert max(diffs) > 1e-4


def test_every_parameter_carries_an_optimiser_label():
    from pga_jax import optim

    config = smoke_config("vpga")
    state, _ = train.create_train_state(config, (28, 28, 1))
    labels = optim.param_labels(state.params)
    assert set(jax.tree.leaves(labels)) == {"encoder", "decoder"}
    with pytest.raises(ValueError, match="top-level keys"):
        optim.param_labels({"encoder": state.params["encoder"], "extra": {"w": jnp.ones(2)}})


def test_stopped_and_resumed_run_matches_uninterrupted(tmp_path):
    config = smoke_config("lpga", "conv_32")  # BatchNorm on: running averages are resumed too
    config.objective.warmup_steps = 2
    config.num_steps = 6
    full = train.train_and_evaluate(config, str(tmp_path / "full"))

    config.num_steps = 3
    config.checkpoint_every = 3
    train.train_and_evaluate(config, str(tmp_path / "split"))
    config.num_steps = 6
    resumed = train.train_and_evaluate(config, str(tmp_path / "split"))

    assert int(resumed.step) == int(full.step) == 6
    for a, b in zip(
        _leaves((full.params, full.batch_stats, full.opt_state)),
        _leaves((resumed.params, resumed.batch_stats, resumed.opt_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(tmp_path / "full" / "images" / "samples_latest.png")
    assert os.path.exists(tmp_path / "full" / "images" / "reconstructions_0000006.png")
    # logged scalars: one row per log step, a resumed run's rows continue the earlier ones
    for run, logged in (("full", [2, 4, 6]), ("split", [2, 3, 4, 6])):  # split stopped at 3
        rows = curves.read_metrics(str(tmp_path / run))
        assert list(rows) == logged and all(np.isfinite(r["loss"]) for r in rows.values())
        assert os.path.exists(tmp_path / run / "curves.png")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = smoke_config("lpga")
    config.num_steps = 2
    train.train_and_evaluate(config, str(tmp_path))
    good = checkpointing.Checkpointer(str(tmp_path), 2)
    assert good.latest_step() == 2
    good.close()

    config.num_steps = 8
    config.optim.learning_rate = 1e30
    with pytest.raises(train.NonFiniteLossError, match="last good checkpoint"):
        train.train_and_evaluate(config, str(tmp_path))
    ckpt = checkpointing.Checkpointer(str(tmp_path), 2)
    assert ckpt.latest_step() == 2
    state, _ = train.create_train_state(config, (28, 28, 1))
    restored = ckpt.restore_latest(state)
    assert all(np.isfinite(x).all() for x in _leaves(restored.params))
    ckpt.close()


def test_corrupted_checkpoint_is_a_clear_error_and_is_left_in_place(tmp_path):
    config = smoke_config("vae")
    config.num_steps = 2
    train.train_and_evaluate(config, str(tmp_path))
    ckpt_dir = tmp_path / "checkpoints" / "2"
    corrupted = []
    for root, _, files in os.walk(ckpt_dir):
        for f in files:
            path = os.path.join(root, f)
            if os.path.getsize(path) > 0 and "commit_success" not in f:
                with open(path, "r+b") as fh:
                    fh.write(b"\x00garbage\xff" * 4)
                corrupted.append(path)
    assert corrupted
    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/2 cannot be restored"):
        train.train_and_evaluate(config, str(tmp_path))
    assert all(os.path.exists(p) for p in corrupted)


def test_resuming_a_workdir_with_another_model_is_refused(tmp_path):
    from pga_jax import configs

    config = smoke_config("lpga")
    config.num_steps = 1
    train.train_and_evaluate(config, str(tmp_path))
    config.model.z_dim = 7
    with pytest.raises(configs.ConfigError, match="new --workdir"):
        train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize("fast", [False, True])
def test_config_chooses_the_strided_conv_implementation(fast):
    config = smoke_config("lpga")
    config.model.fast_layers = fast
    _, model = train.create_train_state(config, (28, 28, 1))
    want = (
        (models.fast_conv, models.fast_conv_transpose)
        if fast
        else (models.plain_conv, models.plain_conv_transpose)
    )
    assert (model.encoder.conv, model.decoder.dconv) == want
