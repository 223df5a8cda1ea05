"""Train a PGA / VAE model.

    python -m pga_jax.main --config=experiments/cifar_vpga.py --workdir=runs/cifar_vpga \
        [--config.num_steps=2000 ...]

Starting again with the same --workdir resumes from its latest checkpoint. `--print_config`
prints every field of the config (with the overrides) with its value and meaning, and exits.
"""

from __future__ import annotations

import os
import re
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from pga_jax import (
    checkpointing,
    commands,
    configs,
    cpu,
    distributed,
    errors,
    objectives,
    training,
    workdirs,
)

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment: a name, e.g. fashion_mnist_lpga[:smoke] (as pga_jax.get_config), or a file, "
    "e.g. experiments/fashion_mnist_lpga.py[:smoke].",
    lock_config=True,
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and images.")
flags.DEFINE_bool(
    "allow_changed_settings",
    False,
    "Resume with other objective / optimiser values than the run's (config.json records it).",
)
flags.DEFINE_bool(
    "allow_unverified_checkpoint",
    False,
    "Resume from a checkpoint without checksums (older runs); config.json records it.",
)
flags.DEFINE_bool("print_config", False, "Print every field with its value and meaning; exit.")
# Many processes (distributed.py): all run this command with the same flags but --process_id.
flags.DEFINE_enum(
    "distributed",
    "auto",
    ["auto", "on", "off"],
    "Join other processes with jax.distributed: auto = when --coordinator_address is given or "
    "a cluster (SLURM, TPU slice, Open MPI) is detected.",
)
flags.DEFINE_string("coordinator_address", "", "host:port of process 0, e.g. 10.0.0.1:1234.")
flags.DEFINE_integer("num_processes", 0, "Processes in the run (with --coordinator_address).")
flags.DEFINE_integer("process_id", -1, "This process's index, 0 .. num_processes - 1.")
flags.DEFINE_integer(
    "distributed_timeout_s", 300, "Seconds to wait for the other processes before failing."
)
flags.mark_flags_as_required(["config"])


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an experiment named as `get_config` names it
    (`--config=fashion_mnist_lpga:smoke`, also from a wheel install), help exiting 0, and a
    bad config, variant or `--config.key` reported as one line.

    ml_collections raises AttributeError/KeyError (a long traceback) for an override of a field
    the config does not have, and wraps a config file's own ConfigError in a flags error with a
    traceback in its message; a wrong type is already a one-line absl flags error.
    """
    config_arg = next((a for a in argv[1:] if a.startswith("--config=")), None)  # as given
    argv = commands.with_experiment_paths(argv)
    if config_arg is not None and not commands.asks_for_help(argv):
        resolved = next(a for a in argv[1:] if a.startswith("--config="))
        if not os.path.isfile(configs.split_variant(resolved[len("--config=") :])[0]):
            errors.exit_with(
                f"{config_arg.partition(':')[0]}: no such experiment or file (the experiments are "
                f"{', '.join(configs.experiment_names())}, or a path to an experiment file; "
                "a variant follows a colon: fashion_mnist_lpga:smoke)"
            )
    try:
        with commands.help_exits_zero(argv):
            return FLAGS(argv)
    except flags.Error as e:  # as absl's own parser reports it, on one line
        cause = commands.user_error_in(e)
        if cause is not None:  # the config file's own error (a bad variant, a bad value)
            errors.exit_with(f"{config_arg or '--config'}: {cause}")
        lines = [line for line in str(e).splitlines() if line.strip()]
        text = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
        sys.exit(f"FATAL Flags parsing error: {text}\nPass --helpshort or --helpfull to see help.")
    except (AttributeError, KeyError) as e:
        text = str(e.args[0]) if e.args else str(e)
        if isinstance(e, AttributeError) and "get_config" in text:
            text = "it defines no get_config(arg)"
        name = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)[0] if text else "?"
        suggestion = re.search(r'Did you mean "([^"]+)"', text)
        bad = [a for a in argv[1:] if a.startswith("--config.") and name in a]
        if not bad:  # not an override's: the config file itself failed while loading
            config_arg = next((a for a in argv[1:] if a.startswith("--config=")), "--config")
            sys.exit(
                f"error: {config_arg} failed to load ({type(e).__name__}: "
                f"{' '.join(text.split())[:200]}); fix the config file"
            )
        renamed = [
            f"{cls.name}: {old} is now {new}"
            for cls in map(objectives.get, objectives.names())
            for old, new in cls.legacy_fields.items()
            if old == name
        ]
        if renamed:
            hint = f"renamed ({'; '.join(renamed)})"
        elif suggestion:
            hint = f"did you mean {suggestion.group(1)!r}?"
        else:
            hint = (
                "check the spelling against the config file (fields: pga_jax/configs.py; "
                "the objective's: python -m pga_jax.objectives)"
            )
        sys.exit(
            f"error: unknown config field {name!r} in {bad[0] if bad else 'an override'}; {hint}"
        )
    except Exception as e:  # the config file raised while loading (a syntax error, ...)
        config_arg = next((a for a in argv[1:] if a.startswith("--config=")), "--config")
        sys.exit(f"error: {config_arg} failed to load ({configs.load_error(e)}); fix the file")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    config_file = configs.split_variant(config_flags.get_config_filename(FLAGS["config"]))[0]
    if not os.path.isfile(config_file):
        errors.exit_with(
            f"--config={config_file}: no such file (the configs are experiments/*.py; "
            "a variant follows a colon: experiments/mnist_lpga.py:smoke)"
        )
    if FLAGS.print_config:
        print(configs.describe(FLAGS.config))
        return
    if not FLAGS.workdir:
        errors.exit_with("--workdir is required: the folder of the run's checkpoints and logs")
    logging.get_absl_handler().addFilter(checkpointing.QuietOrbax())
    checkpointing.ignore_closed_event_loops()
    try:
        distributed.initialize(
            FLAGS.coordinator_address,
            FLAGS.num_processes,
            FLAGS.process_id,
            mode=FLAGS.distributed,
            timeout_s=FLAGS.distributed_timeout_s,
        )
    except errors.UserError as e:
        errors.exit_with(e)
    cpu.setup()  # before jax starts its backends
    logging.info(
        "JAX %s, process %d of %d, training on %s",
        jax.__version__,
        jax.process_index(),
        jax.process_count(),
        jax.devices(),
    )
    gpu = next((p for p in ("/dev/nvidia0", "/dev/dxg") if os.path.exists(p)), None)
    if gpu and jax.default_backend() == "cpu":
        logging.warning(
            "A GPU is visible (%s) but JAX runs on the CPU: install jax for it with "
            'pip install -e ".[cuda12]"',
            gpu,
        )
    fresh = workdirs.latest_checkpoint_step(FLAGS.workdir) is None
    try:
        training.train_and_evaluate(
            FLAGS.config,
            FLAGS.workdir,
            FLAGS.allow_changed_settings,
            FLAGS.allow_unverified_checkpoint,
        )
    except training.Stopped as e:  # SIGINT / SIGTERM between steps: checkpoint saved
        print(e, file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # before the loop (loading, compiling) or a second Ctrl-C
        print("interrupted; the same command resumes from the latest checkpoint", file=sys.stderr)
        sys.exit(130)
    except OSError as e:  # e.g. a workdir that cannot be written: disk full, permission, a file
        where = f"{e.filename}: " if e.filename else ""
        kept = "" if fresh else "; earlier checkpoints are kept"
        errors.exit_with(f"{where}{e.strerror or e}{kept}")
    except errors.UserError as e:  # fixable from the command line: one line, no traceback
        errors.exit_with(e)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
