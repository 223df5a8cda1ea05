"""Prepare datasets for pga_jax (downloads through tensorflow-datasets).

python -m pga_jax.data prepare --dataset=NAME [--data_dir=DIR] [--split=all]
python -m pga_jax.data prepare --dataset=celeb_a --folder=img_align_celeba [--cache_dir=DIR]
"""

from __future__ import annotations

from absl import app, flags

from pga_jax import commands, errors
from pga_jax.data.datasets import names
from pga_jax.data.prepare import prepare

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", None, names(), "The dataset to prepare.", required=True)
flags.DEFINE_string("data_dir", None, "tfds data directory (default: tfds's).")
flags.DEFINE_string("split", "train", "celeb_a: split to cache (e.g. train, all).")
flags.DEFINE_string("folder", None, "celeb_a: folder of aligned JPEGs to cache.")
flags.DEFINE_string("cache_dir", None, "celeb_a: where the 64x64 cache goes.")

COMMANDS = ("prepare",)


def main(argv: list[str]) -> None:
    if argv[1:] != ["prepare"]:
        raise app.UsageError(f"give one command, {' or '.join(COMMANDS)}; got {argv[1:]}")
    try:
        prepare(FLAGS.dataset, FLAGS.data_dir, FLAGS.split, FLAGS.folder, FLAGS.cache_dir)
    except errors.UserError as e:
        errors.exit_with(e)


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
