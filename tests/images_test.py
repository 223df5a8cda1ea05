"""The pictures people look at show what they say: a reconstruction grid's tiles are the
images and their reconstructions themselves (content, not counts), whatever their dtypes."""

import math
import os

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from pga_jax import images
from pga_jax.training import actions


def _real_and_recons(n=6, shape=(5, 4, 1)):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    recons = rng.uniform(-1, 1, (n, *shape)).astype(np.float32)
    return real, recons


def test_interleave_converts_uint8_and_float_images_to_one_representation():
    real, recons = _real_and_recons()
    pairs = images.interleave(real, recons)  # the data's uint8 next to float reconstructions
    assert pairs.dtype == np.uint8 and pairs.shape == (12, 5, 4, 1)
    np.testing.assert_array_equal(pairs[0::2], real)
    np.testing.assert_array_equal(pairs[1::2], images.to_uint8(recons))
    assert pairs[1::2].std() > 0  # not blank: the floats were not cast to uint8 as they are
    # the same images given as floats give the same pairs
    np.testing.assert_array_equal(images.interleave(real, images.to_uint8(recons)), pairs)


def test_interleave_and_grids_refuse_what_they_cannot_read():
    real, recons = _real_and_recons()
    with pytest.raises(ValueError, match="dtype int64"):
        images.interleave(real.astype(np.int64), recons)
    with pytest.raises(ValueError, match="as many of each"):
        images.interleave(real, recons[:2])


def test_a_grid_of_uint8_images_keeps_them_and_its_tiles_are_the_images():
    real, recons = _real_and_recons()
    grid = images.make_grid(images.interleave(real, recons), ncols=4)
    got = images.tiles(grid, 12, real.shape[1:], ncols=4)
    np.testing.assert_array_equal(got[0::2], real)
    np.testing.assert_array_equal(got[1::2], images.to_uint8(recons))


class _Writer:
    def write_images(self, step, grids):
        self.grids = grids


def test_the_loops_reconstruction_grid_shows_the_reconstructions(tmp_path):
    """actions.write_images: the PNG's tiles are the fixed images and reconstruct(them)."""
    n = 8
    fixed_x = np.random.default_rng(1).uniform(-1, 1, (n // 2, 6, 6, 1)).astype(np.float32)
    fixed_z = np.zeros((n, 3), np.float32)
    state = type("State", (), {"step": jnp.zeros((), jnp.int32)})()
    generate = lambda state, z: jnp.zeros((len(z), 6, 6, 1)) + z[:, :1, None, None]
    reconstruct = lambda state, x: -jnp.asarray(x)[:, ::-1]  # visibly not the input
    writer = _Writer()
    actions.write_images(
        state, None, 3, str(tmp_path), writer, fixed_z, fixed_x, generate, reconstruct
    )
    with Image.open(os.path.join(tmp_path, "images", "reconstructions_latest.png")) as im:
        grid = np.asarray(im)[..., None]
    ncols = 2 * int(math.sqrt(len(fixed_x) * 2) // 2)
    got = images.tiles(grid, 2 * len(fixed_x), (6, 6, 1), ncols)
    np.testing.assert_array_equal(got[0::2], images.to_uint8(fixed_x))
    np.testing.assert_array_equal(got[1::2], images.to_uint8(-fixed_x[:, ::-1]))
    np.testing.assert_array_equal(writer.grids["reconstructions"][0], grid)
