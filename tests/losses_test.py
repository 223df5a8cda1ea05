"""Loss terms against their mathematical definitions, and Proposition 1 (Eq. 8)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pga_jax import losses


def _estimator(A, eps, n_samples, seed=0):
    """H * L_nll^theta for the linear h(z) = A z: E_delta[H/2 log ||A delta||^2 / ||delta||^2]."""
    h_dim = A.shape[0]
    delta = losses.sphere_noise(jax.random.PRNGKey(seed), (n_samples, h_dim), eps)
    z = jnp.ones((n_samples, h_dim))  # any point: h is linear
    h = lambda v: v @ A.T
    return h_dim * float(losses.nll_decoder(h(z), h(z + delta), eps))


def test_sphere_noise_has_radius_eps_and_is_isotropic():
    d = losses.sphere_noise(jax.random.PRNGKey(0), (20000, 5), 0.3)
    np.testing.assert_allclose(jnp.linalg.norm(d, axis=-1), 0.3, rtol=1e-5)
    # uniform on the sphere: E[d d^T] = eps^2 / H * I
    np.testing.assert_allclose(d.T @ d / len(d), 0.09 / 5 * np.eye(5), atol=2e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_proposition_1_upper_bound_on_log_det(seed):
    """log|det A| <= E_delta[H/2 log ||A delta||^2/||delta||^2]  (and, by Jensen, the estimator
    is <= H/2 log(tr(A^T A)/H)); strictly above for a non-conformal A."""
    h_dim = 4
    A = np.asarray(jax.random.normal(jax.random.PRNGKey(100 + seed), (h_dim, h_dim)))
    log_det = np.linalg.slogdet(A)[1]
    for eps in (1e-1, 1e-3):
        est = _estimator(jnp.asarray(A, jnp.float32), eps, 400_000, seed)
        assert est >= log_det + 0.05, (est, log_det)
        assert est <= h_dim / 2 * math.log(np.trace(A.T @ A) / h_dim) + 1e-3


@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_proposition_1_tight_for_multiple_of_identity(c):
    h_dim = 6
    A = c * jnp.eye(h_dim)
    est = _estimator(A, 1e-2, 1000)
    np.testing.assert_allclose(est, h_dim * math.log(c), atol=1e-4)


def test_proposition_1_small_eps_on_a_smooth_nonlinear_map():
    """For a smooth h, as eps -> 0 the estimator approaches the linearisation's value."""
    h_dim = 3
    A = jnp.array([[1.5, 0.2, 0.0], [0.1, 0.7, 0.3], [0.0, -0.4, 1.1]])
    z0 = jnp.array([0.3, -0.2, 0.5])
    h = lambda v: v @ A.T + 0.5 * jnp.tanh(v) ** 2
    J = jax.jacfwd(h)(z0)
    want = _estimator(J, 1e-2, 200_000)
    delta = losses.sphere_noise(jax.random.PRNGKey(0), (200_000, h_dim), 1e-4)
    z = jnp.broadcast_to(z0, delta.shape)
    got = h_dim * float(losses.nll_decoder(h(z), h(z + delta), 1e-4))
    assert abs(got - want) < 2e-2
    assert got >= float(jnp.linalg.slogdet(J)[1])


def test_log_volume_ratio_ignores_gradient_of_the_normaliser():
    h_z = jnp.zeros((3, 2))
    h_zd = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    g = jax.grad(lambda n: losses.log_volume_ratio(h_z, h_zd, n))(jnp.ones(3))
    assert float(jnp.abs(g).sum()) == 0.0
    np.testing.assert_allclose(
        losses.log_volume_ratio(h_z, h_zd, jnp.ones(3)),
        0.5 * np.mean(np.log([1.0, 4.0, 2.0])),
        rtol=1e-6,
    )


def test_an_exact_zero_distance_gives_a_finite_term_and_finite_gradients():
    """h(z + delta) == h(z) exactly (float32, seen on LPGA smoke runs): the floor 1e-30 on the
    squared distance gives log(1e-30) for that sample instead of -inf, and no NaN gradient."""
    h_z = jnp.array([[0.5, -0.25], [0.1, 0.2]])
    h_zd = jnp.array([[0.5, -0.25], [0.1, 0.3]])  # the first sample: an exact zero
    value, grads = jax.value_and_grad(losses.log_volume_ratio, argnums=(0, 1))(
        h_z, h_zd, jnp.float32(0.1)
    )
    assert np.isfinite(float(value))
    want = 0.5 * np.mean([np.log(1e-30 / 0.01), np.log(0.01 / 0.01)])
    np.testing.assert_allclose(float(value), want, rtol=1e-5)
    for g in grads:
        assert np.isfinite(np.asarray(g)).all()
        np.testing.assert_array_equal(np.asarray(g)[0], 0.0)  # none through the floored sample
    assert np.isfinite(float(losses.nll_decoder(h_z, h_z, 0.01)))


def test_the_floor_changes_nothing_above_it():
    h_z = jax.random.normal(jax.random.PRNGKey(0), (16, 8))
    h_zd = h_z + 1e-4 * jax.random.normal(jax.random.PRNGKey(1), (16, 8))
    sq = jnp.sum(jnp.square(h_zd - h_z), axis=-1)
    plain = 0.5 * jnp.mean(jnp.log(sq / 0.01**2))
    assert float(losses.log_volume_ratio(h_z, h_zd, jnp.float32(0.01))) == float(plain)


def test_scalings_follow_the_original_code():
    x = jnp.arange(12.0).reshape(3, 4) / 10
    y = jnp.ones((3, 4))
    np.testing.assert_allclose(losses.data_reconstruction(x, y), np.mean((x - y) ** 2), rtol=1e-6)
    z = jnp.array([[1.0, -2.0], [0.5, 0.0]])
    # -mean_b log N(z; 0, I) / H
    nll = -np.mean(np.sum(-0.5 * np.asarray(z) ** 2 - 0.5 * np.log(2 * np.pi), -1)) / 2
    np.testing.assert_allclose(losses.nll_encoder(z), nll, rtol=1e-6)
    mu, logvar = jnp.array([[0.3, -1.0]]), jnp.array([[0.2, -0.5]])
    kl = np.mean(0.5 * (np.exp(logvar) + mu**2 - 1 - logvar))
    np.testing.assert_allclose(losses.vae_kl(mu, logvar), kl, rtol=1e-6)
    assert float(losses.vae_kl(jnp.zeros((2, 3)), jnp.zeros((2, 3)))) == 0.0
    np.testing.assert_allclose(
        losses.batch_rms(jnp.array([[3.0, 1.0], [4.0, 1.0]])), [math.sqrt(12.5), 1.0], rtol=1e-6
    )
    assert losses.nll_sphere_radius(16, 1e-2) == pytest.approx(0.04)
