"""Reference statistics of a whole dataset split, computed in resumable chunks with progress.

The paper's FID references are all training images (60,000 for MNIST / Fashion-MNIST, 50,000
for CIFAR-10). A GPU does that in a minute or two; a 2-core CPU (~7 images/s) needs over two
hours. So the features are written chunk by chunk to ``<out>.partial/`` (plain ``.npy``, no
pickles) next to the output, with a ``meta.json`` naming what they are features of (a sha256 of
the images, the protocol and the weights); an interrupted run resumes at the first missing
chunk, a damaged chunk is recomputed, and features of other images or settings are never mixed
in. The finished ``.npz`` records the images' sha256 too, so asking again for the same
statistics reuses the file and asking for different ones never overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pga_jax import atomic, data
from pga_jax.fid import inception, progress, resize, score, weights

FEATURE_DIM = 2048


def default_stats_path(
    dataset: str,
    split: str = "train",
    protocol: str = resize.DEFAULT_PROTOCOL,
    *,
    first_n: int = 0,
    cache: str | os.PathLike | None = None,
    celeba_crop: int = data.DEFAULT_CELEBA_CROP,
) -> Path:
    """Where ``python -m pga_jax.fid stats --dataset=...`` caches a split's statistics:
    ``<weights cache>/stats/<dataset>_<split>[_first<N>][_crop<S>]_<protocol>.npz`` (the crop
    tag for CelebA crops other than the default 108)."""
    n_tag = f"_first{first_n}" if first_n else ""
    crop = data.crop_tag(celeba_crop) if dataset == "celeb_a" else ""
    return weights.cache_dir(cache) / "stats" / f"{dataset}_{split}{n_tag}{crop}_{protocol}.npz"


def images_sha256(images: np.ndarray) -> str:
    """sha256 of an image array's shape, dtype and bytes (what the features are features of)."""
    images = np.ascontiguousarray(images)
    h = hashlib.sha256(f"{images.shape}|{images.dtype.str}|".encode())
    h.update(memoryview(images).cast("B"))
    return h.hexdigest()


def _load_chunk(file: Path, rows: int) -> np.ndarray | None:
    """A finished chunk, or None if it is missing or damaged (then it is recomputed)."""
    if not file.is_file():
        return None
    try:
        arr = np.load(file, allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = arr.shape == (rows, FEATURE_DIM) and arr.dtype == np.float32
    return arr if ok and np.isfinite(arr).all() else None


def existing_stats(out: str | os.PathLike, meta: dict) -> dict | None:
    """The statistics at ``out`` if they are exactly those asked for; None if there are none.

    Raises ValueError if ``out`` holds statistics of other images or settings.
    """
    if not Path(out).exists():
        return None
    st = score.load_stats(out, allow_unverified=True)  # compared field by field below
    have = {
        k: st.get(k, score.UNKNOWN) for k in ("n", "protocol", "weights_sha256", "images_sha256")
    }
    want = {k: meta[k] for k in have}
    if have != want:
        diff = ", ".join(f"{k}: {have[k]} != {want[k]}" for k in have if have[k] != want[k])
        raise ValueError(
            f"{out} already holds other statistics ({diff}); delete it or choose another --out"
        )
    return st


def compute_stats_resumable(
    images: np.ndarray,
    feature_fn: inception.FeatureFn,
    out: str | os.PathLike,
    *,
    chunk_size: int = 2000,
    keep_features: int = 5000,
    log: Callable[[str], None] = print,
    recorded: dict | None = None,
) -> dict:
    """Statistics of ``images`` written to ``out`` (.npz), resumably; returns the stats dict.

    Args:
      images: (N, H, W[, C]) uint8 or [-1, 1] floats (as ``feature_fn`` takes them).
      feature_fn: the 2048-d feature function; its protocol and weights are recorded.
      out: the statistics file; ``<out>.partial/`` holds the chunks until it is written.
      chunk_size: images per saved chunk (2,000: ~5 minutes on a 2-core CPU, 16 MB).
      keep_features: feature rows kept in the file for KID / precision-recall.
      log: progress lines (done / total, images/s, ETA).
      recorded: how the images were made, written into the file (e.g. {"celeba_crop": 140},
        which `score.check_scorable` compares with the run's).
    """
    out = Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"statistics files end in .npz; got --out={out}")
    n = int(images.shape[0])
    meta = {
        "n": n,
        "images_sha256": images_sha256(images),
        "protocol": feature_fn.protocol,
        "weights_sha256": feature_fn.weights_sha256,
        "chunk_size": int(chunk_size),
    }
    done = existing_stats(out, meta)
    if done is not None:
        log(f"{out} is up to date (N={n}, protocol={meta['protocol']}); reusing it")
        return done
    partial = out.with_name(out.name + ".partial")
    meta_file = partial / "meta.json"
    if partial.exists():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{partial} is not a resumable feature folder ({e}); delete it") from e
        if old != meta:
            diff = ", ".join(k for k in meta if old.get(k) != meta[k])
            raise ValueError(
                f"{partial} holds features of other images or settings (differs in {diff}); "
                "delete it or choose another --out"
            )
    else:
        partial.mkdir(parents=True)
        atomic.write_json(meta_file, meta)

    chunks = [
        (start, min(chunk_size, n - start), partial / f"features_{start:08d}.npy")
        for start in range(0, n, chunk_size)
    ]
    feats = [_load_chunk(file, rows) for _, rows, file in chunks]
    reused = sum(rows for (_, rows, _), f in zip(chunks, feats, strict=True) if f is not None)
    log(
        f"features of {n:,} images ({meta['protocol']}) in chunks of {chunk_size:,} under "
        f"{partial}" + (f"; {reused:,} already there are reused" if reused else "")
    )
    bar = progress.Progress(n, "features", log, every_s=0, start=reused)
    done = reused
    for i, (start, rows, file) in enumerate(chunks):
        if feats[i] is None:
            feats[i] = np.asarray(feature_fn(images[start : start + rows]), np.float32)
            with atomic.replacing(file) as tmp:
                np.save(tmp, feats[i], allow_pickle=False)
            done += rows
            bar.update(done)

    st = score.stats_from_features(
        np.concatenate(feats),
        protocol=feature_fn.protocol,
        weights_sha256=feature_fn.weights_sha256,
        keep_features=keep_features,
        image_shape=score.image_shape_of(images),
    )
    st["images_sha256"] = meta["images_sha256"]
    st.update(recorded or {})
    score.save_stats(out, st)
    shutil.rmtree(partial)
    return st
