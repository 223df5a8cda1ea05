"""benchmarks/cpu_info.py: the CPU named in every benchmark row, and the cores-busy clock."""

import importlib.util
import os

import pytest

MODULE = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "cpu_info.py")

# Abridged `lscpu` of two machines this project was measured on (padding shortened).
XEON_AMX = """\
Architecture:     x86_64
Vendor ID:        GenuineIntel
BIOS Vendor ID:   QEMU
Model name:       Intel(R) Xeon(R) Processor
BIOS Model name:  pc-q35-8.2
CPU family:       6
Model:            167
Flags: fpu fma avx avx2 avx512f avx512bw avx_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile
"""
EPYC_AVX2 = """\
  Model name:            AMD EPYC 7B13
    CPU family:          25
    Model:               1
    Flags:               fpu sse2 fma avx avx2 sha_ni
"""


def _load():
    spec = importlib.util.spec_from_file_location("cpu_info", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lscpu_fields_and_the_vector_flags_only():
    cpu_info = _load()
    xeon = cpu_info.parse_lscpu(XEON_AMX)
    assert xeon == {
        "cpu_model": "Intel(R) Xeon(R) Processor",
        "cpu_family": "6",
        "cpu_model_number": "167",
        "cpu_flags": [
            "fma", "avx", "avx2", "avx512f", "avx512bw", "avx_vnni", "avx512_bf16", "amx_bf16",
            "avx512_fp16", "amx_tile",
        ],
    }  # fmt: skip
    assert cpu_info.describe(xeon) == (
        "cpu: Intel(R) Xeon(R) Processor, family 6 model 167; "
        "avx512f avx512bw avx512_bf16 amx_bf16 avx512_fp16 amx_tile"
    )
    epyc = cpu_info.parse_lscpu(EPYC_AVX2)
    assert (epyc["cpu_model"], epyc["cpu_family"], epyc["cpu_model_number"]) == (
        "AMD EPYC 7B13",
        "25",
        "1",
    )
    assert cpu_info.describe(epyc) == "cpu: AMD EPYC 7B13, family 25 model 1; avx2"
    assert cpu_info.describe({}) == "cpu: unknown (no lscpu)"


def test_this_machine_is_described_where_lscpu_exists():
    cpu_info = _load()
    info = cpu_info.cpu()
    if not info:
        pytest.skip("no lscpu here")
    assert info["cpu_model"] and all(f.startswith(("avx", "amx", "fma")) for f in info["cpu_flags"])


def test_cores_busy_is_cpu_time_over_wall_time():
    # Clocks the test sets, not the machine's: no timing is asserted (that is a benchmark's job).
    cpu_info = _load()
    wall, cpu = iter([10.0, 12.0, 20.0, 20.5]).__next__, iter([1.0, 1.5, 3.0, 3.5]).__next__
    with cpu_info.BusyClock(wall, cpu) as mostly_idle:  # 0.5 CPU seconds over 2 wall seconds
        pass
    assert (mostly_idle.wall_s, mostly_idle.cpu_s, mostly_idle.cores_busy) == (2.0, 0.5, 0.25)
    with cpu_info.BusyClock(wall, cpu) as busy:  # one core busy all along
        pass
    assert busy.cores_busy == 1.0
