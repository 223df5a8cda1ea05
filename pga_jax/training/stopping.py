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


def likely_cause(metrics: dict[str, float]) -> str:
    """What a run's non-finite metrics (means since the last log) most likely mean, and the
    fix, from which of them are not finite: a loss term (-inf: a log of an exact zero; NaN or
    +inf: outputs that overflowed), only the weighted sums (a weight too large), or only the
    gradients."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    terms = sorted(k for k in bad if k.startswith("terms/"))
    if terms:
        minus_inf = [k for k in terms if bad[k] == -math.inf]
        if minus_inf:
            return (
                f"{minus_inf[0]} is -inf, the log of an exact zero (a variance or a distance "
                "h(z + delta) - h(z) that vanished in float32: the networks collapsed there); "
                "start again in a new --workdir with another --config.seed"
            )
        return (
            f"{terms[0]} is {bad[terms[0]]}: the networks' outputs overflowed, the steps "
            "diverged; lower --config.optim.learning_rate (with --allow_changed_settings) and "
            "rerun"
        )
    sums = sorted(k for k in bad if not k.startswith("grad_norm"))
    if sums:
        return (
            f"every term is finite but their weighted sum ({sums[0]}) is not: a weight of "
            "config.objective is too large; lower it (with --allow_changed_settings) and rerun"
        )
    return (
        "the gradients overflowed; lower --config.optim.learning_rate (with "
        "--allow_changed_settings) and rerun"
    )


def non_finite_error(metrics: dict[str, float], step: int, last_good: int | None):
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    return NonFiniteLossError(
        f"non-finite {', '.join(bad) or 'loss'} by step {step}: {likely_cause(metrics)}; the "
        f"last good checkpoint (step {last_good}) is intact"
    )
