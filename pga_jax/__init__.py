"""pga_jax: Perceptual Generative Autoencoders in JAX/Flax.

From Python and notebooks:

    import pga_jax
    config = pga_jax.get_config("fashion_mnist_lpga:quick", num_steps=500)
    pga_jax.train(config, "runs/fm")            # trains, or resumes, the run in runs/fm
    run = pga_jax.load("runs/fm")               # its latest checkpoint, for inference
    grid = run.sample(64, seed=0)               # see pga_jax.inference.Run

`pga_jax.train` is also the module of the training loop (`pga_jax.train.train_population`,
`train_step`, ...); called, it is `train_and_evaluate`.
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_config(name: str, **overrides):
    """The experiment config `name` ("fashion_mnist_lpga", "cifar_vpga:smoke", or a path to an
    experiment file), with `overrides` of its fields: dotted names as keyword-safe strings
    are given with a double underscore, e.g. `objective__alpha=0.0`, `num_steps=500`.
    An unknown field is a one-line ConfigError."""
    from pga_jax import configs, sweep  # noqa: PLC0415  (keeps `import pga_jax` light)

    path, _, variant = name.partition(":")
    config = configs.load_experiment(path, variant or None)
    for key, value in overrides.items():
        dotted = key.replace("__", ".")
        try:
            sweep.apply_override(config, dotted, str(value), f"get_config({key}={value!r})")
        except sweep.SweepError as e:
            raise configs.ConfigError(str(e)) from None
    configs.validate(config)
    return config


def load(workdir: str, step: int | None = None):
    """The latest checkpoint of a training workdir (or that of `step`) for inference: a
    `pga_jax.inference.Run` with `sample`, `encode`, `decode`, `reconstruct`, `interpolate`
    and `fid`."""
    from pga_jax import inference  # noqa: PLC0415

    return inference.load(workdir, step)


def __getattr__(name: str):
    if name == "train":  # the training module, callable as train_and_evaluate
        import importlib  # noqa: PLC0415

        return importlib.import_module("pga_jax.train")
    raise AttributeError(f"module 'pga_jax' has no attribute {name!r}")
