"""config.precision: the passes whose outputs are differenced (h(z), h(z + delta)) at 'highest',
checked in the lowered train step; on a CPU every setting computes the same numbers."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import configs, training

_OP = re.compile(r"stablehlo\.(convolution|dot_general)\b.*")


def _ops(config):
    """(ops at HIGHEST, all convolutions and dot_generals) of the lowered train step."""
    state, model = training.create_train_state(config, (28, 28, 1))
    batch = jnp.zeros((config.batch_size, 28, 28, 1), jnp.float32)
    step = training.make_train_step(model)
    text = step.lower(state, batch, configs.objective_hparams(config)).as_text()
    ops = _OP.findall(text)
    lines = [m.group(0) for m in _OP.finditer(text)]
    return sum("HIGHEST" in line for line in lines), len(ops)


def _config(objective, precision):
    config = configs.all_terms_on(configs.load_experiment(f"mnist_{objective}", "smoke"))
    config.precision = precision
    return config


@pytest.mark.parametrize("objective", ["lpga", "vpga", "lvpga", "vae"])
def test_auto_puts_exactly_the_differenced_passes_at_highest(objective):
    counts = {p: _ops(_config(objective, p)) for p in ("default", "auto", "highest")}
    total = counts["default"][1]
    assert total > 0 and all(n == total for _, n in counts.values())
    assert counts["default"][0] == 0
    assert counts["highest"][0] == total  # every convolution and matmul, forward and backward
    if objective == "vae":  # no term differences two passes
        assert counts["auto"][0] == 0
    else:  # the two h passes (forward and backward), not the data path
        assert 0 < counts["auto"][0] < total


def test_cpu_results_do_not_depend_on_the_setting():
    results = []
    for precision in ("default", "auto", "highest"):
        config = _config("lpga", precision)
        state, model = training.create_train_state(config, (28, 28, 1))
        batch = jnp.asarray(
            np.random.default_rng(0).uniform(-1, 1, (config.batch_size, 28, 28, 1)), jnp.float32
        )
        state, metrics = training.make_train_step(model)(
            state, batch, configs.objective_hparams(config)
        )
        results.append([np.asarray(x) for x in jax.tree.leaves((state.params, metrics))])
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
