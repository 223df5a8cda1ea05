"""Metric writers for training and evaluation: TensorBoard when tensorflow is installed.

clu's TensorBoard writer is TensorFlow's, and importing `clu.metric_writers` (also done by
`clu.periodic_actions`) imports it. GPU images often carry jax and torch but no tensorflow. There
`clu()` registers a stand-in for that one module before importing clu, so the rest of clu
(logging and async writers, `ReportProgress`) works, and `create_writer` logs scalars only, with
one warning that names the fix. `metrics.jsonl` and the PNGs are written either way.
"""

from __future__ import annotations

import importlib.util
import sys
import types

from absl import logging

_SUMMARY_WRITER = "clu.metric_writers.summary_writer"
NO_TENSORFLOW = (
    "tensorflow is not installed, so no TensorBoard event files are written to %s "
    "(metrics.jsonl and the PNGs still are); pip install tensorflow-cpu to get them"
)


def have_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


class _NoSummaryWriter:
    def __init__(self, *args, **kwargs):
        raise ImportError("TensorBoard event files need tensorflow: pip install tensorflow-cpu")


def clu() -> tuple[types.ModuleType, types.ModuleType]:
    """(clu.metric_writers, clu.periodic_actions), importable with or without tensorflow."""
    if not have_tensorflow() and _SUMMARY_WRITER not in sys.modules:
        stand_in = types.ModuleType(_SUMMARY_WRITER)
        stand_in.SummaryWriter = _NoSummaryWriter
        sys.modules[_SUMMARY_WRITER] = stand_in
    from clu import metric_writers, periodic_actions  # noqa: PLC0415

    return metric_writers, periodic_actions


def create_writer(logdir: str, *, just_logging: bool = False, asynchronous: bool = False):
    """clu's default writer (absl log + TensorBoard in `logdir`); logs only without tensorflow."""
    metric_writers, _ = clu()
    if not just_logging and not have_tensorflow():
        logging.warning(NO_TENSORFLOW, logdir)
        just_logging = True
    return metric_writers.create_default_writer(
        logdir, just_logging=just_logging, asynchronous=asynchronous
    )


def report_progress(**kwargs):
    """clu's `periodic_actions.ReportProgress` (steps/s and ETA), with or without tensorflow."""
    return clu()[1].ReportProgress(**kwargs)
