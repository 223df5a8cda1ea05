"""The loop on the device (K steps per call) and populations: a member equals its single run,
K does not change a run, a diverging member is frozen while the others go on, a killed
population resumes to the uninterrupted result, and a population sweep feeds `report`."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from pga_jax import (
    checkpointing,
    configs,
    evaluate,
    population,
    report,
    sweep,
    training,
    workdirs,
)
from pga_jax.fid import score
from pga_jax.training import loop

import same_run
from fakes import TinyFeatures

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def smoke(name="vpga", **objective):
    config = configs.load_experiment(f"mnist_{name}", "smoke")
    for key, value in objective.items():
        config.objective[key] = value
    return config


def leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.opt_state, state.step))]


def assert_same(a, b, rtol=0.0, atol=0.0):
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def restored(config, workdir):
    ckpt = checkpointing.Checkpointer(workdir, 2)
    state = ckpt.restore_latest(training.create_train_state(config, (28, 28, 1))[0])
    ckpt.close()
    return state


@pytest.mark.parametrize("member_axis", ["unrolled", "vmap"])
def test_a_member_equals_its_single_run(tmp_path, member_axis):
    # VPGA (the L_lr,H term on for one member only: the population computes it for both, the
    # other with weight 0) and two seeds: different data order, noise, init and numbers.
    members = [smoke(beta=0.1), smoke(eta=0.5, alpha=0.0)]
    members[1].seed = 1
    workdirs = [str(tmp_path / f"member{i}") for i in range(2)]
    got = training.train_population(members, workdirs, member_axis=member_axis)
    for i, config in enumerate(members):
        single = training.train_and_evaluate(config, str(tmp_path / f"single{i}"))
        # unrolled: the very same computation; vmap batches the convolutions over members
        # (grouped convolutions), which reassociates their sums: float tolerance.
        tol = {} if member_axis == "unrolled" else dict(rtol=1e-4, atol=1e-6)
        assert_same(got[i], single, **tol)
        assert_same(restored(config, workdirs[i]), single, **tol)
        for name in ("config.json", "metrics.jsonl", "images/samples_latest.png", "curves.png"):
            assert os.path.exists(os.path.join(workdirs[i], name)), name


def test_steps_per_call_do_not_change_the_run(tmp_path):
    config = smoke("lpga")  # LPGA: chaotic at this size, so any difference would show
    config.num_steps = config.log_every = config.image_every = config.checkpoint_every = 12

    def run(k, scan, name):
        config.steps_per_dispatch = k
        # one step per call: a checkpoint of every step (does not change the schedule)
        config.checkpoint_every, config.keep_checkpoints = (1, 12) if k == 1 else (12, 2)
        states, _ = loop._train(
            [config], [str(tmp_path / name)], allow=loop.Allowances(), members=None, scan=scan
        )
        return states[0]

    one, fifty = run(1, True, "k1"), run(50, True, "k50")
    assert int(one.step) == int(fifty.step) == 12
    assert_same(one, fifty)  # every L runs the one compiled loop body: bit-identical
    # The CPU's one step per call compiles the step alone: the same step, other fusions, so
    # its first step is the scan's up to rounding (which LPGA's smoke run amplifies to another
    # run's distance within a few steps: tests/same_run.py).
    plain = run(1, False, "plain")
    assert int(plain.step) == 12

    def step1(name):
        return same_run.by_path(
            training.load_for_inference(config, str(tmp_path / name), 1)[0].params
        )

    same_run.assert_same_run(step1("plain"), step1("k1"), same_run.FIRST_STEPS)


def test_a_diverging_member_is_frozen_and_the_others_go_on(tmp_path):
    members = [smoke("lpga"), smoke("lpga", gamma=1e38)]  # L_nll weight: inf once warm
    workdirs = [str(tmp_path / "good"), str(tmp_path / "bad")]
    with pytest.raises(population.PopulationError, match=r"1 of 2 members failed.*bad at step"):
        training.train_population(members, workdirs)
    good = training.train_and_evaluate(members[0], str(tmp_path / "single"))
    assert_same(restored(members[0], workdirs[0]), good)
    with open(os.path.join(workdirs[1], training.FAILURE_FILE)) as f:
        failure = json.load(f)
    assert "non-finite" in failure["error"]
    last = checkpointing.Checkpointer(workdirs[1], 2).latest_step()
    assert last is None or last < failure["step"]
    if last is not None:
        state = restored(members[1], workdirs[1])
        assert all(np.isfinite(x).all() for x in leaves(state))


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("model.arch", "conv_32", "model.arch"),
        ("batch_size", 4, "batch_size"),
        ("optim.learning_rate", 0.05, "optim.learning_rate"),
    ],
)
def test_structurally_different_runs_are_refused(key, value, named):
    other = smoke()
    *parents, leaf = key.split(".")
    node = other
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(population.PopulationError, match=rf"differ in {named} .*separately"):
        population.check_members([smoke(), other])
    with pytest.raises(population.PopulationError, match="objective.name"):
        population.check_members([smoke(), smoke("lpga")])


def _sweep_args(root, *extra):
    config = os.path.join(ROOT, "experiments", "mnist_vpga.py") + ":smoke"
    return [
        sys.executable,
        "-m",
        "pga_jax.sweep",
        f"--config={config}",
        f"--workdir_root={root}",
        "--seeds=3",
        "--population",
        "--config.num_steps=40",
        "--config.checkpoint_every=4",
        "--config.log_every=4",
        "--config.image_every=40",
        *extra,
    ]


def test_a_member_whose_config_json_is_not_json_is_one_line_naming_it(tmp_path):
    members = [str(tmp_path / "a"), str(tmp_path / "b")]
    os.makedirs(members[1])
    with open(os.path.join(members[1], "config.json"), "w") as f:
        f.write("{garbage")
    with pytest.raises(configs.ConfigError) as refused:
        training.train_population([smoke(), smoke()], members)
    message = str(refused.value)
    assert message.startswith(f"{members[1]}/config.json is not JSON (") and "\n" not in message
    with open(os.path.join(members[1], "config.json")) as f:
        assert f.read() == "{garbage"  # kept as it was


def test_a_killed_population_resumes_to_the_uninterrupted_result(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests"))
    full = subprocess.run(_sweep_args(tmp_path / "full"), env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_sweep_args(killed), env=env, stderr=subprocess.DEVNULL)
    checkpoints = killed / "mnist_vpga_smoke" / "seed=2" / "checkpoints"
    deadline = time.time() + 300
    while not list(checkpoints.glob(f"*/{checkpointing.MANIFEST}")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(np.random.default_rng().uniform(0, 1.5))  # somewhere in training or a save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(_sweep_args(killed), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for seed in range(3):
        name = os.path.join("mnist_vpga_smoke", f"seed={seed}")
        config = smoke()
        a = restored(config, str(tmp_path / "full" / name))
        b = restored(config, str(killed / name))
        assert int(a.step) == int(b.step) == 40
        assert_same(a, b)


def test_a_population_sweep_writes_complete_runs_that_report_tabulates(tmp_path):
    config_arg = os.path.join(ROOT, "experiments", "mnist_lpga.py") + ":smoke"
    runs = sweep.plan(
        config_arg, ["objective.gamma=0.01,0.02"], seeds=2, workdir_root=str(tmp_path)
    )
    assert sweep.run_population(runs) == []
    real = training.load_training_images(configs.load_experiment("mnist_lpga", "smoke"))
    ref = str(tmp_path / "ref.npz")
    score.save_stats(ref, score.compute_stats(real, TinyFeatures()))
    results = evaluate.evaluate_many(
        [r.workdir for r in runs],
        fid_ref_stats=ref,
        feature_fn=TinyFeatures(),
        num_samples=16,
        num_images=4,
        num_interpolations=2,
        interpolation_steps=2,
        tensorboard=False,
    )
    assert [r["step"] for r in results] == [4] * 4
    records = report.load_records([workdirs.eval_json(r.workdir) for r in runs])
    table = report.aggregate(records)
    (cell,) = table.cells.values()  # gamma is not a row: one LPGA cell of 4 runs
    assert cell.runs == 4 and np.isfinite(cell.stderr) and "objective" in cell.mixed
    assert table.rows == ["lpga"]
