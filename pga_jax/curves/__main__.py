# `python -m pga_jax.curves`: the command line of `pga_jax.curves`.
# Its flags are defined here, at module level, and only here: this module runs only as a
# command, so the flags of other tools (imported with their libraries) never meet its own.
# `--help` shows the library's docstring.
from __future__ import annotations

import sys

from absl import app, flags

from pga_jax import commands
from pga_jax.curves import plot_curves

__doc__ = sys.modules["pga_jax.curves"].__doc__

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training run's workdir.", required=True)
flags.DEFINE_string("out", "", "PNG path (default WORKDIR/curves.png).")


def main(argv):
    del argv
    print(plot_curves(FLAGS.workdir, FLAGS.out or None))


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
