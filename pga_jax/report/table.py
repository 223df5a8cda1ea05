"""Table 1 (FID mean ± standard error over runs) and Fig. 3 (training curves) from runs.

    python -m pga_jax.report --runs='runs/*/*' [--runs=more/*/eval/eval.json] [--out=report] \
        [--copy_artefacts]

`--runs` globs (repeatable, `**` allowed) match workdirs or their `eval/eval.json` files
(written by `python -m pga_jax.evaluate`). OUT receives:

- ``table.md`` and ``table.csv``: Table 1's layout. Rows: objectives (vae, lpga, vpga, lvpga,
  then the ablations, e.g. "lpga (alpha=beta=0)"); columns: datasets; a cell is
  "mean ± s.e. (n=k)" of the FIDs of its k evaluated runs (s.e. = sample std (ddof=1) /
  sqrt(k)), or "mean (n=1)". Under the Markdown table: the FID protocol(s), the runs without
  a FID, and a note on any cell that pools runs with different settings or steps.
- ``runs.csv``: one line per evaluated run (its path, row, column, step, FID, KID, precision,
  recall, N, reference N, protocol, weights, reference file).
- ``curves.png``: per run, the total loss (``metrics.jsonl``) and the FID (``fid.jsonl``
  during training, and the evaluation's FID as a dot) against training steps.
- with ``--copy_artefacts``: ``runs/<config>/<settings>/`` per evaluated run (its eval PNGs,
  ``eval.json``, ``samples.npz`` if saved, ``curves.png``, ``metrics.jsonl``, ``fid.jsonl``),
  and ``gallery.md``, which shows each run's FID and pictures: a folder to publish as is.

FIDs are only averaged over runs with equal N, reference statistics, protocol and Inception
weights (FID depends on all four); a cell mixing them is a one-line error.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import math
import os
import shutil

import numpy as np
from absl import logging

from pga_jax import curves, data, errors, objectives, workdirs


class ReportError(errors.UserError, ValueError):
    """Runs that cannot be tabulated; the message names the runs."""


@dataclasses.dataclass
class Cell:
    """The evaluated runs of one (objective, dataset): their FIDs, mean and standard error."""

    fids: list[float]
    mean: float
    stderr: float  # nan for one run
    paths: list[str]
    mixed: list[str]  # settings that differ between the cell's runs ("step", "objective")

    @property
    def runs(self) -> int:
        return len(self.fids)


@dataclasses.dataclass
class Table:
    """Table 1: cells[(row, column)] with rows and columns in display order."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    protocols: list[str]  # distinct "N=..., protocol ..., weights ..." of the FIDs
    no_fid: list[str]  # runs evaluated without a FID: "path (reason)"


def row_label(record: dict) -> str:
    """The objective's report label for the run's settings (`Objective.report_label`: e.g.
    "lpga", or "lpga (alpha=beta=0)" for a PGA run without L_lr,N and L_lr,H); the bare name
    for an objective that is not registered in this process."""
    settings = record["objective"]
    try:
        cls = objectives.get(settings["name"])
    except ValueError:
        return settings["name"]
    return cls.report_label(settings)


def _row_key(label: str):
    """Objectives in registration order (the paper's four first), each ablation after them."""
    labels = [objectives.get(n).label or n for n in objectives.names()]
    name, _, ablation = label.partition(" (")
    rank = labels.index(name) if name in labels else len(labels)
    return (bool(ablation), rank, label)


def column_label(record: dict) -> str:
    """The run's dataset, with its setting when that is not Table 1's (the paper's Appendix
    C: "cifar10 [ResNet 512]", "celeb_a [140x140 crops, DCGAN 128]"), so such runs get a column
    of their own beside Table 1's."""
    setting = record.get("setting", "")  # absent in older eval.json files: Table 1's
    return f"{record['dataset']} [{setting}]" if setting else record["dataset"]


def _column_key(column: str):
    dataset, _, setting = column.partition(" [")
    order = data.names()  # registration order: the paper's datasets first
    rank = order.index(dataset) if dataset in order else len(order)
    return (bool(setting), rank, column)  # Table 1's columns first, then Appendix C's


def _dataset_label(column: str) -> str:
    """A Table 1 column's heading: its dataset's label ("CIFAR-10"); other columns as they are."""
    return data.get(column).label if column in data.names() else column


def _protocol(fid: dict) -> str:
    """What a FID depends on besides the model: N, the reference, the resize and the weights."""
    ref = os.path.basename(fid.get("ref_stats", "")) or "unnamed statistics"
    return (
        f"N={fid['n']} against {ref} (N={fid.get('n_ref', '?')}), "
        f"protocol {fid['protocol']}, weights {str(fid['weights_sha256'])[:12]}"
    )


def mean_and_stderr(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std with ddof=1, over sqrt(n)); nan s.e. for one value."""
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se


def aggregate(records: list[dict]) -> Table:
    """Table 1 of eval.json dicts (each may carry "path": where it was read from)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    no_fid = []
    for i, rec in enumerate(records):
        path = rec.get("path", f"record {i}")
        if not rec.get("fid"):
            no_fid.append(f"{path} ({rec.get('fid_skipped', 'no FID')})")
            continue
        groups.setdefault((row_label(rec), column_label(rec)), []).append(rec)
    cells = {}
    for (row, col), recs in groups.items():
        paths = [r.get("path", "?") for r in recs]
        kinds = {_protocol(r["fid"]) for r in recs}
        if len(kinds) > 1:
            raise ReportError(
                f"cannot average the FIDs of {row} on {col}: its runs differ in "
                f"{' / '.join(sorted(kinds))} ({', '.join(paths)}); evaluate them alike"
            )
        mixed = [
            key
            for key in ("step", "objective")
            if len({json.dumps(r[key], sort_keys=True) for r in recs}) > 1
        ]
        fids = [float(r["fid"]["fid"]) for r in recs]
        mean, se = mean_and_stderr(fids)
        cells[(row, col)] = Cell(fids, mean, se, paths, mixed)
    protocols = sorted({_protocol(r["fid"]) for recs in groups.values() for r in recs})
    return Table(
        rows=sorted({r for r, _ in cells}, key=_row_key),
        columns=sorted({c for _, c in cells}, key=_column_key),
        cells=cells,
        protocols=protocols,
        no_fid=no_fid,
    )


def format_cell(cell: Cell | None, digits: int = 2) -> str:
    if cell is None:
        return "-"
    mark = "*" if cell.mixed else ""
    if cell.runs == 1:
        return f"{cell.mean:.{digits}f}{mark} (n=1)"
    return f"{cell.mean:.{digits}f} ± {cell.stderr:.{digits}f}{mark} (n={cell.runs})"


def _grid(table: Table) -> list[list[str]]:
    header = ["objective"] + [_dataset_label(c) for c in table.columns]
    body = [[r] + [format_cell(table.cells.get((r, c))) for c in table.columns] for r in table.rows]
    return [header, *body]


def to_markdown(table: Table) -> str:
    grid = _grid(table)
    lines = ["| " + " | ".join(grid[0]) + " |", "|" + "---|" * len(grid[0])]
    lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
    lines.append("")
    lines.append("FID mean ± standard error over n runs (sample std, ddof=1, / sqrt(n)).")
    if len(table.protocols) > 1:
        lines.append("Cells differ in FID protocol, so they are not comparable:")
    lines += [f"- FID: {p}" for p in table.protocols]
    for (row, col), cell in table.cells.items():
        if cell.mixed:
            lines.append(f"- \\* {row} / {col} pools runs with different {', '.join(cell.mixed)}")
    if table.no_fid:
        lines.append(f"- Evaluated without a FID ({len(table.no_fid)}):")
        lines += [f"  - {p}" for p in table.no_fid]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(_grid(table))
    return out.getvalue()


# runs.csv: the scores evaluate stores beside the FID (KID, precision/recall need the
# reference's kept features; blank where absent) and what the FID depends on.
_RUN_SCORES = ("fid", "kid", "kid_std", "precision", "recall", "n", "n_ref")
_RUN_SETTINGS = ("protocol", "weights_sha256", "ref_stats")
# Prop. 1 at z = mu_phi(x) (evaluate --log_det_latents; blank where not measured), per latent
# dimension: the exact log|det dh/dz|, the surrogate at the config's eps, and its excess
_LOG_DET = {
    "log_det_exact": "exact",
    "log_det_surrogate": "surrogate",
    "log_det_gap": "surrogate_gap",
}


def _log_det_cells(rec: dict) -> list:
    measured = rec.get("log_det")
    if not measured:
        return [""] * len(_LOG_DET)
    from pga_jax.evaluate import log_det  # noqa: PLC0415

    flat = log_det.scalars(measured)
    return [flat[f"data/{key}"] for key in _LOG_DET.values()]


def runs_csv(records: list[dict]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["path", "objective", "dataset", "step", *_RUN_SCORES, *_RUN_SETTINGS, *_LOG_DET])
    for rec in records:
        fid = rec.get("fid") or {}
        head = [rec.get("path", ""), row_label(rec), column_label(rec), rec["step"]]
        scores = [fid.get(k, "") for k in _RUN_SCORES + _RUN_SETTINGS]
        w.writerow(head + scores + _log_det_cells(rec))
    return out.getvalue()


# ----------------------------------------------------------------------------------------------
# Finding runs
# ----------------------------------------------------------------------------------------------


def find_runs(patterns: list[str]) -> tuple[list[str], list[str]]:
    """(eval.json files, workdirs) matched by the globs; a workdir is any matched folder with
    metrics.jsonl or eval/eval.json, or the workdir of a matched eval.json."""
    evals, dirs = [], []
    for pattern in patterns:
        for match in sorted(glob.glob(pattern, recursive=True)):
            if os.path.isfile(match) and os.path.basename(match) == workdirs.EVAL_FILE:
                evals.append(match)
                dirs.append(workdirs.workdir_of_eval_json(match))
            elif os.path.isdir(match):
                if os.path.isfile(workdirs.eval_json(match)):
                    evals.append(workdirs.eval_json(match))
                    dirs.append(match)
                elif os.path.isfile(os.path.join(match, curves.METRICS_FILE)):
                    dirs.append(match)
    norm = lambda paths: list(dict.fromkeys(os.path.normpath(p) for p in paths))
    return norm(evals), norm(dirs)


def never_evaluated(eval_paths: list[str], run_dirs: list[str]) -> list[str]:
    """The matched workdirs without eval/eval.json (trained, never evaluated)."""
    evaluated = {os.path.normpath(workdirs.workdir_of_eval_json(p)) for p in eval_paths}
    return [d for d in run_dirs if os.path.normpath(d) not in evaluated]


def evaluate_hint(never: list[str], total: int) -> str:
    """One line: which runs the table leaves out for want of an evaluation, and the command."""
    which = never[0] + (f" and {len(never) - 1} more" if len(never) > 1 else "")
    return (
        f"{len(never)} of {total} run(s) have no eval/eval.json, so the table has no FID of "
        f"them ({which}): evaluate them first, python -m pga_jax.evaluate --workdir={never[0]}"
        + (" (a quoted glob takes many)" if len(never) > 1 else "")
    )


def load_records(paths: list[str]) -> list[dict]:
    records = []
    for path in paths:
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError) as e:
            raise ReportError(f"cannot read {path}: {e}") from e
        missing = [k for k in ("objective", "dataset", "step") if k not in rec]
        if missing:
            raise ReportError(f"{path} has no {', '.join(missing)}: not an eval.json")
        rec["path"] = workdirs.workdir_of_eval_json(path)
        records.append(rec)
    return records


# ----------------------------------------------------------------------------------------------
# Fig. 3
# ----------------------------------------------------------------------------------------------


def plot_curves(run_dirs: list[str], records: list[dict], out: str) -> str | None:
    """Total loss and FID against steps, one line (colour) per run; None if nothing to plot."""
    import matplotlib.pyplot as plt  # noqa: PLC0415  (curves selected the Agg backend)

    runs = [d for d in run_dirs if os.path.isfile(os.path.join(d, curves.METRICS_FILE))]
    if not runs:
        return None
    final = {os.path.abspath(r["path"]): r for r in records if r.get("fid")}
    prefix = os.path.commonpath([os.path.abspath(d) for d in runs]) if len(runs) > 1 else ""
    fig, (ax_loss, ax_fid) = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, workdir in enumerate(runs):
        color = f"C{i % 10}"
        label = os.path.relpath(os.path.abspath(workdir), prefix) if prefix else workdir
        rows = curves.read_metrics(workdir)
        steps = list(rows)
        loss = [rows[s].get("loss", float("nan")) for s in steps]
        ax_loss.plot(steps, loss, lw=1, color=color, label=label)
        if os.path.isfile(os.path.join(workdir, curves.FID_FILE)):
            fids = curves.read_metrics(workdir, curves.FID_FILE)
            ax_fid.plot(list(fids), [v["fid"] for v in fids.values()], lw=1, color=color)
        rec = final.get(os.path.abspath(workdir))
        if rec is not None:
            ax_fid.plot([rec["step"]], [rec["fid"]["fid"]], "o", ms=4, color=color)
    for ax, title in ((ax_loss, "total loss"), (ax_fid, "FID (dots: evaluation)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    ncol = min(len(runs), 3)
    fig.legend(loc="lower center", ncol=ncol, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.04 * math.ceil(len(runs) / ncol) + 0.02, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------------
# Published artefacts
# ----------------------------------------------------------------------------------------------

_RUN_FILES = (curves.METRICS_FILE, curves.FID_FILE, "curves.png")
_EVAL_FILES = ("eval.json", "samples.npz")
_GALLERY_IMAGES = (
    ("samples", "samples (Fig. 2)"),
    ("reconstructions", "reconstructions (real | reconstruction)"),
    ("interpolations_data", "interpolations between encoded test images (Fig. 7)"),
    ("interpolations_prior", "interpolations between prior samples"),
)


def copy_artefacts(records: list[dict], out_dir: str) -> list[str]:
    """Copies each evaluated run's pictures and numbers to OUT/runs/<config>/<settings>/ and
    writes OUT/gallery.md; returns the run folders (relative to `out_dir`)."""
    lines = ["# Runs", ""]
    folders = []
    for rec in sorted(records, key=lambda r: (_row_key(row_label(r)), r["path"])):
        workdir = rec["path"]
        rel = os.path.join(
            "runs", os.path.basename(os.path.dirname(workdir)), os.path.basename(workdir)
        )
        dest = os.path.join(out_dir, rel)
        os.makedirs(dest, exist_ok=True)
        eval_dir = os.path.join(workdir, workdirs.EVAL_DIR)
        sources = [os.path.join(workdir, f) for f in _RUN_FILES]
        sources += [os.path.join(eval_dir, f) for f in _EVAL_FILES]
        sources += [os.path.join(eval_dir, f"{name}.png") for name, _ in _GALLERY_IMAGES]
        for src in sources:
            if os.path.isfile(src):
                shutil.copyfile(src, os.path.join(dest, os.path.basename(src)))
        fid = rec.get("fid")
        fid_text = (
            f"FID {fid['fid']:.2f} (N={fid['n']}, {_protocol(fid)})"
            if fid
            else f"no FID: {rec.get('fid_skipped', 'not computed')}"
        )
        lines += [f"## {row_label(rec)} / {column_label(rec)}: `{rel}`", ""]
        lines += [f"Step {rec['step']}; {fid_text}.", ""]
        if os.path.isfile(os.path.join(dest, "curves.png")):
            lines += [f"![training curves]({rel}/curves.png)", ""]
        for name, caption in _GALLERY_IMAGES:
            if os.path.isfile(os.path.join(dest, f"{name}.png")):
                lines += [f"{caption}:", "", f"![{name}]({rel}/{name}.png)", ""]
        folders.append(rel)
    with open(os.path.join(out_dir, "gallery.md"), "w") as f:
        f.write("\n".join(lines))
    return folders


def write_report(patterns: list[str], out_dir: str, artefacts: bool = False) -> Table:
    """Writes table.md, table.csv, runs.csv and curves.png to `out_dir` (and, if `artefacts`,
    each run's pictures and gallery.md); returns the table."""
    eval_paths, run_dirs = find_runs(patterns)
    if not eval_paths and not run_dirs:
        raise ReportError(f"no runs match --runs={','.join(patterns)}")
    records = load_records(eval_paths)
    table = aggregate(records)
    os.makedirs(out_dir, exist_ok=True)
    texts = {
        "table.md": to_markdown(table),
        "table.csv": to_csv(table),
        "runs.csv": runs_csv(records),
    }
    for name, text in texts.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    if plot_curves(run_dirs, records, os.path.join(out_dir, "curves.png")) is None:
        logging.warning("no metrics.jsonl in the matched runs: curves.png not written")
    if artefacts:
        copy_artefacts(records, out_dir)
    return table
