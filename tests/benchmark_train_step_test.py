"""benchmarks/train_step.py runs end to end on tiny rows and writes complete JSON rows."""

import importlib.util
import json
import math
import os

BENCHMARK = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "train_step.py")

POSITIVE_KEYS = (
    "steps_per_s",
    "images_per_s",
    "compile_s",
    "flops_per_step",
    "achieved_gflops",
    "ceiling_gflops",
    "fraction_of_ceiling",
    "peak_memory_bytes",
)


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_train_step", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_rows_are_complete_and_share_the_plain_cpu_flop_count(tmp_path):
    bench = _load_benchmark()
    out = tmp_path / "rows.json"
    args = ["--objectives=vae", "--archs=conv_mnist", "--batches=4", "--steps=1", "--repeats=1"]
    args += ["--warmup=1", "--ceiling_n=64", "--ceiling_repeats=1", "--compare_layers"]
    plain, fast = bench.main([*args, f"--json={out}"])
    assert json.loads(out.read_text()) == json.loads(json.dumps([plain, fast]))
    assert (plain["layers"], fast["layers"]) == ("plain", "fast")
    for row in (plain, fast):
        assert all(key in row for key in bench.REQUIRED_KEYS)
        assert (row["objective"], row["arch"], row["batch"]) == ("vae", "conv_mnist", 4)
        for key in POSITIVE_KEYS:
            value = row[key]
            assert isinstance(value, int | float) and math.isfinite(value) and value > 0, key
        assert math.isclose(row["images_per_s"], 4 * row["steps_per_s"])
        assert isinstance(row["device"], str) and row["device"]
        assert isinstance(row["xla_flags"], str)
        assert row["ceiling_precision"] == "highest"
        assert 0 < row["cores_busy"] <= row["cpu_count"] * 1.05
        if row.get("cpu_model"):  # lscpu's, where there is one
            assert all(f.startswith(("avx", "amx", "fma")) for f in row["cpu_flags"])
    # The plain row's own count is the shared count; the fast row is charged the same work.
    assert plain["flops_per_step"] == plain["flops_per_step_own"] == fast["flops_per_step"]
    batch = bench.random_batch("conv_mnist", 4)
    assert bench.plain_step_flops("vae", "conv_mnist", batch) == plain["flops_per_step"]


def test_ceiling_can_be_measured_at_the_steps_own_precision():
    bench = _load_benchmark()
    ceiling = bench.matmul_ceiling(64, 1, "default")
    assert ceiling["ceiling_precision"] == "default" and ceiling["ceiling_gflops"] > 0
    assert bench.parse_args(["--ceiling_precision=default"]).ceiling_precision == "default"
