"""notebooks/quickstart.ipynb runs top to bottom (at a smoke size: its parameters cell replaced)
and shows its pictures and a finite FID; the notebook is the one tools/make_quickstart.py makes."""

import base64
import io
import json
import os
import re
import runpy

import numpy as np
import pytest
from PIL import Image

from pga_jax import images

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


# Put after the pictures cell: what its reconstructions picture must show, from the notebook's
# own `run` and `real` (the check is the test's, in the test file).
EXPECTED = (
    "np.savez({path!r}, real=images.to_uint8(real), recons=images.to_uint8(run.reconstruct(real)))"
)


def _png(output) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"]))) as im:
        return np.asarray(im)


def test_the_notebook_runs_at_smoke_size(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source = SMOKE.format(workdir=str(tmp_path / "run"))
    (pictures_cell,) = [c for c in nb.cells if "interleave(" in c.source]
    expected = str(tmp_path / "expected.npz")
    nb.cells.insert(
        nb.cells.index(pictures_cell) + 1,
        nbformat.v4.new_code_cell(EXPECTED.format(path=expected)),
    )
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    pictures = [_png(o) for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 3  # samples, reconstructions, interpolations
    for picture in pictures:  # none blank: tiles of more than one grey level
        assert picture.ndim == 2 and picture.shape[0] > 28
        tiles = images.tiles(picture[..., None], 16, (28, 28, 1), ncols=8)
        assert all(len(np.unique(t)) > 1 for t in tiles)
    # The reconstructions picture: data and reconstruction side by side, tile for tile.
    with np.load(expected) as z:
        real, recons = z["real"], z["recons"]
    tiles = images.tiles(pictures[1][..., None], 2 * len(real), (28, 28, 1), ncols=8)
    np.testing.assert_array_equal(tiles[0::2], real)
    np.testing.assert_array_equal(tiles[1::2], recons)
    text = "".join(o.get("text", "") for o in outputs)
    assert "trained to step 4" in text and "resumed to step 6" in text
    fid = float(re.search(r"FID (\S+) \(N=16\)", text).group(1))
    assert fid == fid and fid < float("inf")
    # Long cells show their progress: training and FID features, as bars on stderr.
    bars = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "train 4/4 [####################] 100%" in bars and "| loss " in bars
    assert "FID features 16/16 [" in bars and "Waiting for previous save" not in bars
