"""LVPGA, Eq. (16): the unified approach.

    L_lvpga = L_pga + gamma' L_vr' + gamma L_nll^phi + eta L_vkl^phi

    encoder loss = L_r + alpha L_lr,N + beta L_lr,H + gamma' L_vr' + eta L_vkl + gamma L_nll^phi
    decoder loss = L_r + gamma' L_vr'

L_vr' (`log_vr`) is Eq. 16's log-volume-ratio reconstruction term, not VPGA's Gaussian L_vr of
Eq. 12: 0.5 mean log(||h(mu + delta) - h(mu)||^2 / ||delta||^2) at sg(mu), through a frozen
encoder, with delta ~ N(0, diag(sigma_phi + 0.01)^2) (the original's "sigma_phi^2 > eps^2"
as std = sigma_phi + 0.01) normalised by sg(||delta||) per sample: the decoder trains through
both h calls, the encoder only through sigma_phi inside delta. L_nll^phi is Eq. 6 at mu.
Original flags: gamma' = --vrec, gamma = --nll, eta = --vkld. Warm-up: 3,000 steps (original).
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp

from pga_jax import losses
from pga_jax.objectives.base import BOTH, Term, hparam
from pga_jax.objectives.lpga import NLL_ENC
from pga_jax.objectives.pga import (
    LR_POST,
    LR_PRIOR,
    REC,
    PGAHparams,
    PGAObjective,
    warmup_field,
)
from pga_jax.objectives.registry import register
from pga_jax.objectives.vae import VKL

LOG_VR = Term(
    "log_vr",
    "Eq. 16",
    BOTH,
    "L_vr' = 0.5 log(||h(mu + delta) - h(mu)||^2 / ||delta||^2); the encoder only via sigma_phi",
)
STD_FLOOR = 0.01  # "sigma_phi^2 > eps^2" implemented as std = sigma_phi + 0.01


@flax.struct.dataclass
class LVPGAHparams(PGAHparams):
    warmup_steps: int = warmup_field(3000)
    gamma_prime: float = hparam(2e-2, "L_vr' weight, gamma' of Eq. 16 (original --vrec)")
    gamma: float = hparam(0.0, "L_nll^phi weight, gamma of Eq. 16 (original --nll)")
    eta: float = hparam(2e-2, "L_vkl weight, eta of Eq. 16 (original --vkld)")


@register
class LVPGA(PGAObjective):
    name = "lvpga"
    report_rank = 3
    variational = True
    terms = (REC, LR_PRIOR, LR_POST, NLL_ENC, LOG_VR, VKL)
    Hparams = LVPGAHparams
    legacy_fields = {"vrec": "gamma_prime", "vkld": "eta"}

    def compute_terms(self, hp, nets, x, rng):
        k_pga, k_noise = jax.random.split(rng)
        terms, mu, logvar = self.pga_terms(nets, x, k_pga)
        terms[NLL_ENC.name] = losses.nll_encoder(mu)
        mu_sg = jax.lax.stop_gradient(mu)
        std = jnp.exp(0.5 * logvar) + STD_FLOOR
        delta = losses.standard_normal(k_noise, mu) * std
        h_z = nets.h(mu_sg, frozen_encoder=True, differenced=True)
        h_z_delta = nets.h(mu_sg + delta, frozen_encoder=True, differenced=True)
        terms[LOG_VR.name] = losses.log_volume_ratio(
            h_z, h_z_delta, jnp.linalg.norm(delta, axis=-1)
        )
        terms[VKL.name] = losses.vae_kl(mu, logvar)
        return terms

    def weights(self, hp, step, image_size, z_dim):
        on = self.switched_on(hp, step)
        return {
            **self.pga_weights(hp, on),
            LOG_VR.name: hp.gamma_prime * on,
            VKL.name: hp.eta * on,
            NLL_ENC.name: hp.gamma * on,
        }
