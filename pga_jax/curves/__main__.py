"""`python -m pga_jax.curves`: the command line of `pga_jax.curves` (see its docstring).

Its flags are defined here, at module level, and only here: this module runs only as a
command, so other tools' flags (imported with their libraries) never meet its own.
"""

from __future__ import annotations

import sys

from absl import app, flags

from pga_jax.curves import plot_curves

__doc__ = sys.modules["pga_jax.curves"].__doc__  # --help shows the tool's own usage

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training run's workdir.", required=True)
flags.DEFINE_string("out", "", "PNG path (default WORKDIR/curves.png).")


def main(argv):
    del argv
    print(plot_curves(FLAGS.workdir, FLAGS.out or None))


if __name__ == "__main__":
    app.run(main)
