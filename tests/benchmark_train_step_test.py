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
