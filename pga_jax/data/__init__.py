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
- ``"loader"``: a dataset registered with a reader of its own (`Dataset.load`).
- ``"auto"`` (default): a dataset's own loader if it has one; else its local files (IDX / JPEG
  folder) at `path` if given, or at its default place (Fashion-MNIST: the Debian package's
  directory) if they are there; else tfds; synthetic is synthetic.

CelebA preprocessing follows the paper's code: a 108x108 crop at (row 55, column 35) of the
218x178 image (the centre), then a bicubic resize to 64x64, kept as uint8. The resize is
Pillow's ``BICUBIC``, which, unlike TF1's ``resize_images``, filters (antialiases) when
downscaling; pixel values therefore differ slightly from the original implementation.

Caches live in `cache_dir` if given, else ``<tfds_data_dir>/pga_jax_cache`` if `tfds_data_dir`
is given, else ``~/.cache/pga_jax``. Delete a cache file to rebuild it.

Arrays returned by `load_arrays` may be read-only (a memory map or a view of the file's bytes).

Modules: `datasets` (the registry: every dataset's facts; the errors), `sources`
(`load_arrays`), one per source (`idx`, `tfds_source`, `celeba`, `synthetic`), `cache`,
`batches`, `prepare` (the CLI).
"""

from pga_jax.data.batches import (
    UNIT_RANGE_TABLE,
    EpochIterator,
    batch_at,
    batch_indices,
    num_batches_per_epoch,
    to_unit_range,
)
from pga_jax.data.celeba import (
    CELEBA_CROP,
    CELEBA_RAW_SHAPE,
    CELEBA_SIZE,
    DEFAULT_CELEBA_CROP,
    celeba_crop_box,
    celeba_crop_resize,
    crop_tag,
)
from pga_jax.data.datasets import (
    FASHION_MNIST_DIR,
    SOURCES,
    DataError,
    Dataset,
    get,
    image_shape,
    names,
    register,
    train_size,
    unregister,
)
from pga_jax.data.idx import read_idx_images
from pga_jax.data.prepare import prepare
from pga_jax.data.sources import load_arrays

__all__ = [
    "CELEBA_CROP",
    "CELEBA_RAW_SHAPE",
    "CELEBA_SIZE",
    "DEFAULT_CELEBA_CROP",
    "celeba_crop_box",
    "crop_tag",
    "FASHION_MNIST_DIR",
    "SOURCES",
    "Dataset",
    "DataError",
    "get",
    "names",
    "register",
    "unregister",
    "EpochIterator",
    "UNIT_RANGE_TABLE",
    "batch_at",
    "batch_indices",
    "to_unit_range",
    "celeba_crop_resize",
    "image_shape",
    "load_arrays",
    "num_batches_per_epoch",
    "prepare",
    "read_idx_images",
    "train_size",
]
