"""The run record of a workdir: config.json written once, the resume policy (what must match to
resume, which settings may change and from which step), and the flat view of a config that
TensorBoard's hparams show."""

from __future__ import annotations

import json
import os

import ml_collections
from absl import logging

from pga_jax import atomic, config_fields, configs, distributed

CONFIG_FILE = "config.json"
# Written to a frozen member's workdir: the step whose loss was not finite and why.
FAILURE_FILE = "failure.json"


def check_same_run(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json once; refuses to resume a workdir trained with another model (a
    STRUCTURAL field of config_fields differs)."""
    path = os.path.join(workdir, CONFIG_FILE)
    current = json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        saved = read_config_json(path)

        def get(d, dotted):
            node, leaf = configs.walk(d, dotted)
            if node is None or leaf not in node:  # a field added since: an older run's value
                return configs.ADDED_FIELDS.get(dotted)
            return node[leaf]

        for key in config_fields.structural_keys(config.model.arch):
            if get(saved, key) != get(current, key):
                raise configs.ConfigError(
                    f"{workdir} holds a run with {key}={get(saved, key)!r}, not "
                    f"{get(current, key)!r}; use a new --workdir to start a different run"
                )
    elif distributed.is_primary():
        os.makedirs(workdir, exist_ok=True)
        atomic.write_json(path, current)
    distributed.barrier("config.json")  # the other processes read it next


def read_config_json(path: str) -> dict:
    """A run's config.json; a file that is not a JSON object is a one-line ConfigError."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise configs.ConfigError(
            f"{path} is not JSON ({' '.join(str(e).split())[:120]}); restore it from a copy (or "
            "write it anew from the same config: move it aside and rerun), or use a new --workdir"
        ) from None
    if not isinstance(saved, dict):
        raise configs.ConfigError(f"{path} is not a JSON object; restore it from a copy")
    return saved


def check_same_settings(
    config: ml_collections.ConfigDict, workdir: str, start: int, allow_changes: bool
) -> None:
    """Refuses to resume at step `start` with other objective / optimiser values than the run
    had, unless `allow_changes`: then config.json records the change with its step."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path) as f:
        saved = json.load(f)
    current = json.loads(config.to_json_best_effort())
    diff = configs.changed_settings(configs.in_force(saved, start + 1).to_dict(), current)
    if not diff or start == 0 and not saved.get(configs.CHANGES):
        if diff and distributed.is_primary():  # nothing trained: the new settings apply
            atomic.write_json(path, current)
        return
    listed = ", ".join(f"{k}={old!r} -> {new!r}" for k, (old, new) in diff.items())
    if not allow_changes:
        raise configs.ConfigError(
            f"{workdir} was trained to step {start} with other settings ({listed}); pass "
            "--allow_changed_settings to change them from here on (config.json records it), "
            "or use a new --workdir"
        )
    saved.setdefault(configs.CHANGES, []).append(
        {"step": start, "set": {k: new for k, (_, new) in diff.items()}}
    )
    if distributed.is_primary():
        atomic.write_json(path, saved)
    logging.warning(
        "Settings changed from step %d on: %s (recorded in %s)", start + 1, listed, path
    )


def record_runtime(workdir: str, start: int, runtime: dict) -> None:
    """Appends to config.json how the run computes from step `start` on (cpu.paths(): the
    backend, the CPU's compile options and oneDNN), unless the last record says the same."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path) as f:
        saved = json.load(f)
    records = saved.setdefault(configs.RUNTIME, [])
    if records and {k: v for k, v in records[-1].items() if k != "step"} == runtime:
        return
    records.append({"step": start, **runtime})
    if distributed.is_primary():
        atomic.write_json(path, saved)
    logging.info("From step %d: %s (recorded in %s)", start, runtime, path)


def record_unverified_checkpoint(workdir: str, step: int) -> None:
    """Appends to config.json that the run resumed from checkpoint `step` without checksums
    (--allow_unverified_checkpoint)."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path) as f:
        saved = json.load(f)
    saved.setdefault(configs.UNVERIFIED, []).append({"step": step})
    if distributed.is_primary():
        atomic.write_json(path, saved)
    logging.warning(
        "Resumed from checkpoint %d without checksums, unverified (recorded in %s)", step, path
    )


def flat_hparams(config: ml_collections.ConfigDict) -> dict:
    """{dotted.name: value} of a config's scalar fields (TensorBoard's hparams)."""
    flat = configs.flatten(config.to_dict())
    return {k: v for k, v in flat.items() if isinstance(v, int | float | str | bool)}
