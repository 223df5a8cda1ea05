"""Safe torch-archive reading, state-dict mapping, the cache and its errors (no torch needed)."""

import hashlib
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from pga_jax.fid import inception, weights


# ------------------------------------------------------------------ tiny torch-archive writer
def _op_global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _op_int(i):
    return b"J" + struct.pack("<i", i)


def _op_int_tuple(items):
    return b"(" + b"".join(_op_int(i) for i in items) + b"t"


def _state_dict_pickle(tensors):
    """Protocol-2 pickle of an OrderedDict of tensors laid out as torch.save writes them:
    _rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())."""
    out = b"\x80\x02" + _op_global("collections", "OrderedDict") + b")R"
    storages = {}
    for key, (name, (storage, size, stride)) in enumerate(tensors.items()):
        storages[str(key)] = storage
        pid = (
            b"("
            + _op_str("storage")
            + _op_global("torch", "FloatStorage")
            + _op_str(str(key))
            + _op_str("cpu")
            + _op_int(storage.size)
            + b"tQ"
        )
        args = (
            b"("
            + pid
            + _op_int(0)
            + _op_int_tuple(size)
            + _op_int_tuple(stride)
            + b"\x89"
            + _op_global("collections", "OrderedDict")
            + b")R"
            + b"t"
        )
        out += _op_str(name) + _op_global("torch._utils", "_rebuild_tensor_v2") + args + b"Rs"
    return out + b".", storages


def _write_archive(path, data_pkl, storages=None, root="archive"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{root}/data.pkl", data_pkl)
        z.writestr(f"{root}/byteorder", "little")
        for key, arr in (storages or {}).items():
            z.writestr(f"{root}/data/{key}", np.ascontiguousarray(arr, "<f4").tobytes())


def _contiguous(arr):
    arr = np.asarray(arr, np.float32)
    strides = [int(np.prod(arr.shape[i + 1 :])) for i in range(arr.ndim)]
    return arr.ravel(), arr.shape, strides


def _pytorch_fid_state_dict(params):
    """Inverse of the mapping: Flax params -> pytorch-fid state dict (OIHW kernels)."""
    tensors = {}
    for flax_path, _ in weights._conv_layer_names():
        layer = params
        for p in flax_path.split("/"):
            layer = layer[p]
        key = flax_path.replace("/", ".")
        oihw = np.transpose(layer["kernel"], (3, 2, 0, 1))
        # Store the kernel transposed in memory (non-contiguous view) to test strided rebuild.
        swapped = np.ascontiguousarray(np.swapaxes(oihw, 2, 3))
        st = [int(np.prod(swapped.shape[i + 1 :])) for i in range(4)]
        tensors[f"{key}.conv.weight"] = (swapped.ravel(), oihw.shape, [st[0], st[1], st[3], st[2]])
        tensors[f"{key}.bn.weight"] = _contiguous(np.ones_like(layer["bias"]))
        tensors[f"{key}.bn.bias"] = _contiguous(layer["bias"])
        tensors[f"{key}.bn.running_mean"] = _contiguous(layer["mean"])
        tensors[f"{key}.bn.running_var"] = _contiguous(layer["var"])
    tensors["fc.weight"] = _contiguous(np.zeros((3, 2048)))  # classifier: ignored
    return tensors


# ------------------------------------------------------------------------------------ tests
def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    _write_archive(path, pickle.dumps({"weight": Evil()}, protocol=2))
    with pytest.raises(weights.UnsafePickleError, match="refusing to load") as e:
        weights.read_torch_archive(path)
    assert "system" in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()
    # Other code-execution routes through find_class are refused too.
    for payload in (pickle.dumps(eval, protocol=2), pickle.dumps(os.getcwd, protocol=4)):
        _write_archive(path, payload)
        with pytest.raises(weights.UnsafePickleError):
            weights.read_torch_archive(path)


@pytest.mark.parametrize(
    "size, stride",
    [((3, 3), [3, 1]), ((2, 2), [3, 1]), ((10**6, 10**6), [0, 0])],  # 9 > 4; reads index 4; huge
)
def test_tensor_rebuild_is_bounds_checked(tmp_path, size, stride):
    tensors = {"w": (np.arange(4, dtype=np.float32), size, stride)}
    data, storages = _state_dict_pickle(tensors)
    path = tmp_path / "short.pth"
    _write_archive(path, data, storages)
    with pytest.raises(weights.UnsafePickleError):
        weights.read_torch_archive(path)


def test_pytorch_fid_state_dict_round_trip(tmp_path):
    params = inception.init_random_params(seed=3)
    data, storages = _state_dict_pickle(_pytorch_fid_state_dict(params))
    path = tmp_path / "fake_pytorch_fid.pth"
    _write_archive(path, data, storages, root="pt_inception-2015-12-05")
    converted = weights.convert_archive(path)
    assert weights.params_sha256(converted) == weights.params_sha256(params)


def test_cache_round_trip_and_tamper_detection(tmp_path):
    params = inception.init_random_params(seed=4)
    path = tmp_path / "cache" / "p.npz"
    digest = weights.save_params(path, params, source="test")
    loaded, digest2 = weights.load_params(path)
    assert digest == digest2 == weights.params_sha256(params)
    # Through the public loader with an explicit .npz:
    assert weights.load_inception_params(path)[1] == digest
    # Replace one array, keep the recorded checksum: detected.
    with np.load(path) as z:
        arrays = dict(z)
    arrays["Mixed_5b/branch1x1/bias"] = arrays["Mixed_5b/branch1x1/bias"] + 1
    np.savez(path, **arrays)
    with pytest.raises(weights.FIDWeightsError, match="checksum mismatch"):
        weights.load_params(path)


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    assert weights.cache_dir() == tmp_path / "fid"
    assert weights.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(weights.CACHE_ENV)
    assert weights.cache_dir().parts[-3:] == (".cache", "pga_jax", "fid")


def test_missing_or_wrong_weights_give_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "default_1_path", lambda: None)
    with pytest.raises(weights.FIDWeightsError) as e:
        weights.load_inception_params(cache=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and weights.PIP_HINT in msg and weights.PYTORCH_FID_URL in msg
    with pytest.raises(weights.FIDWeightsError, match="not found"):
        weights.load_inception_params(tmp_path / "nope.pt", cache=tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(weights.FIDWeightsError, match="not a known FID Inception weights"):
        weights.load_inception_params(junk, cache=tmp_path)
    with pytest.raises(weights.FIDWeightsError, match="not a torch zip archive"):
        weights.convert_archive(junk)
    # A valid archive with the wrong contents: a clear error, not a KeyError.
    data, storages = _state_dict_pickle({"foo.weight": _contiguous(np.ones(3))})
    _write_archive(junk, data, storages)
    with pytest.raises(weights.FIDWeightsError, match="lacks tensor"):
        weights.convert_archive(junk)


class _FakeResponse(io.BytesIO):
    """What `urllib.request.urlopen` returns, serving fixed bytes."""


def test_download_checks_the_sha256_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    payload = b"not the inception weights"
    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(payload))
    with pytest.raises(weights.FIDWeightsError, match="expected 6726825d") as e:
        weights.download_pytorch_fid_weights(tmp_path)
    assert "\n" not in str(e.value) and "pip install" in str(e.value)
    assert os.listdir(tmp_path) == []  # no partial or wrong file left in the cache

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(weights.FIDWeightsError, match="network unreachable"):
        weights.download_pytorch_fid_weights(tmp_path)
    assert os.listdir(tmp_path) == []

    # With the expected checksum the file lands under its pytorch-fid name.
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    monkeypatch.setattr(weights, "PYTORCH_FID_SHA256_PREFIX", prefix)
    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(payload))
    path = weights.download_pytorch_fid_weights(tmp_path)
    assert path == tmp_path / weights.PYTORCH_FID_FILENAME and path.read_bytes() == payload
