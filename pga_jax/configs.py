"""Shared config helpers: every field with its default, the per-dataset reference settings,
the `:smoke` shrink used by tests, and validation.

An experiment file in `experiments/` calls `base_config(dataset, objective)`, sets the
coefficients of its README command of the original code, and returns `finalize(config, arg)`.
`arg` is what follows the colon in `--config=experiments/x.py:smoke`.

ml_collections gives the rest: `--config.key=value` overrides are type-checked, and an unknown
key is an error (see `main.py`).
"""

from __future__ import annotations

import importlib.util
import json
import os

import ml_collections

from pga_jax import config_fields, data, errors, models, objectives
from pga_jax.config_fields import ADDED_FIELDS, steps_for_epochs  # noqa: F401 (API)


def _experiments_dir() -> str:
    """The experiment files: `experiments/` of a source checkout, else the copy a wheel install
    ships as the package `pga_jax.experiments` (setup.py)."""
    checkout = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"
    )
    if os.path.isdir(checkout):
        return checkout
    spec = importlib.util.find_spec("pga_jax.experiments")
    return os.path.dirname(spec.origin) if spec and spec.origin else checkout


EXPERIMENTS_DIR = _experiments_dir()


class ConfigError(errors.UserError, ValueError):
    """A config that cannot run; the message says which field to change."""


def split_variant(spec: str) -> tuple[str, str | None]:
    """ "path_or_name:variant" -> (path_or_name, variant or None): how every entry point names
    an experiment and its variant (`experiments/mnist_lpga.py:smoke`, `cifar_vpga`)."""
    path, _, variant = spec.partition(":")
    return path, variant or None


def walk(tree, dotted: str, create: bool = False):
    """(the node holding the last part of `dotted`, that part) in a nested dict or ConfigDict:
    `walk(d, "model.z_dim")` is (d["model"], "z_dim"). A missing node is made (an empty dict)
    when `create`, else the node is None."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if not isinstance(node, dict | ml_collections.ConfigDict):
            return None, leaf
        if create:
            node = node.setdefault(part, {})
        else:
            node = node.get(part)
    return (node if isinstance(node, dict | ml_collections.ConfigDict) else None), leaf


def objective_class(name: str) -> type[objectives.Objective]:
    """The registered objective `name`; ConfigError (one line) if there is none."""
    try:
        return objectives.get(name)
    except ValueError as e:
        raise ConfigError(f"config.objective.name: {e}") from None


def objective_block(name: str) -> ml_collections.ConfigDict:
    """`config.objective` of objective `name`: its name and every hyper-parameter's default."""
    return ml_collections.ConfigDict({"name": name, **objective_class(name).defaults()})


def base_config(dataset: str, objective: str) -> ml_collections.ConfigDict:
    """Every field of config_fields.FIELDS at its default for `dataset` (its registry entry's
    reference settings) and `objective` (its defaults; each experiment sets its own
    coefficients)."""
    try:
        entry = data.get(dataset)
    except data.DataError as e:
        raise ConfigError(str(e)) from None
    if not entry.defaults:
        raise ConfigError(
            f"dataset {dataset!r} has no reference settings (data.Dataset.defaults): build its "
            "config from another dataset's and set config.dataset"
        )
    c = ml_collections.ConfigDict()
    context = config_fields.Defaults(entry, objective_class(objective), c)
    for row in config_fields.FIELDS:
        value = row.default(context) if callable(row.default) else row.default
        *blocks, leaf = row.key.split(".")
        node = c
        for block in blocks:
            if block not in node:
                node[block] = ml_collections.ConfigDict()
            node = node[block]
        if leaf == "*":
            node.update(value)
        else:
            node[leaf] = value
    return c


def field_doc(key: str, c: ml_collections.ConfigDict) -> str:
    """What the dotted field `key` of config `c` means."""
    if key.startswith("objective.") and key != "objective.name":
        fields = {f.name: f for f in objective_class(c.objective.name).fields()}
        if key[len("objective.") :] in fields:
            return fields[key[len("objective.") :]].metadata["doc"]
    knobs = models.get(c.model.arch).knobs if c.model.arch in models.names() else {}
    if key.startswith("model.") and key[len("model.") :] in knobs:
        return knobs[key[len("model.") :]][1]
    row = config_fields.field(key)
    if row is None:
        return ""
    return row.doc.format(
        datasets=", ".join(data.names()),
        architectures=", ".join(models.names()),
        objectives=", ".join(objectives.names()),
    )


def describe(c: ml_collections.ConfigDict) -> str:
    """Every field of `c` with its value and meaning, one per line (`main --print_config`)."""
    flat = flatten(c.to_dict())
    width = max(len(f"{k} = {v!r}") for k, v in flat.items())
    return "\n".join(
        f"{f'{k} = {v!r}':<{width}}  # {field_doc(k, c)}".rstrip(" #") for k, v in flat.items()
    )


def _shorten_warmup(c: ml_collections.ConfigDict, steps: int) -> ml_collections.ConfigDict:
    """Sets the warm-up and its ramp, where the objective has them and they are on, to `steps`."""
    for key in ("warmup_steps", "ramp_steps"):
        if c.objective.get(key):
            c.objective[key] = steps
    return c


def all_terms_on(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """No warm-up or ramp (where the objective has them): every term active from step 0."""
    for key in ("warmup_steps", "ramp_steps"):
        if key in c.objective:
            c.objective[key] = 0
    return c


def shrink_for_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`:smoke`: synthetic data of the architecture's shape, a few tiny steps, no FID."""
    c.dataset = "synthetic"
    c.data.source = "synthetic"
    c.data.synthetic_size = 64
    c.model.resnet_dim = 16
    c.batch_size = 8
    c.num_steps = 4
    c.log_every = 2
    c.image_every = 2
    c.checkpoint_every = 2
    c.keep_checkpoints = 2
    c.num_images = 16
    c.fid_every = 0
    return _shorten_warmup(c, 1)


def shorten_for_quick(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`:quick`: the real data and model, 1,500 steps (a few minutes on a 2-core CPU)."""
    c.num_steps = 1500
    c.image_every = 500
    c.checkpoint_every = 500
    return _shorten_warmup(c, 500)


VARIANTS = {"smoke": shrink_for_smoke, "quick": shorten_for_quick}


def finalize(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies the variant named after the colon: nothing, `smoke` or `quick`."""
    if arg in (None, ""):
        return c
    if arg not in VARIANTS:
        raise ConfigError(f"unknown config variant {arg!r}; use one of {sorted(VARIANTS)} or none")
    return VARIANTS[arg](c)


def experiment_names() -> list[str]:
    """The experiments `load_experiment` (and `--config=NAME`) knows by name."""
    if not os.path.isdir(EXPERIMENTS_DIR):
        return []
    return sorted(
        f[:-3] for f in os.listdir(EXPERIMENTS_DIR) if f.endswith(".py") and not f.startswith("_")
    )


def load_experiment(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """`get_config(arg)` of `experiments/<name>.py`, or of the file `name` if it is a path.

    For notebooks and scripts: `load_experiment("cifar_vpga")`, `load_experiment(x, "smoke")`.
    """
    path = name if name.endswith(".py") else os.path.join(EXPERIMENTS_DIR, f"{name}.py")
    if not os.path.exists(path):
        raise ConfigError(f"no experiment config {path}; see the files in {EXPERIMENTS_DIR}")
    spec = importlib.util.spec_from_file_location(
        f"pga_experiment_{os.path.basename(path)[:-3]}", path
    )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        get_config = module.get_config
    except Exception as e:  # a syntax error, or any exception the file raises on import
        raise ConfigError(f"{path} failed to load ({load_error(e)}); fix the config file") from e
    return get_config(arg)


def load_error(e: BaseException) -> str:
    """One line for an exception an experiment file raised while loading: its type, message
    and, for a syntax error, where."""
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg}, line {e.lineno}"
    if isinstance(e, AttributeError) and "get_config" in str(e):
        return "it defines no get_config(arg)"
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def celeba_crop(c: ml_collections.ConfigDict) -> int | None:
    """The CelebA crop a run's images are of (None for other datasets)."""
    return c.data.celeba_crop if c.dataset == "celeb_a" else None


def load_options(c: ml_collections.ConfigDict) -> dict:
    """The keywords of `data.load_arrays` that say where and how a run's images are read
    (all but the split): synthetic images take the architecture's shape."""
    return dict(
        source=c.data.source,
        path=c.data.path or None,
        tfds_data_dir=c.data.tfds_data_dir or None,
        synthetic_shape=models.output_shape(c.model.arch),
        synthetic_size=c.data.synthetic_size,
        celeba_crop=celeba_crop(c) or data.DEFAULT_CELEBA_CROP,
    )


def setting_label(c: ml_collections.ConfigDict) -> str:
    """How a run's model and data differ from Table 1's (the paper's Appendix C), e.g.
    "ResNet 512" or "140x140 crops, DCGAN 128"; "" for Table 1's. `report` gives such runs
    their own column."""
    crop = celeba_crop(c)
    parts = [f"{crop}x{crop} crops"] if crop not in (None, data.DEFAULT_CELEBA_CROP) else []
    model = models.get(c.model.arch).setting(c.model)
    return ", ".join(parts + ([model] if model else []))


def objective(c: ml_collections.ConfigDict) -> objectives.Objective:
    """The static objective of a config (which terms it computes)."""
    return objective_class(c.objective.name).from_settings(c.objective)


def objective_hparams(c: ml_collections.ConfigDict):
    """The objective's hyper-parameters as a pytree of arrays (traced by the step)."""
    return objective_class(c.objective.name).hparams(c.objective)


def upgrade(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A config written by an older pga_jax (a run's config.json) in today's field names,
    with the fields added since (ADDED_FIELDS) at their earlier values."""
    cls = objective_class(c.objective.name)
    d = c.to_dict()
    for dotted, value in ADDED_FIELDS.items():
        node, name = walk(d, dotted, create=True)
        node.setdefault(name, value)
    c = ml_collections.ConfigDict(d)
    c.objective = ml_collections.ConfigDict(cls.upgrade(c.objective.to_dict()))
    return c


# config.json's record of settings changed on a resume (train_and_evaluate(...,
# allow_changed_settings=True)): [{"step": S, "set": {"objective.alpha": 0.0, ...}}, ...], each
# in force for the steps after S.
CHANGES = "changes"
# config.json's record of how each start of the run computes, where it differs from the start
# before (training/run_record.py): [{"step": S, "backend": "cpu", "onednn": false, ...}, ...].
RUNTIME = "runtime"
# config.json's record of the checkpoints a resume used without checksums
# (--allow_unverified_checkpoint): [{"step": S}, ...].
UNVERIFIED = "unverified_checkpoints"


def flatten(d: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_at(saved: dict, step: int) -> dict:
    """The settings of a run's config.json in force at training step `step`: the original
    ones with every recorded change made before `step` applied (and no `changes` key)."""
    records = (CHANGES, RUNTIME, UNVERIFIED)
    settings = json.loads(json.dumps({k: v for k, v in saved.items() if k not in records}))
    for change in saved.get(CHANGES, []):
        if change["step"] < step:
            for dotted, value in change["set"].items():
                node, leaf = walk(settings, dotted, create=True)
                node[leaf] = value
    return settings


def in_force(saved: dict, step: int) -> ml_collections.ConfigDict:
    """The config of a run's config.json in force at training step `step`, in today's field
    names (`settings_at`, then `upgrade`: runs of older versions still load)."""
    return upgrade(ml_collections.ConfigDict(settings_at(saved, step)))


def changed_settings(before: dict, after: dict) -> dict[str, tuple]:
    """{dotted key: (before, after)} of the TRAINING fields (config_fields) that differ."""
    old, new = flatten(before), flatten(after)
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(old.keys() | new.keys())
        if config_fields.role(k) == config_fields.TRAINING and old.get(k) != new.get(k)
    }


def validate(c: ml_collections.ConfigDict) -> None:
    """Raises ConfigError (one line, naming the field) for a config that cannot run: the
    checks of config_fields.FIELDS, then the objective's, then those across fields."""
    for row in config_fields.FIELDS:  # in the table's order: batch_size before num_steps
        if row.check is not None:
            node, leaf = walk(c, row.key)
            problem = row.check(node[leaf])
            if problem:
                raise ConfigError(f"config.{row.key}={node[leaf]!r} {problem}")
    try:
        objective_class(c.objective.name).validate(c.objective)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if c.fid_every > 0 and not c.fid_ref_stats:
        raise ConfigError(
            "config.fid_every > 0 needs config.fid_ref_stats: make it with "
            f"python -m pga_jax.fid stats --dataset={c.dataset} (it prints the file's path)"
        )
