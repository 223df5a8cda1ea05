"""What /proc/cpuinfo says the CPU is: the facts the CPU policy (policy.py) decides on."""

from __future__ import annotations

from typing import NamedTuple


class CpuIdentity(NamedTuple):
    """What /proc/cpuinfo says the CPU is: its vendor_id, cpu family and flags."""

    vendor: str
    family: int | None
    flags: frozenset[str]


def cpu_identity(cpuinfo: str = "/proc/cpuinfo") -> CpuIdentity:
    """The CPU as /proc/cpuinfo gives it; ("", None, {}) without that file."""
    vendor, family, flags = "", None, frozenset()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id":
                    vendor = value.strip()
                elif key == "cpu family" and value.strip().isdigit():
                    family = int(value)
                elif key == "flags":
                    flags = frozenset(value.split())
    except OSError:
        pass
    return CpuIdentity(vendor, family, flags)
