"""The one user-error type: a failure the user fixes (a flag, a config field, a file), which
every command line (`python -m pga_jax.<tool>`) prints as one line `error: ...`, no traceback.

Each layer subclasses it with its own name (ConfigError, DataError, CheckpointError, ...), so a
caller can catch one layer's errors or all of them with `except UserError`.
"""

from __future__ import annotations

import sys


class UserError(Exception):
    """A failure the message tells the user how to fix; shown as one line."""


def exit_with(error: BaseException | str) -> None:
    """Ends the process with the one line `error: <message>` (exit status 1)."""
    text = " ".join(str(error).split("\n"))
    sys.exit(f"error: {text}")


def plain_load_error(error: BaseException) -> str:
    """`error` from `np.load(..., allow_pickle=False)` in words that fit pga_jax: numpy's advice
    to "load it unsafely" (its answer to any file that is not a plain array file) becomes a
    statement that the file is damaged or not plain arrays, which pga_jax never unpickles."""
    text = " ".join(str(error).split())
    if "allow_pickle" in text or "pickled" in text:
        return "not a plain .npy / .npz array file (damaged, or pickled objects, never loaded)"
    return text
