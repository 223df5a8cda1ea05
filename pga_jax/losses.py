"""One pure function per loss term of the paper (Eqs. 1-16), with the original code's scaling.

Scaling (follows the authors' code, not the paper's 1/2 ||.||^2 sums): squared errors are
**means over all elements** (batch x dimensions) without the 1/2, and the likelihood terms are
divided by H, i.e. reported per latent dimension. The coefficients in `experiments/` are tuned
for this scaling.

Which network a term trains is decided by *where its inputs come from*, which the objective
(`objectives/`) arranges with `jax.lax.stop_gradient`. Each docstring below says which
network the paper trains with the term; each objective's `terms` declare it (`Term.trains`),
and `tests/losses_test.py` differentiates every term separately to prove it.

Notation: x data, z = f_phi(x) (encoder), x_hat = g_theta(z) (decoder), h = f_phi o g_theta,
z_n ~ N(0, I), sg = stop_gradient, H = latent dimension.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def mean_squared_error(a: jax.Array, b: jax.Array) -> jax.Array:
    """mean((a - b)^2) over every element: `tf.losses.mean_squared_error` (no 1/2)."""
    return jnp.mean(jnp.square(a - b))


def data_reconstruction(x: jax.Array, x_hat: jax.Array) -> jax.Array:
    """L_r, Eq. (1): mean ||x_hat - x||^2.  Trains the encoder AND the decoder."""
    return mean_squared_error(x, x_hat)


def latent_reconstruction(z: jax.Array, h_z: jax.Array) -> jax.Array:
    """L_lr,N (Eq. 2, z ~ N(0, I)) or L_lr,H (Eq. 3, z = sg(f_phi(x))): mean ||h(z) - z||^2.

    Trains the ENCODER only: the caller evaluates h(z) = f_phi(g_{sg theta}(z)), so no gradient
    reaches the decoder (minimising it w.r.t. theta "degrades the performance", Sec. 3.1).
    """
    return mean_squared_error(z, h_z)


def nll_encoder(z: jax.Array) -> jax.Array:
    """L_nll^phi, Eq. (6): -E[log N(z; 0, I)] / H = 0.5 mean(z^2) + 0.5 log(2 pi).

    Trains the ENCODER only (z = f_phi(x); for LVPGA z = mu_phi(x)).
    """
    return 0.5 * jnp.mean(jnp.square(z)) + _HALF_LOG_2PI


# Deviation from the original code (which takes log ||h(z + delta) - h(z)||^2 as it is): the
# squared distance is floored at 1e-30, so an exact float32 zero (h(z + delta) == h(z), seen on
# Fashion-MNIST LPGA smoke runs) gives log(1e-30) = -69.1 for that sample, with no gradient
# through it, instead of -inf and NaN gradients. Size: it acts only where every coordinate of
# h(z + delta) - h(z) is below 1e-15; for float32 encodings larger than ~1e-8 in magnitude
# (one ulp of them is above 1e-15) that is an exact zero and nothing else. Typical squared
# distances with delta's radius 0.01 sqrt(H) are 1e-6 .. 1, so every other input gives
# bit-identical results (tests/losses_test.py; the original TF step's parity holds).
SQ_DIST_FLOOR = 1e-30


def log_volume_ratio(h_z: jax.Array, h_z_delta: jax.Array, delta_norm: jax.Array) -> jax.Array:
    """(H/2) E[log ||h(z + delta) - h(z)||^2 / ||delta||^2] / H, the log-determinant estimator.

    The shared form of two terms, both of which train the DECODER through a frozen encoder
    (h = f_{sg phi} o g_theta, evaluated at z = sg(z)):
    - L_nll^theta, Eq. (7): delta uniform on the sphere of radius eps (so ||delta|| = eps);
    - LVPGA's L_vr, Eq. (16): delta ~ N(0, diag(sigma_phi + 0.01)^2), normalised by
      sg(||delta||) per sample; here the encoder ALSO trains through sigma_phi inside delta.

    Args:
      h_z, h_z_delta: [B, H] encodings h(z) and h(z + delta).
      delta_norm: [B] (or scalar) ||delta||, treated as a constant.
    Returns:
      0.5 * mean_b log(max(||h(z + delta) - h(z)||^2, SQ_DIST_FLOOR) / ||delta||^2), per latent
      dimension (the floor, a deviation from the original, only acts at an exact zero).
    """
    sq_dist = jnp.maximum(
        jnp.sum(jnp.square(h_z_delta - h_z), axis=-1), jnp.asarray(SQ_DIST_FLOOR, h_z.dtype)
    )
    delta_sq = jnp.square(jax.lax.stop_gradient(delta_norm))
    return 0.5 * jnp.mean(jnp.log(sq_dist / delta_sq))


def nll_decoder(h_z: jax.Array, h_z_delta: jax.Array, eps: float) -> jax.Array:
    """L_nll^theta, Eq. (7), with delta ~ uniform on S(eps).  Trains the DECODER only.

    Upper bound on E log|det dh/dz| as eps -> 0 (Proposition 1, Eq. 8).
    """
    return log_volume_ratio(h_z, h_z_delta, jnp.asarray(eps, h_z.dtype))


def standard_normal(rng: jax.Array, like: jax.Array) -> jax.Array:
    """N(0, I) draws shaped like `like`, in its dtype: sampled in float32 and cast, so a float64
    computation of a loss (tests/accuracy_test.py) sees the very numbers float32 training does."""
    return jax.random.normal(rng, like.shape, jnp.float32).astype(like.dtype)


def sphere_noise(rng: jax.Array, shape: tuple[int, ...], radius: float, dtype=jnp.float32):
    """delta uniform on the (H-1)-sphere of radius `radius`: n / ||n|| * radius, n ~ N(0, I)."""
    n = standard_normal(rng, jax.ShapeDtypeStruct(shape, dtype))
    return n / jnp.linalg.norm(n, axis=-1, keepdims=True) * radius


def nll_sphere_radius(z_dim: int, scale: float) -> float:
    """eps = scale sqrt(H): `scale` per dimension (the original code's 1e-2 is LPGA's default
    `nll_eps_scale`, objectives/lpga.py)."""
    return scale * math.sqrt(z_dim)


def vae_reconstruction(z_hat: jax.Array, h_z_noisy: jax.Array, scale: jax.Array) -> jax.Array:
    """VPGA's L_vr, Eq. (12) first term: mean ||(z_hat - h(z'))/s||^2 (Gaussian p(z_hat|z')).

    s = sg(sqrt(mean_batch mu^2)) per latent dimension stands for "sigma proportional to the
    l2-norm of z" (the original's per-dimension batch RMS). z_hat = h(sg mu) and
    h(z') = h(sg mu + sigma_phi * n) both go through the frozen encoder (`no_enc_grad`), so the
    term trains the DECODER (through both h calls) and the ENCODER only through sigma_phi.
    """
    s = jax.lax.stop_gradient(scale)
    return mean_squared_error(z_hat / s, h_z_noisy / s)


def vae_kl(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """L_vkl^phi, Eq. (12) second term: KL(N(mu, sigma^2) || N(0, I)), mean over batch and dims.

    -0.5 mean(1 + log sigma^2 - mu^2 - sigma^2).  Trains the ENCODER only.
    """
    return -0.5 * jnp.mean(1.0 + logvar - jnp.square(mu) - jnp.exp(logvar))


def batch_rms(mu: jax.Array) -> jax.Array:
    """sqrt(mean over the batch of mu^2), one value per latent dimension ([H])."""
    return jnp.sqrt(jnp.mean(jnp.square(mu), axis=0))
