"""VPGA, Eq. (13): variational PGA.

    L_vpga = L_pga + eta L_vae,   L_vae = L_vr + L_vkl^phi   (Eq. 12)

    encoder loss = L_r + alpha L_lr,N + beta L_lr,H + vrec L_vr + eta L_vkl
    decoder loss = L_r + vrec L_vr

As in the original code, Eq. 13's single eta is two weights: `vrec` on L_vr (the original's
`--vrec`, eta / sigma^2 of p(z_hat | z') up to the scale s below) and `eta` on L_vkl (the
original's `--vkld`; the paper's eta values equal it). L_vr compares z_hat = h(sg mu) with
h(sg mu + sigma_phi n) through a frozen encoder (the original's `no_enc_grad`), each divided by
s = sg(batch RMS of mu) per latent dimension, the original's "sigma proportional to the
l2-norm of z": the decoder trains through both h calls, the encoder only through sigma_phi.
No warm-up (the original has none).
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp

from pga_jax import losses
from pga_jax.objectives.base import BOTH, Term, hparam
from pga_jax.objectives.pga import LR_POST, LR_PRIOR, REC, PGAHparams, PGAObjective
from pga_jax.objectives.registry import register
from pga_jax.objectives.vae import VKL

VR = Term(
    "vr",
    "Eq. 12",
    BOTH,
    "L_vr = mean ||(h(mu) - h(mu + sigma n)) / s||^2; the encoder only through sigma_phi",
)


@flax.struct.dataclass
class VPGAHparams(PGAHparams):
    vrec: float = hparam(1e-2, "L_vr weight, Eq. 12-13 (original --vrec)")
    eta: float = hparam(2e-2, "L_vkl weight, eta of Eq. 13 (original --vkld)")


@register
class VPGA(PGAObjective):
    name = "vpga"
    report_rank = 2
    variational = True
    terms = (REC, LR_PRIOR, LR_POST, VR, VKL)
    Hparams = VPGAHparams
    legacy_fields = {"vkld": "eta"}

    def compute_terms(self, hp, nets, x, rng):
        k_pga, k_noise = jax.random.split(rng)
        terms, mu, logvar = self.pga_terms(nets, x, k_pga)
        mu_sg = jax.lax.stop_gradient(mu)
        z_noise = jnp.exp(0.5 * logvar) * losses.standard_normal(k_noise, mu)  # reparam.: phi
        z_hat = nets.h(mu_sg, frozen_encoder=True, differenced=True)
        h_z_noisy = nets.h(mu_sg + z_noise, frozen_encoder=True, differenced=True)
        scale = jax.lax.stop_gradient(losses.batch_rms(mu))
        terms[VR.name] = losses.vae_reconstruction(z_hat, h_z_noisy, scale)
        terms[VKL.name] = losses.vae_kl(mu, logvar)
        return terms

    def weights(self, hp, step, image_size, z_dim):
        on = self.switched_on(hp, step)
        return {**self.pga_weights(hp, on), VR.name: hp.vrec * on, VKL.name: hp.eta * on}
