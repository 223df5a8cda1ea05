"""A thin orbax `CheckpointManager` wrapper: save, restore the latest that verifies, keep k.

Checkpoints live in `WORKDIR/checkpoints/<step>/`. Orbax writes each one to a temporary folder
and renames it when complete, so an interrupted save never replaces a good checkpoint.

Integrity: once a save has finished, a manifest of its files (size and sha256 each) is written
atomically INTO the checkpoint's own folder, `checkpoints/<step>/pga_jax_manifest.json`, so a
`checkpoints/` folder copied alone keeps its protection (runs of before issue 35 kept it in
`WORKDIR/checkpoint_manifests/<step>.json`, still read). Restoring checks the checkpoint's files
against it (a damaged byte or a single flipped bit is found) and checks that every restored
float array is finite; a partial restore (inference) also checks that the checkpoint holds
exactly the parameters the config's networks have. A checkpoint without any manifest (older
runs, or copied without it) is refused in one line naming it, unless `allow_unverified`
(`--allow_unverified_checkpoint`): then it is used and `unverified` lists its step, which the
caller records. A step folder that is empty or has no orbax metadata (a copy or another
tool's write that stopped part-way) is not a checkpoint: it is skipped. A checkpoint that fails
is a one-line `CheckpointError` naming it. Training (`fallback=True`) instead resumes from the
newest checkpoint that verifies, saying so, after moving each newer bad or incomplete one to
`WORKDIR/bad_checkpoints/<step>` (kept, never overwritten); when none verifies, nothing is moved
and the error is raised. After a failed restore the orbax manager is made anew, so the older
steps are read by a manager in a clean state.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from pga_jax import atomic, distributed, sharding
from pga_jax.errors import UserError


class CheckpointError(UserError, RuntimeError):
    """An unreadable checkpoint; the message names it and says how to proceed."""


# orbax's warnings that say nothing is wrong: a save waited for the one before it.
ROUTINE_ORBAX_WARNINGS = ("Waiting for previous save",)


class QuietOrbax:
    """absl log filter: drops orbax's INFO chatter (several lines per checkpoint); its warnings
    and errors pass as one line each, without the tracebacks of its background threads (a
    failed save is reported once, as CheckpointError, by `Checkpointer.save`). With
    `routine=False` (the Python API's) its routine warnings (`ROUTINE_ORBAX_WARNINGS`) are
    dropped too."""

    def __init__(self, routine: bool = True):
        self.routine = routine

    def filter(self, record) -> bool:
        if "/asyncio/" in record.pathname and "orbax" in str(record.exc_info):
            pass  # "Task exception was never retrieved" of orbax's writers: one line too
        elif "/orbax/" not in record.pathname:
            return True
        elif record.levelno <= logging.converter.STANDARD_INFO:
            return False
        elif not self.routine and str(record.msg).startswith(ROUTINE_ORBAX_WARNINGS):
            return False
        if record.exc_info or "\n" in record.getMessage():
            record.msg, record.args = " ".join(record.getMessage().split())[:300], ()
            record.exc_info = record.exc_text = None
        return True


@contextlib.contextmanager
def quiet_orbax():
    """For the Python API (`pga_jax.train`), while it runs: orbax's chatter and routine
    warnings are not shown (`QuietOrbax(routine=False)` on absl's logger, removed after)."""
    import logging as std_logging  # noqa: PLC0415  (absl's logging is imported as `logging`)

    logger, quiet = std_logging.getLogger("absl"), QuietOrbax(routine=False)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def ignore_closed_event_loops() -> None:
    """Keeps sys.excepthook and sys.unraisablehook (the path these take, as measured) from
    printing "RuntimeError: Event loop is closed" tracebacks: orbax's writer threads raise them
    by the dozen after a failed save (disk full), burying the one-line error; every other
    exception is printed as before."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if kind is RuntimeError and str(value) == "Event loop is closed":
            return
        previous(kind, value, tb)

    sys.excepthook = hook
    previous_unraisable = sys.unraisablehook

    def unraisable(info):
        if info.exc_type is RuntimeError and str(info.exc_value) == "Event loop is closed":
            return
        previous_unraisable(info)

    sys.unraisablehook = unraisable


MANIFESTS = "checkpoint_manifests"  # the manifests of runs before issue 35 (read, not written)
MANIFEST = "pga_jax_manifest.json"  # each checkpoint's manifest, inside its step folder
BAD_CHECKPOINTS = "bad_checkpoints"
# What orbax writes into a step folder last (before renaming it into place): without it, a step
# folder is empty or partial, not a checkpoint.
ORBAX_METADATA = "_CHECKPOINT_METADATA"
ALLOW_UNVERIFIED_FLAG = "--allow_unverified_checkpoint"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_files(directory: str) -> dict[str, dict]:
    """{relative path: {"bytes", "sha256"}} of every file under a checkpoint's folder (but
    its manifest)."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel != MANIFEST:
                files[rel] = {"bytes": os.path.getsize(path), "sha256": _sha256(path)}
    return dict(sorted(files.items()))


def incomplete(directory: str) -> bool:
    """Whether a step folder is empty or partial: orbax's metadata file, written before the
    folder gets its step's name, is not there."""
    return not os.path.isfile(os.path.join(directory, ORBAX_METADATA))


def has_checksums(workdir: str, step: int) -> bool:
    """Whether checkpoint `step` of `workdir` has a manifest (in its folder, or the old place)."""
    checkpointer_paths = (
        os.path.join(workdir, "checkpoints", str(step), MANIFEST),
        os.path.join(workdir, MANIFESTS, f"{step}.json"),
    )
    return any(os.path.isfile(p) for p in checkpointer_paths)


def _leaf_paths(tree) -> set[str]:
    return {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)}


def non_finite_leaves(tree) -> list[str]:
    """Paths of the float leaves of `tree` that hold NaN or inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        value = sharding.to_host(leaf)
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad.append(jax.tree_util.keystr(path))
    return bad


class Checkpointer:
    def __init__(self, workdir: str, keep: int, allow_unverified: bool = False):
        self.workdir = os.path.abspath(workdir)
        self.directory = os.path.join(self.workdir, "checkpoints")
        self.keep = keep
        self.allow_unverified = allow_unverified
        self.unverified: list[int] = []  # steps restored without a manifest (allow_unverified)
        self._manager = self._new_manager()
        self._failed: list[int] = []  # steps whose save failed (their temporary folders go)

    def _new_manager(self):
        return ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True),
        )

    def _renew_manager(self) -> None:
        """A new orbax manager: after a failed restore (an empty step folder: "Must provide
        `args` of type `Composite`") orbax's manager fails on every other step too."""
        with contextlib.suppress(Exception):
            self._manager.close()
        self._manager = self._new_manager()

    def _incomplete(self) -> list[str]:
        """The temporary folders of this process's failed saves (only those)."""
        pattern = os.path.join(self.directory, "{}.orbax-checkpoint-tmp*")
        return [tmp for step in self._failed for tmp in glob.glob(pattern.format(step))]

    def _remove_incomplete(self) -> None:
        for tmp in self._incomplete():
            shutil.rmtree(tmp, ignore_errors=True)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def path(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def manifest_path(self, step: int) -> str:
        """Where checkpoint `step`'s manifest is written: inside its folder."""
        return os.path.join(self.path(step), MANIFEST)

    def old_manifest_path(self, step: int) -> str:
        """Where runs before issue 35 kept it: WORKDIR/checkpoint_manifests/<step>.json."""
        return os.path.join(self.workdir, MANIFESTS, f"{step}.json")

    def save(self, step: int, state) -> None:
        """Saves `state` as checkpoint `step`, waits for it, then writes its manifest (and
        drops the manifests of checkpoints orbax has since deleted)."""
        try:
            self._manager.save(step, args=ocp.args.StandardSave(state))
            self._manager.wait_until_finished()
        except Exception as e:  # disk full, permission, ...: orbax raises many types
            with contextlib.suppress(Exception):  # let its background writers end first
                self._manager.wait_until_finished()
            self._failed.append(step)
            self._remove_incomplete()
            text = " ".join(str(e).split())
            cause = "no space left on device" if "No space left" in text else text[:200]
            raise CheckpointError(
                f"saving checkpoint {self.path(step)} failed ({type(e).__name__}: {cause}); "
                "earlier checkpoints are kept: free space (or fix the folder) and rerun"
            ) from e
        if distributed.is_primary():  # every process's shards are written: orbax waited
            files = checkpoint_files(self.path(step))
            atomic.write_json(self.manifest_path(step), {"step": step, "files": files})
            self._drop_old_manifests()
        distributed.barrier(f"manifest {self.path(step)}")

    def _drop_old_manifests(self) -> None:
        """Removes the old-format manifests of checkpoints orbax has since deleted."""
        folder = os.path.join(self.workdir, MANIFESTS)
        if not os.path.isdir(folder):
            return
        kept = {str(s) for s in self._manager.all_steps()}
        for name in os.listdir(folder):
            if name.endswith(".json") and name[: -len(".json")] not in kept:
                os.remove(os.path.join(folder, name))

    def verify(self, step: int) -> str | None:
        """Why checkpoint `step` cannot be used, or None: it is empty or partial, its files
        differ from its manifest, or it has no manifest at all (unless `allow_unverified`:
        then its step is added to `unverified`)."""
        if incomplete(self.path(step)):
            return f"is empty or incomplete (no {ORBAX_METADATA}: a copy or write stopped part-way)"
        path = self.manifest_path(step)
        if not os.path.isfile(path):
            path = self.old_manifest_path(step)
        if not os.path.isfile(path):
            if self.allow_unverified:
                self.unverified.append(step)
                return None
            raise CheckpointError(
                f"checkpoint {self.path(step)} has no checksums (written before pga_jax kept "
                f"them, or copied without them), so a damaged byte would go unseen; pass "
                f"{ALLOW_UNVERIFIED_FLAG} to use it unverified (the run records that)"
            )
        try:
            with open(path) as f:
                want = json.load(f)["files"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"is damaged: its manifest {path} cannot be read ({' '.join(str(e).split())})"
        have = checkpoint_files(self.path(step))
        for rel, expected in want.items():
            got = have.get(rel)
            if got is None:
                return f"is missing its file {rel}"
            if got != expected:
                return f"is damaged: {rel} differs from its manifest (sha256 {got['sha256'][:12]})"
        return None

    def check_tree(self, step: int, target) -> str | None:
        """Why checkpoint `step` does not hold exactly the parameters (and BatchNorm statistics)
        of `target`, e.g. an LPGA checkpoint under a VPGA config (its log-variance head is
        missing), or None."""
        try:
            checkpointer = ocp.StandardCheckpointer()
            try:
                metadata = checkpointer.metadata(os.path.join(self.path(step), "default"))
            finally:
                checkpointer.close()
            saved = getattr(metadata, "item_metadata", metadata)
            saved = getattr(saved, "tree", saved)
        except Exception as e:  # orbax raises many types for an unreadable checkpoint
            return f"has unreadable metadata ({type(e).__name__})"
        for key in sorted(k for k in target if k in ("params", "batch_stats")):
            want = {f"{key}{p}" for p in _leaf_paths(target[key])}
            have = {f"{key}{p}" for p in _leaf_paths(saved.get(key) or {})}
            if want - have:
                return (
                    f"has no {sorted(want - have)[0]} that the config's networks need: the "
                    "config is of another run or objective; load it with the config it was "
                    "trained with"
                )
            if have - want:
                return (
                    f"holds {sorted(have - want)[0]} that the config's networks lack: the "
                    "config is of another run or objective; load it with the config it was "
                    "trained with"
                )
        return None

    def _restore(self, step: int, target, partial: bool = False):
        """(state, None) or (None, why step cannot be used)."""
        problem = self.verify(step)
        if problem:
            return None, problem
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        if partial:
            problem = self.check_tree(step, target)
            if problem:  # not damaged: the config is not the checkpoint's
                raise CheckpointError(f"checkpoint {self.path(step)} {problem}")
            # shapes without a place (jax.eval_shape's): on this process' first device
            here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            abstract = jax.tree.map(
                lambda x: (
                    x if x.sharding else jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here)
                ),
                abstract,
            )
            args = ocp.args.PyTreeRestore(
                abstract,
                restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
                partial_restore=True,
            )
        else:
            args = ocp.args.StandardRestore(abstract)
        try:
            state = self._manager.restore(step, args=args)
        except Exception as e:  # orbax raises many types for a damaged or foreign checkpoint
            text = str(e).strip()
            first_line = text.splitlines()[0][:200] if text else ""
            self._renew_manager()
            return None, f"cannot be restored ({type(e).__name__}: {first_line})"
        bad = non_finite_leaves(state)
        if bad:
            return None, f"holds NaN/inf values (in {', '.join(bad[:2])})"
        return state, None

    def steps(self) -> list[int]:
        """The steps of the checkpoints on disk, oldest first."""
        return sorted(self._manager.all_steps())

    def restore(self, step: int, target, partial: bool = False):
        """Checkpoint `step` restored into the structure of `target` (`partial` as in
        restore_latest). One that is not there or fails verification raises CheckpointError."""
        if step not in self._manager.all_steps():
            kept = ", ".join(map(str, self.steps())) or "none"
            raise CheckpointError(
                f"{self.directory} has no checkpoint of step {step} (it has: {kept}); "
                "pick one of those steps"
            )
        state, problem = self._restore(step, target, partial)
        if problem is not None:
            raise CheckpointError(f"checkpoint {self.path(step)} {problem}")
        return state

    def restore_latest(self, target, fallback: bool = False, partial: bool = False):
        """The newest checkpoint restored into the structure of `target` (None if there is
        none); `partial`: only the entries `target` has (e.g. the parameters, for inference).
        A checkpoint that fails verification raises CheckpointError; with `fallback`,
        the newest one that verifies is restored instead and the newer bad ones are moved to
        WORKDIR/bad_checkpoints/ (if none verifies, the error is raised, nothing moved)."""
        state, bad = None, []
        for step in reversed(self.steps()):
            if incomplete(self.path(step)):  # not a checkpoint: skipped (training: moved aside)
                if fallback:
                    moved = self._move_aside(step)
                    logging.warning(
                        "Step folder %s is empty or incomplete: moved to %s", self.path(step), moved
                    )
                else:
                    logging.warning(
                        "Step folder %s is empty or incomplete: skipped", self.path(step)
                    )
                continue
            state, problem = self._restore(step, target, partial)
            if problem is None:
                break
            bad.append((step, problem))
            if not fallback:
                break
        if not bad:
            self._manager.reload()
            return state
        if state is None:  # without fallback, or no checkpoint verifies: nothing is moved
            first, problem = bad[0]
            raise CheckpointError(
                f"checkpoint {self.path(first)} {problem}; move that folder aside to resume "
                "from the previous checkpoint, or use a new --workdir"
            )
        for bad_step, problem in bad:
            moved = self._move_aside(bad_step)
            logging.warning("Checkpoint %s %s: moved to %s", self.path(bad_step), problem, moved)
        self._manager.reload()
        logging.warning("Resuming from step %d, the newest checkpoint that verifies", step)
        return state

    def _move_aside(self, step: int) -> str:
        folder = os.path.join(self.workdir, BAD_CHECKPOINTS)
        os.makedirs(folder, exist_ok=True)
        dest, n = os.path.join(folder, str(step)), 1
        while os.path.exists(dest):  # never overwrite an earlier bad one
            dest, n = os.path.join(folder, f"{step}.{n}"), n + 1
        shutil.move(self.path(step), dest)  # with the manifest inside it
        manifest = self.old_manifest_path(step)
        if os.path.exists(manifest):
            shutil.move(manifest, dest + ".manifest.json")
        return dest

    def wait(self) -> None:
        """Waits for saves in flight (`save` already waits for its own, and reports a failure
        as CheckpointError, so what is left here is only logged)."""
        try:
            self._manager.wait_until_finished()
        except Exception as e:
            logging.warning("checkpoint save failed: %s", " ".join(str(e).split())[:200])

    def close(self) -> None:
        try:
            self._manager.close()
        except Exception as e:
            logging.warning("closing the checkpoint manager: %s", " ".join(str(e).split())[:200])
        # again: orbax's writer threads may recreate (empty) folders for a while after a
        # failed save; remove them until they stay gone (up to 2 s)
        self._remove_incomplete()
        for _ in range(10 if self._failed else 0):
            time.sleep(0.2)
            if not self._incomplete():
                break
            self._remove_incomplete()
