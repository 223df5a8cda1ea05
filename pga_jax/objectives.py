"""The four objectives, VAE, LPGA (Eq. 9), VPGA (Eq. 13) and LVPGA (Eq. 16), as named terms.

An objective evaluates every loss term of one training step, each with its gradient routing
built in (`jax.lax.stop_gradient` on the parameters or inputs the term must not train), and
returns them as a dict. The step then minimises  sum_k w_k * term_k  over all parameters at
once. Because of the routing, the encoder's gradient is exactly d(encoder_loss)/d(phi) and the
decoder's exactly d(decoder_loss)/d(theta), as in the original code, which differentiates
`enc_loss` w.r.t. the encoder variables and `dec_loss` w.r.t. the decoder variables:

    LPGA   enc = L_r + a L_lr,N + b L_lr,H + g L_nll^phi            dec = L_r + g L_nll^theta
    VPGA   enc = L_r + a L_lr,N + b L_lr,H + vrec L_vr + vkld L_vkl   dec = L_r + vrec L_vr
    LVPGA  enc = L_r + a L_lr,N + b L_lr,H + vrec L_vr + vkld L_vkl + g L_nll^phi
                                                                      dec = L_r + vrec L_vr
    VAE    enc = L_r(x, g(z')) + kl L_vkl                             dec = L_r(x, g(z'))

(a, b, g, vrec, vkld = config alpha, beta, gamma, vrec, vkld; for LVPGA, Eq. 16's
gamma' = vrec, gamma = gamma, eta = vkld.) `TERM_NETWORKS` says which network each term trains.

The VAE baseline is a plain Gaussian VAE with decoder likelihood N(x; g(z'), sigma^2 I). Its
negative ELBO per image is  D/(2 sigma^2) mse + sum_j KL_j;  we minimise it multiplied by the
constant 2 sigma^2 / D, i.e.  mse + (2 sigma^2 H / D) * mean_j KL_j,  so the reconstruction term
has the same scale (and learning rate) as in the PGA objectives. sigma (`vae_sigma`) is tuned.

Warm-up (original code, not in the paper): LPGA and LVPGA train a plain autoencoder (every
weight but L_r's set to 0) for the first `warmup_steps` steps. VPGA has none. The original then
switches the other terms on at once; `ramp_steps > 0` raises them linearly instead (not in the
original: on Fashion-MNIST the abrupt switch diverged within 10 steps at lr 0.1, while the
encoder's latents were ~7.6x wider than the prior).

BatchNorm (when the architecture uses it): every call normalises with its own batch's
statistics; only the data-path calls Enc(x) and Dec(z) update the running averages.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from pga_jax import losses

OBJECTIVES = ("vae", "lpga", "vpga", "lvpga")
VARIATIONAL = {"vae": True, "lpga": False, "vpga": True, "lvpga": True}

# Which network each term trains (the paper's Fig. 1 and the original code's two losses).
TERM_NETWORKS = {
    "rec": ("encoder", "decoder"),  # L_r, Eq. 1
    "lr_prior": ("encoder",),  # L_lr,N, Eq. 2
    "lr_post": ("encoder",),  # L_lr,H, Eq. 3
    "nll_enc": ("encoder",),  # L_nll^phi, Eq. 6
    "nll_dec": ("decoder",),  # L_nll^theta, Eq. 7
    "vr": ("encoder", "decoder"),  # L_vr, Eq. 12 (VPGA) / Eq. 16 (LVPGA); phi via sigma only
    "vkl": ("encoder",),  # L_vkl^phi, Eq. 12
}

LVPGA_STD_FLOOR = 0.01  # "sigma_phi^2 > eps^2" implemented as std = sigma_phi + 0.01


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """The hyper-parameters an objective reads (a flat, hashable view of the config)."""

    name: str
    alpha: float = 0.0  # L_lr,N weight (original `zn_rec`)
    beta: float = 0.0  # L_lr,H weight (original `zh_rec`)
    gamma: float = 0.0  # NLL weight (original `nll`), both NLL parts
    vrec: float = 0.0  # L_vr weight (VPGA 1/sigma^2 role; LVPGA gamma')
    vkld: float = 0.0  # L_vkl weight (eta)
    nll_eps_scale: float = 1e-2  # eps = nll_eps_scale * sqrt(H)
    vae_sigma: float = 0.2  # the VAE baseline's decoder sigma (data in [-1, 1])
    warmup_steps: int = 0  # LPGA / LVPGA: plain-AE steps before the other terms switch on
    ramp_steps: int = 0  # 0: switch on at once (original); N: rise linearly over N steps

    def __post_init__(self):
        if self.name not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.name!r}; choose one of {OBJECTIVES}")


class Networks:
    """The encoder and decoder applied as pure functions, with per-call gradient routing.

    `frozen=True` applies a network with `stop_gradient(params)`: the call passes gradients to
    its *input* but not to its own parameters (the original's `no_enc_grad` trick).
    `update_stats=True` keeps the call's BatchNorm running-average update (data path only).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, params, batch_stats, train=True):
        self.modules = {"encoder": encoder, "decoder": decoder}
        self.params = params
        self.batch_stats = dict(batch_stats)
        self.train = train

    def _apply(self, name, inputs, frozen, update_stats):
        params = self.params[name]
        if frozen:
            params = jax.lax.stop_gradient(params)
        variables = {"params": params}
        stats = self.batch_stats.get(name)
        if not stats:  # no BatchNorm in this network
            return self.modules[name].apply(variables, inputs, train=self.train)
        variables["batch_stats"] = stats
        if not self.train:
            return self.modules[name].apply(variables, inputs, train=False)
        out, mutated = self.modules[name].apply(
            variables, inputs, train=True, mutable=["batch_stats"]
        )
        if update_stats:
            self.batch_stats[name] = mutated["batch_stats"]
        return out

    def encode(self, x, *, frozen=False, update_stats=False):
        """(mu, logvar) = f_phi(x); logvar is None for a deterministic encoder."""
        return self._apply("encoder", x, frozen, update_stats)

    def decode(self, z, *, frozen=False, update_stats=False):
        return self._apply("decoder", z, frozen, update_stats)

    def h(self, z, *, frozen_encoder=False, frozen_decoder=False):
        """h(z) = f_phi(g_theta(z)), the mean head of the encoder."""
        x = self.decode(z, frozen=frozen_decoder)
        return self.encode(x, frozen=frozen_encoder)[0]


def pga_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """L_pga, Eq. (4): L_r + alpha L_lr,N (+ beta L_lr,H when beta > 0), and (mu, logvar, x_hat).

    x_hat = g(mu) is the deterministic reconstruction; the latent terms train the encoder only,
    through h = f_phi o g_{sg theta}.
    """
    mu, logvar = nets.encode(x, update_stats=True)
    x_hat = nets.decode(mu, update_stats=True)
    z_prior = jax.random.normal(rng, mu.shape)
    terms = {
        "rec": losses.data_reconstruction(x, x_hat),
        "lr_prior": losses.latent_reconstruction(z_prior, nets.h(z_prior, frozen_decoder=True)),
    }
    if cfg.beta > 0:
        z_post = jax.lax.stop_gradient(mu)
        terms["lr_post"] = losses.latent_reconstruction(z_post, nets.h(z_post, frozen_decoder=True))
    return terms, mu, logvar, x_hat


def lpga_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """Eq. (9): L_pga + gamma (L_nll^phi + L_nll^theta)."""
    k_pga, k_delta = jax.random.split(rng)
    terms, z, _, x_hat = pga_terms(cfg, nets, x, k_pga)
    terms["nll_enc"] = losses.nll_encoder(z)
    # L_nll^theta: decoder through a frozen encoder, at z = sg(z), delta uniform on S(eps).
    z_sg = jax.lax.stop_gradient(z)
    eps = losses.nll_sphere_radius(z.shape[-1], cfg.nll_eps_scale)
    delta = losses.sphere_noise(k_delta, z.shape, eps)
    h_z = nets.h(z_sg, frozen_encoder=True)
    h_z_delta = nets.h(z_sg + delta, frozen_encoder=True)
    terms["nll_dec"] = losses.nll_decoder(h_z, h_z_delta, eps)
    return terms


def vpga_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """Eq. (13): L_pga + eta L_vae, with L_vae = L_vr + L_vkl (Eq. 12)."""
    k_pga, k_noise = jax.random.split(rng)
    terms, mu, logvar, x_hat = pga_terms(cfg, nets, x, k_pga)
    mu_sg = jax.lax.stop_gradient(mu)
    z_noise = jnp.exp(0.5 * logvar) * jax.random.normal(k_noise, mu.shape)  # reparam.: phi
    z_hat = nets.h(mu_sg, frozen_encoder=True)
    h_z_noisy = nets.h(mu_sg + z_noise, frozen_encoder=True)
    scale = jax.lax.stop_gradient(losses.batch_rms(mu))
    terms["vr"] = losses.vae_reconstruction(z_hat, h_z_noisy, scale)
    terms["vkl"] = losses.vae_kl(mu, logvar)
    return terms


def lvpga_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """Eq. (16): L_pga + gamma' L_vr + gamma L_nll^phi + eta L_vkl (log-ratio L_vr)."""
    k_pga, k_noise = jax.random.split(rng)
    terms, mu, logvar, x_hat = pga_terms(cfg, nets, x, k_pga)
    terms["nll_enc"] = losses.nll_encoder(mu)
    mu_sg = jax.lax.stop_gradient(mu)
    std = jnp.exp(0.5 * logvar) + LVPGA_STD_FLOOR
    delta = jax.random.normal(k_noise, mu.shape) * std
    h_z = nets.h(mu_sg, frozen_encoder=True)
    h_z_delta = nets.h(mu_sg + delta, frozen_encoder=True)
    terms["vr"] = losses.log_volume_ratio(h_z, h_z_delta, jnp.linalg.norm(delta, axis=-1))
    terms["vkl"] = losses.vae_kl(mu, logvar)
    return terms


def vae_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """Gaussian VAE (Eq. 10): reconstruction from z' ~ q(z'|x) and KL(q(z'|x) || N(0, I))."""
    mu, logvar = nets.encode(x, update_stats=True)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape)
    x_hat = nets.decode(z, update_stats=True)
    terms = {"rec": losses.data_reconstruction(x, x_hat), "vkl": losses.vae_kl(mu, logvar)}
    return terms


TERM_FUNCTIONS = {"vae": vae_terms, "lpga": lpga_terms, "vpga": vpga_terms, "lvpga": lvpga_terms}


def warmup_factor(cfg: ObjectiveConfig, step):
    """Multiplier of every weight but L_r's: 0 during warm-up, then 1 (original code), or a
    linear rise over `ramp_steps` steps (1/ramp_steps at step `warmup_steps`)."""
    if cfg.ramp_steps > 0:
        return jnp.clip((step - cfg.warmup_steps + 1) / cfg.ramp_steps, 0.0, 1.0)
    if cfg.warmup_steps > 0:
        return jnp.where(step >= cfg.warmup_steps, 1.0, 0.0)
    return 1.0


def term_weights(cfg: ObjectiveConfig, step, image_size: int, z_dim: int) -> dict:
    """w_k for each term at `step` (the warm-up zeroes all but L_r's)."""
    if cfg.name == "vae":
        return {"rec": 1.0, "vkl": 2.0 * cfg.vae_sigma**2 * z_dim / image_size}
    on = warmup_factor(cfg, step)
    weights = {"rec": 1.0, "lr_prior": cfg.alpha * on, "lr_post": cfg.beta * on}
    if cfg.name == "lpga":
        weights.update(nll_enc=cfg.gamma * on, nll_dec=cfg.gamma * on)
    elif cfg.name == "vpga":
        weights.update(vr=cfg.vrec * on, vkl=cfg.vkld * on)
    else:  # lvpga
        weights.update(vr=cfg.vrec * on, vkl=cfg.vkld * on, nll_enc=cfg.gamma * on)
    return weights


def compute_terms(cfg: ObjectiveConfig, nets: Networks, x, rng):
    """All terms of the objective, by name (see TERM_NETWORKS)."""
    return TERM_FUNCTIONS[cfg.name](cfg, nets, x, rng)


def combine(terms: dict, weights: dict) -> tuple[jax.Array, dict]:
    """The minimised scalar sum_k w_k term_k and the metrics (terms, encoder/decoder losses)."""
    total = sum(weights[k] * v for k, v in terms.items())
    metrics = {f"terms/{k}": v for k, v in terms.items()}
    for net in ("encoder", "decoder"):
        metrics[f"{net}_loss"] = sum(
            weights[k] * v for k, v in terms.items() if net in TERM_NETWORKS[k]
        )
    metrics["loss"] = total
    return total, metrics
