"""benchmarks/train_step.py runs end to end on one tiny row and writes a complete JSON row."""

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


def test_tiny_row_has_every_key_with_positive_finite_numbers(tmp_path):
    bench = _load_benchmark()
    out = tmp_path / "rows.json"
    rows = bench.main(
        [
            "--objectives=vae",
            "--archs=conv_mnist",
            "--batches=4",
            "--steps=1",
            "--repeats=1",
            "--warmup=1",
            "--ceiling_n=256",
            "--ceiling_repeats=1",
            f"--json={out}",
        ]
    )
    saved = json.loads(out.read_text())
    assert isinstance(saved, list) and len(saved) == len(rows) == 1
    row = saved[0]
    for key in bench.REQUIRED_KEYS:
        assert key in row, key
    assert (row["objective"], row["arch"], row["batch"]) == ("vae", "conv_mnist", 4)
    assert row["layers"] in ("plain", "fast")
    for key in POSITIVE_KEYS:
        value = row[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, value)
    assert math.isclose(row["images_per_s"], 4 * row["steps_per_s"])
    assert isinstance(row["device"], str) and row["device"]
    assert isinstance(row["xla_flags"], str)


def test_flop_count_is_the_plain_step_compiled_for_cpu_whichever_layers_run():
    bench = _load_benchmark()
    args = ["--objectives=vae", "--archs=conv_mnist", "--batches=4", "--steps=1", "--repeats=1"]
    args += ["--warmup=1", "--ceiling_n=64", "--ceiling_repeats=1", "--compare_layers"]
    plain, fast = bench.main(args)
    assert (plain["layers"], fast["layers"]) == ("plain", "fast")
    # The plain row's own count is the shared count; the fast row is charged the same work.
    assert plain["flops_per_step"] == plain["flops_per_step_own"] == fast["flops_per_step"]
    batch = bench.random_batch("conv_mnist", 4)
    assert bench.plain_step_flops("vae", "conv_mnist", batch) == plain["flops_per_step"]
