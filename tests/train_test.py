"""The train step and loop under `:smoke` configs (synthetic data, tiny steps)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pga_jax import checkpointing, configs, curves, data, models, objectives, training

# The objectives' term weights, set to 0 to leave only L_r (and the VAE's reconstruction).
WEIGHT_FIELDS = ("alpha", "beta", "gamma", "vrec", "eta", "gamma_prime")

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


def stepper(config, model):
    """The jitted train step with the config's hyper-parameters: (state, batch) -> state, m."""
    step_fn, hparams = training.make_train_step(model), configs.objective_hparams(config)
    return lambda state, batch: step_fn(state, batch, hparams)


def batch_for(config, step=0):
    images = training.load_training_images(config)
    return jnp.asarray(data.batch_at(images, step, config.batch_size, config.seed))


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("arch", models.names())
@pytest.mark.parametrize("objective", objectives.names())
def test_one_step_changes_both_networks_with_finite_losses(objective, arch):
    config = configs.all_terms_on(smoke_config(objective, arch))
    state, model = training.create_train_state(config, models.output_shape(arch))
    before = jax.device_get(state.params)
    state, metrics = stepper(config, model)(state, batch_for(config))
    for k, v in metrics.items():
        assert np.isfinite(float(v)), k
    for net in ("encoder", "decoder"):
        changed = [
            not np.array_equal(a, b)
            for a, b in zip(_leaves(before[net]), _leaves(state.params[net]), strict=True)
        ]
        assert any(changed), f"{objective}/{arch}: the {net} did not move"
    assert int(state.step) == 1


def test_one_compiled_step_serves_every_hyperparameter_value():
    """Numeric hyper-parameters are the step's data: a new alpha, gamma or warm-up length
    reuses the compiled step (and changes the result); only structure recompiles."""
    config = smoke_config("lpga")
    state, model = training.create_train_state(config, (28, 28, 1))
    step_fn = training.make_train_step(model)
    batch = batch_for(config)
    results = []
    for alpha, gamma, warmup in ((0.06, 0.015, 0), (0.5, 0.2, 0), (0.5, 0.2, 10)):
        config.objective.update(alpha=alpha, gamma=gamma, warmup_steps=warmup)
        state0 = jax.tree.map(jnp.copy, state)
        _, metrics = step_fn(state0, batch, configs.objective_hparams(config))
        results.append(float(metrics["loss"]))
    assert step_fn._cache_size() == 1
    assert len(set(results)) == 3  # each value did change the loss


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
    weights = [k for k in WEIGHT_FIELDS if k in config.objective]
    if zero_weights:
        config.objective.update({k: 0.0 for k in weights}, warmup_steps=0)
    else:
        config.objective.update({k: 0.5 for k in weights}, warmup_steps=10)
    state, model = training.create_train_state(config, (28, 28, 1))
    want = _plain_autoencoder_params(config, state, model, [batch_for(config, s) for s in range(3)])
    step_fn = stepper(config, model)
    for s in range(3):
        state, _ = step_fn(state, batch_for(config, s))
    for a, b in zip(_leaves(state.params), _leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_warmup_ends_and_the_update_then_differs_from_an_autoencoder():
    config = smoke_config("lpga")
    config.objective.warmup_steps = 1  # steps 0 and 1 warm up (step <= 1); step 2 does not
    state, model = training.create_train_state(config, (28, 28, 1))
    batches = [batch_for(config, s) for s in range(3)]
    want = _plain_autoencoder_params(config, state, model, batches)
    step_fn = stepper(config, model)
    for x in batches:
        state, _ = step_fn(state, x)
    diffs = [
        np.max(np.abs(a - b)) for a, b in zip(_leaves(state.params), _leaves(want), strict=True)
    ]
    assert max(diffs) > 1e-4


def test_every_parameter_carries_an_optimiser_label():
    from pga_jax import optim

    config = smoke_config("vpga")
    state, _ = training.create_train_state(config, (28, 28, 1))
    labels = optim.param_labels(state.params)
    assert set(jax.tree.leaves(labels)) == {"encoder", "decoder"}
    with pytest.raises(ValueError, match="top-level keys"):
        optim.param_labels({"encoder": state.params["encoder"], "extra": {"w": jnp.ones(2)}})


@pytest.mark.parametrize("arch", ["conv_mnist", "conv_32"])
def test_stopped_and_resumed_run_matches_uninterrupted(tmp_path, arch):
    # conv_mnist: the smoke loop the other tests compile; conv_32 (slow tier): BatchNorm on, its
    # running averages are resumed too
    config = smoke_config("lpga", arch)
    config.objective.warmup_steps = 2
    config.num_steps = 6
    full = training.train_and_evaluate(config, str(tmp_path / "full"))

    config.num_steps = 3
    config.checkpoint_every = 3
    training.train_and_evaluate(config, str(tmp_path / "split"))
    config.num_steps = 6
    resumed = training.train_and_evaluate(config, str(tmp_path / "split"))

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
    training.train_and_evaluate(config, str(tmp_path))
    good = checkpointing.Checkpointer(str(tmp_path), 2)
    assert good.latest_step() == 2
    good.close()

    config.num_steps = 8
    config.optim.learning_rate = 1e30
    with pytest.raises(training.NonFiniteLossError, match="last good checkpoint"):
        training.train_and_evaluate(config, str(tmp_path), allow_changed_settings=True)
    ckpt = checkpointing.Checkpointer(str(tmp_path), 2)
    assert ckpt.latest_step() == 2
    state, _ = training.create_train_state(config, (28, 28, 1))
    restored = ckpt.restore_latest(state)
    assert all(np.isfinite(x).all() for x in _leaves(restored.params))
    ckpt.close()


def test_a_non_finite_loss_names_the_term_and_its_likely_cause():
    from pga_jax.training import stopping

    inf = float("inf")
    minus = str(stopping.non_finite_error({"terms/nll_dec": -inf, "loss": -inf, "x": 1.0}, 52, 50))
    assert "terms/nll_dec is -inf" in minus and "exact zero" in minus
    assert "learning_rate" not in minus and "step 50" in minus and "\n" not in minus
    nan = str(stopping.non_finite_error({"terms/rec": float("nan"), "loss": inf}, 9, 8))
    assert "terms/rec is nan" in nan and "learning_rate" in nan
    weight = str(stopping.non_finite_error({"terms/nll_dec": 1.0, "loss": inf}, 3, 2))
    assert "weight of config.objective" in weight and "learning_rate" not in weight


def test_corrupted_checkpoint_is_a_clear_error_and_is_left_in_place(tmp_path):
    config = smoke_config("lpga")
    config.num_steps = 2
    training.train_and_evaluate(config, str(tmp_path))
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
    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/2 is damaged"):
        training.train_and_evaluate(config, str(tmp_path))
    assert all(os.path.exists(p) for p in corrupted)


def test_resuming_a_workdir_with_another_model_is_refused(tmp_path):
    from pga_jax import configs

    config = smoke_config("lpga")
    config.num_steps = 1
    training.train_and_evaluate(config, str(tmp_path))
    config.model.z_dim = 7
    with pytest.raises(configs.ConfigError, match="new --workdir"):
        training.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize("fast", [False, True])
def test_config_chooses_the_strided_conv_implementation(fast):
    config = smoke_config("lpga")
    config.model.fast_layers = fast
    _, model = training.create_train_state(config, (28, 28, 1))
    want = (
        (models.fast_conv, models.fast_conv_transpose, models.fast_dense)
        if fast
        else (models.plain_conv, models.plain_conv_transpose, models.plain_dense)
    )
    assert (model.encoder.conv, model.decoder.dconv, model.encoder.dense) == want
    assert model.decoder.dense is want[2]


def test_a_torn_metrics_line_is_skipped_by_training_and_report(tmp_path):
    """A crash mid-write leaves a torn last line in metrics.jsonl: the resumed run finishes
    (its final curves read the file), the new rows start on lines of their own, and report
    reads the run."""
    from pga_jax import report

    workdir = tmp_path / "lpga" / "seed=0"
    config = smoke_config("lpga")
    config.num_steps = 2
    training.train_and_evaluate(config, str(workdir))
    with open(workdir / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 0.1')  # torn: no closing brace, no newline
    config.num_steps = 4
    assert int(training.train_and_evaluate(config, str(workdir)).step) == 4
    assert list(curves.read_metrics(str(workdir))) == [2, 4]
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[1] == '{"step": 3, "loss": 0.1'  # kept, not merged
    report.write_report([str(tmp_path / "*" / "*")], str(tmp_path / "report"))
    assert (tmp_path / "report" / "curves.png").exists()


def test_config_json_records_how_each_start_computes(tmp_path, monkeypatch):
    """The backend and CPU paths (oneDNN on or off, XLA's options) with the step they apply
    from; a resume that computes the same way adds nothing."""
    from pga_jax import cpu, evaluate
    from pga_jax.cpu import xla_options

    workdir = str(tmp_path / "run")
    config = smoke_config("lpga")  # the loop the other smoke tests compile
    config.num_steps = 1

    def runtime():
        with open(os.path.join(workdir, "config.json")) as f:
            return json.load(f)["runtime"]

    training.train_and_evaluate(config, workdir)
    options = xla_options.compiler_options()
    first = {"step": 0, "backend": "cpu", "xla_compile_options": options, "onednn": False}
    assert runtime() == [first]
    config.num_steps = 2
    training.train_and_evaluate(config, workdir)
    assert runtime() == [first]  # computed the same way: nothing new
    paths = cpu.paths()
    monkeypatch.setattr(cpu, "paths", lambda: {**paths, "onednn": True})  # as if switched on
    config.num_steps = 2  # already there: the loop opens the run and trains nothing
    training.train_and_evaluate(config, workdir)
    assert runtime() == [first, {**first, "step": 2, "onednn": True}]
    assert "runtime" not in evaluate.read_config(workdir)  # a record, not a setting


def test_resuming_with_other_settings_is_refused_unless_asked_and_then_recorded(tmp_path):
    """Issue 19.3: alpha = gamma = 0 on a resume would silently make an LPGA run an ablation."""
    from pga_jax import evaluate, report

    workdir = str(tmp_path / "run")
    config = smoke_config("lpga")
    config.num_steps = 2
    training.train_and_evaluate(config, workdir)
    config.num_steps = 4
    config.objective.update(alpha=0.0, gamma=0.0)
    with pytest.raises(configs.ConfigError) as refused:
        training.train_and_evaluate(config, workdir)
    message = str(refused.value)
    assert "objective.alpha=0.06 -> 0.0" in message and "objective.gamma=0.015 -> 0.0" in message
    assert "--allow_changed_settings" in message and "\n" not in message
    assert evaluate.read_config(workdir).objective.alpha == 0.06  # nothing recorded

    assert int(training.train_and_evaluate(config, workdir, allow_changed_settings=True).step) == 4
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["objective"]["alpha"] == 0.06  # the original settings stay
    assert saved["changes"] == [
        {"step": 2, "set": {"objective.alpha": 0.0, "objective.gamma": 0.0}}
    ]
    assert evaluate.read_config(workdir, step=2).objective.alpha == 0.06
    assert evaluate.read_config(workdir).objective.alpha == 0.0  # at the latest checkpoint, 4
    record = {"objective": evaluate.read_config(workdir).objective.to_dict()}
    assert report.row_label(record) == "lpga (alpha=beta=0)"
    # resuming again with the settings now in force needs no flag
    config.num_steps = 6
    assert int(training.train_and_evaluate(config, workdir).step) == 6


@pytest.mark.parametrize(
    "field,value", [("momentum", 5.0), ("momentum", 1.0), ("encoder_lr_scale", 0.0)]
)
def test_optimiser_settings_are_validated(field, value):
    config = smoke_config("lpga")
    config.optim[field] = value
    with pytest.raises(configs.ConfigError, match=f"config.optim.{field}="):
        configs.validate(config)
