"""Every config field, once: its default, its meaning, its role and its check.

`configs.base_config` builds a config from this table, `--print_config` prints its meanings,
`validate` runs its checks, the resume check compares its structural fields, a resume records
changes of its training fields, a population's members may differ in its `member` fields, and
an older run's config.json gets the fields added since at their `before` values.

Roles:
- STRUCTURAL: what a checkpoint means (the data, the networks, the objective, the seed, the
  batch): resuming a workdir with another value is refused.
- TRAINING: what the run learns from here on (objective and optimiser numbers): a resume with
  other values is refused unless asked, and then config.json records the change with its step.
- FREE: where the data is read from, the schedule, logging and how it computes: may change on
  any resume.

A row `block.*` stands for fields its owner adds to the block: the objective's hyper-parameters
(objectives/<name>.py) and an architecture's own knobs (models.Architecture.knobs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pga_jax import data, models

STRUCTURAL, TRAINING, FREE = "structural", "training", "free"
PRECISIONS = ("auto", "highest", "default")  # config.precision (objectives.base.Networks)
NOT_ADDED = object()  # a field every config.json has had


@dataclasses.dataclass(frozen=True)
class Defaults:
    """What a default may depend on: the dataset's entry, the objective's class and the
    fields set before it (`config`)."""

    dataset: data.Dataset
    objective: type
    config: Any


def positive(v) -> str | None:
    return None if v > 0 else "must be positive"


def automatic_or_positive(v) -> str | None:
    return None if v >= 0 else "must be >= 0 (0: automatic)"


def momentum(v) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


def one_of(choices: Callable[[], tuple]) -> Callable[[Any], str | None]:
    def check(v) -> str | None:
        return None if v in choices() else f"is unknown; choose one of {choices()}"

    return check


@dataclasses.dataclass(frozen=True)
class Field:
    key: str
    default: Any  # a value, or a function of `Defaults`
    doc: str  # {datasets}, {architectures}, {objectives}: the registered names
    role: str = FREE
    check: Callable[[Any], str | None] | None = None  # what is wrong with a value, or None
    member: bool = False  # a population's members may differ in it
    before: Any = NOT_ADDED  # its value in effect in runs written before it existed


def steps_for_epochs(dataset: str, epochs: int, batch_size):
    """Steps of `epochs` passes over the dataset at `batch_size`: an int, or, given the config's
    reference to its batch size (`c.get_ref("batch_size")`), a value that follows it until
    num_steps is set itself."""
    return (data.train_size(dataset) // batch_size) * epochs


def _follow_batch_size(d: Defaults):
    """The reference epochs at the config's batch size (follows --config.batch_size)."""
    return steps_for_epochs(
        d.dataset.name, d.dataset.defaults["epochs"], d.config.get_ref("batch_size")
    )


def _reference(name: str) -> Callable[[Defaults], Any]:
    return lambda d: d.dataset.defaults[name]


FIELDS = (
    Field("seed", 0, "init, data order and noise of the run", STRUCTURAL, member=True),
    Field("dataset", lambda d: d.dataset.name, "one of {datasets}", STRUCTURAL, one_of(data.names)),
    Field("data.source", "auto", "one of " + ", ".join(data.SOURCES)),
    Field("data.path", "", "IDX directory or CelebA JPEG folder ('' = default)"),
    Field("data.tfds_data_dir", "", "tfds data_dir ('' = tfds default)"),
    Field("data.synthetic_size", 512, "images, when dataset is synthetic"),
    # "device" (batches gathered there), "host" (each call's batches gathered here and sent),
    # or "auto": the device unless they fill over a quarter of its memory.
    Field(
        "data.images_on",
        "auto",
        "where the uint8 training images live: auto, device or host",
        check=one_of(lambda: ("auto", "device", "host")),
    ),
    Field(
        "data.celeba_crop",
        data.DEFAULT_CELEBA_CROP,
        "CelebA: side of the centred crop resized to 64x64 (108; App. C: 140)",
        STRUCTURAL,
        before=data.DEFAULT_CELEBA_CROP,
    ),
    Field(
        "data.split",
        lambda d: d.dataset.train_split,
        "the training images' split (CelebA: all, every image as the paper)",
    ),
    Field(
        "model.arch", _reference("arch"), "one of {architectures}", STRUCTURAL, one_of(models.names)
    ),
    Field(
        "model.z_dim",
        lambda d: d.objective.z_dim.get(d.dataset.name, d.dataset.defaults["z_dim"]),
        "latent size",
        STRUCTURAL,
        positive,
    ),
    Field("model.bn", _reference("bn"), "BatchNorm in both networks", STRUCTURAL),
    Field("model.resnet_dim", models.RESNET_DIM, "resnet_32: its width", STRUCTURAL),
    Field(
        "model.width",
        models.DCGAN_WIDTH,
        "conv_*: DCGAN width, filters of the first conv (64; App. C CelebA: 128)",
        STRUCTURAL,
        positive,
        before=models.DCGAN_WIDTH,
    ),
    Field("model.fast_layers", True, "the faster exact form of the strided convolutions"),
    Field(
        "model.*",
        lambda d: {k: v for k, (v, _) in models.get(d.config.model.arch).knobs.items()},
        "the architecture's own knobs",
        STRUCTURAL,
    ),
    Field(
        "objective.name",
        lambda d: d.objective.name,
        "one of {objectives} (python -m pga_jax.objectives)",
        STRUCTURAL,
    ),
    Field(
        "objective.*",
        lambda d: d.objective.defaults(),
        "the objective's hyper-parameters",
        TRAINING,
        member=True,
    ),
    Field(
        "optim.learning_rate", _reference("learning_rate"), "SGD learning rate", TRAINING, positive
    ),
    Field("optim.momentum", 0.9, "SGD momentum, in [0, 1)", TRAINING, momentum),
    Field(
        "optim.encoder_lr_scale",
        1.0,
        "multiplier of the encoder's learning rate",
        TRAINING,
        positive,
    ),
    Field(
        "optim.decoder_lr_scale",
        1.0,
        "multiplier of the decoder's learning rate",
        TRAINING,
        positive,
    ),
    Field("batch_size", 64, "images per step", STRUCTURAL, positive),
    Field(
        "num_steps",
        _follow_batch_size,
        "training steps (by default the reference epochs at batch_size: follows it)",
        check=positive,
    ),
    # K steps per jitted call (a lax.scan on the device); the host acts only between calls,
    # which end at every log / image / FID / checkpoint step.
    Field(
        "steps_per_dispatch",
        0,
        "steps per jitted call (0: 1 on a CPU, 50 elsewhere)",
        check=automatic_or_positive,
    ),
    Field(
        "precision",
        "auto",
        "matmul / convolution precision: 'auto' (the passes whose outputs are differenced, "
        "h(z) and h(z + delta), at 'highest'; the rest at the device's default: TF32 on "
        "Ampere-or-later GPUs), 'highest' (every pass) or 'default' (the device's default); "
        "CPUs compute float32 either way",
        check=one_of(lambda: PRECISIONS),
        before="default",
    ),
    Field(
        "mesh.members",
        0,
        "devices a population's runs are split over (0: automatic)",
        check=automatic_or_positive,
        before=0,
    ),
    Field(
        "mesh.data",
        0,
        "devices the batch is split over (0: automatic, all for one run)",
        check=automatic_or_positive,
        before=0,
    ),
    Field("log_every", 100, "steps between logged metrics", check=positive),
    Field("image_every", 2000, "steps between sample / reconstruction grids", check=positive),
    Field("checkpoint_every", 2000, "steps between checkpoints", check=positive),
    Field("keep_checkpoints", 3, "checkpoints kept", check=positive),
    Field("num_images", 64, "images in the grids", check=positive),
    Field("fid_every", 0, "steps between FIDs during training (0 = off)"),
    Field("fid_num_samples", 5000, "samples per FID (the paper's 5,000; FID is biased by N)"),
    Field(
        "fid_batch_size",
        1000,
        "generation batch for the FID (BatchNorm statistics per batch, as the original)",
    ),
    Field("fid_ref_stats", "", "FID reference statistics .npz (python -m pga_jax.fid stats)"),
    Field(
        "fid_ref_unverified",
        False,
        "accept fid_ref_stats without a weights checksum / protocol (a bare mu/sigma .npz); "
        "each FID then records ref_verified: false",
        before=False,
    ),
)

_BY_KEY = {f.key: f for f in FIELDS}

# Fields added after runs were written: the value each had in effect before it existed.
ADDED_FIELDS = {f.key: f.before for f in FIELDS if f.before is not NOT_ADDED}


def field(key: str) -> Field | None:
    """The row of a dotted key: its own, else its block's `block.*` row; None if unknown."""
    if key in _BY_KEY:
        return _BY_KEY[key]
    block, dot, _ = key.partition(".")
    return _BY_KEY.get(f"{block}.*") if dot else None


def role(key: str) -> str:
    row = field(key)
    return row.role if row is not None else FREE


def structural_keys(arch: str) -> list[str]:
    """The structural fields of a config of architecture `arch`: the table's and the
    architecture's own knobs."""
    listed = [f.key for f in FIELDS if f.role == STRUCTURAL and not f.key.endswith(".*")]
    return listed + [f"model.{knob}" for knob in models.get(arch).knobs]
