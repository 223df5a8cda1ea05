"""Many devices (sharding.py): on 4 forced CPU devices, a 4-way data-parallel run equals the
1-device run of the same global batch (BatchNorm and VPGA's batch RMS over the global batch),
a 2 x 2 (members x data) population equals its members' single runs (each up to rounding,
tests/same_run.py); and meshes that do not fit are one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pga_jax import configs, sharding

import same_run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Runs in a process with 4 CPU devices: trains each run and saves its parameters and BatchNorm
# statistics (flattened) after step 1 and at the end to OUT/<name>_step1.npz and OUT/<name>.npz,
# and the mesh each used to OUT/meshes.json.
FORCED_DEVICES_SCRIPT = r"""
import json, os, sys
import jax, numpy as np
from pga_jax import configs, sharding, training

out = sys.argv[1]
assert len(jax.devices()) == 4, jax.devices()
FID_IMAGES = np.random.default_rng(0).integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)


def config(seed, members=0, data=0):
    c = configs.load_experiment("cifar_vpga", "smoke")  # conv_32: BatchNorm; VPGA: RMS of mu
    c.seed, c.num_steps, c.mesh.members, c.mesh.data = seed, 4, members, data
    c.checkpoint_every, c.keep_checkpoints = 1, 4  # step 1 is compared too
    return c


def save(name, state):
    leaves = jax.tree_util.tree_leaves_with_path(
        sharding.fetch({"params": state.params, "batch_stats": state.batch_stats})
    )
    np.savez(os.path.join(out, name + ".npz"),
             **{jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves})


def save_step1(name, c, workdir):
    save(name + "_step1", training.load_for_inference(c, workdir, step=1)[0])


meshes = {}
for name, c in [("data4", config(0, data=4)), ("data1_seed0", config(0, data=1)),
                ("data1_seed1", config(1, data=1))]:
    state = training.train_and_evaluate(c, os.path.join(out, name))
    save(name, state)
    save_step1(name, c, os.path.join(out, name))
    # the mesh, and the devices the final state lives on (replicated over them)
    devices = len(state.step.sharding.device_set)
    meshes[name] = {**sharding.make_mesh(c, 1).shape, "devices": devices}
# LPGA, one step (its finite difference h(z + delta) - h(z) makes the smoke run amplify
# rounding ~1e4-fold within 4 steps, so only one step is compared)
for data in (4, 1):
    c = configs.load_experiment("mnist_lpga", "smoke")
    c.num_steps, c.mesh.data = 1, data
    save(f"lpga_data{data}", training.train_and_evaluate(c, os.path.join(out, f"lpga{data}")))
pop = [config(0, members=2, data=2), config(1, members=2, data=2)]
states = training.train_population(pop, [os.path.join(out, f"pop{i}") for i in range(2)],
                                member_axis="vmap")
for i, s in enumerate(states):
    save(f"pop_member{i}", s)
    save_step1(f"pop_member{i}", pop[i], os.path.join(out, f"pop{i}"))
meshes["pop"] = dict(sharding.make_mesh(pop[0], 2).shape)
# FID features with each batch split over the 4 devices (batch 3 -> 4, a multiple of them)
from pga_jax.fid import inception
fn = inception.make_feature_fn(inception.init_random_params(0), dims=64, batch_size=3)
meshes["fid_batch"] = fn.batch_size
np.save(os.path.join(out, "features.npy"), fn(FID_IMAGES))
json.dump(meshes, open(os.path.join(out, "meshes.json"), "w"))
"""


@pytest.fixture(scope="module")
def forced(tmp_path_factory):
    out = tmp_path_factory.mktemp("forced")
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    proc = subprocess.run(
        [sys.executable, "-c", FORCED_DEVICES_SCRIPT, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stderr


def load(out, name):
    with np.load(out / f"{name}.npz") as f:
        return dict(f)


def assert_same_run(out, name, reference):
    """Step 1 close, the end as the same run (tests/same_run.py: rounding, amplified)."""
    same_run.assert_same_run(
        load(out, name + "_step1"), load(out, reference + "_step1"), same_run.FIRST_STEPS
    )
    same_run.assert_same_run(load(out, name), load(out, reference), same_run.SAME_RUN)


def test_data_parallel_run_equals_one_device_run(forced):
    out, _ = forced
    meshes = json.loads((out / "meshes.json").read_text())
    assert meshes["data4"] == {"members": 1, "data": 4, "devices": 4}
    assert meshes["data1_seed0"] == {"members": 1, "data": 1, "devices": 1}
    assert any("batch_stats" in k for k in load(out, "data4"))  # BatchNorm's statistics too
    assert_same_run(out, "data4", "data1_seed0")
    # and the runs differ from another seed's by far more: the comparison can fail
    for suffix, tolerance in (("_step1", same_run.FIRST_STEPS), ("", same_run.SAME_RUN)):
        a, c = load(out, "data4" + suffix), load(out, "data1_seed1" + suffix)
        assert same_run.scaled_difference(a, c) > 4 * tolerance


def test_data_parallel_lpga_step_equals_one_device_step(forced):
    out, _ = forced
    a, b = load(out, "lpga_data4"), load(out, "lpga_data1")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-8, err_msg=k)


def test_population_on_a_2x2_mesh_equals_its_members_single_runs(forced):
    out, _ = forced
    assert json.loads((out / "meshes.json").read_text())["pop"] == {"members": 2, "data": 2}
    assert_same_run(out, "pop_member0", "data1_seed0")
    assert_same_run(out, "pop_member1", "data1_seed1")


def test_fid_features_split_over_devices_equal_one_device(forced):
    from pga_jax.fid import inception

    out, _ = forced
    assert json.loads((out / "meshes.json").read_text())["fid_batch"] == 4
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    one = inception.make_feature_fn(inception.init_random_params(0), dims=64, batch_size=3)
    np.testing.assert_allclose(np.load(out / "features.npy"), one(images), rtol=1e-5, atol=1e-6)


def test_mesh_shape_defaults():
    assert sharding.mesh_shape(8, 1, 64) == (1, 8)
    assert sharding.mesh_shape(8, 8, 64) == (8, 1)  # a population divides: members
    assert sharding.mesh_shape(8, 4, 64) == (4, 2)
    assert sharding.mesh_shape(4, 3, 64) == (1, 4)  # does not divide: all on data
    assert sharding.mesh_shape(1, 5, 7) == (1, 1)
    assert sharding.mesh_shape(8, 2, 64, data=2) == (2, 2)  # explicit data: members of the rest
    assert sharding.mesh_shape(8, 1, 64, data=2) == (1, 2)  # fewer than the devices: the first


@pytest.mark.parametrize(
    "args, message",
    [
        ((4, 1, 64, 0, 8), r"needs 8 devices, but JAX sees 4 .*lower config.mesh"),
        ((4, 1, 64, 2, 4), r"needs 8 devices"),
        ((4, 1, 66, 0, 4), r"config.batch_size=66 cannot be split over config.mesh.data=4 .*"),
        ((4, 3, 64, 2, 2), r"3 runs cannot be split over config.mesh.members=2"),
    ],
)
def test_meshes_that_do_not_fit_are_one_line_errors(args, message):
    with pytest.raises(configs.ConfigError, match=message) as e:
        sharding.mesh_shape(*args)
    assert "\n" not in str(e.value)


def test_a_mesh_too_large_for_the_devices_is_refused_by_the_cli(tmp_path):
    from cli_helper import run_module

    proc = run_module(
        "pga_jax.main",
        "--config=experiments/mnist_lpga.py:smoke",
        f"--workdir={tmp_path / 'run'}",
        "--config.mesh.data=2",
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "config.mesh = 1 members x 2 data needs 2 devices" in last, proc.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()
