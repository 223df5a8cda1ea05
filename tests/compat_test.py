"""Runs made before the objectives were split out (LVPGA's vrec / vkld, every objective with
every field) still load, evaluate and report."""

import json
import os

import numpy as np
import pytest

from pga_jax import configs, evaluate, objectives, report, training

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "results", "fashion_mnist")
# The objective block every config.json had before: all fields, LVPGA's Eq. 16 weights as
# vrec (gamma') and vkld (eta).
OLD_LVPGA = {
    "name": "lvpga",
    "alpha": 0.06,
    "beta": 0.0,
    "gamma": 0.0,
    "vrec": 0.02,
    "vkld": 0.02,
    "nll_eps_scale": 0.01,
    "vae_sigma": 0.2,
    "warmup_steps": 1,
    "ramp_steps": 0,
}


def test_old_settings_upgrade_to_todays_names_and_types():
    """LVPGA's vrec / vkld are Eq. 16's gamma' / eta; fields an objective never read go."""
    cls = objectives.get("lvpga")
    new = cls.upgrade(OLD_LVPGA)
    assert new == {
        "name": "lvpga",
        "alpha": 0.06,
        "beta": 0.0,
        "gamma": 0.0,
        "gamma_prime": 0.02,
        "eta": 0.02,
        "warmup_steps": 1,
        "ramp_steps": 0,
    }
    cls.validate(new)
    hp = cls.hparams(new)
    assert hp.gamma_prime.dtype == np.float32 and hp.warmup_steps.dtype == np.int32


def test_old_config_json_loads_and_evaluates(tmp_path):
    config = configs.load_experiment("mnist_lvpga", "smoke")
    config.num_steps = 2
    workdir = str(tmp_path / "run")
    training.train_and_evaluate(config, workdir)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        saved = json.load(f)
    saved["objective"] = OLD_LVPGA
    with open(path, "w") as f:
        json.dump(saved, f)

    loaded = evaluate.read_config(workdir)
    assert loaded.objective.gamma_prime == 0.02 and loaded.objective.eta == 0.02
    assert "vrec" not in loaded.objective and "vae_sigma" not in loaded.objective
    result = evaluate.evaluate(workdir, num_samples=8, num_images=4, num_interpolations=2)
    assert result["step"] == 2 and result["objective"]["gamma_prime"] == 0.02
    # and training resumes it (the same run: structure unchanged)
    config.num_steps = 3
    assert int(training.train_and_evaluate(config, workdir).step) == 3


def test_committed_results_report_as_before(tmp_path):
    """docs/results' eval.json files (old field names) give the committed table."""
    table = report.write_report([os.path.join(DOCS, "runs", "*", "*", "eval.json")], str(tmp_path))
    assert table.rows == ["vae", "lpga", "vpga", "lvpga", "lpga (alpha=beta=0)"]
    with open(tmp_path / "table.md") as f, open(os.path.join(DOCS, "table.md")) as g:
        assert f.read().splitlines()[:7] == g.read().splitlines()[:7]


@pytest.mark.parametrize("old,new", [("vrec", "gamma_prime"), ("vkld", "eta")])
def test_an_old_name_on_the_command_line_names_the_new_one(old, new):
    config = configs.load_experiment("mnist_lvpga")
    config.objective[old] = 0.1
    with pytest.raises(configs.ConfigError, match=f"now config.objective.{new}"):
        configs.validate(config)
