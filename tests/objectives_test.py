"""Objectives: term weights (coefficients, warm-up, ramp), hyper-parameters as traced data,
the registry, validation and the reading of older configs."""

import jax
import jax.numpy as jnp
import pytest

from pga_jax import objectives


def _w(name, step, image_size=784, z_dim=32, **settings):
    objective, hp = objectives.get(name).make(**settings)
    weights = objective.weights(hp, jnp.asarray(step, jnp.int32), image_size, z_dim)
    return {k: float(v) for k, v in weights.items()}


def test_lpga_warmup_is_a_plain_autoencoder_then_switches_on():
    settings = dict(alpha=0.06, beta=0.01, gamma=0.015, warmup_steps=3)
    assert _w("lpga", 3, **settings) == {
        "rec": 1.0,
        "lr_prior": 0.0,
        "lr_post": 0.0,
        "nll_enc": 0.0,
        "nll_dec": 0.0,
    }
    assert _w("lpga", 4, **settings) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.06, "lr_post": 0.01, "nll_enc": 0.015, "nll_dec": 0.015}
    )


@pytest.mark.parametrize("name", ["lpga", "lvpga"])
def test_warmup_ends_after_step_3000_as_the_original_init_steps(name):
    """The original trains the plain autoencoder while global_step <= init_steps (3,000), i.e.
    for 3,001 steps: step 3,000 is still warm-up, step 3,001 is the first of the objective."""
    assert objectives.get(name).defaults()["warmup_steps"] == 3000
    assert bool(objectives.in_warmup(jnp.int32(3000), jnp.int32(3000)))
    assert not bool(objectives.in_warmup(jnp.int32(3000), jnp.int32(3001)))
    assert _w(name, 3000)["lr_prior"] == 0.0
    assert _w(name, 3001)["lr_prior"] == pytest.approx(0.06)
    assert _w(name, 0, warmup_steps=0)["lr_prior"] == pytest.approx(0.06)  # 0: no warm-up


def test_ramp_rises_linearly_after_warmup():
    settings = dict(alpha=0.1, gamma_prime=0.2, eta=0.3, gamma=0.4, warmup_steps=10, ramp_steps=4)
    assert _w("lvpga", 10, **settings)["log_vr"] == 0.0
    assert [_w("lvpga", s, **settings)["log_vr"] for s in (11, 12, 13, 14, 50)] == pytest.approx(
        [0.05, 0.1, 0.15, 0.2, 0.2]
    )
    assert _w("lvpga", 12, **settings) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.05, "lr_post": 0.0, "log_vr": 0.1, "vkl": 0.15, "nll_enc": 0.2}
    )


def test_vpga_has_no_warmup():
    assert _w("vpga", 0, alpha=0.06, vrec=0.01, eta=0.02) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.06, "lr_post": 0.0, "vr": 0.01, "vkl": 0.02}
    )


def test_vae_weight_is_the_scaled_negative_elbo():
    """(D/(2 s^2) mse + H mean KL) * 2 s^2 / D = mse + (2 s^2 H / D) mean KL."""
    assert _w("vae", 0, image_size=100, z_dim=10, vae_sigma=0.5) == pytest.approx(
        {"vae_rec": 1.0, "vkl": 0.05}
    )


def test_one_compiled_weights_function_serves_every_value():
    """Hyper-parameters are data: new values (and a new warm-up length) reuse the trace."""
    objective, hp_a = objectives.get("lpga").make(alpha=0.06, gamma=0.015, warmup_steps=5)
    _, hp_b = objectives.get("lpga").make(alpha=0.5, gamma=0.25, warmup_steps=2)
    traces = []

    @jax.jit
    def weights(hp, step):
        traces.append(1)
        return objective.weights(hp, step, 784, 12)

    a = weights(hp_a, jnp.int32(3))
    b = weights(hp_b, jnp.int32(3))
    assert len(traces) == 1
    assert float(a["lr_prior"]) == 0.0  # step 3 < 5: warm-up
    assert float(b["lr_prior"]) == pytest.approx(0.5) and float(b["nll_dec"]) == 0.25


def test_registry_and_declarations():
    assert objectives.names()[:4] == ("vae", "lpga", "vpga", "lvpga")
    for name in objectives.names():
        cls = objectives.get(name)
        assert {t.name for t in cls.terms} == set(cls.term_networks())
        assert len({t.name for t in cls.terms}) == len(cls.terms), f"{name}: a term twice"
        objective = cls.from_settings({"name": name, **cls.defaults()})
        assert objective == cls.from_settings({"name": name, **cls.defaults()})
        assert hash(objective) == hash(cls.from_settings({"name": name, **cls.defaults()}))
    with pytest.raises(ValueError, match="unknown objective 'gan'"):
        objectives.get("gan")


def test_term_names_mean_one_equation_across_objectives():
    """A logged name (terms/<name>) is one equation wherever it appears."""
    seen = {}
    for name in objectives.names():
        for term in objectives.get(name).terms:
            seen.setdefault(term.name, set()).add(term.equation)
    assert all(len(equations) == 1 for equations in seen.values()), seen
    assert seen["vr"] == {"Eq. 12"} and seen["log_vr"] == {"Eq. 16"}


@pytest.mark.parametrize(
    "name,settings,message",
    [
        ("lpga", dict(alpha=-1.0), "objective.alpha=-1.0 must be >= 0"),
        ("lpga", dict(nll_eps_scale=0.0), "nll_eps_scale=0.0 must be positive"),
        ("vae", dict(vae_sigma=-0.1), "vae_sigma=-0.1 must be positive"),
        (
            "lvpga",
            dict(vrec=0.02),
            r"vrec is not a field of objective 'lvpga'; it is now .*gamma_prime",
        ),
        ("vae", dict(alpha=0.0), r"alpha is not a field of objective 'vae'; its fields are"),
        ("lpga", dict(gamma="big"), "gamma='big' must be a number"),
    ],
)
def test_validation_names_the_field(name, settings, message):
    with pytest.raises(ValueError, match=message):
        objectives.get(name).make(**settings)
