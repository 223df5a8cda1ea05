"""A thin orbax `CheckpointManager` wrapper: save, restore the latest, keep the last k.

Checkpoints live in `WORKDIR/checkpoints/<step>/`. Orbax writes each one to a temporary folder
and renames it when complete, so an interrupted save never replaces a good checkpoint.
A checkpoint that cannot be read is reported with a one-line `CheckpointError` naming it; it
is never deleted or overwritten by us.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from absl import logging

from pga_jax.errors import UserError


class CheckpointError(UserError, RuntimeError):
    """An unreadable checkpoint; the message names it and says how to proceed."""


class QuietOrbax:
    """absl log filter: drops orbax's INFO chatter (several lines per checkpoint); warnings pass."""

    def filter(self, record) -> bool:
        return record.levelno > logging.converter.STANDARD_INFO or "/orbax/" not in record.pathname


class Checkpointer:
    def __init__(self, workdir: str, keep: int):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        self._manager.save(step, args=ocp.args.StandardSave(state))

    def restore_latest(self, target):
        """Restores the latest checkpoint into the structure of `target` (None if there is none)."""
        step = self.latest_step()
        if step is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        path = os.path.join(self.directory, str(step))
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # orbax raises many types for a damaged or foreign checkpoint
            text = str(e).strip()
            first_line = text.splitlines()[0][:200] if text else ""
            raise CheckpointError(
                f"checkpoint {path} cannot be restored ({type(e).__name__}: {first_line}); "
                "move that folder aside to resume from the previous checkpoint, or use a new "
                "--workdir"
            ) from e

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
