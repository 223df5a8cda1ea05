"""The datasets: names, image shapes, training-set sizes and sources (each written once here),
the one error type of the data layer, and how to get each dataset."""

from __future__ import annotations

from pga_jax.errors import UserError

DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeb_a", "synthetic")
SOURCES = ("auto", "idx", "tfds", "folder", "synthetic")

# (H, W, C) of the images `load_arrays` returns (synthetic: its default shape).
SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "celeb_a": (64, 64, 3),
    "synthetic": (28, 28, 1),
}
# Training images of each dataset as the original code trains on them (CelebA: all images).
TRAIN_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000, "celeb_a": 202_599}
# Which explicit sources each dataset accepts ("synthetic" is accepted by all).
VALID_SOURCES = {
    "mnist": ("idx", "tfds"),
    "fashion_mnist": ("idx", "tfds"),
    "cifar10": ("tfds",),
    "celeb_a": ("tfds", "folder"),
    "synthetic": (),
}
# Installed by the Debian package dataset-fashion-mnist (works offline).
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


class DataError(UserError, ValueError):
    """A dataset cannot be loaded; the message says how to get or fix it."""


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")


def image_shape(name: str) -> tuple[int, int, int]:
    """(H, W, C) of the images `load_arrays(name)` returns (synthetic: its default shape)."""
    check_name(name)
    return SHAPES[name]


def prepare_cmd(name: str, tfds_data_dir: str | None) -> str:
    cmd = f"python -m pga_jax.data prepare --dataset={name}"
    if tfds_data_dir:
        cmd += f" --data_dir={tfds_data_dir}"
    return cmd


def how_to_get(name: str) -> str:
    """One-line advice on obtaining the data of `name` (no trailing period)."""
    if name == "fashion_mnist":
        return (
            "install the Debian package (apt-get install dataset-fashion-mnist, files land in "
            f"{FASHION_MNIST_DIR}), or run `{prepare_cmd(name, None)}` and use source='tfds'"
        )
    if name == "mnist":
        return (
            "download train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz again into that "
            f"directory, or run `{prepare_cmd(name, None)}` and use source='tfds'"
        )
    return f"run `{prepare_cmd(name, None)}`"


def train_size(name: str) -> int:
    """Training images of `name` (the original code's: every image of CelebA)."""
    check_name(name)
    if name not in TRAIN_SIZES:
        raise DataError(f"{name} has no fixed training-set size")
    return TRAIN_SIZES[name]
