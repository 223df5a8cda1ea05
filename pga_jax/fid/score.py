"""Reference statistics files and the scoring API (``score_arrays``) the trainer calls.

A statistics file (``.npz``, no pickles) holds float64 ``mu`` and ``sigma`` of the 2048-d pool_3
features (the same keys as TTUR's published files, which therefore load too), plus ``n``,
``protocol``, ``weights_sha256`` and optionally ``features``: a seeded random subset of the
float32 feature rows, needed for KID and precision/recall.

Scores are plain JSON-ready dicts that always carry N, the protocol and the weights checksum,
because FID depends on all three.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

from pga_jax import atomic, data, errors
from pga_jax.fid import inception, resize, stats, weights

UNKNOWN = "unknown"
PAPER_N = 5000  # samples per FID in the paper and the original code (5 x 1,000)


@functools.lru_cache(maxsize=4)
def get_feature_fn(
    protocol: str = resize.DEFAULT_PROTOCOL,
    weights_path: str | None = None,
    cache: str | None = None,
    batch_size: int | None = None,
) -> inception.FeatureFn:
    """Loads the real weights once and returns a (cached) jitted 2048-d feature function."""
    params, digest = weights.load_inception_params(weights_path, cache)
    return inception.make_feature_fn(params, protocol, batch_size=batch_size, weights_sha256=digest)


def image_shape_of(images) -> tuple[int, int, int]:
    """(H, W, C) of (N, H, W[, C]) images: what statistics record they were made from."""
    shape = tuple(int(d) for d in np.shape(images)[1:])
    return shape if len(shape) == 3 else (*shape, 1)


def stats_from_features(
    features,
    *,
    protocol: str,
    weights_sha256: str,
    keep_features: int = 5000,
    seed: int = 0,
    image_shape: tuple[int, int, int] | None = None,
) -> dict:
    """Statistics dict of (N, 2048) features; keeps a seeded subset of rows for KID / P-R.
    `image_shape` (H, W, C) of the images they came from is recorded, so samples of another
    size or channel count are refused against them."""
    features = np.asarray(features)
    mu, sigma = stats.mean_and_cov(features)
    out = {
        "mu": mu,
        "sigma": sigma,
        "n": int(features.shape[0]),
        "protocol": protocol,
        "weights_sha256": weights_sha256,
    }
    if image_shape is not None:
        out["image_shape"] = np.asarray(image_shape, np.int64)
    if keep_features > 0:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.permutation(features.shape[0])[:keep_features])
        out["features"] = features[idx].astype(np.float32)
    return out


def compute_stats(images, feature_fn: inception.FeatureFn, **kwargs) -> dict:
    """Statistics dict of uint8 / [-1, 1] images with ``feature_fn``."""
    return stats_from_features(
        feature_fn(images),
        protocol=feature_fn.protocol,
        weights_sha256=feature_fn.weights_sha256,
        image_shape=image_shape_of(images),
        **kwargs,
    )


def save_stats(path: str | os.PathLike, st: dict) -> None:
    """Writes a statistics dict to ``.npz`` atomically (strings as 0-d unicode arrays)."""
    with atomic.replacing(path) as tmp:
        np.savez(tmp, **{k: np.asarray(v) for k, v in st.items()})


UNVERIFIED_FLAG = "--allow_unverified_ref"


def verified(ref: dict) -> bool:
    """Whether statistics record the protocol and the Inception weights' checksum they were
    made with (pga_jax's do; a bare mu/sigma file of another FID tool does not)."""
    return UNKNOWN not in (ref.get("protocol", UNKNOWN), ref.get("weights_sha256", UNKNOWN))


def load_stats(path: str | os.PathLike, allow_unverified: bool = False) -> dict:
    """Reads a statistics ``.npz``. One without a protocol or weights checksum (a bare
    mu/sigma file, e.g. TTUR's) is refused (ValueError, one line) unless `allow_unverified`:
    then its missing fields read "unknown" and scores against it record ref_verified: false."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "mu" not in z.files or "sigma" not in z.files:
                raise ValueError(f"{path} has no 'mu' / 'sigma' arrays")
            out = {
                "mu": np.asarray(z["mu"], np.float64),
                "sigma": np.asarray(z["sigma"], np.float64),
                "n": int(z["n"]) if "n" in z.files else -1,
                "protocol": str(z["protocol"]) if "protocol" in z.files else UNKNOWN,
                "weights_sha256": str(z["weights_sha256"])
                if "weights_sha256" in z.files
                else UNKNOWN,
            }
            if "image_shape" in z.files:  # (H, W, C) of the images; older files lack it
                out["image_shape"] = tuple(int(d) for d in z["image_shape"])
            if "images_sha256" in z.files:  # written by fid.reference
                out["images_sha256"] = str(z["images_sha256"])
            if "celeba_crop" in z.files:  # CelebA statistics of pga_jax.fid stats --dataset
                out["celeba_crop"] = int(z["celeba_crop"])
            if "features" in z.files:
                out["features"] = np.asarray(z["features"], np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read FID statistics {path}: {errors.plain_load_error(e)}") from e
    if not allow_unverified and not verified(out):
        missing = " and ".join(k for k in ("protocol", "weights_sha256") if out[k] == UNKNOWN)
        raise ValueError(
            f"FID statistics {path} record no {missing} (a bare mu/sigma file, as other FID "
            "tools write), so a FID against them may use other weights or resizing than they "
            "were made with; make them with python -m pga_jax.fid stats, or pass "
            f"{UNVERIFIED_FLAG} to score against them unverified (results record ref_verified: "
            "false)"
        )
    return out


def _check_compatible(ref: dict, protocol: str, weights_sha256: str) -> None:
    if ref["protocol"] not in (UNKNOWN, protocol):
        raise ValueError(
            f"reference stats use protocol {ref['protocol']!r} but images use {protocol!r}"
        )
    if UNKNOWN not in (ref["weights_sha256"], weights_sha256) and (
        ref["weights_sha256"] != weights_sha256
    ):
        raise ValueError(
            f"reference stats were made with other weights ({ref['weights_sha256'][:12]}... "
            f"vs {weights_sha256[:12]}...)"
        )


def score_features(
    features,
    ref: dict,
    *,
    protocol: str,
    weights_sha256: str,
    kid: bool = True,
    pr: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    pr_k: int = 3,
    seed: int = 0,
) -> dict:
    """FID (+ KID and precision/recall when ``ref`` holds features) of (N, 2048) features."""
    _check_compatible(ref, protocol, weights_sha256)
    features = np.asarray(features)
    fid = stats.frechet_distance_to_features(features, ref["mu"], ref["sigma"])
    out = _record(fid, features.shape[0], features.shape[1], protocol, weights_sha256, ref)
    _add_kid_and_pr(
        out, features, ref.get("features"), kid, pr, kid_subsets, kid_subset_size, pr_k, seed
    )
    return out


def score_stats(
    st: dict,
    ref: dict,
    *,
    kid: bool = True,
    pr: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    pr_k: int = 3,
    seed: int = 0,
) -> dict:
    """FID between two statistics dicts of the same protocol and weights, e.g. a dataset's test
    split against its training split (what real images score: the floor for samples). KID and
    precision/recall come from the feature rows both keep, when both keep some."""
    _check_compatible(ref, st["protocol"], st["weights_sha256"])
    fid = stats.frechet_distance(st["mu"], st["sigma"], ref["mu"], ref["sigma"])
    out = _record(fid, st["n"], st["mu"].shape[0], st["protocol"], st["weights_sha256"], ref)
    feats = st.get("features")
    if feats is not None:
        out["n_features"] = int(len(feats))
        _add_kid_and_pr(
            out, feats, ref.get("features"), kid, pr, kid_subsets, kid_subset_size, pr_k, seed
        )
    return out


def _record(fid, n, dims, protocol, weights_sha256, ref) -> dict:
    """A score as stored: the FID and what it depends on (N, reference N and protocol, weights)."""
    return {
        "fid": fid,
        "n": int(n),
        "n_ref": ref["n"],
        "protocol": protocol,
        "ref_protocol": ref["protocol"],
        "ref_verified": verified(ref),
        "weights_sha256": weights_sha256,
        "dims": int(dims),
    }


def _add_kid_and_pr(out, features, ref_feats, kid, pr, kid_subsets, kid_subset_size, pr_k, seed):
    """Adds KID (+ its std over subsets) and improved precision/recall when `ref_feats` exist."""
    if ref_feats is None:
        return
    if kid:
        m, s = stats.kernel_inception_distance(
            features, ref_feats, num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
        )
        out.update(kid=m, kid_std=s, kid_subsets=kid_subsets)
        out["kid_subset_size"] = min(kid_subset_size, len(features), len(ref_feats))
    if pr:
        p, r = stats.precision_recall(ref_feats, features, k=pr_k)
        out.update(precision=p, recall=r, pr_k=pr_k, n_ref_features=int(len(ref_feats)))


def reference_feature_fn(
    ref: dict,
    protocol: str | None = None,
    weights_path: str | None = None,
    batch_size: int | None = None,
) -> inception.FeatureFn:
    """The (cached) real feature function that scores images against `ref`: of `protocol`,
    default the reference's, else ``tf1_bilinear``."""
    if protocol is None:
        ref_protocol = ref.get("protocol", UNKNOWN)
        protocol = resize.DEFAULT_PROTOCOL if ref_protocol == UNKNOWN else ref_protocol
    return get_feature_fn(protocol, weights_path, None, batch_size)


def check_crop(ref: dict, celeba_crop: int | None) -> None:
    """ValueError (one line) unless the statistics `ref` are of a CelebA run's crop
    (`celeba_crop`; None: not a CelebA run, nothing to check)."""
    if celeba_crop is None:
        return
    made = ref.get("celeba_crop", data.DEFAULT_CELEBA_CROP)
    if made != celeba_crop:
        raise ValueError(
            f"the run was trained on {celeba_crop}x{celeba_crop} CelebA crops but the "
            f"reference statistics are of {made}x{made} crops; make statistics of its crop: "
            f"python -m pga_jax.fid stats --dataset=celeb_a --celeba_crop={celeba_crop}"
        )


def check_scorable(
    image_shape: tuple[int, int, int], ref: dict, feature_fn, celeba_crop: int | None = None
) -> None:
    """Refuses (ValueError, one line), before any feature is computed, to score images of
    `image_shape` (H, W, C) with `feature_fn` against `ref`: the reference's protocol or
    weights differ from the feature function's, its images were of another shape, or (for a
    CelebA run, `celeba_crop`) of another crop; statistics that record no crop are of the
    default 108x108 one, the only one before crops were a setting."""
    _check_compatible(ref, feature_fn.protocol, feature_fn.weights_sha256)
    check_crop(ref, celeba_crop)
    made_from = ref.get("image_shape")
    if made_from is not None and tuple(made_from) != tuple(image_shape):
        h, w, c = image_shape
        rh, rw, rc = made_from
        raise ValueError(
            f"the images are {h}x{w}x{c} but the reference statistics were made from "
            f"{rh}x{rw}x{rc} images; score them against statistics of images like them"
        )


def score_arrays(
    images,
    ref_stats: dict | str | os.PathLike,
    *,
    feature_fn: inception.FeatureFn | None = None,
    protocol: str | None = None,
    weights_path: str | None = None,
    celeba_crop: int | None = None,
    allow_unverified_ref: bool = False,
    **score_kwargs,
) -> dict:
    """Scores generated images against reference statistics: the trainer's entry point.

    Args:
      images: (N, H, W[, C]) uint8 0..255 or float [-1, 1] (quantised like the original code).
        Use N = 5,000 to compare with the paper; FID is biased by N.
      ref_stats: statistics dict or path to a statistics ``.npz``.
      feature_fn: a :class:`~pga_jax.fid.inception.FeatureFn` to reuse; by default one is built
        (and cached) from the real weights with the reference's protocol.
      protocol: input protocol when ``feature_fn`` is None (default: the reference's, else
        ``tf1_bilinear``).
      weights_path: weights source for the default feature function.
      celeba_crop: a CelebA run's crop, refused unless the statistics are of it.
      allow_unverified_ref: accept a statistics file without protocol / weights checksum.
      **score_kwargs: passed to :func:`score_features` (kid, pr, kid_subsets, seed, ...).
    Returns:
      JSON-ready dict: fid, n, n_ref, protocol, weights_sha256 (+ kid, precision, recall).
    """
    if not isinstance(ref_stats, dict):
        ref_stats = load_stats(ref_stats, allow_unverified_ref)
    ref = ref_stats
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images of shape {images.shape}: expected (N, H, W) or (N, H, W, C) images, "
            "C 1 or 3 (a flattened [N, H*W] array: reshape it first)"
        )
    if feature_fn is None:
        feature_fn = reference_feature_fn(ref, protocol, weights_path)
    check_scorable(image_shape_of(images), ref, feature_fn, celeba_crop)
    feats = feature_fn(images)
    return score_features(
        feats,
        ref,
        protocol=feature_fn.protocol,
        weights_sha256=feature_fn.weights_sha256,
        **score_kwargs,
    )


def mean_and_stderr(scores: list[dict]) -> dict:
    """Mean and standard error (std / sqrt(runs), ddof=1) of each numeric score over runs."""
    keys = [k for k in ("fid", "kid", "precision", "recall") if all(k in s for s in scores)]
    out: dict = {"runs": len(scores)}
    for k in keys:
        vals = np.array([s[k] for s in scores], np.float64)
        se = vals.std(ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else float("nan")
        out[k] = {"mean": float(vals.mean()), "stderr": float(se)}
    return out


def to_json(scores: dict) -> str:
    """Scores as indented JSON."""
    return json.dumps(scores, indent=2, sort_keys=True)
