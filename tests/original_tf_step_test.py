"""benchmarks/original_tf_step.py: the original code's step, re-created in TensorFlow, computes
the same gradients as pga_jax's step for the same weights and noise (so the benchmark times the
same mathematics in both frameworks), and its timed step runs."""

import importlib.util
import math
import os

import jax
import numpy as np
import pytest

from pga_jax import models, objectives

BENCHMARK = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "original_tf_step.py")
# pga_jax's settings and the same weights under the original's flag names.
WEIGHTS = {
    "lpga": dict(alpha=0.3, gamma=0.2, warmup_steps=0),
    "vpga": dict(alpha=0.3, vrec=0.5, eta=0.2),
}
TF_WEIGHTS = {
    "lpga": dict(alpha=0.3, gamma=0.2),
    "vpga": dict(alpha=0.3, vrec=0.5, vkld=0.2),
}


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("original_tf_step", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jax_gradients(name, params, enc, dec, x, rng, z_dim):
    objective, hp = objectives.get(name).make(**WEIGHTS[name])

    def total(p):
        nets = objectives.Networks(enc, dec, p, {})
        terms = objective.compute_terms(hp, nets, x, rng)
        return objectives.combine(objective, terms, objective.weights(hp, 0, 784, z_dim))[0]

    return jax.grad(total)(params)


@pytest.mark.parametrize("name", ["lpga", "vpga"])
def test_tf_step_gradients_equal_pga_jax(name):
    pytest.importorskip("tensorflow")
    bench = _load_benchmark()
    z_dim, batch = 4, 5
    enc, dec = models.build_models(
        "conv_mnist", z_dim, bn=False, variational=objectives.get(name).variational
    )
    variables = models.init_variables(enc, dec, jax.random.PRNGKey(0), (28, 28, 1), z_dim)
    params = variables["params"]
    # Perturb the log-variance head so sigma differs per dimension and sample.
    if name == "vpga":
        head = params["encoder"]["_Heads_0"]["logvar"]
        head["kernel"] = head["kernel"] + 0.05 * jax.random.normal(
            jax.random.PRNGKey(3), head["kernel"].shape
        )
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 28, 28, 1), minval=-1, maxval=1)
    rng = jax.random.PRNGKey(7)
    # The noise pga_jax draws inside the objective: zn from the first key, delta's direction
    # (LPGA) or z_noise's (VPGA) from the second.
    k_prior, k_noise = jax.random.split(rng)
    zn = jax.random.normal(k_prior, (batch, z_dim))
    noise = jax.random.normal(k_noise, (batch, z_dim))

    weights = {"alpha": 0.0, "gamma": 0.0, "vrec": 0.0, "vkld": 0.0, **TF_WEIGHTS[name]}
    got_tf = bench.tf_gradients(
        name, weights, bench.tf_layout(params), np.asarray(x), np.asarray(zn), np.asarray(noise)
    )
    want = bench.tf_layout(_jax_gradients(name, params, enc, dec, x, rng, z_dim))
    for net in ("encoder", "decoder"):
        assert len(got_tf[net]) == len(want[net])
        for (tk, tb), (jk, jb) in zip(got_tf[net], want[net], strict=True):
            for t, j in ((tk, jk), (tb, jb)):
                scale = float(np.max(np.abs(j)))
                assert scale > 0, f"{name}/{net}: pga_jax gradient is zero"
                np.testing.assert_allclose(t, j, rtol=2e-3, atol=2e-3 * scale)


def test_timed_tf_step_runs_and_trains():
    pytest.importorskip("tensorflow")
    bench = _load_benchmark()
    row = bench.measure_tf("lpga", batch=4, steps=1, repeats=1)
    assert row["framework"] == "tensorflow"
    assert (row["objective"], row["arch"], row["batch"]) == ("lpga", "conv_mnist", 4)
    assert row["steps_per_s"] > 0 and row["compile_s"] > 0
    assert 0 < row["cores_busy"] <= (os.cpu_count() or 1) * 1.05
    assert math.isfinite(row["final_loss"])


def test_summary_ratio_and_fractions_use_the_jax_flop_count():
    bench = _load_benchmark()
    tf_rows = [
        {"steps_per_s": s, "compile_s": 2.0, "tf_version": "t", "cores_busy": b}
        for s, b in ((1.0, 1.9), (2.0, 1.5), (6.0, 2.0))
    ]
    jax_rows = [
        {
            "steps_per_s": s,
            "compile_s": 4.0,
            "flops_per_step": 50e9,
            "ceiling_gflops": c,
            "layers": "fast",
            "jax_version": "j",
            "device": "cpu",
            "cores_busy": b,
        }
        for s, c, b in ((2.0, 100.0, 1.2), (9.0, 400.0, 1.8), (3.0, 150.0, 1.0))
    ]
    row = bench.summarise("lpga", 64, tf_rows, jax_rows)
    assert row["tf_steps_per_s"] == 2.0 and row["jax_steps_per_s"] == 3.0
    assert row["jax_over_tf"] == pytest.approx(1.5)
    assert row["ceiling_gflops"] == 150.0
    assert row["tf_fraction_of_ceiling"] == pytest.approx(50 * 2.0 / 150.0)
    assert row["jax_fraction_of_ceiling"] == pytest.approx(50 * 3.0 / 150.0)
    assert row["jax_images_per_s"] == pytest.approx(192.0)
    assert (row["tf_cores_busy"], row["jax_cores_busy"]) == (1.9, 1.2)


def test_jax_variants_are_timed_in_every_round_and_summarised_apart(monkeypatch, capsys):
    bench = _load_benchmark()
    calls = []

    def fake_tf(objective, batch, args, tmp):
        calls.append(("tf", None))
        return {"steps_per_s": 1.0, "compile_s": 1.0, "tf_version": "t", "cores_busy": 2.0}

    def fake_jax(objective, batch, args, tmp, env=None):
        calls.append(("jax", env))
        speed = {None: 1.0, "1": 2.0, "bar": 3.0}[next(iter(env.values())) if env else None]
        return {
            "steps_per_s": speed,
            "compile_s": 1.0,
            "flops_per_step": 1e9,
            "ceiling_gflops": 10.0,
            "layers": "fast",
            "jax_version": "j",
            "device": "cpu",
            "cores_busy": 1.5,
        }

    monkeypatch.setattr(bench, "run_tf", fake_tf)
    monkeypatch.setattr(bench, "run_jax", fake_jax)
    rows = bench.main(
        ["--objectives=lpga", "--batches=4", "--rounds=2", "--jax_variants=A_B=1,FOO=bar"]
    )
    one_round = [("tf", None), ("jax", None), ("jax", {"A_B": "1"}), ("jax", {"FOO": "bar"})]
    assert calls == one_round * 2
    assert [(r["jax_env"], r["jax_over_tf"]) for r in rows] == [
        ("", 1.0),
        ("A_B=1", 2.0),
        ("FOO=bar", 3.0),
    ]
    assert "FOO=bar" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.parse_args(["--jax_variants=PGA_JAX_CPU_ONEDNN"])


def test_a_variant_setting_reaches_the_jax_process_environment(monkeypatch, tmp_path):
    bench = _load_benchmark()
    seen = {}
    monkeypatch.setattr(bench, "_run", lambda cmd, out, **env: seen.update(env) or {})
    args = bench.parse_args(["--steps=1", "--repeats=1"])
    bench.run_jax("lpga", 4, args, tmp_path, {"PGA_JAX_CPU_ONEDNN": "1"})
    assert seen == {"PGA_JAX_CPU_ONEDNN": "1"}
    seen.clear()
    bench.run_jax("lpga", 4, args, tmp_path)
    assert seen == {}
