# `python -m pga_jax.sweep`: the command line of `pga_jax.sweep`.
# Its flags are defined here, at module level, and only here: this module runs only as a
# command, so the flags of other tools (imported with their libraries) never meet its own.
# `--help` shows the library's docstring.
from __future__ import annotations

import shlex
import sys

from absl import app, flags

from pga_jax import commands, cpu, errors
from pga_jax.sweep.grid import CONFIG_PREFIX, execute, plan, run_population

__doc__ = sys.modules["pga_jax.sweep"].__doc__

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "config",
    None,
    "Experiment: a name or file [:variant], e.g. mnist_lpga or experiments/mnist_lpga.py.",
    required=True,
)
flags.DEFINE_integer("seeds", 1, "Seeds per grid point: first_seed .. first_seed + N - 1.")
flags.DEFINE_integer("first_seed", 0, "The first seed.")
flags.DEFINE_multi_string("set", [], "KEY=V1,V2,...: one axis of the grid (repeatable).")
flags.DEFINE_string("workdir_root", "runs", "Runs go to ROOT/<config>/<settings>,seed=S.")
flags.DEFINE_bool("dry_run", False, "Print one shell command per unfinished run; run none.")
flags.DEFINE_bool("evaluate", False, "Run python -m pga_jax.evaluate after each training.")
flags.DEFINE_string("evaluate_args", "", "Extra flags for pga_jax.evaluate, shell-quoted.")
flags.DEFINE_bool("population", False, "Train the runs together as one population in this process.")
flags.DEFINE_enum(
    "member_axis",
    "auto",
    ["auto", "vmap", "unrolled"],
    "How a population's program steps its members (auto: unrolled on a CPU, else vmap).",
)

_OVERRIDES: list[str] = []


def parse_flags(argv: list[str]) -> list[str]:
    """absl flags, with every `--config.KEY=VALUE` set aside to pass to the runs."""
    _OVERRIDES.extend(a for a in argv[1:] if a.startswith(CONFIG_PREFIX))
    try:
        with commands.help_exits_zero(argv):
            return flags.FLAGS([a for a in argv if not a.startswith(CONFIG_PREFIX)])
    except flags.Error as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        sys.exit(f"FATAL Flags parsing error: {lines[0] if lines else e}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cpu.setup()  # the CPU's process settings, before jax starts
    try:
        runs = plan(
            FLAGS.config,
            FLAGS.set,
            FLAGS.seeds,
            FLAGS.first_seed,
            _OVERRIDES,
            FLAGS.workdir_root,
        )
    except errors.UserError as e:
        errors.exit_with(e)
    try:
        eval_args = shlex.split(FLAGS.evaluate_args)
    except ValueError as e:
        sys.exit(f"error: --evaluate_args={FLAGS.evaluate_args}: {e}")
    if FLAGS.population and not FLAGS.dry_run:
        try:
            failed = run_population(runs, FLAGS.evaluate, eval_args, FLAGS.member_axis)
        except errors.UserError as e:
            errors.exit_with(e)
        if failed:
            sys.exit(
                f"error: {len(failed)} of {len(runs)} runs failed ({', '.join(failed)}); "
                "each kept its last good checkpoint and failure.json"
            )
        return
    failed = execute(runs, FLAGS.config, FLAGS.evaluate, eval_args, FLAGS.dry_run)
    if failed:
        sys.exit(f"error: {failed} of {len(runs)} runs failed; start the same command to retry")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
