"""Tests for pga_jax.data: IDX / tfds (mocked) / folder / synthetic sources and batching."""

import gzip
import os
import struct
import sys

import numpy as np
import pytest
from PIL import Image

from pga_jax import data
from pga_jax.data import DataError

from cli_helper import run_module

# ----------------------------------------------------------------------------- helpers


def _idx_bytes(images: np.ndarray, magic: int = 2051) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def _write_idx(directory, prefix: str, images: np.ndarray, gz: bool, **kwargs) -> str:
    raw = _idx_bytes(images, **kwargs)
    name = f"{prefix}-images-idx3-ubyte" + (".gz" if gz else "")
    file = os.path.join(directory, name)
    if gz:
        with gzip.open(file, "wb") as f:
            f.write(raw)
    else:
        with open(file, "wb") as f:
            f.write(raw)
    return file


def _digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _indexed_images(n: int) -> np.ndarray:
    """Image i is filled with the value i, so batches reveal which images they hold."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 1)).copy()


def _ids(batch: np.ndarray) -> np.ndarray:
    return np.rint((batch[:, 0, 0, 0] + 1.0) * 127.5).astype(int)


# ----------------------------------------------------------------------------- names


def test_image_shapes():
    assert data.image_shape("mnist") == (28, 28, 1)
    assert data.image_shape("fashion_mnist") == (28, 28, 1)
    assert data.image_shape("cifar10") == (32, 32, 3)
    assert data.image_shape("celeb_a") == (64, 64, 3)
    assert data.image_shape("synthetic") == (28, 28, 1)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError, match="valid datasets: mnist, fashion_mnist, cifar10"):
        data.load_arrays("imagenet")
    with pytest.raises(DataError, match="unknown dataset"):
        data.image_shape("imagenet")


def test_a_registered_loader_is_checked():
    load = lambda split, path: np.zeros((2, 4, 4))  # float, and no channel axis
    entry = data.Dataset("odd", "Odd", (4, 4, 1), 2, (), load=load)
    data.register(entry)
    try:
        with pytest.raises(DataError, match=r"odd's loader returned float64 images .* not uint8"):
            data.load_arrays("odd")
        with pytest.raises(DataError, match="source 'tfds' does not serve odd"):
            data.load_arrays("odd", source="tfds")
    finally:
        data.unregister("odd")


def test_unknown_or_unsupported_source():
    with pytest.raises(DataError, match="valid sources: auto, idx, tfds"):
        data.load_arrays("mnist", source="s3")
    with pytest.raises(DataError, match="does not serve cifar10"):
        data.load_arrays("cifar10", source="idx")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="not an existing directory"):
        data.load_arrays("mnist", path=str(tmp_path / "nope"))
    # An existing directory without the files is reported, not silently replaced by tfds.
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        data.load_arrays("mnist", path=str(tmp_path))
    with pytest.raises(DataError, match="needs path=DIR"):
        data.load_arrays("mnist", source="idx")


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reading(tmp_path, gz):
    train, test = _digits(7, seed=1), _digits(3, seed=2)
    _write_idx(tmp_path, "train", train, gz)
    _write_idx(tmp_path, "t10k", test, gz)
    for split, expected in [("train", train), ("test", test)]:
        for source in ("idx", "auto"):
            images = data.load_arrays("mnist", split, source=source, path=str(tmp_path))
            assert images.dtype == np.uint8
            assert images.shape == (len(expected), 28, 28, 1)
            np.testing.assert_array_equal(images[..., 0], expected)
    with pytest.raises(DataError, match="splits 'train' and 'test'"):
        data.load_arrays("mnist", "validation", source="idx", path=str(tmp_path))


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx_is_a_helpful_error(tmp_path, gz):
    file = _write_idx(tmp_path, "train", _digits(5), gz)
    with open(file, "rb") as f:
        blob = f.read()
    with open(file, "wb") as f:
        f.write(blob[: len(blob) - 100])
    with pytest.raises(DataError) as info:
        data.load_arrays("fashion_mnist", source="idx", path=str(tmp_path))
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "python -m pga_jax.data prepare --dataset=fashion_mnist" in message
    assert "\n" not in message


def test_idx_bad_magic_and_dims(tmp_path):
    _write_idx(tmp_path, "train", _digits(2), gz=True, magic=2049)  # a label file's magic
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        data.load_arrays("mnist", source="idx", path=str(tmp_path))
    _write_idx(tmp_path, "train", np.zeros((2, 32, 32), np.uint8), gz=True)
    with pytest.raises(DataError, match="not 28x28"):
        data.load_arrays("mnist", source="idx", path=str(tmp_path))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="shorter than the 16-byte IDX header"):
        data.load_arrays("mnist", "test", source="idx", path=str(tmp_path))


@pytest.mark.skipif(
    not os.path.isdir(data.FASHION_MNIST_DIR), reason="apt-get install dataset-fashion-mnist"
)
def test_real_fashion_mnist():
    train = data.load_arrays("fashion_mnist", "train")
    test = data.load_arrays("fashion_mnist", "test", source="idx")
    assert train.shape == (60000, 28, 28, 1) and train.dtype == np.uint8
    assert test.shape == (10000, 28, 28, 1) and test.dtype == np.uint8
    assert 60 < train.mean() < 90  # Fashion-MNIST's mean pixel is ~73.


# ----------------------------------------------------------------------------- tfds (mocked)


@pytest.fixture(scope="module")
def tfds():
    return pytest.importorskip("tensorflow_datasets")


@pytest.mark.parametrize(
    "name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)), ("svhn", (32, 32, 3))]
)
def test_tfds_mock(tfds, name, shape):
    # svhn: read as its registry entry's tfds name, svhn_cropped
    with tfds.testing.mock_data(num_examples=5):
        images = data.load_arrays(name, "train", source="tfds")
        auto = data.load_arrays(name, "test") if name != "mnist" else None
    assert images.shape == (5, *shape) and images.dtype == np.uint8
    if auto is not None:
        assert auto.shape == (5, *shape)


def test_tfds_celeb_a_crop_resize_and_cache(tfds, tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        raw = tfds.as_numpy(tfds.load("celeb_a", split="train", batch_size=3))
        raw = next(iter(raw))["image"]
        images = data.load_arrays("celeb_a", "train", tfds_data_dir=str(tmp_path))
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    expected = np.stack([data.celeba_crop_resize(img) for img in raw])
    np.testing.assert_array_equal(images, expected)
    cache = tmp_path / "pga_jax_cache" / "celeb_a_tfds_train_64x64.npy"
    assert cache.is_file()
    # The second load reads the cache (no tfds needed) as a memory map.
    again = data.load_arrays("celeb_a", "train", tfds_data_dir=str(tmp_path))
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, images)


def test_tfds_not_prepared(tfds, tmp_path):
    with pytest.raises(DataError) as info:
        data.load_arrays("mnist", source="tfds", tfds_data_dir=str(tmp_path))
    assert f"python -m pga_jax.data prepare --dataset=mnist --data_dir={tmp_path}" in str(
        info.value
    )


def test_tfds_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes the import fail
    with pytest.raises(DataError, match=r"pip install -e \.\[tfds\]"):
        data.load_arrays("cifar10")


# ----------------------------------------------------------------------------- folder


def test_folder_crop_offset_and_cache(tmp_path):
    inside, outside = np.array([200, 40, 90]), np.array([20, 220, 60])
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    for i in range(3):
        img = np.empty((218, 178, 3), np.uint8)
        img[:] = outside
        img[55:163, 35:143] = inside  # exactly the crop region
        img[10, 10 + 10 * i] = 0  # makes the files differ (outside the crop)
        Image.fromarray(img).save(folder / f"{i:06d}.jpg", quality=95, subsampling=0)
    (folder / "list.txt").write_text("not an image")
    cache_dir = tmp_path / "cache"
    images = data.load_arrays("celeb_a", path=str(folder), cache_dir=str(cache_dir))
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    # A crop one pixel off lets the outside colour in (error ~100); JPEG error is ~4.
    error = np.abs(images.astype(int) - inside)
    assert np.median(error) <= 4 and error.max() <= 20
    assert len(list(cache_dir.glob("*.npy"))) == 1
    again = data.load_arrays("celeb_a", source="folder", path=str(folder), cache_dir=str(cache_dir))
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, images)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no \\*.jpg files"):
        data.load_arrays("celeb_a", path=str(tmp_path), cache_dir=str(tmp_path))
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "a.jpg")
    with pytest.raises(DataError, match="expected aligned CelebA"):
        data.load_arrays("celeb_a", path=str(tmp_path), cache_dir=str(tmp_path))
    with pytest.raises(DataError, match="needs path=DIR"):
        data.load_arrays("celeb_a", source="folder")


# ----------------------------------------------------------------------------- synthetic


def test_synthetic():
    a = data.load_arrays("synthetic", synthetic_size=20, seed=3)
    assert a.shape == (20, 28, 28, 1) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, data.load_arrays("synthetic", synthetic_size=20, seed=3))
    assert not np.array_equal(a, data.load_arrays("synthetic", synthetic_size=20, seed=4))
    assert not np.array_equal(a, data.load_arrays("synthetic", "test", synthetic_size=20, seed=3))
    assert a.std() > 10  # not constant...
    assert np.abs(np.diff(a.astype(int), axis=2)).mean() < 8  # ...but smooth
    b = data.load_arrays("celeb_a", source="synthetic", synthetic_size=4)
    assert b.shape == (4, 64, 64, 3)
    c = data.load_arrays("synthetic", synthetic_shape=(8, 16, 3), synthetic_size=2)
    assert c.shape == (2, 8, 16, 3)


# ----------------------------------------------------------------------------- batches


def test_batch_values_and_determinism():
    images = data.load_arrays("synthetic", synthetic_size=50)
    batch = data.batch_at(images, 7, 16, seed=1)
    assert batch.dtype == np.float32 and batch.shape == (16, 28, 28, 1)
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    np.testing.assert_array_equal(batch, data.batch_at(images, 7, 16, seed=1))
    assert not np.array_equal(batch, data.batch_at(images, 7, 16, seed=2))
    full = data.batch_at(np.array([[[[0]]], [[[255]]]], np.uint8), 0, 2, seed=0)
    assert sorted(full.ravel().tolist()) == [-1.0, 1.0]


def test_epochs_are_permutations_without_remainder():
    n, batch_size = 23, 5
    images = _indexed_images(n)
    steps = data.num_batches_per_epoch(n, batch_size)
    assert steps == 4
    epochs = []
    for epoch in range(3):
        ids = np.concatenate(
            [_ids(data.batch_at(images, epoch * steps + i, batch_size, 0)) for i in range(steps)]
        )
        assert len(ids) == steps * batch_size and len(set(ids.tolist())) == len(ids)
        expected = np.random.default_rng([0, epoch]).permutation(n)[: steps * batch_size]
        np.testing.assert_array_equal(ids, expected)
        epochs.append(ids)
    assert not np.array_equal(epochs[0], epochs[1])


def test_resume_equivalence():
    images = _indexed_images(30)
    ref = data.EpochIterator(images, batch_size=4, seed=5)
    uninterrupted = [next(ref) for _ in range(20)]
    resumed = data.EpochIterator(images, batch_size=4, seed=5, start_step=13)
    assert resumed.epoch == 13 // 7
    for expected in uninterrupted[13:]:
        np.testing.assert_array_equal(next(resumed), expected)
    assert resumed.step == 20


def test_batch_errors():
    images = _indexed_images(3)
    with pytest.raises(DataError, match="larger than the dataset"):
        data.EpochIterator(images, batch_size=4, seed=0)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        data.batch_at(images, 0, 0, seed=0)


# ----------------------------------------------------------------------------- prepare CLI


def test_prepare_folder_and_errors(tmp_path):
    folder = tmp_path / "jpegs"
    folder.mkdir()
    Image.fromarray(np.full((218, 178, 3), 128, np.uint8)).save(folder / "000001.jpg")
    data.prepare("celeb_a", folder=str(folder), cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("celeb_a_folder_*_64x64.npy"))) == 1
    data.prepare("synthetic")
    with pytest.raises(data.DataError, match="only for celeb_a"):
        data.prepare("mnist", folder=str(folder))


def test_prepare_cli_reports_a_user_error_in_one_line(tmp_path):
    result = run_module("pga_jax.data", "prepare", "--dataset=mnist", f"--folder={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: --folder is only for celeb_a"
