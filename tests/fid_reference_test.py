"""Resumable reference statistics: interrupted runs resume, damaged chunks are recomputed, other
images or settings are never mixed in or overwritten."""

import numpy as np
import pytest

from pga_jax.fid import reference, score


class FakeFeatures:
    """A deterministic 2048-d feature map of images that counts the images it has seen."""

    protocol = "tf1_bilinear"
    weights_sha256 = "fake"

    def __init__(self, fail_after: int | None = None):
        self.seen, self.fail_after = 0, fail_after
        self._proj = np.random.default_rng(0).standard_normal((12, 2048)).astype(np.float32)

    def __call__(self, images):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise KeyboardInterrupt  # an interrupted run
        self.seen += len(images)
        flat = images.reshape(len(images), -1)[:, :12].astype(np.float32)
        return np.tanh(flat / 255 @ self._proj)


@pytest.fixture
def images():
    return np.random.default_rng(1).integers(0, 256, (23, 4, 4, 1), dtype=np.uint8)


def _quiet(_):
    pass


def test_interrupted_run_resumes_and_matches_one_shot(tmp_path, images):
    out = tmp_path / "ref.npz"
    with pytest.raises(KeyboardInterrupt):
        reference.compute_stats_resumable(
            images, FakeFeatures(fail_after=10), out, chunk_size=5, log=_quiet
        )
    partial = tmp_path / "ref.npz.partial"
    assert len(list(partial.glob("features_*.npy"))) == 2 and not out.exists()
    # Damage the second chunk: it is recomputed, the first one is reused.
    (partial / "features_00000005.npy").write_bytes(b"\x93NUMPY truncated")
    fn = FakeFeatures()
    lines = []
    st = reference.compute_stats_resumable(images, fn, out, chunk_size=5, log=lines.append)
    assert fn.seen == 23 - 5
    assert any("ETA" in line for line in lines)
    assert not partial.exists() and out.is_file()
    one_shot = score.stats_from_features(
        FakeFeatures()(images), protocol="tf1_bilinear", weights_sha256="fake"
    )
    # float32 features: batching may move the last bit
    np.testing.assert_allclose(st["mu"], one_shot["mu"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(st["sigma"], one_shot["sigma"], rtol=1e-5, atol=1e-7)
    back = score.load_stats(out)
    assert back["n"] == 23 and back["protocol"] == "tf1_bilinear"
    np.testing.assert_array_equal(back["sigma"], st["sigma"])


def test_finished_statistics_are_reused_and_never_overwritten(tmp_path, images):
    out = tmp_path / "ref.npz"
    reference.compute_stats_resumable(images, FakeFeatures(), out, chunk_size=10, log=_quiet)
    before = out.read_bytes()
    fn = FakeFeatures()
    reference.compute_stats_resumable(images, fn, out, chunk_size=10, log=_quiet)
    assert fn.seen == 0  # up to date: nothing recomputed
    other = images.copy()
    other[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="already holds other statistics.*images_sha256"):
        reference.compute_stats_resumable(other, FakeFeatures(), out, log=_quiet)
    assert out.read_bytes() == before


def test_partial_features_of_other_images_are_refused(tmp_path, images):
    out = tmp_path / "ref.npz"
    with pytest.raises(KeyboardInterrupt):
        reference.compute_stats_resumable(
            images, FakeFeatures(fail_after=5), out, chunk_size=5, log=_quiet
        )
    with pytest.raises(ValueError, match="other images or settings.*images_sha256"):
        reference.compute_stats_resumable(images[1:], FakeFeatures(), out, chunk_size=5)
    with pytest.raises(ValueError, match="differs in chunk_size"):
        reference.compute_stats_resumable(images, FakeFeatures(), out, chunk_size=4)
    with pytest.raises(ValueError, match=r"end in \.npz"):
        reference.compute_stats_resumable(images, FakeFeatures(), tmp_path / "ref.stats")
