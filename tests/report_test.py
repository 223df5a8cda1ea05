"""`python -m pga_jax.report`: Table 1 from eval.json files with known means and standard
errors, as Markdown and CSV, and Fig. 3's curves from the logged metrics."""

import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from pga_jax import report

from cli_helper import run_module

PROTOCOL = {
    "n": 5000,
    "n_ref": 60000,
    "ref_stats": "/cache/stats/mnist_train_tf1_bilinear.npz",
    "protocol": "tf1_bilinear",
    "weights_sha256": "abc123def4567890",
}


def record(objective, dataset, fid, alpha=0.06, beta=0.0, step=100, **fid_fields):
    """An eval.json dict as pga_jax.evaluate writes it (only the fields the report reads)."""
    return {
        "objective": {"name": objective, "alpha": alpha, "beta": beta, "gamma": 0.015},
        "dataset": dataset,
        "step": step,
        "fid": None if fid is None else {"fid": fid, **PROTOCOL, **fid_fields},
        "fid_skipped": "no FID reference statistics" if fid is None else None,
    }


def fake_runs():
    return [
        record("lpga", "mnist", 10.0),
        record("lpga", "mnist", 11.0),
        record("lpga", "mnist", 12.0),
        record("vae", "mnist", 20.0),
        record("vae", "mnist", 24.0),
        record("lpga", "cifar10", 55.5),
        record("lpga", "mnist", 30.0, alpha=0.0, beta=0.0),
        record("vpga", "celeb_a", 14.0),
        record("lvpga", "mnist", None),
    ]


def test_table_has_table_1s_layout_with_known_means_and_standard_errors():
    table = report.aggregate(fake_runs())
    assert table.rows == ["vae", "lpga", "vpga", "lpga (alpha=beta=0)"]
    assert table.columns == ["mnist", "cifar10", "celeb_a"]
    lpga = table.cells[("lpga", "mnist")]
    assert lpga.runs == 3 and lpga.mean == pytest.approx(11.0)
    assert lpga.stderr == pytest.approx(1.0 / math.sqrt(3))  # std (ddof=1) = 1
    vae = table.cells[("vae", "mnist")]
    assert (vae.mean, vae.stderr) == (pytest.approx(22.0), pytest.approx(2.0))
    assert report.format_cell(lpga) == "11.00 ± 0.58 (n=3)"
    assert report.format_cell(vae) == "22.00 ± 2.00 (n=2)"
    assert report.format_cell(table.cells[("lpga", "cifar10")]) == "55.50 (n=1)"
    assert report.format_cell(table.cells.get(("vae", "cifar10"))) == "-"
    assert len(table.no_fid) == 1 and "no FID reference statistics" in table.no_fid[0]

    md = report.to_markdown(table).splitlines()
    assert md[0] == "| objective | MNIST | CIFAR-10 | CelebA |"
    assert md[3] == "| lpga | 11.00 ± 0.58 (n=3) | 55.50 (n=1) | - |"
    assert md[5] == "| lpga (alpha=beta=0) | 30.00 (n=1) | - | - |"
    want = "N=5000 against mnist_train_tf1_bilinear.npz (N=60000), protocol tf1_bilinear"
    assert f"- FID: {want}, weights abc123def456" in md
    rows = list(csv.reader(io.StringIO(report.to_csv(table))))
    assert rows[0] == ["objective", "MNIST", "CIFAR-10", "CelebA"]
    assert rows[1] == ["vae", "22.00 ± 2.00 (n=2)", "-", "-"]
    assert rows[3] == ["vpga", "-", "-", "14.00 (n=1)"]


def test_stderr_matches_numpy_for_random_fids():
    fids = list(np.random.default_rng(0).uniform(5, 50, size=7))
    cell = report.aggregate([record("vpga", "cifar10", f) for f in fids]).cells[("vpga", "cifar10")]
    assert cell.mean == pytest.approx(np.mean(fids))
    assert cell.stderr == pytest.approx(np.std(fids, ddof=1) / np.sqrt(7))


def test_fids_of_different_n_reference_or_protocol_are_never_averaged():
    runs = [record("lpga", "mnist", 10.0), record("lpga", "mnist", 11.0, n=1000)]
    with pytest.raises(report.ReportError, match="lpga on mnist.*N=1000.*N=5000"):
        report.aggregate(runs)
    runs[1] = record("lpga", "mnist", 11.0, protocol="torch_bilinear")
    with pytest.raises(report.ReportError, match="torch_bilinear"):
        report.aggregate(runs)
    test_ref = dict(ref_stats="/cache/stats/mnist_test_tf1_bilinear.npz", n_ref=10000)
    runs[1] = record("lpga", "mnist", 11.0, **test_ref)
    with pytest.raises(report.ReportError, match=r"mnist_test_tf1_bilinear.npz \(N=10000\)"):
        report.aggregate(runs)


def test_a_cell_pooling_different_steps_is_marked():
    table = report.aggregate([record("lpga", "mnist", 10.0), record("lpga", "mnist", 12.0, step=5)])
    assert report.format_cell(table.cells[("lpga", "mnist")]) == "11.00 ± 1.00* (n=2)"
    assert "- \\* lpga / mnist pools runs with different step" in report.to_markdown(table)


def _write_run(root, name, rec, losses, fids=()):
    workdir = root / name
    (workdir / "eval").mkdir(parents=True)
    (workdir / "eval" / "eval.json").write_text(json.dumps(rec))
    with open(workdir / "metrics.jsonl", "w") as f:
        for step, loss in losses:
            f.write(json.dumps({"step": step, "loss": loss}) + "\n")
    if fids:
        with open(workdir / "fid.jsonl", "w") as f:
            for step, fid in fids:
                f.write(json.dumps({"step": step, "fid": fid}) + "\n")
    return workdir


def test_cli_writes_table_csv_and_curves(tmp_path):
    runs = tmp_path / "runs"
    for seed, fid in enumerate((10.0, 11.0, 12.0)):
        fids = [(50, fid + 5), (100, fid)]
        _write_run(
            runs, f"lpga/seed={seed}", record("lpga", "mnist", fid), [(50, 1.0), (100, 0.5)], fids
        )
    _write_run(runs, "vae/seed=0", record("vae", "mnist", None), [(50, 2.0), (100, 1.5)])
    (runs / "not_a_run").mkdir()
    out = tmp_path / "report"
    result = run_module("pga_jax.report", f"--runs={runs}/*/*", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| lpga | 11.00 ± 0.58 (n=3) |" in result.stdout
    assert (out / "table.md").read_text() == result.stdout
    rows = list(csv.reader(open(out / "table.csv")))
    assert rows == [["objective", "MNIST"], ["lpga", "11.00 ± 0.58 (n=3)"]]
    per_run = list(csv.DictReader(open(out / "runs.csv")))
    assert len(per_run) == 4 and {r["objective"] for r in per_run} == {"lpga", "vae"}
    assert sorted(float(r["fid"]) for r in per_run if r["fid"]) == [10.0, 11.0, 12.0]
    assert {r["n_ref"] for r in per_run if r["fid"]} == {"60000"}
    assert (out / "curves.png").stat().st_size > 10_000

    # trained, never evaluated: the empty table ends with a hint to evaluate
    fresh = tmp_path / "fresh" / "seed=0"
    fresh.mkdir(parents=True)
    (fresh / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    hinted = run_module("pga_jax.report", f"--runs={fresh}", f"--out={tmp_path / 'fresh_out'}")
    assert hinted.returncode == 0 and "Traceback" not in hinted.stderr
    assert hinted.stderr.strip().splitlines()[-1] == (
        f"hint: 1 of 1 run(s) have no eval/eval.json, so the table has no FID of them "
        f"({fresh}): evaluate them first, python -m pga_jax.evaluate --workdir={fresh}"
    )

    missing = run_module("pga_jax.report", f"--runs={tmp_path}/nothing/*", f"--out={out}")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert (
        missing.stderr.strip().splitlines()[-1]
        == f"error: no runs match --runs={tmp_path}/nothing/*"
    )


def test_copy_artefacts_publishes_each_runs_pictures_and_a_gallery(tmp_path):
    runs = tmp_path / "runs"
    lpga = _write_run(runs, "mnist_lpga/seed=0", record("lpga", "mnist", 12.5), [(100, 0.5)])
    vae = _write_run(runs, "mnist_vae/seed=0", record("vae", "mnist", None), [(100, 1.5)])
    for workdir in (lpga, vae):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(workdir / "eval" / "samples.png")
    np.savez(lpga / "eval" / "samples.npz", images=np.zeros((2, 4, 4, 1), np.uint8))
    out = tmp_path / "published"
    report.write_report([f"{runs}/*/*"], str(out), artefacts=True)
    lpga_out, vae_out = (
        out / "runs" / "mnist_lpga" / "seed=0",
        out / "runs" / "mnist_vae" / "seed=0",
    )
    assert sorted(p.name for p in lpga_out.iterdir()) == [
        "eval.json",
        "metrics.jsonl",
        "samples.npz",
        "samples.png",
    ]
    assert (vae_out / "samples.png").read_bytes() == (vae / "eval" / "samples.png").read_bytes()
    gallery = (out / "gallery.md").read_text()
    assert gallery.index("## vae / mnist") < gallery.index("## lpga / mnist")  # Table 1's order
    assert "FID 12.50 (N=5000" in gallery and "no FID" in gallery
    assert "![samples](runs/mnist_lpga/seed=0/samples.png)" in gallery
