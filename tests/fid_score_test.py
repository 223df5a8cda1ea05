"""Statistics files, ``score_arrays`` and the CLI, with random network weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pga_jax.fid import inception, score, weights

from cli_helper import ROOT, run_module


@pytest.fixture(scope="module")
def feature_fn():
    params = inception.init_random_params(seed=5)
    return inception.make_feature_fn(params, batch_size=4, weights_sha256="test-weights")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)


def test_score_identical_sets(feature_fn, images):
    ref = score.compute_stats(images, feature_fn, keep_features=8)
    assert ref["n"] == 8 and ref["features"].shape == (8, 2048)
    out = score.score_arrays(images, ref, feature_fn=feature_fn, kid_subsets=3)
    assert abs(out["fid"]) < 1e-6 * np.trace(ref["sigma"])
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    assert np.isfinite(out["kid"]) and out["kid_subset_size"] == 8
    assert out["n"] == 8 and out["protocol"] == "tf1_bilinear"
    assert out["weights_sha256"] == "test-weights"
    json.loads(score.to_json(out))  # JSON-ready
    # [-1, 1] floats that quantise to the same pixels score the same.
    as_float = (images.astype(np.float32) + 0.5) / 255 * 2 - 1
    again = score.score_arrays(as_float, ref, feature_fn=feature_fn, kid=False, pr=False)
    assert again["fid"] == pytest.approx(out["fid"], abs=1e-6)


def test_score_refuses_mismatched_protocol_or_weights(feature_fn, images):
    ref = score.compute_stats(images, feature_fn, keep_features=0)
    with pytest.raises(ValueError, match="protocol"):
        score.score_arrays(images, dict(ref, protocol="torch_bilinear"), feature_fn=feature_fn)
    with pytest.raises(ValueError, match="other weights"):
        score.score_arrays(images, dict(ref, weights_sha256="abc"), feature_fn=feature_fn)


def test_stats_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(50, 16)).astype(np.float32)
    st = score.stats_from_features(
        feats, protocol="torch_bilinear", weights_sha256="w", keep_features=20
    )
    score.save_stats(tmp_path / "s.npz", st)
    back = score.load_stats(tmp_path / "s.npz")
    assert back["n"] == 50 and back["protocol"] == "torch_bilinear"
    assert back["weights_sha256"] == "w" and back["features"].shape == (20, 16)
    want = np.cov(feats.astype(np.float64), rowvar=False)
    np.testing.assert_allclose(back["sigma"], want, rtol=1e-12, atol=1e-15)
    # TTUR-style files (mu, sigma only) load with unknown metadata, when allowed.
    np.savez(tmp_path / "ttur.npz", mu=st["mu"], sigma=st["sigma"])
    ttur = score.load_stats(tmp_path / "ttur.npz", allow_unverified=True)
    assert ttur["protocol"] == score.UNKNOWN and "features" not in ttur


def test_a_bare_mu_sigma_reference_is_refused_unless_allowed(feature_fn, images, tmp_path):
    """Statistics without protocol and weights checksum (as other FID tools write) could be of
    other weights or resizing: refused in one line naming the flag; with it, the result says
    the reference is unverified."""
    ref = score.compute_stats(images, feature_fn, keep_features=0)
    bare = tmp_path / "bare.npz"
    np.savez(bare, mu=ref["mu"], sigma=ref["sigma"])
    with pytest.raises(ValueError) as refused:
        score.score_arrays(images, bare, feature_fn=feature_fn)
    message = str(refused.value)
    assert "protocol and weights_sha256" in message and score.UNVERIFIED_FLAG in message
    assert "\n" not in message
    out = score.score_arrays(
        images, bare, feature_fn=feature_fn, kid=False, pr=False, allow_unverified_ref=True
    )
    assert out["ref_verified"] is False and out["ref_protocol"] == score.UNKNOWN
    assert score.score_arrays(images, ref, feature_fn=feature_fn, kid=False, pr=False)[
        "ref_verified"
    ]


def test_a_flat_array_names_the_expected_image_shape(feature_fn, images):
    ref = score.compute_stats(images, feature_fn, keep_features=0)  # records (32, 32, 3)
    with pytest.raises(ValueError, match=r"images of shape \(8, 3072\): expected \(N, H, W\)"):
        score.score_arrays(images.reshape(8, -1), ref, feature_fn=feature_fn)


def test_mean_and_stderr():
    s = score.mean_and_stderr([{"fid": 1.0}, {"fid": 2.0}, {"fid": 3.0}])
    assert s["fid"]["mean"] == 2.0 and s["fid"]["stderr"] == pytest.approx(1 / np.sqrt(3))


def test_cli_stats_and_score(tmp_path, images):
    wpath = tmp_path / "random_weights.npz"
    weights.save_params(wpath, inception.init_random_params(seed=6), source="random")
    np.savez(tmp_path / "a.npz", images=images[:4])
    np.savez(tmp_path / "b.npz", images=images[4:])
    common = [f"--weights={wpath}", "--batch_size=4"]
    run = lambda args: run_module("pga_jax.fid", *args, *common)
    r = run(
        [
            "stats",
            f"--images={tmp_path / 'a.npz'},{tmp_path / 'b.npz'}",
            f"--out={tmp_path / 'ref.npz'}",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert "N=8 protocol=tf1_bilinear" in r.stdout
    r = run(
        [
            "score",
            f"--images={tmp_path / 'a.npz'},{tmp_path / 'b.npz'}",
            "--seeds",
            f"--ref={tmp_path / 'ref.npz'}",
            f"--out={tmp_path / 'scores.json'}",
        ]
    )
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "scores.json").read_text())
    assert len(result["runs"]) == 2 and result["summary"]["runs"] == 2
    assert all(run_["n"] == 4 for run_ in result["runs"])
    r = run(["score", f"--images={tmp_path / 'a.npz'}", f"--ref={tmp_path / 'nope.npz'}"])
    assert r.returncode != 0 and "error: cannot read FID statistics" in r.stderr
    # A dataset split (synthetic stand-in here), written to the cache and reused on a rerun.
    ds = ["stats", "--dataset=fashion_mnist", "--data_source=synthetic", "--n=6"]
    ds.append(f"--cache_dir={tmp_path / 'cache'}")
    cached = tmp_path / "cache" / "stats" / "fashion_mnist_train_first6_tf1_bilinear.npz"
    r = run(ds)
    assert r.returncode == 0, r.stderr
    assert cached.is_file() and score.load_stats(cached)["n"] == 6
    r = run(ds)
    assert r.returncode == 0 and "up to date" in r.stdout
    r = run(["stats", "--dataset=fashion_mnistt"])
    assert r.returncode != 0 and "error: " in r.stderr


def _random_stats(rng, n, shift, keep):
    feats = rng.normal(shift, 1.0 + shift, size=(n, 16))
    st = score.stats_from_features(
        feats, protocol="tf1_bilinear", weights_sha256="w", keep_features=keep
    )
    return feats, st


def test_scoring_statistics_equals_scoring_their_features():
    rng = np.random.default_rng(3)
    feats, st = _random_stats(rng, 300, 0.0, keep=300)  # all rows kept
    _, ref = _random_stats(rng, 400, 0.3, keep=400)
    kw = dict(kid_subset_size=100, kid_subsets=10)
    a = score.score_stats(st, ref, **kw)
    b = score.score_features(feats, ref, protocol="tf1_bilinear", weights_sha256="w", **kw)
    assert a["fid"] > 1.0 and a["fid"] == pytest.approx(b["fid"], rel=1e-9)
    for key in ("kid", "precision", "recall", "n", "n_ref"):  # kept rows are float32
        assert a[key] == pytest.approx(b[key], rel=1e-6), key
    with pytest.raises(ValueError, match="protocol"):
        score.score_stats(dict(st, protocol="torch_bilinear"), ref)


def test_cli_distance_scores_two_statistics_files(tmp_path):
    rng = np.random.default_rng(4)
    (_, st), (_, ref) = _random_stats(rng, 200, 0.0, 0), _random_stats(rng, 300, 0.5, 0)
    score.save_stats(tmp_path / "test.npz", st)
    score.save_stats(tmp_path / "train.npz", ref)
    args = [f"--stats={tmp_path / 'test.npz'}", f"--ref={tmp_path / 'train.npz'}"]
    r = run_module("pga_jax.fid", "distance", *args, f"--out={tmp_path / 'd.json'}")
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / "d.json").read_text())
    want = score.score_stats(
        score.load_stats(tmp_path / "test.npz"), score.load_stats(tmp_path / "train.npz")
    )
    assert got["fid"] == pytest.approx(want["fid"], rel=1e-12)
    assert (got["n"], got["n_ref"]) == (200, 300) and "kid" not in got  # no features kept
    r = run_module("pga_jax.fid", "distance", f"--stats={tmp_path / 'test.npz'}")
    assert r.returncode != 0 and "distance needs --stats=a.npz --ref=b.npz" in r.stderr


def test_cli_distance_saves_its_out_file_even_when_stdout_is_closed(tmp_path):
    """`... distance --out=d.json | head -3` once lost d.json: printing hit a closed pipe first."""
    rng = np.random.default_rng(5)
    (_, st), (_, ref) = _random_stats(rng, 50, 0.0, 0), _random_stats(rng, 60, 0.5, 0)
    score.save_stats(tmp_path / "a.npz", st)
    score.save_stats(tmp_path / "b.npz", ref)
    out = tmp_path / "d.json"
    args = [f"--stats={tmp_path / 'a.npz'}", f"--ref={tmp_path / 'b.npz'}", f"--out={out}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pga_jax.fid", "distance", *args],
        cwd=ROOT,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    proc.stdout.close()  # the reader is gone before anything is printed
    proc.wait(timeout=300)
    assert json.loads(out.read_text())["n_ref"] == 60


# Issue 19.2: inputs the FID would otherwise score silently wrong.


def test_float_images_in_0_255_nan_pixels_and_other_integers_are_refused(feature_fn, images):
    ref = score.compute_stats(images, feature_fn, keep_features=0)
    # Identical images as 0..255 floats quantised to white: FID 237.75 before, now refused.
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*pass uint8, or x / 127.5 - 1"):
        score.score_arrays(images.astype(np.float32), ref, feature_fn=feature_fn)
    with_nan = images.astype(np.float32) / 127.5 - 1
    with_nan[0, 3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="1 pixels are NaN or inf"):
        score.score_arrays(with_nan, ref, feature_fn=feature_fn)
    with pytest.raises(ValueError, match="must be uint8"):
        score.score_arrays(images.astype(np.int32), ref, feature_fn=feature_fn)


def test_samples_unlike_the_reference_images_are_refused(feature_fn, images, tmp_path):
    """Statistics record (H, W, C) of their images: RGB samples against grey statistics, or
    another size, are refused; statistics of older files (no record) are not checked."""
    grey = images[..., :1]
    path = tmp_path / "grey.npz"
    score.save_stats(path, score.compute_stats(grey, feature_fn, keep_features=0))
    ref = score.load_stats(path)
    assert ref["image_shape"] == (32, 32, 1)
    with pytest.raises(ValueError, match="images are 32x32x3 but .* made from 32x32x1 images"):
        score.score_arrays(images, ref, feature_fn=feature_fn, kid=False, pr=False)
    assert score.score_arrays(grey[..., 0], ref, feature_fn=feature_fn, kid=False, pr=False)
    del ref["image_shape"]  # as an older statistics file
    score.score_arrays(images, ref, feature_fn=feature_fn, kid=False, pr=False)


def test_a_garbage_npz_is_refused_without_numpys_advice_to_unpickle(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError) as refused:
        score.load_stats(path)
    assert "not a plain .npy / .npz array file" in str(refused.value)
    assert "unsafely" not in str(refused.value) and "allow_pickle" not in str(refused.value)
