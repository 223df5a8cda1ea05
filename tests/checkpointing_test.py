"""Checkpoint integrity: a manifest per checkpoint, inside its folder, verified on restore;
damaged, unverifiable, foreign or non-finite checkpoints are one-line errors, empty step
folders are skipped, and training resumes from the newest one that verifies."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pga_jax
from pga_jax import checkpointing, configs, evaluate, models, training


def smoke(num_steps):
    config = configs.load_experiment("mnist_lpga", "smoke")
    config.num_steps = num_steps
    return config


def _largest_file(directory):
    files = [os.path.join(r, f) for r, _, fs in os.walk(directory) for f in fs]
    return max(files, key=os.path.getsize)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return training.train_and_evaluate(smoke(6), str(tmp_path_factory.mktemp("full")))


@pytest.mark.parametrize("damage", ["bytes", "bit"])
def test_damaged_checkpoint_is_refused_and_training_resumes_from_the_one_before(
    tmp_path, uninterrupted, damage
):
    workdir = str(tmp_path / "run")
    config = smoke(4)  # checkpoints at steps 2 and 4 (checkpoint_every = 2)
    training.train_and_evaluate(config, workdir)
    target = _largest_file(os.path.join(workdir, "checkpoints", "4"))
    with open(target, "r+b") as f:
        if damage == "bytes":
            f.seek(os.path.getsize(target) // 2)
            f.write(b"\xff" * 16)
        else:  # one flipped bit
            f.seek(os.path.getsize(target) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))
    damaged_bytes = open(target, "rb").read()

    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/4 is damaged"):
        evaluate.load_run(workdir)

    config.num_steps = 6
    resumed = training.train_and_evaluate(config, workdir)  # from step 2: the newest that verifies
    for a, b in zip(_leaves(resumed.params), _leaves(uninterrupted.params), strict=True):
        np.testing.assert_array_equal(a, b)
    moved = os.path.join(workdir, "bad_checkpoints", "4")
    kept = os.path.join(moved, os.path.relpath(target, os.path.join(workdir, "checkpoints", "4")))
    assert open(kept, "rb").read() == damaged_bytes  # kept as it was, not overwritten
    assert os.path.exists(os.path.join(moved, checkpointing.MANIFEST))  # moved with it
    # the rolled-back step 4's metrics line is moved aside: each step once in metrics.jsonl
    assert [json.loads(line)["step"] for line in open(os.path.join(workdir, "metrics.jsonl"))] == [
        2,
        4,
        6,
    ]
    with open(os.path.join(workdir, "metrics.rolled_back.jsonl")) as f:
        assert [(r["step"], r["rolled_back_to"]) for r in map(json.loads, f)] == [(4, 2)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke run with checkpoints 2 and 4 (copied by each test that changes it)."""
    workdir = str(tmp_path_factory.mktemp("trained") / "run")
    state = training.train_and_evaluate(smoke(4), workdir)
    return workdir, state


def _copy(trained, tmp_path, name="run"):
    workdir = str(tmp_path / name)
    shutil.copytree(trained[0], workdir)
    return workdir


def _flip_a_bit(step_dir):
    target = _largest_file(step_dir)
    with open(target, "r+b") as f:
        f.seek(os.path.getsize(target) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_checkpoints_folder_copied_alone_keeps_its_protection(trained, tmp_path):
    """The manifest lives in each step's folder: a copy of checkpoints/ (and config.json)
    alone, with one bit flipped, is refused; the untouched copy loads."""
    workdir = str(tmp_path / "copy")
    os.makedirs(workdir)
    shutil.copytree(os.path.join(trained[0], "checkpoints"), os.path.join(workdir, "checkpoints"))
    shutil.copy(os.path.join(trained[0], "config.json"), workdir)
    assert not os.path.exists(os.path.join(trained[0], checkpointing.MANIFESTS))
    assert os.path.isfile(os.path.join(workdir, "checkpoints", "4", checkpointing.MANIFEST))
    assert evaluate.load_run(workdir).step == 4
    _flip_a_bit(os.path.join(workdir, "checkpoints", "4"))
    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/4 is damaged"):
        evaluate.load_run(workdir)


def test_a_checkpoint_without_checksums_is_refused_unless_allowed(trained, tmp_path):
    """As a run of before manifests (or copied without them): one line naming it and the flag;
    with the flag it loads and trains, and the run records that it was unverified."""
    workdir = _copy(trained, tmp_path)
    for step in (2, 4):
        os.remove(os.path.join(workdir, "checkpoints", str(step), checkpointing.MANIFEST))
    with pytest.raises(checkpointing.CheckpointError) as refused:
        evaluate.load_run(workdir)
    message = str(refused.value)
    assert "checkpoints/4 has no checksums" in message and "\n" not in message
    assert checkpointing.ALLOW_UNVERIFIED_FLAG in message
    with pytest.raises(checkpointing.CheckpointError, match="no checksums"):
        training.train_and_evaluate(smoke(6), workdir)
    run = pga_jax.load(workdir, allow_unverified_checkpoint=True)
    assert run.step == 4 and not run.verified
    for a, b in zip(_leaves(run._state.params), _leaves(trained[1].params), strict=True):
        np.testing.assert_array_equal(a, b)
    training.train_and_evaluate(smoke(6), workdir, allow_unverified_checkpoint=True)
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)[configs.UNVERIFIED] == [{"step": 4}]
    assert evaluate.load_run(workdir).verified  # step 6: written with its manifest


def test_manifests_of_older_runs_are_still_read(trained, tmp_path):
    """Runs before issue 35 kept the manifests in WORKDIR/checkpoint_manifests/<step>.json."""
    workdir = _copy(trained, tmp_path)
    old = os.path.join(workdir, checkpointing.MANIFESTS)
    os.makedirs(old)
    for step in (2, 4):
        inside = os.path.join(workdir, "checkpoints", str(step), checkpointing.MANIFEST)
        shutil.move(inside, os.path.join(old, f"{step}.json"))
    assert evaluate.load_run(workdir).verified
    _flip_a_bit(os.path.join(workdir, "checkpoints", "4"))
    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/4 is damaged"):
        evaluate.load_run(workdir)


@pytest.mark.parametrize("kind", ["empty", "partial"])
def test_an_empty_step_folder_is_skipped_and_the_newest_good_checkpoint_restores(
    trained, tmp_path, kind
):
    """A step folder an interrupted copy (or another tool) left empty or partial: evaluate
    skips it; training moves it aside and resumes from the newest good checkpoint, by the same
    manager (orbax's failed restore used to break it for every older step)."""
    workdir = _copy(trained, tmp_path)
    newest = os.path.join(workdir, "checkpoints", "6")
    if kind == "empty":
        os.makedirs(newest)
    else:  # the copy stopped before orbax's metadata
        shutil.copytree(os.path.join(workdir, "checkpoints", "4", "default"), newest + "/default")
    assert evaluate.load_run(workdir).step == 4
    config = smoke(2)
    state, _ = training.create_train_state(config, models.output_shape(config.model.arch))
    ckpt = checkpointing.Checkpointer(workdir, 3)
    restored = ckpt.restore_latest(state, fallback=True)
    assert int(restored.step) == 4 and ckpt.steps() == [2, 4]
    ckpt.close()
    assert os.path.isdir(os.path.join(workdir, checkpointing.BAD_CHECKPOINTS, "6"))


@pytest.mark.parametrize("saved,loaded", [("lpga", "vpga"), ("vpga", "lpga")])
def test_load_refuses_a_checkpoint_of_another_objective(tmp_path, saved, loaded):
    """An LPGA checkpoint under a VPGA config.json: the VPGA log-variance head is missing (and
    the reverse: a parameter the config's networks lack); one line naming it."""
    workdir = str(tmp_path / "run")
    config = configs.load_experiment(f"mnist_{saved}", "smoke")
    state, _ = training.create_train_state(config, models.output_shape(config.model.arch))
    ckpt = checkpointing.Checkpointer(workdir, 2)
    ckpt.save(2, state)
    ckpt.close()
    other = configs.load_experiment(f"mnist_{loaded}", "smoke")
    other.model.z_dim = config.model.z_dim  # only the objective differs
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(other.to_json_best_effort())
    with pytest.raises(pga_jax.inference.RunError) as refused:
        pga_jax.load(workdir)
    message = str(refused.value)
    assert "logvar" in message and "\n" not in message
    assert ("has no" if loaded == "vpga" else "holds") in message


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path):
    config = smoke(2)
    state, _ = training.create_train_state(config, models.output_shape(config.model.arch))
    nan_encoder = jax.tree.map(lambda x: x * jnp.nan, state.params["encoder"])
    bad = state.replace(params={**state.params, "encoder": nan_encoder})
    ckpt = checkpointing.Checkpointer(str(tmp_path), 2)
    ckpt.save(2, bad)  # a checksum of NaNs verifies: the finiteness check must catch it
    with pytest.raises(checkpointing.CheckpointError, match=r"checkpoints/2 holds NaN/inf"):
        ckpt.restore_latest(state)
    ckpt.close()


def test_manifests_follow_the_kept_checkpoints(tmp_path):
    workdir = str(tmp_path / "run")
    config = smoke(6)
    config.keep_checkpoints = 2
    training.train_and_evaluate(config, workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["4", "6"]
    for step in ("4", "6"):
        manifest = os.path.join(workdir, "checkpoints", step, checkpointing.MANIFEST)
        with open(manifest) as f:
            assert json.load(f)["step"] == int(step)
    assert not os.path.exists(os.path.join(workdir, checkpointing.MANIFESTS))


def test_a_failed_save_is_one_line_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """Disk full (as orbax reports it: a ValueError from its writer threads) during a save:
    one CheckpointError naming the checkpoint and the cause; the save's temporary folder goes;
    earlier checkpoints stay. (By hand on a 3 MB tmpfs the same line ends the run.)"""
    config = smoke(2)
    state, _ = training.create_train_state(config, models.output_shape(config.model.arch))
    ckpt = checkpointing.Checkpointer(str(tmp_path), 3)
    ckpt.save(2, state)

    def full_disk(step, args):
        os.makedirs(os.path.join(ckpt.directory, f"{step}.orbax-checkpoint-tmp", "d"))
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "x": No space left on device')

    monkeypatch.setattr(ckpt._manager, "save", full_disk)
    with pytest.raises(checkpointing.CheckpointError) as failed:
        ckpt.save(4, state)
    assert str(failed.value).startswith(f"saving checkpoint {ckpt.path(4)} failed")
    assert "no space left on device" in str(failed.value) and "\n" not in str(failed.value)
    assert sorted(os.listdir(ckpt.directory)) == ["2"]
    monkeypatch.undo()
    ckpt.close()


def test_orbax_errors_of_a_failed_save_are_one_line_each():
    """orbax's writer threads log each failed write with a traceback (36 of them on a full
    disk, by hand on a 1.5 MB tmpfs; 0 after): the filter keeps one line per record."""
    import logging as std_logging
    import sys as _sys

    try:
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "x"\nin /c/2.orbax-checkpoint-tmp')
    except ValueError:
        exc_info = _sys.exc_info()
    quiet = checkpointing.QuietOrbax()
    orbax_error = std_logging.LogRecord(
        "absl",
        std_logging.ERROR,
        "/x/orbax/checkpoint/future.py",
        1,
        "raised:\n%s",
        ("a b",),
        exc_info,
    )
    assert quiet.filter(orbax_error) and orbax_error.exc_info is None
    assert orbax_error.getMessage() == "raised: a b"
    asyncio_error = std_logging.LogRecord(
        "asyncio",
        std_logging.ERROR,
        "/x/asyncio/base_events.py",
        1,
        "Task exception",
        (),
        exc_info,
    )
    assert quiet.filter(asyncio_error) and asyncio_error.exc_info is None
    ours = std_logging.LogRecord(
        "absl", std_logging.ERROR, "/x/pga_jax/train.py", 1, "mine", (), exc_info
    )
    assert quiet.filter(ours) and ours.exc_info is exc_info  # everything else untouched
    info = std_logging.LogRecord(
        "absl", std_logging.INFO, "/x/orbax/checkpoint/manager.py", 1, "saved", (), None
    )
    assert not quiet.filter(info)
    waiting = std_logging.LogRecord(
        "absl",
        std_logging.WARNING,
        "/x/orbax/checkpoint/checkpoint_manager.py",
        1,
        "Waiting for previous save to complete took %f seconds. If this number is high, ...",
        (1.5,),
        None,
    )
    assert quiet.filter(waiting)  # the command line keeps it
    assert not checkpointing.QuietOrbax(routine=False).filter(waiting)  # the API's does not


def test_the_api_hides_orbax_routine_warnings_only_while_it_runs():
    import logging as std_logging

    from absl import logging as absl_logging

    records = []

    class Keep(std_logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = std_logging.getLogger("absl")
    handler = Keep()
    logger.addHandler(handler)
    try:
        path = "/x/orbax/checkpoint/checkpoint_manager.py"
        waiting = logger.makeRecord(
            "absl", std_logging.WARNING, path, 1, "Waiting for previous save: 2 s", (), None
        )
        with checkpointing.quiet_orbax():
            logger.handle(waiting)
            absl_logging.warning("ours")
        logger.handle(waiting)
    finally:
        logger.removeHandler(handler)
    assert records == ["ours", "Waiting for previous save: 2 s"]


def test_closed_event_loop_tracebacks_are_not_printed(monkeypatch, capsys):
    import sys as _sys

    seen = []
    monkeypatch.setattr(_sys, "excepthook", lambda *a: seen.append(a[1]))
    monkeypatch.setattr(_sys, "unraisablehook", lambda info: seen.append(info.exc_value))
    checkpointing.ignore_closed_event_loops()
    closed, other = RuntimeError("Event loop is closed"), RuntimeError("something else")
    _sys.excepthook(RuntimeError, closed, None)
    _sys.excepthook(RuntimeError, other, None)
    info = type("Info", (), {"exc_type": RuntimeError, "exc_value": closed})
    _sys.unraisablehook(info)
    assert seen == [other]
