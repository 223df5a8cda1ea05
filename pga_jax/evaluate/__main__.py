# `python -m pga_jax.evaluate`: the command line of `pga_jax.evaluate`.
# Its flags are defined here, at module level, and only here: this module runs only as a
# command, so the flags of other tools (imported with their libraries) never meet its own.
# `--help` shows the library's docstring.
from __future__ import annotations

import sys

from absl import app, flags, logging

from pga_jax import checkpointing, commands, cpu, errors, workdirs
from pga_jax.evaluate.evaluation import evaluate_many, expand_workdirs
from pga_jax.fid import resize

__doc__ = sys.modules["pga_jax.evaluate"].__doc__

FLAGS = flags.FLAGS
flags.DEFINE_multi_string(
    "workdir",
    None,
    "A training run's workdir, or a quoted glob of several ('runs/cifar_lpga/*'); repeat the "
    "flag for more. All are scored in one FID feature pass.",
    required=True,
)
flags.DEFINE_integer("num_samples", 5000, "Samples for the FID (the paper's N: 5,000).")
flags.DEFINE_string("fid_ref_stats", "", "Reference statistics .npz (default: the config's).")
flags.DEFINE_enum(
    "protocol",
    None,
    sorted(resize.PROTOCOLS),
    "FID input protocol (default: the reference's, else tf1_bilinear).",
)
flags.DEFINE_string("fid_weights", None, "FID Inception weights file (default: cached).")
flags.DEFINE_integer(
    "feature_batch_size", None, "Images per Inception call (default: 10 on CPU, else 50)."
)
flags.DEFINE_integer("seed", 0, "Seed of the samples, the latents and the real images.")
flags.DEFINE_string("split", "", "Split of the real images (default: test; CelebA: all).")
flags.DEFINE_integer("num_images", 64, "Images in the sample grid (half as many recons).")
flags.DEFINE_integer("num_interpolations", 8, "Interpolation rows (pairs of endpoints).")
flags.DEFINE_integer("interpolation_steps", 10, "Images per interpolation row (>= 2).")
flags.DEFINE_bool("save_samples", False, "Also write the FID samples to eval/samples.npz.")
flags.DEFINE_integer(
    "log_det_latents",
    0,
    "Proposition 1 at this many held-out and prior latents (1000 is a good choice; 0: off): "
    "exact log|det dh/dz| next to its surrogate (docs/evaluation.md).",
)
flags.DEFINE_bool(
    "allow_unverified_checkpoint",
    False,
    "Evaluate checkpoints without checksums (older runs); eval.json records it.",
)
flags.DEFINE_bool(
    "allow_unverified_ref",
    False,
    "Score against statistics without protocol / weights checksum; the FID records it.",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    logging.get_absl_handler().addFilter(checkpointing.QuietOrbax())
    cpu.setup()  # the CPU's process settings, before jax starts
    try:
        workdir_list = expand_workdirs(FLAGS.workdir)
        results = evaluate_many(
            workdir_list,
            num_samples=FLAGS.num_samples,
            fid_ref_stats=FLAGS.fid_ref_stats,
            protocol=FLAGS.protocol,
            fid_weights=FLAGS.fid_weights,
            feature_batch_size=FLAGS.feature_batch_size,
            seed=FLAGS.seed,
            split=FLAGS.split,
            num_images=FLAGS.num_images,
            num_interpolations=FLAGS.num_interpolations,
            interpolation_steps=FLAGS.interpolation_steps,
            save_samples=FLAGS.save_samples,
            log_det_latents=FLAGS.log_det_latents,
            allow_unverified_checkpoint=FLAGS.allow_unverified_checkpoint,
            allow_unverified_ref=FLAGS.allow_unverified_ref,
        )
    except errors.UserError as e:
        errors.exit_with(e)
    for workdir, result in zip(workdir_list, results, strict=True):
        fid = result["fid"]
        summary = f"FID {fid['fid']:.2f} (N={fid['n']})" if fid else "FID skipped"
        print(f"{workdirs.eval_json(workdir)}: step {result['step']}, {summary}")


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
