"""Training and evaluation log to TensorBoard with tensorflow, and still run without it."""

import glob
import os

from pga_jax import writers

from cli_helper import run_module

CONFIG = "experiments/fashion_mnist_vpga.py:smoke"


def _event_files(directory) -> list[str]:
    return glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True)


def test_with_tensorflow_the_writer_writes_tensorboard_event_files(tmp_path):
    assert writers.have_tensorflow()  # a project dependency (setup.cfg)
    writer = writers.create_writer(str(tmp_path))
    writer.write_scalars(0, {"loss": 1.0})
    writer.flush()
    writer.close()
    assert _event_files(tmp_path)


def test_training_and_evaluation_run_without_tensorflow(tmp_path):
    workdir = str(tmp_path / "run")
    trained = run_module(
        "pga_jax.main", f"--config={CONFIG}", f"--workdir={workdir}", hide=("tensorflow",)
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "tensorflow is not installed" in trained.stderr
    assert os.path.exists(os.path.join(workdir, "metrics.jsonl"))

    evaluated = run_module(
        "pga_jax.evaluate", f"--workdir={workdir}", "--num_samples=8", hide=("tensorflow",)
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert os.path.exists(os.path.join(workdir, "eval", "eval.json"))
    assert os.path.exists(os.path.join(workdir, "eval", "samples.png"))
    assert not _event_files(workdir)
