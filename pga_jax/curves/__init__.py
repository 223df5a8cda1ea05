"""Training curves: the logged scalars of a run (`WORKDIR/metrics.jsonl`) as a PNG.

The loop appends one JSON line per `log_every` steps. A resume from step S first moves the
lines of later steps (logged before a crash, or before a rollback to an older checkpoint) to
`metrics.rolled_back.jsonl` (kept, each with the step it was rolled back to), so every step is
in the file once; readers also let the last line of a step win. A line torn by a crash mid-write
(not JSON, or not a row) is skipped with one warning, and the next append starts a new line.

    python -m pga_jax.curves --workdir=runs/fm [--out=curves.png]
"""

from __future__ import annotations

import json
import os

import matplotlib
from absl import logging

from pga_jax import atomic

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


ROLLED_BACK = "{stem}.rolled_back.jsonl"  # lines of steps after a resume's start


def drop_rolled_back(workdir: str, start: int, names=(METRICS_FILE, FID_FILE)) -> int:
    """Moves the lines of steps after `start` out of WORKDIR/metrics.jsonl (and fid.jsonl) into
    WORKDIR/<name>.rolled_back.jsonl, each with "rolled_back_to": start; returns how many.
    Unreadable (torn) lines stay where they are."""
    moved = 0
    for name in names:
        path = os.path.join(workdir, name)
        if not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            lines = f.readlines()
        keep, later = [], []
        for line in lines:
            try:
                step = int(json.loads(line)["step"])
            except (ValueError, TypeError, KeyError, IndexError):
                keep.append(line)
                continue
            (later if step > start else keep).append(line)
        if not later:
            continue
        aside = os.path.join(workdir, ROLLED_BACK.format(stem=os.path.splitext(name)[0]))
        with open(aside, "a") as f:
            for line in later:
                row = json.loads(line)
                f.write(json.dumps({**row, "rolled_back_to": start}) + "\n")
        with atomic.replacing(path) as tmp:
            tmp.write_text("".join(keep))
        moved += len(later)
        logging.info("%s: %d line(s) of steps after %d moved to %s", path, len(later), start, aside)
    return moved


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
