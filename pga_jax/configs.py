"""Shared config helpers: every field with its default, the per-dataset reference settings,
the `:smoke` shrink used by tests, and validation.

An experiment file in `experiments/` calls `base_config(dataset, objective)`, sets the
coefficients of its README command of the original code, and returns `finalize(config, arg)`.
`arg` is what follows the colon in `--config=experiments/x.py:smoke`.

ml_collections gives the rest: `--config.key=value` overrides are type-checked, and an unknown
key is an error (see `main.py`).
"""

from __future__ import annotations

import importlib.util
import json
import os

import ml_collections

from pga_jax import data, errors, models, objectives


def _experiments_dir() -> str:
    """The experiment files: `experiments/` of a source checkout, else the copy a wheel install
    ships as the package `pga_jax.experiments` (setup.py)."""
    checkout = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"
    )
    if os.path.isdir(checkout):
        return checkout
    spec = importlib.util.find_spec("pga_jax.experiments")
    return os.path.dirname(spec.origin) if spec and spec.origin else checkout


EXPERIMENTS_DIR = _experiments_dir()


class ConfigError(errors.UserError, ValueError):
    """A config that cannot run; the message says which field to change."""


def split_variant(spec: str) -> tuple[str, str | None]:
    """ "path_or_name:variant" -> (path_or_name, variant or None): how every entry point names
    an experiment and its variant (`experiments/mnist_lpga.py:smoke`, `cifar_vpga`)."""
    path, _, variant = spec.partition(":")
    return path, variant or None


def walk(tree, dotted: str, create: bool = False):
    """(the node holding the last part of `dotted`, that part) in a nested dict or ConfigDict:
    `walk(d, "model.z_dim")` is (d["model"], "z_dim"). A missing node is made (an empty dict)
    when `create`, else the node is None."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if not isinstance(node, dict | ml_collections.ConfigDict):
            return None, leaf
        if create:
            node = node.setdefault(part, {})
        else:
            node = node.get(part)
    return (node if isinstance(node, dict | ml_collections.ConfigDict) else None), leaf


# Settings shared by all objectives on a dataset (original code's README and argparse defaults);
# an objective may declare its own z_dim per dataset (LPGA: 12 on MNIST).
_DATASET_DEFAULTS = {
    "mnist": dict(arch="conv_mnist", bn=False, learning_rate=0.1, epochs=600, z_dim=32),
    "fashion_mnist": dict(arch="conv_mnist", bn=False, learning_rate=0.1, epochs=600, z_dim=32),
    "cifar10": dict(arch="conv_32", bn=True, learning_rate=0.2, epochs=400, z_dim=128),
    "celeb_a": dict(arch="conv_64", bn=True, learning_rate=0.4, epochs=100, z_dim=128),
}


def steps_for_epochs(dataset: str, epochs: int, batch_size):
    """Steps of `epochs` passes over the dataset at `batch_size`: an int, or, given the config's
    reference to its batch size (`c.get_ref("batch_size")`), a value that follows it until
    num_steps is set itself."""
    return (data.train_size(dataset) // batch_size) * epochs


def objective_class(name: str) -> type[objectives.Objective]:
    """The registered objective `name`; ConfigError (one line) if there is none."""
    try:
        return objectives.get(name)
    except ValueError as e:
        raise ConfigError(f"config.objective.name: {e}") from None


def objective_block(name: str) -> ml_collections.ConfigDict:
    """`config.objective` of objective `name`: its name and every hyper-parameter's default."""
    return ml_collections.ConfigDict({"name": name, **objective_class(name).defaults()})


def base_config(dataset: str, objective: str) -> ml_collections.ConfigDict:
    """Every field, with the reference settings of `dataset` and the objective's defaults
    (the original code's argparse defaults; each experiment sets its own coefficients)."""
    if dataset not in _DATASET_DEFAULTS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {sorted(_DATASET_DEFAULTS)}")
    d = _DATASET_DEFAULTS[dataset]
    cls = objective_class(objective)
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.dataset = dataset
    c.data = ml_collections.ConfigDict()
    c.data.source = "auto"  # one of data.SOURCES: auto, tfds, idx, folder, synthetic
    c.data.path = ""  # IDX directory or CelebA JPEG folder ("" = default)
    c.data.tfds_data_dir = ""  # tfds data_dir ("" = tfds default)
    c.data.synthetic_size = 512  # images, when dataset == "synthetic"
    # Where the uint8 training images live: "device" (batches gathered there), "host" (each
    # call's batches gathered here and sent), or "auto": the device unless they fill over 1/4.
    c.data.images_on = "auto"
    # CelebA: the side of the centred square crop of the 218x178 images, resized to 64x64
    # (108, the paper's Table 1; 140, its Appendix C).
    c.data.celeba_crop = data.DEFAULT_CELEBA_CROP
    # Training images: every split the original used ("all" for CelebA: all 202,599 images).
    c.data.split = "all" if dataset == "celeb_a" else "train"

    c.model = ml_collections.ConfigDict()
    c.model.arch = d["arch"]
    c.model.z_dim = cls.z_dim.get(dataset, d["z_dim"])
    c.model.bn = d["bn"]
    c.model.resnet_dim = 512
    c.model.width = models.DCGAN_WIDTH  # conv_*: filters of the first conv (App. C: 128)
    c.model.fast_layers = True  # same function, faster form of the strided convs (layers.py)

    c.objective = objective_block(objective)  # objectives/<name>.py: fields and meanings

    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = d["learning_rate"]
    c.optim.momentum = 0.9
    c.optim.encoder_lr_scale = 1.0  # per-network multipliers of the learning rate
    c.optim.decoder_lr_scale = 1.0

    c.batch_size = 64
    # follows batch_size (--config.batch_size=128 halves it) unless num_steps is set itself
    c.num_steps = steps_for_epochs(dataset, d["epochs"], c.get_ref("batch_size"))
    # Training steps per jitted call (K; a lax.scan on the device); the host acts only between
    # calls, which end at every log / image / FID / checkpoint step. 0: 1 on a CPU (XLA runs
    # convolutions in loops slowly there, see dispatch.py), 50 on GPUs and TPUs.
    c.steps_per_dispatch = 0
    # The device mesh (sharding.py): the batch is split over `data` devices, a population's
    # runs over `members` devices. 0 = automatic: every device on `data` for one run.
    c.mesh = ml_collections.ConfigDict()
    c.mesh.members = 0
    c.mesh.data = 0

    c.log_every = 100
    c.image_every = 2000
    c.checkpoint_every = 2000
    c.keep_checkpoints = 3
    c.num_images = 64  # images in the sample / reconstruction grids
    c.fid_every = 0  # FID during training (0 = off)
    c.fid_num_samples = 5000  # the paper's N (FID is biased by N: compare at equal N)
    c.fid_batch_size = 1000  # generation batch (BatchNorm statistics per batch, as the original)
    c.fid_ref_stats = ""  # reference statistics .npz (python -m pga_jax.fid stats ...)
    return c


# What each field of `base_config` means (the objective's fields: their `hparam` docs).
FIELD_DOCS = {
    "seed": "init, data order and noise of the run",
    "dataset": "mnist, fashion_mnist, cifar10, celeb_a or synthetic",
    "data.source": "auto, tfds, idx, folder or synthetic",
    "data.path": "IDX directory or CelebA JPEG folder ('' = default)",
    "data.tfds_data_dir": "tfds data_dir ('' = tfds default)",
    "data.synthetic_size": "images, when dataset is synthetic",
    "data.split": "the training images' split (CelebA: all)",
    "data.celeba_crop": "CelebA: side of the centred crop resized to 64x64 (108; App. C: 140)",
    "data.images_on": "auto, device (batches gathered there) or host",
    "model.arch": "conv_mnist, conv_32, conv_64 or resnet_32",
    "model.z_dim": "latent size",
    "model.bn": "BatchNorm in both networks",
    "model.resnet_dim": "channels of resnet_32",
    "model.width": "conv_*: DCGAN width, filters of the first conv (64; App. C CelebA: 128)",
    "model.fast_layers": "the faster exact form of the strided convolutions",
    "objective.name": "vae, lpga, vpga or lvpga (python -m pga_jax.objectives)",
    "optim.learning_rate": "SGD learning rate",
    "optim.momentum": "SGD momentum, in [0, 1)",
    "optim.encoder_lr_scale": "multiplier of the encoder's learning rate",
    "optim.decoder_lr_scale": "multiplier of the decoder's learning rate",
    "batch_size": "images per step",
    "num_steps": "training steps (by default the reference epochs at batch_size: follows it)",
    "steps_per_dispatch": "steps per jitted call (0: 1 on a CPU, 50 elsewhere)",
    "mesh.members": "devices a population's runs are split over (0: automatic)",
    "mesh.data": "devices the batch is split over (0: automatic, all for one run)",
    "log_every": "steps between logged metrics",
    "image_every": "steps between sample / reconstruction grids",
    "checkpoint_every": "steps between checkpoints",
    "keep_checkpoints": "checkpoints kept",
    "num_images": "images in the grids",
    "fid_every": "steps between FIDs during training (0 = off)",
    "fid_num_samples": "samples per FID (the paper's 5,000)",
    "fid_batch_size": "generation batch for the FID",
    "fid_ref_stats": "FID reference statistics .npz",
}


def describe(c: ml_collections.ConfigDict) -> str:
    """Every field of `c` with its value and meaning, one per line (`main --print_config`)."""
    docs = dict(FIELD_DOCS)
    for f in objective_class(c.objective.name).fields():
        docs[f"objective.{f.name}"] = f.metadata["doc"]
    flat = flatten(c.to_dict())
    width = max(len(f"{k} = {v!r}") for k, v in flat.items())
    return "\n".join(
        f"{f'{k} = {v!r}':<{width}}  # {docs.get(k, '')}".rstrip(" #") for k, v in flat.items()
    )


def _shorten_warmup(c: ml_collections.ConfigDict, steps: int) -> ml_collections.ConfigDict:
    """Sets the warm-up and its ramp, where the objective has them and they are on, to `steps`."""
    for key in ("warmup_steps", "ramp_steps"):
        if c.objective.get(key):
            c.objective[key] = steps
    return c


def all_terms_on(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """No warm-up or ramp (where the objective has them): every term active from step 0."""
    for key in ("warmup_steps", "ramp_steps"):
        if key in c.objective:
            c.objective[key] = 0
    return c


def shrink_for_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`:smoke`: synthetic data of the architecture's shape, a few tiny steps, no FID."""
    c.dataset = "synthetic"
    c.data.source = "synthetic"
    c.data.synthetic_size = 64
    c.model.resnet_dim = 16
    c.batch_size = 8
    c.num_steps = 4
    c.log_every = 2
    c.image_every = 2
    c.checkpoint_every = 2
    c.keep_checkpoints = 2
    c.num_images = 16
    c.fid_every = 0
    return _shorten_warmup(c, 1)


def shorten_for_quick(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`:quick`: the real data and model, 1,500 steps (a few minutes on a 2-core CPU)."""
    c.num_steps = 1500
    c.image_every = 500
    c.checkpoint_every = 500
    return _shorten_warmup(c, 500)


VARIANTS = {"smoke": shrink_for_smoke, "quick": shorten_for_quick}


def finalize(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies the variant named after the colon: nothing, `smoke` or `quick`."""
    if arg in (None, ""):
        return c
    if arg not in VARIANTS:
        raise ConfigError(f"unknown config variant {arg!r}; use one of {sorted(VARIANTS)} or none")
    return VARIANTS[arg](c)


def load_experiment(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """`get_config(arg)` of `experiments/<name>.py`, or of the file `name` if it is a path.

    For notebooks and scripts: `load_experiment("cifar_vpga")`, `load_experiment(x, "smoke")`.
    """
    path = name if name.endswith(".py") else os.path.join(EXPERIMENTS_DIR, f"{name}.py")
    if not os.path.exists(path):
        raise ConfigError(f"no experiment config {path}; see the files in {EXPERIMENTS_DIR}")
    spec = importlib.util.spec_from_file_location(
        f"pga_experiment_{os.path.basename(path)[:-3]}", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def celeba_crop(c: ml_collections.ConfigDict) -> int | None:
    """The CelebA crop a run's images are of (None for other datasets)."""
    return c.data.celeba_crop if c.dataset == "celeb_a" else None


def setting_label(c: ml_collections.ConfigDict) -> str:
    """How a run's model and data differ from Table 1's (the paper's Appendix C), e.g.
    "ResNet 512" or "140x140 crops, DCGAN 128"; "" for Table 1's. `report` gives such runs
    their own column."""
    parts = []
    if c.model.arch == "resnet_32":
        parts.append(f"ResNet {c.model.resnet_dim}")
    crop = celeba_crop(c)
    if crop not in (None, data.DEFAULT_CELEBA_CROP):
        parts.append(f"{crop}x{crop} crops")
    if c.model.arch != "resnet_32" and c.model.width != models.DCGAN_WIDTH:
        parts.append(f"DCGAN {c.model.width}")
    return ", ".join(parts)


def objective(c: ml_collections.ConfigDict) -> objectives.Objective:
    """The static objective of a config (which terms it computes)."""
    return objective_class(c.objective.name).from_settings(c.objective)


def objective_hparams(c: ml_collections.ConfigDict):
    """The objective's hyper-parameters as a pytree of arrays (traced by the step)."""
    return objective_class(c.objective.name).hparams(c.objective)


# Fields added after runs were written: the value each had in effect before it existed.
# `upgrade` fills them into an older config.json's config.
ADDED_FIELDS = {
    "data.celeba_crop": data.DEFAULT_CELEBA_CROP,
    "model.width": models.DCGAN_WIDTH,
    "mesh.members": 0,
    "mesh.data": 0,
}


def upgrade(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A config written by an older pga_jax (a run's config.json) in today's field names,
    with the fields added since (ADDED_FIELDS) at their earlier values."""
    cls = objective_class(c.objective.name)
    d = c.to_dict()
    for dotted, value in ADDED_FIELDS.items():
        node, name = walk(d, dotted, create=True)
        node.setdefault(name, value)
    c = ml_collections.ConfigDict(d)
    c.objective = ml_collections.ConfigDict(cls.upgrade(c.objective.to_dict()))
    return c


# config.json's record of settings changed on a resume (train_and_evaluate(...,
# allow_changed_settings=True)): [{"step": S, "set": {"objective.alpha": 0.0, ...}}, ...], each
# in force for the steps after S.
CHANGES = "changes"
# config.json's record of how each start of the run computes, where it differs from the start
# before (training/run_record.py): [{"step": S, "backend": "cpu", "onednn": false, ...}, ...].
RUNTIME = "runtime"
# The blocks whose values change what a run learns: resuming with others is refused unless asked.
TRAINING_BLOCKS = ("objective", "optim")


def flatten(d: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_at(saved: dict, step: int) -> dict:
    """The settings of a run's config.json in force at training step `step`: the original
    ones with every recorded change made before `step` applied (and no `changes` key)."""
    records = (CHANGES, RUNTIME)
    settings = json.loads(json.dumps({k: v for k, v in saved.items() if k not in records}))
    for change in saved.get(CHANGES, []):
        if change["step"] < step:
            for dotted, value in change["set"].items():
                node, leaf = walk(settings, dotted, create=True)
                node[leaf] = value
    return settings


def in_force(saved: dict, step: int) -> ml_collections.ConfigDict:
    """The config of a run's config.json in force at training step `step`, in today's field
    names (`settings_at`, then `upgrade`: runs of older versions still load)."""
    return upgrade(ml_collections.ConfigDict(settings_at(saved, step)))


def changed_settings(before: dict, after: dict) -> dict[str, tuple]:
    """{dotted key: (before, after)} of the TRAINING_BLOCKS fields that differ."""
    old = flatten({b: before.get(b, {}) for b in TRAINING_BLOCKS})
    new = flatten({b: after.get(b, {}) for b in TRAINING_BLOCKS})
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(old.keys() | new.keys())
        if old.get(k) != new.get(k)
    }


IMAGES_ON = ("auto", "device", "host")


def validate(c: ml_collections.ConfigDict) -> None:
    """Raises ConfigError (one line, naming the field) for a config that cannot run."""
    if c.dataset not in data.DATASETS:
        raise ConfigError(f"config.dataset={c.dataset!r} is unknown; choose one of {data.DATASETS}")
    if c.model.arch not in models.ARCHITECTURES:
        raise ConfigError(
            f"config.model.arch={c.model.arch!r} is unknown; choose one of {models.ARCHITECTURES}"
        )
    try:
        objective_class(c.objective.name).validate(c.objective)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for key in (
        "batch_size",
        "num_steps",
        "log_every",
        "image_every",
        "checkpoint_every",
        "keep_checkpoints",
        "num_images",
    ):
        if c[key] <= 0:
            raise ConfigError(f"config.{key}={c[key]} must be positive")
    if c.steps_per_dispatch < 0:
        raise ConfigError(
            f"config.steps_per_dispatch={c.steps_per_dispatch} must be >= 0 (0: automatic)"
        )
    for key in ("members", "data"):
        if c.mesh[key] < 0:
            raise ConfigError(f"config.mesh.{key}={c.mesh[key]} must be >= 0 (0: automatic)")
    if c.data.images_on not in IMAGES_ON:
        raise ConfigError(f"config.data.images_on={c.data.images_on!r}: use one of {IMAGES_ON}")
    for key in ("z_dim", "width"):
        if c.model[key] <= 0:
            raise ConfigError(f"config.model.{key}={c.model[key]} must be positive")
    if c.fid_every > 0 and not c.fid_ref_stats:
        raise ConfigError(
            "config.fid_every > 0 needs config.fid_ref_stats: make it with "
            f"python -m pga_jax.fid stats --dataset={c.dataset} (it prints the file's path)"
        )
    if c.optim.learning_rate <= 0:
        raise ConfigError(f"config.optim.learning_rate={c.optim.learning_rate} must be positive")
    if not 0 <= c.optim.momentum < 1:
        raise ConfigError(f"config.optim.momentum={c.optim.momentum} must be in [0, 1)")
    for key in ("encoder_lr_scale", "decoder_lr_scale"):
        if not c.optim[key] > 0:
            raise ConfigError(f"config.optim.{key}={c.optim[key]} must be positive")
