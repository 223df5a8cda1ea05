"""Scores from Inception features, all in float64 numpy.

* :class:`RunningMoments`: streaming mean and covariance (Chan et al. pairwise update), equal to
  ``np.mean`` / ``np.cov(rowvar=False)`` (divisor N - 1) of all rows seen.
* :func:`frechet_distance`: d^2 = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), with
  Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)) from two symmetric ``eigh`` calls: S1 S2
  has the same eigenvalues as the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), so the trace is the
  sum of square roots of real non-negative eigenvalues. No ``sqrtm`` (whose SciPy versions
  regressed), stays real, and works for rank-deficient covariances (N < dim);
  :func:`frechet_distance_to_features` does the N < dim case with an N x N eigh instead.
* :func:`kernel_inception_distance`: KID (Binkowski et al. 2018), unbiased MMD^2 with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.
* :func:`precision_recall`: improved precision / recall (Kynkaanniemi et al. 2019), k = 3.
FID is biased by sample count: compare scores only at the same N (the paper used 5,000).
"""

from __future__ import annotations

import numpy as np


class RunningMoments:
    """Streaming float64 mean / covariance of feature rows, batch by batch.

    Merging batch B into the running set A (Chan, Golub & LeVeque 1979):
      n = nA + nB, delta = mean_B - mean_A, mean = mean_A + delta * nB / n,
      M2 = M2_A + M2_B + outer(delta, delta) * nA * nB / n,
    where M2 is the centred scatter matrix; cov = M2 / (n - 1). Stable for large means.
    """

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros(dim, np.float64)
        self.m2 = np.zeros((dim, dim), np.float64)

    def update(self, x) -> None:
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected (N, {self.mean.shape[0]}) features, got {x.shape}")
        nb = x.shape[0]
        if nb == 0:
            return
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.n * nb / n)
        self.n = n

    def covariance(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, have {self.n}")
        return self.m2 / (self.n - 1)


def mean_and_cov(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) in float64, as ``np.mean(axis=0)`` and ``np.cov(rowvar=False)``."""
    moments = RunningMoments(np.shape(features)[1])
    moments.update(features)
    return moments.mean, moments.covariance()


def _sym_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix via eigh; negative round-off eigenvalues -> 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2))), float64."""
    s1 = np.asarray(sigma1, np.float64)
    s2 = np.asarray(sigma2, np.float64)
    r = _sym_sqrt((s1 + s1.T) / 2)
    m = r @ ((s2 + s2.T) / 2) @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, S1) and N(mu2, S2) (the FID formula), float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, S {s1.shape}/{s2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))


def frechet_distance_to_features(features, mu_ref, sigma_ref) -> float:
    """Fréchet distance of the Gaussian fitted to ``features`` (N, d) to N(mu_ref, S_ref).

    For N <= d the sample covariance S = A^T A (A = centred rows / sqrt(N - 1)) has rank < N,
    and the non-zero eigenvalues of S S_ref = A^T (A S_ref) equal those of the N x N symmetric
    PSD matrix A S_ref A^T. So Tr((S S_ref)^(1/2)) needs only an N x N ``eigh`` (exact, and
    much cheaper than two d x d ones for small N). Otherwise this is :func:`frechet_distance`.
    """
    x = np.asarray(features, np.float64)
    n, d = x.shape
    if n > d:
        mu, sigma = mean_and_cov(x)
        return frechet_distance(mu, sigma, mu_ref, sigma_ref)
    if n < 2:
        raise ValueError(f"need at least 2 samples for a covariance, have {n}")
    mu = x.mean(axis=0)
    a = (x - mu) / np.sqrt(n - 1)
    sr = np.asarray(sigma_ref, np.float64)
    sr = (sr + sr.T) / 2
    g = a @ sr @ a.T
    w = np.linalg.eigvalsh((g + g.T) / 2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(w, 0.0, None))))
    diff = mu - np.asarray(mu_ref, np.float64)
    return float(diff @ diff + np.sum(a * a) + np.trace(sr) - 2.0 * tr_sqrt)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the KID kernel."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 with the KID kernel:
    sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1)) - 2 mean k(x_i, y_j).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kernel_inception_distance(
    feats1, feats2, *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation of :func:`mmd2_unbiased` over ``num_subsets`` random
    subsets of ``min(subset_size, N1, N2)`` rows drawn without replacement from each set."""
    f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    size = min(subset_size, f1.shape[0], f2.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    vals = np.array(
        [
            mmd2_unbiased(
                f1[rng.choice(f1.shape[0], size, replace=False)],
                f2[rng.choice(f2.shape[0], size, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return float(vals.mean()), float(vals.std())


def _distance_blocks(a: np.ndarray, b: np.ndarray, block: int = 1024):
    """Yields (row offset, Euclidean distances of a[offset:offset+block] to all of b), float64,
    so that at most block x len(b) distances exist at once."""
    bb = np.sum(b * b, axis=1)
    for s in range(0, a.shape[0], block):
        ab = a[s : s + block]
        d2 = np.sum(ab * ab, axis=1)[:, None] + bb[None, :] - 2.0 * (ab @ b.T)
        yield s, np.sqrt(np.clip(d2, 0.0, None))


def knn_radii(feats, k: int = 3) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (the k-NN manifold radius)."""
    f = np.asarray(feats, np.float64)
    if f.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, have {f.shape[0]}")
    radii = np.empty(f.shape[0], np.float64)
    for s, d in _distance_blocks(f, f):
        d[np.arange(d.shape[0]), s + np.arange(d.shape[0])] = 0.0  # self-distance exactly 0
        # Sorted, index 0 is the point itself, so index k is its k-th nearest neighbour.
        radii[s : s + d.shape[0]] = np.partition(d, k, axis=1)[:, k]
    return radii


def _coverage(points: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> float:
    """Fraction of ``points`` inside at least one ball B(centers_i, radii_i)."""
    inside = [np.any(d <= radii[None, :], axis=1) for _, d in _distance_blocks(points, centers)]
    return float(np.mean(np.concatenate(inside)))


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision / recall (Kynkaanniemi et al. 2019).

    precision = fraction of fake samples inside the real manifold (union of balls around real
    samples with radius = distance to their k-th nearest real neighbour); recall = fraction of
    real samples inside the fake manifold, built the same way.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = _coverage(fake, real, knn_radii(real, k))
    recall = _coverage(real, fake, knn_radii(fake, k))
    return precision, recall
