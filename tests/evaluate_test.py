"""`python -m pga_jax.evaluate` on a trained :smoke run: every artefact, its JSON, the FID,
and interpolations whose endpoints are the reconstructions."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from pga_jax import configs, evaluate, images, training
from pga_jax.fid import reference, score, weights

from cli_helper import run_module
from fakes import TinyFeatures


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-step LPGA :smoke run (conv_mnist: no BatchNorm) and its final state."""
    workdir = str(tmp_path_factory.mktemp("evaluate") / "run")
    config = configs.load_experiment("mnist_lpga", "smoke")
    state = training.train_and_evaluate(config, workdir)
    return workdir, state


@pytest.fixture(scope="module")
def ref_stats(trained, tmp_path_factory):
    config = configs.load_experiment("mnist_lpga", "smoke")
    path = str(tmp_path_factory.mktemp("ref") / "ref.npz")
    ref = score.compute_stats(
        training.load_training_images(config), TinyFeatures(), keep_features=0
    )
    score.save_stats(path, ref)
    return path


def _png_shape(path):
    with Image.open(path) as im:
        return np.asarray(im).shape


def test_restores_the_latest_checkpoint_of_the_run(trained):
    workdir, state = trained
    run = evaluate.load_run(workdir)
    assert run.step == int(state.step) == 4
    for a, b in zip(jax.tree.leaves(run.state.params), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_evaluate_writes_every_artefact_and_its_json(trained, ref_stats):
    workdir, _ = trained
    result = evaluate.evaluate(
        workdir,
        num_samples=16,
        fid_ref_stats=ref_stats,
        feature_fn=TinyFeatures(),
        num_images=16,
        num_interpolations=3,
        interpolation_steps=5,
        seed=3,
        save_samples=True,
    )
    eval_dir = os.path.join(workdir, "eval")
    with open(os.path.join(eval_dir, "eval.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(result))
    assert saved["step"] == 4 and saved["sample_seed"] == 3 and saved["split"] == "test"
    assert (saved["dataset"], saved["arch"]) == ("synthetic", "conv_mnist")
    assert saved["objective"]["name"] == "lpga" and saved["objective"]["alpha"] == 0.06
    fid = saved["fid"]
    assert fid["n"] == 16 and fid["protocol"] == "tf1_bilinear"
    assert fid["weights_sha256"] == "tiny-test-features" and "fid_skipped" not in saved
    assert fid["ref_stats"] == os.path.abspath(ref_stats)
    # The recorded FID is that of the samples written next to it.
    with np.load(os.path.join(eval_dir, "samples.npz")) as z:
        samples = z["images"]
    assert samples.shape == (16, 28, 28, 1) and samples.dtype == np.uint8
    again = score.score_arrays(samples, ref_stats, feature_fn=TinyFeatures())
    assert np.isfinite(fid["fid"]) and fid["fid"] > 0
    assert fid["fid"] == pytest.approx(again["fid"], rel=1e-9)
    # Grids: 16 samples 4x4; 8 pairs (data, reconstruction) 4 wide; 3 rows of 5 (+2 ends).
    cell = 28 + 1
    shapes = {
        "samples": (4 * cell + 1, 4 * cell + 1),
        "reconstructions": (4 * cell + 1, 4 * cell + 1),
        "interpolations_data": (3 * cell + 1, 7 * cell + 1),
        "interpolations_prior": (3 * cell + 1, 5 * cell + 1),
    }
    assert saved["images"] == {k: f"{k}.png" for k in shapes}
    for name, shape in shapes.items():
        assert _png_shape(os.path.join(eval_dir, f"{name}.png")) == shape, name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(eval_dir))
    # The reconstructions' tiles are the held-out images and their reconstructions themselves.
    run = evaluate.load_run(workdir)
    real = evaluate.held_out_images(run.config, "test", 8 + 2 * 3, seed=3)[:8]
    recons = np.asarray(training.make_reconstruct(run.model)(run.state, real))
    with Image.open(os.path.join(eval_dir, "reconstructions.png")) as im:
        grid = np.asarray(im)[..., None]
    got = images.tiles(grid, 16, (28, 28, 1), ncols=4)
    np.testing.assert_array_equal(got[0::2], images.to_uint8(real))
    np.testing.assert_array_equal(got[1::2], images.to_uint8(recons))


def test_interpolation_endpoints_decode_to_the_endpoints_reconstructions(trained):
    workdir, _ = trained
    run = evaluate.load_run(workdir)
    x = evaluate.held_out_images(run.config, "test", 6, seed=1)
    x_a, x_b = x[:3], x[3:]
    encode, generate = training.make_encode(run.model), training.make_generate(run.model)
    strips = evaluate.encoded_interpolations(run, encode, generate, x_a, x_b, steps=5)
    assert strips.shape == (3, 5, 28, 28, 1)
    reconstruct = training.make_reconstruct(run.model)
    rec_a, rec_b = np.asarray(reconstruct(run.state, x_a)), np.asarray(reconstruct(run.state, x_b))
    assert np.abs(rec_a - rec_b).max() > 1e-3  # ends 100x farther apart than the tolerance
    np.testing.assert_allclose(strips[:, 0], rec_a, atol=1e-5)
    np.testing.assert_allclose(strips[:, -1], rec_b, atol=1e-5)
    mid = (encode(run.state, x_a) + encode(run.state, x_b)) / 2
    np.testing.assert_allclose(strips[:, 2], generate(run.state, mid), atol=1e-5)
    # Prior strips: the ends are g(z_a), g(z_b); the latents move linearly.
    z_a, z_b = np.random.default_rng(0).normal(size=(2, 2, run.model.z_dim)).astype(np.float32)
    z = evaluate.interpolate(z_a, z_b, 5)
    np.testing.assert_array_equal(z[:, 0], z_a)
    np.testing.assert_array_equal(z[:, -1], z_b)
    np.testing.assert_allclose(z[:, 2], (z_a + z_b) / 2, atol=1e-5)
    prior = evaluate.decode_interpolations(run, generate, z_a, z_b, 5)
    np.testing.assert_allclose(prior[:, 0], generate(run.state, z_a), atol=1e-5)
    np.testing.assert_allclose(prior[:, -1], generate(run.state, z_b), atol=1e-5)


def test_without_reference_statistics_the_json_records_why_fid_is_skipped(trained):
    workdir, _ = trained
    # 4 grid samples and 2 x 2 interpolations: one decoder batch shape, one compilation.
    small = dict(num_images=4, num_interpolations=2, interpolation_steps=2, tensorboard=False)
    result = evaluate.evaluate(workdir, num_samples=8, **small)
    with open(os.path.join(workdir, "eval", "eval.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(result))
    assert saved["fid"] is None and "--fid_ref_stats" in saved["fid_skipped"]
    assert saved["step"] == 4 and saved["sample_seed"] == 0
    assert _png_shape(os.path.join(workdir, "eval", "interpolations_data.png")) == (59, 117)


@pytest.mark.parametrize(
    "bad,expect",
    [("missing", "does not exist"), ("corrupt", "cannot read"), ("no_run", "no config.json")],
)
def test_bad_input_is_a_clear_error_before_any_work(trained, tmp_path, bad, expect):
    workdir, _ = trained
    stats = tmp_path / "ref.npz"
    if bad == "corrupt":
        stats.write_text("not an npz")
    if bad == "no_run":
        workdir, stats = str(tmp_path / "empty"), ""
    before = os.listdir(tmp_path)
    with pytest.raises(evaluate.EvaluationError, match=expect) as info:
        evaluate.evaluate(workdir, fid_ref_stats=str(stats), num_samples=8)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == before


def test_cli_reports_a_missing_reference_file_in_one_line(trained, tmp_path):
    workdir, _ = trained
    result = run_module(
        "pga_jax.evaluate", f"--workdir={workdir}", f"--fid_ref_stats={tmp_path / 'nope.npz'}"
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: --fid_ref_stats={tmp_path / 'nope.npz'} does not exist; ")
    assert "python -m pga_jax.fid stats --dataset=synthetic" in errors[0]  # how to make one


def test_reference_statistics_fall_back_to_the_dataset_cache(tmp_path, monkeypatch):
    """Without a flag or config file, `fid stats --dataset`'s cached file of the run's dataset
    is used; never for runs on synthetic data, and an explicit file still wins."""
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    config = configs.load_experiment("fashion_mnist_lpga")
    config.fid_ref_stats = ""
    _, path, why = evaluate.load_ref_stats("", config)
    assert path is None and "fid stats --dataset=fashion_mnist" in why
    cached = reference.default_stats_path("fashion_mnist", "train", "tf1_bilinear")
    assert cached == tmp_path / "fid" / "stats" / "fashion_mnist_train_tf1_bilinear.npz"
    st = score.stats_from_features(
        np.eye(3, 2048, dtype=np.float32), protocol="tf1_bilinear", weights_sha256="x"
    )
    score.save_stats(cached, st)
    ref, path, why = evaluate.load_ref_stats("", config)
    assert path == str(cached) and why is None and ref["n"] == 3
    _, path, _ = evaluate.load_ref_stats("", config, protocol="torch_bilinear")
    assert path is None  # no cached file for that protocol
    explicit = tmp_path / "explicit.npz"
    score.save_stats(explicit, dict(st, n=7))
    assert evaluate.load_ref_stats(str(explicit), config)[0]["n"] == 7
    config.data.source = "synthetic"
    assert evaluate.load_ref_stats("", config)[1] is None


def test_a_config_json_that_is_not_json_is_one_line(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(evaluate.EvaluationError, match=r"config.json cannot be read as JSON"):
        evaluate.read_config(str(tmp_path))


def test_log_det_option_writes_prop1_numbers_figure_and_report_columns(trained, tmp_path):
    """evaluate(..., log_det_latents=N): eval.json's log_det, log_det.png, runs.csv's columns,
    and pga_jax.load(workdir).log_det(N) giving the same numbers."""
    import shutil

    import pga_jax
    from pga_jax import report

    workdir = str(tmp_path / "run")
    shutil.copytree(trained[0], workdir)
    small = dict(num_images=4, num_interpolations=2, interpolation_steps=2, tensorboard=False)
    result = evaluate.evaluate(workdir, num_samples=8, log_det_latents=6, **small)
    measured = result["log_det"]
    for source in ("data", "prior"):
        r = measured[source]
        assert r["n"] == 6 and r["z_dim"] == 12 and r["nonsingular"] == 1.0
        values = [r["log_det"]["mean"], r["limit"]["mean"], r["bound_gap"]["mean"]]
        values += [v["mean"] for v in r["surrogate"].values()]
        assert len(r["surrogate"]) == 3 and np.all(np.isfinite(values))
        assert r["bound_gap"]["mean"] > 0  # Prop. 1: the limit bounds the exact value
    assert measured["eps"][0] == pytest.approx(1e-2 * np.sqrt(12))  # the config's eps
    # the figure: three curves in matplotlib's C0 / C2 / C3 on white, in both panels
    with Image.open(os.path.join(workdir, "eval", "log_det.png")) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
    for color in ((31, 119, 180), (44, 160, 44), (214, 39, 40)):
        assert np.sum(np.all(np.abs(pixels - color) < 8, axis=1)) > 100, color
    # the same numbers from the Python API, and report's per-run columns
    again = pga_jax.load(workdir).log_det(6)
    assert again["data"]["log_det"] == measured["data"]["log_det"]
    out = tmp_path / "report"
    report.write_report([workdir], str(out))
    import csv

    (row,) = list(csv.DictReader(open(out / "runs.csv")))
    assert float(row["log_det_exact"]) == pytest.approx(measured["data"]["log_det"]["mean"])
    assert float(row["log_det_gap"]) == pytest.approx(measured["data"]["surrogate_gap"]["mean"])
