"""Two processes on localhost as one run (jax.distributed, gloo CPU collectives; each process
has one CPU device, so the batch is split 2 ways): the run is the 1-process run (up to
rounding, tests/same_run.py), its files are written once, and after one process is killed (and
both are restarted) it resumes to the uninterrupted 2-process result, bit for bit. A process
that cannot reach its coordinator fails in one line."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import pga_jax

import same_run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STEPS = 8
CONFIG = [
    "--config=experiments/mnist_vpga.py:smoke",
    f"--config.num_steps={STEPS}",
    "--config.checkpoint_every=2",
    "--config.keep_checkpoints=10",
]
ENV = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start(workdir, n=2, port=None, extra=()):
    """The processes of one run (n = 1: a plain run)."""
    port = port or free_port()
    procs = []
    for i in range(n):
        flags = (
            [
                f"--coordinator_address=localhost:{port}",
                f"--num_processes={n}",
                f"--process_id={i}",
                "--distributed_timeout_s=60",
            ]
            if n > 1
            else []
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pga_jax.main",
                    *CONFIG,
                    f"--workdir={workdir}",
                    *flags,
                    *extra,
                ],
                cwd=ROOT,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def finish(procs, timeout=300):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [err for _, err in outs]


def params(workdir, step=STEPS):
    run = pga_jax.load(str(workdir), step)
    assert run.step == step
    return same_run.by_path(run._state.params)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    finish(start(root / "single", n=1))
    logs = finish(start(root / "two"))
    # killed: once checkpoint 2 is complete, SIGKILL process 1, then process 0; restart both
    procs = start(root / "killed")
    manifest = root / "killed" / "checkpoints" / "2" / "pga_jax_manifest.json"
    deadline = time.time() + 240
    while not manifest.exists() and time.time() < deadline:
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    procs[0].send_signal(signal.SIGKILL)
    for p in procs:
        p.communicate()
    saved = sorted(int(s) for s in os.listdir(root / "killed" / "checkpoints") if s.isdigit())
    finish(start(root / "killed"))
    return root, logs, saved


def test_two_processes_train_the_one_process_run(runs):
    root, logs, _ = runs
    assert "process 0 of 2" in logs[0] and "process 1 of 2" in logs[1]
    assert "1 x 2 (members x data) mesh of 2 cpu device(s)" in logs[0]
    # step 2 close, the end as the same run (tests/same_run.py: rounding, amplified)
    two, single = params(root / "two", 2), params(root / "single", 2)
    same_run.assert_same_run(two, single, same_run.FIRST_STEPS)
    same_run.assert_same_run(params(root / "two"), params(root / "single"), same_run.SAME_RUN)


def test_two_processes_write_each_file_once(runs):
    root, _, _ = runs
    two = root / "two"
    steps = [json.loads(line)["step"] for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) == [2, 4, 6, 8]
    assert len([f for f in os.listdir(two) if f.startswith("events.out.tfevents")]) == 1
    assert sorted(os.listdir(two / "checkpoints")) == ["2", "4", "6", "8"]
    for step in ("2", "4", "6", "8"):  # each with its manifest, written once (by process 0)
        manifest = json.loads((two / "checkpoints" / step / "pga_jax_manifest.json").read_text())
        assert manifest["step"] == int(step)
    assert not (two / "checkpoint_manifests").exists()
    assert not [f for f in os.listdir(two / "checkpoints") if "tmp" in f]


def test_killed_process_resumes_to_the_uninterrupted_result(runs):
    root, _, saved = runs
    assert saved and max(saved) < STEPS  # it was killed mid-run, after a checkpoint
    a, b = params(root / "killed"), params(root / "two")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_unreachable_coordinator_fails_in_one_line(tmp_path):
    port = free_port()  # nobody listens there
    (proc,) = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pga_jax.main",
                *CONFIG,
                f"--workdir={tmp_path / 'run'}",
                f"--coordinator_address=localhost:{port}",
                "--num_processes=2",
                "--process_id=1",
                "--distributed_timeout_s=5",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    ]
    t0 = time.time()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and time.time() - t0 < 90
    last = err.strip().splitlines()[-1]
    assert f"could not join the other processes through localhost:{port} within 5 s" in last, err[
        -2000:
    ]
    assert not (tmp_path / "run").exists()


def test_a_two_process_run_resumes_in_one_process(runs, tmp_path):
    """The checkpoint holds no mesh: the 2-process run continues on one device."""
    import shutil

    root, _, _ = runs
    shutil.copytree(root / "two", tmp_path / "two")
    (proc,) = start(tmp_path / "two", n=1, extra=[f"--config.num_steps={STEPS + 2}"])
    finish([proc])
    assert pga_jax.load(str(tmp_path / "two")).step == STEPS + 2
