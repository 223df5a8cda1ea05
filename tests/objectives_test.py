"""Term weights: the objectives' coefficients, the warm-up and its optional ramp."""

import pytest

from pga_jax import objectives


def _w(cfg, step, image_size=784, z_dim=32):
    return {k: float(v) for k, v in objectives.term_weights(cfg, step, image_size, z_dim).items()}


def test_lpga_warmup_is_a_plain_autoencoder_then_switches_on():
    cfg = objectives.ObjectiveConfig("lpga", alpha=0.06, beta=0.01, gamma=0.015, warmup_steps=3)
    assert _w(cfg, 2) == {
        "rec": 1.0,
        "lr_prior": 0.0,
        "lr_post": 0.0,
        "nll_enc": 0.0,
        "nll_dec": 0.0,
    }
    assert _w(cfg, 3) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.06, "lr_post": 0.01, "nll_enc": 0.015, "nll_dec": 0.015}
    )


def test_ramp_rises_linearly_after_warmup():
    cfg = objectives.ObjectiveConfig(
        "lvpga", alpha=0.1, vrec=0.2, vkld=0.3, gamma=0.4, warmup_steps=10, ramp_steps=4
    )
    assert _w(cfg, 9)["vr"] == 0.0
    assert [_w(cfg, s)["vr"] for s in (10, 11, 12, 13, 50)] == pytest.approx(
        [0.05, 0.1, 0.15, 0.2, 0.2]
    )
    assert _w(cfg, 11) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.05, "lr_post": 0.0, "vr": 0.1, "vkl": 0.15, "nll_enc": 0.2}
    )


def test_vpga_has_no_warmup():
    cfg = objectives.ObjectiveConfig("vpga", alpha=0.06, vrec=0.01, vkld=0.02)
    assert _w(cfg, 0) == pytest.approx(
        {"rec": 1.0, "lr_prior": 0.06, "lr_post": 0.0, "vr": 0.01, "vkl": 0.02}
    )


def test_vae_weight_is_the_scaled_negative_elbo():
    """(D/(2 s^2) mse + H mean KL) * 2 s^2 / D = mse + (2 s^2 H / D) mean KL."""
    cfg = objectives.ObjectiveConfig("vae", vae_sigma=0.5)
    assert _w(cfg, 0, image_size=100, z_dim=10) == pytest.approx({"rec": 1.0, "vkl": 0.05})


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="unknown objective"):
        objectives.ObjectiveConfig("gan")
