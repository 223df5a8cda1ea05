"""The layout of a run's workdir, read without loading JAX or TensorFlow (sweeps, reports).

WORKDIR/config.json            the run's config (training/run_record.py, written once; settings
                               changed on a resume are appended under "changes",
                               configs.settings_at; the backend and CPU paths of each start
                               that computes differently from the last, under "runtime")
WORKDIR/checkpoints/<step>/    orbax checkpoints (checkpointing.py)
WORKDIR/checkpoint_manifests/  <step>.json: size and sha256 of each checkpoint file
WORKDIR/bad_checkpoints/       checkpoints that failed verification, moved aside by training
WORKDIR/metrics.jsonl          logged training scalars (pga_jax.curves)
WORKDIR/fid.jsonl              FID during training, when config.fid_every > 0
WORKDIR/eval/eval.json         the evaluation of the latest checkpoint (pga_jax.evaluate)
"""

from __future__ import annotations

import json
import os

EVAL_DIR = "eval"
EVAL_FILE = "eval.json"


def eval_json(workdir: str) -> str:
    return os.path.join(workdir, EVAL_DIR, EVAL_FILE)


def workdir_of_eval_json(path: str) -> str:
    """WORKDIR of WORKDIR/eval/eval.json (relative if `path` is)."""
    return os.path.dirname(os.path.dirname(os.path.normpath(path))) or "."


def latest_checkpoint_step(workdir: str) -> int | None:
    """The newest complete checkpoint's step, or None. Orbax writes a checkpoint into a
    temporary folder and renames it to its step number only once it is complete."""
    try:
        names = os.listdir(os.path.join(workdir, "checkpoints"))
    except FileNotFoundError:
        return None
    return max((int(d) for d in names if d.isdigit()), default=None)


def evaluated_step(workdir: str) -> int | None:
    """The step recorded in WORKDIR/eval/eval.json, or None (absent or unreadable)."""
    try:
        with open(eval_json(workdir)) as f:
            return int(json.load(f)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
