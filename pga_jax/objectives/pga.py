"""L_pga, Eq. (4): the perceptual terms every PGA objective shares, and their hyper-parameters.

    L_pga = L_r + alpha L_lr,N + beta L_lr,H

L_r trains both networks; the latent reconstruction losses train the encoder only, through
h = f_phi o g_{sg theta} (minimising them w.r.t. theta "degrades the performance", Sec. 3.1).
L_lr,H is computed only when beta > 0, as in the original code.

Warm-up (original code, not in the paper): plain-autoencoder steps (every weight but L_r's at
0) while `step <= warmup_steps` (the steps taken before the step, 0 for the first), as the
original's `global_step <= init_steps`: its 3,000 is 3,001 such steps (`base.in_warmup`). Then
the other terms switch on, at once as the original does, or linearly over `ramp_steps` steps
(not in the original: on Fashion-MNIST the abrupt switch diverged within 10 steps at lr 0.1,
while the encoder's latents were ~7.6x wider than the prior).
"""

from __future__ import annotations

import flax
import jax

from pga_jax import losses
from pga_jax.objectives.base import BOTH, ENCODER, Objective, Term, hparam, warmup_factor

REC = Term("rec", "Eq. 1", BOTH, "L_r = mean ||g(f(x)) - x||^2")
LR_PRIOR = Term("lr_prior", "Eq. 2", (ENCODER,), "L_lr,N = mean ||h(z) - z||^2, z ~ N(0, I)")
LR_POST = Term("lr_post", "Eq. 3", (ENCODER,), "L_lr,H = mean ||h(z) - z||^2, z = sg(f(x))")

ABLATION = "alpha=beta=0"  # Fig. 4: no latent reconstruction losses


def warmup_field(default: int):
    """The warm-up field: its default is the objective's (LPGA, LVPGA: 3,000; VPGA: 0)."""
    return hparam(
        default,
        "the original's init_steps: plain autoencoder while step <= it (N + 1 steps; 0: none)",
    )


@flax.struct.dataclass
class PGAHparams:
    alpha: float = hparam(6e-2, "L_lr,N weight, Eq. 4 (original --zn_rec)")
    beta: float = hparam(0.0, "L_lr,H weight, Eq. 4 (original --zh_rec; 0: not computed)")
    warmup_steps: int = warmup_field(0)
    ramp_steps: int = hparam(0, "0: switch on at once (original); N: rise linearly over N steps")


class PGAObjective(Objective):
    """Shared by LPGA, VPGA and LVPGA: L_pga's terms, the warm-up and the ablation label."""

    Hparams = PGAHparams

    @classmethod
    def structure(cls, settings) -> frozenset[str]:
        present = super().structure(settings)
        return present if settings["beta"] > 0 else present - {LR_POST.name}

    @classmethod
    def report_label(cls, settings) -> str:
        label = super().report_label(settings)
        if settings.get("alpha", 0) == 0 and settings.get("beta", 0) == 0:
            return f"{label} ({ABLATION})"
        return label

    def pga_terms(self, nets, x, rng):
        """L_r, L_lr,N (and L_lr,H if present), and (mu, logvar) of the data.

        x_hat = g(mu) is the deterministic reconstruction; only these data-path calls update
        BatchNorm's running averages.
        """
        mu, logvar = nets.encode(x, update_stats=True)
        x_hat = nets.decode(mu, update_stats=True)
        z_prior = losses.standard_normal(rng, mu)
        terms = {
            REC.name: losses.data_reconstruction(x, x_hat),
            LR_PRIOR.name: losses.latent_reconstruction(
                z_prior, nets.h(z_prior, frozen_decoder=True)
            ),
        }
        if LR_POST.name in self.present_terms:
            z_post = jax.lax.stop_gradient(mu)
            terms[LR_POST.name] = losses.latent_reconstruction(
                z_post, nets.h(z_post, frozen_decoder=True)
            )
        return terms, mu, logvar

    @staticmethod
    def switched_on(hp, step):
        """0 during the warm-up, then 1 (or the ramp): see `warmup_factor`."""
        return warmup_factor(hp.warmup_steps, hp.ramp_steps, step)

    def pga_weights(self, hp, on) -> dict:
        return {REC.name: 1.0, LR_PRIOR.name: hp.alpha * on, LR_POST.name: hp.beta * on}
