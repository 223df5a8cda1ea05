"""FID command line: reference statistics, scores, and the weights cache.

  python -m pga_jax.fid stats --dataset=fashion_mnist [--split=train] [--protocol=...]
  python -m pga_jax.fid stats --images=train.npz --out=stats.npz [--protocol=tf1_bilinear]
  python -m pga_jax.fid score --images=samples.npz --ref=stats.npz [--out=scores.json]
  python -m pga_jax.fid score --images=run0.npz,run1.npz,run2.npz --ref=stats.npz --seeds
  python -m pga_jax.fid distance --stats=test_stats.npz --ref=train_stats.npz [--out=...]
  python -m pga_jax.fid weights [--download]

``--images``: comma-separated ``.npz`` (the array ``images``, ``x`` or the only array),
``.npy`` or image directories (PNG / JPEG, one size). Arrays are uint8 0..255 or float [-1, 1].
Several entries are pooled into one sample set, unless ``--seeds``: then each entry is one run
(e.g. one training seed), scored separately, and mean +- standard error is reported.

``distance`` scores statistics against statistics, without the network: e.g. a dataset's test
split against its training split, the FID that real images get (a floor for samples).

``stats --dataset`` reads a split with ``pga_jax.data`` (tfds, or IDX files / CelebA JPEGs via
``--data_path``) and, without ``--out``, writes ``<cache_dir>/stats/<dataset>_<split>_<protocol>
.npz``. Statistics are computed in resumable chunks (``pga_jax.fid.reference``): rerunning an
interrupted command continues it, and rerunning a finished one reuses its file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from pga_jax import atomic, commands, cpu, data, errors
from pga_jax.fid import reference, resize, score, weights

_IMAGES = flags.DEFINE_list("images", [], "Image files / folders (.npz, .npy, dir).")
_DATASET = flags.DEFINE_string("dataset", None, "stats: a dataset of pga_jax.data instead.")
_SPLIT = flags.DEFINE_string("split", "train", "stats: the --dataset split (paper: train).")
_DATA_PATH = flags.DEFINE_string("data_path", None, "stats: IDX / CelebA folder for --dataset.")
_DATA_SOURCE = flags.DEFINE_string("data_source", "auto", "stats: pga_jax.data source.")
_CELEBA_CROP = flags.DEFINE_integer(
    "celeba_crop",
    data.DEFAULT_CELEBA_CROP,
    "stats --dataset=celeb_a: the centred crop's side (108; the paper's Appendix C: 140).",
)
_CHUNK = flags.DEFINE_integer("chunk_size", 2000, "stats: images per resumable chunk.")
_OUT = flags.DEFINE_string("out", None, "stats: output .npz; score, distance: optional JSON file.")
_REF = flags.DEFINE_string("ref", None, "score: reference statistics .npz.")
_STATS = flags.DEFINE_string("stats", None, "distance: statistics .npz scored against --ref.")
_SEEDS = flags.DEFINE_bool("seeds", False, "score: each --images entry is a separate run.")
_PROTOCOL = flags.DEFINE_enum(
    "protocol", None, sorted(resize.PROTOCOLS), "Input protocol (default: ref's or tf1_bilinear)."
)
_WEIGHTS = flags.DEFINE_string("weights", None, "default_1.pt, pytorch-fid .pth or cached .npz.")
_CACHE = flags.DEFINE_string("cache_dir", None, "Weights cache (default ~/.cache/pga_jax/fid).")
_N = flags.DEFINE_integer("n", 0, "Use the first N images of each set (0: all).")
_BATCH = flags.DEFINE_integer("batch_size", None, "Images per call (default: CPU 10, else 50).")
_KEEP = flags.DEFINE_integer("keep_features", 5000, "stats: feature rows kept for KID / P-R.")
_KID = flags.DEFINE_bool("kid", True, "score: KID (needs ref features).")
_PR = flags.DEFINE_bool("pr", True, "score: precision / recall (needs ref features).")
_DOWNLOAD = flags.DEFINE_bool("download", False, "weights: download pytorch-fid's file.")
_UNVERIFIED = flags.DEFINE_bool(
    "allow_unverified_ref",
    False,
    "score, distance: accept statistics without protocol / weights checksum (a bare mu/sigma "
    ".npz); the result records ref_verified: false.",
)

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_images(spec: str) -> np.ndarray:
    """Images from one ``.npz`` / ``.npy`` file or a folder of image files, as an array."""
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"--images entry {spec} does not exist")
    if path.is_dir():
        from PIL import Image

        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _IMAGE_EXTS)
        if not files:
            raise ValueError(f"no images ({', '.join(_IMAGE_EXTS)}) under {path}")
        ims = []
        for f in files:
            with Image.open(f) as im:
                ims.append(np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB")))
        if len({im.shape for im in ims}) != 1:
            raise ValueError(f"images under {path} differ in size/channels; resize them first")
        return np.stack(ims)
    if path.suffix in (".npy", ".npz"):
        try:
            return _load_array_file(path)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"cannot read {path}: {errors.plain_load_error(e)}") from e
    raise ValueError(f"--images entry {spec} is not a .npz, .npy or a folder")


def _load_array_file(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as z:
        for key in ("images", "x"):
            if key in z.files:
                return z[key]
        if len(z.files) == 1:
            return z[z.files[0]]
        raise ValueError(f"it has arrays {z.files}; name the images 'images'")


def _image_sets() -> list[np.ndarray]:
    if not _IMAGES.value:
        raise app.UsageError("--images is required")
    sets = [load_images(s) for s in _IMAGES.value]
    if _N.value:
        for s, name in zip(sets, _IMAGES.value, strict=True):
            if len(s) < _N.value:
                raise app.UsageError(f"{name} has {len(s)} images, fewer than --n={_N.value}")
        sets = [s[: _N.value] for s in sets]
    return sets


def _feature_fn(protocol: str):
    return score.get_feature_fn(protocol, _WEIGHTS.value, _CACHE.value, _BATCH.value)


def cmd_stats() -> None:
    protocol = _PROTOCOL.value or resize.DEFAULT_PROTOCOL
    recorded = None  # how the images were made, recorded in the file
    if _DATASET.value:
        if _IMAGES.value:
            raise app.UsageError("stats takes --dataset or --images, not both")
        images = data.load_arrays(
            _DATASET.value,
            _SPLIT.value,
            source=_DATA_SOURCE.value,
            path=_DATA_PATH.value,
            celeba_crop=_CELEBA_CROP.value,
        )
        if _DATASET.value == "celeb_a":
            recorded = {"celeba_crop": _CELEBA_CROP.value}
        if _N.value:
            images = images[: _N.value]
        out = _OUT.value or str(
            reference.default_stats_path(
                _DATASET.value,
                _SPLIT.value,
                protocol,
                first_n=_N.value,
                cache=_CACHE.value,
                celeba_crop=_CELEBA_CROP.value,
            )
        )
    else:
        if not _OUT.value:
            raise app.UsageError("stats --images needs --out=stats.npz")
        images, out = np.concatenate(_image_sets()), _OUT.value
    fn = _feature_fn(protocol)
    st = reference.compute_stats_resumable(
        images, fn, out, chunk_size=_CHUNK.value, keep_features=_KEEP.value, recorded=recorded
    )
    print(
        f"statistics {out}: N={st['n']} protocol={st['protocol']} "
        f"weights={st['weights_sha256'][:12]}"
    )


def cmd_score() -> None:
    if not _REF.value:
        raise app.UsageError("score needs --ref=stats.npz")
    ref = score.load_stats(_REF.value, _UNVERIFIED.value)
    protocol = _PROTOCOL.value or (
        ref["protocol"] if ref["protocol"] != score.UNKNOWN else resize.DEFAULT_PROTOCOL
    )
    fn = _feature_fn(protocol)
    sets = _image_sets()
    if not _SEEDS.value:
        sets = [np.concatenate(sets)]
    kw = {"kid": _KID.value, "pr": _PR.value}
    runs = [score.score_arrays(images, ref, feature_fn=fn, **kw) for images in sets]
    if any(r["n"] != score.PAPER_N for r in runs):
        logging.warning("FID is biased by sample count: the paper used N=%d", score.PAPER_N)
    if _SEEDS.value:
        for name, r in zip(_IMAGES.value, runs, strict=True):
            r["images"] = name
        result = {"runs": runs, "summary": score.mean_and_stderr(runs)}
    else:
        result = runs[0]
    _print_and_save(result)


def cmd_distance() -> None:
    if not _REF.value or not _STATS.value:
        raise app.UsageError("distance needs --stats=a.npz --ref=b.npz")
    st = score.load_stats(_STATS.value, _UNVERIFIED.value)
    ref = score.load_stats(_REF.value, _UNVERIFIED.value)
    result = score.score_stats(st, ref, kid=_KID.value, pr=_PR.value)
    result.update(
        stats=str(Path(_STATS.value).resolve()), ref_stats=str(Path(_REF.value).resolve())
    )
    _print_and_save(result)


def _print_and_save(result: dict) -> None:
    """Saves first: a reader that stops early (`| head`) must not cost the --out file."""
    text = score.to_json(result)
    if _OUT.value:
        with atomic.replacing(_OUT.value) as tmp:
            tmp.write_text(text + "\n")
    print(text)


def cmd_weights() -> None:
    if _DOWNLOAD.value:
        print(f"downloaded {weights.download_pytorch_fid_weights(_CACHE.value)}")
    _, digest = weights.load_inception_params(_WEIGHTS.value, _CACHE.value)
    print(f"FID Inception weights ready in {weights.cache_dir(_CACHE.value)}: sha256 {digest}")


_COMMANDS = {
    "stats": cmd_stats,
    "score": cmd_score,
    "distance": cmd_distance,
    "weights": cmd_weights,
}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in _COMMANDS:
        raise app.UsageError(f"usage: python -m pga_jax.fid {{{'|'.join(_COMMANDS)}}} --flags")
    cpu.setup()  # the CPU's process settings, before jax starts
    try:
        _COMMANDS[argv[1]]()
    except (errors.UserError, ValueError, OSError) as e:
        errors.exit_with(e)


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
