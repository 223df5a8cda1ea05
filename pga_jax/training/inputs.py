"""The training images of a config and where the loop keeps them (the device or the host)."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np

from pga_jax import configs, data, models


def load_training_images(config: ml_collections.ConfigDict) -> np.ndarray:
    """uint8 NHWC training images of config.dataset (synthetic: the architecture's shape)."""
    shape = models.output_shape(config.model.arch)
    imgs = data.load_arrays(config.dataset, config.data.split, **configs.load_options(config))
    if tuple(imgs.shape[1:]) != shape:
        raise configs.ConfigError(
            f"dataset {config.dataset!r} has {tuple(imgs.shape[1:])} images but "
            f"config.model.arch={config.model.arch!r} makes {shape}; pick a matching arch"
        )
    return imgs


def images_on_device(config: ml_collections.ConfigDict, nbytes: int) -> bool:
    """config.data.images_on: `device`, `host`, or `auto`: the device unless the images take
    more than a quarter of its memory (where it reports its memory; a CPU's is the host's)."""
    if config.data.images_on != "auto":
        return config.data.images_on == "device"
    limit = (jax.local_devices()[0].memory_stats() or {}).get("bytes_limit")
    return limit is None or nbytes <= limit // 4
