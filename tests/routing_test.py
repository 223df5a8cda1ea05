"""Gradient routing: each loss term reaches exactly the networks the paper trains with it.

The expectations are written out here from the paper (Fig. 1, Eqs. 1-16) and the original
code's two losses, independently of `objectives.TERM_NETWORKS`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import models, objectives

BOTH, ENC, DEC = {"encoder", "decoder"}, {"encoder"}, {"decoder"}
EXPECTED = {
    "lpga": {"rec": BOTH, "lr_prior": ENC, "lr_post": ENC, "nll_enc": ENC, "nll_dec": DEC},
    "vpga": {"rec": BOTH, "lr_prior": ENC, "lr_post": ENC, "vr": BOTH, "vkl": ENC},
    "lvpga": {"rec": BOTH, "lr_prior": ENC, "lr_post": ENC, "nll_enc": ENC, "vr": BOTH, "vkl": ENC},
    "vae": {"rec": BOTH, "vkl": ENC},
}
ARCH_BN = [("conv_mnist", False), ("conv_32", True)]


def _setup(name, arch, bn, z_dim=6, batch=5):
    cfg = objectives.ObjectiveConfig(name=name, alpha=1.0, beta=1.0, gamma=1.0, vrec=1.0, vkld=1.0)
    enc, dec = models.build_models(
        arch, z_dim, bn=bn, variational=objectives.VARIATIONAL[name], resnet_dim=8
    )
    shape = models.OUTPUT_SHAPES[arch]
    variables = models.init_variables(enc, dec, jax.random.PRNGKey(0), shape, z_dim)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, *shape), minval=-1, maxval=1)
    return cfg, enc, dec, variables, x


def _term_grads(cfg, enc, dec, variables, x, term):
    def f(params):
        nets = objectives.Networks(enc, dec, params, variables["batch_stats"])
        terms = objectives.compute_terms(cfg, nets, x, jax.random.PRNGKey(2))
        return terms[term]

    return jax.grad(f)(variables["params"])


def _norm(tree):
    return float(sum(jnp.sum(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)))


@pytest.mark.parametrize("arch,bn", ARCH_BN)
@pytest.mark.parametrize("name", objectives.OBJECTIVES)
def test_each_term_trains_only_its_networks(name, arch, bn):
    cfg, enc, dec, variables, x = _setup(name, arch, bn)
    nets = objectives.Networks(enc, dec, variables["params"], variables["batch_stats"])
    terms = objectives.compute_terms(cfg, nets, x, jax.random.PRNGKey(2))
    assert set(terms) == set(EXPECTED[name])
    for term, trained in EXPECTED[name].items():
        grads = _term_grads(cfg, enc, dec, variables, x, term)
        for net in ("encoder", "decoder"):
            magnitude = _norm(grads[net])
            if net in trained:
                assert magnitude > 0, f"{name}/{term} must train the {net}"
            else:
                assert magnitude == 0.0, f"{name}/{term} must not reach the {net}"


@pytest.mark.parametrize("name", ["vpga", "lvpga"])
def test_vr_reaches_encoder_only_through_sigma(name):
    """Sec. 3.3: the direct gradient from L_vr to the encoder is ignored; the path through
    sigma_phi (reparameterisation) is kept. So the mu head gets nothing, the logvar head does."""
    cfg, enc, dec, variables, x = _setup(name, "conv_mnist", False)
    g = _term_grads(cfg, enc, dec, variables, x, "vr")["encoder"]
    heads = g["_Heads_0"]
    assert _norm(heads["mu"]) == 0.0
    assert _norm(heads["logvar"]) > 0.0


def test_latent_terms_reach_decoder_zero_even_with_batchnorm_stats():
    """Frozen calls must not leak through BatchNorm's batch statistics either."""
    cfg, enc, dec, variables, x = _setup("lpga", "conv_32", True)
    for term in ("lr_prior", "lr_post", "nll_enc"):
        assert _norm(_term_grads(cfg, enc, dec, variables, x, term)["decoder"]) == 0.0
    assert _norm(_term_grads(cfg, enc, dec, variables, x, "nll_dec")["encoder"]) == 0.0


def test_total_gradient_is_encoder_loss_wrt_phi_and_decoder_loss_wrt_theta():
    """The step's single gradient equals the original code's two gradients:
    grad(enc_loss, phi) with theta fixed and grad(dec_loss, theta) with phi fixed, where the
    losses are written here plainly (LPGA, L:106-132), with stop_gradient only where the
    original code has it (zh = sg(z), z = sg(z) in L_nll^theta)."""
    cfg, enc, dec, variables, x = _setup("lpga", "conv_mnist", False, z_dim=4)
    alpha, gamma, beta = 0.3, 0.2, 0.1
    cfg = objectives.ObjectiveConfig(name="lpga", alpha=alpha, beta=beta, gamma=gamma)
    rng = jax.random.PRNGKey(7)
    k_lr, k_delta = jax.random.split(rng)

    def E(p, v):
        return enc.apply({"params": p}, v)[0]

    def D(p, v):
        return dec.apply({"params": p}, v)

    def plain_losses(phi, theta):
        z = E(phi, x)
        rec = jnp.mean((x - D(theta, z)) ** 2)
        zn = jax.random.normal(k_lr, z.shape)
        zn_rec = jnp.mean((zn - E(phi, D(theta, zn))) ** 2)
        zh = jax.lax.stop_gradient(z)
        zh_rec = jnp.mean((zh - E(phi, D(theta, zh))) ** 2)
        nll_enc = 0.5 * jnp.mean(z**2) + 0.5 * np.log(2 * np.pi)
        h_dim = z.shape[-1]
        eps = 1e-2 * np.sqrt(h_dim)
        n = jax.random.normal(k_delta, z.shape)
        delta = n / jnp.linalg.norm(n, axis=-1, keepdims=True) * eps
        diff = E(phi, D(theta, zh + delta)) - E(phi, D(theta, zh))
        nll_dec = jnp.mean(h_dim / 2 * jnp.log(jnp.sum((diff / eps) ** 2, -1))) / h_dim
        enc_loss = rec + alpha * zn_rec + beta * zh_rec + gamma * nll_enc
        dec_loss = rec + gamma * nll_dec
        return enc_loss, dec_loss

    phi, theta = variables["params"]["encoder"], variables["params"]["decoder"]
    want_enc = jax.grad(lambda p: plain_losses(p, theta)[0])(phi)
    want_dec = jax.grad(lambda t: plain_losses(phi, t)[1])(theta)

    def total(params):
        nets = objectives.Networks(enc, dec, params, {})
        terms = objectives.compute_terms(cfg, nets, x, rng)
        return objectives.combine(terms, objectives.term_weights(cfg, 0, 784, 4))[0]

    got = jax.grad(total)(variables["params"])
    # float32: L_nll^theta differences two nearby encodings, so compare relative to the scale.
    pairs = [
        *zip(jax.tree.leaves(got["encoder"]), jax.tree.leaves(want_enc), strict=True),
        *zip(jax.tree.leaves(got["decoder"]), jax.tree.leaves(want_dec), strict=True),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(jnp.max(jnp.abs(b))))
