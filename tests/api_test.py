"""The Python API: `pga_jax.get_config`, `pga_jax.train`, `pga_jax.load` and the run's
sample / encode / decode / reconstruct / interpolate / fid on a smoke run."""

import contextlib
import io
import os

import jax
import numpy as np
import pytest

import pga_jax
from pga_jax import checkpointing, configs, data, inference, training
from pga_jax.fid import score

from cli_helper import run_module
from fakes import TinyFeatures

SHOWN = {}  # what pga_jax.train wrote on stderr while the module's run trained


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("api") / "run")
    config = pga_jax.get_config("mnist_lpga:smoke", num_steps=2, objective__alpha=0.5)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        state = pga_jax.train(config, workdir)
    SHOWN["stderr"] = err.getvalue()
    return workdir, config, state


def test_get_config_applies_overrides_and_refuses_unknown_fields():
    config = pga_jax.get_config("fashion_mnist_lpga:quick", num_steps=7, objective__alpha=0)
    assert config.num_steps == 7 and config.objective.alpha == 0.0
    with pytest.raises(configs.ConfigError, match="unknown config field 'objective.alphaa'"):
        pga_jax.get_config("fashion_mnist_lpga", objective__alphaa=1)


def test_train_trains_to_num_steps(trained):
    _, config, state = trained
    assert callable(pga_jax.train) and int(state.step) == config.num_steps


def test_train_shows_a_progress_bar_with_the_loss(trained):
    """Outside a terminal or notebook (here: a StringIO), whole lines: the first step's and
    the last one's, with steps/s and the last logged loss."""
    lines = [line for line in SHOWN["stderr"].splitlines() if line.startswith("train ")]
    assert lines[0].startswith("train 1/2 [") and lines[-1].startswith("train 2/2 [")
    assert " steps/s | " in lines[-1] and " | loss " in lines[-1], lines
    float(lines[-1].rsplit("loss ", 1)[1])


def test_load_round_trip(trained):
    workdir, config, state = trained
    run = pga_jax.load(workdir)
    assert run.step == 2 and run.image_shape == (28, 28, 1)
    np.testing.assert_array_equal(
        np.asarray(run._state.params["decoder"]["out"]["kernel"]),
        np.asarray(state.params["decoder"]["out"]["kernel"]),
    )
    images = training.load_training_images(config)[:8]
    z = run.encode(images)
    assert z.shape == (8, config.model.z_dim) and np.isfinite(z).all()
    x = run.reconstruct(images)
    assert x.shape == (8, 28, 28, 1) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, run.decode(run.encode(images)), rtol=0, atol=0)
    # uint8 and [-1, 1] float input are the same images
    np.testing.assert_allclose(z, run.encode(data.to_unit_range(images)), rtol=0, atol=0)
    assert run.reconstruct(images, uint8=True).dtype == np.uint8
    np.testing.assert_array_equal(run.sample(4, seed=3), run.sample(4, seed=3))
    assert not np.array_equal(run.sample(4, seed=3), run.sample(4, seed=4))
    # interpolation: the ends are decode(z_a), decode(z_b) (latents) or the reconstructions
    z_a, z_b = np.zeros(config.model.z_dim), np.ones(config.model.z_dim)
    row = run.interpolate(z_a, z_b, steps=5)
    assert row.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(row[[0, -1]], run.decode(np.stack([z_a, z_b])), atol=1e-6)
    row = run.interpolate(images[0], images[1], steps=3)
    np.testing.assert_allclose(row[[0, -1]], run.reconstruct(images[:2]), atol=1e-6)


def test_load_reads_no_optimiser_state(trained, monkeypatch):
    workdir, _, _ = trained
    seen = []
    original = checkpointing.Checkpointer.restore_latest

    def spy(self, target, *args, **kwargs):
        seen.append(sorted(target))
        return original(self, target, *args, **kwargs)

    monkeypatch.setattr(checkpointing.Checkpointer, "restore_latest", spy)
    pga_jax.load(workdir)
    assert seen == [["batch_stats", "params", "step"]]


def test_load_an_earlier_checkpoint(trained, tmp_path):
    workdir, _, _ = trained  # 2 steps
    longer = str(tmp_path / "longer")
    pga_jax.train(pga_jax.get_config("mnist_lpga:smoke", num_steps=4, objective__alpha=0.5), longer)
    at_2, latest = pga_jax.load(longer, step=2), pga_jax.load(longer)
    assert (at_2.step, latest.step) == (2, 4)

    def params(run):
        return [np.asarray(x) for x in jax.tree.leaves(run._state.params)]

    for a, b in zip(params(at_2), params(pga_jax.load(workdir)), strict=True):
        np.testing.assert_array_equal(a, b)  # step 2 of the longer run is the 2-step run
    assert not all(map(np.array_equal, params(at_2), params(latest)))
    with pytest.raises(inference.RunError, match=r"no checkpoint of step 3 \(it has: 2, 4\)"):
        pga_jax.load(longer, step=3)


def test_fid_of_a_loaded_run(trained, tmp_path):
    workdir, config, _ = trained
    ref = str(tmp_path / "ref.npz")
    score.save_stats(
        ref, score.compute_stats(training.load_training_images(config), TinyFeatures())
    )
    result = pga_jax.load(workdir).fid(16, ref=ref, feature_fn=TinyFeatures())
    assert result["n"] == 16 and np.isfinite(result["fid"])


def test_fid_errors_name_the_api_argument_and_say_how_to_make_a_reference(trained, tmp_path):
    run = pga_jax.load(trained[0])
    with pytest.raises(inference.RunError) as e:
        run.fid(16, ref=str(tmp_path / "nope.npz"), feature_fn=TinyFeatures())
    message = str(e.value)
    assert message.startswith(f"ref={tmp_path / 'nope.npz'} does not exist; ")
    assert "--fid_ref_stats" not in message and "\n" not in message
    assert "python -m pga_jax.fid stats --dataset=" in message
    assert "pga_jax.fid.score.save_stats(" in message
    with pytest.raises(inference.RunError) as e:  # a smoke run: no cached statistics
        run.fid(16, feature_fn=TinyFeatures())
    assert "pass ref=FILE.npz" in str(e.value) and "--fid_ref_stats" not in str(e.value)


def test_bad_workdir_and_wrong_shapes_are_one_line_errors(trained, tmp_path):
    with pytest.raises(inference.RunError, match="no config.json"):
        pga_jax.load(str(tmp_path / "nothing"))
    run = pga_jax.load(trained[0])
    with pytest.raises(inference.RunError, match=r"this run takes \[N, 28, 28, 1\]"):
        run.encode(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(inference.RunError, match="latents of shape"):
        run.decode(np.zeros((2, 3)))
    empty = tmp_path / "empty"
    os.makedirs(empty)
    os.link(os.path.join(trained[0], "config.json"), empty / "config.json")
    with pytest.raises(inference.RunError, match="no checkpoint"):
        pga_jax.load(str(empty))


@pytest.mark.parametrize("name", ["fashion_mnist_lpga", "cifar_vae", "celeba_lvpga", "mnist_vpga"])
def test_every_config_field_has_a_meaning(name):
    config = configs.load_experiment(name)
    lines = configs.describe(config).splitlines()
    assert len(lines) == len(configs.flatten(config.to_dict()))
    undocumented = [line for line in lines if "#" not in line]
    assert not undocumented, "add these to config_fields.FIELDS: " + ", ".join(undocumented)


def test_print_config_prints_fields_with_overrides_and_exits():
    config = os.path.join(os.path.dirname(__file__), "..", "experiments", "mnist_vpga.py")
    result = run_module(
        "pga_jax.main", f"--config={config}", "--config.num_steps=7", "--print_config"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "num_steps = 7" in result.stdout and "objective.eta = " in result.stdout
    # num_steps follows the batch size given on the command line (600 epochs of 60,000)
    result = run_module(
        "pga_jax.main", f"--config={config}", "--config.batch_size=128", "--print_config"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"num_steps = {600 * (60_000 // 128)} " in result.stdout


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """The package built as a wheel and unpacked (what pip installs), as a PYTHONPATH entry."""
    import subprocess
    import sys
    import zipfile

    tmp_path = tmp_path_factory.mktemp("wheel")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            root,
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("pga_jax-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    return str(tmp_path / "site"), names


def test_a_wheel_install_loads_configs_by_name(wheel_site, tmp_path):
    """The wheel ships experiments/ as pga_jax.experiments: get_config works from it alone."""
    import subprocess
    import sys

    site, names = wheel_site
    for name in os.listdir(configs.EXPERIMENTS_DIR):
        if name.endswith(".py"):
            assert f"pga_jax/experiments/{name}" in names
    code = (
        "import pga_jax, pga_jax.configs as c; "
        f"assert c.EXPERIMENTS_DIR.startswith({site!r}), c.EXPERIMENTS_DIR; "
        "print(pga_jax.get_config('cifar_vpga:smoke').objective.name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": site},
    )
    assert out.stdout.strip() == "vpga"


def test_a_wheel_install_runs_main_with_a_config_by_name(wheel_site, tmp_path):
    """`python -m pga_jax.main --config=NAME:variant` from the wheel alone (no checkout)."""
    import subprocess
    import sys

    site, _ = wheel_site
    out = subprocess.run(
        [sys.executable, "-m", "pga_jax.main", "--config=cifar_vpga:smoke", "--print_config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": site, "JAX_PLATFORMS": "cpu"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "objective.name = 'vpga'" in out.stdout, out.stdout[:2000]
