"""Stand-ins shared by tests."""

import numpy as np

from pga_jax.fid import resize


class TinyFeatures:
    """Stand-in for the Inception network (tests only): 14x14 mean-pooled pixels, 4 features.

    Quantises [-1, 1] floats like the real feature function, so images and their uint8 PNG /
    .npz copies give the same features.
    """

    protocol = resize.DEFAULT_PROTOCOL
    weights_sha256 = "tiny-test-features"

    def __call__(self, images):
        images = np.asarray(images)
        if images.dtype != np.uint8:
            images = resize.quantize_to_uint8(images)
        x = images.astype(np.float64)[..., 0]
        n, h, w = x.shape
        return x.reshape(n, 2, h // 2, 2, w // 2).mean(axis=(2, 4)).reshape(n, 4)
