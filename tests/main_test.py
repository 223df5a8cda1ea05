"""The command line: bad input is one clear line (no traceback) and writes nothing."""

import os

import pytest

from cli_helper import run_module

CONFIG = "experiments/fashion_mnist_lpga.py:smoke"


def run_main(*args, workdir):
    return run_module("pga_jax.main", f"--workdir={workdir}", *args)


def _error_lines(stderr):
    return [
        line
        for line in stderr.splitlines()
        if line.startswith(("error:", "FATAL Flags parsing error"))
    ]


@pytest.mark.parametrize(
    "args,expect",
    [
        ((f"--config={CONFIG}", "--config.no_such_key=1"), "no_such_key"),
        (
            ("--config=experiments/mnist_lvpga.py:smoke", "--config.objective.vrec=0.1"),
            "renamed (lvpga: vrec is now gamma_prime)",
        ),
        ((f"--config={CONFIG}", "--config.batch_size=abc"), "batch_size"),
        (
            (f"--config={CONFIG}", "--config.dataset=imagenet"),
            "config.dataset='imagenet' is unknown",
        ),
        ((f"--config={CONFIG}", "--config.model.arch=vgg"), "config.model.arch='vgg' is unknown"),
        (
            (
                "--config=experiments/fashion_mnist_lpga.py",
                "--config.data.source=idx",
                "--config.data.path=/nonexistent/mnist",
            ),
            "/nonexistent/mnist",
        ),
        (("--config=experiments/fashion_mnist_lpga.py:tiny",), "unknown config variant 'tiny'"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path, args, expect):
    workdir = tmp_path / "run"
    result = run_main(*args, workdir=workdir)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-2000:]
    assert expect in lines[0]
    assert not workdir.exists()


def test_smoke_run_trains_writes_images_and_resumes(tmp_path):
    workdir = tmp_path / "run"
    first = run_main(f"--config={CONFIG}", workdir=workdir)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (workdir / "images" / "samples_latest.png").exists()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(workdir))
    again = run_main(f"--config={CONFIG}", "--config.num_steps=6", workdir=workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resumed from step 4" in again.stderr
    assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "6"]
