"""Training and evaluation write TensorBoard event files, with or without tensorflow, that
TensorBoard's own reader reads back (scalars and images)."""

import glob
import io
import os

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from pga_jax import writers

from cli_helper import run_module

CONFIG = "experiments/fashion_mnist_vpga.py:smoke"


def _event_files(directory) -> list[str]:
    return glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True)


def _read(directory):
    accumulator = event_accumulator.EventAccumulator(
        directory, size_guidance={event_accumulator.IMAGES: 0, event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    return accumulator


def test_the_writer_writes_events_tensorboard_reads(tmp_path):
    writer = writers.create_writer(str(tmp_path))
    writer.write_scalars(3, {"loss": 1.5})
    grid = np.random.default_rng(0).integers(0, 256, (1, 6, 8, 3), dtype=np.uint8)
    writer.write_images(3, {"samples": grid})
    writer.write_hparams({"lr": 0.1})
    writer.flush()
    writer.close()
    events = _read(str(tmp_path))
    (scalar,) = events.Scalars("loss")
    assert (scalar.step, scalar.value) == (3, 1.5)
    (image,) = events.Images("samples")
    assert (image.step, image.width, image.height) == (3, 8, 6)
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(image.encoded_image_string))), grid[0]
    )


def test_training_and_evaluation_run_without_tensorflow(tmp_path):
    workdir = str(tmp_path / "run")
    trained = run_module(
        "pga_jax.main", f"--config={CONFIG}", f"--workdir={workdir}", hide=("tensorflow",)
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert os.path.exists(os.path.join(workdir, "metrics.jsonl"))
    events = _read(workdir)
    assert [s.step for s in events.Scalars("loss")] == [2, 4]
    assert "samples" in events.Tags()["images"]

    evaluated = run_module(
        "pga_jax.evaluate", f"--workdir={workdir}", "--num_samples=8", hide=("tensorflow",)
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert os.path.exists(os.path.join(workdir, "eval", "eval.json"))
    assert os.path.exists(os.path.join(workdir, "eval", "samples.png"))
    assert _event_files(os.path.join(workdir, "eval"))
