"""The layout of a run's workdir, read without loading JAX or TensorFlow (sweeps, reports).

WORKDIR/config.json            the run's config (training/run_record.py, written once; settings
                               changed on a resume are appended under "changes",
                               configs.settings_at; the backend and CPU paths of each start
                               that computes differently from the last, under "runtime")
WORKDIR/checkpoints/<step>/    orbax checkpoints (checkpointing.py), each with its manifest
                               pga_jax_manifest.json: size and sha256 of each of its files
WORKDIR/checkpoint_manifests/  <step>.json: the manifests of runs before issue 35 (still read)
WORKDIR/bad_checkpoints/       checkpoints that failed verification (or empty / partial step
                               folders), moved aside by training
WORKDIR/.lock                  held (flock) by the process training the run (workdir_lock.py)
WORKDIR/metrics.jsonl          logged training scalars (pga_jax.curves); lines of steps after a
                               resume's start move to metrics.rolled_back.jsonl
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
    except (FileNotFoundError, NotADirectoryError):
        return None
    return max((int(d) for d in names if d.isdigit()), default=None)


def evaluated_step(workdir: str) -> int | None:
    """The step recorded in WORKDIR/eval/eval.json, or None (absent or unreadable)."""
    try:
        with open(eval_json(workdir)) as f:
            return int(json.load(f)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
