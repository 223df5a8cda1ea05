"""Metric writers for training and evaluation: absl logging plus TensorBoard event files.

The event files are written by `event_writer.EventFileMetricWriter` (the `tensorboard`
package's own writer and protos), not by clu's TensorFlow writer, so TensorFlow is not needed:
the same files are written with or without it. Importing `clu.metric_writers` (also done by
`clu.periodic_actions`) imports clu's TensorFlow writer module; where tensorflow is missing,
`clu()` registers a stand-in for that one module first, so the rest of clu (logging and
multi-writers, `ReportProgress`) works.
"""

from __future__ import annotations

import importlib.util
import sys
import types

_SUMMARY_WRITER = "clu.metric_writers.summary_writer"


def have_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


class _NoSummaryWriter:
    def __init__(self, *args, **kwargs):
        raise ImportError("clu's SummaryWriter needs tensorflow; pga_jax writes events without it")


def clu() -> tuple[types.ModuleType, types.ModuleType]:
    """(clu.metric_writers, clu.periodic_actions), importable with or without tensorflow."""
    if not have_tensorflow() and _SUMMARY_WRITER not in sys.modules:
        stand_in = types.ModuleType(_SUMMARY_WRITER)
        stand_in.SummaryWriter = _NoSummaryWriter
        sys.modules[_SUMMARY_WRITER] = stand_in
    from clu import metric_writers, periodic_actions  # noqa: PLC0415

    return metric_writers, periodic_actions


def create_writer(logdir: str, *, just_logging: bool = False, asynchronous: bool = False):
    """A clu MetricWriter: absl logging, and TensorBoard event files in `logdir` unless
    `just_logging`."""
    metric_writers, _ = clu()
    from pga_jax.event_writer import EventFileMetricWriter  # noqa: PLC0415  (after clu())

    parts = [metric_writers.LoggingWriter()]
    if not just_logging:
        parts.append(EventFileMetricWriter(logdir))
    cls = metric_writers.AsyncMultiWriter if asynchronous else metric_writers.MultiWriter
    return cls(parts)


def report_progress(**kwargs):
    """clu's `periodic_actions.ReportProgress` (steps/s and ETA), with or without tensorflow."""
    return clu()[1].ReportProgress(**kwargs)
