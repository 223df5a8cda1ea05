"""Atomic writes: the old file survives a failed write, and no temporary file is left."""

import json
import os

import numpy as np
import pytest

from pga_jax import atomic


def test_a_successful_write_replaces_the_file_and_keeps_no_temporary(tmp_path):
    path = tmp_path / "sub" / "x.npz"  # the parent is created
    with atomic.replacing(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".npz" and tmp != path
        np.savez(tmp, a=np.arange(3))  # no suffix added: the file lands where we say
    with np.load(path) as z:
        np.testing.assert_array_equal(z["a"], np.arange(3))
    assert os.listdir(path.parent) == ["x.npz"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "eval.json"
    atomic.write_json(path, {"fid": 1.5})
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic.replacing(path) as tmp:
            tmp.write_text('{"fid": ')  # half written
            raise RuntimeError("interrupted")
    assert json.loads(path.read_text()) == {"fid": 1.5}
    assert os.listdir(tmp_path) == ["eval.json"]
