"""The Gaussian VAE baseline (Eq. 10); not in the original repository.

Decoder likelihood N(x; g(z'), sigma^2 I), z' ~ q(z'|x) = N(mu_phi(x), diag sigma_phi(x)^2).
Its negative ELBO per image is  D/(2 sigma^2) mse + sum_j KL_j;  we minimise it multiplied by
the constant 2 sigma^2 / D, i.e.  mse + (2 sigma^2 H / D) mean_j KL_j,  so the reconstruction
term has the same scale (and learning rate) as L_r in the PGA objectives. sigma (`vae_sigma`,
data in [-1, 1]) is tuned, as in the paper.
"""

from __future__ import annotations

import flax
import jax.numpy as jnp

from pga_jax import losses
from pga_jax.objectives.base import BOTH, ENCODER, Objective, Term, hparam
from pga_jax.objectives.registry import register

VAE_REC = Term("vae_rec", "Eq. 10", BOTH, "mean ||g(z') - x||^2, z' ~ q(z'|x) (reparameterised)")
# The VAE's KL term; VPGA's and LVPGA's L_vkl^phi (Eqs. 12, 16) is the same term.
VKL = Term("vkl", "Eq. 10/12", (ENCODER,), "L_vkl^phi = KL(N(mu, sigma^2) || N(0, I)), mean")


@flax.struct.dataclass
class VAEHparams:
    vae_sigma: float = hparam(0.2, "decoder sigma of N(x; g(z'), sigma^2 I)", positive=True)


@register
class VAE(Objective):
    name = "vae"
    report_rank = 0
    variational = True
    terms = (VAE_REC, VKL)
    Hparams = VAEHparams

    def compute_terms(self, hp, nets, x, rng):
        mu, logvar = nets.encode(x, update_stats=True)
        z = mu + jnp.exp(0.5 * logvar) * losses.standard_normal(rng, mu)
        x_hat = nets.decode(z, update_stats=True)
        return {
            VAE_REC.name: losses.data_reconstruction(x, x_hat),
            VKL.name: losses.vae_kl(mu, logvar),
        }

    def weights(self, hp, step, image_size, z_dim):
        return {VAE_REC.name: 1.0, VKL.name: 2.0 * hp.vae_sigma**2 * z_dim / image_size}
