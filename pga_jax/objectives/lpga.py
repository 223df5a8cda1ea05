"""LPGA, Eq. (9): maximum-likelihood PGA.

    L_lpga = L_pga + gamma (L_nll^phi + L_nll^theta)

    encoder loss = L_r + alpha L_lr,N + beta L_lr,H + gamma L_nll^phi
    decoder loss = L_r + gamma L_nll^theta

L_nll^theta (Eq. 7) differences h at z = sg(f(x)) and z + delta, delta uniform on the sphere
of radius eps = nll_eps_scale sqrt(H) (the original's 1e-2 sqrt(H)), through a frozen encoder:
an upper bound on E log|det dh/dz| as eps -> 0 (Proposition 1, Eq. 8). One gamma weighs both
NLL parts, as in the original (`--nll`). Warm-up: 3,000 plain-autoencoder steps (original).
"""

from __future__ import annotations

import flax
import jax

from pga_jax import losses
from pga_jax.objectives.base import DECODER, ENCODER, Term, hparam
from pga_jax.objectives.pga import (
    LR_POST,
    LR_PRIOR,
    REC,
    PGAHparams,
    PGAObjective,
    warmup_field,
)
from pga_jax.objectives.registry import register

NLL_ENC = Term("nll_enc", "Eq. 6", (ENCODER,), "L_nll^phi = -log N(f(x); 0, I) / H")
NLL_DEC = Term(
    "nll_dec", "Eq. 7", (DECODER,), "L_nll^theta = 0.5 log(||h(z + delta) - h(z)||^2 / eps^2)"
)


@flax.struct.dataclass
class LPGAHparams(PGAHparams):
    warmup_steps: int = warmup_field(3000)
    gamma: float = hparam(1.5e-2, "L_nll weight (both parts), Eq. 9 (original --nll)")
    nll_eps_scale: float = hparam(1e-2, "eps = nll_eps_scale sqrt(H), Eq. 7", positive=True)


@register
class LPGA(PGAObjective):
    name = "lpga"
    report_rank = 1
    variational = False
    terms = (REC, LR_PRIOR, LR_POST, NLL_ENC, NLL_DEC)
    Hparams = LPGAHparams
    z_dim = {"mnist": 12, "fashion_mnist": 12}  # original argparse default (VPGA's is 32)

    def compute_terms(self, hp, nets, x, rng):
        k_pga, k_delta = jax.random.split(rng)
        terms, z, _ = self.pga_terms(nets, x, k_pga)
        terms[NLL_ENC.name] = losses.nll_encoder(z)
        # L_nll^theta: decoder through a frozen encoder, at z = sg(z), delta uniform on S(eps).
        z_sg = jax.lax.stop_gradient(z)
        eps = losses.nll_sphere_radius(z.shape[-1], hp.nll_eps_scale)
        delta = losses.sphere_noise(k_delta, z.shape, eps, z.dtype)
        h_z = nets.h(z_sg, frozen_encoder=True, differenced=True)
        h_z_delta = nets.h(z_sg + delta, frozen_encoder=True, differenced=True)
        terms[NLL_DEC.name] = losses.nll_decoder(h_z, h_z_delta, eps)
        return terms

    def weights(self, hp, step, image_size, z_dim):
        on = self.switched_on(hp, step)
        return {
            **self.pga_weights(hp, on),
            NLL_ENC.name: hp.gamma * on,
            NLL_DEC.name: hp.gamma * on,
        }
