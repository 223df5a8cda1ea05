"""Objectives: one module each (`vae`, `lpga`, `vpga`, `lvpga`), found through a registry.

    from pga_jax import objectives
    cls = objectives.get("lpga")            # the class: terms, Hparams, label, ...
    objective = cls.from_settings(config.objective)   # static structure
    hp = cls.hparams(config.objective)      # traced hyper-parameters
    terms = objective.compute_terms(hp, nets, x, rng)

See `base.py` for what an objective declares and `lpga.py` for a complete example.
"""

# The paper's objectives register themselves.
from pga_jax.objectives import lpga, lvpga, vae, vpga  # noqa: E402, F401, I001
from pga_jax.objectives.base import (
    BOTH,
    DECODER,
    ENCODER,
    NETWORKS,
    Networks,
    NoHparams,
    Objective,
    Term,
    combine,
    hparam,
    in_warmup,
    warmup_factor,
)
from pga_jax.objectives.registry import get, names, register, unregister

__all__ = [
    "BOTH",
    "DECODER",
    "ENCODER",
    "NETWORKS",
    "Networks",
    "NoHparams",
    "Objective",
    "Term",
    "combine",
    "get",
    "hparam",
    "in_warmup",
    "names",
    "register",
    "unregister",
    "warmup_factor",
]
