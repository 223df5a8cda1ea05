"""Float64 moments, Fréchet distance, KID and precision/recall on toy data with known answers."""

import warnings

import numpy as np
import pytest
import scipy.linalg

from pga_jax.fid import stats


def _sqrtm_reference(mu1, s1, mu2, s2):
    """FID as pytorch-fid / the original code compute it: scipy sqrtm of S1 S2, real part."""
    with warnings.catch_warnings():  # sqrtm warns on singular S1 S2 (N < dim cases)
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real


def _random_stats(rng, n, dim, scale=1.0, shift=0.0):
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    x = rng.normal(size=(n, dim)) @ mix * scale + shift
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize(
    "n1, n2, dim, rtol",
    [
        (400, 300, 32, 1e-10),  # full rank
        (2000, 2000, 128, 1e-10),  # full rank, larger
        (20, 30, 64, 1e-6),  # rank-deficient: N < dim (sqrtm itself is only ~1e-8 here)
        (10, 500, 48, 1e-6),  # one singular, one full-rank covariance
    ],
)
def test_frechet_matches_sqrtm(n1, n2, dim, rtol):
    rng = np.random.default_rng(n1 + dim)
    mu1, s1 = _random_stats(rng, n1, dim)
    mu2, s2 = _random_stats(rng, n2, dim, scale=1.5, shift=0.3)
    ours = stats.frechet_distance(mu1, s1, mu2, s2)
    ref = _sqrtm_reference(mu1, s1, mu2, s2)
    np.testing.assert_allclose(ours, ref, rtol=rtol)


@pytest.mark.parametrize("n", [2, 20, 64, 65, 200])
def test_frechet_from_features_small_n_path(n):
    """N <= dim uses the N x N Gram form; it must equal the d x d forms.

    The Gram form is the more accurate one for N < dim: for N = 20 against 40-digit mpmath it
    was off by 7e-10 (relative), the d x d eigh form by 2e-8 and scipy's sqrtm by 2e-8, since
    square roots of round-off-sized eigenvalues of the singular d x d matrices add up.
    """
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 64)) @ rng.normal(size=(64, 64)) / 8 + 0.1
    mu2, s2 = _random_stats(rng, 500, 64, scale=1.2)
    mu1, s1 = np.mean(x, axis=0), np.cov(x, rowvar=False)
    ours = stats.frechet_distance_to_features(x, mu2, s2)
    np.testing.assert_allclose(ours, stats.frechet_distance(mu1, s1, mu2, s2), rtol=2e-7)
    np.testing.assert_allclose(ours, _sqrtm_reference(mu1, s1, mu2, s2), rtol=1e-6)


def test_frechet_closed_forms():
    rng = np.random.default_rng(0)
    mu, s = _random_stats(rng, 100, 16)
    # Identical Gaussians: 0 (up to round-off); the real float64 answer is never negative.
    assert abs(stats.frechet_distance(mu, s, mu, s)) < 1e-9
    # Commuting covariances a^2 I and b^2 I: d^2 = |dmu|^2 + dim (a - b)^2.
    d = stats.frechet_distance(np.zeros(5), 4 * np.eye(5), np.ones(5), 9 * np.eye(5))
    assert d == pytest.approx(5 + 5 * (2 - 3) ** 2, rel=1e-12)
    # Singular covariances (zero matrix): d^2 = |dmu|^2 + Tr(S2).
    d = stats.frechet_distance(np.zeros(3), np.zeros((3, 3)), np.ones(3), 2 * np.eye(3))
    assert d == pytest.approx(3 + 6, rel=1e-12)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape mismatch"):
        stats.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_running_moments_equal_numpy_cov():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 20)) * 0.01 + 1e4  # large mean, small spread: stability test
    m = stats.RunningMoments(20)
    for chunk in np.array_split(x, [1, 7, 300, 301, 999]):
        m.update(chunk.astype(np.float32).astype(np.float64))
    xc = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(m.mean, xc.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.covariance(), np.cov(xc, rowvar=False), rtol=1e-9, atol=1e-12)
    assert m.n == 1000


def _expected_kernel(mu_a, var_a, mu_b, var_b, dim):
    """E[(a.b / d + 1)^3] for independent a ~ N(mu_a, var_a I), b ~ N(mu_b, var_b I).

    With c = mu_a.mu_b: E[a.b] = c; E[(a.b)^2] = Tr((Sa + mu_a mu_a^T)(Sb + mu_b mu_b^T));
    E[(a.b)^3] = c^3 + 3 c mu_a^T Sb mu_a + 3 (c (mu_b^T Sa mu_b + Tr(Sa Sb))
    + 2 mu_a^T Sb Sa mu_b)  (Gaussian moments, conditioning on b).
    """
    c = mu_a @ mu_b
    m1 = c
    m2 = dim * var_a * var_b + var_a * (mu_b @ mu_b) + var_b * (mu_a @ mu_a) + c**2
    m3 = (
        c**3
        + 3 * c * var_b * (mu_a @ mu_a)
        + 3 * (c * (var_a * (mu_b @ mu_b) + dim * var_a * var_b) + 2 * var_a * var_b * c)
    )
    return m3 / dim**3 + 3 * m2 / dim**2 + 3 * m1 / dim + 1


def test_kid_matches_analytic_mmd_of_gaussians():
    rng = np.random.default_rng(2)
    dim = 8
    mu_x, mu_y = np.zeros(dim), np.full(dim, 0.5)
    var_x, var_y = 1.0, 1.5
    x = rng.normal(size=(4000, dim)) * np.sqrt(var_x) + mu_x
    y = rng.normal(size=(4000, dim)) * np.sqrt(var_y) + mu_y
    truth = (
        _expected_kernel(mu_x, var_x, mu_x, var_x, dim)
        + _expected_kernel(mu_y, var_y, mu_y, var_y, dim)
        - 2 * _expected_kernel(mu_x, var_x, mu_y, var_y, dim)
    )
    kid, kid_std = stats.kernel_inception_distance(x, y, num_subsets=50, subset_size=1000)
    assert truth > 0.1
    # Unbiased: over 10 data seeds the mean was 1.468 (truth 1.475), seed-to-seed sd 0.05,
    # i.e. ~0.7 subset standard deviations; allow 3.
    assert abs(kid - truth) < 3 * kid_std, (kid, truth, kid_std)


def test_kid_identical_distributions_is_zero():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    kid, kid_std = stats.kernel_inception_distance(x, y, num_subsets=20, subset_size=500)
    assert abs(kid) < kid_std  # zero within the spread of one subset estimate
    # Unbiasedness: the diagonal is excluded, so identical *sets* give a small value, not 0 - 2k.
    assert abs(stats.mmd2_unbiased(x[:300], x[300:600])) < 0.05


def test_precision_recall_known_cases():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(1000, 2))
    # Same samples: every point lies in its own ball -> exactly 1.
    assert stats.precision_recall(real, real.copy()) == (1.0, 1.0)
    # Disjoint supports -> exactly 0.
    assert stats.precision_recall(real, real + 100.0) == (0.0, 0.0)
    # Same distribution, fresh samples -> close to 1 in low dimension.
    p, r = stats.precision_recall(real, rng.normal(size=(1000, 2)))
    assert p > 0.9 and r > 0.9
    # Mode collapse: fakes concentrated near the real mode -> high precision, low recall.
    p, r = stats.precision_recall(real, 0.1 * rng.normal(size=(1000, 2)))
    assert p > 0.95 and r < 0.3


def test_knn_radii_is_kth_neighbour():
    pts = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # Distances from 0: 1, 3, 6, 10 -> 3rd nearest other point is at 6.
    np.testing.assert_allclose(stats.knn_radii(pts, k=3), [6, 5, 3, 5, 9])
