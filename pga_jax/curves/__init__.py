"""Training curves: the logged scalars of a run (`WORKDIR/metrics.jsonl`) as a PNG.

The loop appends one JSON line per `log_every` steps; after a resume, steps logged again
replace the earlier lines (the last line of a step wins). A line torn by a crash mid-write
(not JSON, or not a row) is skipped with one warning, and the next append starts a new line.

    python -m pga_jax.curves --workdir=runs/fm [--out=curves.png]
"""

from __future__ import annotations

import json
import os

import matplotlib
from absl import logging

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS_FILE = "metrics.jsonl"
FID_FILE = "fid.jsonl"  # FID during training (train.py, config.fid_every > 0)


def append_metrics(workdir: str, step: int, scalars: dict, name: str = METRICS_FILE) -> None:
    """Appends {"step": step, **scalars} as one JSON line to WORKDIR/name (on a line of its
    own, also after a line torn by a crash)."""
    path = os.path.join(workdir, name)
    torn = False
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps({"step": step, **scalars}) + "\n")


def read_metrics(workdir: str, name: str = METRICS_FILE) -> dict[int, dict]:
    """{step: scalars} from WORKDIR/name (the last line of a step wins)."""
    rows: dict[int, dict] = {}
    path = os.path.join(workdir, name)
    skipped = []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                step = int(row.pop("step"))
            except (ValueError, TypeError, KeyError, AttributeError):
                skipped.append(number)
                continue
            rows[step] = row
    if skipped:
        logging.warning(
            "%s: skipped %d unreadable line(s) (%s), e.g. torn by a crash mid-write",
            path,
            len(skipped),
            ", ".join(map(str, skipped[:5])),
        )
    return dict(sorted(rows.items()))


def plot_curves(workdir: str, out: str | None = None, title: str | None = None) -> str:
    """Encoder/decoder losses and every loss term against steps, one panel each."""
    rows = read_metrics(workdir)
    steps = list(rows)
    keys = [k for k in rows[steps[-1]] if k.endswith("_loss") or k.startswith("terms/")]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        ax.plot(steps, [rows[s].get(key, float("nan")) for s in steps], lw=1)
        ax.set_title(key.removeprefix("terms/"), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or os.path.basename(os.path.normpath(workdir)), fontsize=10)
    fig.tight_layout()
    out = out or os.path.join(workdir, "curves.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
