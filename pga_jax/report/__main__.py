# `python -m pga_jax.report`: the command line of `pga_jax.report`.
# Its flags are defined here, at module level, and only here: this module runs only as a
# command, so the flags of other tools (imported with their libraries) never meet its own.
# `--help` shows the library's docstring.
from __future__ import annotations

import os
import sys

from absl import app, flags

from pga_jax import commands, errors
from pga_jax.report.table import evaluate_hint, find_runs, never_evaluated, write_report

__doc__ = sys.modules["pga_jax.report"].__doc__

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("runs", None, "Glob of workdirs or eval.json files.", required=True)
flags.DEFINE_string("out", "report", "Output folder.")
flags.DEFINE_bool("copy_artefacts", False, "Also copy each run's pictures + gallery.md.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        write_report(FLAGS.runs, FLAGS.out, FLAGS.copy_artefacts)
    except errors.UserError as e:
        errors.exit_with(e)
    with open(os.path.join(FLAGS.out, "table.md")) as f:
        print(f.read(), end="")
    eval_paths, run_dirs = find_runs(FLAGS.runs)
    never = never_evaluated(eval_paths, run_dirs)
    if never:  # last, where it is seen: the table above lacks them
        print(f"hint: {evaluate_hint(never, len(run_dirs))}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
