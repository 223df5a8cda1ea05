"""`evaluate_many` / `python -m pga_jax.evaluate --workdir=A --workdir=B`: several runs, one
feature pass per reference statistics file, each run's eval/ and scores as `evaluate` alone
writes them; a run that cannot be evaluated stops all before anything is written."""

import json
import os
import shutil

import numpy as np
import pytest

from pga_jax import configs, evaluate, training
from pga_jax.fid import score

from cli_helper import run_module
from fakes import TinyFeatures

# 16 FID samples; 4 grid samples and 2 x 2 interpolations (one decoder batch shape).
SMALL = dict(
    num_samples=16, num_images=4, num_interpolations=2, interpolation_steps=2, tensorboard=False
)


class CountingFeatures(TinyFeatures):
    """TinyFeatures that records how many images each call gets."""

    def __init__(self):
        self.calls = []

    def __call__(self, images):
        self.calls.append(len(images))
        return super().__call__(images)


def _smoke_config():
    return configs.load_experiment("mnist_lpga", "smoke")


def _link_run(src: str, dst, fid_ref_stats: str) -> str:
    """A copy of the run `src` (files hard-linked, not copied) whose config.json names
    `fid_ref_stats`."""
    shutil.copytree(src, dst, copy_function=os.link, ignore=shutil.ignore_patterns("eval"))
    path = os.path.join(dst, "config.json")
    with open(path) as f:
        saved = json.load(f)
    os.remove(path)  # a new file: the source's (hard-linked) config.json stays as it is
    with open(path, "w") as f:
        json.dump(dict(saved, fid_ref_stats=fid_ref_stats), f)
    return str(dst)


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """Statistics (with feature rows, for KID and P-R) of the smoke runs' images: `a` of all 64,
    `b` of the first 48; `rgb` of 32x32x3 images, unlike the runs' 28x28x1."""
    root = tmp_path_factory.mktemp("refs")
    real = training.load_training_images(_smoke_config())
    made = {
        "a": score.compute_stats(real, TinyFeatures(), keep_features=64),
        "b": score.compute_stats(real[:48], TinyFeatures(), keep_features=48, seed=1),
        "rgb": score.stats_from_features(
            np.random.default_rng(0).normal(size=(8, 4)),
            protocol=TinyFeatures.protocol,
            weights_sha256=TinyFeatures.weights_sha256,
            keep_features=0,
            image_shape=(32, 32, 3),
        ),
    }
    for name, st in made.items():
        score.save_stats(root / f"{name}.npz", st)
    return {name: str(root / f"{name}.npz") for name in made}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, refs):
    """Two 4-step LPGA :smoke runs of seeds 0 and 1 whose configs name reference `a`, and a
    copy of the second that names reference `b`."""
    root = tmp_path_factory.mktemp("many")
    out = []
    for seed in (0, 1):
        config = _smoke_config()
        config.seed, config.fid_ref_stats = seed, refs["a"]
        workdir = str(root / f"seed={seed}")
        training.train_and_evaluate(config, workdir)
        out.append(workdir)
    return [*out, _link_run(out[1], root / "seed=1,ref=b", refs["b"])]


def _eval_files(workdir: str) -> dict:
    """WORKDIR/eval/: eval.json parsed, samples.npz's images, every other file's bytes."""
    eval_dir = os.path.join(workdir, "eval")
    out = {}
    for name in sorted(os.listdir(eval_dir)):
        path = os.path.join(eval_dir, name)
        if name == "samples.npz":  # (the zip records when it was written)
            with np.load(path) as z:
                out[name] = z["images"].tobytes()
        else:
            with open(path, "rb") as f:
                out[name] = json.loads(f.read()) if name == "eval.json" else f.read()
    return out


def _assert_close(a, b, path="") -> None:
    """Equal JSON-like values, floats to a relative 1e-6."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-6), path
    else:
        assert a == b, path


def _snapshot(dirs) -> dict:
    """(size, mtime) of every file under `dirs`."""
    out = {}
    for d in dirs:
        for folder, _, files in os.walk(d):
            for name in files:
                st = os.stat(os.path.join(folder, name))
                out[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns)
    return out


def test_many_equals_each_alone_with_one_feature_pass_per_reference(runs, refs):
    counting = CountingFeatures()
    many = evaluate.evaluate_many(runs, feature_fn=counting, seed=5, save_samples=True, **SMALL)
    # Runs 0 and 1 (reference a) in one pass of their 2 x 16 samples; run 2 (reference b).
    assert counting.calls == [32, 16]
    written = [_eval_files(w) for w in runs]
    for files, result in zip(written, many, strict=True):
        assert files["eval.json"] == json.loads(json.dumps(result))
        assert {"samples.npz", "samples.png", "reconstructions.png"} <= set(files)
    fids = [r["fid"] for r in many]
    assert [f["ref_stats"] for f in fids] == [refs["a"], refs["a"], refs["b"]]
    assert [f["n_ref"] for f in fids] == [64, 64, 48] and all(f["n"] == 16 for f in fids)
    assert len({f["fid"] for f in fids}) == 3 and len({f["kid"] for f in fids}) == 3
    for f in fids:
        assert {"kid", "kid_std", "precision", "recall"} <= set(f)

    alone = [
        evaluate.evaluate(w, feature_fn=TinyFeatures(), seed=5, save_samples=True, **SMALL)
        for w in runs
    ]
    for w, before, one, result in zip(runs, written, alone, many, strict=True):
        _assert_close(one, result)
        again = _eval_files(w)
        _assert_close(again.pop("eval.json"), before.pop("eval.json"))
        assert again == before  # the same PNGs and samples, byte for byte


@pytest.mark.parametrize(
    "bad,expect",
    [
        ("no_checkpoint", "has no checkpoint; train"),
        ("no_run", "has no config.json"),
        ("other_images", ": FID: the images are 28x28x1 but .* from 32x32x3 images"),
    ],
)
def test_a_workdir_that_cannot_be_evaluated_stops_all_before_any_write(
    runs, refs, tmp_path, bad, expect
):
    bad_dir = tmp_path / bad
    if bad == "other_images":  # refused after sampling, still before any feature pass
        _link_run(runs[0], bad_dir, refs["rgb"])
    else:
        bad_dir.mkdir()
        if bad == "no_checkpoint":
            shutil.copy(os.path.join(runs[0], "config.json"), bad_dir)
    workdir_list = [runs[0], str(bad_dir), runs[1]]
    before = _snapshot(workdir_list)
    counting = CountingFeatures()
    with pytest.raises(evaluate.WorkdirError, match=expect) as info:
        evaluate.evaluate_many(workdir_list, feature_fn=counting, **SMALL)
    message = str(info.value)
    assert "\n" not in message and message.count(str(bad_dir)) == 1
    assert info.value.workdir == str(bad_dir) and message.startswith(str(bad_dir))
    assert counting.calls == []
    assert _snapshot(workdir_list) == before


def test_each_workdir_is_evaluated_once(runs):
    with pytest.raises(evaluate.EvaluationError, match="given twice"):
        evaluate.evaluate_many([runs[0], runs[1], runs[0] + os.sep], **SMALL)
    with pytest.raises(evaluate.EvaluationError, match="no workdir"):
        evaluate.evaluate_many([], **SMALL)
    with pytest.raises(TypeError, match="list of workdirs"):
        evaluate.evaluate_many(runs[0], **SMALL)


def test_workdir_patterns_expand_to_the_training_workdirs_they_match(tmp_path):
    for name in ("b", "a", "run[1]"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "file.txt").write_text("")
    a, b, odd = (str(tmp_path / n) for n in ("a", "b", "run[1]"))
    assert evaluate.expand_workdirs([str(tmp_path / "*")]) == [a, b, odd]
    # Given workdirs stay as they are (also one with glob characters), each once.
    assert evaluate.expand_workdirs([b, str(tmp_path / "?"), odd]) == [b, a, odd]
    assert evaluate.expand_workdirs(["runs/x", "runs/./x"]) == ["runs/x"]
    with pytest.raises(evaluate.EvaluationError, match=r"--workdir=.*nope\* matches no training"):
        evaluate.expand_workdirs([a, str(tmp_path / "nope*")])


def test_cli_evaluates_several_workdirs_with_a_line_each(runs, tmp_path):
    a = _link_run(runs[0], tmp_path / "cli" / "seed=0", "")  # no reference: FID skipped
    b = _link_run(runs[1], tmp_path / "cli" / "gamma=0.01,seed=1", "")  # a sweep's name
    result = run_module(
        "pga_jax.evaluate",
        f"--workdir={a}",
        f"--workdir={tmp_path / 'cli' / '*'}",  # b, and a again
        "--num_samples=8",
        "--num_images=4",
        "--num_interpolations=2",
        "--interpolation_steps=2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{w}/eval/eval.json: step 4, FID skipped" for w in (a, b)
    ]
    for w in (a, b):
        assert any(f.startswith("events.out.tfevents") for f in os.listdir(f"{w}/eval"))
