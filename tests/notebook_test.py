"""notebooks/quickstart.ipynb runs top to bottom (at a smoke size: its parameters cell replaced)
and shows its pictures and a finite FID; the notebook is the one tools/make_quickstart.py makes."""

import json
import os
import re
import runpy

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NOTEBOOK = os.path.join(ROOT, "notebooks", "quickstart.ipynb")

SMOKE = """CONFIG = "mnist_lpga:smoke"
NUM_STEPS = 4
MORE_STEPS = 2
FID_SAMPLES = 16
FID_REF_IMAGES = 32
WORKDIR = {workdir!r}"""


def test_the_notebook_is_made_by_its_generator():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]  # sources stored as lists of lines
    committed = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
    ]
    generator = runpy.run_path(os.path.join(ROOT, "tools", "make_quickstart.py"))
    assert committed == [text for _, text in generator["CELLS"]], (
        "notebooks/quickstart.ipynb is stale: run python tools/make_quickstart.py"
    )


def test_the_notebook_runs_at_smoke_size(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source = SMOKE.format(workdir=str(tmp_path / "run"))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 3  # samples, reconstructions, interpolations
    text = "".join(o.get("text", "") for o in outputs)
    assert "trained to step 4" in text and "resumed to step 6" in text
    fid = float(re.search(r"FID (\S+) \(N=16\)", text).group(1))
    assert fid == fid and fid < float("inf")
