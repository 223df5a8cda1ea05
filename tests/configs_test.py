"""Experiment configs carry the original code's hyper-parameters; bad configs are refused."""

import glob
import os

import pytest

import pga_jax
from pga_jax import configs

EXPERIMENTS = configs.EXPERIMENTS_DIR

# From the original code's argparse defaults (MNIST) and README commands (CIFAR-10, CelebA),
# written out here independently of pga_jax/configs.py.
REFERENCE = {
    "mnist_lpga": dict(
        arch="conv_mnist",
        bn=False,
        z=12,
        lr=0.1,
        alpha=6e-2,
        beta=0,
        gamma=1.5e-2,
        warmup=3000,
        epochs=600,
    ),
    "mnist_vpga": dict(
        arch="conv_mnist",
        bn=False,
        z=32,
        lr=0.1,
        alpha=6e-2,
        beta=0,
        vrec=1e-2,
        vkld=2e-2,
        warmup=0,
        epochs=600,
    ),
    "mnist_lvpga": dict(
        arch="conv_mnist",
        bn=False,
        z=32,
        lr=0.1,
        alpha=6e-2,
        vrec=2e-2,
        vkld=2e-2,
        gamma=0,
        warmup=3000,
        epochs=600,
    ),
    "cifar_lpga": dict(
        arch="conv_32", bn=True, z=128, lr=0.2, alpha=3e-2, gamma=1.5e-2, epochs=400
    ),
    "cifar_vpga": dict(
        arch="conv_32", bn=True, z=128, lr=0.2, alpha=3e-2, vrec=5e-3, vkld=3e-2, epochs=400
    ),
    "cifar_lvpga": dict(
        arch="conv_32",
        bn=True,
        z=128,
        lr=0.2,
        alpha=3e-2,
        vrec=1.5e-2,
        vkld=5e-2,
        gamma=2e-2,
        epochs=400,
    ),
    "celeba_lpga": dict(
        arch="conv_64", bn=True, z=128, lr=0.4, alpha=3e-2, beta=1e-2, gamma=1e-2, epochs=100
    ),
    "celeba_vpga": dict(
        arch="conv_64",
        bn=True,
        z=128,
        lr=0.4,
        alpha=3e-2,
        beta=1e-2,
        vrec=1e-2,
        vkld=2e-3,
        epochs=60,
    ),
    "celeba_lvpga": dict(
        arch="conv_64",
        bn=True,
        z=128,
        lr=0.4,
        alpha=3e-2,
        beta=1e-2,
        vrec=1e-2,
        vkld=5e-3,
        gamma=1e-2,
        epochs=100,
    ),
}
TRAIN_IMAGES = {"mnist": 60000, "cifar": 50000, "celeba": 202599}
# The original's flags (--zn_rec, --zh_rec, --nll, --vrec, --vkld, keyed as above) as pga_jax's
# fields: VPGA's --vkld is Eq. 13's eta; LVPGA's --vrec / --vkld are Eq. 16's gamma' / eta.
FIELDS = {
    "lpga": {"alpha": "alpha", "beta": "beta", "gamma": "gamma"},
    "vpga": {"alpha": "alpha", "beta": "beta", "vrec": "vrec", "vkld": "eta"},
    "lvpga": {
        "alpha": "alpha",
        "beta": "beta",
        "gamma": "gamma",
        "vrec": "gamma_prime",
        "vkld": "eta",
    },
}


def load(name, arg=None):
    return configs.load_experiment(name, arg)


ALL = sorted(
    os.path.basename(p)[:-3]
    for p in glob.glob(os.path.join(EXPERIMENTS, "*.py"))
    if not p.endswith("__init__.py")
)


def test_every_dataset_objective_pair_has_a_config():
    for ds in ("mnist", "fashion_mnist", "cifar", "celeba"):
        for obj in ("lpga", "vpga", "lvpga", "vae"):
            assert f"{ds}_{obj}" in ALL


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_hyperparameters(name):
    ref, c = REFERENCE[name], load(name)
    assert (c.model.arch, c.model.bn, c.model.z_dim) == (ref["arch"], ref["bn"], ref["z"])
    assert c.optim.learning_rate == ref["lr"] and c.optim.momentum == 0.9
    assert c.batch_size == 64
    fields = FIELDS[name.split("_")[1]]
    assert set(c.objective) == {"name", "warmup_steps", "ramp_steps", *fields.values()} | (
        {"nll_eps_scale"} if "lpga" in name.split("_") else set()
    )
    for key, field in fields.items():
        assert c.objective[field] == pytest.approx(ref.get(key, 0.0)), key
    if "warmup" in ref:
        assert c.objective.warmup_steps == ref["warmup"]
    assert c.num_steps == ref["epochs"] * (TRAIN_IMAGES[name.split("_")[0]] // 64)


def test_fashion_mnist_uses_the_mnist_settings():
    for obj in ("lpga", "vpga", "lvpga", "vae"):
        fm, m = load(f"fashion_mnist_{obj}"), load(f"mnist_{obj}")
        assert fm.dataset == "fashion_mnist"
        fm.dataset = m.dataset
        if obj != "vae":
            assert fm.objective.ramp_steps == (1000 if obj in ("lpga", "lvpga") else 0)
            fm.objective.ramp_steps = m.objective.ramp_steps
        assert fm.to_dict() == m.to_dict()


@pytest.mark.parametrize("name", ALL)
def test_docstring_has_the_exact_run_command_and_config_validates(name):
    with open(os.path.join(EXPERIMENTS, f"{name}.py")) as f:
        text = f.read()
    assert f"python -m pga_jax.main --config=experiments/{name}.py --workdir=" in text
    configs.validate(load(name))
    smoke = load(name, "smoke")
    configs.validate(smoke)
    assert smoke.dataset == "synthetic" and smoke.num_steps <= 10 and smoke.fid_every == 0


def test_svhn_is_cifar_vpga_on_svhn_images():
    svhn, cifar = load("svhn_vpga"), load("cifar_vpga")
    assert svhn.dataset == "svhn" and svhn.num_steps == 400 * (73_257 // 64)
    svhn.dataset, svhn.num_steps = cifar.dataset, cifar.num_steps
    assert svhn.to_dict() == cifar.to_dict()


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar", "celeba"])
@pytest.mark.parametrize("arg", [None, "smoke", "quick"])
def test_ablation_is_lpga_without_latent_reconstruction_losses(dataset, arg):
    ablation, lpga = load(f"{dataset}_lpga_ablation", arg), load(f"{dataset}_lpga", arg)
    assert (ablation.objective.alpha, ablation.objective.beta) == (0.0, 0.0)
    assert lpga.objective.alpha > 0 and ablation.objective.gamma == lpga.objective.gamma > 0
    lpga.objective.update(alpha=0.0, beta=0.0)
    assert ablation.to_dict() == lpga.to_dict()


def test_quick_variant_and_unknown_variant():
    quick = load("fashion_mnist_lpga", "quick")
    assert quick.num_steps == 1500 and quick.objective.warmup_steps < quick.num_steps
    with pytest.raises(configs.ConfigError, match="unknown config variant"):
        load("fashion_mnist_lpga", "tiny")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("dataset", "imagenet", "config.dataset"),
        ("batch_size", 0, "config.batch_size"),
        ("model.arch", "vgg", "config.model.arch"),
        ("objective.name", "gan", "config.objective.name"),
        ("objective.alpha", -1.0, "config.objective.alpha"),
    ],
)
def test_validate_names_the_bad_field(field, value, message):
    c = load("mnist_lpga")
    node = c
    *parents, leaf = field.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(configs.ConfigError, match=message.replace(".", r"\.")):
        configs.validate(c)


def test_a_field_of_another_objective_or_an_old_name_is_refused():
    c = load("mnist_lvpga")
    c.objective.vkld = 0.02  # renamed: Eq. 16's eta
    with pytest.raises(configs.ConfigError, match=r"objective\.vkld .* now config\.objective\.eta"):
        configs.validate(c)
    vae = load("mnist_vae")
    assert set(vae.objective) == {"name", "vae_sigma"}


def test_unknown_key_and_wrong_type_are_refused_by_the_config():
    c = load("mnist_lpga")
    with pytest.raises(AttributeError):
        _ = c.objective.alhpa
    with pytest.raises(TypeError):
        c.batch_size = "64"


def test_num_steps_follows_the_batch_size_unless_set():
    """The epochs of the reference settings stay the epochs at another batch size; a
    num_steps given itself wins, whichever is given first."""
    assert pga_jax.get_config("mnist_lpga").num_steps == 600 * (60_000 // 64)
    assert pga_jax.get_config("mnist_lpga", batch_size=128).num_steps == 600 * (60_000 // 128)
    assert pga_jax.get_config("celeba_vpga", batch_size=32).num_steps == 60 * (202_599 // 32)
    assert pga_jax.get_config("mnist_lpga", num_steps=500, batch_size=128).num_steps == 500
    config = configs.load_experiment("mnist_lpga", None)
    config.num_steps = 500
    config.batch_size = 128
    assert config.num_steps == 500
