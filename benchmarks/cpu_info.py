"""What machine a benchmark row was measured on, and how busy its cores were.

CPUs differ between sessions (AVX2 EPYC, AVX-512 Zen, Intel Xeon with AMX) and a timing means
something only next to what measured it, so every row carries `cpu()`: lscpu's model name,
family and model number and the vector flags that decide which kernels run (avx*, amx*, fma).
`cores_busy` is the process's CPU time over the wall time of the timed work: 2.0 on two cores
means no core waited; less shows the time a step leaves a core idle.
"""

from __future__ import annotations

import subprocess
import time

VECTOR_FLAG_PREFIXES = ("avx", "amx", "fma")


def parse_lscpu(text: str) -> dict:
    """lscpu's output -> {cpu_model, cpu_family, cpu_model_number, cpu_flags}."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = fields.get("Flags", "").split()
    return {
        "cpu_model": fields.get("Model name", ""),
        "cpu_family": fields.get("CPU family", ""),
        "cpu_model_number": fields.get("Model", ""),
        "cpu_flags": [f for f in flags if f.startswith(VECTOR_FLAG_PREFIXES)],
    }


def cpu() -> dict:
    """This machine's `parse_lscpu` fields; empty where there is no lscpu (macOS)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return parse_lscpu(out)


def describe(info: dict) -> str:
    """One line for a table's header: model, family / model number, the avx512 / amx flags."""
    if not info.get("cpu_model"):
        return "cpu: unknown (no lscpu)"
    wide = [f for f in info["cpu_flags"] if f.startswith(("avx512", "amx"))]
    vector = " ".join(wide) or ("avx2" if "avx2" in info["cpu_flags"] else "no avx2")
    return (
        f"cpu: {info['cpu_model']}, family {info['cpu_family']} model "
        f"{info['cpu_model_number']}; {vector}"
    )


class BusyClock:
    """Wall and process CPU time over a span: `cores_busy` = CPU seconds / wall seconds
    (the clocks: time.perf_counter and time.process_time, unless given)."""

    def __init__(self, wall_clock=time.perf_counter, cpu_clock=time.process_time):
        self._wall_clock, self._cpu_clock = wall_clock, cpu_clock

    def __enter__(self) -> BusyClock:
        self._wall, self._cpu = self._wall_clock(), self._cpu_clock()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = self._wall_clock() - self._wall
        self.cpu_s = self._cpu_clock() - self._cpu

    @property
    def cores_busy(self) -> float:
        return self.cpu_s / max(self.wall_s, 1e-9)
