"""The command line: bad input is one clear line (no traceback) and writes nothing."""

import os
import signal
import subprocess
import sys
import time

import pytest

from cli_helper import ROOT, run_module

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
            (f"--config={CONFIG}", "--config.num_stepz=3"),
            "unknown config field 'num_stepz' in --config.num_stepz=3; did you mean 'num_steps'?",
        ),
        (
            ("--config=experiments/nope.py",),
            "--config=experiments/nope.py: no such experiment or file",
        ),
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


def _start_main(workdir, *args):
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "pga_jax.main", f"--config={CONFIG}", f"--workdir={workdir}"]
    return subprocess.Popen([*command, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_saves_stops_cleanly_and_the_same_command_resumes(tmp_path, signum, code):
    """Issue 19.6: with a checkpoint after every step, a signal lands during a save or between
    two: the save in flight finishes, the last step is saved, one line says where it stopped."""
    workdir = tmp_path / "run"
    args = ("--config.num_steps=100000", "--config.checkpoint_every=1", "--config.log_every=1")
    proc = _start_main(workdir, *args)
    _wait_for(workdir / "checkpoints" / "3", proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    step = int(last.split()[3].rstrip(";"))
    assert last == f"stopped at step {step}; the same command resumes"
    assert "Traceback" not in stderr
    checkpoints = os.listdir(workdir / "checkpoints")
    assert str(step) in checkpoints and not [c for c in checkpoints if "tmp" in c]
    again = run_main(f"--config={CONFIG}", f"--config.num_steps={step + 1}", workdir=workdir)
    assert again.returncode == 0 and f"Resumed from step {step}" in again.stderr


def test_a_workdir_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_main(f"--config={CONFIG}", workdir=blocker / "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _error_lines(result.stderr) == [f"error: {blocker / 'run'}: Not a directory"]  # fresh


@pytest.mark.parametrize(
    "text,expect",
    [
        ('raise RuntimeError("boom")\n', "(RuntimeError: boom)"),
        ("def get_config(:\n", "(SyntaxError: invalid syntax, line 1)"),
        ("X = 1\n", "(AttributeError: it defines no get_config(arg))"),
    ],
)
def test_an_experiment_that_raises_or_does_not_parse_is_one_line(tmp_path, text, expect):
    broken = tmp_path / "broken.py"
    broken.write_text(text)
    result = run_main(f"--config={broken}", workdir=tmp_path / "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = _error_lines(result.stderr)
    assert line.startswith(f"error: --config={broken} failed to load {expect}"), line
    assert not (tmp_path / "run").exists()


def test_a_config_json_that_is_not_json_is_one_line_and_kept(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text('{"not json')
    result = run_main(f"--config={CONFIG}", workdir=workdir)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = _error_lines(result.stderr)
    assert line.startswith(f"error: {workdir / 'config.json'} is not JSON ("), line
    assert (workdir / "config.json").read_text() == '{"not json'  # nothing overwritten


def test_a_config_file_that_fails_to_load_is_named_not_called_an_unknown_field(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import os\n\n\ndef get_config(arg=None):\n    return os.no_such_thing\n")
    result = run_main(f"--config={broken}", workdir=tmp_path / "run")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = _error_lines(result.stderr)
    assert f"--config={broken} failed to load (AttributeError:" in line, line
    assert "unknown config field" not in line
