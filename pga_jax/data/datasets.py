"""The dataset registry: everything the library knows about a dataset, written once in its
`Dataset` entry (name, label, image shape, size, sources, splits, reference settings).

Adding one (say SVHN from tfds) is one `register(Dataset(...))` plus its experiment configs;
a dataset with a reader of its own passes `load` (the "loader" source). The built-ins are
registered at the end of this module, in the order tables show them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from pga_jax.errors import UserError

SOURCES = ("auto", "idx", "tfds", "folder", "loader", "synthetic")

# Installed by the Debian package dataset-fashion-mnist (works offline).
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


class DataError(UserError, ValueError):
    """A dataset cannot be loaded; the message says how to get or fix it."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset. `defaults` are the reference settings a config of it starts from:
    arch, bn, learning_rate, epochs, z_dim (an objective may declare its own z_dim)."""

    name: str
    label: str  # how tables name it: "CIFAR-10"
    shape: tuple[int, int, int]  # (H, W, C) of the images load_arrays returns
    train_size: int | None  # training images as the original trains on them (None: not fixed)
    sources: tuple[str, ...]  # the explicit sources that serve it ("synthetic" serves all)
    tfds_name: str | None = None  # its TensorFlow Datasets name, where tfds serves it
    train_split: str = "train"  # the split a run trains on (config.data.split)
    eval_split: str | None = "test"  # real images evaluation shows (None: the run's split)
    reference_split: str | None = "train"  # FID reference statistics (None: the run's split)
    default_path: str | None = None  # where its local files are found without a path
    how_to_get: str = ""  # one line of advice when its data is missing
    defaults: Mapping = dataclasses.field(default_factory=dict)
    # The "loader" source: load(split, path) -> uint8 (N, H, W, C), for data of its own format.
    load: Callable[[str, str | None], np.ndarray] | None = None

    def advice(self) -> str:
        return self.how_to_get or f"run `{prepare_cmd(self.name, None)}`"


_REGISTRY: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Adds `dataset` (a name taken by another entry is refused)."""
    if _REGISTRY.get(dataset.name, dataset) is not dataset:
        raise ValueError(f"dataset {dataset.name!r} is already registered")
    if dataset.load is not None and "loader" not in dataset.sources:
        dataset = dataclasses.replace(dataset, sources=(*dataset.sources, "loader"))
    _REGISTRY[dataset.name] = dataset
    return dataset


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered datasets, in registration order (the order of report's columns)."""
    return tuple(_REGISTRY)


def get(name: str) -> Dataset:
    if name not in _REGISTRY:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(names())}")
    return _REGISTRY[name]


def image_shape(name: str) -> tuple[int, int, int]:
    """(H, W, C) of the images `load_arrays(name)` returns (synthetic: its default shape)."""
    return get(name).shape


def train_size(name: str) -> int:
    """Training images of `name` (the original code's: every image of CelebA)."""
    size = get(name).train_size
    if size is None:
        raise DataError(f"{name} has no fixed training-set size")
    return size


def prepare_cmd(name: str, tfds_data_dir: str | None) -> str:
    cmd = f"python -m pga_jax.data prepare --dataset={name}"
    if tfds_data_dir:
        cmd += f" --data_dir={tfds_data_dir}"
    return cmd


_MNIST_SETTINGS = dict(arch="conv_mnist", bn=False, learning_rate=0.1, epochs=600, z_dim=32)
_CIFAR_SETTINGS = dict(arch="conv_32", bn=True, learning_rate=0.2, epochs=400, z_dim=128)

for _entry in (
    Dataset(
        "mnist",
        "MNIST",
        (28, 28, 1),
        60_000,
        ("idx", "tfds"),
        tfds_name="mnist",
        how_to_get=(
            "download train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz again into that "
            f"directory, or run `{prepare_cmd('mnist', None)}` and use source='tfds'"
        ),
        defaults=_MNIST_SETTINGS,
    ),
    Dataset(
        "fashion_mnist",
        "Fashion-MNIST",
        (28, 28, 1),
        60_000,
        ("idx", "tfds"),
        tfds_name="fashion_mnist",
        default_path=FASHION_MNIST_DIR,
        how_to_get=(
            "install the Debian package (apt-get install dataset-fashion-mnist, files land in "
            f"{FASHION_MNIST_DIR}), or run `{prepare_cmd('fashion_mnist', None)}` and use "
            "source='tfds'"
        ),
        defaults=_MNIST_SETTINGS,
    ),
    Dataset(
        "cifar10",
        "CIFAR-10",
        (32, 32, 3),
        50_000,
        ("tfds",),
        tfds_name="cifar10",
        defaults=_CIFAR_SETTINGS,
    ),
    # The paper trains and evaluates on every CelebA image (218x178, cropped and resized to
    # 64x64 by data/celeba.py).
    Dataset(
        "celeb_a",
        "CelebA",
        (64, 64, 3),
        202_599,
        ("tfds", "folder"),
        tfds_name="celeb_a",
        train_split="all",
        eval_split=None,
        reference_split=None,
        defaults=dict(arch="conv_64", bn=True, learning_rate=0.4, epochs=100, z_dim=128),
    ),
    # Not in the paper: Street View House Numbers (tfds's svhn_cropped), with CIFAR-10's
    # settings (experiments/svhn_vpga.py).
    Dataset(
        "svhn",
        "SVHN",
        (32, 32, 3),
        73_257,
        ("tfds",),
        tfds_name="svhn_cropped",
        defaults=_CIFAR_SETTINGS,
    ),
    # Deterministic smooth random images for tests and smoke runs (data/synthetic.py).
    Dataset("synthetic", "synthetic", (28, 28, 1), None, ()),
):
    register(_entry)
