"""Sweeps: a grid of config settings x seeds, one workdir per run, trained one after another.

    python -m pga_jax.sweep --config=experiments/mnist_lpga.py --seeds=3 \
        --set=objective.alpha=0,0.06 [--config.num_steps=20000 ...] [--evaluate] [--dry_run]

Each `--set=KEY=V1,V2,...` is one axis of the grid (several `--set` flags: their cartesian
product); `--seeds=N` runs seeds `first_seed .. first_seed + N - 1` of every grid point.
`--config.KEY=VALUE` flags are passed to every run unchanged. Run i trains in

    WORKDIR_ROOT/<config stem>[_<variant>]/<key>=<value>,...,seed=<seed>

(e.g. `runs/mnist_lpga/alpha=0,seed=1`; a key is named by its last part unless two keys share
it) with `python -m pga_jax.main --config=... --workdir=... --config.seed=S --config.KEY=V ...`,
followed by `python -m pga_jax.evaluate --workdir=...` with `--evaluate`.

Runs execute sequentially, here. A run whose latest checkpoint is at `num_steps` (and, with
`--evaluate`, whose eval.json is of that step) is skipped; any other run is (re)started, and
`pga_jax.main` resumes it from its latest checkpoint, so an interrupted sweep is finished by
starting the same command again. A failed run is reported and the sweep goes on with the next.
`--dry_run` prints the command of every unfinished run, one shell line each (training and
evaluation joined by `&&`), for a cluster scheduler, and runs nothing.

`--population` trains the unfinished runs together in this process as one population
(`training.train_population`: one stacked state, one compiled program; the runs may differ only in
seed and the objective's numbers, else a one-line error names the key), with the same grid,
workdirs and skip / resume rules; a member whose loss goes NaN/inf is frozen and the others go
on. With `--evaluate`, one `pga_jax.evaluate` over all their workdirs then scores every
member's samples in one feature pass. From Python: `run_population(plan(...), ...)`.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shlex
import subprocess
import sys

import ml_collections
from absl import logging

from pga_jax import configs, errors, population, training, workdirs

CONFIG_PREFIX = "--config."
_SAFE = re.compile(r"[^A-Za-z0-9._+\-=,]")


class SweepError(errors.UserError, ValueError):
    """A sweep that cannot be laid out; the message names the flag to change."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of the grid: its workdir, seed and the `--config.KEY=VALUE` overrides it gets."""

    workdir: str
    seed: int
    settings: tuple[tuple[str, str], ...]  # the grid point: (dotted key, value text)
    overrides: tuple[tuple[str, str], ...]  # pass-through overrides, the same for every run
    num_steps: int  # what "finished" means for this run
    # the run's config, as `train_command` makes it (for training in this process)
    config: ml_collections.ConfigDict = dataclasses.field(compare=False, repr=False)

    def train_command(self, config_arg: str, python: str = "python") -> list[str]:
        args = [python, "-m", "pga_jax.main", f"--config={config_arg}", f"--workdir={self.workdir}"]
        args.append(f"{CONFIG_PREFIX}seed={self.seed}")
        args += [f"{CONFIG_PREFIX}{k}={v}" for k, v in (*self.settings, *self.overrides)]
        return args

    def evaluate_command(self, extra: list[str], python: str = "python") -> list[str]:
        return [python, "-m", "pga_jax.evaluate", f"--workdir={self.workdir}", *extra]


def parse_set(spec: str) -> tuple[str, list[str]]:
    """`--set` text as (key, values): objective.alpha=0,0.06 -> objective.alpha, ["0", "0.06"]."""
    key, sep, values = spec.partition("=")
    items = [v.strip() for v in values.split(",")]
    if not sep or not key.strip() or not all(items):
        raise SweepError(f"--set={spec} is not KEY=V1,V2,...")
    key = key.strip().removeprefix("config.")
    if key == "seed":
        raise SweepError("--set=seed=... : use --seeds=N (and --first_seed) for seeds")
    return key, items


def _cast(current, text: str, where: str):
    """`text` as the type of the config field's `current` value (what absl's parser accepts)."""
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        raise SweepError(
            f"{where}: {text!r} is not a valid {type(current).__name__} for that field"
        ) from None
    return text


def apply_override(config: ml_collections.ConfigDict, key: str, text: str, where: str) -> None:
    """Sets config.KEY from its text as `--config.KEY=text` would; unknown keys are refused."""
    node, leaf = configs.walk(config, key)
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        raise SweepError(
            f"{where}: unknown config field {key!r}; check the spelling against the config "
            "file (fields: pga_jax/configs.py)"
        )
    node[leaf] = _cast(node[leaf], text, where)


def _short_names(keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key, or the whole key where two keys share it."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def run_name(settings: tuple[tuple[str, str], ...], seed: int, names: dict[str, str]) -> str:
    """The grid point and the seed as one path component, e.g. alpha=0,seed=1."""
    parts = [f"{names[k]}={v}" for k, v in settings] + [f"seed={seed}"]
    return _SAFE.sub("_", ",".join(parts))


def plan(
    config_arg: str,
    sets: list[str],
    seeds: int,
    first_seed: int = 0,
    overrides: list[str] = (),
    workdir_root: str = "runs",
) -> list[RunSpec]:
    """Every run of the grid, in order; the config and all settings are checked first."""
    if seeds <= 0:
        raise SweepError(f"--seeds={seeds} must be positive")
    path, variant = configs.split_variant(config_arg)
    base = configs.load_experiment(path, variant)
    axes = [parse_set(s) for s in sets]
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise SweepError(f"--set names a key twice: {keys}")
    passed = []
    for arg in overrides:
        key, sep, value = arg.removeprefix(CONFIG_PREFIX).partition("=")
        if not sep:
            raise SweepError(f"{arg} is not --config.KEY=VALUE")
        if key in keys or key == "seed":
            raise SweepError(f"{arg} collides with --set / --seeds; set {key} in one place")
        passed.append((key, value))
    names = _short_names(keys)
    stem = os.path.basename(path).removesuffix(".py") + (f"_{variant}" if variant else "")
    runs = []
    for values in itertools.product(*[vals for _, vals in axes]):
        settings = tuple(zip(keys, values, strict=True))
        config = ml_collections.ConfigDict(base.to_dict())
        for key, value in passed:
            apply_override(config, key, value, f"{CONFIG_PREFIX}{key}={value}")
        for key, value in settings:
            apply_override(config, key, value, f"--set={key}={','.join(dict(axes)[key])}")
        configs.validate(config)
        for seed in range(first_seed, first_seed + seeds):
            workdir = os.path.join(workdir_root, stem, run_name(settings, seed, names))
            run_config = ml_collections.ConfigDict(config.to_dict())
            run_config.seed = seed
            runs.append(
                RunSpec(workdir, seed, settings, tuple(passed), config.num_steps, run_config)
            )
    return runs


def status(run: RunSpec, with_eval: bool) -> tuple[bool, bool]:
    """(needs training, needs evaluation) of a run."""
    trained = (workdirs.latest_checkpoint_step(run.workdir) or 0) >= run.num_steps
    evaluated = not with_eval or (workdirs.evaluated_step(run.workdir) or -1) >= run.num_steps
    return not trained, not evaluated


def commands(
    run: RunSpec, config_arg: str, with_eval: bool, eval_args: list[str], python: str = "python"
) -> list[list[str]]:
    """The commands an unfinished run still needs (empty for a finished one)."""
    need_train, need_eval = status(run, with_eval)
    out = [run.train_command(config_arg, python)] if need_train else []
    if with_eval and (need_train or need_eval):
        out.append(run.evaluate_command(eval_args, python))
    return out


def execute(
    runs: list[RunSpec], config_arg: str, with_eval: bool, eval_args: list[str], dry_run: bool
) -> int:
    """Runs (or, dry, prints) what each run still needs; returns the number of failed runs."""
    failed, done = [], 0
    for i, run in enumerate(runs, 1):
        if dry_run:
            todo = commands(run, config_arg, with_eval, eval_args)
            if todo:
                print(" && ".join(shlex.join(c) for c in todo), flush=True)
            else:
                logging.info("[%d/%d] finished, skipped: %s", i, len(runs), run.workdir)
            continue
        todo = commands(run, config_arg, with_eval, eval_args, python=sys.executable)
        if not todo:
            logging.info("[%d/%d] finished, skipped: %s", i, len(runs), run.workdir)
            done += 1
            continue
        step = workdirs.latest_checkpoint_step(run.workdir)
        what = f"resuming from step {step}" if step else "starting"
        logging.info("[%d/%d] %s: %s", i, len(runs), what, run.workdir)
        for command in todo:
            logging.info("$ %s", shlex.join(command))
            code = subprocess.call(command)
            if code != 0:
                logging.error("[%d/%d] failed (exit %d): %s", i, len(runs), code, run.workdir)
                failed.append(run.workdir)
                break
    if not dry_run:
        ran = len(runs) - done
        logging.info(
            "sweep: %d runs, %d already finished, %d run, %d failed%s",
            len(runs),
            done,
            ran,
            len(failed),
            (": " + ", ".join(failed)) if failed else "",
        )
    return len(failed)


def run_population(
    runs: list[RunSpec],
    with_eval: bool = False,
    eval_args: list[str] = (),
    member_axis: str = "auto",
) -> list[str]:
    """Trains the unfinished runs as one population in this process, then (`with_eval`)
    evaluates every run still unevaluated with one `pga_jax.evaluate` (one feature pass);
    returns the failed runs' workdirs. For notebooks: `run_population(plan(...), ...)`."""
    to_train = [r for r in runs if status(r, with_eval)[0]]
    failed: list[str] = []
    if to_train:
        run_configs = [r.config for r in to_train]
        population.check_members(run_configs)
        logging.info(
            "population of %d runs (%d already finished)", len(to_train), len(runs) - len(to_train)
        )
        try:
            training.train_population(
                run_configs, [r.workdir for r in to_train], member_axis=member_axis
            )
        except population.PopulationError as e:
            logging.error("%s", e)
            failed = list(e.failed)
    to_eval = [r for r in runs if r.workdir not in failed and any(status(r, with_eval))]
    if with_eval and to_eval:
        command = [sys.executable, "-m", "pga_jax.evaluate"]
        command += [f"--workdir={r.workdir}" for r in to_eval] + list(eval_args)
        logging.info("$ %s", shlex.join(command))
        if subprocess.call(command) != 0:
            failed += [r.workdir for r in to_eval]
    logging.info(
        "sweep: %d runs in one population, %d failed%s",
        len(runs),
        len(failed),
        (": " + ", ".join(failed)) if failed else "",
    )
    return failed
