"""The extension points are real: an objective, a dataset and an architecture defined and
registered here, in the test file alone (no library file edited), train through the ordinary
loop, are evaluated, and appear in a report table (the objective as a row, the dataset as a
column); the objective is routed as it declares, the architecture's knob is a config field."""

import dataclasses
import json
import os

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from pga_jax import configs, data, evaluate, losses, models, objectives, report, training
from pga_jax.fid import score

from fakes import TinyFeatures

MMD = objectives.Term("mmd", "toy", (objectives.ENCODER,), "RBF-kernel MMD of f(x) vs N(0, I)")
REC = objectives.Term("rec", "Eq. 1", objectives.BOTH, "L_r")


def rbf_mmd(a, b, bandwidth):
    """Biased MMD^2 between samples a, b ([B, H]) with k(u, v) = exp(-|u - v|^2 / (2 bw^2 H))."""

    def k(u, v):
        d2 = jnp.sum(jnp.square(u[:, None] - v[None]), -1)
        return jnp.exp(-d2 / (2.0 * bandwidth**2 * u.shape[-1]))

    return jnp.mean(k(a, a)) + jnp.mean(k(b, b)) - 2.0 * jnp.mean(k(a, b))


@flax.struct.dataclass
class ToyHparams:
    lam: float = objectives.hparam(1.0, "MMD weight")
    bandwidth: float = objectives.hparam(1.0, "RBF bandwidth per dimension", positive=True)


class ToyMMD(objectives.Objective):
    """A WAE-style toy: L_r plus an MMD between the encodings and the prior (encoder only)."""

    name = "toy_mmd"
    label = "toy WAE-MMD"
    terms = (REC, MMD)
    Hparams = ToyHparams
    z_dim = {"mnist": 8}

    def compute_terms(self, hp, nets, x, rng):
        z, _ = nets.encode(x, update_stats=True)
        x_hat = nets.decode(z, update_stats=True)
        prior = jax.random.normal(rng, z.shape)
        return {
            "rec": losses.data_reconstruction(x, x_hat),
            "mmd": rbf_mmd(z, prior, hp.bandwidth),
        }

    def weights(self, hp, step, image_size, z_dim):
        return {"rec": 1.0, "mmd": hp.lam}


@pytest.fixture
def toy():
    objectives.register(ToyMMD)
    yield ToyMMD
    objectives.unregister(ToyMMD.name)


def test_toy_objective_trains_is_routed_evaluated_and_reported(toy, tmp_path):
    assert objectives.names()[-1] == "toy_mmd"
    config = configs.finalize(configs.base_config("mnist", "toy_mmd"), "smoke")
    assert config.model.z_dim == 8 and set(config.objective) == {"name", "lam", "bandwidth"}
    config.num_steps = 1
    config.objective.lam = 2.0
    workdir = str(tmp_path / "toy_mmd" / "seed=0")
    state = training.train_and_evaluate(config, workdir)
    assert int(state.step) == 1
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        logged = json.loads(f.readline())
    assert np.isfinite(logged["terms/mmd"]) and logged["terms/mmd"] > 0
    assert logged["loss"] == pytest.approx(logged["terms/rec"] + 2.0 * logged["terms/mmd"])

    # Its declaration is what the gradients do: MMD reaches the encoder only.
    _, model = training.create_train_state(config, models.output_shape(config.model.arch))
    hp = configs.objective_hparams(config)
    x = jnp.asarray(training.load_training_images(config)[:4], jnp.float32) / 127.5 - 1.0

    def mmd_of(params):
        nets = model.networks(params, state.batch_stats)
        return model.objective.compute_terms(hp, nets, x, jax.random.PRNGKey(0))["mmd"]

    grads = jax.grad(mmd_of)(state.params)
    assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["decoder"])) == 0.0
    assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["encoder"])) > 0.0

    ref = str(tmp_path / "ref.npz")
    images = training.load_training_images(config)
    score.save_stats(ref, score.compute_stats(images, TinyFeatures(), keep_features=0))
    result = evaluate.evaluate(
        workdir, num_samples=16, fid_ref_stats=ref, feature_fn=TinyFeatures(), num_images=4
    )
    assert result["objective"]["name"] == "toy_mmd" and np.isfinite(result["fid"]["fid"])

    table = report.write_report([str(tmp_path / "*" / "*")], str(tmp_path / "report"))
    assert table.rows == ["toy WAE-MMD"] and table.columns == ["synthetic"]
    with open(tmp_path / "report" / "table.md") as f:
        assert "| toy WAE-MMD |" in f.read()


# ------------------------------------------------------------------ a dataset and an architecture

SIDE = 16


def ring_images(split: str, path: str | None) -> np.ndarray:
    """Toy data of its own format: a bright ring of a radius that varies with the image."""
    n = 96 if split == "train" else 32
    offset = 0 if split == "train" else 1000
    r = np.hypot(*np.meshgrid(np.arange(SIDE) - 7.5, np.arange(SIDE) - 7.5))
    radii = 2.0 + 5.0 * ((np.arange(n) + offset) * 0.618 % 1.0)
    rings = np.exp(-np.square(r[None] - radii[:, None, None]))
    return np.round(255 * rings)[..., None].astype(np.uint8)


class MLPEncoder(nn.Module):
    z_dim: int
    hidden: int
    variational: bool

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = nn.relu(nn.Dense(self.hidden)(x.reshape((x.shape[0], -1))))
        logvar = nn.Dense(self.z_dim, name="logvar")(h) if self.variational else None
        return nn.Dense(self.z_dim, name="mu")(h), logvar


class MLPDecoder(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, z, train: bool = True):
        h = nn.relu(nn.Dense(self.hidden)(z))
        return jnp.tanh(nn.Dense(SIDE * SIDE)(h)).reshape((z.shape[0], SIDE, SIDE, 1))


def build_mlp(model, variational):
    return MLPEncoder(model["z_dim"], model["hidden"], variational), MLPDecoder(model["hidden"])


RINGS = data.Dataset(
    "rings",
    "Rings",
    (SIDE, SIDE, 1),
    train_size=96,
    sources=(),
    load=ring_images,
    defaults=dict(arch="mlp", bn=False, learning_rate=0.05, epochs=1, z_dim=4),
)
MLP = models.Architecture(
    "mlp",
    build_mlp,
    (SIDE, SIDE, 1),
    knobs={"hidden": (32, "hidden units of both networks")},
    setting=lambda model: f"MLP {model['hidden']}" if model["hidden"] != 32 else "",
)


@pytest.fixture
def rings_and_mlp():
    data.register(RINGS)
    models.register(MLP)
    yield
    data.unregister(RINGS.name)
    models.unregister(MLP.name)


def test_dataset_and_architecture_train_evaluate_and_report(rings_and_mlp, tmp_path):
    config = configs.base_config("rings", "lpga")
    configs.all_terms_on(config)
    config.update(num_steps=2, batch_size=8, log_every=1, image_every=2, checkpoint_every=2)
    config.num_images = 4
    # the architecture's knob is a config field with its meaning; the dataset's defaults apply
    assert (config.model.arch, config.model.hidden, config.model.z_dim) == ("mlp", 32, 4)
    assert config.optim.learning_rate == 0.05 and config.data.split == "train"
    assert "model.hidden = 32" in configs.describe(config)
    assert "hidden units of both networks" in configs.describe(config)
    configs.validate(config)
    assert data.load_arrays("rings").shape == (96, SIDE, SIDE, 1)  # source auto: its loader

    config.model.hidden = 24
    workdir = str(tmp_path / "lpga" / "seed=0")
    state = training.train_and_evaluate(config, workdir)
    assert int(state.step) == 2
    assert state.params["decoder"]["Dense_0"]["kernel"].shape == (4, 24)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert all(np.isfinite(json.loads(line)["loss"]) for line in f)

    other = ml_collections.ConfigDict(config.to_dict())
    other.model.hidden = 32  # a knob of the architecture is structural: no resume with another
    with pytest.raises(configs.ConfigError, match="model.hidden=24"):
        training.train_and_evaluate(other, workdir)

    ref = str(tmp_path / "ref.npz")
    reals = training.load_training_images(config)
    score.save_stats(ref, score.compute_stats(reals, TinyFeatures(), keep_features=0))
    result = evaluate.evaluate(
        workdir, num_samples=16, fid_ref_stats=ref, feature_fn=TinyFeatures(), num_images=4
    )
    assert result["dataset"] == "rings" and np.isfinite(result["fid"]["fid"])

    table = report.write_report([str(tmp_path / "*" / "*")], str(tmp_path / "report"))
    assert table.columns == ["rings [MLP 24]"] and table.rows == ["lpga"]


def test_registries_refuse_a_taken_name_and_report_unknown_entries():
    with pytest.raises(ValueError, match="already registered"):
        data.register(dataclasses.replace(data.get("mnist"), label="other"))
    with pytest.raises(ValueError, match="already registered"):
        models.register(dataclasses.replace(models.get("conv_32"), image_shape=(8, 8, 1)))
    with pytest.raises(data.DataError, match="unknown dataset 'rings'; valid datasets: mnist"):
        data.get("rings")
    with pytest.raises(configs.ConfigError, match="model.arch='mlp' is unknown"):
        config = configs.base_config("mnist", "lpga")
        config.model.arch = "mlp"
        configs.validate(config)
