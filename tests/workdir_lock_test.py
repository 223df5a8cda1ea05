"""One process per workdir: a second is refused in one line naming the holder's pid, and a
holder killed with SIGKILL leaves nothing that blocks the next start."""

import os
import signal
import subprocess
import sys

import pytest

from pga_jax import configs, distributed, training, workdir_lock

from cli_helper import ROOT

HOLDER = (
    "import sys, time\n"
    "from pga_jax import workdir_lock\n"
    "with workdir_lock.hold(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(300)\n"
)


def test_a_second_process_is_refused_and_a_killed_holder_blocks_nothing(tmp_path):
    workdir = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, workdir],
        cwd=ROOT,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(workdir_lock.WorkdirBusyError) as refused:
            with workdir_lock.hold(workdir):
                pass
        message = str(refused.value)
        assert f"in use by process {holder.pid} " in message and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with workdir_lock.hold(workdir):  # the kernel released the killed holder's lock
        with open(os.path.join(workdir, workdir_lock.LOCK_FILE)) as f:
            assert f.read().split()[0] == str(os.getpid())


def test_training_a_held_workdir_is_refused_before_writing_anything(tmp_path):
    workdir = str(tmp_path / "run")
    config = configs.load_experiment("mnist_lpga", "smoke")
    with workdir_lock.hold(workdir):  # as another process would (flock: per open file)
        with pytest.raises(workdir_lock.WorkdirBusyError, match=f"process {os.getpid()} "):
            training.train_and_evaluate(config, workdir)
        members = [str(tmp_path / "a"), workdir]
        with pytest.raises(workdir_lock.WorkdirBusyError, match="run is in use"):
            training.train_population([config, config], members)
    assert os.listdir(workdir) == [workdir_lock.LOCK_FILE]  # no config.json, no checkpoint
    assert not os.path.exists(os.path.join(members[0], "config.json"))


def test_only_process_0_of_a_multi_host_run_holds_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "is_primary", lambda: False)
    with workdir_lock.hold(str(tmp_path)), workdir_lock.hold(str(tmp_path)):
        pass
    assert not os.path.exists(tmp_path / workdir_lock.LOCK_FILE)
