"""How a run stops early: SIGINT / SIGTERM between two steps (after a checkpoint of the last
step), or a loss that is not finite (the last good checkpoint kept)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading

from absl import logging

from pga_jax import errors


class Stopped(errors.UserError):
    """SIGINT / SIGTERM stopped the run between two steps, after saving a checkpoint of the
    last step; the process should exit with `exit_code` (128 + the signal: 130, 143)."""

    def __init__(self, step: int, signum: int):
        super().__init__(f"stopped at step {step}; the same command resumes")
        self.step, self.exit_code = step, 128 + signum


@contextlib.contextmanager
def stop_requests():
    """While inside, SIGINT / SIGTERM only record a request (yielded list of signal numbers)
    that the loop honours between steps, so a checkpoint save in flight is always finished;
    a second signal acts at once (KeyboardInterrupt / SystemExit). Main thread only."""
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signums}

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
        requested.append(signum)
        logging.warning("%s: stopping after this step", signal.Signals(signum).name)

    for s in signums:
        signal.signal(s, handler)
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class NonFiniteLossError(errors.UserError, FloatingPointError):
    """Training produced a NaN/inf loss; the last good checkpoint is left intact."""


def non_finite_error(metrics: dict[str, float], step: int, last_good: int | None):
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    return NonFiniteLossError(
        f"non-finite {', '.join(bad) or 'loss'} by step {step}; the last good checkpoint "
        f"(step {last_good}) is intact: lower --config.optim.learning_rate and rerun"
    )
