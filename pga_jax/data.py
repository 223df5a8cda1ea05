"""Input layer: whole splits as uint8 NHWC arrays, and seeded, resumable batches in [-1, 1].

Every dataset of the paper except full CelebA fits in memory, and the training step is far
slower than indexing a numpy array, so the pipeline is deliberately simple: `load_arrays`
returns all images of a split as one uint8 array (N, H, W, C), and `batch_at` /
`EpochIterator` pick batches from it with a permutation that is a pure function of
(seed, epoch). A run resumed at step `s` therefore sees exactly the batches an uninterrupted
run sees, with no iterator state to checkpoint.

Sources (`load_arrays(..., source=...)`):

- ``"idx"``: the IDX files of MNIST / Fashion-MNIST, ``{train,t10k}-images-idx3-ubyte`` with or
  without ``.gz``, in the directory `path` (split "train" reads ``train-*``, "test" reads
  ``t10k-*``). For Fashion-MNIST the default directory is ``/usr/share/datasets/fashion-mnist``,
  installed by the Debian package ``dataset-fashion-mnist`` (works offline). The magic number,
  the dimensions and the byte count are checked; a damaged file is a `DataError`.
- ``"tfds"``: TensorFlow Datasets, an optional extra (``pip install -e .[tfds]``). Data is
  only read here (``download=False``); downloading happens only in the explicit
  ``python -m pga_jax.data prepare --dataset=NAME [--data_dir=DIR]`` command. For
  ``celeb_a`` the 218x178 images are cropped and resized to 64x64 (see below) and the result
  is cached once as a ``.npy`` file that later runs memory-map.
- ``"folder"``: CelebA only: a folder of aligned 218x178 JPEGs (``img_align_celeba/*.jpg``,
  sorted by name; all images, no split, as in the paper), cropped and resized like the tfds
  version and cached the same way.
- ``"synthetic"``: deterministic smooth random images (a colour gradient plus a few Gaussian
  blobs each) for tests and smoke runs; any dataset name may use it to get that dataset's
  shape.
- ``"auto"`` (default): mnist / fashion_mnist use IDX files from `path` if given, else (for
  fashion_mnist) the Debian package's directory if it exists, else tfds; cifar10 uses tfds;
  celeb_a uses the folder `path` if given, else tfds; synthetic is synthetic.

CelebA preprocessing follows the paper's code: a 108x108 crop at (row 55, column 35) of the
218x178 image (the centre), then a bicubic resize to 64x64, kept as uint8. The resize is
Pillow's ``BICUBIC``, which, unlike TF1's ``resize_images``, filters (antialiases) when
downscaling; pixel values therefore differ slightly from the original implementation.

Caches live in `cache_dir` if given, else ``<tfds_data_dir>/pga_jax_cache`` if `tfds_data_dir`
is given, else ``~/.cache/pga_jax``. Delete a cache file to rebuild it.

Arrays returned by `load_arrays` may be read-only (a memory map or a view of the file's bytes).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import logging
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "SOURCES",
    "DataError",
    "EpochIterator",
    "batch_at",
    "image_shape",
    "load_arrays",
    "main",
    "num_batches_per_epoch",
]

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeb_a", "synthetic")
SOURCES = ("auto", "idx", "tfds", "folder", "synthetic")

_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "celeb_a": (64, 64, 3),
    "synthetic": (28, 28, 1),
}
# Which explicit sources each dataset accepts ("synthetic" is accepted by all).
_VALID_SOURCES = {
    "mnist": ("idx", "tfds"),
    "fashion_mnist": ("idx", "tfds"),
    "cifar10": ("tfds",),
    "celeb_a": ("tfds", "folder"),
    "synthetic": (),
}

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions.
_IDX_PREFIX = {"train": "train", "test": "t10k"}

# CelebA: 108x108 crop at (55, 35) == ((218 - 108) // 2, (178 - 108) // 2), then 64x64.
CELEBA_RAW_SHAPE = (218, 178, 3)
CELEBA_CROP = (55, 35, 108)  # (top, left, size)
CELEBA_SIZE = 64

_TFDS_CHUNK = 1000  # examples per tf.data batch when reading a split.
_LOG_EVERY = 10000  # progress log interval (images) when building a CelebA cache.


class DataError(ValueError):
    """A dataset cannot be loaded; the message says how to get or fix it."""


# ----------------------------------------------------------------------------- names


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")


def image_shape(name: str) -> tuple[int, int, int]:
    """(H, W, C) of the images `load_arrays(name)` returns (synthetic: its default shape)."""
    _check_name(name)
    return _SHAPES[name]


def _prepare_cmd(name: str, tfds_data_dir: str | None) -> str:
    cmd = f"python -m pga_jax.data prepare --dataset={name}"
    if tfds_data_dir:
        cmd += f" --data_dir={tfds_data_dir}"
    return cmd


def _how_to_get(name: str) -> str:
    """One-line advice on obtaining the data of `name` (no trailing period)."""
    if name == "fashion_mnist":
        return (
            "install the Debian package (apt-get install dataset-fashion-mnist, files land in "
            f"{FASHION_MNIST_DIR}), or run `{_prepare_cmd(name, None)}` and use source='tfds'"
        )
    if name == "mnist":
        return (
            "download train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz again into that "
            f"directory, or run `{_prepare_cmd(name, None)}` and use source='tfds'"
        )
    return f"run `{_prepare_cmd(name, None)}`"


# ----------------------------------------------------------------------------- public loader


def load_arrays(
    name: str,
    split: str = "train",
    *,
    source: str = "auto",
    path: str | None = None,
    tfds_data_dir: str | None = None,
    synthetic_shape=None,
    synthetic_size: int = 512,
    seed: int = 0,
    cache_dir: str | None = None,
) -> np.ndarray:
    """All images of a split, uint8 (N, H, W, C). See the module docstring for the sources.

    Args:
      name: one of `DATASETS`.
      split: "train" or "test" for IDX files; any tfds split string for tfds (e.g. "train",
        "test", "all", "train[:10%]"); ignored by the folder source (all images); for
        synthetic data it selects an independent stream of images.
      source: one of `SOURCES`.
      path: a directory: IDX files (mnist / fashion_mnist) or CelebA JPEGs (celeb_a).
      tfds_data_dir: tfds's data directory (default: tfds's own default).
      synthetic_shape: (H, W, C) of synthetic images; default `image_shape(name)`.
      synthetic_size: number of synthetic images.
      seed: seed of the synthetic images.
      cache_dir: where CelebA 64x64 caches go (default: see the module docstring).
    """
    _check_name(name)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
    if path is not None and not Path(path).is_dir():
        raise DataError(
            f"path {path!r} is not an existing directory; pass the directory that holds the "
            f"{name} files, or leave path unset"
        )

    if source == "auto":
        source = _auto_source(name, split, path)
    if source == "synthetic":
        shape = image_shape(name) if synthetic_shape is None else synthetic_shape
        return _synthetic_images(shape, synthetic_size, seed, split)
    if source not in _VALID_SOURCES[name]:
        valid = ", ".join(("auto", *_VALID_SOURCES[name], "synthetic"))
        raise DataError(f"source {source!r} does not serve {name}; valid sources: {valid}")
    if path is not None and source == "tfds":
        raise DataError(
            f"path is not used by source='tfds'; drop path={path!r}, or use "
            f"source={'folder' if name == 'celeb_a' else 'idx'!r} to read it"
        )

    if source == "idx":
        return _load_idx(name, split, path)
    cache = _cache_dir(cache_dir, tfds_data_dir)
    if source == "folder":
        if path is None:
            raise DataError(
                "source='folder' needs path=DIR, the folder of aligned CelebA JPEGs "
                "(img_align_celeba/*.jpg from the CelebA website)"
            )
        return _load_celeba_folder(path, cache)
    return _load_tfds(name, split, tfds_data_dir, cache)


def _auto_source(name: str, split: str, path: str | None) -> str:
    if name == "synthetic":
        return "synthetic"
    if name in ("mnist", "fashion_mnist"):
        if path is not None:
            # An explicit path is never silently ignored: _load_idx reports missing files.
            return "idx"
        if name == "fashion_mnist" and _find_idx_file(FASHION_MNIST_DIR, split) is not None:
            return "idx"
        return "tfds"
    if name == "celeb_a" and path is not None:
        return "folder"
    if path is not None:
        raise DataError(f"{name} is read only from tfds; drop path={path!r}")
    return "tfds"


# ----------------------------------------------------------------------------- IDX


def _find_idx_file(directory: str | os.PathLike, split: str) -> Path | None:
    prefix = _IDX_PREFIX.get(split)
    if prefix is None:
        return None
    for suffix in (".gz", ""):
        candidate = Path(directory) / f"{prefix}-images-idx3-ubyte{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _load_idx(name: str, split: str, path: str | None) -> np.ndarray:
    if split not in _IDX_PREFIX:
        raise DataError(f"IDX files have splits 'train' and 'test', not {split!r}")
    directory = path
    if directory is None:
        if name != "fashion_mnist":
            raise DataError(
                f"source='idx' needs path=DIR holding the {name} IDX files "
                f"({_IDX_PREFIX[split]}-images-idx3-ubyte[.gz]); or run "
                f"`{_prepare_cmd(name, None)}` and use source='tfds'"
            )
        directory = FASHION_MNIST_DIR
    file = _find_idx_file(directory, split)
    if file is None:
        raise DataError(
            f"no {_IDX_PREFIX[split]}-images-idx3-ubyte[.gz] in {directory}; {_how_to_get(name)}"
        )
    images = read_idx_images(file, how_to_fix=_how_to_get(name))
    if name in ("mnist", "fashion_mnist") and images.shape[1:] != _SHAPES[name]:
        raise DataError(
            f"{file} holds {images.shape[1]}x{images.shape[2]} images, not 28x28 {name}; "
            f"{_how_to_get(name)}"
        )
    return images


def read_idx_images(file: str | os.PathLike, how_to_fix: str = "download it again") -> np.ndarray:
    """Reads an IDX3 uint8 image file (gzipped if it ends in .gz) as (N, rows, cols, 1)."""
    file = Path(file)
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as f:
                data = f.read()
        else:
            data = file.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        # Truncated gzip streams raise EOFError, corrupt ones BadGzipFile (an OSError).
        raise DataError(f"cannot read {file} ({e}); the file is damaged: {how_to_fix}") from e
    if len(data) < 16:
        raise DataError(
            f"{file} is truncated ({len(data)} bytes, shorter than the 16-byte IDX header); "
            f"{how_to_fix}"
        )
    magic, n, rows, cols = (int(v) for v in np.frombuffer(data, ">u4", count=4))
    if magic != _IDX_IMAGES_MAGIC:
        raise DataError(
            f"{file} is not an IDX image file (magic number {magic}, expected "
            f"{_IDX_IMAGES_MAGIC}); {how_to_fix}"
        )
    if n == 0 or rows == 0 or cols == 0:
        raise DataError(f"{file} has empty dimensions ({n}, {rows}, {cols}); {how_to_fix}")
    expected = 16 + n * rows * cols
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{file} is {state} ({len(data)} bytes, header says {expected} for {n} images of "
            f"{rows}x{cols}); {how_to_fix}"
        )
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols, 1)


# ----------------------------------------------------------------------------- tfds


def _import_tfds():
    """Imports tensorflow_datasets lazily; keeps TensorFlow off the GPUs JAX uses."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataError(
            f"tensorflow-datasets is not installed ({e}); run `pip install -e .[tfds]`, or use "
            "another source (idx / folder / synthetic)"
        ) from e
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except ImportError as e:
        raise DataError(f"TensorFlow is not installed ({e}); run `pip install -e .[tfds]`") from e
    except RuntimeError:  # Devices already initialised by someone else: leave them.
        pass
    return tfds


def _tfds_images(name: str, split: str, tfds_data_dir: str | None) -> Iterator[np.ndarray]:
    """Yields uint8 image chunks of a prepared tfds split, in order."""
    tfds = _import_tfds()
    try:
        ds = tfds.load(name, split=split, download=False, data_dir=tfds_data_dir)
    except AssertionError as e:  # tfds's way of saying "not prepared".
        raise DataError(
            f"tfds dataset {name} is not prepared in {tfds_data_dir or 'the default tfds data_dir'}"
            f"; run `{_prepare_cmd(name, tfds_data_dir)}` on a machine with internet access"
        ) from e
    except ImportError as e:
        raise DataError(f"tfds needs a missing package ({e}); run `pip install -e .[tfds]`") from e
    except ValueError as e:  # e.g. an unknown split name.
        raise DataError(f"tfds cannot load {name} split {split!r}: {e}".replace("\n", " ")) from e
    # Not batch_size=-1: that batches by the split's recorded size, which is unknown under
    # tfds.testing.mock_data (TF then aborts the process), and it would hold all of CelebA's
    # 218x178 images (~19 GB) at once.
    ds = ds.map(lambda example: example["image"]).batch(_TFDS_CHUNK)
    for chunk in tfds.as_numpy(ds):
        yield np.asarray(chunk, dtype=np.uint8)


def _load_tfds(name: str, split: str, tfds_data_dir: str | None, cache: Path) -> np.ndarray:
    if name != "celeb_a":
        chunks = list(_tfds_images(name, split, tfds_data_dir))
        images = np.concatenate(chunks) if chunks else None
        if images is None or len(images) == 0:
            raise DataError(f"tfds split {name}[{split}] is empty; choose another split")
        return images

    cache_file = cache / f"celeb_a_tfds_{_safe(split)}_{CELEBA_SIZE}x{CELEBA_SIZE}.npy"
    cached = _read_cache(cache_file)
    if cached is not None:
        return cached
    logger.info("Building %s from tfds celeb_a[%s] (one-off).", cache_file, split)

    def resized_chunks() -> Iterator[np.ndarray]:
        done = 0
        for chunk in _tfds_images(name, split, tfds_data_dir):
            yield np.stack([celeba_crop_resize(img, f"celeb_a[{split}]") for img in chunk])
            done += len(chunk)
            logger.info("celeb_a: %d images cropped and resized", done)

    return _write_cache(cache_file, resized_chunks(), f"celeb_a[{split}] from tfds")


# ----------------------------------------------------------------------------- CelebA


def celeba_crop_resize(image: np.ndarray, where: str = "image") -> np.ndarray:
    """(218, 178, 3) uint8 -> (64, 64, 3) uint8: 108x108 crop at (55, 35), bicubic resize."""
    from PIL import Image

    image = np.asarray(image)
    if image.shape != CELEBA_RAW_SHAPE or image.dtype != np.uint8:
        raise DataError(
            f"{where} has shape {image.shape} and dtype {image.dtype}, expected aligned CelebA "
            f"uint8 {CELEBA_RAW_SHAPE} (img_align_celeba)"
        )
    top, left, size = CELEBA_CROP
    crop = Image.fromarray(image[top : top + size, left : left + size])
    resized = crop.resize((CELEBA_SIZE, CELEBA_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


def _load_celeba_folder(path: str, cache: Path) -> np.ndarray:
    from PIL import Image

    folder = Path(path).resolve()
    files = sorted(p.name for p in folder.glob("*.jpg"))
    if not files:
        raise DataError(
            f"no *.jpg files in {folder}; download img_align_celeba.zip from the CelebA website "
            "and pass its unzipped img_align_celeba folder as path"
        )
    key = hashlib.sha1("\n".join([str(folder), *files]).encode()).hexdigest()[:12]
    cache_file = cache / f"celeb_a_folder_{key}_{CELEBA_SIZE}x{CELEBA_SIZE}.npy"
    cached = _read_cache(cache_file, expected_len=len(files))
    if cached is not None:
        return cached
    logger.info("Building %s from %d JPEGs in %s (one-off).", cache_file, len(files), folder)

    def resized_chunks() -> Iterator[np.ndarray]:
        for i, file_name in enumerate(files):
            file = folder / file_name
            try:
                with Image.open(file) as img:
                    rgb = np.asarray(img.convert("RGB"))
            except OSError as e:
                raise DataError(f"cannot read {file} ({e}); delete or replace the file") from e
            yield celeba_crop_resize(rgb, str(file))[None]
            if (i + 1) % _LOG_EVERY == 0 or i + 1 == len(files):
                logger.info("celeb_a folder: %d / %d images", i + 1, len(files))

    return _write_cache(cache_file, resized_chunks(), str(folder))


# ----------------------------------------------------------------------------- cache


def _cache_dir(cache_dir: str | None, tfds_data_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    if tfds_data_dir:
        return Path(tfds_data_dir) / "pga_jax_cache"
    return Path.home() / ".cache" / "pga_jax"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _read_cache(file: Path, expected_len: int | None = None) -> np.ndarray | None:
    if not file.is_file():
        return None
    try:
        images = np.load(file, mmap_mode="r")
    except (OSError, ValueError) as e:
        logger.warning("Ignoring unreadable cache %s (%s); rebuilding it.", file, e)
        return None
    shape = (CELEBA_SIZE, CELEBA_SIZE, 3)
    if (
        images.dtype != np.uint8
        or images.shape[1:] != shape
        or len(images) == 0
        or (expected_len is not None and len(images) != expected_len)
    ):
        logger.warning("Ignoring cache %s of shape %s; rebuilding it.", file, images.shape)
        return None
    logger.info("Memory-mapping cached images %s %s.", file, images.shape)
    return images


def _write_cache(file: Path, chunks: Iterable[np.ndarray], what: str) -> np.ndarray:
    """Saves the concatenated chunks as `file` (atomically) and returns its memory map."""
    parts = list(chunks)
    total = sum(len(p) for p in parts)
    if total == 0:
        raise DataError(f"{what} holds no images; check the split or folder")
    shape = (total, *parts[0].shape[1:])
    tmp = file.with_name(f"{file.stem}.tmp{os.getpid()}.npy")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    except OSError as e:
        logger.warning("Cannot write cache %s (%s); keeping images in memory only.", file, e)
        return np.concatenate(parts)
    start = 0
    while parts:  # Copy and free chunk by chunk: peak memory is one copy of the data.
        part = parts.pop(0)
        out[start : start + len(part)] = part
        start += len(part)
    out.flush()
    del out
    os.replace(tmp, file)
    logger.info("Cached %s images in %s.", shape, file)
    return np.load(file, mmap_mode="r")


# ----------------------------------------------------------------------------- synthetic


def _uniform(rng: np.random.Generator, m: int, lo: float, hi: float, *dims: int) -> np.ndarray:
    return rng.uniform(lo, hi, (m, *dims)).astype(np.float32)


def _synthetic_images(shape, size: int, seed: int, split: str) -> np.ndarray:
    """Smooth deterministic images: a colour gradient plus three Gaussian blobs each."""
    try:
        h, w, c = (int(v) for v in shape)
    except (TypeError, ValueError) as e:
        raise DataError(f"synthetic_shape must be (H, W, C), got {shape!r}") from e
    if min(h, w, c) <= 0 or size <= 0:
        raise DataError(f"synthetic_shape {shape!r} and synthetic_size {size} must be positive")
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    out = np.empty((size, h, w, c), np.uint8)
    blobs, step = 3, 256
    for start in range(0, size, step):
        m = min(step, size - start)
        u = functools.partial(_uniform, rng, m)
        img = u(0.3, 0.7, 1, 1, c) + u(-0.2, 0.2, 1, 1, c) * ys[..., None]
        img = img + u(-0.2, 0.2, 1, 1, c) * xs[..., None]
        cy, cx, sigma = u(-0.7, 0.7, blobs), u(-0.7, 0.7, blobs), u(0.15, 0.45, blobs)
        dist2 = (ys - cy[..., None, None]) ** 2 + (xs - cx[..., None, None]) ** 2
        bumps = np.exp(-dist2 / (2.0 * sigma[..., None, None] ** 2))  # (m, blobs, h, w)
        img = img + np.einsum("mkhw,mkc->mhwc", bumps, u(-0.5, 0.5, blobs, c))
        out[start : start + m] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------- batches


def num_batches_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder is dropped)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return n // batch_size


@functools.lru_cache(maxsize=4)
def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    perm.flags.writeable = False
    return perm


def _steps_per_epoch(images: np.ndarray, batch_size: int) -> int:
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    steps = num_batches_per_epoch(len(images), batch_size)
    if steps == 0:
        raise DataError(
            f"batch_size {batch_size} is larger than the dataset ({len(images)} images); "
            "use a smaller batch size or more data"
        )
    return steps


def batch_at(images: np.ndarray, step: int, batch_size: int, seed: int) -> np.ndarray:
    """Batch number `step`, float32 (B, H, W, C) in [-1, 1] (x / 127.5 - 1).

    A pure function of (step, seed): epoch = step // steps_per_epoch, the epoch's order is
    `np.random.default_rng([seed, epoch]).permutation(n)`, and the last partial batch of each
    epoch is dropped.
    """
    if step < 0:
        raise ValueError(f"step must be non-negative, got {step}")
    epoch, index = divmod(int(step), _steps_per_epoch(images, batch_size))
    perm = _epoch_permutation(len(images), int(seed), epoch)
    batch = np.asarray(images[perm[index * batch_size : (index + 1) * batch_size]])
    return batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class EpochIterator:
    """Endless iterator over `batch_at(images, step, batch_size, seed)`, step = start_step, ..."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, start_step: int = 0):
        if start_step < 0:
            raise ValueError(f"start_step must be non-negative, got {start_step}")
        self.steps_per_epoch = _steps_per_epoch(images, batch_size)
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.step = int(start_step)  # The step of the next batch.

    @property
    def epoch(self) -> int:
        """Epoch of the next batch."""
        return self.step // self.steps_per_epoch

    def __iter__(self) -> EpochIterator:
        return self

    def __next__(self) -> np.ndarray:
        batch = batch_at(self.images, self.step, self.batch_size, self.seed)
        self.step += 1
        return batch


# ----------------------------------------------------------------------------- prepare CLI


def prepare(
    name: str,
    data_dir: str | None = None,
    split: str = "train",
    folder: str | None = None,
    cache_dir: str | None = None,
) -> None:
    """Downloads and prepares a tfds dataset (the only place downloads happen).

    For celeb_a it also builds the 64x64 cache of `split`; with `folder` it builds the cache of
    a local JPEG folder instead and touches neither tfds nor the network.
    """
    _check_name(name)
    if name == "synthetic":
        logger.info("synthetic data is generated on the fly; nothing to prepare.")
        return
    if folder is not None:
        if name != "celeb_a":
            raise DataError("--folder is only for celeb_a")
        images = load_arrays(name, source="folder", path=folder, cache_dir=cache_dir)
        logger.info("celeb_a folder ready: %s", images.shape)
        return
    tfds = _import_tfds()
    try:
        import importlib_resources  # noqa: F401  (tfds needs it to prepare, undeclared)
    except ImportError as e:
        raise DataError(
            "tfds needs importlib_resources to prepare; run `pip install -e .[tfds]`"
        ) from e
    builder = tfds.builder(name, data_dir=data_dir)
    logger.info("Downloading and preparing %s into %s ...", name, builder.data_dir)
    try:
        builder.download_and_prepare()
    except Exception as e:
        hint = "check the internet connection and rerun"
        if name == "celeb_a":
            hint = (
                "Google Drive often refuses automatic CelebA downloads: download "
                "img_align_celeba.zip by hand, unzip it and run `python -m pga_jax.data prepare "
                "--dataset=celeb_a --folder=DIR`, then train with path=DIR"
            )
        message = f"preparing {name} failed ({type(e).__name__}: {e}); {hint}"
        raise DataError(message.replace("\n", " ")) from e
    logger.info("%s prepared.", name)
    if name == "celeb_a":
        images = load_arrays(
            name, split, source="tfds", tfds_data_dir=data_dir, cache_dir=cache_dir
        )
        logger.info("celeb_a[%s] cached: %s", split, images.shape)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pga_jax.data",
        description="Prepare datasets for pga_jax (downloads through tensorflow-datasets).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="download and prepare a dataset")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data_dir", default=None, help="tfds data directory (default: tfds's)")
    p.add_argument("--split", default="train", help="celeb_a: split to cache (e.g. train, all)")
    p.add_argument("--folder", default=None, help="celeb_a: folder of aligned JPEGs to cache")
    p.add_argument("--cache_dir", default=None, help="celeb_a: where the 64x64 cache goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepare(args.dataset, args.data_dir, args.split, args.folder, args.cache_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
