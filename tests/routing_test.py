"""Gradient routing: each loss term reaches exactly the networks it trains.

Proven twice: against every registered objective's own declarations (`Term.trains`), and
against the paper's Fig. 1 / Eqs. 1-16 and the original code's two losses, written out here
independently of the declarations (so a wrong declaration fails the second check).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import models, objectives

BOTH, ENC, DEC = {"encoder", "decoder"}, {"encoder"}, {"decoder"}
PAPER = {
    "lpga": {"rec": BOTH, "lr_prior": ENC, "lr_post": ENC, "nll_enc": ENC, "nll_dec": DEC},
    "vpga": {"rec": BOTH, "lr_prior": ENC, "lr_post": ENC, "vr": BOTH, "vkl": ENC},
    "lvpga": {
        "rec": BOTH,
        "lr_prior": ENC,
        "lr_post": ENC,
        "nll_enc": ENC,
        "log_vr": BOTH,
        "vkl": ENC,
    },
    "vae": {"vae_rec": BOTH, "vkl": ENC},
}
ARCH_BN = [("conv_mnist", False), ("conv_32", True)]
# Every weight on (1.0), no warm-up: each objective's terms all computed.
ALL_ON = {"beta": 1.0}


def _setup(name, arch, bn, z_dim=6, batch=5):
    cls = objectives.get(name)
    on = {k: v for k, v in ALL_ON.items() if k in cls.defaults()}
    objective, hp = cls.make(**on)
    enc, dec = models.build_models(arch, z_dim, bn=bn, variational=cls.variational, resnet_dim=8)
    shape = models.output_shape(arch)
    variables = models.init_variables(enc, dec, jax.random.PRNGKey(0), shape, z_dim)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, *shape), minval=-1, maxval=1)
    return objective, hp, enc, dec, variables, x


def _term_grads(objective, hp, enc, dec, variables, x):
    """{term: gradient w.r.t. all parameters of that term alone} (one jitted program)."""

    def f(params, term):
        nets = objectives.Networks(enc, dec, params, variables["batch_stats"])
        return objective.compute_terms(hp, nets, x, jax.random.PRNGKey(2))[term]

    @jax.jit
    def all_grads(params):
        return {t: jax.grad(f)(params, t) for t in objective.present_terms}

    return all_grads(variables["params"])


def _norm(tree):
    return float(sum(jnp.sum(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)))


def _check(grads, expected, name):
    assert set(grads) == set(expected)
    for term, trained in expected.items():
        for net in ("encoder", "decoder"):
            magnitude = _norm(grads[term][net])
            if net in trained:
                assert magnitude > 0, f"{name}/{term} must train the {net}"
            else:
                assert magnitude == 0.0, f"{name}/{term} must not reach the {net}"


@pytest.mark.parametrize("arch,bn", ARCH_BN)
@pytest.mark.parametrize("name", objectives.names())
def test_each_term_trains_exactly_its_declared_networks_and_the_papers(name, arch, bn):
    objective, hp, enc, dec, variables, x = _setup(name, arch, bn)
    grads = _term_grads(objective, hp, enc, dec, variables, x)
    declared = {t: set(nets) for t, nets in objective.term_networks().items()}
    _check(grads, declared, name)
    if name in PAPER:  # the independent table
        _check(grads, PAPER[name], name)


def test_a_wrong_declaration_fails_the_papers_table():
    """The paper's table is a real second check: declaring L_nll^theta as training both
    networks (or the encoder only) disagrees with it."""
    lpga = objectives.get("lpga").term_networks()
    assert {k: set(v) for k, v in lpga.items()} == PAPER["lpga"]
    wrong = {**{k: set(v) for k, v in lpga.items()}, "nll_dec": BOTH}
    assert wrong != PAPER["lpga"]
    objective, hp, enc, dec, variables, x = _setup("lpga", "conv_mnist", False)
    grads = _term_grads(objective, hp, enc, dec, variables, x)
    with pytest.raises(AssertionError, match="nll_dec must train the encoder"):
        _check(grads, wrong, "lpga")


@pytest.mark.parametrize("name,term", [("vpga", "vr"), ("lvpga", "log_vr")])
def test_vr_reaches_encoder_only_through_sigma(name, term):
    """Sec. 3.3: the direct gradient from L_vr to the encoder is ignored; the path through
    sigma_phi (reparameterisation) is kept. So the mu head gets nothing, the logvar head does."""
    objective, hp, enc, dec, variables, x = _setup(name, "conv_mnist", False)
    g = _term_grads(objective, hp, enc, dec, variables, x)[term]["encoder"]
    heads = g["_Heads_0"]
    assert _norm(heads["mu"]) == 0.0
    assert _norm(heads["logvar"]) > 0.0


def test_latent_terms_reach_decoder_zero_even_with_batchnorm_stats():
    """Frozen calls must not leak through BatchNorm's batch statistics either."""
    objective, hp, enc, dec, variables, x = _setup("lpga", "conv_32", True)
    grads = _term_grads(objective, hp, enc, dec, variables, x)
    for term in ("lr_prior", "lr_post", "nll_enc"):
        assert _norm(grads[term]["decoder"]) == 0.0
    assert _norm(grads["nll_dec"]["encoder"]) == 0.0


def test_lr_post_is_computed_only_when_beta_is_positive():
    """As the original: L_lr,H's extra h pass only when its weight can be non-zero."""
    cls = objectives.get("lpga")
    assert "lr_post" not in cls.make(beta=0.0)[0].present_terms
    assert "lr_post" in cls.make(beta=0.01)[0].present_terms


def test_total_gradient_is_encoder_loss_wrt_phi_and_decoder_loss_wrt_theta():
    """The step's single gradient equals the original code's two gradients:
    grad(enc_loss, phi) with theta fixed and grad(dec_loss, theta) with phi fixed, where the
    losses are written here plainly (LPGA, L:106-132), with stop_gradient only where the
    original code has it (zh = sg(z), z = sg(z) in L_nll^theta)."""
    alpha, gamma, beta = 0.3, 0.2, 0.1
    objective, hp = objectives.get("lpga").make(alpha=alpha, beta=beta, gamma=gamma, warmup_steps=0)
    _, _, enc, dec, variables, x = _setup("lpga", "conv_mnist", False, z_dim=4)
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
    want_enc = jax.jit(jax.grad(lambda p: plain_losses(p, theta)[0]))(phi)
    want_dec = jax.jit(jax.grad(lambda t: plain_losses(phi, t)[1]))(theta)

    def total(params):
        nets = objectives.Networks(enc, dec, params, {})
        terms = objective.compute_terms(hp, nets, x, rng)
        return objectives.combine(objective, terms, objective.weights(hp, 0, 784, 4))[0]

    got = jax.jit(jax.grad(total))(variables["params"])
    # float32: L_nll^theta differences two nearby encodings, so compare relative to the scale.
    pairs = [
        *zip(jax.tree.leaves(got["encoder"]), jax.tree.leaves(want_enc), strict=True),
        *zip(jax.tree.leaves(got["decoder"]), jax.tree.leaves(want_dec), strict=True),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(jnp.max(jnp.abs(b))))
