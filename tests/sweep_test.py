"""`python -m pga_jax.sweep`: one workdir per grid point and seed, finished runs skipped,
interrupted ones resumed, `--dry_run` commands for a scheduler."""

import os

import pytest

from pga_jax import configs, curves, sweep, training
from pga_jax.sweep import grid

from cli_helper import run_module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONFIG = os.path.join(ROOT, "experiments", "mnist_lpga.py") + ":smoke"


def run_sweep(*args, root):
    return run_module("pga_jax.sweep", f"--config={CONFIG}", f"--workdir_root={root}", *args)


def test_dry_run_prints_one_command_per_run_and_runs_nothing(tmp_path):
    result = run_sweep(
        "--seeds=2",
        "--set=objective.alpha=0,0.5",
        "--config.num_steps=6",
        "--dry_run",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    want = [
        f"python -m pga_jax.main --config={CONFIG} "
        f"--workdir={tmp_path}/mnist_lpga_smoke/alpha={a},seed={s} --config.seed={s} "
        f"--config.objective.alpha={a} --config.num_steps=6"
        for a in ("0", "0.5")
        for s in (0, 1)
    ]
    assert result.stdout.splitlines() == want
    assert list(tmp_path.iterdir()) == []


def test_dry_run_with_evaluate_lists_only_what_each_run_still_needs(tmp_path):
    runs = sweep.plan(CONFIG, [], seeds=3, workdir_root=str(tmp_path))
    trained, evaluated, fresh = (r.workdir for r in runs)
    for workdir in (trained, evaluated):
        os.makedirs(os.path.join(workdir, "checkpoints", "4"))  # smoke: num_steps = 4
    os.makedirs(os.path.join(evaluated, "eval"))
    with open(os.path.join(evaluated, "eval", "eval.json"), "w") as f:
        f.write('{"step": 4}')
    result = run_sweep(
        "--seeds=3", "--evaluate", "--evaluate_args=--num_samples=16", "--dry_run", root=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        f"python -m pga_jax.evaluate --workdir={trained} --num_samples=16",
        f"python -m pga_jax.main --config={CONFIG} --workdir={fresh} --config.seed=2 && "
        f"python -m pga_jax.evaluate --workdir={fresh} --num_samples=16",
    ]


def test_sweep_skips_finished_runs_and_resumes_interrupted_ones(tmp_path):
    interrupted, finished = (r.workdir for r in sweep.plan(CONFIG, [], 2, 0, [], str(tmp_path)))
    config = configs.load_experiment(CONFIG.split(":")[0], "smoke")
    config.num_steps = 2  # seed 0 stopped at step 2 of 4
    training.train_and_evaluate(config, interrupted)
    os.makedirs(os.path.join(finished, "checkpoints", "4"))  # seed 1 reached num_steps

    first = run_sweep("--seeds=2", root=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"finished, skipped: {finished}" in first.stderr
    assert f"resuming from step 2: {interrupted}" in first.stderr
    assert "Resumed from step 2" in first.stderr  # pga_jax.main continued the same run
    assert sorted(os.listdir(os.path.join(interrupted, "checkpoints"))) == ["2", "4"]
    assert list(curves.read_metrics(interrupted)) == [2, 4]
    assert os.listdir(finished) == ["checkpoints"]  # nothing ran there

    again = run_sweep("--seeds=2", root=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "sweep: 2 runs, 2 already finished, 0 run, 0 failed" in again.stderr


def test_a_failed_run_does_not_stop_the_sweep(tmp_path, monkeypatch):
    runs = sweep.plan(CONFIG, ["objective.alpha=0,0.5"], 1, 0, [], str(tmp_path))
    calls = []

    def fake_call(command):
        calls.append(command)
        return 1 if len(calls) == 1 else 0

    monkeypatch.setattr(grid.subprocess, "call", fake_call)
    assert sweep.execute(runs, CONFIG, with_eval=False, eval_args=[], dry_run=False) == 1
    assert [c[c.index("-m") + 1] for c in calls] == ["pga_jax.main", "pga_jax.main"]
    assert [c[-1] for c in calls] == ["--config.objective.alpha=0", "--config.objective.alpha=0.5"]


def test_run_names_encode_the_settings():
    assert grid._short_names(["a.x", "b.x", "c.y"]) == {"a.x": "a.x", "b.x": "b.x", "c.y": "y"}
    assert sweep.run_name((("objective.alpha", "0"),), 1, {"objective.alpha": "alpha"}) == (
        "alpha=0,seed=1"
    )
    assert sweep.run_name((("data.path", "/x y"),), 0, {"data.path": "path"}) == "path=_x_y,seed=0"


@pytest.mark.parametrize(
    "sets,overrides,message",
    [
        (["objective.alhpa=0,1"], [], "unknown config field 'objective.alhpa'"),
        (["objective.alpha=x"], [], "'x' is not a valid float"),
        (["objective.alpha=-1"], [], "config.objective.alpha=-1.0 must be >= 0"),
        (["seed=1,2"], [], "use --seeds"),
        (["objective.alpha"], [], "is not KEY=V1,V2"),
        (["batch_size=8"], ["--config.batch_size=4"], "collides"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, sets, overrides, message):
    with pytest.raises((sweep.SweepError, configs.ConfigError), match=message):
        sweep.plan(CONFIG, sets, 1, 0, overrides, str(tmp_path))
    assert list(tmp_path.iterdir()) == []
