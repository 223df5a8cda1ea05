"""The paper's Appendix C: the ResNet-512 CIFAR-10 config (Fig. 5) and the 140x140 CelebA
crops with the full DCGAN width (Fig. 6): their smoke runs, the 140 crop against a numpy
reference, and a run never scored against statistics of another crop."""

import json

import jax
import numpy as np
import pytest
from PIL import Image

from pga_jax import configs, data, evaluate, models, report, training
from pga_jax.fid import score

from fakes import TinyFeatures


@pytest.mark.parametrize(
    "name, arch, setting",
    [
        ("cifar_lpga_resnet", "resnet_32", "ResNet 512"),
        ("celeba140_lpga", "conv_64", "140x140 crops, DCGAN 128"),
        ("celeba140_vae", "conv_64", "140x140 crops, DCGAN 128"),
    ],
)
def test_appendix_c_smoke_runs(tmp_path, name, arch, setting):
    config = configs.load_experiment(name, "smoke")
    config.num_steps = 2
    assert config.model.arch == arch
    state = training.train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state.step) == 2
    full = configs.load_experiment(name)
    assert configs.setting_label(full) == setting
    base = "cifar_lpga" if "resnet" in name else name.replace("celeba140", "celeba")
    table1 = configs.load_experiment(base)
    # everything else as the Table 1 config it extends (the paper: "remain the same")
    differ = {
        k
        for k, v in configs.flatten(full.to_dict()).items()
        if configs.flatten(table1.to_dict()).get(k) != v
    }
    assert differ == ({"model.arch"} if "resnet" in name else {"data.celeba_crop", "model.width"})
    if "celeba140" in name:
        assert full.data.celeba_crop == 140 and full.model.width == 128
        # the full DCGAN: 128 filters in the first convolution, every hidden layer doubled
        encoder, decoder, _ = training.build_networks(full)
        shapes = models.init_variables(encoder, decoder, jax.random.PRNGKey(0), (64, 64, 3), 128)[
            "params"
        ]
        assert shapes["encoder"]["_Block_0"]["layer"]["kernel"].shape == (5, 5, 3, 128)
        assert shapes["encoder"]["_Block_3"]["layer"]["kernel"].shape == (5, 5, 512, 1024)
        assert shapes["decoder"]["_Block_0"]["layer"]["kernel"].shape == (128, 4 * 4 * 1024)


def test_width_64_is_the_table_1_network():
    """The width setting leaves the existing networks (and their checkpoints) as they were."""
    config = configs.load_experiment("celeba_lpga")
    encoder, decoder, _ = training.build_networks(config)
    params = models.init_variables(encoder, decoder, jax.random.PRNGKey(0), (64, 64, 3), 128)
    shapes = jax.tree.map(lambda x: x.shape, params)
    assert shapes["params"]["encoder"]["_Block_3"]["layer"]["kernel"] == (5, 5, 256, 512)
    assert shapes["params"]["decoder"]["_Block_0"]["layer"]["kernel"] == (128, 4 * 4 * 512)


def test_140_crop_against_numpy():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
    # numpy: the centred 140x140 square is rows 39..178, columns 19..158
    top, left = (218 - 140) // 2, (178 - 140) // 2
    assert (top, left) == (39, 19) and data.celeba_crop_box(140) == (39, 19, 140)
    assert data.celeba_crop_box(108) == (55, 35, 108) == data.CELEBA_CROP
    want = Image.fromarray(image[top : top + 140, left : left + 140]).resize(
        (64, 64), Image.Resampling.BICUBIC
    )
    got = data.celeba_crop_resize(image, crop=140)
    np.testing.assert_array_equal(got, np.asarray(want))
    # a pixel inside the 140 crop but outside the 108 one changes only the 140 image
    marked = image.copy()
    marked[45, 25] = 255 - marked[45, 25]
    assert not np.array_equal(data.celeba_crop_resize(marked, crop=140), got)
    np.testing.assert_array_equal(
        data.celeba_crop_resize(marked, crop=108), data.celeba_crop_resize(image, crop=108)
    )
    with pytest.raises(data.DataError, match="celeba_crop=200"):
        data.celeba_crop_box(200)


@pytest.fixture(scope="module")
def celeba_108_run(tmp_path_factory):
    """A 2-step CelebA (108 crop) run on a folder of 16 synthetic aligned JPEGs."""
    root = tmp_path_factory.mktemp("celeba")
    folder = root / "img_align_celeba"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(16):
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=95)
    config = configs.load_experiment("celeba_lpga", "smoke")
    config.dataset, config.data.source, config.data.path = "celeb_a", "folder", str(folder)
    config.data.tfds_data_dir = str(root / "tfds")  # the 64x64 caches go under it
    config.num_steps = 2
    training.train_and_evaluate(config, str(root / "run"))
    return root, config, folder


def test_each_crop_has_its_own_cache(celeba_108_run):
    root, config, folder = celeba_108_run
    kwargs = dict(source="folder", path=str(folder), tfds_data_dir=str(root / "tfds"))
    a = data.load_arrays("celeb_a", "all", **kwargs)
    b = data.load_arrays("celeb_a", "all", celeba_crop=140, **kwargs)
    assert a.shape == b.shape == (16, 64, 64, 3) and not np.array_equal(a, b)
    caches = sorted(p.name for p in (root / "tfds" / "pga_jax_cache").glob("*.npy"))
    assert len(caches) == 2 and any("_crop140_" in c for c in caches)


def stats_of(images, crop, path):
    st = score.compute_stats(images, TinyFeatures(), keep_features=0)
    st["celeba_crop"] = crop
    score.save_stats(path, st)
    return str(path)


def test_a_108_run_is_not_scored_against_140_statistics(celeba_108_run, tmp_path):
    root, config, _ = celeba_108_run
    images = training.load_training_images(config)
    wrong = stats_of(images, 140, tmp_path / "celeba140.npz")
    right = stats_of(images, 108, tmp_path / "celeba108.npz")
    options = dict(num_samples=16, feature_fn=TinyFeatures(), num_images=4, num_interpolations=2)
    with pytest.raises(evaluate.EvaluationError, match="trained on 108x108 CelebA crops") as e:
        evaluate.evaluate(str(root / "run"), fid_ref_stats=wrong, **options)
    assert "--celeba_crop=108" in str(e.value) and "\n" not in str(e.value)
    assert not (root / "run" / "eval").exists()  # nothing written
    result = evaluate.evaluate(str(root / "run"), fid_ref_stats=right, **options)
    assert result["setting"] == "" and np.isfinite(result["fid"]["fid"])
    # and training with FID against the other crop's statistics is refused before it starts
    resumed = config.copy_and_resolve_references()
    resumed.num_steps, resumed.fid_every, resumed.fid_ref_stats = 4, 2, wrong
    with pytest.raises(configs.ConfigError, match="config.fid_ref_stats: the run was trained on"):
        training.train_and_evaluate(resumed, str(root / "run"))


def test_report_gives_appendix_c_runs_their_own_column():
    def record(dataset, setting, fid):
        rec = {
            "dataset": dataset,
            "objective": {"name": "lpga", "alpha": 0.03, "beta": 0.01, "gamma": 0.01},
            "step": 10,
            "fid": {"fid": fid, "n": 5000, "protocol": "p", "weights_sha256": "w"},
        }
        if setting is not None:
            rec["setting"] = setting
        return rec

    table = report.aggregate(
        [
            record("celeb_a", None, 14.0),  # an eval.json from before the setting existed
            record("celeb_a", "", 15.0),
            record("celeb_a", "140x140 crops, DCGAN 128", 21.0),
            record("cifar10", "ResNet 512", 31.0),
        ]
    )
    assert table.columns == [  # Table 1's, then Appendix C's, each in the paper's order
        "celeb_a",
        "cifar10 [ResNet 512]",
        "celeb_a [140x140 crops, DCGAN 128]",
    ]
    assert table.cells[("lpga", "celeb_a")].fids == [14.0, 15.0]
    assert table.cells[("lpga", "celeb_a [140x140 crops, DCGAN 128]")].fids == [21.0]
    assert json.dumps(report.to_markdown(table)).count("ResNet 512") == 1
