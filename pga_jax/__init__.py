"""pga_jax: Perceptual Generative Autoencoders in JAX/Flax.

From Python and notebooks:

    import pga_jax
    config = pga_jax.get_config("fashion_mnist_lpga:quick", num_steps=500)
    pga_jax.train(config, "runs/fm")            # trains, or resumes, the run in runs/fm
    run = pga_jax.load("runs/fm")               # its latest checkpoint, for inference
    grid = run.sample(64, seed=0)               # see pga_jax.inference.Run

The training library (the state, the step, the loop, populations) is `pga_jax.training`.
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_config(name: str, **overrides):
    """The experiment config `name` ("fashion_mnist_lpga", "cifar_vpga:smoke", or a path to an
    experiment file), with `overrides` of its fields: dotted names as keyword-safe strings
    are given with a double underscore, e.g. `objective__alpha=0.0`, `num_steps=500`.
    An unknown field is a one-line ConfigError."""
    from pga_jax import configs, sweep  # noqa: PLC0415  (keeps `import pga_jax` light)

    config = configs.load_experiment(*configs.split_variant(name))
    for key, value in overrides.items():
        dotted = key.replace("__", ".")
        try:
            sweep.apply_override(config, dotted, str(value), f"get_config({key}={value!r})")
        except sweep.SweepError as e:
            raise configs.ConfigError(str(e)) from None
    configs.validate(config)
    return config


def load(workdir: str, step: int | None = None, *, allow_unverified_checkpoint: bool = False):
    """The latest checkpoint of a training workdir (or that of `step`) for inference: a
    `pga_jax.inference.Run` with `sample`, `encode`, `decode`, `reconstruct`, `interpolate`
    and `fid`. A checkpoint without checksums (older runs) loads only with
    `allow_unverified_checkpoint` (then `run.verified` is False)."""
    from pga_jax import inference  # noqa: PLC0415

    return inference.load(workdir, step, allow_unverified_checkpoint)


def train(
    config,
    workdir: str,
    *,
    allow_changed_settings: bool = False,
    allow_unverified_checkpoint: bool = False,
    progress: bool = True,
):
    """Trains (or resumes) the run of `config` in `workdir` to config.num_steps and returns
    its final state: `pga_jax.training.train_and_evaluate` after `pga_jax.cpu.setup()` (the
    CPU's process settings, where they apply and jax has not started yet).

    `progress=True` shows a progress bar on stderr (steps, steps/s, ETA, the last logged loss;
    one line rewritten in place in a notebook or terminal, a line every 30 s in a log file),
    and FID's during training; orbax's routine messages are not shown while it runs.
    `progress=False`: nothing but warnings."""
    from pga_jax import checkpointing, cpu, training  # noqa: PLC0415
    from pga_jax import progress as bars  # noqa: PLC0415

    cpu.setup()
    with checkpointing.quiet_orbax(), bars.shown(progress):
        return training.train_and_evaluate(
            config,
            workdir,
            allow_changed_settings,
            allow_unverified_checkpoint,
            progress=progress,
        )
